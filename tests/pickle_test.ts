/**
 * The pickle reader and writer against the real CPython: what CPython
 * pickles (protocols 2 to 5) reads as the value table says, what we write
 * CPython loads as the same value, random values survive the round trip
 * CPython → us → CPython, and what must not be read (a global outside the
 * allowlist, a cycle, a pickle over a limit, a broken one) is refused with
 * an error that names it, by the reader and by a live server.
 */
import assert from "node:assert/strict";
import { PickleError, readPickle } from "../src/python/pickle_reader.ts";
import { writePickle } from "../src/python/pickle_writer.ts";
import { PySlice } from "../src/python/python_values.ts";
import {
  PyByteArray,
  PyDatetime,
  PyFloat,
  PyFrozenSet,
  PythonObject,
  tuple,
} from "../src/wire/python_data.ts";
import { Counter, TestManager } from "./_fixtures/counter.ts";
import { COUNTER_MODULE } from "./_helpers.ts";
import { pythonTest, runPython } from "./_python.ts";

const LIMITS = { maxDepth: 64, maxLength: 100_000 };

/** Runs `code` in CPython 3.13 with `stdin` as its input; returns its stdout. */
function python(code: string, stdin: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
  return runPython("3.13.0", code, stdin);
}

/** CPython's pickles of `expressions` at `protocol`, each as bytes. */
async function pickled(expressions: string[], protocol: number): Promise<Uint8Array[]> {
  const out = await python(
    `import pickle, sys, queue, threading, collections, json, datetime, decimal, fractions, uuid
values = [${expressions.join(", ")}]
print(json.dumps([pickle.dumps(v, protocol=${protocol}).hex() for v in values]))`,
  );
  const hex: string[] = JSON.parse(new TextDecoder().decode(out));
  return hex.map((h) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16)));
}

const TABLE: [string, unknown][] = [
  ["None", null],
  ["True", true],
  ["False", false],
  ["0", 0],
  ["255", 255],
  ["65535", 65535],
  ["-1", -1],
  ["2**31", 2 ** 31],
  ["-(2**31) - 5", -(2 ** 31) - 5],
  ["2**53 - 1", 2 ** 53 - 1],
  ["2**53", 2n ** 53n],
  ["-(2**53)", -(2n ** 53n)],
  ["2**64 + 1", 2n ** 64n + 1n],
  ["-(2**70)", -(2n ** 70n)],
  ["1.5", 1.5],
  ["2.0", new PyFloat(2)],
  ["-0.0", new PyFloat(-0)],
  ["2.0**53", 2 ** 53],
  ["float('inf')", Infinity],
  ["''", ""],
  ["'héllo 😀'", "héllo 😀"],
  ["'x' * 300", "x".repeat(300)],
  ["b'\\x00\\xff'", Uint8Array.of(0, 255)],
  ["bytearray(b'ab')", new PyByteArray([97, 98])],
  ["[1, [2, 'three']]", [1, [2, "three"]]],
  ["(1, 2, 3, 4)", tuple([1, 2, 3, 4])],
  ["(1,)", tuple([1])],
  ["()", tuple([])],
  ["[(1, 2.0)]", [tuple([1, new PyFloat(2)])]],
  ["{'a': 1, 'b': [True]}", { a: 1, b: [true] }],
  ["{}", {}],
  ["{1: 'one', 'two': 2}", new Map<unknown, unknown>([[1, "one"], ["two", 2]])],
  ["{'b': 1, '1': 2}", new Map<unknown, unknown>([["b", 1], ["1", 2]])],
  ["{(0, 0): 'start'}", new Map<unknown, unknown>([[tuple([0, 0]), "start"]])],
  [
    "collections.OrderedDict([('z', 1), ('a', 2)])",
    new PythonObject("collections", "OrderedDict", { entries: [["z", 1], ["a", 2]] }),
  ],
  ["range(3)", new PythonObject("builtins", "range", { args: [0, 3, 1] })],
  [
    "complex(1, 2)",
    new PythonObject("builtins", "complex", { args: [new PyFloat(1), new PyFloat(2)] }),
  ],
  ["decimal.Decimal('1.50')", new PythonObject("decimal", "Decimal", { args: ["1.50"] })],
  ["fractions.Fraction(3, 4)", new PythonObject("fractions", "Fraction", { args: [3, 4] })],
  [
    "uuid.UUID(int=5)",
    new PythonObject("uuid", "UUID", { form: "new", state: { int: 5 } }),
  ],
  [
    "collections.defaultdict(list, {'a': [1]})",
    new PythonObject("collections", "defaultdict", {
      args: [new PythonObject("builtins", "list", { form: "ref" })],
      entries: [["a", [1]]],
    }),
  ],
  ["{1, 2}", new Set([1, 2])],
  ["frozenset({'a'})", new PyFrozenSet(["a"])],
  ["slice(1, 3)", new PySlice(1, 3, null)],
  [
    "datetime.datetime(2024, 1, 2, 3, 4, 5, 6001)",
    PyDatetime.fromFields(2024, 1, 2, 3, 4, 5, 6001),
  ],
  [
    "datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=-5)))",
    new PyDatetime(
      PyDatetime.fromFields(2024, 1, 2, 3, 4, 5).state,
      new PythonObject("datetime", "timezone", {
        args: [new PythonObject("datetime", "timedelta", { args: [-1, 68400, 0] })],
      }),
    ),
  ],
  ["[x := [1], x]", [[1], [1]]],
];

for (const protocol of [2, 3, 4, 5]) {
  await pythonTest(
    ["3.13.0"],
    `CPython's pickles (protocol ${protocol}) read as the value table says`,
    async () => {
      const pickles = await pickled(TABLE.map(([expression]) => expression), protocol);
      pickles.forEach((bytes, i) => {
        const [expression, expected] = TABLE[i]!;
        assert.deepStrictEqual(readPickle(bytes, LIMITS), expected, expression);
      });
    },
  );
}

await pythonTest(
  ["3.13.0"],
  "exceptions read as Errors named as in Python, with their message",
  async () => {
    const pickles = await pickled(
      ["KeyError('k')", "ValueError('bad', 2)", "queue.Empty()", "threading.BrokenBarrierError()"],
      4,
    );
    const [key, value, empty, broken] = pickles.map((p) => readPickle(p, LIMITS) as Error);
    assert.equal(key!.name, "KeyError");
    assert.equal(key!.message, "k");
    assert.equal(value!.name, "ValueError");
    assert.equal(value!.message, "('bad', 2)");
    assert.equal(empty!.name, "Empty");
    assert.equal(broken!.name, "BrokenBarrierError");
  },
);

await pythonTest(["3.13.0"], "what we write, CPython loads as the same value", async () => {
  const values: [unknown, string][] = [
    [null, "None"],
    [undefined, "None"],
    [true, "True"],
    [7, "7"],
    [-70000, "-70000"],
    [2 ** 40, "1099511627776"],
    [2n ** 100n, "1267650600228229401496703205376"],
    [-(2n ** 100n), "-1267650600228229401496703205376"],
    [0.25, "0.25"],
    [-0, "-0.0"],
    [new PyFloat(2), "2.0"],
    [new Map<unknown, unknown>([[[1, 2], "x"]]), "{(1, 2): 'x'}"],
    [new Set([[1, [2]]]), "{(1, (2,))}"],
    [new Set([new Set([3])]), "{frozenset({3})}"],
    [new PyFrozenSet([1]), "frozenset({1})"],
    [new PyByteArray([1]), "bytearray(b'\\x01')"],
    [PyDatetime.fromFields(2024, 1, 2, 3, 4, 5, 6), "datetime.datetime(2024, 1, 2, 3, 4, 5, 6)"],
    [new PythonObject("decimal", "Decimal", { args: ["1.5"] }), "Decimal('1.5')"],
    ["é😀", "'é😀'"],
    [Uint8Array.of(1, 2), "b'\\x01\\x02'"],
    [[1, "a", [null]], "[1, 'a', [None]]"],
    [tuple([1, 2]), "(1, 2)"],
    [tuple([1, 2, 3, 4]), "(1, 2, 3, 4)"],
    [{ a: 1 }, "{'a': 1}"],
    [new Map<unknown, unknown>([[1, "x"]]), "{1: 'x'}"],
    [new Set(["s"]), "{'s'}"],
    [new RangeError("too big"), "ValueError('too big')"],
    [Object.assign(new Error("gone"), { name: "KeyError" }), "KeyError('gone')"],
    [Object.assign(new Error("e"), { name: "Empty" }), "Empty('e')"],
    [new Error("plain"), "Exception('plain')"],
    [
      new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)),
      "datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)",
    ],
  ];
  const payload = JSON.stringify(values.map(([value]) => [...writePickle(value)]));
  const out = await python(
    `import pickle, sys, json
for raw in json.loads(sys.stdin.read()):
    print(repr(pickle.loads(bytes(raw))))`,
    new TextEncoder().encode(payload),
  );
  const lines = new TextDecoder().decode(out).trim().split("\n");
  assert.deepStrictEqual(lines, values.map(([, repr]) => repr));
});

await pythonTest(
  ["3.13.0"],
  "1,000 random values: CPython → us → CPython comes back equal",
  async () => {
    const generator =
      `import pickle, random, json, sys, datetime, decimal, fractions, collections, uuid
random.seed(1234)
def value(depth=0):
    kind = random.randrange(15 if depth < 4 else 6)
    if kind == 0: return None
    if kind == 1: return random.choice([True, False])
    if kind == 2: return random.randint(-2**70, 2**70) if random.random() < 0.2 else random.choice([random.randint(-1000, 1000), 2**53, -2**53])
    if kind == 3: return random.choice([0.5, -1.25, 1e300, float('inf'), 2.0, -0.0, 0.0, 2.0**53, float(random.randint(-99, 99))])
    if kind == 4: return ''.join(random.choice('ab é😀\\n') for _ in range(random.randrange(8)))
    if kind == 5: return bytes(random.randrange(256) for _ in range(random.randrange(6)))
    if kind == 6: return [value(depth + 1) for _ in range(random.randrange(4))]
    if kind == 7: return {('k%d' % i): value(depth + 1) for i in range(random.randrange(4))}
    if kind == 8: return {random.randrange(100): value(depth + 1) for _ in range(random.randrange(3))}
    if kind == 9: return set(random.randrange(50) for _ in range(random.randrange(4)))
    if kind == 10: return tuple(value(depth + 1) for _ in range(random.randrange(5)))
    if kind == 11: return frozenset(random.choice([1, 2.5, 'x', b'y', (1, 'z')]) for _ in range(random.randrange(4)))
    if kind == 12: return {(random.randrange(9), random.choice(['a', 1.0])): value(depth + 1) for _ in range(random.randrange(3))}
    if kind == 13:
        tz = random.choice([None, datetime.timezone.utc, datetime.timezone(datetime.timedelta(hours=random.randint(-12, 12)), 'Z')])
        return datetime.datetime(random.randint(1, 9999), random.randint(1, 12), random.randint(1, 28), random.randint(0, 23), 0, random.randint(0, 59), random.randint(0, 999999), tzinfo=tz)
    return random.choice([decimal.Decimal('-1.50'), fractions.Fraction(1, 3), complex(0, -1), collections.deque([1, (2,)], maxlen=3), collections.OrderedDict(b=1, a=2), collections.Counter('aab'), collections.defaultdict(int, {'x': 1}), uuid.UUID(int=7), datetime.date(2024, 2, 29), datetime.time(23, 59, 59, 999999), datetime.timedelta(-1, 5), range(2, 9, 3)])
values = [value() for _ in range(1000)]
print(json.dumps([pickle.dumps(v, protocol=random.choice([2, 3, 4, 5])).hex() for v in values]))`;
    const hex: string[] = JSON.parse(new TextDecoder().decode(await python(generator)));
    const rewritten = hex.map((h) => {
      const bytes = Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));
      return [...writePickle(readPickle(bytes, LIMITS))];
    });
    const checker = `${generator.replace(/\nprint\(.*$/s, "")}
got = [pickle.loads(bytes(raw)) for raw in json.loads(sys.stdin.read())]
bad = [i for i, (a, b) in enumerate(zip(values, got)) if a != b or type(a) != type(b)]
print(len(got), bad[:5])`;
    const out = await python(checker, new TextEncoder().encode(JSON.stringify(rewritten)));
    assert.equal(new TextDecoder().decode(out).trim(), "1000 []");
  },
);

await pythonTest(
  ["3.13.0"],
  "globals outside the allowlist, cycles and over-limit pickles are refused, naming why",
  async () => {
    const [system, cycle, deep, custom] = await pickled(
      [
        "__import__('os').system",
        "(lambda l: (l.append(l), l)[1])([])",
        "(lambda: [r := [], [r := [r] for _ in range(80)]][1][-1])()",
        "__import__('ipaddress').ip_address('10.0.0.1')",
      ],
      4,
    );
    assert.throws(() => readPickle(system!, LIMITS), {
      name: "PickleError",
      message: /names the global posix\.system, which is not allowed/,
    });
    assert.throws(
      () => readPickle(cycle!, LIMITS),
      /nest deeper than the limit of 64|far more memory/,
    );
    assert.throws(() => readPickle(deep!, LIMITS), /nest deeper than the limit of 64 levels/);
    assert.throws(
      () => readPickle(custom!, LIMITS),
      /global ipaddress\.IPv4Address, which is not allowed/,
    );
    assert.throws(
      () => readPickle(writePickle(new Array(20).fill(1)), { maxDepth: 64, maxLength: 10 }),
      /more than 10 items/,
    );
  },
);

Deno.test("broken pickles are refused with a PickleError, never anything else", () => {
  const good = writePickle({ a: [1, "two", Uint8Array.of(3)], b: new Set([1]) });
  for (let cut = 0; cut < good.length; cut++) {
    assert.throws(() => readPickle(good.subarray(0, cut), LIMITS), PickleError, `cut at ${cut}`);
  }
  let random = 42;
  const next = (): number => (random = (random * 1103515245 + 12345) % 2 ** 31) % 256;
  for (let i = 0; i < 2000; i++) {
    const bytes = good.slice();
    bytes[1 + (next() % (bytes.length - 1))] = next();
    try {
      readPickle(bytes, LIMITS);
    } catch (error) {
      assert.ok(error instanceof PickleError, `mutation ${i}: ${error}`);
    }
  }
});

/**
 * Globals a pickle may never name: the builtins that run or reach code
 * (`builtins` is allowlisted for its exceptions and containers only, under
 * all three of its module names), and the usual ways to a shell.
 */
const FORBIDDEN_GLOBALS = [
  "builtins.eval",
  "builtins.exec",
  "builtins.getattr",
  "builtins.setattr",
  "builtins.__import__",
  "builtins.open",
  "builtins.compile",
  "builtins.globals",
  "builtins.breakpoint",
  "builtins.object",
  "builtins.type",
  "__builtin__.eval",
  "exceptions.eval",
  "posix.system",
  "os.system",
  "os.popen",
  "subprocess.Popen",
  "subprocess.check_output",
  "importlib.import_module",
  "pickle.loads",
  "functools.partial",
  "operator.attrgetter",
  "multiprocessing.managers.Server",
];

const latin = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));
/** SHORT_BINUNICODE of an ASCII string. */
const str = (text: string): number[] => [0x8c, text.length, ...latin(text)];

/** The opcodes that push `module.name`: GLOBAL (protocol 0's text form) or STACK_GLOBAL. */
const PUSH_GLOBAL: Record<string, (module: string, name: string) => number[]> = {
  GLOBAL: (module, name) => [0x63, ...latin(`${module}\n${name}\n`)],
  STACK_GLOBAL: (module, name) => [...str(module), ...str(name), 0x93],
};

/** What a pickle does with the global it pushed (`g`): call it, build it, make one. */
const USE_GLOBAL: Record<string, (g: number[]) => number[]> = {
  REDUCE: (g) => [...g, ...str("1+1"), 0x85, 0x52], // eval("1+1")
  BUILD: (g) => [...g, 0x7d, 0x62], // BUILD on the global itself, with {}
  "REDUCE, BUILD": (g) => [...g, ...str("x"), 0x85, 0x52, 0x7d, 0x62], // as an exception with a __dict__
  NEWOBJ: (g) => [...g, ...str("x"), 0x85, 0x81],
  NEWOBJ_EX: (g) => [...g, ...str("x"), 0x85, 0x7d, 0x92],
  OBJ: (g) => [0x28, ...g, ...str("x"), 0x6f],
};

/** A protocol 4 pickle of `body`, one value. */
const pickleOf = (body: number[]): Uint8Array => Uint8Array.from([0x80, 4, ...body, 0x2e]);

/** Every hostile value: each forbidden global, pushed each way, used each way, and by INST. */
function hostileValues(): { label: string; global: string; body: number[] }[] {
  const out: { label: string; global: string; body: number[] }[] = [];
  for (const global of FORBIDDEN_GLOBALS) {
    const dot = global.lastIndexOf(".");
    const [module, name] = [global.slice(0, dot), global.slice(dot + 1)];
    for (const [push, pushOps] of Object.entries(PUSH_GLOBAL)) {
      for (const [use, useOps] of Object.entries(USE_GLOBAL)) {
        out.push({
          label: `${global} by ${push} and ${use}`,
          global,
          body: useOps(pushOps(module, name)),
        });
      }
    }
    // INST names its class inline: MARK, the arguments, INST module\nname\n.
    out.push({
      label: `${global} by INST`,
      global,
      body: [0x28, ...str("x"), 0x69, ...latin(`${module}\n${name}\n`)],
    });
  }
  return out;
}

/** How the refusal of `global` must read; INST is refused as an opcode, before its global. */
function refusal(label: string, global: string): RegExp {
  return label.endsWith("by INST")
    ? /protocol 0 class instances are not accepted/
    : new RegExp(`names the global ${global.replaceAll(".", "\\.")}, which is not allowed`);
}

Deno.test("a pickle naming eval, exec, getattr, __import__, open, a shell... is refused naming the global, whatever opcodes use it", () => {
  const values = hostileValues();
  for (const { label, global, body } of values) {
    assert.throws(
      () => readPickle(pickleOf(body), LIMITS),
      (error: unknown) => {
        assert.ok(error instanceof PickleError, `${label}: ${error}`);
        assert.match(error.message, refusal(label, global), label);
        return true;
      },
      `${label} was read, not refused`,
    );
  }
  assert.equal(values.length, FORBIDDEN_GLOBALS.length * 13);
  // The same opcodes on an allowlisted global read as data: the pickles above are well formed.
  for (const [push, pushOps] of Object.entries(PUSH_GLOBAL)) {
    for (const use of ["REDUCE", "REDUCE, BUILD", "NEWOBJ", "NEWOBJ_EX"]) {
      const value = readPickle(
        pickleOf(USE_GLOBAL[use]!(pushOps("builtins", "ValueError"))),
        LIMITS,
      );
      assert.ok(value instanceof Error && value.name === "ValueError", `${push} and ${use}`);
    }
  }
});

await pythonTest(
  ["3.13.0"],
  "a live server refuses a CPython client's request that names a forbidden global, naming it, and keeps answering",
  async () => {
    const authkey = crypto.getRandomValues(new Uint8Array(32));
    await using manager = await new TestManager({ modules: [COUNTER_MODULE], authkey }).start();
    await using counter = await manager.create(Counter, 7);
    // Each hostile value is the argument of a `dummy` request, which answers None if it is read.
    const values = hostileValues();
    const dummy = (body: number[]): Uint8Array =>
      pickleOf([0x28, 0x4e, ...str("dummy"), ...body, 0x85, 0x7d, 0x74]);
    // Last, the same request with an allowlisted global: read, and answered.
    const harmless = USE_GLOBAL.REDUCE!(PUSH_GLOBAL.STACK_GLOBAL!("builtins", "ValueError"));
    const requests = [...values.map(({ body }) => dummy(body)), dummy(harmless)];
    // CPython's own connection (handshake and framing) sends the raw pickles over one socket,
    // then a well-formed dummy request; it prints each reply.
    const out = await python(
      `import json, pickle, sys
from multiprocessing.connection import Client
given = json.loads(sys.stdin.read())
address = given["address"]
with Client(address, authkey=bytes.fromhex(given["authkey"])) as conn:
    replies = []
    for raw in given["requests"]:
        conn.send_bytes(bytes.fromhex(raw))
        replies.append(pickle.loads(conn.recv_bytes()))
    conn.send((None, "dummy", (), {}))
    replies.append(conn.recv())
print(json.dumps(replies))`,
      new TextEncoder().encode(JSON.stringify({
        address: manager.address,
        authkey: hex(authkey),
        requests: requests.map(hex),
      })),
    );
    const replies: [string, unknown][] = JSON.parse(new TextDecoder().decode(out));
    assert.equal(replies.length, values.length + 2);
    values.forEach(({ label, global }, i) => {
      const [kind, text] = replies[i]!;
      assert.equal(kind, "#TRACEBACK", `${label}: refused, not answered (${JSON.stringify(text)})`);
      assert.match(text as string, refusal(label, global), label);
      assert.match(text as string, /The Deno manager server refused the request/, label);
    });
    assert.deepStrictEqual(replies.at(-2), ["#RETURN", null], "a harmless global is read");
    assert.deepStrictEqual(replies.at(-1), ["#RETURN", null], "the same connection goes on");
    assert.equal(await counter.get(), 7, "the server still serves others");
    assert.equal(await manager.numberOfObjects(), 1);
  },
);

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
