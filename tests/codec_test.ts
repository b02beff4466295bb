import assert from "node:assert/strict";
// An independent MessagePack implementation checks ours, in both directions.
import { decode as theirDecode, encode as theirEncode } from "@msgpack/msgpack";
import { Codec, type CodecPeer } from "../src/wire/codec.ts";
import { seededRandom } from "./_helpers.ts";

const peer: CodecPeer = {
  encodeToken: () => {
    throw new TypeError("no proxies in this test");
  },
  decodeToken: () => {
    throw new TypeError("no proxies in this test");
  },
};

function roundTrip(value: unknown): unknown {
  const codec = new Codec(peer);
  const frame = codec.encode(value);
  const length = new DataView(frame.buffer, frame.byteOffset).getInt32(0);
  assert.equal(length, frame.length - 4, "4-byte big-endian length header");
  return codec.decode(frame.subarray(4));
}

Deno.test("codec round-trips JSON values and what JSON cannot carry", () => {
  const values: unknown[] = [
    null,
    undefined,
    true,
    0,
    -0,
    1.5,
    -(2 ** 53) + 1,
    2 ** 40,
    NaN,
    Infinity,
    "",
    "héllo wörld ✓",
    "x".repeat(70_000),
    [1, [2, [3]], undefined],
    { a: 1, b: { c: [null, undefined] } },
    12345678901234567890123456789n,
    -5n,
    new Date(Date.UTC(2026, 10, 22, 12, 0, 0, 123)),
    new Map<unknown, unknown>([[1, "a"], ["k", new Map([[{ x: 1 }, new Set([1])]])]]),
    new Set([1, "two", undefined]),
    new Uint8Array([0, 1, 255]),
    new Int16Array([-1, 2, 300]),
    new Float64Array([1.5, -2.25]),
    new BigInt64Array([-(2n ** 63n)]),
    new Uint8ClampedArray([9]),
    new Uint8Array(1024 * 1024).fill(7),
  ];
  for (const value of values) assert.deepStrictEqual(roundTrip(value), value);
  assert.ok(Object.is(roundTrip(-0), -0));
  assert.equal(typeof roundTrip(2 ** 40), "number", "large integers stay numbers");
});

Deno.test("codec round-trips errors with their class, cause and stack", () => {
  const original = new TypeError("bad", { cause: new RangeError("deeper") });
  const copy = roundTrip(original) as TypeError;
  assert.ok(copy instanceof TypeError);
  assert.equal(copy.message, "bad");
  assert.ok(copy.cause instanceof RangeError);
  assert.equal(copy.stack, original.stack);
  const denoError = roundTrip(new Deno.errors.NotCapable("no")) as Error;
  assert.ok(denoError instanceof Deno.errors.NotCapable);
});

Deno.test("codec never lets a __proto__ key reach an object's prototype", () => {
  const hostile = JSON.parse('{"__proto__": {"polluted": true}}');
  assert.throws(() => roundTrip(hostile), /__proto__/);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

/** A random value MessagePack carries natively (no extension types). */
function randomValue(random: () => number, depth: number): unknown {
  const int = (n: number): number => Math.floor(random() * n);
  const pick = int(depth > 2 ? 8 : 10);
  const integers = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];
  switch (pick) {
    case 0:
      return null;
    case 1:
      return random() < 0.5;
    case 2: {
      const magnitude = integers[int(integers.length)]! + int(3) - 1;
      return Math.max(0, magnitude) * (random() < 0.5 ? -1 : 1) || 0;
    }
    case 3:
      return (random() - 0.5) * 10 ** int(30);
    case 4: {
      const alphabet = ["a", "Z", "0", " ", "é", "✓", "😀", "\u0000"];
      const length = [0, 1, 31, 32, 47, 48, 49, 255, 256, 3000][int(10)]!;
      let s = "";
      for (let i = 0; i < length; i++) s += alphabet[int(alphabet.length)];
      return s;
    }
    case 5:
      return Uint8Array.from({ length: [0, 1, 255, 256, 65536][int(5)]! }, () => int(256));
    case 6:
      return new Date(int(2 ** 36) * 1000 + int(1000) - 2 ** 34 * 1000);
    case 7:
      return `k${int(100)}`;
    case 8:
      return Array.from(
        { length: [0, 1, 15, 16, 40][int(5)]! },
        () => randomValue(random, depth + 1),
      );
    default: {
      const out: Record<string, unknown> = {};
      for (let i = 0, n = [0, 1, 15, 16, 20][int(5)]!; i < n; i++) {
        out[`key${int(50)}`] = randomValue(random, depth + 1);
      }
      return out;
    }
  }
}

Deno.test("codec agrees with @msgpack/msgpack on 1,000 random values, both ways", () => {
  const codec = new Codec(peer);
  const random = seededRandom(5);
  for (let i = 0; i < 1000; i++) {
    const value = randomValue(random, 0);
    // Theirs encodes (choosing every integer, string and timestamp width), ours decodes.
    assert.deepStrictEqual(codec.decode(theirEncode(value)), value, `case ${i}`);
    // Ours encodes, theirs decodes (Dates travel in our 96-bit form).
    assert.deepStrictEqual(theirDecode(codec.encode(value).subarray(4)), value, `case ${i}`);
  }
});

Deno.test("codec refuses malformed and excessive messages with the reason", () => {
  const codec = new Codec(peer, { maxDepth: 4, maxLength: 10 });
  const refusals: [string, number[], RegExp][] = [
    ["too deep", [0x91, 0x91, 0x91, 0x91, 0x01], /nest deeper than the limit of 4 levels/],
    ["too long", [0x9b, ...new Array(11).fill(0)], /11 items exceeds the limit of 10/],
    ["a claim the message cannot hold", [0x99, 1], /declares 9 items but only 1 bytes follow/],
    ["extra bytes", [0x01, 0x02], /1 extra bytes after the message/],
    ["an array as a map key", [0x81, 0x90, 0x01], /map key must be a string or a number/],
    ["a truncated string", [0xa5, 0x61], /ends in the middle of a value/],
    ["an unknown extension", [0xd4, 0x63, 0x00], /unknown extension type 99/],
    [
      "a Map whose data runs past it",
      [0xc7, 0x01, 0x02, 0x92, 0x01],
      /declares 2 items but only 0 bytes follow/,
    ],
    ["a Map with bytes to spare", [0xc7, 0x02, 0x02, 0x90, 0x01], /longer than its value/],
    ["a reserved byte", [0xc1], /invalid MessagePack byte 0xc1/],
    ["a timestamp of 5 bytes", [0xc7, 0x05, 0xff, 0, 0, 0, 0, 0], /Malformed timestamp/],
  ];
  for (const [what, bytes, reason] of refusals) {
    assert.throws(
      () => codec.decode(Uint8Array.from(bytes)),
      (error: Error) => error.name === "DecodeError" && reason.test(error.message),
      what,
    );
  }
  // The codec keeps working after each refusal.
  assert.deepStrictEqual(codec.decode(Uint8Array.from([0x92, 0x01, 0xa1, 0x61])), [1, "a"]);
});

/** The payloads of the whole frames in `bytes`, in order. */
function framesIn(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.length) {
    const size = view.getInt32(at);
    out.push(bytes.subarray(at + 4, at + 4 + size));
    at += 4 + size;
  }
  assert.equal(at, bytes.length, "whole frames only");
  return out;
}

Deno.test("appended frames are taken in one piece, and bytes being written are never overwritten", () => {
  const codec = new Codec(peer);
  codec.append([1, "one"]);
  assert.throws(() => codec.append(() => {}), /Cannot send a function/);
  codec.append({ two: 2 });
  const first = codec.take()!;
  const copy = first.slice();
  assert.deepStrictEqual(framesIn(first).map((f) => codec.decode(f)), [[1, "one"], { two: 2 }]);
  assert.equal(codec.take(), undefined, "nothing appended since");
  // While `first` is being written, new frames go elsewhere.
  codec.append("x".repeat(5000));
  const second = codec.take()!;
  assert.ok(second.buffer !== first.buffer);
  assert.deepStrictEqual(first, copy);
  assert.deepStrictEqual(framesIn(second).map((f) => codec.decode(f)), ["x".repeat(5000)]);
  codec.giveBack(new Uint8Array(64)); // never lent: ignored
  codec.giveBack(first);
  codec.giveBack(first); // given back twice: ignored the second time
  codec.append(3);
  const third = codec.take()!;
  codec.append(4);
  const fourth = codec.take()!;
  assert.ok(third.buffer !== fourth.buffer, "a buffer given back twice is lent once");
  assert.deepStrictEqual([...framesIn(third), ...framesIn(fourth)].map((f) => codec.decode(f)), [
    3,
    4,
  ]);
});

Deno.test("a large frame's buffer is reused only after it is given back", () => {
  const codec = new Codec(peer);
  const big = (fill: number): Uint8Array => new Uint8Array(300_000).fill(fill);
  codec.append(big(1));
  const a = codec.take()!;
  codec.append(big(2));
  const b = codec.take()!;
  assert.ok(a.buffer !== b.buffer);
  codec.giveBack(a);
  codec.append(big(3));
  const c = codec.take()!;
  assert.equal(c.buffer, a.buffer, "the given-back buffer is reused");
  assert.deepStrictEqual(framesIn(b).map((f) => codec.decode(f)), [big(2)]);
  assert.deepStrictEqual(framesIn(c).map((f) => codec.decode(f)), [big(3)]);
  // encode() hands out a copy of its own and keeps no bytes pending.
  const d = codec.encode(big(4));
  assert.ok(d.buffer !== b.buffer && d.buffer !== c.buffer);
  assert.deepStrictEqual(codec.decode(d.subarray(4)), big(4));
  assert.equal(codec.take(), undefined);
});
