/**
 * Exact undo (issue 21, point 1): a cancelled call leaves the shared state
 * exactly as if it had never run. Each undo names the exact slot it
 * restores (an item's place in put order, the hold of a lock, an entry's
 * place in a dict), and a batch of cancels is undone newest first: two
 * cancelled get()s put their items back in order, an undone put() removes
 * its own item and never someone else's equal one, a late cancel never
 * lets go of a later hold. Strings, numbers and null sentinels alike;
 * whole contents and order are compared, never counts.
 */
import assert from "node:assert/strict";
import { type QueueProxy, SyncManager, withCall } from "../mod.ts";
import { clientHandshake, importAuthkey } from "../src/wire/handshake.ts";
import { Codec, type WireToken } from "../src/wire/codec.ts";
import { FrameReader } from "../src/wire/framing.ts";
import { connect } from "../src/wire/transport.ts";
import { RequestFlag, SERVER_ID } from "../src/wire/protocol.ts";
import type { Address } from "../src/wire/address.ts";
import { defaultAuthkey, proxyToString } from "../mod.ts";
import type { BaseProxy } from "../src/objects/proxy.ts";

/** Everything in `queue`, oldest first, taken out with getNowait(). */
async function drain<T>(queue: QueueProxy<T>): Promise<T[]> {
  const items: T[] = [];
  while (!(await queue.empty())) items.push(await queue.getNowait());
  return items;
}

/**
 * A client that speaks the protocol frame by frame, so that a test decides
 * when its cancels reach the server: after its replies came, and after
 * other clients' calls. It holds a reference to one object, claimed from a
 * proxy the test hands it.
 */
async function rawClient(proxy: BaseProxy, address: Address): Promise<{
  /** Sends a call of the held object; returns its request id. */
  call(method: string, args: unknown[], cancellable: boolean): number;
  /** The reply to request `id`: `[kind, value]`. */
  reply(id: number): Promise<[number, unknown]>;
  /** Sends one `cancel` message for `ids`, in that order. */
  cancel(...ids: number[]): void;
  [Symbol.dispose](): void;
}> {
  const text = await proxyToString(proxy);
  const { k: ticket } = JSON.parse(atob(
    text.slice(text.indexOf(".") + 1)
      .replaceAll("-", "+").replaceAll("_", "/"),
  ));
  const conn = await connect(address);
  const reader = new FrameReader(conn);
  await clientHandshake({ socket: conn, reader }, await importAuthkey(defaultAuthkey()));
  const codec = new Codec({
    encodeToken: () => {
      throw new TypeError("no proxies");
    },
    decodeToken: (token: WireToken) => token,
  });
  let writing = Promise.resolve();
  const send = (message: unknown[]): void => {
    const bytes = codec.encode(message);
    writing = writing.then(async () => {
      let offset = 0;
      while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
    });
  };
  const replies = new Map<number, PromiseWithResolvers<[number, unknown]>>();
  const slot = (id: number): PromiseWithResolvers<[number, unknown]> => {
    let waiting = replies.get(id);
    if (waiting === undefined) replies.set(id, waiting = Promise.withResolvers());
    return waiting;
  };
  const reading = (async () => {
    for (;;) {
      const data = await reader.read(1 << 26).catch(() => null);
      if (data === null) return;
      const [id, kind, value] = codec.decode(data) as [number, number, unknown];
      slot(id).resolve([kind, value]);
    }
  })();
  let nextId = 1;
  send([nextId, SERVER_ID, "claim", [ticket]]);
  const [, token] = await slot(nextId++).promise;
  const objectId = (token as WireToken)[1];
  return {
    call(method, args, cancellable): number {
      const id = nextId++;
      send(
        cancellable
          ? [id, objectId, method, args, RequestFlag.cancellable]
          : [id, objectId, method, args],
      );
      return id;
    },
    reply: (id) => slot(id).promise,
    cancel(...ids): void {
      send([0, SERVER_ID, "cancel", ids]);
    },
    [Symbol.dispose](): void {
      try {
        conn.close();
      } catch { /* closed */ }
      void reading;
    },
  };
}

const VALUES: [string, unknown[]][] = [
  ["strings", ["a", "b", "c"]],
  ["numbers", [1, 2, 3]],
  ["null sentinels", [null, "x", null]],
];

for (const joinable of [false, true]) {
  const kind = joinable ? "JoinableQueue" : "Queue";
  Deno.test(`${kind}: two granted get()s cancelled in one message put their items back in order`, async () => {
    await using manager = await new SyncManager({ modules: [] }).start();
    for (const [label, items] of VALUES) {
      await using queue = joinable
        ? await manager.JoinableQueue<unknown>()
        : await manager.Queue<unknown>();
      for (const item of items) await queue.put(item);
      const controller = new AbortController();
      const first = withCall(queue, { signal: controller.signal }).get();
      const second = withCall(queue, { signal: controller.signal }).get();
      // Both are granted on the server before the one cancel message that follows them.
      controller.abort();
      await assert.rejects(first, { name: "AbortError" });
      await assert.rejects(second, { name: "AbortError" });
      assert.deepStrictEqual(await drain(queue), items, `${label}: every item in its place`);
    }
  });
}

Deno.test("Queue: an undone put() of an item equal to one queued removes exactly its own", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  for (const [label, items] of VALUES) {
    await using queue = await manager.Queue<unknown>();
    for (const item of items) await queue.put(item);
    const controller = new AbortController();
    const putting = withCall(queue, { signal: controller.signal }).put(items[0]);
    controller.abort();
    await assert.rejects(putting, { name: "AbortError" });
    assert.deepStrictEqual(await drain(queue), items, `${label}: the queue as before the put`);
  }
});

Deno.test("Queue: a late cancel of a put() whose item was taken removes no one's equal item", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  for (const value of ["x", 7, null]) {
    await using queue = await manager.Queue<unknown>();
    using late = await rawClient(queue, manager.address);
    const put = late.call("put", [value], true);
    assert.deepStrictEqual(
      await late.reply(put),
      [0, undefined],
      "the put was done and replied to",
    );
    assert.equal(await queue.get({ timeout: 2000 }), value, "another client took its item");
    await queue.put(value); // and put an equal one of its own
    late.cancel(put);
    await late.reply(late.call("qsize", [], false)); // answered after the cancel was done
    assert.deepStrictEqual(await drain(queue), [value], `${value}: the other item stays`);
  }
});

Deno.test("Queue: a put() and the get() that took its item, both cancelled, leave nothing, in any order", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  for (const order of ["one message", "put first", "get first"]) {
    for (const value of ["x", 7, null]) {
      await using queue = await manager.Queue<unknown>();
      await queue.put("before");
      using raw = await rawClient(queue, manager.address);
      const put = raw.call("put", [value], true);
      const takeBefore = raw.call("get", [], false);
      const get = raw.call("get", [], true);
      assert.deepStrictEqual(await raw.reply(takeBefore), [0, "before"]);
      assert.deepStrictEqual(await raw.reply(get), [0, value], "the get took the put's item");
      if (order === "one message") raw.cancel(put, get);
      else if (order === "put first") (raw.cancel(put), raw.cancel(get));
      else (raw.cancel(get), raw.cancel(put));
      const probe = raw.call("qsize", [], false);
      await raw.reply(probe);
      assert.deepStrictEqual(await drain(queue), [], `${order}, ${value}: as if neither had run`);
    }
  }
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

/** Whether `promise` fulfilled (its value) or was aborted. */
function outcome<T>(promise: Promise<T>): Promise<{ value: T } | null> {
  return promise.then((value) => ({ value }), (error) => {
    assert.equal(error.name, "AbortError");
    return null;
  });
}

Deno.test("race: 400 rounds of two cancelled gets leave the queue as put, minus exactly what was delivered", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  const random = seeded(21);
  const base = ["a", null, 1, "a", null];
  let undone = 0;
  let delivered = 0;
  for (let round = 0; round < 400; round++) {
    await using queue = round % 2 === 0
      ? await manager.Queue<unknown>()
      : await manager.JoinableQueue<unknown>();
    for (const item of base) await queue.put(item);
    const controller = new AbortController();
    const gets = [0, 1].map(() => outcome(withCall(queue, { signal: controller.signal }).get()));
    // Another client's equal item, put while the gets are undone or delivered.
    const producer = queue.put("a");
    abortSoon(controller, random);
    const results = await Promise.all(gets);
    await producer;
    results.forEach((result, i) => {
      if (result === null) return void undone++;
      delivered++;
      assert.equal(result.value, base[i], `round ${round}: get ${i} took the item at ${i}`);
    });
    assert.deepStrictEqual(
      await drain(queue),
      [...base.filter((_, i) => !results[i]), "a"],
      `round ${round}: ${JSON.stringify(results)}`,
    );
  }
  assert.ok(undone > 100 && delivered > 100, `both happened: ${undone} undone, ${delivered} got`);
});

Deno.test("race: 400 rounds of cancelled puts of equal items leave exactly the puts that stood", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  await using queue = await manager.Queue<unknown>();
  const random = seeded(33);
  const base = ["a", null, 1];
  let undone = 0;
  for (let round = 0; round < 400; round++) {
    for (const item of base) await queue.put(item);
    const value = base[round % 3];
    const controller = new AbortController();
    const putting = outcome(withCall(queue, { signal: controller.signal }).put(value));
    abortSoon(controller, random);
    const result = await putting;
    if (result === null) undone++;
    assert.deepStrictEqual(
      await drain(queue),
      result === null ? base : [...base, value],
      `round ${round}: ${result === null ? "undone" : "stood"}`,
    );
  }
  assert.ok(undone > 100 && undone < 380, `both happened: ${undone} undone`);
});

Deno.test("race: 400 rounds of a put and a get cancelled together leave what the replies said", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  await using queue = await manager.Queue<unknown>();
  const random = seeded(45);
  const seen = new Set<string>();
  for (let round = 0; round < 400; round++) {
    const value = ["x", 7, null][round % 3];
    const controller = new AbortController();
    const putting = outcome(withCall(queue, { signal: controller.signal }).put(value));
    const getting = outcome(withCall(queue, { signal: controller.signal }).get());
    abortSoon(controller, random);
    const [put, got] = await Promise.all([putting, getting]);
    if (got !== null) assert.equal(got.value, value);
    seen.add(`${put !== null}/${got !== null}`);
    // Only a put that stood, whose item's get was undone, leaves its item.
    assert.deepStrictEqual(
      await drain(queue),
      put !== null && got === null ? [value] : [],
      `round ${round}: put ${put !== null ? "stood" : "undone"}, get ${got ? "got" : "undone"}`,
    );
  }
  assert.ok(seen.has("false/false") && seen.has("true/true"), `cases: ${[...seen]}`);
});

for (const type of ["Lock", "RLock"] as const) {
  Deno.test(`${type}: a late cancel of an acquire() lets go of that hold only, never a later one`, async () => {
    await using manager = await new SyncManager({ modules: [] }).start();
    await using lock = type === "Lock" ? await manager.Lock() : await manager.RLock();
    using raw = await rawClient(lock, manager.address);
    const first = raw.call("acquire", [], true);
    assert.deepStrictEqual(await raw.reply(first), [0, true]);
    assert.deepStrictEqual(await raw.reply(raw.call("release", [], false)), [0, undefined]);
    assert.deepStrictEqual(await raw.reply(raw.call("acquire", [], false)), [0, true]);
    raw.cancel(first);
    assert.deepStrictEqual(await raw.reply(raw.call("locked", [], false)), [0, true]);
    assert.equal(await lock.locked(), true, "the later hold stands");
    assert.equal(await lock.acquire({ timeout: 50 }), false, "and is not ours");
    assert.deepStrictEqual(await raw.reply(raw.call("release", [], false)), [0, undefined]);
    assert.equal(await lock.locked(), false);
  });
}

Deno.test("Condition: a cancelled acquire() lets go of the lock", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  await using condition = await manager.Condition();
  for (let round = 0; round < 20; round++) {
    const controller = new AbortController();
    const acquiring = withCall(condition, { signal: controller.signal }).acquire();
    controller.abort();
    await assert.rejects(acquiring, { name: "AbortError" });
    assert.equal(await condition.locked(), false, `round ${round}: the lock is free`);
  }
});

Deno.test("Condition: a wait() notified and then cancelled passes the notify to the next waiter", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  await using condition = await manager.Condition();
  using first = await rawClient(condition, manager.address);
  assert.deepStrictEqual(await first.reply(first.call("acquire", [], false)), [0, true]);
  const firstWait = first.call("wait", [], true);
  await new Promise((resolve) => setTimeout(resolve, 50));
  // The second waiter, on the test's own connection, waits behind the first.
  const secondWait = (async () => {
    assert.equal(await condition.acquire({ timeout: 2000 }), true);
    const notified = await condition.wait({ timeout: 4000 });
    await condition.release();
    return notified;
  })();
  await new Promise((resolve) => setTimeout(resolve, 50));
  // One notify: it goes to the oldest waiter, the raw client, which then takes the lock back.
  assert.equal(await condition.acquire({ timeout: 2000 }), true);
  await condition.notify(1);
  await condition.release();
  assert.deepStrictEqual(await first.reply(firstWait), [0, true], "the first waiter was notified");
  const started = performance.now();
  first.cancel(firstWait);
  assert.deepStrictEqual(await first.reply(first.call("release", [], false)), [0, undefined]);
  assert.equal(await secondWait, true, "the notify passed on to the second waiter");
  assert.ok(performance.now() - started < 3000, "at once, not at its timeout");
});

Deno.test("Barrier: a party that leaves takes no arrival index; the others get 0 to parties - 1", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  await using barrier = await manager.Barrier(4);
  const waits: Promise<number>[] = [barrier.wait({ timeout: 5000 })];
  const controller = new AbortController();
  const leaving = withCall(barrier, { signal: controller.signal }).wait();
  leaving.catch(() => {});
  waits.push(barrier.wait({ timeout: 5000 }));
  const deadline = Date.now() + 2000;
  while (await barrier.nWaiting() < 3 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  controller.abort();
  await assert.rejects(leaving, { name: "AbortError" });
  while (await barrier.nWaiting() !== 2 && Date.now() < deadline + 2000) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(await barrier.nWaiting(), 2, "the party left");
  waits.push(barrier.wait({ timeout: 5000 }), barrier.wait({ timeout: 5000 }));
  assert.deepStrictEqual((await Promise.all(waits)).sort(), [0, 1, 2, 3]);
  assert.equal(await barrier.broken(), false);
});

Deno.test("containers: a cancelled pop() puts the entry back in its place and order", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  for (const [label, items] of VALUES) {
    await using list = await manager.list<unknown>(items);
    const controller = new AbortController();
    const popping = [
      withCall(list, { signal: controller.signal }).pop(1),
      withCall(list, { signal: controller.signal }).pop(),
    ];
    controller.abort();
    for (const pop of popping) await assert.rejects(pop, { name: "AbortError" });
    assert.deepStrictEqual(await list.copy(), items, `list of ${label}`);

    const entries: [string, unknown][] = items.map((item, i) => [`k${i}`, item]);
    await using dict = await manager.dict<string, unknown>(entries);
    const dictController = new AbortController();
    const taking = [
      withCall(dict, { signal: dictController.signal }).pop("k1"),
      withCall(dict, { signal: dictController.signal }).popitem(),
      withCall(dict, { signal: dictController.signal }).pop("k0"),
    ];
    dictController.abort();
    for (const take of taking) await assert.rejects(take, { name: "AbortError" });
    assert.deepStrictEqual(await dict.entries(), entries, `dict of ${label}`);

    await using set = await manager.set<unknown>(items);
    const members = await set.values();
    const setController = new AbortController();
    const setPop = withCall(set, { signal: setController.signal }).pop();
    setController.abort();
    await assert.rejects(setPop, { name: "AbortError" });
    assert.deepStrictEqual(await set.values(), members, `set of ${label}`);
  }
});
