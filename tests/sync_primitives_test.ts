/**
 * CPython's manager tests for queues and synchronisation primitives
 * (`_TestQueue`, `_TestLock`, `_TestSemaphore`, `_TestCondition`,
 * `_TestEvent`, `_TestBarrier` in manager mode), ported: worker processes
 * where CPython starts a `Process`, and the checks CPython skips for
 * managers (semaphore values) made here.
 */
import assert from "node:assert/strict";
import { BrokenBarrierError, Empty, Full } from "../mod.ts";
import { startSyncWorker, syncTest, workerOk } from "./_helpers.ts";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

syncTest("Queue: put blocks and fails as test_put expects", async (manager) => {
  await using queue = await manager.Queue<number>(6);
  await using childCanStart = await manager.Event();
  await using parentCanContinue = await manager.Event();
  const child = await startSyncWorker(manager, "queueConsume", {
    queue,
    childCanStart,
    parentCanContinue,
  });
  assert.equal(await queue.empty(), true);
  assert.equal(await queue.full(), false);
  await queue.put(1);
  await queue.put(2, { block: true });
  await queue.put(3, { block: true, timeout: undefined });
  await queue.put(4, { block: false });
  await queue.putNowait(5);
  await queue.putNowait(6);
  assert.equal(await queue.empty(), false);
  assert.equal(await queue.full(), true);
  await assert.rejects(queue.put(7, { block: false }), Full);
  await assert.rejects(queue.putNowait(7), Full);
  await assert.rejects(queue.put(7, { timeout: 100 }), Full);
  await assert.rejects(queue.put(7, { block: false, timeout: 100 }), Full);
  await childCanStart.set();
  assert.ok(await parentCanContinue.wait({ timeout: 10_000 }));
  assert.equal(await queue.empty(), true);
  assert.equal(await queue.full(), false);
  await workerOk(child);
});

syncTest("Queue: get waits and fails as test_get expects", async (manager) => {
  await using queue = await manager.Queue<number>();
  await using childCanStart = await manager.Event();
  await using parentCanContinue = await manager.Event();
  const child = await startSyncWorker(manager, "queueProduce", {
    queue,
    childCanStart,
    parentCanContinue,
  });
  assert.equal(await queue.empty(), true);
  await childCanStart.set();
  assert.ok(await parentCanContinue.wait({ timeout: 10_000 }));
  assert.equal(await queue.empty(), false);
  assert.equal(await queue.get({ block: true, timeout: undefined }), 2);
  assert.equal(await queue.get(), 3);
  assert.equal(await queue.get({ timeout: 1000 }), 4);
  assert.equal(await queue.getNowait(), 5);
  assert.equal(await queue.empty(), true);
  await assert.rejects(queue.get({ block: false }), Empty);
  await assert.rejects(queue.getNowait(), Empty);
  await assert.rejects(queue.get({ timeout: 100 }), Empty);
  await assert.rejects(queue.get({ block: false, timeout: 100 }), Empty);
  await workerOk(child);
});

syncTest(
  "Queue: items from another process arrive in order (test_fork), qsize counts",
  async (manager) => {
    await using queue = await manager.Queue<number>();
    for (let i = 0; i < 10; i++) await queue.put(i);
    await workerOk(
      await startSyncWorker(manager, "queuePutRange", { queue }, { from: 10, to: 20 }),
    );
    for (let i = 0; i < 20; i++) assert.equal(await queue.get(), i);
    await assert.rejects(queue.get({ block: false }), Empty);
    assert.equal(await queue.qsize(), 0);
    await queue.put(1);
    assert.equal(await queue.qsize(), 1);
    await queue.put(2);
    assert.equal(await queue.qsize(), 2);
    await queue.get();
    assert.equal(await queue.qsize(), 1);
    await queue.get();
    assert.equal(await queue.qsize(), 0);
  },
);

syncTest("JoinableQueue: four workers, taskDone and join (test_task_done)", async (manager) => {
  await using queue = await manager.JoinableQueue<number | null>();
  const workers = await Promise.all(
    Array.from(
      { length: 4 },
      () => startSyncWorker(manager, "joinableConsumer", { queue }, { sleep: 20 }),
    ),
  );
  for (let i = 0; i < 10; i++) await queue.put(i);
  await queue.join();
  for (let i = 0; i < 4; i++) await queue.put(null);
  for (const worker of workers) await workerOk(worker);
  await using fresh = await manager.JoinableQueue();
  await assert.rejects(fresh.taskDone(), { name: "RangeError", message: /called too many times/ });
});

syncTest("Queue: a hundred waiting gets block nobody, and each gets one item", async (manager) => {
  await using queue = await manager.Queue<number>();
  const gets = Array.from({ length: 100 }, () => queue.get());
  assert.equal(await queue.qsize(), 0, "the server still answers");
  for (let i = 0; i < 100; i++) await queue.put(i);
  assert.deepEqual((await Promise.all(gets)).sort((a, b) => a - b), [...Array(100).keys()]);
});

syncTest("Lock and RLock behave as test_lock and test_rlock expect", async (manager) => {
  await using lock = await manager.Lock();
  assert.equal(await lock.acquire(), true);
  assert.equal(await lock.acquire({ blocking: false }), false);
  assert.equal(await lock.acquire({ timeout: 50 }), false);
  assert.equal(await lock.release(), undefined);
  await assert.rejects(lock.release(), { name: "Error", message: "release unlocked lock" });
  await assert.rejects(lock.acquire({ blocking: false, timeout: 1 }), RangeError);
  await using rlock = await manager.RLock();
  for (let i = 0; i < 3; i++) assert.equal(await rlock.acquire(), true);
  for (let i = 0; i < 3; i++) assert.equal(await rlock.release(), undefined);
  await assert.rejects(rlock.release(), { message: "cannot release un-acquired lock" });
  {
    await using _held = await lock.hold(); // test_lock_context: with self.Lock()
    assert.equal(await lock.locked(), true);
    await assert.rejects(lock.hold({ blocking: false }), Deno.errors.TimedOut);
  }
  assert.equal(await lock.locked(), false);
});

syncTest(
  "Semaphore and BoundedSemaphore, with the values CPython skips checking",
  async (manager) => {
    await using sem = await manager.Semaphore(2);
    assert.equal(await sem.value(), 2);
    assert.equal(await sem.acquire(), true);
    assert.equal(await sem.value(), 1);
    assert.equal(await sem.acquire(), true);
    assert.equal(await sem.value(), 0);
    assert.equal(await sem.acquire({ blocking: false }), false);
    assert.equal(await sem.release(), undefined);
    assert.equal(await sem.value(), 1);
    await sem.release();
    assert.equal(await sem.value(), 2);
    await sem.release();
    await sem.release();
    assert.equal(await sem.value(), 4);
    await using bounded = await manager.BoundedSemaphore(2);
    assert.equal(await bounded.acquire(), true);
    assert.equal(await bounded.acquire(), true);
    assert.equal(await bounded.acquire({ blocking: false }), false);
    await bounded.release();
    await bounded.release();
    assert.equal(await bounded.value(), 2);
    await assert.rejects(bounded.release(), {
      name: "RangeError",
      message: "Semaphore released too many times",
    });
    await assert.rejects(manager.Semaphore(-1), { name: "RemoteError", message: /initial value/ });
  },
);

syncTest("Event: test_event, and the proxy's repr (test_repr)", async (manager) => {
  await using event = await manager.Event();
  assert.match(String(event), /^<EventProxy object, typeid 'Event' at 0x[0-9a-f]+>$/);
  assert.equal(await event.isSet(), false);
  assert.equal(await event.wait({ timeout: 0 }), false);
  assert.equal(await event.wait({ timeout: 100 }), false);
  await event.set();
  assert.equal(await event.isSet(), true);
  assert.equal(await event.wait(), true);
  assert.equal(await event.wait({ timeout: 100 }), true);
  await event.clear();
  const child = await startSyncWorker(manager, "eventSetLater", { event });
  assert.equal(await event.wait(), true);
  await workerOk(child);
  assert.match(String(event), /^<EventProxy object, typeid 'Event' at 0x[0-9a-f]+>$/);
});

syncTest(
  "Condition: notify wakes one at a time across processes (test_notify)",
  async (manager) => {
    await using cond = await manager.Condition();
    await using sleeping = await manager.Semaphore(0);
    await using woken = await manager.Semaphore(0);
    const children = await Promise.all(
      [0, 1].map(() => startSyncWorker(manager, "conditionSleeper", { cond, sleeping, woken })),
    );
    await sleeping.acquire();
    await sleeping.acquire();
    await sleep(100);
    assert.equal(await woken.value(), 0);
    await cond.acquire();
    await cond.notify();
    await cond.release();
    assert.ok(await woken.acquire({ timeout: 5000 }));
    await woken.release();
    assert.equal(await woken.value(), 1);
    await cond.acquire();
    await cond.notify();
    await cond.release();
    await waitFor(async () => (await woken.value()) === 2);
    for (const child of children) await workerOk(child);
  },
);

syncTest(
  "Condition: timeouts, notifyAll and notify(n) (test_notify_all, test_notify_n)",
  async (manager) => {
    await using cond = await manager.Condition();
    await using sleeping = await manager.Semaphore(0);
    await using woken = await manager.Semaphore(0);
    const timingOut = await Promise.all(
      Array.from(
        { length: 6 },
        () =>
          startSyncWorker(manager, "conditionSleeper", { cond, sleeping, woken }, { timeout: 100 }),
      ),
    );
    for (let i = 0; i < 6; i++) await sleeping.acquire();
    for (let i = 0; i < 6; i++) assert.ok(await woken.acquire({ timeout: 5000 }), "all time out");
    for (const child of timingOut) await workerOk(child);
    const waiting = await Promise.all(
      Array.from(
        { length: 6 },
        () => startSyncWorker(manager, "conditionSleeper", { cond, sleeping, woken }),
      ),
    );
    for (let i = 0; i < 6; i++) await sleeping.acquire();
    await sleep(100);
    assert.equal(await woken.value(), 0);
    await cond.acquire();
    await cond.notify(2);
    await cond.release();
    await waitFor(async () => (await woken.value()) === 2);
    await cond.acquire();
    await cond.notify(4);
    await cond.release();
    await waitFor(async () => (await woken.value()) === 6);
    await cond.acquire();
    await cond.notify(3); // nobody left: no change
    await cond.notifyAll();
    await cond.release();
    assert.equal(await woken.value(), 6);
    for (const child of waiting) await workerOk(child);
  },
);

syncTest(
  "Condition: wait times out, waitFor across processes (test_timeout, test_waitfor)",
  async (manager) => {
    await using cond = await manager.Condition();
    await cond.acquire();
    assert.equal(await cond.wait({ timeout: 100 }), false);
    assert.equal(await cond.wait({ timeout: 0 }), false);
    await cond.release();
    await assert.rejects(cond.wait(), { message: "cannot wait on un-acquired lock" });
    await assert.rejects(cond.notify(), { message: "cannot notify on un-acquired lock" });
    await using state = await manager.Value(-1);
    const child = await startSyncWorker(manager, "conditionWaitFor", { cond, state });
    await cond.acquire();
    assert.ok(await cond.waitFor(async () => (await state.get()) === 0));
    assert.equal(await state.get(), 0);
    await cond.release();
    for (let i = 0; i < 4; i++) {
      await sleep(10);
      await cond.acquire();
      await state.set((await state.get()) + 1);
      await cond.notify();
      await cond.release();
    }
    await workerOk(child);
    // test_waitfor_timeout, from this side.
    await cond.acquire();
    const started = performance.now();
    assert.equal(
      await cond.waitFor(async () => (await state.get()) === 99, { timeout: 100 }),
      false,
    );
    assert.ok(performance.now() - started >= 90);
    await cond.release();
  },
);

syncTest(
  "Condition: a notify from another process ends a long wait (test_wait_result)",
  async (manager) => {
    await using cond = await manager.Condition();
    await cond.acquire();
    assert.equal(await cond.wait({ timeout: 0 }), false);
    assert.equal(await cond.wait({ timeout: 100 }), false);
    const child = await startSyncWorker(manager, "conditionNotify", { cond });
    assert.equal(await cond.wait({ timeout: 60_000 }), true);
    await cond.release();
    await workerOk(child);
  },
);

syncTest("Condition over a given Lock", async (manager) => {
  await using lock = await manager.Lock();
  await using cond = await manager.Condition(lock);
  await using _held = await cond.hold();
  assert.equal(await lock.locked(), true, "the condition holds the lock it was given");
  await using event = await manager.Event();
  await assert.rejects(manager.Condition(event as never), {
    name: "RemoteError",
    message: /needs a Lock or RLock/,
  });
});

syncTest(
  "Barrier: five parties in five processes, 1 and 10 passes (test_barrier)",
  async (manager) => {
    for (const passes of [1, 10]) {
      await using barrier = await manager.Barrier(5, { timeout: 30_000 });
      await using results0 = await manager.list();
      await using results1 = await manager.list();
      const proxies = { barrier, results0, results1 };
      const workers = await Promise.all(
        Array.from(
          { length: 4 },
          () => startSyncWorker(manager, "barrierMultipass", proxies, { passes, parties: 5 }),
        ),
      );
      for (let i = 0; i < passes; i++) {
        await results0.append(true);
        await barrier.wait();
        await results1.append(true);
        await barrier.wait();
      }
      for (const worker of workers) await workerOk(worker);
      assert.equal(await barrier.parties(), 5);
      assert.equal(await barrier.nWaiting(), 0);
      assert.equal(await barrier.broken(), false);
    }
  },
);

syncTest("Barrier: exactly one party gets index 0 (test_wait_return)", async (manager) => {
  await using barrier = await manager.Barrier(5);
  await using queue = await manager.Queue<number>();
  const workers = await Promise.all(
    Array.from(
      { length: 4 },
      () => startSyncWorker(manager, "barrierWaitReturn", { barrier, queue }),
    ),
  );
  await queue.put(await barrier.wait());
  for (const worker of workers) await workerOk(worker);
  const indices = [];
  for (let i = 0; i < 5; i++) indices.push(await queue.get());
  assert.deepEqual(indices.sort(), [0, 1, 2, 3, 4]);
  assert.equal(indices.filter((i) => i === 0).length, 1);
});

syncTest(
  "Barrier: the action runs once per cycle, in the server (test_action)",
  async (manager) => {
    await using results = await manager.list();
    await using barrier = await manager.Barrier(3, {
      action: { target: results, method: "append", args: [true] },
    });
    await Promise.all([barrier.wait(), barrier.wait(), barrier.wait()]);
    assert.equal(await results.length(), 1);
  },
);

syncTest(
  "Barrier: abort, reset and timeouts break it (test_abort, test_reset, test_timeout)",
  async (manager) => {
    await using barrier = await manager.Barrier(3);
    const first = barrier.wait().catch((e) => e);
    await sleep(50);
    assert.equal(await barrier.nWaiting(), 1);
    await barrier.abort();
    assert.ok((await first) instanceof BrokenBarrierError);
    assert.equal(await barrier.broken(), true);
    await assert.rejects(barrier.wait(), BrokenBarrierError);
    await barrier.reset();
    assert.equal(await barrier.broken(), false);
    const waiting = [barrier.wait().catch((e) => e), barrier.wait().catch((e) => e)];
    await sleep(50);
    await barrier.reset();
    for (const outcome of await Promise.all(waiting)) {
      assert.ok(outcome instanceof BrokenBarrierError);
    }
    assert.deepEqual((await Promise.all([0, 1, 2].map(() => barrier.wait()))).sort(), [0, 1, 2]);
    // A wait that times out breaks the barrier for everyone (test_timeout).
    const slow = barrier.wait().catch((e) => e);
    await assert.rejects(barrier.wait({ timeout: 100 }), BrokenBarrierError);
    assert.ok((await slow) instanceof BrokenBarrierError);
    await using timed = await manager.Barrier(2, { timeout: 100 }); // test_default_timeout
    await assert.rejects(timed.wait(), BrokenBarrierError);
    await using single = await manager.Barrier(1); // test_single_thread
    assert.equal(await single.wait(), 0);
    assert.equal(await single.wait(), 0);
  },
);

async function waitFor(check: () => Promise<boolean>, timeout = 5000): Promise<void> {
  const deadline = performance.now() + timeout;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error("condition not reached in time");
    await sleep(20);
  }
}
