/**
 * One bad value fails one call. A value over a limit, sent or returned,
 * rejects its own call with an error that names the limit; the connection
 * and every object it holds stay. The sender refuses what the receiver
 * would refuse, before any byte is sent. CPython answers the same requests
 * with #TRACEBACK or #UNSERIALIZABLE and keeps the connection too.
 */
import assert from "node:assert/strict";
import { RemoteError, SyncManager } from "../mod.ts";
import { Store, TestManager } from "./_fixtures/counter.ts";
import { COUNTER_MODULE } from "./_helpers.ts";

const modules = [COUNTER_MODULE];

function nestedMaps(levels: number): Map<string, unknown> {
  let value = new Map<string, unknown>();
  for (let i = 1; i < levels; i++) value = new Map([["inner", value]]);
  return value;
}

Deno.test("a value the server would refuse fails at the sender; the connection and its objects stay", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using store = await manager.create(Store);
  await store.set("kept", 1);
  // 300 nested Maps are 600 levels to a reader: over the 512 limit.
  await assert.rejects(store.set("deep", nestedMaps(300)), {
    name: "TypeError",
    message: /^Cannot send a value nested deeper than 512 levels \(limits\.maxDepth\) in args\[1\]/,
  });
  // 1,000,000 empty maps: 1 byte each, 64 bytes each once decoded.
  const empties = Array.from({ length: 1_000_000 }, () => ({}));
  await assert.rejects(store.set("empties", empties), {
    name: "TypeError",
    message:
      /^Cannot send a value that would take more than 16 times its \d+ bytes in memory to decode/,
  });
  assert.equal(await store.get("kept"), 1, "the connection and its object are intact");
  assert.equal(await manager.numberOfObjects(), 1);
});

Deno.test("a request the server refuses fails that call alone, with the limit named", async () => {
  await using owner = await new TestManager({
    modules,
    limits: { maxDepth: 20, maxLength: 1000 },
  }).start();
  // A client that does not know the server's lower limits sends what they refuse.
  await using client = await new TestManager({ address: owner.address, modules }).connect();
  await using store = await client.create(Store);
  await store.set("kept", "yes");
  let deep: unknown = 1;
  for (let i = 0; i < 30; i++) deep = [deep];
  await assert.rejects(store.set("deep", deep), {
    name: "RemoteError",
    message:
      /^The server refused the request: values nest deeper than the limit of 20 levels \(limits\.maxDepth\)$/,
  });
  await assert.rejects(store.set("long", Array.from({ length: 5000 }, (_, i) => i)), {
    name: "RemoteError",
    message: /a collection of 5000 items exceeds the limit of 1000 \(limits\.maxLength\)/,
  });
  assert.equal(await store.get("kept"), "yes", "the same connection keeps its object");
  assert.equal(await owner.numberOfObjects(), 1);
});

Deno.test("a result the server cannot send fails that call alone", async () => {
  await using manager = await new SyncManager({
    modules: [],
    limits: { maxLength: 1000, maxFrameSize: 1 << 20 },
  }).start();
  await using list = await manager.list<number>();
  await list.extend(Array.from({ length: 600 }, (_, i) => i));
  await list.extend(Array.from({ length: 600 }, (_, i) => i));
  assert.equal(await list.length(), 1200);
  // 1,200 items cannot go back in one message under maxLength 1000.
  await assert.rejects(list.copy(), {
    name: "RemoteError",
    message: /^Cannot send the result of list\.copy\(\): .*1200 items, over the limit of 1000/,
  });
  await using dict = await manager.dict<string, Uint8Array>();
  await dict.set("a", new Uint8Array(600_000));
  await dict.set("b", new Uint8Array(600_000));
  await assert.rejects(dict._getvalue(), {
    name: "RemoteError",
    message: /over the limit of 1048576 bytes per message \(limits\.maxFrameSize\)/,
  });
  assert.equal(await list.length(), 1200, "the connection and its objects stay");
  assert.equal(await dict.size(), 2);
  assert.equal(await manager.numberOfObjects(), 2);
});

Deno.test("a reply this side refuses fails that call alone (CPython's #UNSERIALIZABLE)", async () => {
  await using owner = await new SyncManager({ modules: [] }).start();
  await using list = await owner.list(Array.from({ length: 500 }, (_, i) => i));
  // A client that reads at most 100 items per collection.
  await using client = await new SyncManager({ address: owner.address, limits: { maxLength: 100 } })
    .connect();
  await using mine = await client.list([1, 2, 3]);
  const error = await (async () => {
    await using theirs = await client.list(Array.from({ length: 50 }, (_, i) => i));
    await theirs.extend(Array.from({ length: 90 }, (_, i) => i));
    return await theirs.copy().then(() => undefined, (e) => e);
  })();
  assert.ok(error instanceof RemoteError, String(error));
  assert.match(
    error.message,
    /^The reply could not be accepted: a collection of 140 items exceeds the limit of 100 \(limits\.maxLength\)$/,
  );
  assert.deepEqual(await mine.copy(), [1, 2, 3], "the connection still serves");
  assert.equal(await list.length(), 500);
});
