/**
 * Parked calls of the blocking shared types (locks, queues, events...),
 * oldest first. A waiter leaves the list when it is handed something, when
 * its timeout runs out, or when its caller's connection closes; in the last
 * case nobody is left to answer, so it just disappears.
 *
 * @module
 */

import { type Caller, currentCall } from "../objects/caller.ts";

/** One parked call. */
export interface Waiter<T> {
  /** Who is waiting. */
  readonly caller: Caller;
  /** Extra data the waiter carries (a queue put's item, say). */
  readonly data: unknown;
}

interface Entry<T> extends Waiter<T> {
  /** Its place in arrival order: later waiters have larger ones. */
  readonly seq: number;
  prev: Entry<T> | undefined;
  next: Entry<T> | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  cleanup?: () => void;
  settle(outcome: { value: T } | null): void;
}

/** The waiters of one caller in one list, and the one listener that drops them. */
interface CallerGroup<T> {
  readonly entries: Set<Entry<T>>;
  readonly onAbort: () => void;
}

/**
 * A FIFO of waiters; wake-ups hand a value to the oldest one. Parking,
 * waking and dropping a waiter each cost O(1): the waiters form a linked
 * list, and each caller's waiters are grouped under one abort listener,
 * however many it parks (tens of thousands of `get()`s from one
 * connection stay cheap to park, wake and clean up).
 */
export class WaitList<T = true> {
  #first: Entry<T> | undefined;
  #last: Entry<T> | undefined;
  #size = 0;
  #seq = 0;
  readonly #groups = new Map<Caller, CallerGroup<T>>();

  /** Number of waiters. */
  get size(): number {
    return this.#size;
  }

  /** The arrival mark of the newest waiter so far: a wake-up names who was there with it. */
  get lastSeq(): number {
    return this.#seq;
  }

  /**
   * Parks `caller` until handed a value (resolves `{ value }`) or until
   * `timeout` ms pass (resolves `null`). `timeout` undefined waits forever.
   * A caller whose connection closes is dropped (resolves `null`).
   */
  wait(caller: Caller, timeout?: number, data?: unknown): Promise<{ value: T } | null> {
    if (caller.signal.aborted) return Promise.resolve(null);
    // A call its client cancels while it waits drops out, as on a timeout.
    const cancelled = currentCall()?.cancelled;
    if (cancelled?.aborted) return Promise.resolve(null);
    const { promise, resolve } = Promise.withResolvers<{ value: T } | null>();
    const entry: Entry<T> = {
      caller,
      data,
      seq: ++this.#seq,
      prev: this.#last,
      next: undefined,
      timer: undefined,
      settle: (outcome) => {
        this.#remove(entry);
        resolve(outcome);
      },
    };
    if (this.#last === undefined) this.#first = entry;
    else this.#last.next = entry;
    this.#last = entry;
    this.#size++;
    this.#group(caller).entries.add(entry);
    if (timeout !== undefined) entry.timer = setTimeout(() => entry.settle(null), timeout);
    if (cancelled !== undefined) {
      const onCancel = (): void => entry.settle(null);
      cancelled.addEventListener("abort", onCancel, { once: true });
      entry.cleanup = () => cancelled.removeEventListener("abort", onCancel);
    }
    return promise;
  }

  /** The oldest waiter, without waking it. */
  peek(): Waiter<T> | undefined {
    return this.#oldest();
  }

  /** Hands `value` to the oldest waiter; false if nobody waits. */
  wakeOne(value: T): boolean {
    const entry = this.#oldest();
    if (entry === undefined) return false;
    entry.settle({ value });
    return true;
  }

  /**
   * Hands `value` to the oldest waiter if it arrived by `seq` (a
   * `lastSeq` read earlier): a wake-up passed on goes only to a waiter
   * that was there when it was first given. False if there is none.
   */
  wakeOneUpTo(seq: number, value: T): boolean {
    const entry = this.#oldest();
    if (entry === undefined || entry.seq > seq) return false;
    entry.settle({ value });
    return true;
  }

  /** Hands `value` to every waiter; returns how many there were. */
  wakeAll(value: T): number {
    return this.wakeEach(() => value);
  }

  /** Hands each waiter `valueAt(position)`, oldest first from 0; returns how many there were. */
  wakeEach(valueAt: (position: number) => T): number {
    let woken = 0;
    for (let entry = this.#oldest(); entry !== undefined; entry = this.#oldest()) {
      entry.settle({ value: valueAt(woken) });
      woken++;
    }
    return woken;
  }

  /**
   * The oldest waiter whose caller is still connected. A waiter whose
   * connection has just closed (its abort listeners are still running)
   * is dropped, never handed anything: nobody would receive it.
   */
  #oldest(): Entry<T> | undefined {
    let entry = this.#first;
    while (entry !== undefined && entry.caller.signal.aborted) {
      entry.settle(null);
      entry = this.#first;
    }
    return entry;
  }

  /** Hands `value` to the waiters of `caller` only. */
  wakeCaller(caller: Caller, value: T): void {
    const group = this.#groups.get(caller);
    if (group === undefined) return;
    for (const entry of [...group.entries]) entry.settle({ value });
  }

  #group(caller: Caller): CallerGroup<T> {
    let group = this.#groups.get(caller);
    if (group === undefined) {
      const entries = new Set<Entry<T>>();
      const onAbort = (): void => {
        for (const entry of [...entries]) entry.settle(null);
      };
      group = { entries, onAbort };
      this.#groups.set(caller, group);
      caller.signal.addEventListener("abort", onAbort, { once: true });
    }
    return group;
  }

  #remove(entry: Entry<T>): void {
    if (entry.prev === undefined && this.#first !== entry) return; // already out
    clearTimeout(entry.timer);
    entry.cleanup?.();
    if (entry.prev === undefined) this.#first = entry.next;
    else entry.prev.next = entry.next;
    if (entry.next === undefined) this.#last = entry.prev;
    else entry.next.prev = entry.prev;
    entry.prev = entry.next = undefined;
    this.#size--;
    const group = this.#groups.get(entry.caller);
    if (group !== undefined) {
      group.entries.delete(entry);
      if (group.entries.size === 0) {
        this.#groups.delete(entry.caller);
        entry.caller.signal.removeEventListener("abort", group.onAbort);
      }
    }
  }
}

/** Checks a timeout option: undefined, or a non-negative number of milliseconds. */
export function checkTimeout(timeout: unknown): number | undefined {
  if (timeout === undefined || timeout === null) return undefined;
  if (typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0) {
    throw new RangeError(
      `The timeout option must be a non-negative number of milliseconds, got ${timeout}`,
    );
  }
  return Number.isFinite(timeout) ? timeout : undefined;
}

/** Checks `{ blocking?, timeout? }` as Python's `acquire(blocking, timeout)` does. */
export function checkBlocking(
  options: unknown,
): { blocking: boolean; timeout: number | undefined } {
  const { blocking = true, timeout } = (options ?? {}) as { blocking?: unknown; timeout?: unknown };
  if (typeof blocking !== "boolean") throw new TypeError("The blocking option must be a boolean");
  const checked = checkTimeout(timeout);
  if (!blocking && checked !== undefined) {
    throw new RangeError("Cannot give a timeout to a non-blocking call");
  }
  return { blocking, timeout: checked };
}
