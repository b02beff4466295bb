/**
 * `SyncManager`: a manager with CPython's standard shared types, typed.
 *
 * @module
 */

import { BaseManager, type ManagerOptions } from "./manager.ts";
import type { ProxyClass } from "../objects/proxy.ts";
import type { BarrierOptions } from "../sync/primitives.ts";
import { type ProxyKind, STANDARD_TYPES } from "../sync/standard_types.ts";
import {
  AcquirerProxy,
  ArrayProxy,
  BarrierProxy,
  ConditionProxy,
  DictProxy,
  EventProxy,
  IteratorProxy,
  ListProxy,
  NamespaceProxy,
  QueueProxy,
  SemaphoreProxy,
  SetProxy,
  ValueProxy,
} from "../sync/proxies.ts";

/**
 * The typed arrays a shared `Array` can hold.
 *
 * @example
 * ```ts
 * import type { TypedArray } from "@multiprocess/managers";
 *
 * const cells: TypedArray = new Float64Array(4);
 * console.log(cells.length); // 4
 * ```
 */
export type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array;

/**
 * A manager with CPython's standard shared types: queues, locks,
 * semaphores, events, conditions, barriers, values, arrays, dicts, lists,
 * sets and namespaces. What blocks in Python returns a promise here and
 * blocks nobody else; timeouts are in milliseconds.
 *
 * When a client's connection closes (its process exited or was killed),
 * everything it held is released: locks (an RLock fully), semaphore
 * permits, a Condition's lock, and its pending waits. Ownership of an
 * RLock or Condition belongs to the connection, that is to the process:
 * concurrent async tasks of one process share it, as threads of one
 * CPython client would not; use a Lock between tasks of one process.
 *
 * @example
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 *
 * if (import.meta.main) {
 *   await using manager = await new SyncManager().start();
 *   const queue = await manager.Queue<string>();
 *   const results = await manager.dict<string, number>();
 *   await queue.put("job-1");
 *   const job = await queue.get({ timeout: 1000 });
 *   await results.set(job, job.length);
 *   console.log(await results.entries()); // [["job-1", 5]]
 * }
 * ```
 */
export class SyncManager extends BaseManager {
  /** A FIFO queue, bounded when `maxsize` > 0 (Python's `queue.Queue`). */
  Queue<T = unknown>(maxsize = 0): Promise<QueueProxy<T>> {
    return this.create("Queue", maxsize) as unknown as Promise<QueueProxy<T>>;
  }
  /**
   * A queue for work: items a process took and had not marked done with
   * `taskDone()` when it died are put back at the head, so `join()` still
   * returns (every queue has `taskDone()` and `join()`, as in CPython).
   */
  JoinableQueue<T = unknown>(maxsize = 0): Promise<QueueProxy<T>> {
    return this.create("JoinableQueue", maxsize) as unknown as Promise<QueueProxy<T>>;
  }
  /** A flag callers can wait for. */
  Event(): Promise<EventProxy> {
    return this.create("Event") as unknown as Promise<EventProxy>;
  }
  /** A lock any caller may release; released if its holder's connection closes. */
  Lock(): Promise<AcquirerProxy> {
    return this.create("Lock") as unknown as Promise<AcquirerProxy>;
  }
  /** A re-entrant lock owned by the connection that acquired it. */
  RLock(): Promise<AcquirerProxy> {
    return this.create("RLock") as unknown as Promise<AcquirerProxy>;
  }
  /** A counting semaphore. */
  Semaphore(value = 1): Promise<SemaphoreProxy> {
    return this.create("Semaphore", value) as unknown as Promise<SemaphoreProxy>;
  }
  /** A semaphore that refuses to rise above its start value. */
  BoundedSemaphore(value = 1): Promise<SemaphoreProxy> {
    return this.create("BoundedSemaphore", value) as unknown as Promise<SemaphoreProxy>;
  }
  /** A condition variable over `lock` (a Lock or RLock of this manager), or a new RLock. */
  Condition(lock?: AcquirerProxy): Promise<ConditionProxy> {
    return this.create("Condition", ...(lock === undefined ? [] : [lock])) as unknown as Promise<
      ConditionProxy
    >;
  }
  /** A barrier for `parties` parties; `action` runs once per cycle, `timeout` is the default wait. */
  Barrier(parties: number, options?: BarrierOptions): Promise<BarrierProxy> {
    return this.create(
      "Barrier",
      parties,
      ...(options === undefined ? [] : [options]),
    ) as unknown as Promise<
      BarrierProxy
    >;
  }
  /** One shared value. */
  Value<T>(value: T): Promise<ValueProxy<T>> {
    return this.create("Value", value) as unknown as Promise<ValueProxy<T>>;
  }
  /** A fixed-length array (a typed array keeps its element type). */
  Array<T = number>(values: T[] | TypedArray): Promise<ArrayProxy<T>> {
    return this.create("Array", values) as unknown as Promise<ArrayProxy<T>>;
  }
  /** A dict: an async `Map`. `init` is a Map, a plain object or [key, value] pairs. */
  dict<K = string, V = unknown>(
    init?: Map<K, V> | [K, V][] | Record<string, V>,
  ): Promise<DictProxy<K, V>> {
    return this.create("dict", ...(init === undefined ? [] : [init])) as unknown as Promise<
      DictProxy<K, V>
    >;
  }
  /** A list: an async `Array`. */
  list<T = unknown>(init?: Iterable<T>): Promise<ListProxy<T>> {
    return this.create("list", ...(init === undefined ? [] : [[...init]])) as unknown as Promise<
      ListProxy<T>
    >;
  }
  /** A set: an async `Set` (CPython 3.14's `SyncManager.set()`). */
  set<T = unknown>(init?: Iterable<T>): Promise<SetProxy<T>> {
    return this.create("set", ...(init === undefined ? [] : [[...init]])) as unknown as Promise<
      SetProxy<T>
    >;
  }
  /** Named attributes. */
  Namespace(init?: Record<string, unknown>): Promise<NamespaceProxy> {
    return this.create("Namespace", ...(init === undefined ? [] : [init])) as unknown as Promise<
      NamespaceProxy
    >;
  }
}

/** The proxy class of each kind of standard type. */
const PROXIES: Record<ProxyKind, ProxyClass> = {
  Iterator: IteratorProxy,
  Acquirer: AcquirerProxy,
  Semaphore: SemaphoreProxy,
  Condition: ConditionProxy,
  Event: EventProxy,
  Barrier: BarrierProxy,
  Queue: QueueProxy,
  Value: ValueProxy,
  Array: ArrayProxy,
  Dict: DictProxy,
  List: ListProxy,
  Set: SetProxy,
  Namespace: NamespaceProxy,
};

for (const { typeid, callable, kind, methodToTypeid } of STANDARD_TYPES) {
  SyncManager.register(typeid, callable, {
    proxytype: PROXIES[kind],
    ...(methodToTypeid === undefined ? {} : { methodToTypeid }),
    // Each has a typed factory method above instead.
    createMethod: false,
  });
}

/**
 * CPython's `multiprocessing.Manager()`: a started {@linkcode SyncManager}.
 * Use it with `await using` (it shuts down at the end of the block), or
 * call `shutdown()`; it also shuts down when the process that started it
 * exits, however it ends.
 *
 * @example
 * ```ts
 * import { Manager } from "@multiprocess/managers";
 *
 * if (import.meta.main) {
 *   await using manager = await Manager();
 *   const counts = await manager.dict<string, number>();
 *   await counts.set("apples", 3);
 *   console.log(await counts.get("apples")); // 3
 * }
 * ```
 */
export async function Manager(options?: ManagerOptions): Promise<SyncManager> {
  return await new SyncManager(options).start();
}
