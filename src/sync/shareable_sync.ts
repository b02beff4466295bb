/**
 * The locks, semaphores, `Event`, `Condition` and `Barrier`, to share one
 * under a name, as Python's docs share a `queue.Queue()` with
 * `register("get_queue", callable=lambda: queue)`. Each is made by a
 * function, as Python's `threading.Lock()` is (`new` works too), and typed
 * by what a proxy may call on it: the rest is the server's own bookkeeping
 * (who holds what, for a caller whose connection closes).
 *
 * @module
 */

import {
  type AcquireOptions,
  Barrier as SharedBarrier,
  type BarrierOptions,
  BoundedSemaphore as SharedBoundedSemaphore,
  Condition as SharedCondition,
  Event as SharedEvent,
  Lock as SharedLock,
  RLock as SharedRLock,
  Semaphore as SharedSemaphore,
  type WaitOptions,
} from "./primitives.ts";

/**
 * What a proxy may call on a shared lock: a {@linkcode Lock} or {@linkcode RLock}.
 *
 * @example
 * ```ts
 * import { Lock, type LockObject } from "@multiprocess/managers/standard";
 *
 * const lock: LockObject = Lock();
 * console.log(lock.locked()); // false
 * ```
 */
export interface LockObject {
  /** Takes the lock for the caller; with `blocking: false` or a `timeout`, may return false. */
  acquire(options?: AcquireOptions): boolean | Promise<boolean>;
  /** Lets the lock go. */
  release(): void;
  /** Whether someone holds it. */
  locked(): boolean;
}

/**
 * A mutual-exclusion lock to share under a name (Python's `threading.Lock()`).
 * Its holder's connection closing releases it.
 *
 * @example
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 * import { Lock } from "@multiprocess/managers/standard";
 *
 * export class AppManager extends SyncManager {}
 * const lock = Lock();
 * AppManager.register("get_lock", () => lock);
 * console.log(lock.locked()); // false
 * ```
 */
export function Lock(): LockObject {
  return new SharedLock();
}

/**
 * A re-entrant lock to share under a name (Python's `threading.RLock()`):
 * its holder may take it again, and releases it as many times.
 *
 * @example
 * ```ts
 * import { RLock } from "@multiprocess/managers/standard";
 *
 * const rlock = RLock();
 * console.log(rlock.locked()); // false
 * ```
 */
export function RLock(): LockObject {
  return new SharedRLock();
}

/**
 * What a proxy may call on a shared semaphore.
 *
 * @example
 * ```ts
 * import { Semaphore, type SemaphoreObject } from "@multiprocess/managers/standard";
 *
 * const slots: SemaphoreObject = Semaphore(2);
 * console.log(slots.value()); // 2
 * ```
 */
export interface SemaphoreObject extends LockObject {
  /** Lets `n` permits go (default 1). */
  release(n?: number): void;
  /** The permits free now. */
  value(): number;
}

/**
 * A counting semaphore of `value` permits to share under a name (Python's
 * `threading.Semaphore(value)`).
 *
 * @example
 * ```ts
 * import { Semaphore } from "@multiprocess/managers/standard";
 *
 * console.log(Semaphore(3).value()); // 3
 * ```
 */
export function Semaphore(value = 1): SemaphoreObject {
  return new SharedSemaphore(value);
}

/**
 * A semaphore that refuses to be released above `value` (Python's
 * `threading.BoundedSemaphore(value)`).
 *
 * @example
 * ```ts
 * import { BoundedSemaphore } from "@multiprocess/managers/standard";
 *
 * console.log(BoundedSemaphore(2).value()); // 2
 * ```
 */
export function BoundedSemaphore(value = 1): SemaphoreObject {
  return new SharedBoundedSemaphore(value);
}

/**
 * What a proxy may call on a shared event.
 *
 * @example
 * ```ts
 * import { Event, type EventObject } from "@multiprocess/managers/standard";
 *
 * const ready: EventObject = Event();
 * ready.set();
 * console.log(ready.isSet()); // true
 * ```
 */
export interface EventObject {
  /** Whether the flag is set. */
  isSet(): boolean;
  /** Sets the flag and wakes every waiter. */
  set(): void;
  /** Clears the flag. */
  clear(): void;
  /** Waits for the flag (at most `timeout` ms); whether it was set. */
  wait(options?: WaitOptions): boolean | Promise<boolean>;
}

/**
 * A flag callers can wait for, to share under a name (Python's `threading.Event()`).
 *
 * @example
 * ```ts
 * import { Event } from "@multiprocess/managers/standard";
 *
 * const ready = Event();
 * console.log(ready.isSet()); // false
 * ```
 */
export function Event(): EventObject {
  return new SharedEvent();
}

/**
 * What a proxy may call on a shared condition.
 *
 * @example
 * ```ts
 * import { Condition, type ConditionObject } from "@multiprocess/managers/standard";
 *
 * const changed: ConditionObject = Condition();
 * console.log(changed.locked()); // false
 * ```
 */
export interface ConditionObject extends LockObject {
  /** Releases the lock, waits for a notify (at most `timeout` ms), takes the lock back. */
  wait(options?: WaitOptions): boolean | Promise<boolean>;
  /** Wakes `n` waiters (default 1). */
  notify(n?: number): void;
  /** Wakes every waiter. */
  notifyAll(): void;
}

/**
 * A condition variable over its own re-entrant lock, to share under a name
 * (Python's `threading.Condition()`).
 *
 * @example
 * ```ts
 * import { Condition } from "@multiprocess/managers/standard";
 *
 * console.log(Condition().locked()); // false
 * ```
 */
export function Condition(): ConditionObject {
  return new SharedCondition();
}

/**
 * What a proxy may call on a shared barrier.
 *
 * @example
 * ```ts
 * import { Barrier, type BarrierObject } from "@multiprocess/managers/standard";
 *
 * const start: BarrierObject = Barrier(3);
 * console.log(start.parties(), start.nWaiting()); // 3 0
 * ```
 */
export interface BarrierObject {
  /** Waits until every party has arrived; the caller's arrival index. */
  wait(options?: WaitOptions): number | Promise<number>;
  /** Breaks the barrier: waiters and later arrivals fail. */
  abort(): void;
  /** Makes it whole again, failing those waiting now. */
  reset(): void;
  /** How many parties must arrive. */
  parties(): number;
  /** How many are waiting now. */
  nWaiting(): number;
  /** Whether it is broken. */
  broken(): boolean;
}

/**
 * A barrier for `parties` callers, reusable cycle after cycle, to share
 * under a name (Python's `threading.Barrier(parties, timeout=...)`; an
 * `action`, Python code in Python, cannot be given here).
 *
 * @example
 * ```ts
 * import { Barrier } from "@multiprocess/managers/standard";
 *
 * console.log(Barrier(2, { timeout: 5000 }).parties()); // 2
 * ```
 */
export function Barrier(
  parties: number,
  options: { readonly timeout?: number } = {},
): BarrierObject {
  return new SharedBarrier(parties, options as BarrierOptions);
}
