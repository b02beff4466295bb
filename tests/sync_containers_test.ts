/**
 * CPython's container tests (`_TestContainers`), `TestSyncManagerTypes`
 * (each check in a worker process, as CPython's `run_worker`) and
 * `TestInitializers`, ported.
 */
import assert from "node:assert/strict";
import { type BaseProxy, type ListProxy, SyncManager } from "../mod.ts";
import { startSyncWorker, syncTest, waitUntil, workerOk } from "./_helpers.ts";
import { REMOTE_VALUES } from "./_fixtures/values.ts";

syncTest("list: slices, extend, repeat and nesting (test_list)", async (manager) => {
  await using a = await manager.list([...Array(10).keys()]);
  assert.deepEqual(await a.slice(), [...Array(10).keys()]);
  await using b = await manager.list<number>();
  assert.deepEqual(await b.slice(), []);
  await b.extend([0, 1, 2, 3, 4]);
  assert.deepEqual(await b.slice(), [0, 1, 2, 3, 4]);
  assert.equal(await b.get(2), 2);
  assert.deepEqual(await b.slice(2, 10), [2, 3, 4]);
  await b.extend(await b.copy()); // b *= 2
  assert.deepEqual(await b.slice(), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
  assert.deepEqual([...await b.copy(), 5, 6], [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(await a.slice(), [...Array(10).keys()]);
  await using e = await manager.list<BaseProxy>([a, b]);
  const nested = [];
  for (const item of await e.copy()) {
    await using inner = item as ListProxy<number>;
    nested.push(await inner.slice());
  }
  assert.deepEqual(nested, [[...Array(10).keys()], [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]]);
  await using f = await manager.list<BaseProxy>([a]);
  await a.append("hello" as never);
  await using first = await f.get(0) as ListProxy;
  assert.deepEqual(await first.slice(), [...Array(10).keys(), "hello"]);
});

syncTest("list: iteration is lazy and by index (test_list_iter)", async (manager) => {
  await using a = await manager.list([...Array(10).keys()]);
  await using it = await a.iterate();
  const seen = [];
  for (let step = await it.next(); !step.done; step = await it.next()) seen.push(step.value);
  assert.deepEqual(seen, [...Array(10).keys()]);
  assert.deepEqual(await it.next(), { done: true, value: undefined });
  await using it2 = await a.iterate();
  await a.set(0, 100);
  assert.equal((await it2.next()).value, 100);
  const all = [];
  for await (const x of a) all.push(x);
  assert.deepEqual(all, [100, ...[...Array(10).keys()].slice(1)]);
});

syncTest("list: lists of lists (test_list_proxy_in_list)", async (manager) => {
  const inner = await Promise.all([0, 1, 2].map(() => manager.list([0, 1, 2])));
  await using a = await manager.list<BaseProxy>(inner);
  for (const proxy of inner) await proxy[Symbol.asyncDispose]();
  const at = async (i: number): Promise<ListProxy<number>> => await a.get(i) as ListProxy<number>;
  {
    await using a0 = await at(0);
    await a0.set(-1, 55);
    assert.deepEqual(await a0.slice(), [0, 1, 55]);
    await using a1 = await at(1);
    await using a2 = await at(2);
    assert.deepEqual(await a1.slice(), [0, 1, 2]);
    assert.deepEqual(await a2.slice(), [0, 1, 2]);
    assert.equal(await a1.pop(), 2);
    assert.equal(await a1.length(), 2);
    assert.equal(await a0.length(), 3);
  }
  // A list holding itself: no hang, no crash. Such a cycle stays alive, as in
  // CPython, until something breaks it.
  await using self = await manager.list<BaseProxy>();
  await self.append(self);
  {
    await using inner = await self.get(0) as ListProxy;
    assert.equal(inner._token.id, self._token.id);
  }
  await self.clear();
});

syncTest(
  "values of many kinds from another process through a queue (test_remote)",
  async (manager) => {
    await using queue = await manager.Queue();
    await workerOk(await startSyncWorker(manager, "queuePutValues", { queue }));
    assert.deepEqual(await queue.get(), REMOTE_VALUES);
    await assert.rejects(queue.put(setTimeout as never), TypeError); // queue.put(time.sleep)
  },
);

syncTest("list: CPython's methods and JavaScript's, with their errors", async (manager) => {
  await using l = await manager.list([3, 1, 2]);
  await l.sort();
  assert.deepEqual(await l.copy(), [1, 2, 3]);
  await l.sort({ reverse: true });
  assert.deepEqual(await l.copy(), [3, 2, 1]);
  await l.insert(0, 10);
  assert.equal(await l.index(2), 2);
  assert.equal(await l.indexOf(99), -1);
  await assert.rejects(l.index(99), { name: "RangeError", message: "99 is not in list" });
  await assert.rejects(l.remove(99), RangeError);
  await assert.rejects(l.get(42), { name: "RangeError", message: "list index out of range" });
  assert.equal(await l.at(42), undefined);
  assert.deepEqual(await l.splice(1, 2), [3, 2]);
  assert.equal(await l.push(7, 8), 4);
  await using mixed = await manager.list<unknown>([1, "a"]);
  await assert.rejects(mixed.sort(), { name: "TypeError", message: /'<' not supported/ });
  await using empty = await manager.list();
  await assert.rejects(empty.pop(), { name: "RangeError", message: "pop from empty list" });
  await using pairs = await manager.list([[1, "a"], [1, "a"]]);
  assert.equal(await pairs.count([1, "a"]), 2, "equality is structural, as Python's ==");
});

syncTest("dict: keys, values, items, copy, popitem (test_dict)", async (manager) => {
  await using d = await manager.dict<number, string>();
  for (let i = 65; i < 70; i++) await d.set(i, String.fromCharCode(i));
  const expected = new Map([...Array(5).keys()].map((i) => [65 + i, String.fromCharCode(65 + i)]));
  assert.deepEqual(await d.copy(), expected);
  assert.deepEqual((await d.keys()).sort(), [65, 66, 67, 68, 69]);
  assert.deepEqual((await d.values()).sort(), ["A", "B", "C", "D", "E"]);
  assert.deepEqual(await d.entries(), [...expected]);
  assert.deepEqual(await d.popitem(), [69, "E"]);
  assert.equal(await d.pop(65), "A");
  await assert.rejects(d.pop(65), { name: "RangeError", message: "Key not found: 65" });
  assert.equal(await d.pop(65, "gone"), "gone");
  assert.equal(await d.setdefault(1, "one"), "one");
  await d.update({ 2: "two" } as never);
  assert.equal(await d.get(2 as never, "none"), "none", "plain-object keys are strings");
  assert.equal(await d.get("2" as never), "two");
});

syncTest(
  "dict: iteration, and a change of size while iterating (test_dict_iter)",
  async (manager) => {
    await using d = await manager.dict<number, number>();
    for (let i = 65; i < 70; i++) await d.set(i, i);
    await using it = await d.iterate();
    const keys = [];
    for (let step = await it.next(); !step.done; step = await it.next()) keys.push(step.value[0]);
    assert.deepEqual(keys, [65, 66, 67, 68, 69]);
    assert.equal((await it.next()).done, true);
    await using it2 = await d.iterate();
    await d.clear();
    await assert.rejects(it2.next(), {
      name: "Error",
      message: "dictionary changed size during iteration",
    });
    await d.set(1, 2);
    const entries = [];
    for await (const entry of d) entries.push(entry);
    assert.deepEqual(entries, [[1, 2]]);
  },
);

syncTest("dict: dicts inside dicts (test_dict_proxy_nested)", async (manager) => {
  await using temporaries = new AsyncDisposableStack();
  type D = Awaited<ReturnType<typeof manager.dict<string, unknown>>>;
  const item = async (d: D, key: string): Promise<D> => temporaries.use(await d.get(key) as D);
  const pets = await manager.dict<string, unknown>({ ferrets: 2, hamsters: 4 });
  const supplies = await manager.dict<string, unknown>({ water: 10, feed: 3 });
  await using d = await manager.dict<string, unknown>({ pets, supplies });
  assert.equal(await supplies.get("water"), 10);
  assert.equal(await (await item(d, "supplies")).get("water"), 10);
  await (await item(d, "supplies")).set("blankets", 5);
  assert.equal(await supplies.get("blankets"), 5);
  await (await item(d, "supplies")).set("water", 7);
  assert.equal(await supplies.get("water"), 7);
  await pets[Symbol.asyncDispose]();
  await supplies[Symbol.asyncDispose]();
  assert.equal(await (await item(d, "pets")).get("ferrets"), 2);
  await (await item(d, "supplies")).set("blankets", 11);
  await using pets2 = await d.get("pets") as D;
  await using supplies2 = await d.get("supplies") as D;
  await d.clear();
  assert.equal(await d.size(), 0);
  assert.equal(await supplies2.get("water"), 7);
  assert.equal(await pets2.get("hamsters"), 4);
  await using l = await manager.list<BaseProxy>([pets2, supplies2]);
  await using l0 = await l.get(0) as D;
  await l0.set("marmots", 1);
  assert.equal(await pets2.get("marmots"), 1);
  await using outer = await manager.list<unknown>([[88, 99], l]);
  assert.deepEqual(await outer.get(0), [88, 99], "plain values stay plain");
  await using last = await outer.get(-1) as ListProxy;
  await using lastOfLast = await last.get(-1) as D;
  assert.equal(await lastOfLast.get("feed"), 3);
});

syncTest("a queue inside a list and a dict (test_nested_queue)", async (manager) => {
  await using a = await manager.list<BaseProxy>();
  {
    await using fresh = await manager.Queue();
    await a.append(fresh);
  }
  {
    await using q = await a.get(0) as Awaited<ReturnType<typeof manager.Queue<number>>>;
    await q.put(123);
    assert.equal(await q.get(), 123);
  }
  await using b = await manager.dict<number, BaseProxy>();
  {
    await using fresh = await manager.Queue();
    await b.set(0, fresh);
  }
  await using q = await b.get(0) as Awaited<ReturnType<typeof manager.Queue<number>>>;
  await q.put(456);
  assert.equal(await q.get(), 456);
});

syncTest("Namespace: attributes, repr, and local _names (test_namespace)", async (manager) => {
  await using n = await manager.Namespace();
  await n.set("name", "Bob");
  await n.set("job", "Builder");
  await n.set("_hidden", "hidden");
  assert.deepEqual([await n.get("name"), await n.get("job")], ["Bob", "Builder"]);
  await n.delete("job");
  assert.equal(await n.repr(), "Namespace(name='Bob')");
  assert.equal(await n.has("name"), true);
  assert.equal(await n.has("job"), false);
  assert.equal(await n.get("_hidden"), "hidden");
  assert.deepEqual(await n.toObject(), { name: "Bob" }, "_hidden never reached the server");
});

syncTest("set: an async Set with CPython's methods", async (manager) => {
  await using s = await manager.set([1, 2]);
  await s.add(3);
  assert.equal(await s.has(3), true);
  assert.equal(await s.size(), 3);
  await s.discard(99);
  await assert.rejects(s.remove(99), RangeError);
  await s.update([4, 5], new Set([6]));
  assert.deepEqual((await s.values()).sort(), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(await s.copy(), new Set([1, 2, 3, 4, 5, 6]));
  const seen = [];
  for await (const x of s) seen.push(x);
  assert.equal(seen.length, 6);
});

syncTest("_getvalue() copies a container's contents, as CPython's does", async (manager) => {
  await using d = await manager.dict({ a: 1 });
  assert.deepEqual(await d._getvalue(), new Map([["a", 1]]));
  await using l = await manager.list([1, 2]);
  assert.deepEqual(await l._getvalue(), [1, 2]);
  await using s = await manager.set(["x"]);
  assert.deepEqual(await s._getvalue(), new Set(["x"]));
  await using v = await manager.Value(7);
  assert.equal(await v._getvalue(), 7);
  await using n = await manager.Namespace({ k: "v" });
  assert.deepEqual(await n._getvalue(), { k: "v" });
});

syncTest("Value and Array (test_value, test_array)", async (manager) => {
  await using v = await manager.Value(1);
  assert.equal(await v.get(), 1);
  await v.set(2);
  assert.equal(await v.get(), 2);
  await using arr = await manager.Array([0, 1]);
  assert.equal(await arr.get(0), 0);
  assert.equal(await arr.length(), 2);
  const items = [];
  for await (const x of arr) items.push(x);
  assert.deepEqual(items, [0, 1]);
  await using floats = await manager.Array(new Int8Array([1, 2]));
  await floats.set(0, 300);
  assert.equal(await floats.get(0), 44, "a typed array keeps its element type");
  await assert.rejects(floats.get(5), RangeError);
});

for (
  const [name, make, scenario, after] of [
    [
      "Event",
      async (manager: SyncManager) => {
        const o = await manager.Event();
        await o.set();
        return o;
      },
      "typesEvent",
      async (o: BaseProxy) => {
        const event = o as Awaited<ReturnType<SyncManager["Event"]>>;
        assert.equal(await event.isSet(), false);
        assert.equal(await event.wait({ timeout: 1 }), false);
      },
    ],
    ["Lock", (manager: SyncManager) => manager.Lock(), "typesLock", async (o: BaseProxy) => {
      // CPython: the parent releases the lock the exited child held. Here the
      // server already released it when the child's connection closed.
      const lock = o as Awaited<ReturnType<SyncManager["Lock"]>>;
      assert.ok(await waitUntil(async () => !(await lock.locked()), 2000));
      await assert.rejects(lock.release(), { message: "release unlocked lock" });
    }],
    ["RLock", (manager: SyncManager) => manager.RLock(), "typesAcquireRelease", null],
    // As in CPython, the parent releases what the exited child acquired:
    // permits are not owned, so nothing was given back when it exited.
    [
      "Semaphore",
      (manager: SyncManager) => manager.Semaphore(),
      "typesSemaphore",
      async (o: BaseProxy) => {
        const sem = o as Awaited<ReturnType<SyncManager["Semaphore"]>>;
        assert.equal(await sem.value(), 0);
        await sem.release();
        assert.equal(await sem.value(), 1);
      },
    ],
    [
      "BoundedSemaphore",
      (manager: SyncManager) => manager.BoundedSemaphore(),
      "typesSemaphore",
      async (o: BaseProxy) => {
        const sem = o as Awaited<ReturnType<SyncManager["BoundedSemaphore"]>>;
        assert.equal(await sem.value(), 0);
        await sem.release();
        assert.equal(await sem.value(), 1);
      },
    ],
    ["Condition", (manager: SyncManager) => manager.Condition(), "typesAcquireRelease", null],
    ["Barrier", (manager: SyncManager) => manager.Barrier(5), "typesBarrier", null],
    [
      "Queue",
      async (manager: SyncManager) => {
        const o = await manager.Queue<number>(2);
        await o.put(5);
        await o.put(6);
        return o;
      },
      "typesQueue",
      async (o: BaseProxy) => {
        const queue = o as Awaited<ReturnType<SyncManager["Queue"]>>;
        assert.equal(await queue.empty(), true);
        assert.equal(await queue.full(), false);
      },
    ],
    [
      "list",
      async (manager: SyncManager) => {
        const o = await manager.list<number>();
        await o.append(5);
        return o;
      },
      "typesList",
      async (o: BaseProxy) => {
        assert.equal(await (o as ListProxy).length(), 0);
      },
    ],
    [
      "dict",
      async (manager: SyncManager) => {
        const o = await manager.dict<string, number>();
        await o.set("foo", 5);
        return o;
      },
      "typesDict",
      async (o: BaseProxy) => {
        const dict = o as Awaited<ReturnType<SyncManager["dict"]>>;
        assert.equal(await dict.size(), 0);
      },
    ],
    ["Value", (manager: SyncManager) => manager.Value(1), "typesValue", async (o: BaseProxy) => {
      const value = o as Awaited<ReturnType<SyncManager["Value"]>>;
      assert.equal(await (value as { get(): Promise<unknown> }).get(), 2);
    }],
    ["Array", (manager: SyncManager) => manager.Array([0, 1]), "typesArray", null],
  ] as const
) {
  syncTest(`TestSyncManagerTypes: ${name} checked in a worker process`, async (manager) => {
    await using obj = await (make as (manager: SyncManager) => Promise<BaseProxy>)(manager);
    await workerOk(await startSyncWorker(manager, scenario, { obj }));
    if (after) await after(obj);
  });
}

syncTest(
  "TestInitializers: the initializer runs in the new server with another manager's proxy",
  async (manager) => {
    await using ns = await manager.Namespace({ test: 0 });
    const { incrementTest } = await import("./_fixtures/initializers.ts");
    const modules = [new URL("./_fixtures/initializers.ts", import.meta.url).href];
    const other = await new SyncManager({ modules }).start(incrementTest, [ns]);
    assert.equal(await ns.get("test"), 1);
    await other.shutdown();
    await assert.rejects(new SyncManager({ modules: [] }).start(1 as never), {
      name: "TypeError",
      message: "initializer must be a callable",
    });
  },
);
