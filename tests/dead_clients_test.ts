/**
 * Dead clients leave exact state. Ownership-based release applies where
 * ownership is defined (Lock, RLock, a Condition's lock); a Semaphore's
 * permits are not owned, so a dead consumer creates none and a
 * BoundedSemaphore never passes its bound; a JoinableQueue item marked
 * done is never delivered again.
 */
import assert from "node:assert/strict";

import { killWorker, startHeldWorker, syncTest } from "./_helpers.ts";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

syncTest(
  "a Semaphore used for signalling gains no permits when its consumers die",
  async (manager) => {
    await using signal = await manager.Semaphore(0);
    await signal.release(3);
    const consumers = [];
    for (let i = 0; i < 3; i++) {
      consumers.push(await startHeldWorker(manager, "holdForever", { acquirer: signal }));
    }
    assert.equal(await signal.value(), 0, "three signals consumed");
    for (const consumer of consumers) await killWorker(consumer);
    await sleep(200);
    assert.equal(await signal.value(), 0, "no phantom permits (CPython: 0 too)");
  },
);

syncTest("a BoundedSemaphore never passes its bound when a holder dies", async (manager) => {
  await using bounded = await manager.BoundedSemaphore(1);
  const holder = await startHeldWorker(manager, "holdForever", { acquirer: bounded });
  await killWorker(holder);
  await sleep(200);
  assert.equal(await bounded.value(), 0, "the dead holder's permit is not given back");
  await bounded.release();
  assert.equal(await bounded.value(), 1);
  await assert.rejects(bounded.release(), {
    name: "RangeError",
    message: "Semaphore released too many times",
  });
  assert.equal(await bounded.value(), 1, "never 2");
});

syncTest(
  "a notified Condition waiter that dies retaking the lock leaves the holder's count alone",
  async (manager) => {
    await using cond = await manager.Condition(); // over an RLock
    const waiter = await startHeldWorker(manager, "conditionWaitForever", { cond });
    // This process takes the lock twice, wakes the waiter, which now waits for the lock.
    assert.equal(await cond.acquire(), true);
    assert.equal(await cond.acquire(), true);
    await cond.notify();
    await sleep(100);
    await killWorker(waiter);
    await sleep(200);
    await cond.release();
    assert.equal(await cond.locked(), true, "still held once by this process");
    await cond.release();
    assert.equal(await cond.locked(), false, "free after the second release");
    // A third party gets it, and exactly it.
    assert.equal(await cond.acquire({ timeout: 1000 }), true);
    await cond.release();
  },
);

syncTest(
  "a JoinableQueue item marked done is not delivered again when its taker dies",
  async (manager) => {
    await using queue = await manager.JoinableQueue<string>();
    await queue.put("only once");
    const taker = await startHeldWorker(manager, "takeAndHold", { queue });
    // Another process marks the task done (the taker never will).
    await queue.taskDone();
    await killWorker(taker);
    await sleep(200);
    assert.equal(await queue.qsize(), 0, "nothing was put back");
    await queue.join(); // resolves: every task is done
    await assert.rejects(queue.get({ timeout: 100 }), { name: "Empty" });
  },
);

syncTest(
  "a JoinableQueue item its taker never finished is put back when the taker dies",
  async (manager) => {
    await using queue = await manager.JoinableQueue<string>();
    await queue.put("unfinished");
    const taker = await startHeldWorker(manager, "takeAndHold", { queue });
    await killWorker(taker);
    assert.equal(await queue.get({ timeout: 2000 }), "unfinished");
    await queue.taskDone();
    await queue.join();
  },
);
