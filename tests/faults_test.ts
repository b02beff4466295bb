/**
 * Faults on either side: methods that never settle or block the server,
 * and servers that restart under their clients.
 */
import assert from "node:assert/strict";
import { ConnectionClosedError } from "../mod.ts";
import { Counter, TestManager } from "./_fixtures/counter.ts";
import { COUNTER_MODULE, waitUntil } from "./_helpers.ts";

const modules = [COUNTER_MODULE];

Deno.test("a method that never settles blocks nobody, and goes when its caller does", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using counter = await manager.create(Counter, 7);
  const client = await new TestManager({ address: manager.address }).connect();
  const hanging = await client.create(Counter, 1);
  const never = assert.rejects(hanging.hang(), ConnectionClosedError);
  assert.equal(await counter.increment(), 8, "other clients' calls complete");
  assert.equal(await hanging.increment(), 2, "so do the caller's own other calls");
  await client.disconnect();
  await never;
  assert.ok(await waitUntil(async () => (await manager.numberOfObjects()) === 1, 2000));
});

Deno.test("a method that blocks the event loop delays other clients' calls, and loses none", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using counter = await manager.create(Counter, 7);
  await using other = await new TestManager({ address: manager.address }).connect();
  await using theirs = await other.create(Counter, 1);
  const blocked = counter.block(300);
  const started = performance.now();
  // Sent while the server is busy: it is answered once the block ends.
  const answers = await Promise.all([theirs.increment(), theirs.increment(), theirs.get()]);
  assert.deepEqual(answers, [2, 3, 3]);
  assert.equal(await blocked, 7);
  assert.ok(performance.now() - started >= 200, "they did wait for the block");
});

Deno.test("after a restart on the same address, a new connect() works at once", async () => {
  const address = { hostname: "127.0.0.1", port: 0 };
  const first = await new TestManager({ address, modules }).start();
  const bound = first.address;
  const client = await new TestManager({ address: bound }).connect();
  const stale = await client.create(Counter, 1);
  await first.shutdown();
  await assert.rejects(stale.get(), ConnectionClosedError);
  await using second = await new TestManager({ address: bound, modules }).start();
  // CPython keeps a dead cached connection here (cpython#87495); a new connect is fresh.
  await using fresh = await new TestManager({ address: bound }).connect();
  // Held until the end: an unreferenced proxy may be collected, and its object released, at any GC.
  await using counter = await fresh.create(Counter, 5);
  assert.equal(await counter.increment(), 6);
  await assert.rejects(stale.get(), ConnectionClosedError, "old proxies stay dead, clearly");
  await client.disconnect();
  assert.equal(await second.numberOfObjects(), 1);
});

Deno.test("a server that accepts but never answers the handshake fails connect() at handshakeTimeout", async () => {
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) accepted.push(conn);
  })();
  try {
    const started = performance.now();
    await assert.rejects(
      new TestManager({ address: silent.addr, handshakeTimeout: 300 }).connect(),
      (error: Error) =>
        error instanceof ConnectionClosedError &&
        /the handshake did not complete within 300 ms/.test(error.message),
    );
    assert.ok(performance.now() - started >= 290, "it waited for the deadline");
  } finally {
    silent.close();
    await accepting.catch(() => {});
    for (const conn of accepted) conn.close();
  }
});
