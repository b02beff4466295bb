/**
 * What every Python face shares: the face's shape, Python's exceptions,
 * and Python's argument conventions (positional or keyword, seconds,
 * integers, slices, negative indices). The faces themselves are in
 * `face_containers.ts` and `face_sync.ts`; `python_faces.ts` picks one.
 *
 * @module
 */

import type { PySlice } from "./python_values.ts";
import { isTuple, PyByteArray, PyFrozenSet, PythonObject } from "../wire/python_data.ts";
import { UNHASHABLE_TYPES } from "../sync/keys.ts";

/** Keyword arguments of a CPython call. */
export type Keywords = Readonly<Record<string, unknown>>;

/** How CPython's proxies call one kind of standard object. */
export interface PythonFace {
  /** The methods CPython's proxy may call. */
  readonly exposed: readonly string[];
  /** CPython's proxy type for it, in `multiprocessing.managers` (`DictProxy`, ...). */
  readonly proxyType: string;
  /** Python's `str()` of it, when not the generic one. */
  repr?(object: never): string;
  /** Python method → the JavaScript method whose result is shared (`__iter__` → `iterate`). */
  readonly shares?: Readonly<Record<string, string>>;
  /** Calls `method` as CPython means it. */
  call(object: never, method: string, args: unknown[], kwds: Keywords): unknown;
}

/** A Python exception: `name` is its class, `args` what Python shows. */
export function pythonError(name: string, ...args: unknown[]): Error {
  const error = new Error(args.length === 1 ? String(args[0]) : args.map(String).join(", "));
  error.name = name;
  Object.defineProperty(error, "args", { value: args, enumerable: false });
  return error;
}

/** The AttributeError CPython raises for a method its proxy does not expose. */
export function notExposed(kind: string, method: string): never {
  throw pythonError("AttributeError", `'${kind}' object has no exposed method '${method}'`);
}

/** Seconds (Python) to milliseconds (ours); `None` is no timeout. */
export function ms(seconds: unknown): number | undefined {
  if (seconds === null || seconds === undefined) return undefined;
  // A float of integral value (2.0) is a PyFloat, a Number object.
  const value = seconds instanceof Number ? seconds.valueOf() : seconds;
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw pythonError("TypeError", "timeout must be a number or None");
  }
  return Math.max(0, value * 1000);
}

/** The positional argument at `index`, else the keyword `name`, else `fallback`. */
export function arg(
  args: unknown[],
  kwds: Keywords,
  index: number,
  name: string,
  fallback?: unknown,
): unknown {
  if (index < args.length) return args[index];
  return name in kwds ? kwds[name] : fallback;
}

/** `value` as an integer, else Python's TypeError naming `what`. */
export function integer(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw pythonError("TypeError", `${what} must be integers, not ${typeof value}`);
  }
  return value;
}

/** Python's `slice.indices(length)`, then the indices the slice selects. */
export function sliceIndices(slice: PySlice, length: number): number[] {
  const step = slice.step ?? 1;
  if (step === 0) throw pythonError("ValueError", "slice step cannot be zero");
  const clamp = (value: number | null, fallback: number, low: number, high: number): number => {
    if (value === null) return fallback;
    const at = value < 0 ? value + length : value;
    return Math.min(Math.max(at, low), high);
  };
  const start = step > 0
    ? clamp(slice.start, 0, 0, length)
    : clamp(slice.start, length - 1, -1, length - 1);
  const stop = step > 0
    ? clamp(slice.stop, length, 0, length)
    : clamp(slice.stop, -1, -1, length - 1);
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

/** A list index (negative from the end) checked against `length`, else IndexError. */
export function position(index: unknown, length: number, what = "list"): number {
  const at = integer(index, `${what} indices`);
  const resolved = at < 0 ? at + length : at;
  if (resolved < 0 || resolved >= length) {
    throw pythonError("IndexError", `${what} index out of range`);
  }
  return resolved;
}

/**
 * Refuses, with Python's `TypeError: unhashable type: 'list'`, a key a
 * CPython client sent that Python cannot hash: a list, dict, set or
 * bytearray (and the like), or a tuple holding one. (A Deno client's
 * array is a tuple there, its `Set` a frozenset; this is CPython's side.)
 */
export function pythonHashable(key: unknown): void {
  if (typeof key !== "object" || key === null) return;
  let kind: string | undefined;
  if (Array.isArray(key)) {
    if (isTuple(key)) {
      for (const item of key) pythonHashable(item);
      return;
    }
    kind = "list";
  } else if (key instanceof PyByteArray) kind = "bytearray";
  else if (key instanceof Set) kind = key instanceof PyFrozenSet ? undefined : "set";
  else if (key instanceof PythonObject) kind = UNHASHABLE_TYPES[key.type];
  // (A Deno client's PythonObject of these types is refused by hashKey() too.)
  else if (key instanceof Map) kind = "dict";
  else {
    const proto = Object.getPrototypeOf(key);
    if (proto === Object.prototype || proto === null) kind = "dict";
  }
  if (kind !== undefined) throw pythonError("TypeError", `unhashable type: '${kind}'`);
}
