/**
 * Dead clients leave exact state. Ownership-based release applies where
 * ownership is defined (Lock, RLock, a Condition's lock); a Semaphore's
 * permits are not owned, so a dead consumer creates none and a
 * BoundedSemaphore never passes its bound; a JoinableQueue item marked
 * done is never delivered again.
 */
import assert from "node:assert/strict";

import { type BaseProxy, defaultAuthkey, proxyFromString, proxyToString } from "../mod.ts";
import { TestManager } from "./_fixtures/counter.ts";
import { Heap, Parking } from "./_fixtures/heap.ts";
import { COUNTER_MODULE, killWorker, startHeldWorker, syncTest, waitUntil } from "./_helpers.ts";

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

Deno.test(
  "calls that never settle hold none of their arguments, nor their connection once it closed",
  async () => {
    const modules = [COUNTER_MODULE, new URL("./_fixtures/heap.ts", import.meta.url).href];
    await using manager = await new TestManager({ modules }).start();
    await using heap = await manager.create(Heap);
    // The object outlives the client whose calls it keeps waiting.
    await using parking = await manager.create(Parking);
    const base = await heap.used();
    const client = await new TestManager({ address: manager.address, modules }).connect();
    const theirs = await proxyFromString<Parking & BaseProxy>(await proxyToString(parking), {
      authkey: defaultAuthkey(),
      manager: client,
    });
    const payload = "x".repeat(100_000);
    const calls = Array.from({ length: 600 }, (_, i) => theirs.park(payload + i).catch(() => {}));
    assert.ok(
      await waitUntil(async () => await parking.parked() === 600, 20_000),
      "600 calls parked",
    );
    const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);
    // 600 arguments of 100 KB: 57.8 MiB were held while parked and after the client left.
    const parked = await heap.used() - base;
    assert.ok(parked < 8 * 1048576, `while parked the server holds ${mib(parked)} MiB more`);
    await client.disconnect();
    await Promise.all(calls);
    const left = await heap.used() - base;
    assert.ok(left < 4 * 1048576, `after the client left the server holds ${mib(left)} MiB more`);
    assert.equal(await parking.parked(), 600, "the object's own waiters are its business");
  },
);
