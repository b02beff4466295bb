import assert from "node:assert/strict";
import {
  BaseProxy,
  ConnectionClosedError,
  defaultAuthkey,
  type IteratorProxy,
  proxyFromString,
  proxyToString,
  RemoteError,
} from "../mod.ts";
import { Counter, CounterProxy, Store, TestManager } from "./_fixtures/counter.ts";
import { COUNTER_MODULE, processGone, startWorker, toBase64, waitUntil } from "./_helpers.ts";

const modules = [COUNTER_MODULE];

Deno.test("an auto proxy has exactly the exposed methods", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using foo = await manager.create("Foo") as BaseProxy & Record<string, unknown>;
  await using bar = await manager.create("Bar") as BaseProxy & Record<string, unknown>;
  assert.deepEqual(["f", "g", "_h"].filter((name) => typeof foo[name] === "function"), ["f", "g"]);
  assert.deepEqual(["f", "g", "_h"].filter((name) => typeof bar[name] === "function"), ["f", "_h"]);
  assert.equal(foo.constructor.name, "AutoProxy[Foo]");
  const call = (proxy: Record<string, unknown>, name: string): Promise<unknown> =>
    (proxy[name] as () => Promise<unknown>).call(proxy);
  assert.equal(await call(foo, "f"), "f()");
  await assert.rejects(call(foo, "g"), { name: "TypeError", message: "g() always fails" });
  assert.equal(await foo._callmethod("f"), "f()");
  await assert.rejects(foo._callmethod("_h"), {
    name: "RemoteError",
    message: "Method '_h' of 'Foo' is not exposed (exposed: f, g)",
  });
  assert.equal(await call(bar, "_h"), "_h()");
  assert.equal(await bar._callmethod("_h"), "_h()");
  await assert.rejects(bar._callmethod("g"), RemoteError);
  await assert.rejects(bar._callmethod("toString"), RemoteError);
});

Deno.test("a generator shared with an IteratorProxy iterates remotely (_TestMyManager baz)", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using baz = await manager.create("baz") as IteratorProxy<number>;
  const squares = [];
  for await (const x of baz) squares.push(x);
  assert.deepEqual(squares, [...Array(10).keys()].map((i) => i * i));
});

Deno.test("a proxy prints as CPython's repr and disposes once", async () => {
  await using manager = await new TestManager({ modules }).start();
  const counter = await manager.create(Counter, 1);
  assert.match(String(counter), /^<AutoProxy\[Counter\] object, typeid 'Counter' at 0x[0-9a-f]+>$/);
  assert.equal(counter._token.typeid, "Counter");
  assert.equal(counter._token.address, manager.address);
  assert.equal(await manager.numberOfObjects(), 1);
  await counter[Symbol.asyncDispose]();
  await counter[Symbol.asyncDispose]();
  assert.equal(await manager.numberOfObjects(), 0);
  await assert.rejects(counter.get(), { name: "RemoteError", message: /was released/ });
});

Deno.test("_getvalue() returns a copy of the referent", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using store = await manager.create(Store, [["a", 1], ["b", [2, 3]]]);
  await store.set("c", new Map([[1, "one"]]));
  // Private fields do not travel: an object with no own data is refused
  // with a reason rather than arriving as {}.
  await assert.rejects(store._getvalue(), {
    name: "RemoteError",
    message:
      "Cannot send the result of Store.#GETVALUE(): Cannot send a Store (class instances travel as their own enumerable properties, and it has none) at value",
  });
  await using counter = await manager.create(Counter, 3);
  await assert.rejects(counter._getvalue(), /Cannot send a Counter/);
  await using foo = await manager.create("Foo");
  await assert.rejects(foo._getvalue(), /Cannot send a FooBar/);
});

Deno.test("proxytype gives a hand-written proxy class", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using counter = await manager.create("TypedCounter", 4) as CounterProxy;
  assert.ok(counter instanceof CounterProxy);
  assert.equal(await counter.double(), 8);
  assert.equal(await counter.get(), 8);
});

Deno.test("methodToTypeid methods return new proxies", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using store = await manager.create(Store, [["x", 1], ["y", 2]]);
  await using iterator = await store.iterate() as unknown as BaseProxy & {
    next(): Promise<IteratorResult<unknown>>;
  };
  assert.ok(iterator instanceof BaseProxy);
  assert.equal(iterator._token.typeid, "Iterator");
  const seen = [];
  for (let step = await iterator.next(); !step.done; step = await iterator.next()) {
    seen.push(step.value);
  }
  assert.deepEqual(seen, ["x", "y"]);
  assert.equal(await manager.numberOfObjects(), 2);
});

Deno.test("proxies travel as arguments and return values and keep their referent alive", async () => {
  await using manager = await new TestManager({ modules }).start();
  const store = await manager.create(Store);
  const counter = await manager.create(Counter, 10);
  await store.set("counter", counter);
  const again = await store.get("counter") as typeof counter;
  assert.notEqual(again, counter);
  assert.equal(again._token.id, counter._token.id);
  await again.increment(5);
  assert.equal(await counter.get(), 15);
  // The server can call through a proxy it was given.
  assert.equal(await store.callOn(counter, 1), 16);
  // Dropping every client proxy: the store still holds the counter.
  await counter[Symbol.asyncDispose]();
  await again[Symbol.asyncDispose]();
  assert.equal(await manager.numberOfObjects(), 2);
  const third = await store.get("counter") as typeof counter;
  assert.equal(await third.get(), 16);
  await third[Symbol.asyncDispose]();
  // Once the store lets go, the counter goes too.
  await store.clear();
  assert.equal(await manager.numberOfObjects(), 1);
  await store[Symbol.asyncDispose]();
  assert.equal(await manager.numberOfObjects(), 0);
});

Deno.test("nested shared objects as in CPython's test_dict_proxy_nested", async () => {
  await using manager = await new TestManager({ modules }).start();
  // Every get() of a stored proxy returns a new proxy with its own reference.
  await using temporaries = new AsyncDisposableStack();
  type S = Awaited<ReturnType<typeof manager.create<typeof Store>>>;
  const item = async (store: S, key: unknown): Promise<S> =>
    temporaries.use(await store.get(key) as S);
  const pets = await manager.create(Store, [["ferrets", 2], ["hamsters", 4]]);
  const supplies = await manager.create(Store, [["water", 10], ["feed", 3]]);
  const d = await manager.create(Store, [["pets", pets], ["supplies", supplies]]);
  assert.equal(await supplies.get("water"), 10);
  assert.equal(await (await item(d, "supplies")).get("water"), 10);
  await (await item(d, "supplies")).set("blankets", 5);
  assert.equal(await supplies.get("blankets"), 5);
  await pets[Symbol.asyncDispose]();
  await supplies[Symbol.asyncDispose]();
  assert.equal(await (await item(d, "pets")).get("ferrets"), 2, "the store keeps pets alive");
  const pets2 = await d.get("pets") as S;
  await temporaries.disposeAsync();
  assert.equal(await manager.numberOfObjects(), 3);
  await d.clear();
  assert.equal(await d.size(), 0);
  assert.equal(await manager.numberOfObjects(), 2, "supplies went with the clear()");
  assert.equal(await pets2.get("hamsters"), 4, "a client reference keeps pets alive");
  const list = await manager.create(Store, [[0, pets2]]);
  await using first = await list.get(0) as S;
  await first.set("marmots", 1);
  assert.equal(await pets2.get("marmots"), 1);
  await pets2[Symbol.asyncDispose]();
  assert.equal(await first.get("marmots"), 1);
  await first[Symbol.asyncDispose]();
  for (const proxy of [d, list]) await proxy[Symbol.asyncDispose]();
  assert.equal(await manager.numberOfObjects(), 0);
});

Deno.test("a queue-like object nested in a store works through the store", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using outer = await manager.create(Store);
  await outer.set("inner", await manager.create(Store));
  const inner = await outer.get("inner") as Store & BaseProxy;
  await inner.set("k", "v");
  assert.equal(await (await outer.get("inner") as Store).get("k"), "v");
});

Deno.test("many calls are in flight on one connection; a slow call blocks nobody", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using counter = await manager.create(Counter);
  const order: string[] = [];
  const slow = counter.later(300, "slow").then((value) => {
    order.push("slow");
    return value;
  });
  assert.equal(await counter.increment(), 1);
  order.push("quick");
  const results = await Promise.all(
    Array.from({ length: 64 }, (_, i) => counter.later(64 - i, i)),
  );
  assert.deepEqual(results, Array.from({ length: 64 }, (_, i) => i));
  assert.equal(await slow, "slow");
  assert.deepEqual(order, ["quick", "slow"], "the quick call did not wait for the slow one");
});

Deno.test("requests start in arrival order", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using store = await manager.create(Store);
  await Promise.all(Array.from({ length: 200 }, (_, i) => store.set(i, i)));
  assert.deepEqual(await store.keys(), Array.from({ length: 200 }, (_, i) => i));
});

Deno.test("object ids come from a counter and are never reused", async () => {
  await using manager = await new TestManager({ modules }).start();
  const first = await manager.create(Counter);
  const id = first._token.id;
  await first[Symbol.asyncDispose]();
  await using second = await manager.create(Counter);
  assert.ok(second._token.id > id);
});

Deno.test("a killed client's references are released", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using mine = await manager.create(Counter, 1);
  const worker = startWorker({
    action: "hold",
    address: manager.address,
    authkey: toBase64(defaultAuthkey()),
    times: 3,
  });
  assert.deepEqual(JSON.parse(await worker.line()), { held: 3, objects: 4 });
  worker.child.kill("SIGKILL");
  await worker.finish();
  assert.ok(await waitUntil(async () => (await manager.numberOfObjects()) === 1, 2000));
  assert.equal(await mine.get(), 1, "other clients' objects are untouched");
});

Deno.test("a proxy handed to another process as a string outlives the sender's proxy", async () => {
  await using manager = await new TestManager({ modules }).start();
  const counter = await manager.create(Counter, 100);
  const text = await proxyToString(counter);
  await counter[Symbol.asyncDispose](); // the sender lets go before the worker starts
  const worker = startWorker({
    action: "increment",
    proxy: text,
    authkey: toBase64(defaultAuthkey()),
    times: 5,
  });
  assert.deepEqual(JSON.parse(await worker.line()), { last: 105 });
  assert.equal((await worker.finish()).code, 0);
  assert.equal(await manager.numberOfObjects(), 0, "released by the worker");
});

Deno.test("a proxy string can be claimed once, with a clear error the second time", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using counter = await manager.create(Counter, 1);
  const text = await proxyToString(counter);
  await using copy = await proxyFromString<typeof counter>(text, {
    authkey: defaultAuthkey(),
    manager,
  });
  assert.equal(await copy.increment(), 2);
  await assert.rejects(
    proxyFromString(text, { authkey: defaultAuthkey(), manager }),
    { name: "RemoteError", message: /ticket not found: it was claimed already/ },
  );
  await assert.rejects(proxyFromString("garbage", { authkey: new Uint8Array() }), TypeError);
});

Deno.test("pending calls in every client reject within 1 s when the server dies", async () => {
  const manager = await new TestManager({ modules }).start();
  const clients = await Promise.all(
    [0, 1].map(() => new TestManager({ address: manager.address }).connect()),
  );
  const counters = [
    await manager.create(Counter),
    ...await Promise.all(clients.map((client) => client.create(Counter))),
  ];
  const checks = counters.flatMap((counter) =>
    Array.from(
      { length: 10 },
      () => assert.rejects(counter.later(10_000, "never"), ConnectionClosedError),
    )
  );
  await new Promise((resolve) => setTimeout(resolve, 50)); // all calls are on the server
  const started = performance.now();
  Deno.kill(manager.pid!, "SIGKILL");
  await Promise.all(checks);
  assert.ok(performance.now() - started < 1000, "all 30 rejected within 1 s");
  for (const counter of counters) {
    await assert.rejects(counter.get(), {
      name: "ConnectionClosedError",
      message: /closed by the server|lost/,
    });
  }
  for (const client of clients) await client.disconnect();
  await manager.shutdown();
  assert.ok(processGone(manager.pid!));
});
