/**
 * Hostile input at a live server: malformed and excessive frames, bad
 * handshakes, reserved names. After each, the server still serves a
 * well-behaved client, its object count is unchanged, and the misbehaving
 * peer was told why (if it had authenticated) or told nothing (if not).
 */
import assert from "node:assert/strict";
import { clientHandshake, importAuthkey } from "../src/wire/handshake.ts";
import { Codec, type CodecPeer, Reference } from "../src/wire/codec.ts";
import { frame, FrameReader } from "../src/wire/framing.ts";
import { Reply } from "../src/wire/protocol.ts";
import { connect } from "../src/wire/transport.ts";
import { ConnectionClosedError, defaultAuthkey, RemoteError } from "../mod.ts";
import { Counter, TestManager } from "./_fixtures/counter.ts";
import { COUNTER_MODULE } from "./_helpers.ts";

const modules = [COUNTER_MODULE];
const noTokens: CodecPeer = {
  encodeToken: () => {
    throw new TypeError("no tokens");
  },
  decodeToken: () => {
    throw new TypeError("no tokens");
  },
};
const codec = new Codec(noTokens);
const payload = (value: unknown): Uint8Array => codec.encode(value).subarray(4);

/** A client that speaks raw frames after authenticating for real. */
async function rawClient(manager: TestManager, authenticate = true): Promise<{
  conn: Deno.Conn;
  reader: FrameReader;
  send(bytes: Uint8Array): Promise<void>;
  next(): Promise<unknown>;
  [Symbol.dispose](): void;
}> {
  const conn = await connect(manager.address);
  const reader = new FrameReader(conn);
  if (authenticate) {
    await clientHandshake({ socket: conn, reader }, await importAuthkey(defaultAuthkey()));
  }
  return {
    conn,
    reader,
    async send(bytes: Uint8Array): Promise<void> {
      let offset = 0;
      while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
    },
    async next(): Promise<unknown> {
      const data = await reader.read(1 << 26);
      return data === null ? null : codec.decode(data);
    },
    [Symbol.dispose](): void {
      try {
        conn.close();
      } catch { /* closed by the server */ }
    },
  };
}

/** The server still answers a well-behaved client, and holds only `objects` objects. */
async function stillServing(
  manager: TestManager,
  counter: { get(): Promise<number> },
  objects: number,
): Promise<void> {
  assert.equal(await counter.get(), 7);
  assert.equal(await manager.numberOfObjects(), objects);
}

/**
 * Each hostile frame, what the server says, and what it costs: a frame
 * that breaks the framing, or whose request id cannot be read, ends the
 * connection (after a notice); a whole frame whose content is refused
 * fails that request alone.
 */
const hostileFrames: [string, Uint8Array, RegExp, "closes" | "fails the call"][] = [
  [
    "a frame declaring 1 GiB",
    new Uint8Array([0x40, 0, 0, 0]),
    /Frame of 1073741824 bytes exceeds the limit of 67108864 bytes/,
    "closes",
  ],
  [
    "an array header claiming four billion items",
    frame(new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff])),
    /4294967295 items (exceeds the limit|but only 0 bytes follow)/,
    "closes",
  ],
  [
    "nesting 100,000 levels deep",
    frame(new Uint8Array(100_000).fill(0x91)),
    /nest deeper than the limit of 512 levels/,
    "closes",
  ],
  [
    "an invalid MessagePack byte",
    frame(new Uint8Array([0xc1])),
    /invalid MessagePack byte 0xc1/,
    "closes",
  ],
  [
    "an unknown extension type",
    frame(new Uint8Array([0x94, 1, 0, 0xa1, 0x78, 0x91, 0xd4, 99, 0])),
    /unknown extension type 99/,
    "fails the call",
  ],
  ["a request of the wrong shape", frame(payload([1, 2])), /malformed request/, "fails the call"],
  [
    "a __proto__ key",
    frame(
      new Uint8Array([
        0x94,
        1,
        0,
        0xa1,
        0x78,
        0x91,
        0x81,
        0xa9,
        ...new TextEncoder().encode("__proto__"),
        1,
      ]),
    ),
    /__proto__/,
    "fails the call",
  ],
  ["a truncated frame", new Uint8Array([0, 0, 0, 10, 0x94]), /.*/, "closes"],
];

for (const [name, bytes, reason, outcome] of hostileFrames) {
  Deno.test(`${name} is refused (${outcome}); the server keeps serving`, async () => {
    await using manager = await new TestManager({ modules }).start();
    await using counter = await manager.create(Counter, 7);
    {
      using raw = await rawClient(manager);
      await raw.send(bytes);
      if (name === "a truncated frame") raw.conn.closeWrite();
      const answer = await raw.next();
      if (outcome === "fails the call") {
        assert.equal((answer as unknown[])[0], 1, "the answer is for request 1");
        assert.equal((answer as unknown[])[1], Reply.Failure);
        assert.match(String(((answer as unknown[])[2] as unknown[])[0]), reason);
        await raw.send(frame(payload([2, 0, "ping", []])));
        assert.deepEqual(await raw.next(), [2, Reply.Return, null], "the connection still serves");
      } else if (answer !== null) {
        assert.equal((answer as unknown[])[0], 0, "a notice has request id 0");
        assert.equal((answer as unknown[])[1], Reply.Failure);
        assert.match(String(((answer as unknown[])[2] as unknown[])[0]), reason);
        assert.equal(await raw.next(), null, "then the connection is closed");
      }
    }
    assert.equal(({} as Record<string, unknown>).x, undefined, "no prototype was touched");
    await stillServing(manager, counter, 1);
  });
}

Deno.test("calls on ids never issued, released, or reused request ids fail cleanly", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using counter = await manager.create(Counter, 7);
  using raw = await rawClient(manager);
  await raw.send(frame(payload([5, 9999, "get", []])));
  assert.deepEqual(await raw.next(), [
    5,
    Reply.Failure,
    [
      "Object 9999 does not exist or this connection holds no reference to it (was its proxy released?)",
      undefined,
    ],
  ]);
  // Another connection's object is out of reach of this one.
  await raw.send(frame(payload([6, counter._token.id, "get", []])));
  assert.equal(((await raw.next()) as unknown[])[1], Reply.Failure);
  // Unknown control requests and reused request ids.
  await raw.send(frame(payload([7, 0, "rm -rf", []])));
  await raw.send(frame(payload([7, 0, "ping", []])));
  assert.deepEqual(await raw.next(), [7, Reply.Failure, [
    "Unknown server request 'rm -rf'",
    undefined,
  ]]);
  assert.deepEqual(await raw.next(), [7, Reply.Return, null]);
  await stillServing(manager, counter, 1);
});

Deno.test("a proxy the connection holds no reference to (forged or released) fails its call", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using counter = await manager.create(Counter, 7);
  using raw = await rawClient(manager);
  // This raw client sends a Reference as the token of the object it names.
  const forging = new Codec({
    encodeToken: (value) => ["Counter", (value as Reference).id, ["get"]],
    decodeToken: ([, id]) => id,
  });
  const send = (value: unknown): Promise<void> => raw.send(forging.encode(value));
  const next = async (): Promise<unknown> => forging.decode((await raw.reader.read(1 << 20))!);
  await send([1, 0, "create", ["Counter", 1]]);
  const own = ((await next()) as [number, number, number])[2];
  await send([2, 0, "create", ["Counter", 2]]);
  const released = ((await next()) as [number, number, number])[2];
  await send([0, 0, "release", [released]]);
  const refused = (id: number): unknown[] => [
    Reply.Failure,
    [
      `The request carries a proxy of object ${id} ('Counter'), which this connection holds no reference to (was it released?)`,
      undefined,
    ],
  ];
  // Another connection's object, named by a forged token; then one this connection released.
  await send([3, own, "echo", [new Reference(counter._token.id)]]);
  assert.deepEqual(await next(), [3, ...refused(counter._token.id)]);
  await send([4, own, "echo", [new Reference(released)]]);
  assert.deepEqual(await next(), [4, ...refused(released)]);
  // A problem belongs to its own request: the next one is served.
  await send([5, own, "echo", ["fine"]]);
  assert.deepEqual(await next(), [5, Reply.Return, "fine"]);
  await stillServing(manager, counter, 2);
});

Deno.test("names that are never callable through a proxy, whatever exposed says", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using counter = await manager.create(Counter, 7);
  const names = [
    ...Object.getOwnPropertyNames(Object.prototype),
    "prototype",
    "then",
    "_secret",
    "#nope",
  ];
  for (const name of names) {
    await assert.rejects(counter._callmethod(name), RemoteError, name);
  }
  for (const name of ["toString", "constructor", "__proto__", "valueOf", "__defineGetter__"]) {
    assert.throws(() => TestManager.register("Bad", () => ({}), { exposed: [name] }), TypeError);
  }
  await stillServing(manager, counter, 1);
});

Deno.test("__proto__ keys in arguments never reach a prototype on either side", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using counter = await manager.create(Counter, 7);
  const hostile = JSON.parse('{"__proto__": {"polluted": true}}');
  await assert.rejects(counter.echo(hostile), {
    name: "TypeError",
    message: /own "__proto__" key in args\[0\]\.__proto__/,
  });
  const echoed = await counter.echo({ constructor: { prototype: { polluted: true } } });
  assert.deepEqual(echoed, { constructor: { prototype: { polluted: true } } });
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  await stillServing(manager, counter, 1);
});

Deno.test("limits are configurable; a client over them learns why", async () => {
  await using manager = await new TestManager({
    modules,
    limits: { maxFrameSize: 1024, maxDepth: 8, maxLength: 100 },
  }).start();
  await using counter = await manager.create(Counter, 7);
  const client = await new TestManager({ address: manager.address }).connect();
  const remote = await client.create(Counter, 1);
  await assert.rejects(remote.echo("x".repeat(2000)), {
    name: "ConnectionClosedError",
    message: /closed the connection: Frame of \d+ bytes exceeds the limit of 1024 bytes/,
  });
  await assert.rejects(remote.get(), ConnectionClosedError);
  await client.disconnect();
  using raw = await rawClient(manager);
  await raw.send(frame(payload([1, 0, "ping", [[[[[[[[[[1]]]]]]]]]]])));
  assert.match(JSON.stringify(await raw.next()), /nest deeper than the limit of 8 levels/);
  await stillServing(manager, counter, 1);
  assert.throws(() => new TestManager({ limits: { maxFrameSize: -1 } }), RangeError);
  assert.throws(() => new TestManager({ limits: { maxFrames: 1 } as never }), TypeError);
});

Deno.test("maxConnections: connections beyond the limit are closed at once", async () => {
  await using manager = await new TestManager({ modules, limits: { maxConnections: 3 } }).start();
  await using counter = await manager.create(Counter, 7); // the owner's connection is one
  const second = await new TestManager({ address: manager.address }).connect();
  const third = await new TestManager({ address: manager.address }).connect();
  await assert.rejects(
    new TestManager({ address: manager.address }).connect(),
    ConnectionClosedError,
  );
  await third.disconnect();
  await new Promise((resolve) => setTimeout(resolve, 100));
  const again = await new TestManager({ address: manager.address }).connect();
  await again.disconnect();
  await second.disconnect();
  await stillServing(manager, counter, 1);
});

Deno.test("handshake abuse: silence, a 300-byte answer, no key, a replay, a skipped challenge", async () => {
  await using manager = await new TestManager({ modules, handshakeTimeout: 300 }).start();
  await using counter = await manager.create(Counter, 7);
  const challengeOf = async (raw: Awaited<ReturnType<typeof rawClient>>): Promise<Uint8Array> =>
    (await raw.reader.read(256))!;
  const rest = async (raw: Awaited<ReturnType<typeof rawClient>>): Promise<Uint8Array[]> => {
    const frames = [];
    for (
      let f = await raw.reader.read(256).catch(() => null);
      f;
      f = await raw.reader.read(256).catch(() => null)
    ) {
      frames.push(f);
    }
    return frames;
  };
  const failure = new TextEncoder().encode("#FAILURE#");
  {
    // Silence: dropped after the handshake deadline, having received only the challenge.
    using raw = await rawClient(manager, false);
    const started = performance.now();
    await challengeOf(raw);
    assert.deepEqual(await rest(raw), []);
    assert.ok(performance.now() - started >= 250);
  }
  {
    // A 300-byte answer: refused unread.
    using raw = await rawClient(manager, false);
    await challengeOf(raw);
    await raw.send(frame(new Uint8Array(300)));
    assert.deepEqual(await rest(raw), []);
  }
  {
    // No key: an empty answer gets #FAILURE# and nothing else.
    using raw = await rawClient(manager, false);
    await challengeOf(raw);
    await raw.send(frame(new Uint8Array(0)));
    assert.deepEqual(await rest(raw), [failure]);
  }
  let recorded: Uint8Array;
  {
    // Record a correct answer to one challenge...
    using raw = await rawClient(manager, false);
    const challenge = await challengeOf(raw);
    const key = await crypto.subtle.importKey(
      "raw",
      defaultAuthkey() as Uint8Array<ArrayBuffer>,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const mac = new Uint8Array(
      await crypto.subtle.sign("HMAC", key, challenge.subarray(11) as Uint8Array<ArrayBuffer>),
    );
    recorded = new Uint8Array([...new TextEncoder().encode("{sha256}"), ...mac]);
    await raw.send(frame(recorded));
    assert.deepEqual(await raw.reader.read(256), new TextEncoder().encode("#WELCOME#"));
    // ...then skip our half of the handshake and send a request instead.
    await raw.send(frame(payload([1, 0, "create", ["Counter", 1]])));
    assert.deepEqual(await rest(raw), [], "nothing decoded, nothing said");
  }
  {
    // ...and replay it to a new challenge.
    using raw = await rawClient(manager, false);
    await challengeOf(raw);
    await raw.send(frame(recorded));
    assert.deepEqual(await rest(raw), [failure]);
  }
  await stillServing(manager, counter, 1);
});
