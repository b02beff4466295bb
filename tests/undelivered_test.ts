/**
 * No operation loses what it took (issue 20, point 3): a result that cannot
 * be delivered undoes its call, as a cancel does. A value the codec refuses
 * (a cycle, a lone surrogate, a value over the frame size; for CPython, what
 * pickle or XML-RPC cannot write), or a connection that closes before the
 * reply is written, gives back the item, entry, lock or permit the call
 * took, in its place; the caller is told what could not be sent and that
 * the call was undone. NaN is no such value: it comes back from every
 * standard type, to Deno and CPython clients alike, as from CPython's own
 * server.
 */
import assert from "node:assert/strict";
import {
  defaultAuthkey,
  proxyFromString,
  proxyToString,
  type Remote,
  RemoteError,
} from "../mod.ts";
import { Feeder, Holder, UndoManager, type UnsendableKind } from "./_fixtures/undo.ts";
import { firstLine, waitUntil, within } from "./_helpers.ts";
import { pythonTest, runPython } from "./_python.ts";

const modules = [new URL("./_fixtures/undo.ts", import.meta.url).href];
const AUTHKEY = "undelivered";
const authkey = new TextEncoder().encode(AUTHKEY);
const SERVER = new URL("./_fixtures/python_server.py", import.meta.url).pathname;

Deno.test("NaN comes back from every standard type and a @shared method to a Deno client", async () => {
  await using manager = await new UndoManager({ modules }).start();
  const nan = (value: unknown, what: string): void =>
    assert.ok(Number.isNaN(value), `${what}: ${String(value)}`);
  for (const joinable of [false, true]) {
    await using queue = joinable
      ? await manager.JoinableQueue<unknown>()
      : await manager.Queue<unknown>();
    await queue.put(NaN);
    await queue.put("after");
    nan(await queue.get({ timeout: 2000 }), "Queue.get");
    assert.equal(await queue.qsize(), 1, "the get delivered its item");
    assert.equal(await queue.get({ timeout: 2000 }), "after");
  }
  await using dict = await manager.dict<string, unknown>([["z", 1], ["n", NaN], ["m", NaN]]);
  nan(await dict.get("n"), "dict.get");
  nan((await dict.values())[1], "dict.values");
  nan(await dict.pop("n"), "dict.pop");
  const [key, value] = await dict.popitem();
  assert.equal(key, "m");
  nan(value, "dict.popitem");
  assert.deepStrictEqual(await dict.entries(), [["z", 1]]);
  await using list = await manager.list<unknown>([1, NaN, NaN]);
  nan(await list.get(1), "list.get");
  nan(await list.pop(), "list.pop");
  nan(await list.pop(1), "list.pop(1)");
  assert.deepStrictEqual(await list.copy(), [1]);
  await using cell = await manager.Value(NaN);
  nan(await cell.get(), "Value.get");
  await using array = await manager.Array(new Float64Array([NaN, 1]));
  nan(await array.get(0), "Array.get");
  await using namespace = await manager.Namespace({ x: NaN });
  nan(await namespace.get("x"), "Namespace.get");
  await using holder = await manager.create(Holder);
  nan(await holder.notANumber(), "a @shared method");
});

const KINDS: [UnsendableKind, RegExp][] = [
  ["cycle", /Cannot send a cycle/],
  ["surrogate", /Cannot send a string with a lone surrogate/],
  ["big", /Cannot send a value of \d+ bytes once encoded, over the limit of 65536 bytes/],
];

/** The message of a taking call whose result could not be sent: what it was, and undone. */
function undone(call: string, what: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof RemoteError, String(error));
    assert.match(error.message, new RegExp(`^Cannot send the result of ${call}: `));
    assert.match(error.message, what);
    assert.match(error.message, /the call was undone, as if cancelled: what it took is back/);
    return true;
  };
}

Deno.test("a result that cannot be sent is undone: the item, entry, lock or permit is back in place", async () => {
  await using manager = await new UndoManager({ modules, limits: { maxFrameSize: 1 << 16 } })
    .start();
  await using feeder = await manager.create(Feeder);
  for (const [kind, what] of KINDS) {
    const described = kind === "cycle"
      ? "<cycle>"
      : kind === "surrogate"
      ? "<surrogate>"
      : "<200000 chars>";
    for (const joinable of [false, true]) {
      await using queue = joinable
        ? await manager.JoinableQueue<unknown>()
        : await manager.Queue<unknown>();
      await queue.put("a");
      await feeder.put(queue, kind);
      await queue.put("b");
      assert.equal(await queue.get(), "a");
      const type = joinable ? "JoinableQueue" : "Queue";
      await assert.rejects(queue.get(), undone(`${type}\\.get\\(\\)`, what));
      assert.deepStrictEqual(await feeder.queued(queue), [described, '"b"'], `${type}, ${kind}`);
    }

    await using list = await manager.list<unknown>(["a"]);
    await feeder.append(list, kind);
    await list.append("b");
    await assert.rejects(list.pop(1), undone("list\\.pop\\(\\)", what));
    await list.pop();
    await assert.rejects(list.pop(), undone("list\\.pop\\(\\)", what));
    assert.deepStrictEqual(await feeder.listed(list), ['"a"', described], `list, ${kind}`);

    await using dict = await manager.dict<string, unknown>([["a", 1]]);
    await feeder.set(dict, "x", kind);
    await dict.set("b", 2);
    await assert.rejects(dict.pop("x"), undone("dict\\.pop\\(\\)", what));
    assert.deepStrictEqual(
      await feeder.entries(dict),
      [["a", "1"], ["x", described], ["b", "2"]],
      `dict.pop, ${kind}`,
    );
    await dict.delete("b");
    await assert.rejects(dict.popitem(), undone("dict\\.popitem\\(\\)", what));
    assert.deepStrictEqual(
      await feeder.entries(dict),
      [["a", "1"], ["x", described]],
      `dict.popitem, ${kind}`,
    );

    await using set = await manager.set<unknown>();
    await feeder.add(set, kind);
    await set.add("b");
    await assert.rejects(set.pop(), undone("set\\.pop\\(\\)", what));
    assert.deepStrictEqual(await feeder.members(set), [described, '"b"'], `set, ${kind}`);

    await using holder = await manager.create(Holder);
    await assert.rejects(holder.grab(kind), undone("Holder\\.grab\\(\\)", what));
    assert.equal(await holder.locked(), false, `the lock is free, ${kind}`);
    await assert.rejects(holder.permit(kind), undone("Holder\\.permit\\(\\)", what));
    assert.equal(await holder.permits(), 2, `the permit is counted again, ${kind}`);
  }
});

Deno.test("an item taken for a client that died before its reply was written comes back in place", async () => {
  await using manager = await new UndoManager({ modules, authkey }).start();
  await using holder = await manager.create(Holder);
  await holder.fill(["a", null, 7]);
  const dir = await Deno.makeTempDir({ prefix: "mpt-" });
  try {
    const script = `${dir}/client.ts`;
    await Deno.writeTextFile(
      script,
      `import { proxyFromString } from ${
        JSON.stringify(new URL("../mod.ts", import.meta.url).href)
      };
const [text, key] = JSON.parse(await new Response(Deno.stdin.readable).text());
const holder = await proxyFromString(text, { authkey: new TextEncoder().encode(key) });
holder._callmethod("takeLater", [60_000]);
setTimeout(() => console.log("called"), 300);
setInterval(() => {}, 1000);
`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", script],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(
      new TextEncoder().encode(JSON.stringify([await proxyToString(holder), AUTHKEY])),
    );
    await writer.close();
    const { line, rest } = await firstLine(child.stdout, "the client's first line");
    assert.equal(line, "called");
    assert.deepStrictEqual(await holder.contents(), [null, 7], "the item was taken");
    child.kill("SIGKILL");
    await child.status;
    await rest.cancel();
    assert.ok(
      await waitUntil(async () => (await holder.contents()).length === 3, 5000),
      "the item came back",
    );
    assert.deepStrictEqual(await holder.contents(), ["a", null, 7], "in its place");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("JoinableQueue: an item a dead client took comes back even while it waited in another get()", async () => {
  await using manager = await new UndoManager({ modules }).start();
  await using queue = await manager.JoinableQueue<unknown>();
  for (let round = 0; round < 20; round++) {
    for (const item of ["a", null, 7]) await queue.put(item);
    const other = await new UndoManager({ address: manager.address }).connect();
    const theirs = await proxyFromString<typeof queue>(await proxyToString(queue), {
      authkey: defaultAuthkey(),
      manager: other,
    });
    assert.equal(await theirs.get(), "a", "taken, never marked done");
    assert.equal(await theirs.get(), null);
    assert.equal(await theirs.get(), 7);
    const parked = theirs.get();
    parked.catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 20));
    await other.disconnect();
    assert.ok(await waitUntil(async () => (await queue.qsize()) === 3, 5000), `round ${round}`);
    const back = [];
    for (let i = 0; i < 3; i++) {
      back.push(await queue.get({ timeout: 1000 }));
      await queue.taskDone();
    }
    assert.deepStrictEqual(back, ["a", null, 7], `round ${round}: in their places`);
    await within(Promise.resolve(queue.join()), 2000, "join()");
  }
});

await pythonTest(
  ["3.13.0"],
  "an item taken for a CPython client that died before its reply was written comes back in place",
  async () => {
    await using manager = await new UndoManager({ modules, authkey }).start();
    type Shared = Remote<object> & {
      _callmethod(method: string, args?: unknown[]): Promise<unknown>;
    };
    await using holder = await manager.create("shared_holder") as unknown as Shared;
    await holder._callmethod("fill", [["a", null, 7]]);
    const child = new Deno.Command("python3", {
      args: [
        "-c",
        `import json, sys, threading
from multiprocessing.managers import BaseManager
class M(BaseManager):
    pass
M.register("shared_holder")
m = M(address=json.loads(sys.argv[1]), authkey=sys.argv[2].encode())
m.connect()
h = m.shared_holder()
threading.Timer(0.3, lambda: print("called", flush=True)).start()
h.takeLater(60000)
`,
        JSON.stringify(manager.address),
        AUTHKEY,
      ],
      env: { PYENV_VERSION: "3.13.0" },
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const { line, rest } = await firstLine(child.stdout, "the CPython client's first line");
    assert.equal(line, "called");
    assert.deepStrictEqual(await holder._callmethod("contents"), [null, 7], "the item was taken");
    child.kill("SIGKILL");
    await child.status;
    await rest.cancel();
    assert.ok(
      await waitUntil(
        async () => (await holder._callmethod("contents") as unknown[]).length === 3,
        5000,
      ),
      "the item came back",
    );
    assert.deepStrictEqual(await holder._callmethod("contents"), ["a", null, 7], "in its place");
  },
);

/** A CPython server of CPython's own SyncManager; stopped on dispose. */
async function cpythonServer(
  version: string,
  serializer: string,
  kind: "sync" | "docs",
): Promise<{ address: unknown } & AsyncDisposable> {
  const child = new Deno.Command("python3", {
    args: [SERVER, "unix", AUTHKEY, serializer, kind],
    env: { PYENV_VERSION: version },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const { line, rest } = await firstLine(child.stdout, "the CPython server's address");
  return {
    address: JSON.parse(line),
    async [Symbol.asyncDispose](): Promise<void> {
      await child.stdin.close().catch(() => {});
      await within(child.status, 10_000, "the CPython server's exit");
      await rest.cancel();
    },
  };
}

/** What CPython's own proxies get back for NaN from each standard type: `[type, repr]` each. */
const NAN_SCRIPT = `import json, sys
from multiprocessing.managers import SyncManager
address, serializer, authkey = json.loads(sys.stdin.read())
m = SyncManager(address=address, authkey=authkey.encode(), serializer=serializer)
m.connect()
nan = float("nan")
def show(v):
    return [type(v).__name__, repr(v)]
out = {}
for name in ("Queue", "JoinableQueue"):
    q = getattr(m, name)()
    q.put(nan)
    q.put("after")
    out[name + ".get"] = show(q.get(timeout=5))
    out[name + " after"] = [q.qsize(), q.get(timeout=5)]
d = m.dict()
d["n"] = nan
d["z"] = 1
out["d[k]"] = show(d["n"])
out["d.get"] = show(d.get("n"))
out["d.pop"] = show(d.pop("n"))
d["n"] = nan
out["d.popitem"] = show(d.popitem())
out["d after"] = repr(d.copy())
l = m.list([1, nan, nan])
out["l[i]"] = show(l[1])
out["l.pop"] = show(l.pop())
out["l after"] = repr(l._getvalue())
out["Value.value"] = show(m.Value("d", nan).value)
a = m.Array("d", [nan, 1.0])
out["Array[i]"] = show(a[0])
ns = m.Namespace()
ns.x = nan
out["Namespace.x"] = show(ns.x)
print(json.dumps(out))
`;

/** A @shared method returning NaN, to CPython: ours (Holder.notANumber), theirs (Store.get). */
const METHOD_SCRIPT = `import json, sys
from multiprocessing.managers import BaseManager
address, serializer, authkey, ours = json.loads(sys.stdin.read())
class M(BaseManager):
    pass
M.register("Holder")
M.register("Store")
m = M(address=address, authkey=authkey.encode(), serializer=serializer)
m.connect()
if ours:
    value = m.Holder().notANumber()
else:
    store = m.Store()
    store.put("n", float("nan"))
    value = store.get("n")
print(json.dumps([type(value).__name__, repr(value)]))
`;

async function python(version: string, script: string, input: unknown[]): Promise<unknown> {
  const output = await runPython(version, script, JSON.stringify(input));
  return JSON.parse(new TextDecoder().decode(output));
}

for (const version of ["3.13.0", "3.12.1"]) {
  for (const serializer of ["pickle", "xmlrpclib"]) {
    await pythonTest(
      [version],
      `CPython ${version} (${serializer}) gets NaN back from every standard type, as from CPython's own server`,
      async () => {
        await using ours = await new UndoManager({ modules, authkey }).start();
        await using theirs = await cpythonServer(version, serializer, "sync");
        const fromTheirs = await python(version, NAN_SCRIPT, [theirs.address, serializer, AUTHKEY]);
        const fromOurs = await python(version, NAN_SCRIPT, [ours.address, serializer, AUTHKEY]);
        const popitem = serializer === "pickle" ? ["tuple", "('n', nan)"] : ["list", "['n', nan]"];
        assert.deepStrictEqual(fromTheirs, {
          "Queue.get": ["float", "nan"],
          "Queue after": [1, "after"],
          "JoinableQueue.get": ["float", "nan"],
          "JoinableQueue after": [1, "after"],
          "d[k]": ["float", "nan"],
          "d.get": ["float", "nan"],
          "d.pop": ["float", "nan"],
          "d.popitem": popitem,
          "d after": "{'z': 1}",
          "l[i]": ["float", "nan"],
          "l.pop": ["float", "nan"],
          "l after": "[1, nan]",
          "Value.value": ["float", "nan"],
          "Array[i]": ["float", "nan"],
          "Namespace.x": ["float", "nan"],
        }, "CPython's own server");
        assert.deepStrictEqual(fromOurs, fromTheirs, "ours gives CPython the same");
        await using docs = await cpythonServer(version, serializer, "docs");
        assert.deepStrictEqual(
          await python(version, METHOD_SCRIPT, [ours.address, serializer, AUTHKEY, true]),
          await python(version, METHOD_SCRIPT, [docs.address, serializer, AUTHKEY, false]),
          "a user's method returning NaN",
        );
      },
    );
  }
}

/** CPython takes from the shared queue, list and dict what its serializer cannot carry. */
const TAKE_SCRIPT = `import json, sys
from multiprocessing.managers import BaseManager, RemoteError
address, serializer, authkey = json.loads(sys.stdin.read())
class M(BaseManager):
    pass
for name in ("shared_queue", "shared_list", "shared_dict"):
    M.register(name)
m = M(address=address, authkey=authkey.encode(), serializer=serializer)
m.connect()
q, l, d = m.shared_queue(), m.shared_list(), m.shared_dict()
def attempt(take):
    try:
        return ["returned", repr(take())]
    except RemoteError as error:
        return ["RemoteError", str(error)]
print(json.dumps({
    "queue.get": attempt(lambda: q.get()),
    "list.pop": attempt(lambda: l.pop()),
    "dict.pop": attempt(lambda: d.pop("x")),
    "dict.popitem": attempt(lambda: d.popitem()),
}))
`;

const REFUSED: Record<string, [unknown, RegExp][]> = {
  pickle: [
    [new Date("+010000-01-01T00:00:00Z"), /Cannot send a Date in the year 10000/],
    [new Float64Array([1.5, NaN]), /Cannot send a Float64Array instance/],
  ],
  xmlrpclib: [
    [2n ** 70n, /Cannot send an integer beyond 64 bits/],
    [new Map([[1, "one"]]), /Cannot send a number dict key/],
  ],
};

for (const version of ["3.13.0", "3.12.1"]) {
  for (const [serializer, values] of Object.entries(REFUSED)) {
    await pythonTest(
      [version],
      `CPython ${version} (${serializer}): a result its serializer cannot write is undone, in its place`,
      async () => {
        await using manager = await new UndoManager({ modules, authkey }).start();
        type Shared = Remote<object> & {
          _callmethod(method: string, args?: unknown[]): Promise<unknown>;
        };
        await using queue = await manager.create("shared_queue") as unknown as Shared;
        await using list = await manager.create("shared_list") as unknown as Shared;
        await using dict = await manager.create("shared_dict") as unknown as Shared;
        for (const [value, what] of values) {
          await queue._callmethod("put", [value]);
          await queue._callmethod("put", ["b"]);
          await list._callmethod("append", ["a"]);
          await list._callmethod("append", [value]);
          await dict._callmethod("set", ["a", 1]);
          await dict._callmethod("set", ["x", value]);
          const seen = await python(version, TAKE_SCRIPT, [manager.address, serializer, AUTHKEY]);
          for (const [call, [outcome, message]] of Object.entries(seen as [string, string][])) {
            assert.equal(outcome, "RemoteError", `${call}: ${message}`);
            assert.match(message, /Unserializable message/, call);
            assert.match(message, what, call);
            assert.match(message, /the call was undone, as if it had not run/, call);
          }
          const queued: unknown[] = [];
          while (!(await queue._callmethod("empty"))) {
            queued.push(await queue._callmethod("getNowait"));
          }
          assert.deepStrictEqual(queued, [value, "b"], "the queue's item is back in its place");
          assert.deepStrictEqual(await list._callmethod("copy"), ["a", value], "the list's");
          assert.deepStrictEqual(
            await dict._callmethod("entries"),
            [["a", 1], ["x", value]],
            "the dict's entry, in its place",
          );
          await list._callmethod("clear");
          await dict._callmethod("clear");
        }
      },
    );
  }
}
