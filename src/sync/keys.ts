/**
 * Keys as Python compares them, for the shared dict and set of every
 * client: {@linkcode hashKey} gives the `Map` key a value is stored
 * under, the same for values Python holds equal (`1 == 1.0 == True ==
 * Fraction(1) == Decimal("1.0")`, tuples and arrays item by item, bytes by
 * content, frozensets and `Set`s whatever their order, datetimes by
 * instant when aware and by their fields when naive), and refuses what
 * Python cannot hash. {@linkcode pythonEquals} is Python's `==` for the
 * values that travel, for a list's `index()`, `count()` and `remove()`.
 *
 * A string is its own key and a number its own (normalized) key, so the
 * common keys cost nothing; other keys are strings that start with a NUL
 * and spell the value out, type by type, so that no two unequal values
 * share one (a string key that itself starts with a NUL is spelled out
 * too).
 *
 * @module
 */

import { BaseProxy } from "../objects/proxy.ts";
import {
  isTuple,
  PyByteArray,
  PyDatetime,
  PyFloat,
  PyFrozenSet,
  PythonObject,
  tuple,
  utcOffset,
} from "../wire/python_data.ts";

/**
 * The Python types that travel as PythonObjects and cannot be hashed, by
 * the name Python's `TypeError: unhashable type` gives them.
 */
export const UNHASHABLE_TYPES: Readonly<Record<string, string>> = {
  "collections.deque": "collections.deque",
  "collections.OrderedDict": "collections.OrderedDict",
  "collections.defaultdict": "collections.defaultdict",
  "collections.Counter": "Counter",
  "array.array": "array.array",
};

/** What a key that is not a plain string or number starts with. */
const SPELLED = "\u0000";
/** Decimal exponents beyond this are compared as written, not by value (a bound on the cost). */
const MAX_EXPONENT = 1000;

/**
 * The key `value` is stored under in a dict or set: equal for values
 * Python holds equal. Throws a TypeError for a value Python cannot hash
 * (a plain object or a `Map`, Python's dict) and for one inside an array
 * or `Set`. A NaN, and an object of no known kind, is a key of its own
 * that nothing else finds, as in Python, where only the same object would.
 */
export function hashKey(value: unknown): unknown {
  // The common keys first, small enough to be inlined where they are used.
  if (typeof value === "string") return value.charCodeAt(0) === 0 ? SPELLED + spell(value) : value;
  if (typeof value === "number" && Number.isSafeInteger(value) && value !== 0) return value;
  return otherKey(value);
}

function otherKey(value: unknown): unknown {
  switch (typeof value) {
    case "string":
      return value.charCodeAt(0) === 0 ? SPELLED + spell(value) : value;
    case "number":
      return numberKey(value);
    case "boolean":
      return value ? 1 : 0;
    case "bigint":
      return bigintKey(value);
    case "undefined":
      return null;
    case "object":
      if (value === null) return null;
      break;
    default:
      return value;
  }
  const number = numericKey(value);
  if (number !== undefined) return typeof number === "string" ? SPELLED + number : number;
  if (unhashable(value)) throw unhashableError(value);
  // By identity: nothing sent over the wire finds it again, as in Python.
  if (!known(value)) return value;
  return SPELLED + spell(value);
}

/**
 * The object a dict or set keeps for the key `value`, as Python holds it:
 * an array becomes a tuple and a `Set` a frozenset (copies, all the way
 * down), so that a CPython client reads a Deno client's key as the tuple
 * or frozenset it stands for. Anything else is kept as it is.
 */
export function keyObject(value: unknown): unknown {
  try {
    return copyAsKey(value, new Set());
  } catch (error) {
    // A value that contains itself (only JavaScript can make one) is kept as it is.
    if (error === CYCLE) return value;
    throw error;
  }
}

const CYCLE = Symbol("cycle");

function copyAsKey(value: unknown, path: Set<object>): unknown {
  if (typeof value !== "object" || value === null) return value;
  const nested = Array.isArray(value) ||
    (value instanceof Set && !(value instanceof PyFrozenSet));
  if (!nested) return value;
  if (path.has(value)) throw CYCLE;
  path.add(value);
  const items = [...(value as Iterable<unknown>)].map((item) => copyAsKey(item, path));
  path.delete(value);
  return Array.isArray(value) ? tuple(items) : new PyFrozenSet(items);
}

/**
 * The TypeError for a key Python cannot hash: Python's own words, with
 * what to use instead.
 */
export function unhashableError(value: unknown): TypeError {
  const [kind, what] = value instanceof PythonObject
    ? [UNHASHABLE_TYPES[value.type], `a PythonObject of ${value.type}`]
    : value instanceof PyByteArray
    ? ["bytearray", "a PyByteArray"]
    : ["dict", value instanceof Map ? "a Map" : "a plain object"];
  return new TypeError(
    `unhashable type: '${kind}' (${what} cannot be a dict key or set member; use a string, a number, an array or a Set)`,
  );
}

/** Python's `==` for the values that travel (identity first, as Python's containers do). */
export function pythonEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || a === undefined) return b === null || b === undefined;
  if (typeof a === "string" || typeof b === "string") return false;
  const x = numericKey(a);
  if (x !== undefined) {
    const y = numericKey(b);
    return y !== undefined && x === y;
  }
  if (typeof a !== "object" || typeof b !== "object" || b === null) return false;
  if (Array.isArray(a)) {
    return Array.isArray(b) && isTuple(a) === isTuple(b) && a.length === b.length &&
      a.every((item, i) => pythonEquals(item, b[i]));
  }
  if (a instanceof Uint8Array) {
    return b instanceof Uint8Array && a.length === b.length && a.every((byte, i) => byte === b[i]);
  }
  if (a instanceof BaseProxy) return b instanceof BaseProxy && a._token.id === b._token.id;
  if (a instanceof Set) {
    if (!(b instanceof Set) || a.size !== b.size) return false;
    try {
      const keys = new Set([...b].map(hashKey));
      return [...a].every((item) => keys.has(hashKey(item)));
    } catch {
      return false;
    }
  }
  if (isDict(a)) {
    if (!isDict(b)) return false;
    const [x, y] = [dictEntries(a), dictEntries(b)];
    if (x.length !== y.length) return false;
    try {
      const found = new Map(y.map(([key, item]) => [hashKey(key), item]));
      return x.every(([key, item]) => {
        const k = hashKey(key);
        return found.has(k) && pythonEquals(item, found.get(k));
      });
    } catch {
      return false;
    }
  }
  if (a instanceof Date || a instanceof PythonObject) {
    return (b instanceof Date || b instanceof PythonObject) && spell(a) === spell(b);
  }
  return false;
}

/** Whether `value` is a dict: a plain object or a `Map`. */
function isDict(value: object): boolean {
  if (value instanceof Map) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function dictEntries(value: object): [unknown, unknown][] {
  return value instanceof Map ? [...value] : Object.entries(value);
}

/** Kinds {@linkcode spell} spells out; anything else is unhashable or kept by identity. */
function known(value: object): boolean {
  return Array.isArray(value) || value instanceof Uint8Array || value instanceof Set ||
    value instanceof Date || value instanceof PythonObject || value instanceof BaseProxy;
}

function unhashable(value: object): boolean {
  return isDict(value) || value instanceof PyByteArray ||
    (value instanceof PythonObject && value.type in UNHASHABLE_TYPES);
}

/** A number's key: integers as integers (big ones as bigints), NaN a key of its own. */
function numberKey(value: number): unknown {
  if (Number.isSafeInteger(value)) return value === 0 ? 0 : value;
  if (Number.isInteger(value)) return BigInt(value);
  return value === value ? value : {};
}

function bigintKey(value: bigint): number | bigint {
  return value >= -MAX_SAFE && value <= MAX_SAFE ? Number(value) : value;
}
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The key of a number-like value (a number, a bigint, a bool, a PyFloat,
 * or a complex, Fraction or Decimal kept as a PythonObject): a number or a
 * bigint when it equals one, else a string spelling its exact value (or
 * an object of its own for a NaN); undefined for anything else.
 */
function numericKey(value: unknown): unknown {
  switch (typeof value) {
    case "number":
      return numberKey(value);
    case "bigint":
      return bigintKey(value);
    case "boolean":
      return value ? 1 : 0;
    case "object":
      break;
    default:
      return undefined;
  }
  if (value instanceof PyFloat) return numberKey(value.valueOf());
  if (!(value instanceof PythonObject) || value.form !== "call") return undefined;
  switch (value.type) {
    case "builtins.complex": {
      const [real = 0, imaginary = 0] = value.args;
      const re = numericKey(real);
      const im = numericKey(imaginary);
      if (re === undefined || im === undefined) return undefined;
      return im === 0 ? re : `c${spellNumber(re)}${spellNumber(im)}`;
    }
    case "fractions.Fraction": {
      const [top, bottom = 1] = value.args;
      if (isInteger(top) && isInteger(bottom) && BigInt(bottom) !== 0n) {
        return rationalKey(BigInt(top), BigInt(bottom));
      }
      if (typeof top !== "string") return undefined;
      // Older Pythons pickle a Fraction as its text: "3/4", or a decimal.
      const ratio = /^\s*([+-]?\d{1,1000})\s*\/\s*(\d{1,1000})\s*$/.exec(top);
      if (ratio === null) return decimalKey(top);
      return BigInt(ratio[2]!) === 0n
        ? undefined
        : rationalKey(BigInt(ratio[1]!), BigInt(ratio[2]!));
    }
    case "decimal.Decimal":
      return typeof value.args[0] === "string" ? decimalKey(value.args[0]) : undefined;
  }
  return undefined;
}

function isInteger(value: unknown): value is number | bigint {
  return typeof value === "bigint" || Number.isSafeInteger(value);
}

/** The key of the exact rational `top / bottom`. */
function rationalKey(top: bigint, bottom: bigint): unknown {
  if (bottom < 0n) [top, bottom] = [-top, -bottom];
  const divisor = gcd(top < 0n ? -top : top, bottom);
  if (divisor > 1n) [top, bottom] = [top / divisor, bottom / divisor];
  if (bottom === 1n) return bigintKey(top);
  // A power of two below, and few enough bits above: exactly a float, and equal to it in Python.
  if ((bottom & (bottom - 1n)) === 0n && bottom.toString(2).length <= 1000) {
    const magnitude = top < 0n ? -top : top;
    if (magnitude <= MAX_SAFE) return Number(top) / Number(bottom);
  }
  return `q${top}/${bottom};`;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** The key of a Decimal's text (`-1.50E+3`). */
function decimalKey(text: string): unknown {
  const trimmed = text.trim().replaceAll("_", "");
  if (/^[+-]?(inf|infinity)$/i.test(trimmed)) return trimmed.startsWith("-") ? -Infinity : Infinity;
  if (/^[+-]?s?nan\d*$/i.test(trimmed)) return {};
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(trimmed);
  if (match === null || (match[2] === "" && !match[3])) return undefined;
  const [, sign, whole, fraction = "", exponentText = "0"] = match;
  const digits = `${whole}${fraction}` || "0";
  const exponent = Number(exponentText) - fraction.length;
  if (Math.abs(exponent) > MAX_EXPONENT || digits.length > MAX_EXPONENT) return undefined;
  let top = BigInt(`${sign}${digits}`);
  let bottom = 1n;
  if (exponent >= 0) top *= 10n ** BigInt(exponent);
  else bottom = 10n ** BigInt(-exponent);
  return rationalKey(top, bottom);
}

function spellNumber(key: unknown): string {
  if (typeof key === "number" || typeof key === "bigint") return `n${key};`;
  if (typeof key === "string") return key;
  return `x${++unique};`; // a NaN: equal to nothing
}
let unique = 0;

/**
 * `value` spelled out as a string that no unequal value shares: a letter
 * for its kind, then its parts (each self-delimiting). `inside` is true
 * within a PythonObject's parts, where dicts are data, not keys.
 */
function spell(value: unknown, inside = false): string {
  switch (typeof value) {
    case "string":
      return `s${value.length}:${value}`;
    case "undefined":
      return "z";
    case "object":
      if (value === null) return "z";
      break;
    case "function":
    case "symbol":
      return `u${++unique};`;
  }
  const number = numericKey(value);
  if (number !== undefined) return spellNumber(number);
  const object = value as object;
  // A value that contains itself (only JavaScript can make one) is equal only to itself.
  if (onPath.has(object)) return `c${identity(object)};`;
  onPath.add(object);
  try {
    return spellObject(object, inside);
  } finally {
    onPath.delete(object);
  }
}

/** The containers being spelled, outermost first: a value met again is a cycle. */
const onPath = new Set<object>();
const identities = new WeakMap<object, number>();

function identity(object: object): number {
  let id = identities.get(object);
  if (id === undefined) identities.set(object, id = ++unique);
  return id;
}

function spellObject(object: object, inside: boolean): string {
  if (!inside && unhashable(object)) throw unhashableError(object);
  if (Array.isArray(object)) {
    return `t${object.length}(${object.map((item) => spell(item, inside)).join("")})`;
  }
  if (object instanceof Uint8Array) {
    let text = "";
    for (let i = 0; i < object.length; i += 4096) {
      text += String.fromCharCode(...object.subarray(i, i + 4096));
    }
    return `b${object.length}:${text}`;
  }
  if (object instanceof Set) {
    const items = [...object].map((item) => spell(item, inside)).sort();
    return `f${items.length}(${items.join("")})`;
  }
  if (object instanceof Date) return spellDatetime(object);
  if (object instanceof BaseProxy) return `p${object._token.id};`;
  if (object instanceof PythonObject) {
    if (object.type === "uuid.UUID" && object.state !== null && typeof object.state === "object") {
      const int = (object.state as Record<string, unknown>).int ??
        (object.state instanceof Map ? object.state.get("int") : undefined);
      if (isInteger(int)) return `U${int};`;
    }
    return `o${spell(object.type)}${object.form[0]}${spell(object.args, true)}${
      spell(object.items, true)
    }${spell(object.entries, true)}${object.state === undefined ? "" : spell(object.state, true)};`;
  }
  if (isDict(object)) {
    const entries = dictEntries(object);
    return `m${entries.length}(${
      entries.map(([k, v]) => spell(k, true) + spell(v, true)).join("")
    })`;
  }
  return `u${++unique};`;
}

/** A datetime: an aware one by its instant, to the microsecond; a naive one by its fields. */
function spellDatetime(value: Date): string {
  if (!(value instanceof PyDatetime)) return `d${BigInt(value.getTime()) * 1000n};`;
  const state = value.state;
  const fields = [state[0]! * 256 + state[1]!, state[2]! & 0x7f, ...state.slice(3, 7)];
  const micro = value.microsecond;
  if (value.naive) return `D${fields.join("-")}.${micro};`;
  const offset = utcOffset(value.tzinfo);
  if (offset === undefined) {
    return `Z${fields.join("-")}.${micro}${spell(value.tzinfo, true)};`;
  }
  const [year, month, day, hour, minute, second] = fields as number[];
  const at = new Date(0);
  at.setUTCFullYear(year!, month! - 1, day!);
  at.setUTCHours(hour!, minute!, second!, 0);
  return `d${BigInt(at.getTime()) * 1000n + BigInt(micro - offset)};`;
}
