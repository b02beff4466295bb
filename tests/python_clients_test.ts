/**
 * CPython clients of our server (issue 10, Deno hosts and Python calls): a
 * CPython `BaseManager.connect()` reaches a manager started here, over
 * Unix and TCP sockets, with CPython 3.12 and 3.13, while Deno clients use
 * the same server at the same time.
 */
import assert from "node:assert/strict";
import { SyncManager } from "../mod.ts";
import { TestManager } from "./_fixtures/counter.ts";
import { TreeManager } from "./_fixtures/tree.ts";
import { PythonFacingManager } from "./_fixtures/python_shared.ts";
import { COUNTER_MODULE, firstLine, within } from "./_helpers.ts";
import { pythonTest, runPython } from "./_python.ts";

const CLIENT = new URL("./_fixtures/python_client.py", import.meta.url).pathname;
const TREE_MODULE = new URL("./_fixtures/tree.ts", import.meta.url).href;
const AUTHKEY = "interop-secret";
const PYTHON_SHARED = new URL("./_fixtures/python_shared.ts", import.meta.url).href;

/** Runs the Python client's `scenario` against `address` in CPython `version`; returns what it saw. */
async function pythonClient(
  version: string,
  address: unknown,
  scenario: string,
): Promise<Record<string, unknown>> {
  const output = await within(
    new Deno.Command("python3", {
      args: [CLIENT, JSON.stringify(address), AUTHKEY, scenario],
      env: { PYENV_VERSION: version },
      stdout: "piped",
      stderr: "piped",
    }).output(),
    20_000,
    `the CPython ${version} client (${scenario})`,
  );
  const text = new TextDecoder().decode(output.stdout).trim();
  assert.ok(output.success, `${text}\n${new TextDecoder().decode(output.stderr)}`);
  return JSON.parse(text.split("\n").at(-1)!);
}

for (const version of ["3.13.0", "3.12.1"]) {
  for (const transport of ["unix", "tcp"] as const) {
    await pythonTest(
      [version],
      `CPython ${version} creates and calls a @shared class over ${transport}, beside a Deno client`,
      async () => {
        await using manager = await new TestManager({
          modules: [COUNTER_MODULE],
          authkey: new TextEncoder().encode(AUTHKEY),
          ...(transport === "tcp" ? { address: { hostname: "127.0.0.1", port: 0 } } : {}),
        }).start();
        const { Counter } = await import("./_fixtures/counter.ts");
        await using ours = await manager.create(Counter, 100);
        const seen = await pythonClient(version, manager.address, "counter");
        assert.equal(seen.created, 1);
        assert.deepStrictEqual(seen.increment, [6, 16, 16]);
        assert.deepStrictEqual(
          seen.keywords,
          [1, "two", { flag: true, n: null }],
          "keyword arguments arrive as a trailing options object",
        );
        assert.equal(
          seen.echo,
          "{'a': [1, 2.5, None, b'x', (1, 2)], 'n': 1180591620717411303424, 's': {3}}",
          "a value echoed by a @shared method comes back as it went, its tuple a tuple",
        );
        assert.deepStrictEqual(
          seen.error,
          ["ValueError", "it broke"],
          "a RangeError is a ValueError",
        );
        const notes = seen.notes as string[];
        assert.equal(notes.length, 1, "the remote stack travels as a note");
        assert.match(
          notes[0]!,
          /^Raised in the Deno manager server \(RangeError: with notes\):\n\s+at /,
        );
        assert.match(notes[0]!, /fail .*counter\.ts/, "it names the shared method's frame");
        assert.equal((seen.unserializable as string[])[0], "RemoteError");
        assert.match(
          (seen.unserializable as string[])[1]!,
          /Unserializable message: .*Counter instance/s,
        );
        assert.equal((seen.not_exposed as string[])[0], "RemoteError");
        assert.match(
          (seen.not_exposed as string[])[1]!,
          /AttributeError: Method '_secret' of 'Counter' is not exposed/,
        );
        assert.match(
          (seen.missing_method as string[])[1]!,
          /Method 'nothing' of 'Counter' is not exposed/,
        );
        assert.equal((seen.unknown_type as string[])[0], "RemoteError");
        assert.match((seen.unknown_type as string[])[1]!, /Nope/);
        assert.match(seen.str as string, /Counter object/);
        assert.equal(seen.second, 0);
        assert.equal(seen.released, 0, "every reference CPython held was released");
        assert.equal(await ours.increment(), 101, "the Deno client's object is untouched");
        assert.equal(await manager.numberOfObjects(), 1);
      },
    );
  }
}

await pythonTest(
  ["3.13.0"],
  "a methodToTypeid result reaches CPython as a working proxy (#PROXY)",
  async () => {
    await using manager = await new TreeManager({
      modules: [TREE_MODULE],
      authkey: new TextEncoder().encode(AUTHKEY),
    }).start();
    const seen = await pythonClient("3.13.0", manager.address, "tree");
    assert.deepStrictEqual(seen.child, ["AutoProxy[Node]", "top/a", 1]);
    assert.equal(seen.grandchild, "top/a/b");
    assert.deepStrictEqual(seen.missing, ["ValueError", "top has no child 'missing'"]);
    assert.equal(seen.released, 0);
    assert.equal(await manager.numberOfObjects(), 0);
  },
);

for (const version of ["3.13.0", "3.12.1"]) {
  await pythonTest(
    [version],
    `CPython ${version}'s own SyncManager proxies use our SyncManager's standard types`,
    async () => {
      await using manager = await new SyncManager({
        authkey: new TextEncoder().encode(AUTHKEY),
        modules: [],
      }).start();
      const seen = await pythonClient(version, manager.address, "sync");
      assert.deepStrictEqual(seen.dict, [
        3,
        [1, 2],
        true,
        false,
        "dflt",
        ["a", "b", "k"],
        [["a", 1], ["b", 2], ["k", [1, 2]]],
        ["KeyError", "'missing'"],
        1,
        { b: 2, k: [1, 2] },
      ]);
      assert.deepStrictEqual(seen.dict_iter, ["b", "k"], "iter(d) gives the keys");
      assert.deepStrictEqual(seen.dict_after_del, { k: [1, 2] });
      assert.deepStrictEqual(seen.list, [
        5,
        [1, 2],
        4,
        [30, 1, 2, 5, 4],
        true,
        2,
        1,
        ["IndexError", "list index out of range"],
        ["ValueError", "list.remove(x): x not in list"],
        [30, 1, 2, 5, 4],
      ]);
      assert.deepStrictEqual(seen.list_sorted, [5, 4, 2, 1]);
      assert.equal(seen.list_times, 8);
      assert.deepStrictEqual(seen.queue, [
        2,
        true,
        ["Full", "Queue is full"],
        "x",
        "y",
        ["Empty", "Queue is empty"],
        true,
        ["Empty", "Queue is empty"],
      ]);
      assert.equal(seen.queue_empty_is_queue_Empty, true, "our Empty is queue.Empty in Python");
      assert.deepStrictEqual(seen.lock, [true, false, false]);
      assert.equal(seen.lock_with, false, "`with lock:` holds it");
      assert.equal(seen.lock_after, true, "and lets go after");
      assert.deepStrictEqual(seen.rlock, [true, true]);
      assert.deepStrictEqual(seen.semaphore, [true, true, false]);
      assert.deepStrictEqual(seen.event, [false, false]);
      assert.deepStrictEqual(seen.event_set, [true, true]);
      assert.deepStrictEqual(seen.namespace, [
        1,
        "two",
        ["AttributeError", "'Namespace' object has no attribute 'missing'"],
      ]);
      assert.deepStrictEqual(seen.namespace_del, [
        "AttributeError",
        "'Namespace' object has no attribute 'x'",
      ]);
      assert.equal(seen.value, 8);
      assert.deepStrictEqual(seen.array, [3, 10, [2, 3], [10, 2, 3]]);
      assert.deepStrictEqual(seen.barrier, [1, 0, false, 0]);
      assert.deepStrictEqual(seen.condition, [false, null, null]);
      assert.equal(seen.released, 0, "every object CPython made was released");
    },
  );
}

await pythonTest(
  ["3.13.0"],
  "a killed CPython client's lock is released; the Deno client waiting for it gets it",
  async () => {
    await using manager = await new PythonFacingManager({
      modules: [PYTHON_SHARED],
      authkey: new TextEncoder().encode(AUTHKEY),
    }).start();
    const child = new Deno.Command("python3", {
      args: [CLIENT, JSON.stringify(manager.address), AUTHKEY, "sync_hold_lock"],
      env: { PYENV_VERSION: "3.13.0" },
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const { line, rest: lines } = await firstLine(child.stdout, "the CPython client's first line");
    assert.deepStrictEqual(JSON.parse(line), { acquired: true });
    await using lock = await manager.create("get_lock") as unknown as AsyncDisposable & {
      acquire(options: { timeout: number }): Promise<boolean>;
      release(): Promise<void>;
    };
    assert.equal(await lock.acquire({ timeout: 50 }), false, "CPython holds it");
    child.kill("SIGKILL");
    await child.status;
    await lines.cancel();
    assert.equal(await lock.acquire({ timeout: 5000 }), true, "released when CPython died");
    await lock.release();
  },
);

await pythonTest(
  ["3.11.7"],
  "CPython 3.11 (HMAC-MD5) is refused by default and served with legacyAuth: true",
  async () => {
    const authkey = new TextEncoder().encode(AUTHKEY);
    await using strict = await new TestManager({ modules: [COUNTER_MODULE], authkey }).start();
    const refused = await new Deno.Command("python3", {
      args: [CLIENT, JSON.stringify(strict.address), AUTHKEY, "counter"],
      env: { PYENV_VERSION: "3.11.7" },
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(refused.success, false);
    assert.match(new TextDecoder().decode(refused.stderr), /AuthenticationError/);
    await using legacy = await new TestManager({
      modules: [COUNTER_MODULE],
      authkey,
      legacyAuth: true,
    }).start();
    const seen = await pythonClient("3.11.7", legacy.address, "counter");
    assert.deepStrictEqual(seen.increment, [6, 16, 16]);
    assert.equal(seen.released, 0);
    // A Deno client still uses HMAC-SHA256 with the same server.
    const { Counter } = await import("./_fixtures/counter.ts");
    await using counter = await legacy.create(Counter, 1);
    assert.equal(await counter.increment(), 2);
  },
);

await pythonTest(
  ["3.13.0"],
  "a CPython client with serializer='xmlrpclib' creates and calls objects on our server",
  async () => {
    await using manager = await new TestManager({
      modules: [COUNTER_MODULE],
      authkey: new TextEncoder().encode(AUTHKEY),
    }).start();
    const seen = await pythonClient("3.13.0", manager.address, "xmlrpc");
    assert.deepStrictEqual(seen.increment, [6, 16, 16]);
    assert.deepStrictEqual(seen.keywords, [1, "two", { flag: true }]);
    assert.deepStrictEqual(seen.echo, {
      a: [1, 2.5, null, true, "é<&>"],
      t: [1, 2], // tuples travel as lists, as in CPython
    });
    assert.equal(seen.big, 2 ** 31, "beyond XML-RPC's int: sent as <i8>, which CPython reads");
    assert.equal(seen.bytes, "00ff");
    // CPython's own server would send the exception as {} and its client would fail to raise it.
    assert.equal((seen.error as string[])[0], "RemoteError");
    assert.match((seen.error as string[])[1]!, /RangeError: it broke/);
    assert.equal(seen.released, 0);
  },
);

await pythonTest(
  ["3.13.0"],
  "a CPython client's keyword arguments bind to a @shared class's parameters by name",
  async () => {
    await using manager = await new TestManager({
      modules: [COUNTER_MODULE],
      address: { hostname: "127.0.0.1", port: 0 },
      authkey: new TextEncoder().encode(AUTHKEY),
    }).start();
    const { port } = manager.address as { port: number };
    const output = await runPython(
      "3.13.0",
      `
from multiprocessing.managers import BaseManager, RemoteError
class M(BaseManager): pass
M.register('Counter')
m = M(address=('127.0.0.1', ${port}), authkey=b'${AUTHKEY}')
m.connect()
c = m.Counter(start=7)
seen = [c.get(), c.increment(by=5), c.argumentsOf(1, flag=True)]
for call in (lambda: c.increment(wrong=1), lambda: m.Counter(1, start=2)):
    try:
        call()
        seen.append('no error')
    except TypeError as error:
        seen.append(str(error))
    except RemoteError as error:  # create() fails as in CPython's own server: a traceback
        seen.append('RemoteError: ' + str(error).strip().splitlines()[-2])
print(seen)
`,
    );
    assert.equal(
      new TextDecoder().decode(output).trim(),
      String
        .raw`[7, 12, [1, {'flag': True}], "Counter.increment() got an unexpected keyword argument 'wrong'", "RemoteError: TypeError: Counter() got multiple values for argument 'start'"]`,
    );
  },
);
