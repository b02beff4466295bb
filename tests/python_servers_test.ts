/**
 * Our clients on CPython servers (issue 10, Python hosts and Deno calls):
 * `new BaseManager({ address, authkey, serializer: "pickle" }).connect()`
 * reaches a CPython manager server written as in the Python docs, over
 * Unix and TCP sockets, with CPython 3.12 and 3.13. A CPython server is
 * also the reference our own server is held to: what a CPython client
 * stores in ours comes back as from CPython's.
 */
import assert from "node:assert/strict";
import { BaseManager, type BaseProxy, kwargs, SyncManager } from "../mod.ts";
import { firstLine, within } from "./_helpers.ts";
import { cpythonServer, pythonTest, runPython } from "./_python.ts";

const SERVER = new URL("./_fixtures/python_server.py", import.meta.url).pathname;
const AUTHKEY = "abracadabra";

/** A CPython server in `version` on `transport`; stopped (and its socket removed) on dispose. */
const pythonServer = (
  version: string,
  transport: "unix" | "tcp",
  serializer = "pickle",
  kind: "docs" | "sync" = "docs",
) => cpythonServer(version, transport, AUTHKEY, serializer, kind);

type Store = BaseProxy & {
  put(key: string, value: unknown): Promise<void>;
  get(key: string): Promise<unknown>;
  keys(): Promise<string[]>;
  child(): Promise<Store>;
  kinds(...args: unknown[]): Promise<string[]>;
};

for (const version of ["3.13.0", "3.12.1"]) {
  for (const transport of ["unix", "tcp"] as const) {
    await pythonTest(
      [version],
      `a Deno client creates and calls objects on a CPython ${version} server over ${transport}`,
      async () => {
        await using server = await pythonServer(version, transport);
        await using manager = await new BaseManager({
          address: server.address,
          authkey: new TextEncoder().encode(AUTHKEY),
          serializer: "pickle",
        }).connect();
        const baseline = await manager.numberOfObjects();
        await using queue = await manager.create("get_queue");
        await queue._callmethod("put", ["from Deno"]);
        assert.equal(await queue._callmethod("qsize"), 1);
        assert.equal(await queue._callmethod("get", [kwargs({ timeout: 1 })]), "from Deno");
        await assert.rejects(queue._callmethod("get", [kwargs({ timeout: 0.05 })]), {
          name: "Empty",
        });
        const store = await manager.create("Store", kwargs({ seed: 1 })) as Store;
        assert.deepStrictEqual(
          await store.keys(),
          ["seed"],
          "keyword arguments reach the constructor",
        );
        await store.put("a", { x: [1, 2n ** 70n, null, Uint8Array.of(1)], s: new Set([2]) });
        assert.deepStrictEqual(await store.get("a"), {
          x: [1, 2n ** 70n, null, Uint8Array.of(1)],
          s: new Set([2]),
        });
        assert.deepStrictEqual(await store.kinds(1, 1.5, "s", [], kwargs({ flag: true })), [
          "int",
          "float",
          "str",
          "list",
          "flag",
        ]);
        await assert.rejects(store.get("missing"), { name: "KeyError", message: "missing" });
        await assert.rejects(
          store._callmethod("nope"),
          (error: Error) => error.name === "RemoteError" && /AttributeError/.test(error.message),
        );
        const child = await store.child();
        assert.equal(child.constructor.name, "AutoProxy[StoreRef]", "a #PROXY reply is a proxy");
        await child.put("c", 1);
        assert.deepStrictEqual(await child.keys(), ["c", "parent"]);
        assert.equal(await manager.numberOfObjects(), baseline + 3);
        await store[Symbol.asyncDispose]();
        await child[Symbol.asyncDispose]();
        await queue[Symbol.asyncDispose]();
        // Each release is a decref on a connection of its own, as CPython's.
        const deadline = Date.now() + 5000;
        while (await manager.numberOfObjects() !== baseline && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        assert.equal(
          await manager.numberOfObjects(),
          baseline,
          "the CPython server's count is back",
        );
      },
    );
  }
}

await pythonTest(
  ["3.13.0"],
  "a wrong authkey, and a manager that connect()s with pickle to our own server",
  async () => {
    await using server = await pythonServer("3.13.0", "unix");
    await assert.rejects(
      new BaseManager({
        address: server.address,
        authkey: new TextEncoder().encode("wrong"),
        serializer: "pickle",
      }).connect(),
      { name: "AuthenticationError" },
    );
    const { TestManager, Counter } = await import("./_fixtures/counter.ts");
    await using ours = await new TestManager({
      modules: [new URL("./_fixtures/counter.ts", import.meta.url).href],
    }).start();
    await using manager = await new BaseManager({
      address: ours.address,
      serializer: "pickle",
    }).connect();
    const counter = await manager.create("Counter", 41) as BaseProxy & {
      increment(): Promise<number>;
    };
    assert.equal(await counter.increment(), 42, "our server speaks pickle too");
    await counter[Symbol.asyncDispose]();
    void Counter;
  },
);

await pythonTest(
  ["3.11.7"],
  "a CPython 3.11 server (HMAC-MD5) needs legacyAuth: true",
  async () => {
    await using server = await pythonServer("3.11.7", "unix");
    const options = {
      address: server.address,
      authkey: new TextEncoder().encode(AUTHKEY),
      serializer: "pickle" as const,
    };
    await assert.rejects(new BaseManager(options).connect(), {
      name: "AuthenticationError",
      message: /CPython 3\.11 or older: pass legacyAuth: true/,
    });
    await using manager = await new BaseManager({ ...options, legacyAuth: true }).connect();
    await using queue = await manager.create("get_queue");
    await queue._callmethod("put", [1]);
    assert.equal(await queue._callmethod("get"), 1);
  },
);

await pythonTest(
  ["3.13.0"],
  "shutdown() from a pickle client stops the CPython server",
  async () => {
    const child = new Deno.Command("python3", {
      args: [SERVER, "tcp", AUTHKEY],
      env: { PYENV_VERSION: "3.13.0" },
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const { line, rest: lines } = await firstLine(child.stdout, "the CPython server's address");
    const manager = await new BaseManager({
      address: JSON.parse(line),
      authkey: new TextEncoder().encode(AUTHKEY),
      serializer: "pickle",
    }).connect();
    await manager.shutdown();
    const status = await within(child.status, 10_000, "the CPython server's exit");
    assert.ok(status.success, "the CPython server exited cleanly");
    await child.stdin.close().catch(() => {});
    await lines.cancel();
    await assert.rejects(manager.numberOfObjects(), { name: "ManagerStateError" });
  },
);

await pythonTest(
  ["3.13.0"],
  'serializer: "xmlrpclib" reaches a CPython server started with it',
  async () => {
    await using server = await pythonServer("3.13.0", "unix", "xmlrpclib");
    await using manager = await new BaseManager({
      address: server.address,
      authkey: new TextEncoder().encode(AUTHKEY),
      serializer: "xmlrpclib",
    }).connect();
    await using queue = await manager.create("get_queue");
    await queue._callmethod("put", [["hallå", null, true, 2.25, Uint8Array.of(1, 2)]]);
    assert.deepStrictEqual(await queue._callmethod("get"), [
      "hallå",
      null,
      true,
      2.25,
      Uint8Array.of(1, 2),
    ]);
    const store = await manager.create("Store") as Store;
    await store.put("k", { a: 1 });
    assert.deepStrictEqual(await store.get("k"), { a: 1 });
    await assert.rejects(store.get("missing"), /XML-RPC cannot carry/);
    await store[Symbol.asyncDispose]();
  },
);

for (const version of ["3.13.0", "3.12.1"]) {
  await pythonTest(
    [version],
    `our typed SyncManager proxies work on a CPython ${version} SyncManager server`,
    async () => {
      await using server = await pythonServer(version, "unix", "pickle", "sync");
      await using manager = await new SyncManager({
        address: server.address,
        authkey: new TextEncoder().encode(AUTHKEY),
        serializer: "pickle",
      }).connect();
      const baseline = await manager.numberOfObjects();
      {
        await using queue = await manager.Queue<string>();
        await queue.put("a");
        await queue.putNowait("b");
        assert.equal(await queue.qsize(), 2);
        assert.equal(await queue.get({ timeout: 1000 }), "a");
        assert.equal(await queue.getNowait(), "b");
        await assert.rejects(queue.get({ timeout: 50 }), { name: "Empty" });
        await using dict = await manager.dict<string, number>();
        await dict.set("x", 1);
        assert.equal(await dict.get("x"), 1);
        assert.equal(await dict.get("y", 7), 7);
        assert.equal(await dict.has("x"), true);
        assert.equal(await dict.size(), 1);
        assert.equal(await dict.delete("x"), true);
        assert.equal(await dict.delete("x"), false, "a KeyError in Python is false here");
        await dict.set("k", 2);
        const seen: unknown[] = [];
        for await (const entry of dict) seen.push(entry);
        assert.ok(seen.length === 1, `iterated ${JSON.stringify(seen)}`);
        await using list = await manager.list<number>([3, 1, 2]);
        await list.append(4);
        assert.equal(await list.length(), 4);
        assert.equal(await list.get(-1), 4);
        await list.sort({ reverse: true });
        assert.deepStrictEqual(await list.copy(), [4, 3, 2, 1]);
        assert.deepStrictEqual(await list.slice(1, 3), [3, 2]);
        await using lock = await manager.Lock();
        assert.equal(await lock.acquire(), true);
        assert.equal(await lock.acquire({ timeout: 50 }), false, "ms became seconds");
        await lock.release();
        await using event = await manager.Event();
        assert.equal(await event.wait({ timeout: 50 }), false);
        await event.set();
        assert.equal(await event.isSet(), true);
        await using value = await manager.Value(41);
        await value.set((await value.get() as number) + 1);
        assert.equal(await value.get(), 42);
        await using ns = await manager.Namespace();
        await ns.set("name", "Bob");
        assert.equal(await ns.get("name"), "Bob");
        assert.equal(await ns.has("job"), false);
      }
      const deadline = Date.now() + 5000;
      while (await manager.numberOfObjects() !== baseline && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(await manager.numberOfObjects(), baseline, "every object was released");
    },
  );
}

/**
 * What a CPython 3.13 client storing `expressions` in a shared dict on the
 * SyncManager server at `address` reads back: each value's repr and type,
 * as stored and as read.
 */
async function storedAndRead(address: unknown, expressions: string[]): Promise<string[][]> {
  const out = await runPython(
    "3.13.0",
    `import json, sys
from multiprocessing.managers import SyncManager
address = json.loads(sys.stdin.read())
manager = SyncManager(address=address, authkey=${JSON.stringify(AUTHKEY)}.encode())
manager.connect()
values = [${expressions.join(", ")}]
d = manager.dict()
for i, v in enumerate(values):
    d[i] = v
print(json.dumps([[repr(v), type(v).__name__, repr(d[i]), type(d[i]).__name__] for i, v in enumerate(values)]))`,
    JSON.stringify(address),
  );
  return JSON.parse(new TextDecoder().decode(out));
}

/** Our server and CPython's each hold `expressions` for a CPython client; both give them back. */
async function intsComeBack(expressions: string[]): Promise<void> {
  await using ours = await new SyncManager({
    authkey: new TextEncoder().encode(AUTHKEY),
    modules: [],
  }).start();
  await using theirs = await pythonServer("3.13.0", "unix", "pickle", "sync");
  const [fromOurs, fromTheirs] = [
    await storedAndRead(ours.address, expressions),
    await storedAndRead(theirs.address, expressions),
  ];
  for (const [i, [stored, type, read, readType]] of fromTheirs.entries()) {
    assert.deepStrictEqual([read, readType], [stored, type], `CPython's server: ${expressions[i]}`);
  }
  fromOurs.forEach((row, i) => {
    assert.deepStrictEqual(row, fromTheirs[i], `our server: ${expressions[i]}`);
  });
}

await pythonTest(
  ["3.13.0"],
  "ints past 2**53 a CPython client stores come back from our server as from CPython's own",
  () =>
    intsComeBack([
      "2**53 - 1",
      "-(2**53 - 1)",
      "2**53 + 1",
      "-(2**53) - 1",
      "2**63",
      "-(2**63)",
      "2**64 + 5",
      "-(2**64 + 5)",
      "2**200",
    ]),
);

await pythonTest(
  ["3.13.0"],
  "ints of exactly ±2**53 a CPython client stores come back from our server as ints",
  () => intsComeBack(["2**53", "-(2**53)"]),
);
