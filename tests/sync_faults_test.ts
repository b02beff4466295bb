/**
 * What CPython never tests: holders that die, many processes contending,
 * and many clients waiting at once.
 */
import assert from "node:assert/strict";
import {
  type AcquirerProxy,
  type BaseProxy,
  defaultAuthkey,
  Empty,
  proxyFromString,
  proxyToString,
  SyncManager,
} from "../mod.ts";
import {
  killWorker as kill,
  startHeldWorker,
  startSyncWorker,
  syncTest,
  waitUntil,
  workerOk,
} from "./_helpers.ts";

/** Starts a worker that takes `acquirer` `times` times and waits to be killed. */
function holder(
  manager: SyncManager,
  acquirer: BaseProxy,
  times = 1,
): Promise<Deno.ChildProcess> {
  return startHeldWorker(manager, "holdForever", { acquirer }, { times });
}

for (
  const [name, make, times] of [
    ["Lock", (manager: SyncManager) => manager.Lock(), 1],
    ["RLock (acquired three times)", (manager: SyncManager) => manager.RLock(), 3],
  ] as const
) {
  syncTest(
    `a ${name} held by a killed worker is acquired by another within 1 s`,
    async (manager) => {
      await using acquirer = await (make as (manager: SyncManager) => Promise<AcquirerProxy>)(
        manager,
      );
      const child = await holder(manager, acquirer, times);
      assert.equal(await acquirer.acquire({ blocking: false }), false, "the worker holds it");
      const waiting = acquirer.acquire({ timeout: 5000 });
      const killedAt = performance.now();
      await kill(child);
      assert.equal(await waiting, true);
      assert.ok(performance.now() - killedAt < 1000, "acquired within 1 s of the kill");
      await acquirer.release();
    },
  );
}

syncTest(
  "a Condition's lock held by a killed worker is released; waiters carry on",
  async (manager) => {
    await using cond = await manager.Condition();
    const child = await holder(manager, cond);
    const waiting = cond.acquire({ timeout: 5000 });
    await kill(child);
    assert.equal(await waiting, true);
    assert.equal(await cond.wait({ timeout: 10 }), false, "this side owns it now");
    await cond.release();
  },
);

syncTest("8 worker processes × 500 increments under a Lock give exactly 4,000", async (manager) => {
  await using lock = await manager.Lock();
  await using counts = await manager.dict<string, number>({ n: 0 });
  const workers = await Promise.all(
    Array.from(
      { length: 8 },
      () => startSyncWorker(manager, "incrementUnderLock", { lock, counts }, { times: 500 }),
    ),
  );
  for (const worker of workers) await workerOk(worker);
  assert.equal(await counts.get("n"), 4000);
  assert.equal(await lock.locked(), false);
});

syncTest(
  "a JoinableQueue fed by one process and drained by four, with taskDone and join",
  async (manager) => {
    await using queue = await manager.JoinableQueue<number | null>(8);
    await using results = await manager.dict<number, number>();
    const consumers = await Promise.all(
      Array.from(
        { length: 4 },
        () => startSyncWorker(manager, "joinableConsumer", { queue, results }),
      ),
    );
    const producer = await startSyncWorker(manager, "queuePutRange", { queue }, {
      from: 0,
      to: 200,
    });
    await workerOk(producer);
    await queue.join();
    assert.equal(await results.size(), 200, "every item processed exactly once");
    assert.deepEqual((await results.keys()).sort((a, b) => a - b), [...Array(200).keys()]);
    for (let i = 0; i < 4; i++) await queue.put(null);
    for (const consumer of consumers) await workerOk(consumer);
  },
);

syncTest("100 clients waiting on one queue block nobody", async (manager) => {
  await using queue = await manager.Queue<number>();
  await using disconnect = new AsyncDisposableStack();
  const clients = await Promise.all(Array.from({ length: 100 }, async () => {
    const client = disconnect.use(
      await new SyncManager({ address: manager.address, modules: [] }).connect(),
    );
    return await proxyFromString<typeof queue>(await proxyToString(queue), {
      authkey: defaultAuthkey(),
      manager: client,
    });
  }));
  const gets = clients.map((client) => client.get({ timeout: 10_000 }));
  assert.equal(await queue.qsize(), 0, "the server answers while 100 clients wait");
  for (let i = 0; i < 100; i++) await queue.put(i);
  assert.deepEqual((await Promise.all(gets)).sort((a, b) => a - b), [...Array(100).keys()]);
});

syncTest("a killed worker's pending get() does not swallow a later item", async (manager) => {
  await using queue = await manager.Queue<number>();
  const child = await startHeldWorker(manager, "getForever", { queue });
  await kill(child);
  // Once the worker's reference is gone, the server has handled its connection's close.
  const refcountOne = new RegExp(`^\\s*${queue._token.id}:\\s+refcount=1\\b`, "m");
  assert.ok(await waitUntil(async () => refcountOne.test(await manager.debugInfo()), 5000));
  await queue.put(42);
  assert.equal(await queue.get({ timeout: 1000 }), 42);
});

syncTest(
  "JoinableQueue: items a killed worker took but never finished go back; join() returns",
  async (manager) => {
    await using queue = await manager.JoinableQueue<string>();
    for (const item of ["a", "b", "c"]) await queue.put(item);
    const child = await startHeldWorker(manager, "takeAndHold", { queue }, { times: 2 }); // takes a and b
    const joined = queue.join();
    await kill(child);
    // Once the server sees the worker's connection close, its two items are back.
    assert.ok(await waitUntil(async () => (await queue.qsize()) === 3, 2000));
    const seen = [];
    for (let i = 0; i < 3; i++) {
      seen.push(await queue.get({ timeout: 5000 }));
      await queue.taskDone();
    }
    assert.deepEqual(seen, ["a", "b", "c"], "the dead worker's items first, in order");
    await joined;
    assert.equal(await queue.qsize(), 0);
    // A plain Queue keeps CPython's behaviour: what was taken is gone.
    await using plain = await manager.Queue<string>();
    await plain.put("x");
    await kill(await startHeldWorker(manager, "takeAndHold", { queue: plain }, { times: 1 }));
    await assert.rejects(plain.get({ timeout: 200 }), Empty);
  },
);
