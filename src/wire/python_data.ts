/**
 * The Python values JavaScript has no type of its own for, as a server
 * keeps them so that each goes back to Python as it came: a tuple (an
 * array marked as one), a float with an integral value, a frozenset, a
 * bytearray, a datetime with its microseconds and its tzinfo (or none),
 * and the values of other Python types, kept inert as they were named and
 * called ({@linkcode PythonObject}). Each but the last is a subclass (or,
 * for the tuple, a mark) of the JavaScript value it stands for, so that
 * JavaScript code sees a number, an array, a `Set`, a `Uint8Array` or a
 * `Date`; MessagePack carries them as those.
 *
 * Here, below the codec, because the codec writes them and reads
 * {@linkcode PythonObject}; the pickle reader and writer (`python/`) make
 * and write them all.
 *
 * @module
 */

/** Most numbers a `range` expands to when iterated here (the default collection limit). */
const MAX_ITEMS = 1 << 22;

/** The mark of an array that is a Python tuple (a mark, not a subclass: it costs no allocation). */
const TUPLE: unique symbol = Symbol("Python tuple");

/**
 * Marks `items` (in place) as a Python tuple and returns it: a pickle
 * writes it as a tuple, where an unmarked array is a list (but in a dict
 * key or a set member, where Python takes no list).
 *
 * @example
 * ```ts
 * import { isTuple, tuple } from "@multiprocess/managers";
 *
 * const point = tuple([1, 2]);
 * console.log(isTuple(point), isTuple([1, 2])); // true false
 * ```
 */
export function tuple<T extends unknown[]>(items: T): T {
  (items as unknown as { [TUPLE]: true })[TUPLE] = true;
  return items;
}

/**
 * Whether `value` is an array marked as a Python tuple by
 * {@linkcode tuple}.
 *
 * @example
 * ```ts
 * import { isTuple } from "@multiprocess/managers";
 *
 * console.log(isTuple([])); // false
 * ```
 */
export function isTuple(value: unknown): boolean {
  return Array.isArray(value) && (value as { [TUPLE]?: true })[TUPLE] === true;
}

/**
 * A Python float whose value is integral (`2.0`, `-0.0`), kept apart from
 * the int `2`: a `Number` object, so arithmetic and `Number` methods work
 * on it (`Number(x) + 1`, `x.toFixed(1)`), but `typeof` is `"object"`. Other
 * floats are plain numbers: `1.5` cannot be mistaken for an int.
 *
 * @example
 * ```ts
 * import { PyFloat } from "@multiprocess/managers";
 *
 * const two = new PyFloat(2);
 * console.log(Number(two) + 1, two.toFixed(1)); // 3 "2.0"
 * ```
 */
export class PyFloat extends Number {}

/**
 * A Python `frozenset`: a `Set` that a pickle writes as a frozenset.
 *
 * @example
 * ```ts
 * import { PyFrozenSet } from "@multiprocess/managers";
 *
 * console.log(new PyFrozenSet([1, 2]).has(2)); // true
 * ```
 */
export class PyFrozenSet<T = unknown> extends Set<T> {}

/**
 * A Python `bytearray`: a `Uint8Array` that a pickle writes as a
 * bytearray (a plain `Uint8Array` is `bytes`).
 *
 * @example
 * ```ts
 * import { PyByteArray } from "@multiprocess/managers";
 *
 * console.log(new PyByteArray([1, 2]).length); // 2
 * ```
 */
export class PyByteArray extends Uint8Array {
  /** Slices and views are plain `Uint8Array`s. */
  static get [Symbol.species](): Uint8ArrayConstructor {
    return Uint8Array;
  }
}

/**
 * A value of a Python type this library does not model, kept inert as the
 * pickle made it: the global it names (`module`, `name`), how it is made
 * from it (`"call"`: `type(*args)`; `"new"`: `type.__new__(type, *args)`;
 * `"ref"`: the global itself, such as a `defaultdict`'s factory), then the
 * items appended to it, the entries set in it and its state. Nothing is
 * imported, constructed or called for it on this side; sent to Python, it
 * is made there as it was, if its global is allowed (see `docs/python.md`).
 * Read-only.
 *
 * @example
 * ```ts
 * import { PythonObject } from "@multiprocess/managers";
 *
 * const price = new PythonObject("decimal", "Decimal", { args: ["1.50"] });
 * console.log(price.type, price.args); // decimal.Decimal [ "1.50" ]
 * ```
 */
export class PythonObject {
  /** The module of the global. */
  readonly module: string;
  /** The global's (qualified) name in its module. */
  readonly name: string;
  /** How it is made from its global. */
  readonly form: "call" | "new" | "ref";
  /** The arguments it is made with. */
  readonly args: readonly unknown[];
  /** Items appended to it once made (a `deque`'s). */
  readonly items: readonly unknown[];
  /** `[key, value]` entries set in it once made (an `OrderedDict`'s). */
  readonly entries: readonly (readonly [unknown, unknown])[];
  /** The state it is given last (`__setstate__`), or `undefined` for none. */
  readonly state: unknown;

  /** The value made from `module.name`. */
  constructor(module: string, name: string, parts: {
    readonly form?: "call" | "new" | "ref";
    readonly args?: readonly unknown[];
    readonly items?: readonly unknown[];
    readonly entries?: readonly (readonly [unknown, unknown])[];
    readonly state?: unknown;
  } = {}) {
    if (typeof module !== "string" || typeof name !== "string" || !module || !name) {
      throw new TypeError("A PythonObject needs the module and the name of its global");
    }
    const form = parts.form ?? "call";
    if (form !== "call" && form !== "new" && form !== "ref") {
      throw new TypeError(`A PythonObject is made by "call", "new" or "ref", not ${String(form)}`);
    }
    this.module = module;
    this.name = name;
    this.form = form;
    this.args = Object.freeze(tuple([...(parts.args ?? [])]));
    this.items = Object.freeze([...(parts.items ?? [])]);
    this.entries = Object.freeze((parts.entries ?? []).map((entry) => {
      if (!Array.isArray(entry) || entry.length !== 2) {
        throw new TypeError("A PythonObject's entries are [key, value] pairs");
      }
      return Object.freeze([entry[0], entry[1]] as const);
    }));
    this.state = parts.state;
    Object.freeze(this);
  }

  /** `module.name`, as Python names the global. */
  get type(): string {
    return `${this.module}.${this.name}`;
  }

  /**
   * Its items as Python iterates them, for the few types that are
   * sequences or mappings: a `range`'s numbers (at most 2^22 of them), a
   * `deque`'s items, the keys of an `OrderedDict`, `defaultdict` or
   * `Counter`. Any other type is not iterable here (a TypeError).
   */
  *[Symbol.iterator](): Generator<unknown, void, undefined> {
    switch (this.type) {
      case "builtins.range": {
        const [start, stop, step = 1] = this.args.length === 1 ? [0, this.args[0]] : this.args;
        if (![start, stop, step].every(Number.isSafeInteger) || step === 0) {
          throw new TypeError("A range of values that are not (small) integers cannot be iterated");
        }
        const [first, end, by] = [start, stop, step] as number[];
        const count = Math.max(0, Math.ceil((end! - first!) / by!));
        if (count > MAX_ITEMS) {
          throw new RangeError(
            `A range of ${count} items is too long to expand (at most ${MAX_ITEMS})`,
          );
        }
        for (let i = 0; i < count; i++) yield first! + i * by!;
        return;
      }
      case "collections.deque":
        yield* this.items;
        return;
      case "collections.OrderedDict":
      case "collections.defaultdict":
        for (const [key] of this.entries) yield key;
        return;
      case "collections.Counter": {
        const counts = this.args[0];
        if (counts instanceof Map) yield* counts.keys();
        else if (counts !== null && typeof counts === "object") yield* Object.keys(counts);
        for (const [key] of this.entries) yield key;
        return;
      }
    }
    throw new TypeError(`'${this.type}' object is not iterable here`);
  }

  /** A short description: `decimal.Decimal('1.50')`. */
  toString(): string {
    const shown = this.args.map((arg) => typeof arg === "string" ? `'${arg}'` : String(arg));
    return this.form === "ref" ? this.type : `${this.type}(${shown.join(", ")})`;
  }
}

/**
 * The UTC offset of a Python tzinfo, in microseconds, when it is a fixed
 * `datetime.timezone`; else undefined.
 */
export function utcOffset(tzinfo: unknown): number | undefined {
  if (
    !(tzinfo instanceof PythonObject) || tzinfo.type !== "datetime.timezone" ||
    tzinfo.form !== "call"
  ) {
    return undefined;
  }
  const delta = tzinfo.args[0];
  if (
    !(delta instanceof PythonObject) || delta.type !== "datetime.timedelta" ||
    delta.form !== "call"
  ) {
    return undefined;
  }
  const [days = 0, seconds = 0, micro = 0] = delta.args;
  if (![days, seconds, micro].every(Number.isSafeInteger)) return undefined;
  return (days as number) * 86_400_000_000 + (seconds as number) * 1_000_000 + (micro as number);
}

/**
 * A Python `datetime.datetime`, naive or aware, to the microsecond: a
 * `Date` (at millisecond precision; a naive one as if in UTC, for a JavaScript
 * `Date` has no such thing) that keeps Python's fields and tzinfo, so
 * a pickle writes it back exactly as it came.
 *
 * @example
 * ```ts
 * import { PyDatetime } from "@multiprocess/managers";
 *
 * // datetime(2024, 1, 2, 3, 4, 5, 123456): naive
 * const naive = PyDatetime.fromFields(2024, 1, 2, 3, 4, 5, 123456);
 * console.log(naive.naive, naive.microsecond, naive.toISOString()); // true 123456 2024-01-02T03:04:05.123Z
 * ```
 */
export class PyDatetime extends Date {
  /** Python's 10 bytes of state: year (2), month (with `fold` as its top bit), day, hour, minute, second, microsecond (3). */
  readonly state: Uint8Array;
  /** Its tzinfo (a `datetime.timezone` as a {@linkcode PythonObject}), or null when naive. */
  readonly tzinfo: unknown;

  /** The datetime of Python's pickled `state` and `tzinfo`. */
  constructor(state: Uint8Array, tzinfo: unknown = null) {
    if (!(state instanceof Uint8Array) || state.length !== 10) {
      throw new TypeError("A datetime's state is 10 bytes");
    }
    const [y1, y2, m, day, hour, minute, second, u1, u2, u3] = state as unknown as number[];
    const month = m! & 0x7f;
    const micro = u1! * 65536 + u2! * 256 + u3!;
    if (
      month < 1 || month > 12 || day! < 1 || day! > 31 || hour! > 23 || minute! > 59 ||
      second! > 59 || micro > 999_999
    ) {
      throw new TypeError("A datetime's state holds a field out of range");
    }
    const fields = new Date(0);
    fields.setUTCFullYear(y1! * 256 + y2!, month - 1, day!);
    fields.setUTCHours(hour!, minute!, second!, Math.floor(micro / 1000));
    const offset = utcOffset(tzinfo);
    super(fields.getTime() - Math.floor((offset ?? 0) / 1000));
    this.state = state.slice();
    this.tzinfo = tzinfo ?? null;
  }

  /** A naive datetime of these fields (month 1–12). */
  static fromFields(
    year: number,
    month: number,
    day: number,
    hour = 0,
    minute = 0,
    second = 0,
    microsecond = 0,
  ): PyDatetime {
    return new PyDatetime(
      Uint8Array.of(
        year >> 8,
        year & 0xff,
        month,
        day,
        hour,
        minute,
        second,
        microsecond >> 16,
        (microsecond >> 8) & 0xff,
        microsecond & 0xff,
      ),
    );
  }

  /** Whether it has no tzinfo. */
  get naive(): boolean {
    return this.tzinfo === null;
  }

  /** Its microsecond field, 0–999999. */
  get microsecond(): number {
    const s = this.state;
    return s[7]! * 65536 + s[8]! * 256 + s[9]!;
  }
}
