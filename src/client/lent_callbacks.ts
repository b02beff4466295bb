/**
 * The functions a client lent the server (`callback(fn)`, and the pull
 * function of each upload): held by id while the server holds stubs of
 * them, called when the server calls a stub, let go of when it releases
 * them or the connection closes. An upload let go of before its end is
 * ended here too (its producer's `return()` runs).
 *
 * @module
 */

import { Callback } from "../wire/callback.ts";
import type { Connection } from "../wire/connection.ts";
import { BatchedStream } from "../wire/batched_stream.ts";
import { CallbackMessage, Reply } from "../wire/protocol.ts";

/** One session's lent functions. */
export class LentCallbacks {
  readonly #connection: Connection;
  /**
   * Callbacks the server holds stubs of, by id, with how many stubs it
   * holds; for an upload, its stream.
   */
  readonly #held = new Map<number, { callback: Callback; stubs: number; stream?: BatchedStream }>();
  readonly #ids = new WeakMap<Callback, number>();
  readonly #batchBytes: number;
  #next = 0;
  #closed = false;

  /** Callbacks answered over `connection`; an upload's batches take at most `batchBytes`. */
  constructor(connection: Connection, batchBytes: number) {
    this.#connection = connection;
    this.#batchBytes = batchBytes;
  }

  /** A callback being sent: the id under which the server calls it back. */
  lend(value: Callback): number {
    let id = this.#ids.get(value);
    if (id === undefined) {
      id = ++this.#next;
      this.#ids.set(value, id);
    }
    const held = this.#held.get(id);
    if (held === undefined) this.#held.set(id, { callback: value, stubs: 1 });
    else held.stubs++;
    return id;
  }

  /**
   * An async iterable passed as an argument (an upload): the server reads
   * it a batch at a time, `[max, maxBytes]`, through a callback of this
   * process. Released before its end (or `0` items asked for), it ends.
   */
  lendStream(value: AsyncIterable<unknown>): number {
    const stream = new BatchedStream(value, this.#batchBytes);
    const pull = async (...args: unknown[]): Promise<[unknown[], boolean]> => {
      const [max, maxBytes] = args;
      if (typeof max !== "number" || max <= 0) {
        // Not awaited: a producer inside an `await` ends only once that `await` is over.
        stream.close().catch(() => {});
        return [[], true];
      }
      const bytes = typeof maxBytes === "number" && maxBytes > 0 ? maxBytes : this.#batchBytes;
      return await stream.pull(Math.min(max, 4096), bytes);
    };
    const id = this.lend(new Callback(pull));
    this.#held.get(id)!.stream = stream;
    return id;
  }

  /** The server calls a callback (`[callId, call, id, args]`) or lets go of some. */
  message(message: unknown[]): void {
    const [callId, kind, ...rest] = message;
    if (kind === CallbackMessage.release) {
      for (const id of (rest[0] as unknown[]) ?? []) {
        const held = this.#held.get(id as number);
        if (held !== undefined && --held.stubs <= 0) {
          this.#held.delete(id as number);
          this.#ids.delete(held.callback);
          held.stream?.close().catch(() => {});
        }
      }
      return;
    }
    if (kind !== CallbackMessage.call) return;
    const [id, args] = rest;
    const reply = (replyKind: number, value: unknown): void => {
      if (this.#closed) return;
      try {
        this.#connection.send([callId, CallbackMessage.reply, replyKind, value]);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        this.#connection.send([callId, CallbackMessage.reply, Reply.Failure, [
          `Cannot send the callback's result: ${reason}`,
        ]]);
      }
    };
    const held = this.#held.get(id as number);
    if (held === undefined || !Array.isArray(args)) {
      return reply(Reply.Failure, ["The callback was released"]);
    }
    let result: unknown;
    try {
      result = held.callback.fn(...args);
    } catch (error) {
      return reply(Reply.Throw, error);
    }
    Promise.resolve(result).then(
      (value) => reply(Reply.Return, value),
      (error) => reply(Reply.Throw, error),
    );
  }

  /** The connection closed: every function is let go of (and every upload ended); no reply is sent. */
  close(): void {
    this.#closed = true;
    for (const { stream } of this.#held.values()) stream?.close().catch(() => {});
    this.#held.clear();
  }
}
