/**
 * Python values keep their type through our server (issue 20): what a
 * CPython client stores in a dict, a list, a Queue, a Value, an Array or a
 * Namespace comes back to it as it comes back from CPython's own server,
 * type and value, in the same test: integral floats stay floats, tuples
 * tuples, naive datetimes naive with their microseconds, frozensets
 * frozen, and the stdlib types of docs/python.md (date, time, timedelta,
 * timezone, Decimal, Fraction, complex, deque, OrderedDict, Counter,
 * defaultdict, UUID, range) travel inertly. A Deno client reads them as
 * docs/python.md says and can send a wrapped one back unchanged; a type
 * outside the list is refused naming its global, unless `pickleGlobals`
 * adds it.
 */
import assert from "node:assert/strict";
import {
  BaseManager,
  type BaseProxy,
  type DictProxy,
  PyByteArray,
  PyDatetime,
  PyFloat,
  PyFrozenSet,
  PythonObject,
  SyncManager,
  tuple,
} from "../mod.ts";
import { PythonFacingManager } from "./_fixtures/python_shared.ts";
import { cpythonServer, pythonTest, runPython } from "./_python.ts";

const AUTHKEY = "abracadabra";
const PYTHON_SHARED = new URL("./_fixtures/python_shared.ts", import.meta.url).href;

/**
 * Runs `body` in a CPython 3.13 client of the server at `address`, with
 * `d` the dict our fixture shares as `get_dict`; returns what it prints
 * (JSON).
 */
async function withSharedDict(address: unknown, body: string, extra = ""): Promise<unknown> {
  const out = await runPython(
    "3.13.0",
    `import json, sys, datetime, decimal, fractions, collections, uuid, enum
from multiprocessing.managers import BaseManager, DictProxy
${extra}
class Client(BaseManager):
    pass
Client.register("get_dict", proxytype=DictProxy)
manager = Client(address=json.loads(sys.stdin.read()), authkey=${JSON.stringify(AUTHKEY)}.encode())
manager.connect()
d = manager.get_dict()
def attempt(f):
    try:
        v = f()
        return [type(v).__name__, repr(v)]
    except Exception as e:
        return [type(e).__name__, str(e)]
${body}`,
    JSON.stringify(address),
  );
  return JSON.parse(new TextDecoder().decode(out));
}

/** Every value of the table, and nested mixes of them, as Python expressions. */
const VALUES = [
  "None",
  "True",
  "False",
  "0",
  "-1",
  "2**53 - 1",
  "2**53",
  "-(2**53)",
  "2**64",
  "-(2**70)",
  "1.0",
  "2.0",
  "-0.0",
  "0.0",
  "1.5",
  "1e300",
  "2.0**53",
  "2.0**60",
  "float('inf')",
  "float('nan')",
  "''",
  "'é😀'",
  "b''",
  "b'\\x00\\xff'",
  "bytearray(b'ab')",
  "[]",
  "[1, 2.0]",
  "()",
  "(1,)",
  "(1, 2.0)",
  "('job', 1.0)",
  "{}",
  "{'a': 1.0}",
  "{'b': 1, '1': 2, '0': 3}",
  "{(1, 2): 'x'}",
  "{(0, 0): 'start', (0, 1): 'wall'}",
  "{1: 'one', 2.5: 'f', None: 'n', b'k': 'b', frozenset({1}): 'fs', -0.0: 'z'}",
  "set()",
  "{1, 2}",
  "frozenset()",
  "frozenset({1, 2.5, (2, 3.0)})",
  "range(5)",
  "range(1, 9, 3)",
  "complex(1, 2)",
  "complex(0, -1.5)",
  "datetime.datetime(2024, 1, 2, 3, 4, 5, 123456)",
  "datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc)",
  "datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone(datetime.timedelta(hours=2), 'X'))",
  "datetime.datetime(1, 1, 1)",
  "datetime.datetime(9999, 12, 31, 23, 59, 59, 999999)",
  "datetime.datetime(2024, 11, 3, 1, 30, fold=1)",
  "datetime.date(2024, 2, 29)",
  "datetime.time(1, 2, 3, 4)",
  "datetime.time(1, 2, tzinfo=datetime.timezone.utc)",
  "datetime.timedelta(days=-1, seconds=5, microseconds=7)",
  "datetime.timezone.utc",
  "datetime.timezone(datetime.timedelta(hours=-5), 'EST')",
  "decimal.Decimal('1.50')",
  "decimal.Decimal('-0')",
  "decimal.Decimal('NaN')",
  "decimal.Decimal('1E+3')",
  "fractions.Fraction(3, 4)",
  "fractions.Fraction(-7, 1)",
  "collections.deque([1, (2,)])",
  "collections.deque([1.0], maxlen=3)",
  "collections.OrderedDict(b=1, a=2.0)",
  "collections.Counter('abca')",
  "collections.defaultdict(list, {'a': [1]})",
  "collections.defaultdict(int)",
  "uuid.UUID(int=5)",
  "uuid.UUID('12345678-1234-5678-1234-567812345678')",
  "slice(1, 3)",
  // Nested mixes.
  "[(1.0, frozenset({2.0})), {'k': (datetime.datetime(2024, 5, 6, 7, 8, 9, 10), decimal.Decimal('0.1'))}]",
  "((1, 2), [3.0, (4,)], {'grid': {(0, 0): 'start'}})",
  "collections.deque([collections.OrderedDict(a=(1.0, range(2)))])",
  "{'when': [datetime.date(2024, 1, 1), datetime.timedelta(hours=1)], 'id': (uuid.UUID(int=9), 2.0)}",
  "{frozenset({(1, 2.0)}): [complex(1, 0), fractions.Fraction(1, 3), bytearray(b'x')]}",
];

/**
 * What a CPython `version` client reads back from the SyncManager server
 * at `address` after storing each value of `VALUES` through a dict, a
 * list, a Queue, a Value and a Namespace (and numbers through Arrays):
 * for each, `[repr, type tree]` as stored and as read.
 */
async function roundTrips(version: string, address: unknown): Promise<unknown> {
  const out = await runPython(
    version,
    `import json, sys, datetime, decimal, fractions, collections, uuid
from multiprocessing.managers import SyncManager
address = json.loads(sys.stdin.read())
address = (address["hostname"], address["port"]) if isinstance(address, dict) else address
manager = SyncManager(address=address, authkey=${JSON.stringify(AUTHKEY)}.encode())
manager.connect()

def shape(v):
    t = type(v).__module__ + "." + type(v).__qualname__
    if isinstance(v, (list, tuple, collections.deque)):
        return [t, [shape(x) for x in v]]
    if isinstance(v, (set, frozenset)):
        return [t, sorted((shape(x) for x in v), key=repr)]
    if isinstance(v, dict):
        return [t, [[shape(k), shape(x)] for k, x in v.items()]]
    if isinstance(v, (datetime.datetime, datetime.time)):
        return [t, repr(v), repr(v.tzinfo), getattr(v, "fold", None)]
    return [t, repr(v)]

def seen(v):
    return [repr(v), shape(v)]

values = [${VALUES.join(",\n  ")}]
d, lst, q, ns = manager.dict(), manager.list(), manager.Queue(), manager.Namespace()
out = {"stored": [seen(v) for v in values], "dict": [], "list": [], "queue": [], "value": [], "namespace": []}
for i, v in enumerate(values):
    d[i] = v
    out["dict"].append(seen(d[i]))
    lst.append(v)
    out["list"].append(seen(lst[i]))
    q.put(v)
    out["queue"].append(seen(q.get()))
    value = manager.Value("O", v)
    first = value.value
    value.value = v
    out["value"].append([seen(first), seen(value.value)])
    setattr(ns, "v%d" % i, v)
    out["namespace"].append(seen(getattr(ns, "v%d" % i)))
out["dict_copy"] = seen(d.copy())
out["dict_items"] = seen(d.items())
out["list_slice"] = seen(lst[:])
floats = manager.Array("d", [1.0, 2.5, -0.0, 3])
floats[1] = 4
ints = manager.Array("i", [1, 2, 3])
ints[0] = 7
out["array"] = [seen(floats[:]), seen(floats[0]), seen(floats[1]), seen(ints[:]), seen(ints[0])]
print(json.dumps(out))`,
    JSON.stringify(address),
  );
  return JSON.parse(new TextDecoder().decode(out));
}

for (
  const [version, legacyAuth] of [["3.13.0", false], ["3.12.1", false], ["3.11.7", true]] as const
) {
  await pythonTest(
    [version],
    `CPython ${version} values come back from our server as from CPython's, through dict, list, Queue, Value, Array and Namespace`,
    async () => {
      await using ours = await new SyncManager({
        authkey: new TextEncoder().encode(AUTHKEY),
        modules: [],
        legacyAuth,
      }).start();
      await using theirs = await cpythonServer(version, "unix", AUTHKEY, "pickle", "sync");
      const fromTheirs = await roundTrips(version, theirs.address) as Record<string, unknown[]>;
      const fromOurs = await roundTrips(version, ours.address) as Record<string, unknown[]>;
      // CPython's own server gives every value back as it was stored.
      for (const container of ["dict", "list", "queue", "namespace"]) {
        fromTheirs[container]!.forEach((read, i) =>
          assert.deepStrictEqual(
            read,
            fromTheirs.stored![i],
            `CPython's ${container}: ${VALUES[i]}`,
          )
        );
      }
      for (const [container, rows] of Object.entries(fromTheirs)) {
        if (!Array.isArray(rows) || container.includes("_")) {
          assert.deepStrictEqual(fromOurs[container], rows, `our server: ${container}`);
          continue;
        }
        rows.forEach((row, i) =>
          assert.deepStrictEqual(
            fromOurs[container]![i],
            row,
            `our server's ${container}: ${container === "array" ? i : VALUES[i]}`,
          )
        );
      }
    },
  );
}

await pythonTest(
  ["3.13.0"],
  "a Deno client reads CPython's values as docs/python.md says, and sends a wrapped one back unchanged",
  async () => {
    await using manager = await new PythonFacingManager({
      authkey: new TextEncoder().encode(AUTHKEY),
      modules: [PYTHON_SHARED],
    }).start();
    await withSharedDict(
      manager.address,
      `d.clear()
d["float"] = 2.0
d["tuple"] = (1, 2.0)
d["frozen"] = frozenset({1})
d["naive"] = datetime.datetime(2024, 1, 2, 3, 4, 5, 123456)
d["aware"] = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
d["decimal"] = decimal.Decimal("1.50")
d["bytearray"] = bytearray(b"ab")
d["deque"] = collections.deque([1, (2,)], maxlen=4)
d["grid"] = {(0, 0): "start"}
print("null")`,
    );
    const dict = await manager.create("get_dict") as DictProxy<unknown, unknown>;
    assert.equal(await dict.get("float"), 2, "an integral float is a number");
    assert.deepStrictEqual(await dict.get("tuple"), [1, 2], "a tuple is an array");
    assert.deepStrictEqual(await dict.get("frozen"), new Set([1]), "a frozenset is a Set");
    assert.deepStrictEqual(
      await dict.get("naive"),
      new Date("2024-01-02T03:04:05.123Z"),
      "a naive datetime is a Date of its fields as UTC",
    );
    assert.deepStrictEqual(await dict.get("aware"), new Date("2024-01-02T01:04:05Z"));
    assert.deepStrictEqual(await dict.get("bytearray"), Uint8Array.of(97, 98));
    assert.deepStrictEqual(
      await dict.get("grid"),
      new Map([[[0, 0], "start"]]),
      "a dict with tuple keys is a Map with array keys",
    );
    const decimal = await dict.get("decimal");
    assert.ok(decimal instanceof PythonObject, `a Decimal is a PythonObject: ${decimal}`);
    assert.equal(decimal.type, "decimal.Decimal");
    assert.deepStrictEqual([...decimal.args], ["1.50"]);
    assert.ok(Object.isFrozen(decimal), "read-only");
    const deque = await dict.get("deque") as PythonObject;
    assert.equal(deque.type, "collections.deque");
    assert.deepStrictEqual([...deque.items], [1, tuple([2])], "its parts keep Python's types");
    // Sent back unchanged, they are what Python stored; a tuple key from Deno is an array.
    await dict.set("decimal again", decimal);
    await dict.set("deque again", deque);
    await dict.set([1, 2], "array key");
    await dict.set("made here", new PythonObject("fractions", "Fraction", { args: [1, 3] }));
    await dict.set("evil", new PythonObject("os", "system", { args: ["echo owned"] }));
    await dict.set("typed here", [
      tuple([1, new PyFloat(2)]),
      new PyFloat(-0),
      new PyFrozenSet([1]),
      new PyByteArray([1]),
      PyDatetime.fromFields(2024, 1, 2, 3, 4, 5, 6),
    ]);
    const read = await withSharedDict(
      manager.address,
      `print(json.dumps([attempt(lambda: d[k]) for k in ["decimal again", "deque again", (1, 2), "made here", "evil", "float", "typed here"]] + [attempt(lambda: [k for k in d.keys() if not isinstance(k, str)][0])]))`,
    );
    const rows = read as string[][];
    const [evil] = rows.splice(4, 1);
    assert.deepStrictEqual(rows, [
      ["Decimal", "Decimal('1.50')"],
      ["deque", "deque([1, (2,)], maxlen=4)"],
      ["str", "'array key'"],
      ["Fraction", "Fraction(1, 3)"],
      ["float", "2.0"],
      [
        "list",
        "[(1, 2.0), -0.0, frozenset({1}), bytearray(b'\\x01'), datetime.datetime(2024, 1, 2, 3, 4, 5, 6)]",
      ],
      ["tuple", "(1, 2)"],
    ]);
    assert.equal(evil![0], "RemoteError");
    assert.match(
      evil![1]!,
      /PythonObject of os\.system \(not a type whose values may travel to Python/,
      "a wrapper naming a global outside the list is refused on its way to Python",
    );
    await dict[Symbol.asyncDispose]();
  },
);

await pythonTest(
  ["3.13.0"],
  "a type outside the list is refused naming its global; pickleGlobals carries it, and only it",
  async () => {
    const classes = `Point = collections.namedtuple("Point", "x y")
class Color(enum.Enum):
    RED = 1`;
    const body =
      `print(json.dumps([attempt(lambda: d.__setitem__("p", Point(1, 2.0))), attempt(lambda: d["p"]),
  attempt(lambda: d.__setitem__("c", [Color.RED])), attempt(lambda: d["c"]), attempt(lambda: d["c"][0] is Color.RED)]))`;
    {
      await using manager = await new PythonFacingManager({
        authkey: new TextEncoder().encode(AUTHKEY),
        modules: [PYTHON_SHARED],
      }).start();
      const [setPoint, getPoint, setColor] = await withSharedDict(
        manager.address,
        body,
        classes,
      ) as string[][];
      assert.equal(setPoint![0], "RemoteError");
      assert.match(
        setPoint![1]!,
        /names the global __main__\.Point, which is not allowed .*pickleGlobals/s,
      );
      assert.equal(getPoint![0], "KeyError", "nothing was stored");
      assert.match(setColor![1]!, /names the global __main__\.Color, which is not allowed/);
    }
    await using manager = await new PythonFacingManager({
      authkey: new TextEncoder().encode(AUTHKEY),
      modules: [PYTHON_SHARED],
      pickleGlobals: ["__main__.Point", "__main__.Color"],
    }).start();
    assert.deepStrictEqual(await withSharedDict(manager.address, body, classes), [
      ["NoneType", "None"],
      ["Point", "Point(x=1, y=2.0)"],
      ["NoneType", "None"],
      ["list", "[<Color.RED: 1>]"],
      ["bool", "True"],
    ]);
    assert.throws(
      () => new SyncManager({ pickleGlobals: ["os system"] }),
      { name: "TypeError", message: /pickleGlobals must name globals as "module\.name"/ },
    );
  },
);

await pythonTest(
  ["3.13.0"],
  "our client on a CPython server reads its values as from ours, and sends PyFloat, tuple() and PythonObject as Python types",
  async () => {
    await using server = await cpythonServer("3.13.0", "unix", AUTHKEY);
    await using manager = await new BaseManager({
      address: server.address,
      authkey: new TextEncoder().encode(AUTHKEY),
      serializer: "pickle",
    }).connect();
    const store = await manager.create("Store") as BaseProxy & {
      put(key: string, value: unknown): Promise<void>;
      get(key: string): Promise<unknown>;
      kinds(...args: unknown[]): Promise<string[]>;
    };
    const decimal = new PythonObject("decimal", "Decimal", { args: ["1.50"] });
    assert.deepStrictEqual(
      await store.kinds(
        new PyFloat(2),
        2,
        tuple([1, new PyFloat(2)]),
        [1],
        new PyFrozenSet([1]),
        PyDatetime.fromFields(2024, 1, 2, 3, 4, 5, 6),
        decimal,
      ),
      ["float", "int", "tuple", "list", "frozenset", "datetime", "Decimal"],
    );
    await store.put("v", [tuple([1, new PyFloat(2)]), decimal, new PyFrozenSet([1])]);
    const read = await store.get("v") as unknown[];
    assert.deepStrictEqual(read.slice(0, 1), [[1, 2]], "read as a Deno client reads ours");
    assert.deepStrictEqual(read[2], new Set([1]));
    assert.ok(read[1] instanceof PythonObject && read[1].type === "decimal.Decimal");
    await store.put("again", read[1]);
    assert.deepStrictEqual(await store.kinds(await store.get("again")), ["Decimal"]);
    await store[Symbol.asyncDispose]();
  },
);

await pythonTest(
  ["3.13.0"],
  "with serializer='xmlrpclib', floats stay floats through our server, as through CPython's",
  async () => {
    await using ours = await new SyncManager({
      authkey: new TextEncoder().encode(AUTHKEY),
      modules: [],
    }).start();
    await using theirs = await cpythonServer("3.13.0", "unix", AUTHKEY, "xmlrpclib", "sync");
    const values = [
      "2.0",
      "-0.0",
      "1.5",
      "[1.0, 2, 2.5]",
      "{'a': 1.0, 'b': 1}",
      "2**31 - 1",
      "2.0**60",
    ];
    const run = async (address: unknown): Promise<unknown> =>
      JSON.parse(
        new TextDecoder().decode(
          await runPython(
            "3.13.0",
            `import json, sys
from multiprocessing.managers import SyncManager
manager = SyncManager(address=json.loads(sys.stdin.read()), authkey=${
              JSON.stringify(AUTHKEY)
            }.encode(), serializer="xmlrpclib")
manager.connect()
d, q = manager.dict(), manager.Queue()
out = []
for i, v in enumerate([${values.join(", ")}]):
    d[str(i)] = v
    q.put(v)
    out.append([repr(d[str(i)]), repr(q.get())])
print(json.dumps(out))`,
            JSON.stringify(address),
          ),
        ),
      );
    const expected = await run(theirs.address);
    assert.deepStrictEqual(
      (expected as string[][]).map(([read]) => read),
      [
        "2.0",
        "-0.0",
        "1.5",
        "[1.0, 2, 2.5]",
        "{'a': 1.0, 'b': 1}",
        "2147483647",
        "1.152921504606847e+18",
      ],
    );
    assert.deepStrictEqual(await run(ours.address), expected);
  },
);

await pythonTest(
  ["3.13.0"],
  "str() of a CPython client's proxies prints the referent as CPython's own server does",
  async () => {
    await using ours = await new SyncManager({
      authkey: new TextEncoder().encode(AUTHKEY),
      modules: [],
    }).start();
    await using theirs = await cpythonServer("3.13.0", "unix", AUTHKEY, "pickle", "sync");
    const script = (address: unknown): string => `
import datetime, json
from multiprocessing.managers import SyncManager
m = SyncManager(address=${JSON.stringify(address)}, authkey=b'${AUTHKEY}')
m.connect()
d = m.dict()
d['grid'] = {(0, 0): 'start'}
d[2.0] = [1.5, -0.0, b"it's", None, True, (1,), frozenset()]
d['when'] = datetime.datetime(2024, 1, 2, 3, 4, 5, 6)
d["quote's"] = float('nan')
d['big'] = [2.0**60, 1e16, 9007199254740992.0, 0.00001, 1.5e-7, 123.25, ValueError('boom', 2)]
print(json.dumps([str(d), str(m.list([1, 'a', (2, 3)])), str(m.Array('d', [1, 2.5])), str(m.Namespace(x=1.0))]))
`;
    const read = async (address: unknown): Promise<string[]> =>
      JSON.parse(new TextDecoder().decode(await runPython("3.13.0", script(address))));
    assert.deepStrictEqual(await read(ours.address), await read(theirs.address));
  },
);
