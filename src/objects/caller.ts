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

/**
 * One call a client made, from its start until its result is delivered:
 * what the server does if the result never reaches the client. The
 * standard types register here how to undo what a call took (an item
 * taken, a lock granted, an entry popped), each step naming the exact slot
 * it restores. The steps run, newest first, when the call is cancelled: its
 * client gave up on it (a `signal` or `timeout`), its reply could not be
 * encoded, or its connection closed before the reply was written. Once
 * the result is delivered (the reply is written, or, for a call its client
 * may cancel, the client accepts it) nothing is undone. A streamed
 * result's generator runs in one too, made with `undo: false`: it is
 * cancelled when its client stops reading, and has nothing to undo (what it
 * yielded was delivered).
 * Internal: the standard types use it; shared code sees `currentCaller().signal`.
 */
export class CallContext {
  readonly #controller: AbortController | undefined;
  #undo: (() => void)[] | undefined;
  readonly #undoable: boolean;
  #state: "open" | "cancelled" | "accepted" = "open";
  #replied = false;
  /** The caller shared code sees in this call: its connection's, with this call's signal too. */
  #caller: Caller | undefined;

  /**
   * `cancellable`: the client may cancel the call while it runs (it gave a
   * signal or timeout); with `undo: false`, the undo steps of its methods
   * are not kept.
   */
  constructor(options: { readonly cancellable?: boolean; readonly undo?: boolean } = {}) {
    this.#controller = options.cancellable ?? true ? new AbortController() : undefined;
    this.#undoable = options.undo ?? true;
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

  /** `connection` as seen inside this call: its signal aborts on the cancel too. */
  callerOf(connection: Caller): Caller {
    const cancelled = this.cancelled;
    if (cancelled === undefined) return connection;
    if (this.#caller?.id !== connection.id) {
      this.#caller = Object.freeze({
        id: connection.id,
        signal: AbortSignal.any([connection.signal, cancelled]),
      });
    }
    return this.#caller;
  }

  /**
   * Registers what undoes an effect of this call (a lock granted, an item
   * taken), run if the call is cancelled before its result is delivered;
   * at once if it has been cancelled already.
   */
  onUndo(step: () => void): void {
    if (!this.#undoable) return;
    if (this.#state === "cancelled") runUndo(step);
    else if (this.#state === "open") (this.#undo ??= []).push(step);
  }

  /**
   * The result will not be delivered (the client cancelled, stopped reading
   * or went away: `reason` says which): waits drop out, and what the call
   * did is undone, newest step first. Returns whether there was anything
   * to undo.
   */
  cancel(
    reason: unknown = new DOMException("The client cancelled the call", "AbortError"),
  ): boolean {
    if (this.#state !== "open") return false;
    this.#state = "cancelled";
    this.#controller?.abort(reason);
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
 * the start of the method: after an `await` it is no longer known. In an
 * async generator whose items stream to the caller, read it at the start
 * of the body too (it runs as that caller, with a signal that aborts when
 * the caller stops reading). Outside a call (and for calls made by
 * server-side code) it is the server itself, id 0, whose signal never
 * aborts.
 *
 * @example
 * ```ts
 * import { currentCaller } from "@multiprocess/managers";
 *
 * console.log(currentCaller().id); // 0: not inside a call
 * ```
 */
export function currentCaller(): Caller {
  if (currentContext === undefined || current === SERVER_CALLER) return current;
  // A cancellable call: its signal aborts when the call is cancelled or the connection closes.
  return currentContext.callerOf(current);
}

/**
 * Runs `fn` with `caller` as the current caller (the server does this for
 * each call), and `call` as the client call it runs for, if any.
 */
export function runAs<T>(caller: Caller, fn: () => T, call?: CallContext): T {
  const previous = current;
  const previousContext = currentContext;
  current = caller;
  currentContext = call;
  try {
    return fn();
  } finally {
    current = previous;
    currentContext = previousContext;
  }
}
