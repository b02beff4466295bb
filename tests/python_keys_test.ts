/**
 * Keys compare as Python compares them, in the shared dict and set, for
 * every client (issue 20): `1 == 1.0 == True`, tuples (Deno arrays) by
 * value, bytes, frozensets (Deno `Set`s), datetimes, None and nested
 * mixes; an unhashable key is refused when it is written, with Python's
 * `TypeError: unhashable type`, and never stored; dict order, and the key
 * object kept when an equal key is set again, are CPython's. The same
 * CPython script runs against our server and CPython's own in one test.
 */
import assert from "node:assert/strict";
import {
  type DictProxy,
  PyByteArray,
  PyFloat,
  PythonObject,
  type SetProxy,
  SyncManager,
} from "../mod.ts";
import { PythonFacingManager } from "./_fixtures/python_shared.ts";
import { cpythonServer, pythonTest, runPython } from "./_python.ts";

const AUTHKEY = "abracadabra";
const PYTHON_SHARED = new URL("./_fixtures/python_shared.ts", import.meta.url).href;

/** What happens, step by step, to a dict of the SyncManager server at `address` (CPython `version`). */
async function dictSteps(version: string, address: unknown): Promise<string[][]> {
  const out = await runPython(
    version,
    `import json, sys, datetime, decimal, fractions, collections, uuid
from multiprocessing.managers import SyncManager
manager = SyncManager(address=json.loads(sys.stdin.read()), authkey=${
      JSON.stringify(AUTHKEY)
    }.encode())
manager.connect()
d = manager.dict()
log = []
def step(label, f):
    try:
        log.append([label, "ok", repr(f())])
    except Exception as e:
        log.append([label, type(e).__name__, str(e)])
def put(k, v):
    d[k] = v
utc = datetime.timezone.utc
step("set (1, 2)", lambda: put((1, 2), "x"))
step("get (1, 2)", lambda: d[(1, 2)])
step("set (1, 2) again", lambda: put((1, 2), "y"))
step("len", lambda: len(d))
step("copy", lambda: d.copy())
step("set 1", lambda: put(1, "int"))
step("set True", lambda: put(True, "bool"))
step("set 1.0", lambda: put(1.0, "float"))
step("keys after 1, True, 1.0", lambda: d.keys())
step("get Decimal('1.0')", lambda: d[decimal.Decimal("1.0")])
step("get Fraction(1)", lambda: d[fractions.Fraction(1)])
step("get complex(1, 0)", lambda: d[complex(1, 0)])
step("set 0.5", lambda: put(0.5, "half"))
step("get Fraction(1, 2)", lambda: d[fractions.Fraction(1, 2)])
step("get Decimal('0.50')", lambda: d[decimal.Decimal("0.50")])
step("get Decimal('0.1') (not 0.1)", lambda: d[decimal.Decimal("0.1")])
step("set 2.0**60", lambda: put(2.0**60, "big"))
step("get 2**60", lambda: d[2**60])
step("set -0.0", lambda: put(-0.0, "negative zero"))
step("get 0", lambda: d[0])
step("get False", lambda: d[False])
step("set b'k'", lambda: put(b"k", "bytes"))
step("get b'k'", lambda: d[b"k"])
step("get 'k'", lambda: d["k"])
step("set frozenset({1, 2})", lambda: put(frozenset({1, 2}), "frozen"))
step("get frozenset({2, 1})", lambda: d[frozenset({2, 1})])
step("get frozenset({2.0, True})", lambda: d[frozenset({2.0, True})])
step("set naive datetime", lambda: put(datetime.datetime(2024, 1, 2, 3, 4, 5, 6), "naive"))
step("get naive datetime", lambda: d[datetime.datetime(2024, 1, 2, 3, 4, 5, 6)])
step("get aware at the same fields", lambda: d[datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=utc)])
step("set aware datetime", lambda: put(datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=utc), "aware"))
step("get the same instant at +02:00", lambda: d[datetime.datetime(2024, 1, 2, 5, 4, 5, 6, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))])
step("set date", lambda: put(datetime.date(2024, 2, 29), "date"))
step("get date", lambda: d[datetime.date(2024, 2, 29)])
step("set timedelta(hours=1)", lambda: put(datetime.timedelta(hours=1), "hour"))
step("get timedelta(seconds=3600)", lambda: d[datetime.timedelta(seconds=3600)])
step("set uuid", lambda: put(uuid.UUID(int=5), "uuid"))
step("get uuid", lambda: d[uuid.UUID("00000000-0000-0000-0000-000000000005")])
step("set None", lambda: put(None, "none"))
step("get None", lambda: d[None])
step("set nested", lambda: put((1, (2.0, frozenset({b"x"}), None)), "deep"))
step("get nested", lambda: d[(True, (2, frozenset({b"x"}), None))])
step("set grid", lambda: put("grid", {(0, 0): "start", (0, 1): 2.0}))
step("get grid", lambda: d["grid"])
nan = float("nan")
step("set nan", lambda: put(nan, "nan"))
step("get nan (another object)", lambda: d[nan])
step("set list", lambda: put([1, 2], "x"))
step("set dict", lambda: put({"a": 1}, "x"))
step("set set", lambda: put({1}, "x"))
step("set bytearray", lambda: put(bytearray(b"x"), "x"))
step("set tuple holding a list", lambda: put((1, [2]), "x"))
step("set deque", lambda: put(collections.deque(), "x"))
step("get list", lambda: d[[1]])
step("in list", lambda: [1] in d)
step("get() list", lambda: d.get([1]))
step("pop list", lambda: d.pop([1]))
step("setdefault list", lambda: d.setdefault([1]))
step("del list", lambda: d.__delitem__([1]))
step("update with a list key", lambda: d.update([([1], 2)]))
step("in (1, 2)", lambda: (1, 2) in d)
step("get() (1.0, 2.0)", lambda: d.get((1.0, 2.0)))
step("pop (1, 2)", lambda: d.pop((1, 2)))
step("setdefault (3, 4)", lambda: d.setdefault((3, 4), "set by default"))
step("setdefault (3.0, 4)", lambda: d.setdefault((3.0, 4), "not used"))
step("update", lambda: d.update({(5, 6): "u", 5.0: "five"}))
step("del (5, 6)", lambda: d.__delitem__((5, 6)))
step("len", lambda: len(d))
step("items", lambda: d.items())
step("popitem", lambda: d.popitem())
step("final", lambda: d.copy())
print(json.dumps(log))`,
    JSON.stringify(address),
  );
  return JSON.parse(new TextDecoder().decode(out));
}

for (const version of ["3.13.0", "3.12.1"]) {
  await pythonTest(
    [version],
    `CPython ${version}: a dict's keys compare as on CPython's server, unhashable ones refused, order and first keys kept`,
    async () => {
      await using ours = await new SyncManager({
        authkey: new TextEncoder().encode(AUTHKEY),
        modules: [],
      }).start();
      await using theirs = await cpythonServer(version, "unix", AUTHKEY, "pickle", "sync");
      const expected = await dictSteps(version, theirs.address);
      const got = await dictSteps(version, ours.address);
      // Spot checks of what CPython does, so that the comparison compares something.
      const of = (label: string) => expected.find(([l]) => l === label);
      assert.deepStrictEqual(of("get (1, 2)"), ["get (1, 2)", "ok", "'x'"]);
      assert.deepStrictEqual(of("keys after 1, True, 1.0")?.[2], "[(1, 2), 1]");
      assert.deepStrictEqual(of("set list"), [
        "set list",
        "TypeError",
        "unhashable type: 'list'",
      ]);
      assert.deepStrictEqual(of("get nan (another object)")?.[1], "KeyError");
      got.forEach((row, i) => assert.deepStrictEqual(row, expected[i], `step ${row[0]}`));
      assert.equal(got.length, expected.length);
    },
  );
}

await pythonTest(
  ["3.13.0"],
  "CPython 3.13: a set's members compare as in a Python set, unhashable ones refused",
  async () => {
    await using ours = await new SyncManager({
      authkey: new TextEncoder().encode(AUTHKEY),
      modules: [],
    }).start();
    const out = await runPython(
      "3.13.0",
      `import json, sys, datetime, decimal
from multiprocessing.managers import SyncManager
class Manager(SyncManager):
    pass
Manager.register("set")
manager = Manager(address=json.loads(sys.stdin.read()), authkey=${JSON.stringify(AUTHKEY)}.encode())
manager.connect()
shared, local = manager.set(), set()
def both(label, name, *args):
    row = [label]
    for target, call in ((shared, lambda: getattr(shared, name)(*args)), (local, lambda: getattr(local, name)(*args))):
        try:
            row.append(repr(call()))
        except Exception as e:
            row.append(type(e).__name__ + ": " + str(e))
    return row
rows = [
    both("add (1, 2)", "add", (1, 2)),
    both("add (1.0, 2.0)", "add", (1.0, 2.0)),
    both("add True", "add", True),
    both("add 1", "add", 1),
    both("add b'x'", "add", b"x"),
    both("add frozenset", "add", frozenset({1, 2})),
    both("add datetime", "add", datetime.datetime(2024, 1, 1)),
    both("contains (1, 2.0)", "__contains__", (1, 2.0)),
    both("contains 1.0", "__contains__", 1.0),
    both("contains Decimal(1)", "__contains__", decimal.Decimal(1)),
    both("contains frozenset({2, 1})", "__contains__", frozenset({2, 1})),
    both("contains datetime", "__contains__", datetime.datetime(2024, 1, 1)),
    both("add list", "add", [1]),
    both("add set", "add", {1}),
    both("contains list", "__contains__", [1]),
    both("discard list", "discard", [1]),
    both("remove (1, 2)", "remove", (1, 2)),
    both("remove (1, 2) again", "remove", (1, 2)),
    both("len", "__len__"),
]
print(json.dumps(rows))`,
      JSON.stringify(ours.address),
    );
    const rows: string[][] = JSON.parse(new TextDecoder().decode(out));
    for (const [label, shared, local] of rows) assert.equal(shared, local, label);
  },
);

Deno.test("a Deno client's keys compare as Python's: arrays and Sets by value, 1 and true as one; plain objects refused", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  await using dict = await manager.dict<unknown, string>();
  await dict.set([1, 2], "array");
  assert.equal(await dict.get([1, 2]), "array", "an array key is found by value");
  await dict.set([1, 2], "again");
  assert.equal(await dict.size(), 1, "setting an equal key twice makes one entry");
  await dict.set(1, "one");
  await dict.set(true, "true");
  assert.deepStrictEqual(await dict.keys(), [[1, 2], 1], "1 and true are one key; 1 stays");
  assert.equal(await dict.get(1), "true");
  await dict.set(Uint8Array.of(1, 2), "bytes");
  assert.equal(await dict.get(Uint8Array.of(1, 2)), "bytes", "bytes by content");
  await dict.set(new Set([1, 2]), "set");
  assert.equal(
    await dict.get(new Set([2, 1])),
    "set",
    "a Set is a frozenset: order does not matter",
  );
  await dict.set(new Date("2024-01-02T03:04:05Z"), "date");
  assert.equal(await dict.get(new Date("2024-01-02T03:04:05Z")), "date", "a Date by its instant");
  await dict.set(null, "null");
  assert.equal(await dict.get(undefined), "null", "undefined is None, as null is");
  await dict.set([1, [2, new Set(["a"]), null]], "nested");
  assert.equal(await dict.get([true, [2, new Set(["a"]), undefined]]), "nested");
  await dict.set(-0, "zero");
  assert.equal(await dict.get(0), "zero");
  await dict.set(2 ** 60, "big");
  assert.equal(await dict.get(2n ** 60n), "big", "an integral number equals its bigint");
  await dict.set(NaN, "nan");
  assert.equal(await dict.has(NaN), false, "a NaN is never found again, as in Python");
  const before = await dict.size();
  const unhashable = [
    { a: 1 },
    new Map([[1, 2]]),
    [1, { a: 1 }],
    new Set([{}]),
    new PyByteArray([1]),
    new PythonObject("collections", "deque", { items: [1] }),
  ];
  for (const key of unhashable) {
    await assert.rejects(dict.set(key, "x"), {
      name: "TypeError",
      message:
        /unhashable type: '(dict|bytearray|collections\.deque)' \(a (plain object|Map|PyByteArray|PythonObject of collections\.deque) cannot be a dict key or set member/,
    });
    await assert.rejects(dict.get(key), { name: "TypeError" });
  }
  assert.equal(await dict.size(), before, "an unhashable key is never stored");
  assert.equal(await dict.delete([1, 2]), true);
  assert.equal(await dict.has([1, 2]), false);

  await using set = await manager.set<unknown>();
  await set.add([1, 2]);
  await set.add([1, 2]);
  await set.add(1);
  await set.add(true);
  assert.deepStrictEqual(await set.values(), [[1, 2], 1]);
  assert.equal(await set.has([1, 2]), true);
  await assert.rejects(set.add({}), { name: "TypeError", message: /unhashable type: 'dict'/ });

  await using list = await manager.list<unknown>([1, [2, 3], "x"]);
  assert.equal(await list.indexOf(true), 0, "a list's equality is Python's too");
  assert.equal(await list.count([2, 3]), 1);
});

await pythonTest(
  ["3.13.0"],
  "Python and Deno clients find each other's keys: a tuple is an array, a frozenset a Set, 1.0 is 1",
  async () => {
    await using manager = await new PythonFacingManager({
      authkey: new TextEncoder().encode(AUTHKEY),
      modules: [PYTHON_SHARED],
    }).start();
    const python = async (body: string): Promise<unknown> =>
      JSON.parse(
        new TextDecoder().decode(
          await runPython(
            "3.13.0",
            `import json, sys, datetime
from multiprocessing.managers import BaseManager, DictProxy
class Client(BaseManager):
    pass
Client.register("get_dict", proxytype=DictProxy)
manager = Client(address=json.loads(sys.stdin.read()), authkey=${JSON.stringify(AUTHKEY)}.encode())
manager.connect()
d = manager.get_dict()
${body}`,
            JSON.stringify(manager.address),
          ),
        ),
      );
    await python(`d.clear()
d[(1, 2)] = "python tuple"
d[1.0] = "python float"
d[frozenset({"a"})] = "python frozenset"
d[b"k"] = "python bytes"
d[datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc)] = "python datetime"
print("null")`);
    const dict = await manager.create("get_dict") as DictProxy<unknown, string>;
    assert.equal(await dict.get([1, 2]), "python tuple");
    assert.equal(await dict.get(1), "python float");
    assert.equal(await dict.get(true), "python float");
    assert.equal(await dict.get(new Set(["a"])), "python frozenset");
    assert.equal(await dict.get(new TextEncoder().encode("k")), "python bytes");
    assert.equal(await dict.get(new Date("2024-01-02T00:00:00Z")), "python datetime");
    assert.deepStrictEqual((await dict.keys())[0], [1, 2], "a Python tuple key is an array here");
    await dict.set([3, [4]], "deno array");
    await dict.set(new Set([5]), "deno set");
    await dict.set(2, "deno int");
    await dict.set("a float", new PyFloat(2) as unknown as string);
    assert.deepStrictEqual(
      await python(
        `print(json.dumps([d[(3, (4,))], d[frozenset({5})], d[2.0], repr(list(d.keys())[-4:-1]), repr(d["a float"])]))`,
      ),
      ["deno array", "deno set", "deno int", "[(3, (4,)), frozenset({5}), 2]", "2.0"],
      "a Deno array key is a tuple for Python, nested too, and a Set a frozenset",
    );
    await dict[Symbol.asyncDispose]();
    await using set = await manager.create("get_set") as SetProxy<unknown>;
    await set.add([1, 2]);
    assert.equal(await set.has([1, 2]), true);
  },
);
