import assert from "node:assert/strict";
import { Codec, type CodecPeer } from "../src/codec.ts";

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
