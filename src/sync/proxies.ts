/**
 * The client-side proxies of `SyncManager`'s types: typed methods that
 * return promises, options objects where Python has keyword arguments,
 * `hold()` for `await using`, and `for await` over containers. Methods that
 * only forward are declared with their types and generated from
 * `_exposed_` (CPython's `MakeProxyType`); bodies are written only where
 * there is logic.
 *
 * Longer than most files: thirteen proxy types, each with its documented
 * method signatures and a runnable example; their bodies are generated.
 *
 * @module
 */

import { BaseProxy } from "../objects/proxy.ts";
import { forwardMethods } from "../objects/auto_proxy.ts";
import { EXPOSED } from "./standard_types.ts";
import type { AcquireOptions, WaitOptions } from "./primitives.ts";
import type { QueueWaitOptions } from "./queue.ts";

/**
 * A lazy iterator over a shared container: one call per item. `for await`
 * over a container proxy uses one and disposes it at the end.
 *
 * @example
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 *
 * await using manager = await new SyncManager({ modules: [] }).start();
 * await using dict = await manager.dict<string, number>({ a: 1 });
 * await using iterator = await dict.iterate();
 * console.log(await iterator.next()); // { done: false, value: ["a", 1] }
 * ```
 */
export class IteratorProxy<T = unknown> extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = EXPOSED.Iterator;
  /** The next item, as JavaScript's iterator protocol has it. */
  declare next: () => Promise<IteratorResult<T, undefined>>;
  /** Consumes the remaining items, one call each. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    while (true) {
      const step = await this.next();
      if (step.done) return;
      yield step.value;
    }
  }
}

/**
 * A container's items: streamed in batches (one round trip per batch);
 * from a server that cannot stream (a CPython one), one call per item.
 */
async function* iterate<T>(proxy: BaseProxy): AsyncGenerator<T, void, undefined> {
  const items = await proxy._callmethod("stream");
  if (!(items instanceof BaseProxy)) {
    yield* items as AsyncIterable<T>;
    return;
  }
  await using iterator = items as IteratorProxy<T>;
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
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 *
 * await using manager = await new SyncManager({ modules: [] }).start();
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
  static _exposed_: readonly string[] = EXPOSED.Acquirer;

  /** Takes the lock; resolves false if `blocking: false` or `timeout` (ms) failed to get it. */
  declare acquire: (options?: AcquireOptions) => Promise<boolean>;
  /** Releases the lock. */
  declare release: () => Promise<void>;
  /** True while somebody holds it. */
  declare locked: () => Promise<boolean>;
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
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 *
 * await using manager = await new SyncManager({ modules: [] }).start();
 * const slots = await manager.BoundedSemaphore(2);
 * await using _slot = await slots.hold();
 * console.log(await slots.value()); // 1
 * ```
 */
export class SemaphoreProxy extends AcquirerProxy {
  /** Methods the server lets this proxy call. */
  static override _exposed_: readonly string[] = EXPOSED.Semaphore;

  /** Returns `n` permits. A BoundedSemaphore rejects going above its start value. */
  declare release: (n?: number) => Promise<void>;
  /** Permits free now (CPython hides it in `_value`). */
  declare value: () => Promise<number>;
}

/**
 * The proxy of a Condition.
 *
 * @example
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 *
 * await using manager = await new SyncManager({ modules: [] }).start();
 * const ready = await manager.Condition();
 * await using _held = await ready.hold();
 * const state = await manager.Value("done");
 * const ok = await ready.waitFor(async () => (await state.get()) === "done", { timeout: 1000 });
 * console.log(ok); // true
 * ```
 */
export class ConditionProxy extends AcquirerProxy {
  /** Methods the server lets this proxy call. */
  static override _exposed_: readonly string[] = EXPOSED.Condition;

  /** Releases the lock, waits for a notify or the timeout, takes the lock back; false on timeout. */
  declare wait: (options?: WaitOptions) => Promise<boolean>;
  /** Wakes up to `n` waiters (the lock must be held). */
  declare notify: (n?: number) => Promise<void>;
  /** Wakes every waiter (the lock must be held). */
  declare notifyAll: () => Promise<void>;
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
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 *
 * await using manager = await new SyncManager({ modules: [] }).start();
 * const event = await manager.Event();
 * setTimeout(() => event.set(), 10);
 * console.log(await event.wait({ timeout: 1000 })); // true
 * ```
 */
export class EventProxy extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = EXPOSED.Event;
  /** True once set (until cleared). */
  declare isSet: () => Promise<boolean>;
  /** Sets the flag and wakes every waiter. */
  declare set: () => Promise<void>;
  /** Clears the flag. */
  declare clear: () => Promise<void>;
  /** Resolves with the flag once set, or with false when `timeout` ms pass. */
  declare wait: (options?: WaitOptions) => Promise<boolean>;
}

/**
 * The proxy of a Barrier.
 *
 * @example
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 *
 * await using manager = await new SyncManager({ modules: [] }).start();
 * const barrier = await manager.Barrier(1);
 * console.log(await barrier.wait()); // 0: the only party
 * ```
 */
export class BarrierProxy extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = EXPOSED.Barrier;
  /** Waits for every party; resolves with this party's arrival index. */
  declare wait: (options?: WaitOptions) => Promise<number>;
  /** Breaks the barrier. */
  declare abort: () => Promise<void>;
  /** Empties and mends the barrier; current waiters get BrokenBarrierError. */
  declare reset: () => Promise<void>;
  /** The number of parties. */
  declare parties: () => Promise<number>;
  /** Parties waiting now. */
  declare nWaiting: () => Promise<number>;
  /** True once broken, until reset. */
  declare broken: () => Promise<boolean>;
}

/**
 * The proxy of a Queue or JoinableQueue.
 *
 * @example
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 *
 * await using manager = await new SyncManager({ modules: [] }).start();
 * const queue = await manager.Queue<string>(10);
 * await queue.put("job");
 * console.log(await queue.get({ timeout: 100 })); // "job"
 * await queue.taskDone();
 * ```
 */
export class QueueProxy<T = unknown> extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = EXPOSED.Queue;
  /** Adds an item, waiting for room if the queue is bounded and full; rejects with Full. */
  declare put: (item: T, options?: QueueWaitOptions) => Promise<void>;
  /** Takes the oldest item, waiting for one if empty; rejects with Empty. */
  declare get: (options?: QueueWaitOptions) => Promise<T>;
  /** `put(item, { block: false })` */
  declare putNowait: (item: T) => Promise<void>;
  /** `get({ block: false })` */
  declare getNowait: () => Promise<T>;
  /** Items in the queue now. */
  declare qsize: () => Promise<number>;
  /** True when no item is queued. */
  declare empty: () => Promise<boolean>;
  /** True when a bounded queue is at its size. */
  declare full: () => Promise<boolean>;
  /** Marks one item taken with get() as processed. */
  declare taskDone: () => Promise<void>;
  /** Resolves once every item put has been marked done. */
  declare join: () => Promise<void>;
}

/**
 * The proxy of a Value.
 *
 * @example
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 *
 * await using manager = await new SyncManager({ modules: [] }).start();
 * const total = await manager.Value(0);
 * await total.set((await total.get()) + 1);
 * console.log(await total.get()); // 1
 * ```
 */
export class ValueProxy<T = unknown> extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = EXPOSED.Value;
  /** The value. */
  declare get: () => Promise<T>;
  /** Replaces the value. */
  declare set: (value: T) => Promise<void>;
}

/**
 * The proxy of an Array: fixed length, indexed.
 *
 * @example
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 *
 * await using manager = await new SyncManager({ modules: [] }).start();
 * const cells = await manager.Array([0, 1]);
 * await cells.set(0, 5);
 * for await (const cell of cells) console.log(cell); // 5, 1
 * ```
 */
export class ArrayProxy<T = unknown> extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = EXPOSED.Array;
  /** Its length. */
  declare length: () => Promise<number>;
  /** Item `index` (negative counts from the end); out of range is a RangeError. */
  declare get: (index: number) => Promise<T>;
  /** Replaces item `index`. */
  declare set: (index: number, value: T) => Promise<void>;
  /** A copy of all items. */
  declare toArray: () => Promise<T[]>;
  /** Iterates lazily, one call per item. */
  [Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    return iterate<T>(this);
  }
}

/**
 * The proxy of a dict: an async mirror of `Map`, plus CPython's extras.
 *
 * @example
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 *
 * await using manager = await new SyncManager({ modules: [] }).start();
 * const scores = await manager.dict<string, number>({ ann: 1 });
 * await scores.set("bob", 2);
 * for await (const [name, score] of scores) console.log(name, score);
 * ```
 */
export class DictProxy<K = unknown, V = unknown> extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = EXPOSED.Dict;
  /** The value of `key`, or undefined when absent. */
  get(key: K): Promise<V | undefined>;
  /** The value of `key`, or `fallback` when absent. */
  get<F>(key: K, fallback: F): Promise<V | F>;
  get(key: K, ...fallback: unknown[]): Promise<unknown> {
    return this._callmethod("get", [key, ...fallback.slice(0, 1)]);
  }
  /** Sets `key` to `value`. */
  declare set: (key: K, value: V) => Promise<void>;
  /** True if `key` is present. */
  declare has: (key: K) => Promise<boolean>;
  /** Removes `key`; true if it was there. */
  declare delete: (key: K) => Promise<boolean>;
  /** Removes everything. */
  declare clear: () => Promise<void>;
  /** The number of entries. */
  declare size: () => Promise<number>;
  /** A copy of the keys. */
  declare keys: () => Promise<K[]>;
  /** A copy of the values. */
  declare values: () => Promise<V[]>;
  /** A copy of the entries. */
  declare entries: () => Promise<[K, V][]>;
  /** Removes `key` and returns its value; a missing key rejects with RangeError unless `fallback` is given. */
  declare pop: (key: K, ...fallback: [V?]) => Promise<V>;
  /** Removes and returns the last inserted entry. */
  declare popitem: () => Promise<[K, V]>;
  /** The value of `key`, first setting it to `fallback` if absent. */
  declare setdefault: (key: K, fallback?: V) => Promise<V>;
  /** Adds the entries of a Map, a plain object or an array of pairs. */
  declare update: (other: Map<K, V> | [K, V][] | Record<string, V>) => Promise<void>;
  /** A copy, as a `Map`. */
  declare copy: () => Promise<Map<K, V>>;
  /** A lazy iterator over the entries (rejects if the dict changes size meanwhile). */
  declare iterate: () => Promise<IteratorProxy<[K, V]>>;
  /** Iterates the entries lazily, one call per entry. */
  [Symbol.asyncIterator](): AsyncGenerator<[K, V], void, undefined> {
    return iterate<[K, V]>(this);
  }
}

/**
 * The proxy of a list: an async mirror of `Array`, plus CPython's methods.
 *
 * @example
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 *
 * await using manager = await new SyncManager({ modules: [] }).start();
 * const items = await manager.list([3, 1, 2]);
 * await items.sort();
 * console.log(await items.slice()); // [1, 2, 3]
 * ```
 */
export class ListProxy<T = unknown> extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = EXPOSED.List;
  /** Its length. */
  declare length: () => Promise<number>;
  /** As `Array.prototype.at`: undefined when out of range. */
  declare at: (index: number) => Promise<T | undefined>;
  /** As Python's `l[i]`: out of range is a RangeError. */
  declare get: (index: number) => Promise<T>;
  /** As Python's `l[i] = value`. */
  declare set: (index: number, value: T) => Promise<void>;
  /** Appends items; resolves with the new length. */
  declare push: (...items: T[]) => Promise<number>;
  /** Appends one item. */
  declare append: (item: T) => Promise<void>;
  /** Appends every item of an array or Set. */
  declare extend: (items: Iterable<T>) => Promise<void>;
  /** Inserts before `index`. */
  declare insert: (index: number, item: T) => Promise<void>;
  /** Removes and returns item `index` (the last by default); an empty list is a RangeError. */
  declare pop: (index?: number) => Promise<T>;
  /** As `Array.prototype.splice`. */
  declare splice: (start: number, deleteCount?: number, ...items: T[]) => Promise<T[]>;
  /** A copy of a range, as `Array.prototype.slice`. */
  declare slice: (start?: number, end?: number) => Promise<T[]>;
  /** The first index of an equal item, or -1. */
  declare indexOf: (item: T) => Promise<number>;
  /** Python's `index()`: a missing item is a RangeError. */
  declare index: (item: T, start?: number, end?: number) => Promise<number>;
  /** How many items equal `item`. */
  declare count: (item: T) => Promise<number>;
  /** Removes the first equal item; a missing one is a RangeError. */
  declare remove: (item: T) => Promise<void>;
  /** Sorts in Python's order (numbers by value, strings by code point). */
  declare sort: (options?: { reverse?: boolean }) => Promise<void>;
  /** Reverses in place. */
  declare reverse: () => Promise<void>;
  /** Removes everything. */
  declare clear: () => Promise<void>;
  /** A copy of all items. */
  declare copy: () => Promise<T[]>;
  /** A lazy iterator by index; it sees changes made meanwhile, as CPython's does. */
  declare iterate: () => Promise<IteratorProxy<T>>;
  /** Iterates lazily, one call per item. */
  [Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    return iterate<T>(this);
  }
}

/**
 * The proxy of a set: an async mirror of `Set`, plus CPython's methods.
 *
 * @example
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 *
 * await using manager = await new SyncManager({ modules: [] }).start();
 * const seen = await manager.set<string>();
 * await seen.add("a");
 * console.log(await seen.has("a")); // true
 * ```
 */
export class SetProxy<T = unknown> extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = EXPOSED.Set;
  /** Adds an item. */
  declare add: (item: T) => Promise<void>;
  /** Removes an item; true if it was there. */
  declare delete: (item: T) => Promise<boolean>;
  /** True if present. */
  declare has: (item: T) => Promise<boolean>;
  /** Removes everything. */
  declare clear: () => Promise<void>;
  /** The number of items. */
  declare size: () => Promise<number>;
  /** A copy of the items. */
  declare values: () => Promise<T[]>;
  /** Removes an item if present. */
  declare discard: (item: T) => Promise<void>;
  /** Removes an item; a missing one is a RangeError. */
  declare remove: (item: T) => Promise<void>;
  /** Removes and returns some item; an empty set is a RangeError. */
  declare pop: () => Promise<T>;
  /** Adds the items of arrays or Sets. */
  declare update: (...others: Iterable<T>[]) => Promise<void>;
  /** A copy, as a `Set`. */
  declare copy: () => Promise<Set<T>>;
  /** A lazy iterator (rejects if the set changes size meanwhile). */
  declare iterate: () => Promise<IteratorProxy<T>>;
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
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 *
 * await using manager = await new SyncManager({ modules: [] }).start();
 * const ns = await manager.Namespace({ name: "Bob" });
 * await ns.set("job", "Builder");
 * console.log(await ns.repr()); // Namespace(job='Builder', name='Bob')
 * ```
 */
export class NamespaceProxy extends BaseProxy {
  /** Methods the server lets this proxy call. */
  static _exposed_: readonly string[] = EXPOSED.Namespace;
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
  declare toObject: () => Promise<Record<string, unknown>>;
  /** CPython's `str(namespace)`: `Namespace(job='Builder', name='Bob')`. */
  declare repr: () => Promise<string>;
}

for (
  const cls of [
    IteratorProxy,
    AcquirerProxy,
    SemaphoreProxy,
    ConditionProxy,
    EventProxy,
    BarrierProxy,
    QueueProxy,
    ValueProxy,
    ArrayProxy,
    DictProxy,
    ListProxy,
    SetProxy,
    NamespaceProxy,
  ]
) {
  forwardMethods(cls, cls._exposed_);
}
