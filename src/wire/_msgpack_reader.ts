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

/** What a message may contain. */
export interface DecodeLimits {
  /** Deepest nesting of arrays, maps and container extensions. */
  readonly maxDepth: number;
  /** Most items in one array, map (pairs count twice), Map or Set. */
  readonly maxLength: number;
}

/**
 * What decoding costs in memory, charged per value that allocates, in
 * bytes: V8's sizes on 64-bit, measured after forced collections and
 * rounded up (`tests/linear_cost_test.ts` measures each kind again). An
 * empty array is 32 bytes, its elements 16 plus 8 per item; an object 56
 * with room for four properties, then (past about 16, in a dictionary) 45
 * to 62 per property; a property key new at its place costs V8 a hidden
 * class (140); a string 16 plus its characters (one byte each when ASCII,
 * else two; one-character ASCII strings are shared); a number that is not
 * a 32-bit integer 16; a Uint8Array copied out of a read buffer 208; a Map
 * or Set about 190, and 24 to 36 per entry. The encoder charges the same,
 * so that a value the decoder would refuse fails at the sender.
 */
export const DECODE_COST = {
  array: 48,
  arrayItem: 8,
  object: 64,
  /** Each property past the four an object holds in itself. */
  objectKey: 64,
  /** A property key not yet seen at its place (after the same keys before it) in this message. */
  shape: 160,
  /** An object V8 keeps as a dictionary: past 1,536 keys tried after the same keys before them. */
  dictionary: 160,
  string: 24,
  heapNumber: 16,
  binary: 216,
  /** Elements (array-index keys) held sparse, in a dictionary, and each of them. */
  sparseElements: 192,
  sparseElement: 96,
  mapEntry: 40,
  setEntry: 32,
} as const;

/** Strings up to this many bytes are tried as ASCII by hand before TextDecoder. */
export const SHORT_STRING = 48;
/** Strings shorter than this are flat when built by appending (V8's cons-string minimum). */
const FLAT_CONCAT = 13;

/** What a string of `bytes` UTF-8 bytes costs; `ascii` when every byte is. */
export function stringCost(bytes: number, ascii: boolean): number {
  if (ascii && bytes <= SHORT_STRING) return bytes <= 1 ? 0 : DECODE_COST.string + bytes;
  return DECODE_COST.string + 2 * bytes;
}

/** The array index `key` names as a property (V8 keeps those as elements), or -1. */
function arrayIndex(key: string | number): number {
  if (typeof key === "number") {
    return Number.isInteger(key) && key >= 0 && key < 4294967295 ? key : -1;
  }
  const first = key.charCodeAt(0);
  if (!(first >= 0x30 && first <= 0x39) || key.length > 10) return -1;
  if (!/^(?:0|[1-9]\d*)$/.test(key)) return -1;
  const index = Number(key);
  return index < 4294967295 ? index : -1;
}

/**
 * What the property keys of one message's objects cost: a key's string
 * the first time it appears, a hidden class for each key new at its place
 * among the first sixteen of an object (V8 keeps larger objects as
 * dictionaries), and for array-index keys the elements V8 allocates, which
 * grow with the largest index: `{1000: null}` takes 12 KiB. Reset for each
 * message; the reader and the encoder both use it.
 */
export class KeyCosts {
  readonly #seen = new Set<string>();
  /** For each shape (0: the empty object), the shapes adding a key leads to. */
  #transitions: (Map<string, number> | undefined)[] = [];
  #shapes = 0;

  /** Forgets the previous message's keys. */
  reset(): void {
    if (this.#shapes === 0 && this.#seen.size === 0) return;
    this.#seen.clear();
    this.#transitions = [];
    this.#shapes = 0;
  }

  /** The keys of a new object. */
  object(): ObjectKeys {
    return new ObjectKeys(this);
  }

  /** What `name`'s string costs: `cost` the first time in this message, then nothing. */
  name(name: string, cost: number): number {
    if (this.#seen.has(name)) return 0;
    this.#seen.add(name);
    return cost;
  }

  /**
   * The shape after `name` is added to one of shape `shape` (0: empty);
   * negative when new, 0 when V8 would keep the object as a dictionary
   * (the shape has had too many different keys added).
   */
  transition(shape: number, name: string): number {
    let next = this.#transitions[shape];
    if (next === undefined) this.#transitions[shape] = next = new Map();
    const known = next.get(name);
    if (known !== undefined) return known;
    if (next.size >= CROWDED) return 0;
    const created = ++this.#shapes;
    next.set(name, created);
    return -created;
  }
}

/**
 * How many different keys may follow the same keys before V8 stops making
 * hidden classes for them (its limit is 1,536; lower to be safe).
 */
const CROWDED = 1024;

/** The keys of one object, as V8 stores them: what each one added costs. */
export class ObjectKeys {
  readonly #costs: KeyCosts;
  #shape = 0;
  #named = 0;
  #capacity = 0;
  #sparse = false;

  /** The keys of an object in the message `costs` counts. */
  constructor(costs: KeyCosts) {
    this.#costs = costs;
  }

  /** What adding `key` costs; `keyCost` is what its string cost to read. */
  add(key: string | number, keyCost: number): number {
    const index = arrayIndex(key);
    if (index >= 0) return this.#element(index);
    const name = typeof key === "string" ? key : String(key);
    const named = ++this.#named;
    let cost = named > 4 ? DECODE_COST.objectKey : 0;
    if (named <= 16 && this.#shape >= 0) {
      const next = this.#costs.transition(this.#shape, name);
      // A known transition: the same key at the same place, its string already charged.
      if (next > 0) {
        this.#shape = next;
        return cost;
      }
      if (next < 0) {
        cost += DECODE_COST.shape;
        this.#shape = -next;
      } else {
        // A dictionary from here on: each key is charged as past the sixteenth.
        cost += DECODE_COST.dictionary + (named > 4 ? 0 : DECODE_COST.objectKey);
        this.#named = 16;
        this.#shape = -1;
      }
    }
    return cost + this.#costs.name(
      name,
      typeof key === "string" ? keyCost : keyCost + stringCost(name.length, true),
    );
  }

  /** An array-index key: V8 grows fast elements to 1.5 times the index, or goes sparse. */
  #element(index: number): number {
    if (this.#sparse) return DECODE_COST.sparseElement;
    const capacity = this.#capacity;
    if (index < capacity) return 0;
    if (index - capacity >= 1024) {
      this.#sparse = true;
      return DECODE_COST.sparseElements + DECODE_COST.sparseElement;
    }
    const grown = index + 1 + ((index + 1) >> 1) + 16;
    this.#capacity = grown;
    return 8 * (grown - capacity) + (capacity === 0 ? 16 : 0);
  }
}

/** Decoding a message may allocate at most this many times its size... */
export const DECODE_EXPANSION = 16;
/** ...plus this much, so that small messages are never refused for it. */
export const DECODE_ALLOWANCE = 1 << 20;

/** The memory a message of `size` bytes may take once decoded. */
export function decodeBudget(size: number): number {
  return DECODE_EXPANSION * size + DECODE_ALLOWANCE;
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
const TWO_32 = 4294967296;

/** Decodes whole messages; one reader serves one connection, message after message. */
export class MsgpackReader {
  readonly #limits: DecodeLimits;
  readonly #extension: ExtensionDecoder;
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

  /** A reader that refuses messages beyond `limits` and hands extensions to `extension`. */
  constructor(limits: DecodeLimits, extension: ExtensionDecoder) {
    this.#limits = limits;
    this.#extension = extension;
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
      case 0xcb:
        at = this.#advance(8);
        this.charge(DECODE_COST.heapNumber);
        return view.getFloat64(at);
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
