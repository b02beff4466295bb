/**
 * A seeded, bounded fuzz of a live server: random bytes, truncated,
 * oversized and bit-flipped frames, invalid MessagePack, unknown
 * extensions, deep nesting, wrong shapes, reused request ids, and calls on
 * ids never issued or already released, before and after authentication;
 * and the same for CPython's dialect: mutated, truncated and hostile
 * pickles (globals outside the allowlist, memo tricks, huge declared sizes).
 * After each batch a well-behaved client still gets correct answers, the
 * object count is unchanged, and the server printed nothing (an unhandled
 * rejection would print and end it).
 *
 * FUZZ_SEED, FUZZ_CASES and FUZZ_SECONDS tune it; `deno task fuzz` runs long.
 */
import assert from "node:assert/strict";
import { clientHandshake, importAuthkey } from "../src/wire/handshake.ts";
import { Codec, type CodecPeer } from "../src/wire/codec.ts";
import { frame, FrameReader } from "../src/wire/framing.ts";
import { connect } from "../src/wire/transport.ts";
import type { Address } from "../mod.ts";
import { Counter, TestManager } from "./_fixtures/counter.ts";
import { writePickle } from "../src/python/pickle_writer.ts";
import { tuple } from "../src/wire/python_data.ts";
import { writeXmlrpc } from "../src/python/xmlrpc.ts";
import { seededRandom } from "./_helpers.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20261122);
const CASES = Number(Deno.env.get("FUZZ_CASES") ?? 600);
const SECONDS = Number(Deno.env.get("FUZZ_SECONDS") ?? 30);
const BATCH = 50;

const noTokens: CodecPeer = {
  encodeToken: () => {
    throw new TypeError("no tokens");
  },
  decodeToken: () => undefined,
};
const codec = new Codec(noTokens);
const encode = (value: unknown): Uint8Array => codec.encode(value).subarray(4);

function cases(rand: () => number, liveId: number, releasedId: number): {
  kind: string;
  authenticate: boolean;
  bytes: Uint8Array;
} {
  const int = (n: number): number => Math.floor(rand() * n);
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => int(256));
  const valid = (): Uint8Array =>
    encode([
      int(1000) + 1,
      [0, liveId, releasedId, 999_999][int(4)],
      ["get", "increment", "ping", "create", "release", "echo"][int(6)],
      [int(5), "x".repeat(int(20)), [null, { a: 1 }]],
    ]);
  const pickle = (): Uint8Array =>
    writePickle(
      tuple([
        [null, liveId.toString(16), "zz"][int(3)],
        // Not create or incref: a CPython client's references are its own to keep (its decref of
        // what it does not hold is ignored, so a Deno client's references are safe).
        ["decref", "increment", "echo", "accept_connection", "dummy", "get_methods"][int(6)],
        tuple([["Counter", 1, "x".repeat(int(20)), [1.5, { a: null }]][int(4)]]),
        int(2) === 0 ? {} : { by: int(9) },
      ]),
    );
  const latin = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));
  const kinds: [string, () => Uint8Array, boolean][] = [
    ["pickle request", () => frame(pickle()), true],
    [
      "XML-RPC request",
      () =>
        frame(writeXmlrpc(
          ["dummy", "increment", "accept_connection"][int(3)] === "dummy"
            ? tuple([null, "dummy", [], {}])
            : tuple([liveId.toString(16), "increment", [int(9)], {}]),
        )),
      true,
    ],
    ["mutated XML-RPC", () => {
      const b = writeXmlrpc(tuple([null, "get_methods", [[int(9)]], { a: "<&>" }])).slice();
      for (let i = 0, n = 1 + int(6); i < n; i++) {
        b[int(b.length)] = "<>/&;x!"[int(7)]!.charCodeAt(0);
      }
      return frame(b);
    }, true],
    ["bit-flipped pickle", () => {
      const b = pickle().slice();
      for (let i = 0, n = 1 + int(4); i < n; i++) b[1 + int(b.length - 1)]! ^= 1 << int(8);
      return frame(b);
    }, true],
    ["truncated pickle", () => {
      const b = pickle();
      return frame(b.subarray(0, 1 + int(b.length - 1)));
    }, true],
    ["pickle naming a forbidden global", () =>
      frame(Uint8Array.from([
        0x80,
        4,
        0x8c,
        2,
        ...latin("os"),
        0x8c,
        6,
        ...latin("system"),
        0x93,
        0x8c,
        2,
        ...latin("id"),
        0x85,
        0x52,
        0x2e,
      ])), true],
    [
      "pickle with a huge declared size",
      () => frame(Uint8Array.of(0x80, 4, 0x8d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x2e)),
      true,
    ],
    ["pickle memo bomb", () => {
      // l = [x, x] repeated: shared structure that would double at each level.
      const ops = [0x80, 4, 0x5d, 0x94];
      for (let i = 0; i < 40 + int(40); i++) ops.push(0x32, 0x86, 0x94);
      ops.push(0x2e);
      return frame(Uint8Array.from(ops));
    }, true],
    [
      "pickle of random opcodes",
      () => frame(Uint8Array.from([0x80, 4, ...bytes(int(60)), 0x2e])),
      true,
    ],
    ["random bytes before auth", () => bytes(1 + int(300)), false],
    ["random frame before auth", () => frame(bytes(int(300))), false],
    ["random bytes", () => bytes(1 + int(300)), true],
    ["random frame", () => frame(bytes(int(300))), true],
    ["truncated frame", () => frame(valid()).subarray(0, 4 + int(8)), true],
    ["oversized length", () => Uint8Array.of(0x7f, int(256), int(256), int(256)), true],
    ["negative length", () => Uint8Array.of(0xff, 0xff, 0xff, 0xf0 + int(15)), true],
    ["bit-flipped request", () => {
      const b = valid().slice();
      for (let i = 0, n = 1 + int(4); i < n; i++) b[int(b.length)]! ^= 1 << int(8);
      return frame(b);
    }, true],
    [
      "unknown extension",
      () => frame(Uint8Array.of(0x94, 1, 0, 0xa1, 0x78, 0x91, 0xc7, 2, 7 + int(100), 1, 2)),
      true,
    ],
    ["deep nesting", () => frame(new Uint8Array(513 + int(5000)).fill(0x91)), true],
    [
      "huge declared map",
      () => frame(Uint8Array.of(0xdf, 0x7f, int(256), int(256), int(256))),
      true,
    ],
    ["wrong shape", () => frame(encode([[1], "x", null, { a: int(9) }, 3.5, true][int(6)])), true],
    ["reused request id", () => {
      const a = frame(encode([7, 0, "ping", []]));
      return Uint8Array.from([...a, ...a, ...frame(encode([7, 0, "numberOfObjects", []]))]);
    }, true],
    ["call on an id never issued or released", () => frame(valid()), true],
    ["create with junk", () => frame(encode([1, 0, "create", [[int(9)], { x: 1 }]])), true],
    [
      "release of another's ids",
      () => frame(encode([0, 0, "release", [liveId, liveId, releasedId]])),
      true,
    ],
  ];
  const [kind, make, authenticate] = kinds[int(kinds.length)]!;
  return { kind, authenticate, bytes: make() };
}

async function throwAt(
  address: Address,
  authkey: Uint8Array,
  bytes: Uint8Array,
  authenticate: boolean,
): Promise<void> {
  const conn = await connect(address);
  try {
    const reader = new FrameReader(conn);
    if (authenticate) await clientHandshake({ socket: conn, reader }, await importAuthkey(authkey));
    let offset = 0;
    while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
    // Then a ping: the server answers it, or has closed the connection, or waits for more bytes.
    await conn.write(frame(encode([424242, 0, "ping", []]))).catch(() => 0);
    const deadline = setTimeout(() => conn.close(), 300);
    try {
      while ((await reader.read(1 << 26)) !== null) { /* read until closed or the ping's reply */ }
    } catch {
      /* closed or reset */
    } finally {
      clearTimeout(deadline);
    }
  } catch {
    /* the server may drop us at any point */
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

Deno.test(`fuzz: ${CASES} hostile inputs (seed ${SEED}) leave the server serving correctly`, async () => {
  const authkey = crypto.getRandomValues(new Uint8Array(32));
  const hexKey = Array.from(authkey, (b) => b.toString(16).padStart(2, "0")).join("");
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      new URL("./_fixtures/fuzz_server.ts", import.meta.url).pathname,
      hexKey,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(server.stderr).text();
  const lines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let first = "";
  while (!first.includes("\n")) first += (await lines.read()).value ?? "";
  const address = JSON.parse(first) as Address;
  const client = await new TestManager({ address, authkey }).connect();
  try {
    const counter = await client.create(Counter, 7);
    const released = await client.create(Counter, 1);
    const releasedId = released._token.id;
    await released[Symbol.asyncDispose]();
    const baseline = await client.numberOfObjects();
    const rand = seededRandom(SEED);
    const started = performance.now();
    const seen = new Map<string, number>();
    let done = 0;
    while (done < CASES && performance.now() - started < SECONDS * 1000) {
      const batch = Math.min(BATCH, CASES - done);
      await Promise.all(Array.from({ length: batch }, () => {
        const { kind, authenticate, bytes } = cases(rand, counter._token.id, releasedId);
        seen.set(kind, (seen.get(kind) ?? 0) + 1);
        return throwAt(address, authkey, bytes, authenticate);
      }));
      done += batch;
      assert.equal(await counter.increment(), 8, `after ${done} cases the counter still counts`);
      assert.equal(await counter.increment(-1), 7);
      assert.equal(await client.numberOfObjects(), baseline, `after ${done} cases`);
    }
    console.log(
      `fuzzed ${done} cases in ${((performance.now() - started) / 1000).toFixed(1)} s:`,
      Object.fromEntries(seen),
    );
    assert.ok(done >= Math.min(CASES, 100), "enough cases ran");
    await counter[Symbol.asyncDispose]();
  } finally {
    await client.shutdown(); // a connected manager's shutdown stops the server
  }
  const status = await server.status;
  while (!(await lines.read()).done) { /* drain */ }
  assert.equal(await stderr, "", "the server printed nothing: no unhandled rejection");
  assert.ok(status.success, "the server exited cleanly when asked");
});
