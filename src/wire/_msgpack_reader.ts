/**
 * A MessagePack reader that checks limits as it decodes, in one pass:
 * nesting deeper than a limit, and declared lengths the message cannot
 * hold (a 5-byte header may claim four billion items), are refused before
 * anything is allocated for them. Internal: `codec.ts` decides what the
 * extension types become; this only reads bytes.
 *
 * Binary values come back as views into the message, not copies.
 *
 * @module
 */

import {
  DECODE_COST,
  DECODE_EXPANSION,
  decodeBudget,
  KeyCosts,
  SHORT_STRING,
  stringCost,
} from "./_decode_cost.ts";

/** What a message may contain. */
export interface DecodeLimits {
  /** Deepest nesting of arrays, maps and container extensions. */
  readonly maxDepth: number;
  /** Most items in one array, map (pairs count twice), Map or Set. */
  readonly maxLength: number;
}

/** The message broke MessagePack's rules or a limit; the message says which. */
export class MsgpackError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "MsgpackError";
  }
}

/**
 * Turns an extension value into a JavaScript value. `size` bytes of data
 * start at the reader's position; the decoder must consume exactly them,
 * with {@linkcode MsgpackReader.take} or {@linkcode MsgpackReader.nested}.
 */
export type ExtensionDecoder = (
  reader: MsgpackReader,
  type: number,
  size: number,
  depth: number,
) => unknown;

const utf8 = new TextDecoder();
/** Strings shorter than this are flat when built by appending (V8's cons-string minimum). */
const FLAT_CONCAT = 13;
const TWO_32 = 4294967296;

/** Decodes whole messages; one reader serves one connection, message after message. */
export class MsgpackReader {
  readonly #limits: DecodeLimits;
  readonly #extension: ExtensionDecoder;
  readonly #integralFloat: ((value: number) => unknown) | undefined;
  #bytes: Uint8Array = new Uint8Array(0);
  #view: DataView = new DataView(this.#bytes.buffer);
  #pos = 0;
  #end = 0;
  /** The message's length in bytes. */
  #size = 0;
  #borrowed = false;
  #budget = 0;
  #spent = 0;
  readonly #keys = new KeyCosts();

  /**
   * A reader that refuses messages beyond `limits` and hands extensions to
   * `extension`; `integralFloat`, if given, makes what a float64 of
   * integral value (other than -0) is read as.
   */
  constructor(
    limits: DecodeLimits,
    extension: ExtensionDecoder,
    integralFloat?: (value: number) => unknown,
  ) {
    this.#limits = limits;
    this.#extension = extension;
    this.#integralFloat = integralFloat;
  }

  /**
   * The one value in `bytes`. Throws {@linkcode MsgpackError} (or the
   * extension decoder's error). `borrowed` says the bytes are a view into a
   * buffer that is written again after this call (a connection's read
   * buffer): binary values are copied out of it then, instead of being
   * views into it, and the buffer's views are kept for the next message.
   */
  decode(bytes: Uint8Array, borrowed = false): unknown {
    const buffer = bytes.buffer;
    if (buffer !== this.#bytes.buffer) {
      this.#bytes = new Uint8Array(buffer);
      this.#view = new DataView(buffer);
    }
    this.#borrowed = borrowed;
    this.#pos = bytes.byteOffset;
    this.#end = bytes.byteOffset + bytes.length;
    this.#size = bytes.length;
    this.#budget = decodeBudget(bytes.length);
    this.#spent = 0;
    this.#keys.reset();
    try {
      const value = this.#value(1);
      if (this.#pos !== this.#end) {
        throw new MsgpackError(`${this.#end - this.#pos} extra bytes after the message`);
      }
      return value;
    } finally {
      // Do not keep a message of its own alive.
      if (!borrowed) {
        this.#bytes = EMPTY;
        this.#view = EMPTY_VIEW;
      }
    }
  }

  /**
   * Counts `bytes` of memory the decoded value will take; past the budget
   * for this message (see {@linkcode decodeBudget}) the message is refused.
   */
  charge(bytes: number): void {
    this.#spent += bytes;
    if (this.#spent > this.#budget) {
      throw new MsgpackError(
        `decoding it would take more than ${DECODE_EXPANSION} times its ${this.#size} bytes in memory (many small containers: send typed arrays, or fewer and larger values)`,
      );
    }
  }

  /** The next `size` bytes of an extension's data, as a view. */
  take(size: number): Uint8Array {
    this.#need(size);
    const start = this.#pos;
    this.#pos = start + size;
    return this.#bytes.subarray(start, this.#pos);
  }

  /** One value spanning exactly the next `size` bytes (a container extension's data). */
  nested(size: number, depth: number): unknown {
    this.#need(size);
    this.#open(depth);
    const outer = this.#end;
    this.#end = this.#pos + size;
    const value = this.#value(depth + 1);
    if (this.#pos !== this.#end) {
      throw new MsgpackError("an extension's data is longer than its value");
    }
    this.#end = outer;
    return value;
  }

  #need(n: number): void {
    if (this.#pos + n > this.#end) {
      throw new MsgpackError("the message ends in the middle of a value");
    }
  }

  #open(depth: number): void {
    if (depth >= this.#limits.maxDepth) {
      throw new MsgpackError(
        `values nest deeper than the limit of ${this.#limits.maxDepth} levels (limits.maxDepth)`,
      );
    }
  }

  /** Checks a container of `items` values (pairs count twice) before it is built. */
  #items(items: number, depth: number): void {
    if (items > this.#limits.maxLength) {
      throw new MsgpackError(
        `a collection of ${items} items exceeds the limit of ${this.#limits.maxLength} (limits.maxLength)`,
      );
    }
    const left = this.#end - this.#pos;
    if (items > left) {
      throw new MsgpackError(`a collection declares ${items} items but only ${left} bytes follow`);
    }
    if (items > 0) this.#open(depth);
  }

  #value(depth: number): unknown {
    if (this.#pos >= this.#end) throw new MsgpackError("the message ends in the middle of a value");
    const head = this.#bytes[this.#pos++]!;
    if (head <= 0x7f) return head;
    if (head >= 0xe0) return head - 0x100;
    if (head <= 0x8f) return this.#map(head & 0x0f, depth);
    if (head <= 0x9f) return this.#array(head & 0x0f, depth);
    if (head <= 0xbf) return this.#string(head & 0x1f);
    const view = this.#view;
    let at: number;
    switch (head) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.#binary(this.#length(1));
      case 0xc5:
        return this.#binary(this.#length(2));
      case 0xc6:
        return this.#binary(this.#length(4));
      case 0xc7:
        return this.#ext(this.#length(1), depth);
      case 0xc8:
        return this.#ext(this.#length(2), depth);
      case 0xc9:
        return this.#ext(this.#length(4), depth);
      case 0xca:
        at = this.#advance(4);
        this.charge(DECODE_COST.heapNumber);
        return view.getFloat32(at);
      case 0xcb: {
        at = this.#advance(8);
        this.charge(DECODE_COST.heapNumber);
        const float = view.getFloat64(at);
        // A writer sends an integral value as a float64 only when it means a float (PyFloat).
        return this.#integralFloat !== undefined && Number.isSafeInteger(float) &&
            !Object.is(float, -0)
          ? this.#integralFloat(float)
          : float;
      }
      case 0xcc:
        at = this.#advance(1);
        return this.#bytes[at]!;
      case 0xcd:
        at = this.#advance(2);
        return view.getUint16(at);
      case 0xce:
        at = this.#advance(4);
        if (view.getUint32(at) > 0x7fffffff) this.charge(DECODE_COST.heapNumber);
        return view.getUint32(at);
      case 0xcf:
        // Exact up to 2^53; larger values round, as JSON numbers do.
        at = this.#advance(8);
        this.charge(DECODE_COST.heapNumber);
        return view.getUint32(at) * TWO_32 + view.getUint32(at + 4);
      case 0xd0:
        at = this.#advance(1);
        return view.getInt8(at);
      case 0xd1:
        at = this.#advance(2);
        return view.getInt16(at);
      case 0xd2:
        at = this.#advance(4);
        return view.getInt32(at);
      case 0xd3:
        at = this.#advance(8);
        this.charge(DECODE_COST.heapNumber);
        return view.getInt32(at) * TWO_32 + view.getUint32(at + 4);
      case 0xd4:
        return this.#ext(1, depth);
      case 0xd5:
        return this.#ext(2, depth);
      case 0xd6:
        return this.#ext(4, depth);
      case 0xd7:
        return this.#ext(8, depth);
      case 0xd8:
        return this.#ext(16, depth);
      case 0xd9:
        return this.#string(this.#length(1));
      case 0xda:
        return this.#string(this.#length(2));
      case 0xdb:
        return this.#string(this.#length(4));
      case 0xdc:
        return this.#array(this.#length(2), depth);
      case 0xdd:
        return this.#array(this.#length(4), depth);
      case 0xde:
        return this.#map(this.#length(2), depth);
      case 0xdf:
        return this.#map(this.#length(4), depth);
      default:
        throw new MsgpackError(`invalid MessagePack byte 0x${head.toString(16)}`);
    }
  }

  /** Moves past `n` bytes; returns where they start. */
  #advance(n: number): number {
    this.#need(n);
    const at = this.#pos;
    this.#pos = at + n;
    return at;
  }

  /** A big-endian unsigned length of `width` bytes. */
  #length(width: 1 | 2 | 4): number {
    const at = this.#advance(width);
    return width === 1
      ? this.#bytes[at]!
      : width === 2
      ? this.#view.getUint16(at)
      : this.#view.getUint32(at);
  }

  #string(size: number): string {
    const start = this.#advance(size);
    const bytes = this.#bytes;
    const end = start + size;
    if (size < FLAT_CONCAT) {
      // Below V8's cons-string length, appending characters builds one flat string.
      let out = "";
      let i = start;
      for (; i < end; i++) {
        const code = bytes[i]!;
        if (code >= 0x80) break;
        out += String.fromCharCode(code);
      }
      if (i === end) {
        if (size > 1) this.charge(DECODE_COST.string + size);
        return out;
      }
    } else if (size <= SHORT_STRING) {
      let i = start;
      while (i < end && bytes[i]! < 0x80) i++;
      if (i === end) {
        this.charge(DECODE_COST.string + size);
        // One flat string: built a character at a time, V8 would keep a chain of pieces.
        return String.fromCharCode.apply(null, bytes.subarray(start, end) as never);
      }
    }
    this.charge(stringCost(size, false));
    return utf8.decode(bytes.subarray(start, end));
  }

  #binary(size: number): Uint8Array {
    this.charge(DECODE_COST.binary);
    const bytes = this.take(size);
    return this.#borrowed ? bytes.slice() : bytes;
  }

  #array(length: number, depth: number): unknown[] {
    this.#items(length, depth);
    this.charge(DECODE_COST.array + DECODE_COST.arrayItem * length);
    const out = new Array<unknown>(length);
    for (let i = 0; i < length; i++) out[i] = this.#value(depth + 1);
    return out;
  }

  #map(size: number, depth: number): Record<string, unknown> {
    this.#items(size * 2, depth);
    this.charge(DECODE_COST.object);
    const out: Record<string, unknown> = {};
    const keys = size === 0 ? undefined : this.#keys.object();
    for (let i = 0; i < size; i++) {
      const spent = this.#spent;
      const key = this.#value(depth + 1);
      if (typeof key !== "string" && typeof key !== "number") {
        throw new MsgpackError(`a map key must be a string or a number, not ${describe(key)}`);
      }
      if (key === "__proto__") throw new MsgpackError('a map key "__proto__" is not allowed');
      // A key's string costs once per message (V8 keeps one copy of a property name).
      const keyCost = this.#spent - spent;
      this.#spent = spent;
      this.charge(keys!.add(key, keyCost));
      out[key] = this.#value(depth + 1);
    }
    return out;
  }

  #ext(size: number, depth: number): unknown {
    this.#need(1);
    const type = this.#view.getInt8(this.#pos++);
    this.#need(size);
    const start = this.#pos;
    const value = this.#extension(this, type, size, depth);
    if (this.#pos !== start + size) {
      throw new MsgpackError(`extension type ${type} was not read to its end`);
    }
    return value;
  }
}

const EMPTY = new Uint8Array(0);
const EMPTY_VIEW = new DataView(EMPTY.buffer);

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "binary data";
  return `a value of type ${typeof value}`;
}
