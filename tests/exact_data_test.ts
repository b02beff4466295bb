/**
 * Data is never silently changed: a string that UTF-8 cannot carry (a lone
 * surrogate) is refused at the sender, and a path Deno's permission flags
 * cannot carry (a comma) is refused with an error that names the comma.
 */
import assert from "node:assert/strict";
import { BaseManager } from "../mod.ts";
import { Store, TestManager } from "./_fixtures/counter.ts";
import { COUNTER_MODULE, tempDir } from "./_helpers.ts";

const modules = [COUNTER_MODULE];

Deno.test("a lone surrogate is refused at the sender; well-formed strings arrive exactly", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using store = await manager.create(Store);
  await assert.rejects(store.set("k", "a\ud800b"), {
    name: "TypeError",
    message:
      "Cannot send a string with a lone surrogate (U+D800 at index 1: half of a UTF-16 pair, which UTF-8 cannot carry; it would arrive as U+FFFD) in args[1] of a call to 'set': only data (JSON values, undefined, bigint, Date, Map, Set, typed arrays, Errors) and proxies can be sent",
  });
  await assert.rejects(store.set({ ["x\udc00"]: 1 }, 1), /lone surrogate \(U\+DC00 at index 1/);
  const exact = ["😀 pairs are fine", "\u{10FFFF}", "", "ascii", "é".repeat(40)];
  for (const text of exact) {
    await store.set(text, text);
    assert.equal(await store.get(text), text);
  }
  assert.equal(await store.size(), exact.length, "nothing refused was stored");
});

Deno.test("a socket path or module path with a comma is refused, naming the comma", async () => {
  await using dir = await tempDir();
  await Deno.mkdir(`${dir.path}/a,b`);
  const socket = new BaseManager({ address: `${dir.path}/a,b/m.sock`, modules: [] });
  await assert.rejects(socket.start(), {
    name: "RangeError",
    message: new RegExp(
      `Cannot grant read access to "${dir.path}/a,b/m.sock": the path contains a comma, which Deno's permission flags use to separate entries and cannot carry`,
    ),
  });
  await Deno.writeTextFile(`${dir.path}/a,b/mod.ts`, "export const x = 1;\n");
  const module = new BaseManager({ modules: [`${dir.path}/a,b/mod.ts`] });
  await assert.rejects(module.start(), /the path contains a comma/);
  assert.equal(module.state, "initial", "nothing started");
});

Deno.test("bytes stay as they arrived while later messages reuse the read buffer, both ways", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using store = await manager.create(Store);
  const bytes = (i: number): Uint8Array => new Uint8Array(20 + (i % 7)).fill(i);
  // Sent together, so the server reads many in one read; each must be stored as sent.
  await Promise.all(Array.from({ length: 64 }, (_, i) => store.set(i, bytes(i))));
  // Replies arrive together too; every value received must survive the ones after it.
  const received = await Promise.all(Array.from({ length: 64 }, (_, i) => store.get(i)));
  for (let round = 0; round < 3; round++) {
    await Promise.all(Array.from({ length: 64 }, (_, i) => store.get(63 - i)));
  }
  received.forEach((value, i) => assert.deepStrictEqual(value, bytes(i), `value ${i}`));
});
