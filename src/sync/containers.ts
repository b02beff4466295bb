/**
 * The server-side halves of `SyncManager`'s containers: dict (a `Map`),
 * list (an array), set (a `Set`), Namespace, Value and Array, plus the
 * lazy iterator their `for await` loops use. Errors follow CPython's
 * conditions with JavaScript classes: IndexError, KeyError and ValueError
 * become `RangeError`, RuntimeError becomes `Error`.
 *
 * Keys and members compare as Python compares them, for every client
 * (`keys.ts`): `1`, `1.0` and `True` are one key, arrays (tuples) and
 * `Set`s (frozensets) by their items, bytes by content, datetimes by
 * instant; a plain object or a `Map` (Python's dict) is refused as
 * unhashable. The first key object set stays the key, as in Python.
 *
 * Longer than most files: dict, list, set, Namespace, Value and Array side
 * by side, with the Python semantics they share (ordering, repr, indices).
 *
 * @module
 */

import { currentCall } from "../objects/caller.ts";
import { BaseProxy } from "../objects/proxy.ts";
import { PlacedMap } from "./_placed_map.ts";
import { GET_VALUE_HOOK } from "../wire/protocol.ts";
import { hashKey, keyObject, pythonEquals } from "./keys.ts";
import { pythonRepr } from "./python_repr.ts";

/** The steps of `iterator` as an async generator, which a shared method's caller gets as a stream. */
async function* streamOf(iterator: SharedIterator): AsyncGenerator<unknown, void, undefined> {
  for (;;) {
    const step = iterator.next();
    if (step.done) return;
    yield step.value;
  }
}

/** One step of an iteration, as JavaScript's iterator protocol has it. */
export type Step = { done: false; value: unknown } | { done: true; value: undefined };

const DONE: Step = Object.freeze({ done: true, value: undefined });

/**
 * Steps through a container lazily, one call per item (`methodToTypeid` →
 * "Iterator").
 *
 * @example
 * ```ts
 * import { SharedIterator } from "@multiprocess/managers/standard";
 *
 * let n = 0;
 * const counting = new SharedIterator(() => n < 2 ? { done: false, value: n++ } : { done: true, value: undefined });
 * console.log(counting.next()); // { done: false, value: 0 }
 * ```
 */
export class SharedIterator {
  readonly #step: () => Step;
  #finished = false;

  /** An iterator whose steps `step` gives, until one is done. */
  constructor(step: () => Step) {
    this.#step = step;
  }

  /** The next step; done forever once one was done. */
  next(): Step {
    if (this.#finished) return DONE;
    const step = this.#step();
    if (step.done) this.#finished = true;
    return step;
  }
}

function sizeChecked<T>(
  what: string,
  size: () => number,
  iterator: Iterator<T>,
  map: (item: T) => unknown,
): SharedIterator {
  const initial = size();
  return new SharedIterator(() => {
    if (size() !== initial) throw new Error(`${what} changed size during iteration`);
    const next = iterator.next();
    return next.done ? DONE : { done: false, value: map(next.value) };
  });
}

/**
 * Python's `dict`, as it lives in the server process; clients use it
 * through a `DictProxy`, an async mirror of `Map`.
 *
 * @example
 * ```ts
 * import { Dict } from "@multiprocess/managers/standard";
 *
 * const totals = new Dict({ apples: 3 });
 * totals.set("pears", 2);
 * console.log(totals.size()); // 2
 * ```
 */
export class Dict {
  /**
   * The values by {@linkcode hashKey}, in Python's order; each key's place
   * kept, so that an undone pop puts it back there.
   */
  readonly #map = new PlacedMap<unknown, unknown>();
  /** The key objects set first, where they are not their own hash key (`true`, `[1, 2]`). */
  readonly #keys = new Map<unknown, unknown>();

  /** A dict of the entries of a Map, a plain object or an array of pairs. */
  constructor(init?: unknown) {
    for (const [key, value] of entriesOf(init, "dict")) this.set(key, value);
  }

  /** The value of `key`, or `fallback`. */
  get(key: unknown, fallback?: unknown): unknown {
    const k = hashKey(key);
    const value = this.#map.get(k);
    return value !== undefined || this.#map.has(k) ? value : fallback;
  }
  /** Sets `key` to `value`; an equal key set before stays the key, as in Python. */
  set(key: unknown, value: unknown): void {
    const k = hashKey(key);
    if (!Object.is(k, key) && !this.#map.has(k)) this.#keys.set(k, keyObject(key));
    this.#map.set(k, value);
  }
  /** Whether `key` is present. */
  has(key: unknown): boolean {
    return this.#map.has(hashKey(key));
  }
  /** Removes `key`; whether it was there. */
  delete(key: unknown): boolean {
    const k = hashKey(key);
    this.#keys.delete(k);
    return this.#map.delete(k);
  }
  /** Removes every entry. */
  clear(): void {
    this.#map.clear();
    this.#keys.clear();
  }
  /** The number of entries. */
  size(): number {
    return this.#map.size;
  }
  /** The keys, in insertion order. */
  keys(): unknown[] {
    const out = [...this.#map.keys()];
    if (this.#keys.size > 0) {
      for (let i = 0; i < out.length; i++) out[i] = this.#keyOf(out[i]);
    }
    return out;
  }
  /** The values, in insertion order. */
  values(): unknown[] {
    return [...this.#map.values()];
  }
  /** The `[key, value]` pairs, in insertion order. */
  entries(): [unknown, unknown][] {
    const out: [unknown, unknown][] = [];
    for (const [k, value] of this.#map) out.push([this.#keyOf(k), value]);
    return out;
  }
  /** Removes `key` and returns its value; without `fallback`, a missing key is a RangeError. */
  pop(key: unknown, ...fallback: [unknown?]): unknown {
    const k = hashKey(key);
    if (this.#map.has(k)) {
      const value = this.#map.get(k);
      this.#undoable(k, value);
      this.#map.delete(k);
      this.#keys.delete(k);
      return value;
    }
    if (fallback.length > 0) return fallback[0];
    throw new RangeError(`Key not found: ${describeKey(key)}`);
  }
  /** Removes and returns the last inserted `[key, value]`. */
  popitem(): [unknown, unknown] {
    let last: unknown;
    let found = false;
    for (const k of this.#map.keys()) {
      last = k;
      found = true;
    }
    if (!found) throw new RangeError("popitem(): dictionary is empty");
    const entry: [unknown, unknown] = [this.#keyOf(last), this.#map.get(last)];
    this.#undoable(last, entry[1]);
    this.#map.delete(last);
    this.#keys.delete(last);
    return entry;
  }
  /** The value of `key`, set to `fallback` first if absent. */
  setdefault(key: unknown, fallback: unknown = null): unknown {
    const k = hashKey(key);
    if (!this.#map.has(k)) this.set(key, fallback);
    return this.#map.get(k);
  }
  /** Adds the entries of a Map, a plain object or an array of pairs. */
  update(other: unknown): void {
    for (const [key, value] of entriesOf(other, "update()")) this.set(key, value);
  }
  /** A copy of the entries, as a Map. */
  copy(): Map<unknown, unknown> {
    return new Map(this.entries());
  }
  /** What `_getvalue()` returns: a copy, as a Map. */
  [GET_VALUE_HOOK](): Map<unknown, unknown> {
    return this.copy();
  }
  /** Its items streamed to the caller in batches (a `for await` on the proxy). */
  stream(): AsyncGenerator<unknown, void, undefined> {
    return streamOf(this.iterate());
  }
  /** An iterator over `[key, value]` entries; it fails if the size changes meanwhile. */
  iterate(): SharedIterator {
    return sizeChecked(
      "dictionary",
      () => this.#map.size,
      this.#map.entries(),
      ([k, value]) => [this.#keyOf(k), value],
    );
  }

  /** Popped for a client call that is then undone: the entry goes back in its place. */
  #undoable(k: unknown, value: unknown): void {
    const call = currentCall();
    const place = this.#map.placeOf(k);
    if (call === undefined || place === undefined) return;
    const held = this.#keys.has(k);
    const key = this.#keys.get(k);
    call.onUndo(() => {
      this.#map.restore(k, value, place);
      if (held) this.#keys.set(k, key);
    });
  }

  /** The key object stored under hash key `k`. */
  #keyOf(k: unknown): unknown {
    return this.#keys.size > 0 && this.#keys.has(k) ? this.#keys.get(k) : k;
  }
}

/**
 * Python's `list`, as an async mirror of `Array`.
 *
 * To share one under a name (every client that creates `get_list` gets it):
 *
 * @example
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 * import { List } from "@multiprocess/managers/standard";
 *
 * export class AppManager extends SyncManager {}
 * const list = new List(["a", "b"]);
 * AppManager.register("get_list", () => list);
 * list.append("c");
 * console.log(list.length()); // 3
 * ```
 */
export class List {
  #items: unknown[];

  /** A list of the items of an array or other iterable (empty without one). */
  constructor(init?: unknown) {
    this.#items = init === undefined || init === null ? [] : [...iterableOf(init, "list")];
  }

  /** The number of items (Python's `len()`). */
  length(): number {
    return this.#items.length;
  }
  /** Like `Array.prototype.at`: undefined when out of range. */
  at(index: number): unknown {
    return this.#items.at(checkIndex(index));
  }
  /** Like Python's `l[i]`: negative counts from the end, out of range is a RangeError. */
  get(index: number): unknown {
    return this.#items[this.#position(index)];
  }
  /** Like Python's `l[i] = value`. */
  set(index: number, value: unknown): void {
    this.#items[this.#position(index)] = value;
  }
  /** Appends `items` and returns the new length. */
  push(...items: unknown[]): number {
    for (const item of items) this.#items.push(item);
    return this.#items.length;
  }
  /** Appends `item`. */
  append(item: unknown): void {
    this.#items.push(item);
  }
  /** Appends every item; one at a time, so any size the limits allow works. */
  extend(items: unknown): void {
    for (const item of iterableOf(items, "extend()")) this.#items.push(item);
  }
  /** Inserts `item` before `index` (negative: from the end). */
  insert(index: number, item: unknown): void {
    const at = checkIndex(index);
    const length = this.#items.length;
    const position = at < 0 ? Math.max(0, length + at) : Math.min(at, length);
    this.#items.splice(position, 0, item);
  }
  /** Python's `pop(i)`: the last item by default; an empty list or bad index is a RangeError. */
  pop(index = -1): unknown {
    if (this.#items.length === 0) throw new RangeError("pop from empty list");
    const at = this.#position(index);
    const item = this.#items.splice(at, 1)[0];
    // Popped for a client call that is then undone: back at its index.
    currentCall()?.onUndo(() => {
      this.#items.splice(Math.min(at, this.#items.length), 0, item);
    });
    return item;
  }
  /** Removes `deleteCount` items at `start`, inserts `items` there, and returns those removed (Array's `splice`). */
  splice(start: number, deleteCount?: number, ...items: unknown[]): unknown[] {
    return deleteCount === undefined
      ? this.#items.splice(start)
      : this.#items.splice(start, deleteCount, ...items);
  }
  /** A copy of the items from `start` to before `end`. */
  slice(start?: number, end?: number): unknown[] {
    return this.#items.slice(start, end);
  }
  /** The index of the first item equal to `item` (Python's `==`), or -1. */
  indexOf(item: unknown): number {
    return this.#items.findIndex((x) => sameValue(x, item));
  }
  /**
   * Python's `index()`: `start` and `end` count from the end when negative,
   * as slice bounds do; a missing item is a RangeError.
   */
  index(item: unknown, start: number = 0, end: number = this.#items.length): number {
    const length = this.#items.length;
    const bound = (at: number): number => Math.min(length, Math.max(0, at < 0 ? length + at : at));
    for (let i = bound(checkIndex(start)); i < bound(checkIndex(end)); i++) {
      if (sameValue(this.#items[i], item)) return i;
    }
    throw new RangeError(`${describeKey(item)} is not in list`);
  }
  /** How many items equal `item` (Python's `==`). */
  count(item: unknown): number {
    return this.#items.filter((x) => sameValue(x, item)).length;
  }
  /** Python's `remove()`: removes the first equal item; a missing one is a RangeError. */
  remove(item: unknown): void {
    const at = this.#items.findIndex((x) => sameValue(x, item));
    if (at < 0) throw new RangeError("list.remove(x): x not in list");
    this.#items.splice(at, 1);
  }
  /**
   * Sorts in Python's order: numbers by value, strings by code point, arrays
   * item by item. Stable both ways: with `reverse`, equal items keep their
   * order, as in Python.
   */
  sort(options?: { reverse?: boolean }): void {
    this.#items.sort(options?.reverse ? (a, b) => pythonCompare(b, a) : pythonCompare);
  }
  /** Reverses the items in place. */
  reverse(): void {
    this.#items.reverse();
  }
  /** Removes every item. */
  clear(): void {
    this.#items = [];
  }
  /** A copy of the items, as an array. */
  copy(): unknown[] {
    return [...this.#items];
  }
  /** What `_getvalue()` returns: a copy of the items. */
  [GET_VALUE_HOOK](): unknown[] {
    return this.copy();
  }
  /** Its items streamed to the caller in batches (a `for await` on the proxy). */
  stream(): AsyncGenerator<unknown, void, undefined> {
    return streamOf(this.iterate());
  }
  /** A lazy iterator by index: it sees changes made while iterating, as CPython's does. */
  iterate(): SharedIterator {
    let i = 0;
    return new SharedIterator(() =>
      i < this.#items.length ? { done: false, value: this.#items[i++] } : DONE
    );
  }

  #position(index: number): number {
    const at = checkIndex(index);
    const position = at < 0 ? this.#items.length + at : at;
    if (position < 0 || position >= this.#items.length) {
      throw new RangeError("list index out of range");
    }
    return position;
  }
}

/**
 * Python's `set` (CPython 3.14's `SyncManager.set()`), as an async mirror of `Set`.
 *
 * To share one under a name (every client that creates `get_set` gets it):
 *
 * @example
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 * import { SharedSet } from "@multiprocess/managers/standard";
 *
 * export class AppManager extends SyncManager {}
 * const set = new SharedSet([1, 2]);
 * AppManager.register("get_set", () => set);
 * set.add(3);
 * console.log(set.size()); // 3
 * ```
 */
export class SharedSet {
  /** The members by {@linkcode hashKey}, each the member object added first. */
  readonly #set = new Map<unknown, unknown>();

  /** A set of the items of an array or other iterable (empty without one). */
  constructor(init?: unknown) {
    if (init !== undefined && init !== null) {
      for (const item of iterableOf(init, "set")) this.add(item);
    }
  }

  /** Adds `item` unless an equal one is there (Python's equality). */
  add(item: unknown): void {
    const k = hashKey(item);
    if (!this.#set.has(k)) this.#set.set(k, keyObject(item));
  }
  /** Removes `item`; whether it was there. */
  delete(item: unknown): boolean {
    return this.#set.delete(hashKey(item));
  }
  /** Whether an item equal to `item` is there. */
  has(item: unknown): boolean {
    return this.#set.has(hashKey(item));
  }
  /** Removes every item. */
  clear(): void {
    this.#set.clear();
  }
  /** The number of items (Python's `len()`). */
  size(): number {
    return this.#set.size;
  }
  /** The items, in the order they were added. */
  values(): unknown[] {
    return [...this.#set.values()];
  }
  /** Python's `discard()`: removes `item` if it is there. */
  discard(item: unknown): void {
    this.#set.delete(hashKey(item));
  }
  /** Python's `remove()`: a missing item is a RangeError. */
  remove(item: unknown): void {
    if (!this.#set.delete(hashKey(item))) {
      throw new RangeError(`Key not found: ${describeKey(item)}`);
    }
  }
  /** Removes and returns some item; an empty set is a RangeError. */
  pop(): unknown {
    for (const [k, item] of this.#set) {
      this.#set.delete(k);
      // Popped for a client call that is then undone: back first, where it was.
      currentCall()?.onUndo(() => {
        this.#set.delete(k);
        const rest = [...this.#set];
        this.#set.clear();
        this.#set.set(k, item);
        for (const [other, member] of rest) this.#set.set(other, member);
      });
      return item;
    }
    throw new RangeError("pop from an empty set");
  }
  /** Adds the items of each of `others`. */
  update(...others: unknown[]): void {
    for (const other of others) {
      for (const item of iterableOf(other, "update()")) this.add(item);
    }
  }
  /** A copy of the items, as a Set. */
  copy(): Set<unknown> {
    return new Set(this.#set.values());
  }
  /** What `_getvalue()` returns: a copy, as a Set. */
  [GET_VALUE_HOOK](): Set<unknown> {
    return this.copy();
  }
  /** Its items streamed to the caller in batches (a `for await` on the proxy). */
  stream(): AsyncGenerator<unknown, void, undefined> {
    return streamOf(this.iterate());
  }
  /** An iterator over the items; it fails if the size changes meanwhile. */
  iterate(): SharedIterator {
    return sizeChecked("Set", () => this.#set.size, this.#set.values(), (x) => x);
  }
}

/**
 * Python's `Namespace`: named attributes.
 *
 * To share one under a name (every client that creates `get_namespace` gets it):
 *
 * @example
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 * import { Namespace } from "@multiprocess/managers/standard";
 *
 * export class AppManager extends SyncManager {}
 * const namespace = new Namespace({ round: 1 });
 * AppManager.register("get_namespace", () => namespace);
 * namespace.set("round", 2);
 * console.log(namespace.get("round")); // 2
 * ```
 */
export class Namespace {
  readonly #attributes = new Map<string, unknown>();

  /** A namespace with the attributes of `init`. */
  constructor(init?: Record<string, unknown>) {
    if (init !== undefined && init !== null) {
      if (typeof init !== "object" || Array.isArray(init)) {
        throw new TypeError("Namespace(init) takes a plain object of attributes");
      }
      for (const [name, value] of Object.entries(init)) this.#attributes.set(name, value);
    }
  }

  /** The attribute `name`; a missing one is an error, as in Python. */
  get(name: string): unknown {
    return this.#attributes.get(checkName(name));
  }
  /** Sets the attribute `name` to `value`. */
  set(name: string, value: unknown): void {
    this.#attributes.set(checkName(name), value);
  }
  /** Removes the attribute `name`; whether it was there. */
  delete(name: string): boolean {
    return this.#attributes.delete(checkName(name));
  }
  /** Whether the attribute `name` is set. */
  has(name: string): boolean {
    return this.#attributes.has(checkName(name));
  }
  /** The attributes, as a plain object. */
  toObject(): Record<string, unknown> {
    return Object.fromEntries(this.#attributes);
  }
  /** What `_getvalue()` returns: the attributes. */
  [GET_VALUE_HOOK](): Record<string, unknown> {
    return this.toObject();
  }
  /** CPython's `str(namespace)`: `Namespace(job='Builder', name='Bob')`. */
  repr(): string {
    const shown = [...this.#attributes].filter(([name]) => !name.startsWith("_"))
      .map(([name, value]) => `${name}=${pythonRepr(value)}`)
      .sort(compareCodePoints);
    return `Namespace(${shown.join(", ")})`;
  }
}

/**
 * Python's `Value`: one value to get and set.
 *
 * To share one under a name (every client that creates `get_value` gets it):
 *
 * @example
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 * import { Value } from "@multiprocess/managers/standard";
 *
 * export class AppManager extends SyncManager {}
 * const value = new Value(1.5);
 * AppManager.register("get_value", () => value);
 * value.set(2.5);
 * console.log(value.get()); // 2.5
 * ```
 */
export class Value {
  #value: unknown;
  /** A value holding `value`. */
  constructor(value: unknown = null) {
    this.#value = value;
  }
  /** The value (Python's `.value`). */
  get(): unknown {
    return this.#value;
  }
  /** Replaces the value. */
  set(value: unknown): void {
    this.#value = value;
  }
  /** What `_getvalue()` returns: the value. */
  [GET_VALUE_HOOK](): unknown {
    return this.#value;
  }
}

/**
 * Python's `Array`: a fixed-length sequence (an array or typed array).
 *
 * To share one under a name (every client that creates `get_array` gets it):
 *
 * @example
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 * import { SharedArray } from "@multiprocess/managers/standard";
 *
 * export class AppManager extends SyncManager {}
 * const array = new SharedArray([0, 0, 0]);
 * AppManager.register("get_array", () => array);
 * array.set(1, 7);
 * console.log(array.toArray()); // [ 0, 7, 0 ]
 * ```
 */
export class SharedArray {
  /** An array, or a typed array (whose element type then applies on set). */
  readonly #items: { length: number; [index: number]: unknown };
  /** Whether it holds floats (a Float32Array or Float64Array), as Python's `Array('d', ...)`. */
  readonly floating: boolean;
  /** Python's typecode, when a CPython client made it (`Array('i', ...)`): its slices are `array.array`s. */
  readonly typecode: string | undefined;

  /** An array of `values` (an array or typed array, whose length is then fixed); `typecode` is Python's, when a CPython client made it. */
  constructor(values: unknown, typecode?: string) {
    this.typecode = typeof typecode === "string" ? typecode : undefined;
    if (Array.isArray(values)) this.#items = [...values];
    else if (ArrayBuffer.isView(values) && !(values instanceof DataView)) {
      this.#items = (values as unknown as { slice(): { length: number } }).slice();
    } else throw new TypeError("Array(values) takes an array or a typed array");
    this.floating = values instanceof Float64Array || values instanceof Float32Array;
  }

  /** The number of items (Python's `len()`). */
  length(): number {
    return this.#items.length;
  }
  /** The item at `index` (negative: from the end). */
  get(index: number): unknown {
    return this.#items[this.#position(index)];
  }
  /** Sets the item at `index`. */
  set(index: number, value: unknown): void {
    this.#items[this.#position(index)] = value;
  }
  /** A copy of the items, as an array. */
  toArray(): unknown[] {
    return Array.from(this.#items as ArrayLike<unknown>);
  }
  /** What `_getvalue()` returns: a copy of the items. */
  [GET_VALUE_HOOK](): unknown[] {
    return this.toArray();
  }
  /** Its items streamed to the caller in batches (a `for await` on the proxy). */
  stream(): AsyncGenerator<unknown, void, undefined> {
    return streamOf(this.iterate());
  }
  /** An iterator over the items. */
  iterate(): SharedIterator {
    let i = 0;
    return new SharedIterator(() =>
      i < this.#items.length ? { done: false, value: this.get(i++) } : DONE
    );
  }

  #position(index: number): number {
    const at = checkIndex(index);
    const position = at < 0 ? this.#items.length + at : at;
    if (position < 0 || position >= this.#items.length) {
      throw new RangeError("array index out of range");
    }
    return position;
  }
}

function checkIndex(index: unknown): number {
  if (typeof index !== "number" || !Number.isInteger(index)) {
    throw new TypeError(`List indices must be integers, not ${typeof index}`);
  }
  return index;
}

function checkName(name: unknown): string {
  if (typeof name !== "string") throw new TypeError("A Namespace attribute name must be a string");
  return name;
}

function entriesOf(init: unknown, what: string): [unknown, unknown][] {
  if (init === undefined || init === null) return [];
  if (init instanceof Map) return [...init.entries()];
  if (Array.isArray(init)) {
    return init.map((pair) => {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new TypeError(`${what} takes [key, value] pairs`);
      }
      return [pair[0], pair[1]];
    });
  }
  if (typeof init === "object" && !(init instanceof BaseProxy)) return Object.entries(init);
  throw new TypeError(`${what} takes a Map, a plain object or an array of [key, value] pairs`);
}

function iterableOf(value: unknown, what: string): Iterable<unknown> {
  if (
    typeof value === "object" && value !== null && Symbol.iterator in value &&
    !(value instanceof BaseProxy)
  ) {
    return value as Iterable<unknown>;
  }
  throw new TypeError(`${what} takes an array, a Set or another iterable value`);
}

/** Python's `==` for the values that travel (`keys.ts`). */
export const sameValue: (a: unknown, b: unknown) => boolean = pythonEquals;

/** Python's ordering; mixing types that Python cannot order is a TypeError. */
export function pythonCompare(a: unknown, b: unknown): number {
  const kind = (x: unknown): string =>
    typeof x === "boolean" || typeof x === "bigint" || x instanceof Number
      ? "number"
      : Array.isArray(x)
      ? "array"
      : typeof x;
  const [ka, kb] = [kind(a), kind(b)];
  if (ka !== kb || !["number", "string", "array"].includes(ka)) {
    throw new TypeError(`'<' not supported between instances of '${ka}' and '${kb}'`);
  }
  if (ka === "array") {
    const [x, y] = [a as unknown[], b as unknown[]];
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      const order = pythonCompare(x[i], y[i]);
      if (order !== 0) return order;
    }
    return x.length - y.length;
  }
  if (ka === "string") return compareCodePoints(a as string, b as string);
  const [x, y] = [Number(a), Number(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Orders strings by Unicode code point, as Python does. JavaScript's `<`
 * compares UTF-16 units, which puts a character above U+FFFF (a surrogate
 * pair) before U+E000..U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const shared = Math.min(a.length, b.length);
  for (let i = 0; i < shared; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Move surrogates above the rest of the BMP; equal prefixes keep pairs aligned.
    if (x >= 0xd800) x += x >= 0xe000 ? -0x800 : 0x2000;
    if (y >= 0xd800) y += y >= 0xe000 ? -0x800 : 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

function describeKey(key: unknown): string {
  return typeof key === "string" ? `'${key}'` : typeof key === "bigint" ? `${key}n` : String(key);
}
