/**
 * The server's side of the functions a client passed by reference
 * (`callback(fn)`) and of the async iterables it passed as arguments
 * (uploads, read through a callback a batch at a time): each arrives as a
 * stub that calls back over the client's connection. A stub disposed of or
 * collected lets go of the client's function; so does an upload read to
 * its end, stopped, or collected unread (which ends the client's producer).
 *
 * What waits on the client stops when the call that passed the stub is
 * cancelled (the waits reject with the cancel's reason, and the stub is
 * let go of) or when the connection closes (they reject with
 * `ConnectionClosedError`). A client that stops reading gets no more
 * callback calls once `maxBufferedBytesPerConnection` bytes wait for it:
 * those calls fail at once.
 *
 * @module
 */

import { ConnectionClosedError, RemoteError } from "../errors.ts";
import type { Connection } from "../wire/connection.ts";
import { CallbackMessage, Reply } from "../wire/protocol.ts";
import { BatchReader, STREAM_BATCH } from "../wire/batched_stream.ts";

/** One stub or upload the server holds: the client's function `id`, and its calls waiting. */
interface Lent {
  readonly id: number;
  /** Calls of it waiting for the client's reply, by call id. */
  readonly waiting: Set<number>;
  /** Why it may no longer be called: the call that passed it was cancelled. */
  revoked?: { reason: unknown };
  /** The client was told to let go of it. */
  released: boolean;
}

/** A call of a client's function, waiting for its reply. */
interface Waiting extends PromiseWithResolvers<unknown> {
  readonly lent: Lent;
}

/** Callback stubs held by shared code: collected, they release their client's function. */
const callbackStubs = new FinalizationRegistry<{ callbacks: ClientCallbacks; lent: Lent }>(
  ({ callbacks, lent }) => callbacks.release(lent),
);

/** What bounds the calls of one client's callbacks. */
export interface CallbackLimits {
  /** Bytes waiting to be written to the client past which a callback call fails at once. */
  readonly maxBufferedBytesPerConnection: number;
  /** Callback calls waiting for the client's reply past which another fails at once. */
  readonly maxPendingCallsPerConnection: number;
  /** Bytes of an upload's batch, once encoded. */
  readonly batchBytes: number;
}

/** One client's callbacks, as the server calls them. */
export class ClientCallbacks {
  readonly #connection: Connection;
  readonly #limits: CallbackLimits;
  /** Calls of the client's callbacks waiting for their reply, by call id. */
  readonly #calls = new Map<number, Waiting>();
  #nextCall = 0;
  /** Callback ids released, to tell the client (sent once per tick). */
  #released: number[] = [];
  /** Stubs and uploads made by the message being decoded, until `claim()` ties them to it. */
  #fresh: Lent[] = [];
  /** Stubs and uploads passed in a request, by its arguments, for a cancel to revoke them. */
  readonly #passedIn = new WeakMap<unknown[], Lent[]>();
  #closed = false;

  /** Callbacks that call over `connection`, within `limits`. */
  constructor(connection: Connection, limits: CallbackLimits) {
    this.#connection = connection;
    this.#limits = limits;
  }

  /**
   * The server's side of a callback the client sent: an async function
   * that calls it in the client's process. Collected, it tells the client
   * to let go of the function.
   */
  stub(id: number): (...args: unknown[]) => Promise<unknown> {
    const lent = this.#lent(id);
    const stub = (...args: unknown[]): Promise<unknown> => this.#call(lent, args, true);
    const held = { callbacks: this, lent };
    callbackStubs.register(stub, held, held);
    // Disposing the stub lets go of the client's function now, not when it is collected.
    Object.defineProperty(stub, Symbol.asyncDispose, {
      value: (): Promise<void> => {
        callbackStubs.unregister(held);
        this.release(lent);
        return Promise.resolve();
      },
    });
    return stub;
  }

  /**
   * An async iterable a client passed as an argument (an upload): read a
   * batch at a time from the client, as the shared method consumes it.
   * Stopped early or collected unread, the client's producer ends.
   */
  upload(id: number): AsyncIterableIterator<unknown> & AsyncDisposable {
    const lent = this.#lent(id);
    return new BatchReader({
      fetch: () =>
        this.#call(lent, [STREAM_BATCH, this.#limits.batchBytes], false) as Promise<
          [unknown[], boolean]
        >,
      // Read to its end or stopped, the client lets go of its producer (and ends it if early).
      done: () => this.release(lent),
      ahead: false,
    });
  }

  /**
   * The stubs and uploads the message just decoded made belong to the
   * request whose arguments are `args` (nothing, when it is not a request).
   */
  claim(args: unknown): void {
    if (this.#fresh.length === 0) return;
    if (Array.isArray(args)) this.#passedIn.set(args, this.#fresh);
    this.#fresh = [];
  }

  /**
   * The request whose arguments are `args` may be cancelled through
   * `signal`: then the stubs and uploads it passed fail their waiting calls
   * with the signal's reason, fail any later call, and are let go of.
   */
  tieTo(args: unknown[], signal: AbortSignal): void {
    const passed = this.#passedIn.get(args);
    if (passed === undefined) return;
    this.#passedIn.delete(args);
    signal.addEventListener("abort", () => {
      for (const lent of passed) this.#revoke(lent, signal.reason);
    }, { once: true });
  }

  /** Tells the client to let go of `lent`'s function, once (batched per tick). */
  release(lent: Lent): void {
    if (lent.released) return;
    lent.released = true;
    if (this.#closed) return;
    if (this.#released.length === 0) {
      queueMicrotask(() => {
        const ids = this.#released;
        this.#released = [];
        if (!this.#closed) this.#connection.send([0, CallbackMessage.release, ids]);
      });
    }
    this.#released.push(lent.id);
  }

  /** The client's reply to one of the calls: `[callId, reply, kind, value]`. */
  replied(message: unknown[]): void {
    const [callId, , kind, value] = message;
    const pending = this.#calls.get(callId as number);
    if (pending === undefined) return;
    this.#calls.delete(callId as number);
    pending.lent.waiting.delete(callId as number);
    if (kind === Reply.Return) pending.resolve(value);
    else if (kind === Reply.Throw) pending.reject(value);
    else {
      pending.reject(
        new RemoteError(`The callback failed: ${String((value as unknown[])?.[0] ?? value)}`),
      );
    }
  }

  /** The connection closed: every call still waiting fails, and nothing more is sent. */
  close(): void {
    this.#closed = true;
    for (const { reject } of this.#calls.values()) {
      reject(new ConnectionClosedError("The client that passed this callback is gone"));
    }
    this.#calls.clear();
  }

  #lent(id: number): Lent {
    const lent: Lent = { id, waiting: new Set(), released: false };
    this.#fresh.push(lent);
    return lent;
  }

  #revoke(lent: Lent, reason: unknown): void {
    lent.revoked = { reason };
    for (const callId of lent.waiting) {
      this.#calls.get(callId)?.reject(reason);
      this.#calls.delete(callId);
    }
    lent.waiting.clear();
    this.release(lent);
  }

  /** Calls `lent` with `args`; a callback call (`limited`) fails at once past the limits. */
  #call(lent: Lent, args: unknown[], limited: boolean): Promise<unknown> {
    if (this.#closed) {
      return Promise.reject(
        new ConnectionClosedError("The client that passed this callback is gone"),
      );
    }
    if (lent.revoked !== undefined) return Promise.reject(lent.revoked.reason);
    if (limited) {
      const refused = this.#overLimit();
      if (refused !== undefined) return Promise.reject(new RemoteError(refused));
    }
    const callId = ++this.#nextCall;
    const pending: Waiting = { ...Promise.withResolvers<unknown>(), lent };
    this.#calls.set(callId, pending);
    lent.waiting.add(callId);
    try {
      this.#connection.send([callId, CallbackMessage.call, lent.id, args]);
    } catch (error) {
      this.#calls.delete(callId);
      lent.waiting.delete(callId);
      return Promise.reject(error);
    }
    return pending.promise;
  }

  /** Why another callback call cannot go out now, if it cannot. */
  #overLimit(): string | undefined {
    const buffered = this.#connection.buffered;
    const { maxBufferedBytesPerConnection, maxPendingCallsPerConnection } = this.#limits;
    if (buffered > maxBufferedBytesPerConnection) {
      return `Cannot call the client's callback: ${buffered} bytes already wait to be written to that client, over the limit (limits.maxBufferedBytesPerConnection) of ${maxBufferedBytesPerConnection}; it has stopped reading or reads too slowly`;
    }
    if (this.#calls.size >= maxPendingCallsPerConnection) {
      return `Cannot call the client's callback: ${this.#calls.size} calls of its callbacks already wait for a reply, the limit (limits.maxPendingCallsPerConnection); it answers too slowly`;
    }
    return undefined;
  }
}
