/**
 * Functions that travel by reference. A function wrapped with
 * {@linkcode callback} is sent as a reference: the server gets an async
 * function that calls back into the process that sent it, over the same
 * connection. A plain function still cannot be sent.
 *
 * @module
 */

/** A function to be sent by reference; made by {@linkcode callback}. */
export class Callback<A extends unknown[] = unknown[], R = unknown> {
  /** The function called when the server calls its stub. */
  readonly fn: (...args: A) => R | Promise<R>;
  /** Wraps `fn`. */
  constructor(fn: (...args: A) => R | Promise<R>) {
    if (typeof fn !== "function") throw new TypeError("callback() takes a function");
    this.fn = fn;
  }
}

/**
 * `fn`, to be sent by reference: a shared method that receives it gets an
 * async function that calls `fn` in this process and resolves with its
 * result. The server's stub keeps `fn` alive here until the stub is
 * collected or the connection closes; calling a stub whose client has gone
 * rejects with `ConnectionClosedError`.
 *
 * @example
 * ```ts
 * import { callback } from "@multiprocess/managers";
 *
 * const onProgress = callback((done: number) => console.log(`${done}%`));
 * console.log(typeof onProgress.fn); // "function"
 * // await job.run(onProgress); // the server calls it: `await onProgress(50)`
 * ```
 */
export function callback<A extends unknown[], R>(
  fn: (...args: A) => R | Promise<R>,
): Callback<A, R> {
  return new Callback(fn);
}

/** The server's view of a callback: an async function of the same arguments. */
export type CallbackStub<A extends unknown[] = unknown[], R = unknown> = (
  ...args: A
) => Promise<Awaited<R>>;
