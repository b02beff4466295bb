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
   * itself); in a call its client made with a `signal` or `timeout`, when
   * the client cancels that call; in the async generator of a streamed
   * result, when the client stops reading it.
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
 * A call its client may cancel (it passed a `signal` or `timeout`): what
 * the server does when the cancel arrives. While the call runs, `cancelled`
 * aborts and parked waits drop out; once it has finished, the undo steps
 * its methods registered run instead, until the client accepts the result.
 * A streamed result's generator runs in one too, made with `undo: false`:
 * it is cancelled when its client stops reading, and has nothing to undo
 * (what it yielded was delivered).
 * Internal: the standard types use it; shared code sees `currentCaller().signal`.
 */
export class CallContext {
  readonly #controller = new AbortController();
  readonly #undoable: boolean;
  #undo: (() => void)[] = [];
  #state: "open" | "cancelled" | "accepted" = "open";
  /** The caller shared code sees in this call: its connection's, with this call's signal too. */
  #caller: Caller | undefined;

  /** A call; with `undo: false`, the undo steps of its methods are not kept. */
  constructor(options: { readonly undo?: boolean } = {}) {
    this.#undoable = options.undo ?? true;
  }

  /** Aborts when the client cancels this call. */
  get cancelled(): AbortSignal {
    return this.#controller.signal;
  }

  /** `connection` as seen inside this call: its signal aborts on the cancel too. */
  callerOf(connection: Caller): Caller {
    if (this.#caller?.id !== connection.id) {
      this.#caller = Object.freeze({
        id: connection.id,
        signal: AbortSignal.any([connection.signal, this.cancelled]),
      });
    }
    return this.#caller;
  }

  /**
   * Registers what undoes an effect of this call (a lock granted, an item
   * taken), run if the client cancels before accepting the result; at once
   * if it has cancelled already.
   */
  onUndo(step: () => void): void {
    if (!this.#undoable) return;
    if (this.#state === "cancelled") runUndo(step);
    else if (this.#state === "open") this.#undo.push(step);
  }

  /**
   * The client cancelled (or stopped reading, or went away: `reason` says
   * which): waits drop out, and what was done is undone.
   */
  cancel(reason: unknown = new DOMException("The client cancelled the call", "AbortError")): void {
    if (this.#state !== "open") return;
    this.#state = "cancelled";
    this.#controller.abort(reason);
    const steps = this.#undo;
    this.#undo = [];
    for (const step of steps.reverse()) runUndo(step);
  }

  /** The client accepted the result: nothing will be undone. */
  accept(): void {
    if (this.#state !== "open") return;
    this.#state = "accepted";
    this.#undo = [];
  }
}

function runUndo(step: () => void): void {
  try {
    step();
  } catch { /* an undo that cannot apply (the state moved on) is skipped */ }
}

/** The cancellable call running now, if any (for the standard types). */
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
 * each call), and `call` as the cancellable call, if it is one.
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
