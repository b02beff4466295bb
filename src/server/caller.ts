/**
 * Who is calling a shared method: one client connection (one process), or
 * the server itself. Objects that hold something on behalf of a caller
 * (a lock, a semaphore permit, a waiting `get()`) use its `signal` to let
 * go when that caller's connection closes, however its process ended.
 *
 * @module
 */

/**
 * The caller of a shared method, from {@linkcode currentCaller}.
 *
 * @example
 * ```ts
 * import { currentCaller } from "@multiprocess/managers";
 *
 * export class Tracker {
 *   #holders = new Set<number>();
 *   join(): number {
 *     const caller = currentCaller(); // before any await
 *     this.#holders.add(caller.id);
 *     caller.signal.addEventListener("abort", () => this.#holders.delete(caller.id));
 *     return this.#holders.size;
 *   }
 * }
 * ```
 */
export interface Caller {
  /** Unique for the life of the server; 0 is the server itself. */
  readonly id: number;
  /** Aborted when the caller's connection closes (never, for the server itself). */
  readonly signal: AbortSignal;
}

/** The server itself: calls made by server-side code, and code outside any call. */
export const SERVER_CALLER: Caller = Object.freeze({
  id: 0,
  signal: new AbortController().signal,
});

let current: Caller = SERVER_CALLER;

/**
 * The caller of the shared method running now. Read it synchronously, at
 * the start of the method: after an `await` it is no longer known. Outside
 * a call (and for calls made by server-side code) it is the server itself,
 * id 0, whose signal never aborts.
 *
 * @example
 * ```ts
 * import { currentCaller } from "@multiprocess/managers";
 *
 * console.log(currentCaller().id); // 0: not inside a call
 * ```
 */
export function currentCaller(): Caller {
  return current;
}

/** Runs `fn` with `caller` as the current caller (the server does this for each call). */
export function runAs<T>(caller: Caller, fn: () => T): T {
  const previous = current;
  current = caller;
  try {
    return fn();
  } finally {
    current = previous;
  }
}
