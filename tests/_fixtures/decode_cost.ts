/**
 * Decodes worst-case MessagePack messages (the smallest encodings of each
 * kind of value that allocates) and measures what each decoded value holds
 * on the heap after forced collections. Run with `--v8-flags=--expose-gc`;
 * prints one JSON line per message: its name, size, whether it was
 * refused, and the heap it took.
 */
import { Codec, type CodecPeer } from "../../src/wire/codec.ts";

const peer: CodecPeer = {
  encodeToken: () => {
    throw new TypeError("no tokens");
  },
  decodeToken: () => null,
};
const codec = new Codec(peer, { maxFrameSize: 1 << 30 });

/** About `target` bytes: an array32 of copies of `item(i)`. */
function message(item: (i: number) => number[], target: number): Uint8Array {
  const items: number[][] = [];
  let size = 5;
  for (let i = 0; size < target; i++) {
    const bytes = item(i);
    items.push(bytes);
    size += bytes.length;
  }
  const out = new Uint8Array(size);
  out[0] = 0xdd;
  new DataView(out.buffer).setUint32(1, items.length);
  let at = 5;
  for (const bytes of items) {
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

const ascii = (n: number, i = 0): number[] =>
  Array.from({ length: n }, (_, j) => 0x61 + ((i + j * 7) % 26));
const fixstr = (n: number, i = 0): number[] => [0xa0 + n, ...ascii(n, i)];
/** A 3-letter key, different for each `i` below 17,576. */
const uniqueKey = (i: number): number[] => [
  0xa3,
  0x61 + (i % 26),
  0x61 + (Math.floor(i / 26) % 26),
  0x61 + (Math.floor(i / 676) % 26),
];
const manyKeys = (n: number): number[] => {
  const out = [0xde, n >> 8, n & 0xff];
  for (let j = 0; j < n; j++) out.push(...uniqueKey(j), 0xc0);
  return out;
};

/** Each kind: its name, and the bytes of its i-th copy. */
export const KINDS: [string, (i: number) => number[]][] = [
  ["empty maps", () => [0x80]],
  ["empty arrays", () => [0x90]],
  ["arrays of one nil", () => [0x91, 0xc0]],
  ["2-letter strings", (i) => fixstr(2, i)],
  ["20-letter strings", (i) => fixstr(20, i)],
  ["48-letter strings", (i) => [0xd9, 48, ...ascii(48, i)]],
  ["2-byte UTF-8 strings", () => [0xa2, 0xc3, 0xa9]],
  ["empty binaries", () => [0xc4, 0]],
  ["floats", () => [0xcb, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18]],
  ["uint32s past int32", () => [0xce, 0xff, 0xff, 0xff, 0xff]],
  ["bigints", () => [0xd4, 1, 0x31]],
  ["dates", () => [0xd6, 0xff, 0, 0, 0, 1]],
  ["empty Maps", () => [0xd4, 2, 0x90]],
  ["empty Sets", () => [0xd4, 3, 0x90]],
  [
    "Maps of 8 entries",
    () => [0xc7, 19, 2, 0xdc, 0, 16, ...Array.from({ length: 16 }, (_, j) => j)],
  ],
  ["Sets of 8 items", () => [0xc7, 9, 3, 0x98, 0, 1, 2, 3, 4, 5, 6, 7]],
  ["typed arrays", () => [0xc7, 2, 4, 0, 0]],
  ["maps {1: nil}", () => [0x81, 0x01, 0xc0]],
  ["maps {1000: nil}", () => [0x81, 0xcd, 0x03, 0xe8, 0xc0]],
  ['maps {"1023": nil}', () => [0x81, 0xa4, 0x31, 0x30, 0x32, 0x33, 0xc0]],
  [
    "maps {0: nil, 1000: nil, 2000: nil}",
    () => [0x83, 0, 0xc0, 0xcd, 3, 0xe8, 0xc0, 0xcd, 7, 0xd0, 0xc0],
  ],
  ["maps of one new key each", (i) => [0x81, ...uniqueKey(i), 0xc0]],
  ["maps of 20 keys", () => manyKeys(20)],
  ["maps of 200 keys", () => manyKeys(200)],
];

/** Ordinary data: never refused. */
export const ORDINARY: [string, (i: number) => number[]][] = [
  ["records {id, name, score}", (i) => [
    0x83,
    ...fixstr(2, 0),
    0xcd,
    (i >> 8) & 0xff,
    i & 0xff,
    ...fixstr(4, 1),
    ...fixstr(8, i),
    ...fixstr(5, 2),
    0xcb,
    0x3f,
    0xf8,
    0,
    0,
    0,
    0,
    0,
    0,
  ]],
  ["small ints", (i) => [i & 0x7f]],
  ["10-letter strings", (i) => fixstr(10, i)],
  ["dicts {0..9: int}", () => [0x8a, ...Array.from({ length: 10 }, (_, j) => [j, j]).flat()]],
];

if (import.meta.main) {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("Run with --v8-flags=--expose-gc");
  const target = Number(Deno.args[0] ?? 262_144);
  for (const [name, item] of [...KINDS, ...ORDINARY]) {
    const bytes = message(item, target);
    gc();
    gc();
    const before = Deno.memoryUsage().heapUsed;
    let kept: unknown;
    let refused: string | null = null;
    try {
      kept = codec.decode(bytes, true);
    } catch (error) {
      refused = (error as Error).message;
    }
    gc();
    gc();
    const grew = Deno.memoryUsage().heapUsed - before;
    console.log(
      JSON.stringify({ name, size: bytes.length, refused, grew, kept: kept !== undefined }),
    );
    kept = undefined;
  }
}
