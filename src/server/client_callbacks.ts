/**
 * The server's side of the functions a client passed by reference
 * (`callback(fn)`) and of the async iterables it passed as arguments
 * (uploads, read through a callback a batch at a time): each arrives as a
 * stub that calls back over the client's connection. A stub disposed of or
 * collected lets go of the client's function; the connection closing
 * rejects every call still waiting for its reply.
 *
 * @module
 */

import { ConnectionClosedError, RemoteError } from "../errors.ts";
import type { Connection } from "../wire/connection.ts";
import { CallbackMessage, Reply } from "../wire/protocol.ts";
import { STREAM_BATCH } from "../wire/batched_stream.ts";

/** Callback stubs held by shared code: collected, they release their client's function. */
const callbackStubs = new FinalizationRegistry<{ callbacks: ClientCallbacks; id: number }>(
  ({ callbacks, id }) => callbacks.release(id),
);

/** One client's callbacks, as the server calls them. */
export class ClientCallbacks {
  readonly #connection: Connection;
  /** Calls of the client's callbacks waiting for their reply, by call id. */
  readonly #calls = new Map<number, PromiseWithResolvers<unknown>>();
  #nextCall = 0;
  /** Callback stubs released, to tell the client (sent once per tick). */
  #released: number[] = [];
  #closed = false;

  /** Callbacks that call over `connection`. */
  constructor(connection: Connection) {
    this.#connection = connection;
  }

  /**
   * The server's side of a callback the client sent: an async function
   * that calls it in the client's process. Collected, it tells the client
   * to let go of the function.
   */
  stub(id: number): (...args: unknown[]) => Promise<unknown> {
    const stub = (...args: unknown[]): Promise<unknown> => this.#call(id, args);
    const held = { callbacks: this, id };
    callbackStubs.register(stub, held, held);
    // Disposing the stub lets go of the client's function now, not when it is collected.
    let disposed = false;
    Object.defineProperty(stub, Symbol.asyncDispose, {
      value: (): Promise<void> => {
        if (!disposed) {
          disposed = true;
          callbackStubs.unregister(held);
          this.release(id);
        }
        return Promise.resolve();
      },
    });
    return stub;
  }

  /** Tells the client to let go of callback `id` (batched per tick). */
  release(id: number): void {
    if (this.#closed) return;
    if (this.#released.length === 0) {
      queueMicrotask(() => {
        const ids = this.#released;
        this.#released = [];
        if (!this.#closed) this.#connection.send([0, CallbackMessage.release, ids]);
      });
    }
    this.#released.push(id);
  }

  /** The client's reply to one of the calls: `[callId, reply, kind, value]`. */
  replied(message: unknown[]): void {
    const [callId, , kind, value] = message;
    const pending = this.#calls.get(callId as number);
    if (pending === undefined) return;
    this.#calls.delete(callId as number);
    if (kind === Reply.Return) pending.resolve(value);
    else if (kind === Reply.Throw) pending.reject(value);
    else {
      pending.reject(
        new RemoteError(`The callback failed: ${String((value as unknown[])?.[0] ?? value)}`),
      );
    }
  }

  /**
   * An async iterable a client passed as an argument (an upload): read a
   * batch at a time from the client, as the shared method consumes it.
   */
  async *upload(id: number): AsyncGenerator<unknown, void, undefined> {
    let ended = false;
    try {
      for (;;) {
        const [items, done] = await this.#call(id, [STREAM_BATCH]) as [unknown[], boolean];
        for (const item of items) yield item;
        if (done) {
          ended = true;
          return;
        }
      }
    } finally {
      // Stopped early: the client's producer is told to end (its finally runs there).
      if (!ended) this.#call(id, [0]).catch(() => {});
      this.release(id);
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

  #call(id: number, args: unknown[]): Promise<unknown> {
    if (this.#closed) {
      return Promise.reject(
        new ConnectionClosedError("The client that passed this callback is gone"),
      );
    }
    const callId = ++this.#nextCall;
    const pending = Promise.withResolvers<unknown>();
    this.#calls.set(callId, pending);
    try {
      this.#connection.send([callId, CallbackMessage.call, id, args]);
    } catch (error) {
      this.#calls.delete(callId);
      return Promise.reject(error);
    }
    return pending.promise;
  }
}
