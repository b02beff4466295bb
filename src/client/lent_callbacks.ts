/**
 * The functions a client lent the server (`callback(fn)`, and the pull
 * function of each upload): held by id while the server holds stubs of
 * them, called when the server calls a stub, let go of when it releases
 * them or the connection closes.
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
  /** Callbacks the server holds stubs of, by id, with how many stubs it holds. */
  readonly #held = new Map<number, { callback: Callback; stubs: number }>();
  readonly #ids = new WeakMap<Callback, number>();
  #next = 0;
  #closed = false;

  /** Callbacks answered over `connection`. */
  constructor(connection: Connection) {
    this.#connection = connection;
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
   * it a batch at a time, through a callback of this process; `0` items
   * asked for means it stopped early.
   */
  lendStream(value: AsyncIterable<unknown>): number {
    const stream = new BatchedStream(value);
    const pull = async (...args: unknown[]): Promise<[unknown[], boolean]> => {
      const max = args[0];
      if (typeof max !== "number" || max <= 0) {
        await stream.close();
        return [[], true];
      }
      return await stream.pull(Math.min(max, 4096));
    };
    return this.lend(new Callback(pull));
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

  /** The connection closed: every function is let go of, and no reply is sent. */
  close(): void {
    this.#closed = true;
    this.#held.clear();
  }
}
