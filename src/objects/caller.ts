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
  /**
   * Aborted when the caller's connection closes (never, for the server
   * itself), and, in a call its client made with a `signal` or `timeout`,
   * when the client cancels that call.
   */
  readonly signal: AbortSignal;
}

/** The server itself: calls made by server-side code, and code outside any call. */
export const SERVER_CALLER: Caller = Object.freeze({
  id: 0,
  signal: new AbortController().signal,
});

let current: Caller = SERVER_CALLER;
let currentContext: CallContext | undefined;
let perCall: Caller | undefined;

/**
 * One call a client made, from its start until its result is delivered:
 * what the server does if the result never reaches the client. The
 * standard types register here how to undo what a call took (an item
 * taken, a lock granted, an entry popped), each step naming the exact slot
 * it restores. The steps run, newest first, when the call is cancelled: its
 * client gave up on it (a `signal` or `timeout`), its reply could not be
 * encoded, or its connection closed before the reply was written. Once
 * the result is delivered (the reply is written, or, for a call its client
 * may cancel, the client accepts it) nothing is undone.
 * Internal: the standard types use it; shared code sees `currentCaller().signal`.
 */
export class CallContext {
  readonly #controller: AbortController | undefined;
  #undo: (() => void)[] | undefined;
  #state: "open" | "cancelled" | "accepted" = "open";
  #replied = false;

  /** `cancellable`: the client may cancel the call while it runs (it gave a signal or timeout). */
  constructor(cancellable = true) {
    this.#controller = cancellable ? new AbortController() : undefined;
  }

  /** Whether the client may cancel this call (and so sends `accept` once it has the result). */
  get cancellable(): boolean {
    return this.#controller !== undefined;
  }

  /**
   * Aborts when the client cancels this call while it runs; undefined for a
   * call its client cannot cancel (only its connection's signal matters then).
   */
  get cancelled(): AbortSignal | undefined {
    return this.#controller?.signal;
  }

  /**
   * Registers what undoes an effect of this call (a lock granted, an item
   * taken), run if the call is cancelled before its result is delivered;
   * at once if it has been cancelled already.
   */
  onUndo(step: () => void): void {
    if (this.#state === "cancelled") runUndo(step);
    else if (this.#state === "open") (this.#undo ??= []).push(step);
  }

  /**
   * The result will not be delivered: waits drop out, and what the call did
   * is undone, newest step first. Returns whether there was anything to undo.
   */
  cancel(): boolean {
    if (this.#state !== "open") return false;
    this.#state = "cancelled";
    this.#controller?.abort(new DOMException("The client cancelled the call", "AbortError"));
    const steps = this.#undo ?? [];
    this.#undo = undefined;
    for (let i = steps.length - 1; i >= 0; i--) runUndo(steps[i]!);
    return steps.length > 0;
  }

  /** The result was delivered: nothing will be undone. */
  accept(): void {
    if (this.#state !== "open") return;
    this.#state = "accepted";
    this.#undo = undefined;
  }

  /**
   * Its reply was written: a call its client cannot cancel is done; a
   * cancellable one waits for the client's verdict (`accept` or `cancel`).
   */
  replied(): void {
    if (this.#controller === undefined) this.accept();
    else this.#replied = true;
  }

  /**
   * Its connection closed: a reply already written stands (the client may
   * have it, and what it holds is let go of through its connection's
   * signal); a call that had no reply yet is undone.
   */
  connectionClosed(): void {
    if (this.#replied) this.accept();
    else this.cancel();
  }
}

function runUndo(step: () => void): void {
  try {
    step();
  } catch { /* an undo that cannot apply (the state moved on) is skipped */ }
}

/** The client call running now, if any (for the standard types: what to undo, when to stop waiting). */
export function currentCall(): CallContext | undefined {
  return currentContext;
}

/** The connection's caller, whatever the call (for the standard types: who holds what). */
export function connectionCaller(): Caller {
  return current;
}

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
  const cancelled = currentContext?.cancelled;
  if (cancelled === undefined || current === SERVER_CALLER) return current;
  // A cancellable call: its signal aborts when the call is cancelled or the connection closes.
  perCall ??= Object.freeze({
    id: current.id,
    signal: AbortSignal.any([current.signal, cancelled]),
  });
  return perCall;
}

/**
 * Runs `fn` with `caller` as the current caller (the server does this for
 * each call), and `call` as the client call it runs for, if any.
 */
export function runAs<T>(caller: Caller, fn: () => T, call?: CallContext): T {
  const previous = current;
  const previousContext = currentContext;
  const previousPerCall = perCall;
  current = caller;
  currentContext = call;
  perCall = undefined;
  try {
    return fn();
  } finally {
    current = previous;
    currentContext = previousContext;
    perCall = previousPerCall;
  }
}
