/**
 * Timeouts and cancellation, end to end (issue 11, part 2): a call given a
 * signal or a timeout rejects at once when it fires (`AbortError`,
 * `TimeoutError`), the server sees it (`currentCaller().signal`), and the
 * standard types are left as if the call had never been made: aborts raced
 * against grants thousands of times, with exact counts.
 */
import assert from "node:assert/strict";
import { SyncManager, withCall } from "../mod.ts";
import { CancelManager, Watcher } from "./_fixtures/cancellable.ts";

const modules = [new URL("./_fixtures/cancellable.ts", import.meta.url).href];

Deno.test("a cancelled call rejects at once, and the running method sees its signal abort", async () => {
  await using manager = await new CancelManager({ modules }).start();
  await using watcher = await manager.create(Watcher);
  const controller = new AbortController();
  const running = withCall(watcher, { signal: controller.signal }).work(10_000);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const started = performance.now();
  controller.abort();
  await assert.rejects(running, { name: "AbortError" });
  assert.ok(performance.now() - started < 100, "rejected at once");
  const deadline = Date.now() + 2000;
  while ((await watcher.counts()).cancelled === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.deepStrictEqual(await watcher.counts(), { cancelled: 1, finished: 0 });
  // A timeout is a TimeoutError, and reaches the server too.
  await assert.rejects(withCall(watcher, { timeout: 50 }).work(10_000), { name: "TimeoutError" });
  // A call that finishes in time is untouched by its options.
  assert.equal(await withCall(watcher, { timeout: 5000 }).work(1), "finished");
  // An already aborted signal rejects without sending anything.
  await assert.rejects(withCall(watcher, { signal: AbortSignal.abort() }).work(1), {
    name: "AbortError",
  });
  const after = Date.now() + 2000;
  while ((await watcher.counts()).cancelled < 2 && Date.now() < after) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.deepStrictEqual(await watcher.counts(), { cancelled: 2, finished: 1 });
});

Deno.test("callTimeout gives up any call that has no options of its own", async () => {
  await using manager = await new CancelManager({ modules, callTimeout: 100 }).start();
  await using watcher = await manager.create(Watcher);
  await assert.rejects(watcher.work(10_000), { name: "TimeoutError" });
  assert.equal(await watcher.work(1), "finished");
  assert.equal(await withCall(watcher, { timeout: 2000 }).work(300), "finished", "its own wins");
});

/** Aborts `controller` after a random short delay: before, during or after the grant. */
function abortSoon(controller: AbortController, random: () => number): void {
  const pick = random();
  if (pick < 0.3) queueMicrotask(() => controller.abort());
  else if (pick < 0.6) setTimeout(() => controller.abort(), 0);
  else setTimeout(() => controller.abort(), random() * 3);
}

function seeded(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

Deno.test("lock: 1,000 aborted acquires raced against releases leave no ghost holder", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  await using lock = await manager.Lock();
  const random = seeded(7);
  let granted = 0;
  let aborted = 0;
  for (let round = 0; round < 1000; round++) {
    assert.equal(await lock.acquire({ timeout: 2000 }), true, `round ${round}: the lock is free`);
    const controller = new AbortController();
    const attempt = withCall(lock, { signal: controller.signal }).acquire().then(
      () => true,
      (error) => {
        assert.equal(error.name, "AbortError");
        return false;
      },
    );
    abortSoon(controller, random);
    // Release while the attempt waits, at a random moment around the abort.
    if (random() < 0.5) await new Promise((resolve) => setTimeout(resolve, 0));
    await lock.release();
    const got = await attempt;
    if (got) {
      granted++;
      await lock.release();
    } else {
      aborted++;
    }
  }
  // Every aborted acquire that had been granted was undone: the lock is free.
  assert.equal(await lock.acquire({ timeout: 2000 }), true);
  await lock.release();
  assert.equal(granted + aborted, 1000);
  assert.ok(aborted > 100, `aborts happened: ${aborted}`);
});

Deno.test("queue: 2,000 aborted gets raced against puts lose and duplicate no item", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  await using queue = await manager.Queue<number>();
  const random = seeded(11);
  const received: number[] = [];
  let aborted = 0;
  const rounds = 2000;
  for (let item = 0; item < rounds; item++) {
    const controller = new AbortController();
    const getting = withCall(queue, { signal: controller.signal }).get().then(
      (value) => void received.push(value),
      (error) => {
        assert.equal(error.name, "AbortError");
        aborted++;
      },
    );
    abortSoon(controller, random);
    if (random() < 0.5) await new Promise((resolve) => setTimeout(resolve, 0));
    await queue.put(item);
    await getting;
  }
  // Give the last cancels time to arrive, then drain what is left.
  await new Promise((resolve) => setTimeout(resolve, 100));
  while (!(await queue.empty())) received.push(await queue.getNowait());
  assert.equal(received.length, rounds, `every item once (aborted gets: ${aborted})`);
  assert.deepStrictEqual(
    [...received].sort((a, b) => a - b),
    Array.from({ length: rounds }, (_, i) => i),
  );
  assert.ok(aborted > 100, `aborts happened: ${aborted}`);
});

Deno.test("semaphore: 1,000 aborted acquires raced against releases keep the permit count", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  await using semaphore = await manager.Semaphore(1);
  const random = seeded(3);
  let aborted = 0;
  for (let round = 0; round < 1000; round++) {
    assert.equal(await semaphore.acquire({ timeout: 2000 }), true, `round ${round}`);
    const controller = new AbortController();
    const attempt = withCall(semaphore, { signal: controller.signal }).acquire().then(
      () => true,
      () => false,
    );
    abortSoon(controller, random);
    if (random() < 0.5) await new Promise((resolve) => setTimeout(resolve, 0));
    await semaphore.release();
    const got = await attempt;
    if (got) await semaphore.release();
    else aborted++;
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(await semaphore.value(), 1, "one permit, as at the start");
  assert.ok(aborted > 100, `aborts happened: ${aborted}`);
});

Deno.test("barrier and event: an aborted wait counts no party and changes nothing", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  await using barrier = await manager.Barrier(2);
  const controller = new AbortController();
  const waiting = withCall(barrier, { signal: controller.signal }).wait();
  waiting.catch(() => {});
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(await barrier.nWaiting(), 1);
  controller.abort();
  await assert.rejects(waiting, { name: "AbortError" });
  const deadline = Date.now() + 2000;
  while (await barrier.nWaiting() !== 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(await barrier.nWaiting(), 0, "the party left");
  assert.equal(await barrier.broken(), false, "the barrier is whole");
  const [a, b] = await Promise.all([
    barrier.wait({ timeout: 2000 }),
    barrier.wait({ timeout: 2000 }),
  ]);
  assert.deepStrictEqual([a, b].sort(), [0, 1], "two new parties pass it");
  await using event = await manager.Event();
  const eventController = new AbortController();
  const eventWait = withCall(event, { signal: eventController.signal }).wait();
  eventWait.catch(() => {});
  eventController.abort();
  await assert.rejects(eventWait, { name: "AbortError" });
  assert.equal(await event.isSet(), false);
});

Deno.test("bounded queue: 1,000 aborted puts raced against gets leave exactly the puts that succeeded", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  await using queue = await manager.Queue<string>(1);
  const random = seeded(5);
  let aborted = 0;
  await queue.put("filler");
  for (let round = 0; round < 1000; round++) {
    // The queue is full: the put waits for the get below to make room.
    const controller = new AbortController();
    const putting = withCall(queue, { signal: controller.signal }).put(`item ${round}`).then(
      () => true,
      () => false,
    );
    abortSoon(controller, random);
    if (random() < 0.5) await new Promise((resolve) => setTimeout(resolve, 0));
    await queue.get({ timeout: 2000 });
    const put = await putting;
    const size = await queue.qsize();
    if (put) {
      assert.equal(size, 1, `round ${round}: the put that succeeded is queued`);
      assert.equal(await queue.get({ timeout: 2000 }), `item ${round}`);
    } else {
      aborted++;
      assert.equal(size, 0, `round ${round}: the aborted put left nothing`);
    }
    await queue.put("filler");
  }
  assert.ok(aborted > 100, `aborts happened: ${aborted}`);
});

Deno.test("rlock: 500 aborted re-acquires leave the hold count as it was", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  await using rlock = await manager.RLock();
  let aborted = 0;
  for (let round = 0; round < 500; round++) {
    assert.equal(await rlock.acquire(), true);
    const controller = new AbortController();
    const again = withCall(rlock, { signal: controller.signal }).acquire().then(
      () => true,
      () => false,
    );
    queueMicrotask(() => controller.abort()); // before its reply arrives: granted, then undone
    if (await again) await rlock.release();
    else aborted++;
    await rlock.release();
    assert.equal(await rlock.locked(), false, `round ${round}: fully released`);
  }
  assert.ok(aborted > 100, `aborts happened: ${aborted}`);
});

Deno.test("condition: 300 aborted waits give the lock straight back, as any wait() does", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  await using condition = await manager.Condition();
  const random = seeded(9);
  let aborted = 0;
  for (let round = 0; round < 300; round++) {
    assert.equal(await condition.acquire({ timeout: 2000 }), true, `round ${round}`);
    const controller = new AbortController();
    const waiting = withCall(condition, { signal: controller.signal }).wait({ timeout: 1000 })
      .then(() => true, () => false);
    abortSoon(controller, random);
    if (!(await waiting)) aborted++;
    // Right after the wait ends, however it ended, the caller holds the lock again.
    await condition.release();
    assert.equal(await condition.locked(), false, `round ${round}: released`);
  }
  assert.ok(aborted > 100, `aborts happened: ${aborted}`);
});
