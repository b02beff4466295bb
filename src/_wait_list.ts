/**
 * Parked calls of the blocking shared types (locks, queues, events...),
 * oldest first. A waiter leaves the list when it is handed something, when
 * its timeout runs out, or when its caller's connection closes; in the last
 * case nobody is left to answer, so it just disappears.
 *
 * @module
 */

import type { Caller } from "./caller.ts";

/** One parked call. */
export interface Waiter<T> {
  /** Who is waiting. */
  readonly caller: Caller;
  /** Extra data the waiter carries (a queue put's item, say). */
  readonly data: unknown;
}

interface Entry<T> extends Waiter<T> {
  resolve(outcome: { value: T } | null): void;
}

/** A FIFO of waiters; wake-ups hand a value to the oldest one. */
export class WaitList<T = true> {
  #entries: Entry<T>[] = [];

  /** Number of waiters. */
  get size(): number {
    return this.#entries.length;
  }

  /**
   * Parks `caller` until handed a value (resolves `{ value }`) or until
   * `timeout` ms pass (resolves `null`). `timeout` undefined waits forever.
   */
  wait(caller: Caller, timeout?: number, data?: unknown): Promise<{ value: T } | null> {
    if (caller.signal.aborted) return Promise.resolve(null);
    return new Promise((settle) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (outcome: { value: T } | null): void => {
        clearTimeout(timer);
        caller.signal.removeEventListener("abort", onAbort);
        const at = this.#entries.indexOf(entry);
        if (at >= 0) this.#entries.splice(at, 1);
        settle(outcome);
      };
      const onAbort = (): void => done(null);
      const entry: Entry<T> = { caller, data, resolve: done };
      this.#entries.push(entry);
      caller.signal.addEventListener("abort", onAbort, { once: true });
      if (timeout !== undefined) timer = setTimeout(() => done(null), timeout);
    });
  }

  /** The oldest waiter, without waking it. */
  peek(): Waiter<T> | undefined {
    return this.#entries[0];
  }

  /** Hands `value` to the oldest waiter; false if nobody waits. */
  wakeOne(value: T): boolean {
    const entry = this.#entries[0];
    if (entry === undefined) return false;
    entry.resolve({ value });
    return true;
  }

  /** Hands `value` to every waiter; returns how many there were. */
  wakeAll(value: T): number {
    const entries = [...this.#entries];
    for (const entry of entries) entry.resolve({ value });
    return entries.length;
  }

  /** Hands `value` to the waiters of `caller` only. */
  wakeCaller(caller: Caller, value: T): void {
    for (const entry of this.#entries.filter((e) => e.caller === caller)) entry.resolve({ value });
  }
}

/** Checks a timeout option: undefined, or a non-negative number of milliseconds. */
export function checkTimeout(timeout: unknown): number | undefined {
  if (timeout === undefined || timeout === null) return undefined;
  if (typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0) {
    throw new RangeError(`timeout must be a non-negative number of milliseconds, got ${timeout}`);
  }
  return Number.isFinite(timeout) ? timeout : undefined;
}

/** Checks `{ blocking?, timeout? }` as Python's `acquire(blocking, timeout)` does. */
export function checkBlocking(
  options: unknown,
): { blocking: boolean; timeout: number | undefined } {
  const { blocking = true, timeout } = (options ?? {}) as { blocking?: unknown; timeout?: unknown };
  if (typeof blocking !== "boolean") throw new TypeError("blocking must be a boolean");
  const checked = checkTimeout(timeout);
  if (!blocking && checked !== undefined) {
    throw new RangeError("Cannot give a timeout to a non-blocking call");
  }
  return { blocking, timeout: checked };
}
