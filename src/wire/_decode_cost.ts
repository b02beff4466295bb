/**
 * What decoding a message may cost in memory, and what each value costs:
 * the one model that the MessagePack reader charges as it reads, the
 * encoder charges before it sends, and the XML-RPC reader shares. Its
 * figures are V8's, measured (`tests/_fixtures/decode_cost.ts`).
 *
 * @module
 */

/**
 * What decoding costs in memory, charged per value that allocates, in
 * bytes: V8's sizes on 64-bit, measured after forced collections and
 * rounded up (`tests/linear_cost_test.ts` measures each kind again, through
 * `tests/_fixtures/decode_cost.ts`). An
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
