/**
 * The client-side proxies of `SyncManager`'s types: typed methods that
 * return promises, options objects where Python has keyword arguments,
 * `hold()` for `await using`, and `for await` over containers.
 *
 * @module
 */

import { BaseProxy } from "../client/proxy.ts";
import type { AcquireOptions, WaitOptions } from "./primitives.ts";
import type { QueueWaitOptions } from "./queue.ts";

/**
 * A lazy iterator over a shared container: one call per item. `for await`
 * over a container proxy uses one and disposes it at the end.
 *
 * @example
 * ```ts ignore
 * await using iterator = await dict.iterate();
 * console.log(await iterator.next()); // { done: false, value: ["a", 1] }
 * ```
 */
export class IteratorProxy<T = unknown> extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = ["next"];
  /** The next item, as JavaScript's iterator protocol has it. */
  next(): Promise<IteratorResult<T, undefined>> {
    return this._callmethod("next") as Promise<IteratorResult<T, undefined>>;
  }
  /** Consumes the remaining items, one call each. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    while (true) {
      const step = await this.next();
      if (step.done) return;
      yield step.value;
    }
  }
}

async function* iterate<T>(proxy: BaseProxy): AsyncGenerator<T, void, undefined> {
  await using iterator = await proxy._callmethod("iterate") as IteratorProxy<T>;
  while (true) {
    const step = await iterator.next();
    if (step.done) return;
    yield step.value;
  }
}

/**
 * The proxy of a Lock or RLock (CPython's `AcquirerProxy`).
 *
 * @example
 * ```ts ignore
 * const lock = await manager.Lock();
 * {
 *   await using _held = await lock.hold(); // released at the end of the block
 *   // ... critical section ...
 * }
 * console.log(await lock.acquire({ blocking: false })); // true
 * await lock.release();
 * ```
 */
export class AcquirerProxy extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = ["acquire", "release", "locked"];

  /** Takes the lock; resolves false if `blocking: false` or `timeout` (ms) failed to get it. */
  acquire(options?: AcquireOptions): Promise<boolean> {
    return this._callmethod("acquire", options === undefined ? [] : [options]) as Promise<boolean>;
  }
  /** Releases the lock. */
  release(): Promise<void> {
    return this._callmethod("release") as Promise<void>;
  }
  /** True while somebody holds it. */
  locked(): Promise<boolean> {
    return this._callmethod("locked") as Promise<boolean>;
  }
  /**
   * Acquires, and returns a handle whose disposal releases: Python's
   * `with lock:`. Rejects with `Deno.errors.TimedOut` if not acquired.
   */
  async hold(options?: AcquireOptions): Promise<AsyncDisposable> {
    if (!(await this.acquire(options))) {
      throw new Deno.errors.TimedOut(
        options?.blocking === false
          ? `${this} is held by another caller`
          : `${this} was not acquired within ${options?.timeout} ms`,
      );
    }
    let held = true;
    return {
      [Symbol.asyncDispose]: async (): Promise<void> => {
        if (held) {
          held = false;
          await this.release();
        }
      },
    };
  }
}

/**
 * The proxy of a Semaphore or BoundedSemaphore.
 *
 * @example
 * ```ts ignore
 * const slots = await manager.BoundedSemaphore(2);
 * await using _slot = await slots.hold();
 * console.log(await slots.value()); // 1
 * ```
 */
export class SemaphoreProxy extends AcquirerProxy {
  /** Methods the server lets this proxy call. */
  static override _exposed_: readonly string[] = ["acquire", "release", "locked", "value"];

  /** Returns `n` permits. A BoundedSemaphore rejects going above its start value. */
  override release(n = 1): Promise<void> {
    return this._callmethod("release", [n]) as Promise<void>;
  }
  /** Permits free now (CPython hides it in `_value`). */
  value(): Promise<number> {
    return this._callmethod("value") as Promise<number>;
  }
}

/**
 * The proxy of a Condition.
 *
 * @example
 * ```ts ignore
 * const ready = await manager.Condition();
 * await using _held = await ready.hold();
 * const ok = await ready.waitFor(async () => (await state.get()) === "done", { timeout: 1000 });
 * ```
 */
export class ConditionProxy extends AcquirerProxy {
  /** Methods the server lets this proxy call. */
  static override _exposed_: readonly string[] = [
    "acquire",
    "release",
    "locked",
    "wait",
    "notify",
    "notifyAll",
  ];

  /** Releases the lock, waits for a notify or the timeout, takes the lock back; false on timeout. */
  wait(options?: WaitOptions): Promise<boolean> {
    return this._callmethod("wait", options === undefined ? [] : [options]) as Promise<boolean>;
  }
  /** Wakes up to `n` waiters (the lock must be held). */
  notify(n = 1): Promise<void> {
    return this._callmethod("notify", [n]) as Promise<void>;
  }
  /** Wakes every waiter (the lock must be held). */
  notifyAll(): Promise<void> {
    return this._callmethod("notifyAll") as Promise<void>;
  }
  /**
   * Waits until `predicate` is true, checking after each notify, as
   * Python's `wait_for` (a client-side loop there too). Resolves with the
   * last value of the predicate.
   */
  async waitFor(
    predicate: () => boolean | Promise<boolean>,
    options?: WaitOptions,
  ): Promise<boolean> {
    const deadline = options?.timeout === undefined ? undefined : Date.now() + options.timeout;
    let result = await predicate();
    while (!result) {
      if (deadline !== undefined) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) break;
        await this.wait({ timeout: remaining });
      } else {
        await this.wait();
      }
      result = await predicate();
    }
    return result;
  }
}

/**
 * The proxy of an Event.
 *
 * @example
 * ```ts ignore
 * const event = await manager.Event();
 * setTimeout(() => event.set(), 10);
 * console.log(await event.wait({ timeout: 1000 })); // true
 * ```
 */
export class EventProxy extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = ["isSet", "set", "clear", "wait"];
  /** True once set (until cleared). */
  isSet(): Promise<boolean> {
    return this._callmethod("isSet") as Promise<boolean>;
  }
  /** Sets the flag and wakes every waiter. */
  set(): Promise<void> {
    return this._callmethod("set") as Promise<void>;
  }
  /** Clears the flag. */
  clear(): Promise<void> {
    return this._callmethod("clear") as Promise<void>;
  }
  /** Resolves with the flag once set, or with false when `timeout` ms pass. */
  wait(options?: WaitOptions): Promise<boolean> {
    return this._callmethod("wait", options === undefined ? [] : [options]) as Promise<boolean>;
  }
}

/**
 * The proxy of a Barrier.
 *
 * @example
 * ```ts ignore
 * const barrier = await manager.Barrier(3);
 * const index = await barrier.wait(); // 0, 1 or 2
 * ```
 */
export class BarrierProxy extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = [
    "wait",
    "abort",
    "reset",
    "parties",
    "nWaiting",
    "broken",
  ];
  /** Waits for every party; resolves with this party's arrival index. */
  wait(options?: WaitOptions): Promise<number> {
    return this._callmethod("wait", options === undefined ? [] : [options]) as Promise<number>;
  }
  /** Breaks the barrier. */
  abort(): Promise<void> {
    return this._callmethod("abort") as Promise<void>;
  }
  /** Empties and mends the barrier; current waiters get BrokenBarrierError. */
  reset(): Promise<void> {
    return this._callmethod("reset") as Promise<void>;
  }
  /** The number of parties. */
  parties(): Promise<number> {
    return this._callmethod("parties") as Promise<number>;
  }
  /** Parties waiting now. */
  nWaiting(): Promise<number> {
    return this._callmethod("nWaiting") as Promise<number>;
  }
  /** True once broken, until reset. */
  broken(): Promise<boolean> {
    return this._callmethod("broken") as Promise<boolean>;
  }
}

/**
 * The proxy of a Queue or JoinableQueue.
 *
 * @example
 * ```ts ignore
 * const queue = await manager.Queue<string>(10);
 * await queue.put("job");
 * console.log(await queue.get({ timeout: 100 })); // "job"
 * await queue.taskDone();
 * ```
 */
export class QueueProxy<T = unknown> extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = [
    "put",
    "get",
    "putNowait",
    "getNowait",
    "qsize",
    "empty",
    "full",
    "taskDone",
    "join",
  ];
  /** Adds an item, waiting for room if the queue is bounded and full; rejects with Full. */
  put(item: T, options?: QueueWaitOptions): Promise<void> {
    return this._callmethod("put", options === undefined ? [item] : [item, options]) as Promise<
      void
    >;
  }
  /** Takes the oldest item, waiting for one if empty; rejects with Empty. */
  get(options?: QueueWaitOptions): Promise<T> {
    return this._callmethod("get", options === undefined ? [] : [options]) as Promise<T>;
  }
  /** `put(item, { block: false })` */
  putNowait(item: T): Promise<void> {
    return this._callmethod("putNowait", [item]) as Promise<void>;
  }
  /** `get({ block: false })` */
  getNowait(): Promise<T> {
    return this._callmethod("getNowait") as Promise<T>;
  }
  /** Items in the queue now. */
  qsize(): Promise<number> {
    return this._callmethod("qsize") as Promise<number>;
  }
  /** True when no item is queued. */
  empty(): Promise<boolean> {
    return this._callmethod("empty") as Promise<boolean>;
  }
  /** True when a bounded queue is at its size. */
  full(): Promise<boolean> {
    return this._callmethod("full") as Promise<boolean>;
  }
  /** Marks one item taken with get() as processed. */
  taskDone(): Promise<void> {
    return this._callmethod("taskDone") as Promise<void>;
  }
  /** Resolves once every item put has been marked done. */
  join(): Promise<void> {
    return this._callmethod("join") as Promise<void>;
  }
}

/**
 * The proxy of a Value.
 *
 * @example
 * ```ts ignore
 * const total = await manager.Value(0);
 * await total.set((await total.get()) + 1);
 * ```
 */
export class ValueProxy<T = unknown> extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = ["get", "set"];
  /** The value. */
  get(): Promise<T> {
    return this._callmethod("get") as Promise<T>;
  }
  /** Replaces the value. */
  set(value: T): Promise<void> {
    return this._callmethod("set", [value]) as Promise<void>;
  }
}

/**
 * The proxy of an Array: fixed length, indexed.
 *
 * @example
 * ```ts ignore
 * const cells = await manager.Array([0, 1]);
 * await cells.set(0, 5);
 * for await (const cell of cells) console.log(cell); // 5, 1
 * ```
 */
export class ArrayProxy<T = unknown> extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = ["length", "get", "set", "toArray", "iterate"];
  /** Its length. */
  length(): Promise<number> {
    return this._callmethod("length") as Promise<number>;
  }
  /** Item `index` (negative counts from the end); out of range is a RangeError. */
  get(index: number): Promise<T> {
    return this._callmethod("get", [index]) as Promise<T>;
  }
  /** Replaces item `index`. */
  set(index: number, value: T): Promise<void> {
    return this._callmethod("set", [index, value]) as Promise<void>;
  }
  /** A copy of all items. */
  toArray(): Promise<T[]> {
    return this._callmethod("toArray") as Promise<T[]>;
  }
  /** Iterates lazily, one call per item. */
  [Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    return iterate<T>(this);
  }
}

/**
 * The proxy of a dict: an async mirror of `Map`, plus CPython's extras.
 *
 * @example
 * ```ts ignore
 * const scores = await manager.dict<string, number>({ ann: 1 });
 * await scores.set("bob", 2);
 * for await (const [name, score] of scores) console.log(name, score);
 * ```
 */
export class DictProxy<K = unknown, V = unknown> extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = [
    "get",
    "set",
    "has",
    "delete",
    "clear",
    "size",
    "keys",
    "values",
    "entries",
    "pop",
    "popitem",
    "setdefault",
    "update",
    "copy",
    "iterate",
  ];
  /** The value of `key`, or undefined when absent. */
  get(key: K): Promise<V | undefined>;
  /** The value of `key`, or `fallback` when absent. */
  get<F>(key: K, fallback: F): Promise<V | F>;
  get(key: K, ...fallback: unknown[]): Promise<unknown> {
    return this._callmethod("get", [key, ...fallback.slice(0, 1)]);
  }
  /** Sets `key` to `value`. */
  set(key: K, value: V): Promise<void> {
    return this._callmethod("set", [key, value]) as Promise<void>;
  }
  /** True if `key` is present. */
  has(key: K): Promise<boolean> {
    return this._callmethod("has", [key]) as Promise<boolean>;
  }
  /** Removes `key`; true if it was there. */
  delete(key: K): Promise<boolean> {
    return this._callmethod("delete", [key]) as Promise<boolean>;
  }
  /** Removes everything. */
  clear(): Promise<void> {
    return this._callmethod("clear") as Promise<void>;
  }
  /** The number of entries. */
  size(): Promise<number> {
    return this._callmethod("size") as Promise<number>;
  }
  /** A copy of the keys. */
  keys(): Promise<K[]> {
    return this._callmethod("keys") as Promise<K[]>;
  }
  /** A copy of the values. */
  values(): Promise<V[]> {
    return this._callmethod("values") as Promise<V[]>;
  }
  /** A copy of the entries. */
  entries(): Promise<[K, V][]> {
    return this._callmethod("entries") as Promise<[K, V][]>;
  }
  /** Removes `key` and returns its value; a missing key rejects with RangeError unless `fallback` is given. */
  pop(key: K, ...fallback: [V?]): Promise<V> {
    return this._callmethod("pop", [key, ...fallback]) as Promise<V>;
  }
  /** Removes and returns the last inserted entry. */
  popitem(): Promise<[K, V]> {
    return this._callmethod("popitem") as Promise<[K, V]>;
  }
  /** The value of `key`, first setting it to `fallback` if absent. */
  setdefault(key: K, fallback?: V): Promise<V> {
    return this._callmethod(
      "setdefault",
      fallback === undefined ? [key] : [key, fallback],
    ) as Promise<
      V
    >;
  }
  /** Adds the entries of a Map, a plain object or an array of pairs. */
  update(other: Map<K, V> | [K, V][] | Record<string, V>): Promise<void> {
    return this._callmethod("update", [other]) as Promise<void>;
  }
  /** A copy, as a `Map`. */
  copy(): Promise<Map<K, V>> {
    return this._callmethod("copy") as Promise<Map<K, V>>;
  }
  /** A lazy iterator over the entries (rejects if the dict changes size meanwhile). */
  iterate(): Promise<IteratorProxy<[K, V]>> {
    return this._callmethod("iterate") as Promise<IteratorProxy<[K, V]>>;
  }
  /** Iterates the entries lazily, one call per entry. */
  [Symbol.asyncIterator](): AsyncGenerator<[K, V], void, undefined> {
    return iterate<[K, V]>(this);
  }
}

/**
 * The proxy of a list: an async mirror of `Array`, plus CPython's methods.
 *
 * @example
 * ```ts ignore
 * const items = await manager.list([3, 1, 2]);
 * await items.sort();
 * console.log(await items.slice()); // [1, 2, 3]
 * ```
 */
export class ListProxy<T = unknown> extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = [
    "length",
    "at",
    "get",
    "set",
    "push",
    "append",
    "extend",
    "insert",
    "pop",
    "splice",
    "slice",
    "indexOf",
    "index",
    "count",
    "remove",
    "sort",
    "reverse",
    "clear",
    "copy",
    "iterate",
  ];
  /** Its length. */
  length(): Promise<number> {
    return this._callmethod("length") as Promise<number>;
  }
  /** As `Array.prototype.at`: undefined when out of range. */
  at(index: number): Promise<T | undefined> {
    return this._callmethod("at", [index]) as Promise<T | undefined>;
  }
  /** As Python's `l[i]`: out of range is a RangeError. */
  get(index: number): Promise<T> {
    return this._callmethod("get", [index]) as Promise<T>;
  }
  /** As Python's `l[i] = value`. */
  set(index: number, value: T): Promise<void> {
    return this._callmethod("set", [index, value]) as Promise<void>;
  }
  /** Appends items; resolves with the new length. */
  push(...items: T[]): Promise<number> {
    return this._callmethod("push", items) as Promise<number>;
  }
  /** Appends one item. */
  append(item: T): Promise<void> {
    return this._callmethod("append", [item]) as Promise<void>;
  }
  /** Appends every item of an array or Set. */
  extend(items: Iterable<T>): Promise<void> {
    return this._callmethod("extend", [[...items]]) as Promise<void>;
  }
  /** Inserts before `index`. */
  insert(index: number, item: T): Promise<void> {
    return this._callmethod("insert", [index, item]) as Promise<void>;
  }
  /** Removes and returns item `index` (the last by default); an empty list is a RangeError. */
  pop(index?: number): Promise<T> {
    return this._callmethod("pop", index === undefined ? [] : [index]) as Promise<T>;
  }
  /** As `Array.prototype.splice`. */
  splice(start: number, deleteCount?: number, ...items: T[]): Promise<T[]> {
    return this._callmethod(
      "splice",
      deleteCount === undefined ? [start] : [start, deleteCount, ...items],
    ) as Promise<T[]>;
  }
  /** A copy of a range, as `Array.prototype.slice`. */
  slice(start?: number, end?: number): Promise<T[]> {
    return this._callmethod("slice", [start, end]) as Promise<T[]>;
  }
  /** The first index of an equal item, or -1. */
  indexOf(item: T): Promise<number> {
    return this._callmethod("indexOf", [item]) as Promise<number>;
  }
  /** Python's `index()`: a missing item is a RangeError. */
  index(item: T, start?: number, end?: number): Promise<number> {
    return this._callmethod("index", [item, start, end]) as Promise<number>;
  }
  /** How many items equal `item`. */
  count(item: T): Promise<number> {
    return this._callmethod("count", [item]) as Promise<number>;
  }
  /** Removes the first equal item; a missing one is a RangeError. */
  remove(item: T): Promise<void> {
    return this._callmethod("remove", [item]) as Promise<void>;
  }
  /** Sorts in Python's order (numbers by value, strings by code point). */
  sort(options?: { reverse?: boolean }): Promise<void> {
    return this._callmethod("sort", options === undefined ? [] : [options]) as Promise<void>;
  }
  /** Reverses in place. */
  reverse(): Promise<void> {
    return this._callmethod("reverse") as Promise<void>;
  }
  /** Removes everything. */
  clear(): Promise<void> {
    return this._callmethod("clear") as Promise<void>;
  }
  /** A copy of all items. */
  copy(): Promise<T[]> {
    return this._callmethod("copy") as Promise<T[]>;
  }
  /** A lazy iterator by index; it sees changes made meanwhile, as CPython's does. */
  iterate(): Promise<IteratorProxy<T>> {
    return this._callmethod("iterate") as Promise<IteratorProxy<T>>;
  }
  /** Iterates lazily, one call per item. */
  [Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    return iterate<T>(this);
  }
}

/**
 * The proxy of a set: an async mirror of `Set`, plus CPython's methods.
 *
 * @example
 * ```ts ignore
 * const seen = await manager.set<string>();
 * await seen.add("a");
 * console.log(await seen.has("a")); // true
 * ```
 */
export class SetProxy<T = unknown> extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = [
    "add",
    "delete",
    "has",
    "clear",
    "size",
    "values",
    "discard",
    "remove",
    "pop",
    "update",
    "copy",
    "iterate",
  ];
  /** Adds an item. */
  add(item: T): Promise<void> {
    return this._callmethod("add", [item]) as Promise<void>;
  }
  /** Removes an item; true if it was there. */
  delete(item: T): Promise<boolean> {
    return this._callmethod("delete", [item]) as Promise<boolean>;
  }
  /** True if present. */
  has(item: T): Promise<boolean> {
    return this._callmethod("has", [item]) as Promise<boolean>;
  }
  /** Removes everything. */
  clear(): Promise<void> {
    return this._callmethod("clear") as Promise<void>;
  }
  /** The number of items. */
  size(): Promise<number> {
    return this._callmethod("size") as Promise<number>;
  }
  /** A copy of the items. */
  values(): Promise<T[]> {
    return this._callmethod("values") as Promise<T[]>;
  }
  /** Removes an item if present. */
  discard(item: T): Promise<void> {
    return this._callmethod("discard", [item]) as Promise<void>;
  }
  /** Removes an item; a missing one is a RangeError. */
  remove(item: T): Promise<void> {
    return this._callmethod("remove", [item]) as Promise<void>;
  }
  /** Removes and returns some item; an empty set is a RangeError. */
  pop(): Promise<T> {
    return this._callmethod("pop") as Promise<T>;
  }
  /** Adds the items of arrays or Sets. */
  update(...others: Iterable<T>[]): Promise<void> {
    return this._callmethod("update", others.map((other) => [...other])) as Promise<void>;
  }
  /** A copy, as a `Set`. */
  copy(): Promise<Set<T>> {
    return this._callmethod("copy") as Promise<Set<T>>;
  }
  /** A lazy iterator (rejects if the set changes size meanwhile). */
  iterate(): Promise<IteratorProxy<T>> {
    return this._callmethod("iterate") as Promise<IteratorProxy<T>>;
  }
  /** Iterates lazily, one call per item. */
  [Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    return iterate<T>(this);
  }
}

/**
 * The proxy of a Namespace. Names starting with `_` stay on this proxy and
 * are never sent, as in CPython.
 *
 * @example
 * ```ts ignore
 * const ns = await manager.Namespace({ name: "Bob" });
 * await ns.set("job", "Builder");
 * console.log(await ns.repr()); // Namespace(job='Builder', name='Bob')
 * ```
 */
export class NamespaceProxy extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = ["get", "set", "delete", "has", "toObject", "repr"];
  readonly #local = new Map<string, unknown>();

  /** The attribute's value, or undefined. */
  get(name: string): Promise<unknown> {
    if (name.startsWith("_")) return Promise.resolve(this.#local.get(name));
    return this._callmethod("get", [name]);
  }
  /** Sets an attribute. */
  set(name: string, value: unknown): Promise<void> {
    if (name.startsWith("_")) {
      this.#local.set(name, value);
      return Promise.resolve();
    }
    return this._callmethod("set", [name, value]) as Promise<void>;
  }
  /** Deletes an attribute; true if it was there. */
  delete(name: string): Promise<boolean> {
    if (name.startsWith("_")) return Promise.resolve(this.#local.delete(name));
    return this._callmethod("delete", [name]) as Promise<boolean>;
  }
  /** True if the attribute exists (Python's `hasattr`). */
  has(name: string): Promise<boolean> {
    if (name.startsWith("_")) return Promise.resolve(this.#local.has(name));
    return this._callmethod("has", [name]) as Promise<boolean>;
  }
  /** All shared attributes as a plain object. */
  toObject(): Promise<Record<string, unknown>> {
    return this._callmethod("toObject") as Promise<Record<string, unknown>>;
  }
  /** CPython's `str(namespace)`: `Namespace(job='Builder', name='Bob')`. */
  repr(): Promise<string> {
    return this._callmethod("repr") as Promise<string>;
  }
}
