/**
 * The results one client reads as streams: a shared method's async
 * generator or `ReadableStream`, held under a stream id while the client
 * pulls it a batch at a time, until it is read to its end or closed.
 * Open streams count against the connection's object quota.
 *
 * A stream's generator runs as the client that called the method: inside
 * it, `currentCaller()` is that client, and its signal aborts when the
 * client stops reading (`break`, `return()`, a stream collected unread) or
 * goes away, so that a generator waiting for data or polling can stop.
 *
 * @module
 */

import { RemoteError } from "../errors.ts";
import { UnsendableError } from "../wire/codec.ts";
import { BatchedStream } from "../wire/batched_stream.ts";
import { CallContext, type Caller, runAs } from "../objects/caller.ts";

/** One open stream: what produces it, and the context its steps run in. */
interface OpenStream {
  readonly stream: BatchedStream;
  readonly context: CallContext;
}

/** One client's open streams. */
export class ClientStreams {
  readonly #streams = new Map<number, OpenStream>();
  #next = 0;
  readonly #limit: number;
  readonly #caller: Caller;
  readonly #batchBytes: number;

  /**
   * Streams for a connection that may hold `limit` objects and streams,
   * whose generators run as `caller`, in batches of at most `batchBytes`.
   */
  constructor(limit: number, caller: Caller, batchBytes: number) {
    this.#limit = limit;
    this.#caller = caller;
    this.#batchBytes = batchBytes;
  }

  /** Opens a stream of `value` and returns its id; past the quota, an UnsendableError. */
  open(value: AsyncIterable<unknown>): number {
    if (this.#streams.size >= this.#limit) {
      throw new UnsendableError(
        "another stream",
        `: this connection already reads ${this.#streams.size} streams, the limit (limits.maxObjectsPerConnection); finish or break some first`,
      );
    }
    const id = ++this.#next;
    const context = new CallContext({ undo: false });
    const caller = this.#caller;
    const stream = new BatchedStream(
      value,
      this.#batchBytes,
      (step) => runAs(caller, step, context),
    );
    this.#streams.set(id, { stream, context });
    return id;
  }

  /** The next batch of stream `id`: at most `max` items and about `maxBytes`; whether it ended. */
  async pull(id: number, max: number, maxBytes?: number): Promise<[unknown[], boolean]> {
    const open = this.#streams.get(id);
    if (open === undefined) throw new RemoteError(`Stream ${id} was read to its end or closed`);
    let batch: [unknown[], boolean];
    try {
      batch = await open.stream.pull(max, maxBytes);
    } catch (error) {
      this.#streams.delete(id);
      throw error;
    }
    if (batch[1]) this.#streams.delete(id);
    return batch;
  }

  /**
   * Ends streams `ids` early: their signal aborts with `reason`, a pull in
   * progress returns done, and their generators' `finally` runs (once a
   * generator waiting inside an `await` gets past it).
   */
  close(
    ids: Iterable<number>,
    reason: unknown = new DOMException("The client stopped reading the stream", "AbortError"),
  ): void {
    for (const id of ids) {
      const open = this.#streams.get(id);
      if (open === undefined) continue;
      this.#streams.delete(id);
      open.context.cancel(reason);
      open.stream.close().catch(() => {});
    }
  }

  /** Ends every open stream (the connection closed). */
  closeAll(): void {
    this.close(
      [...this.#streams.keys()],
      new DOMException("The client's connection closed", "AbortError"),
    );
  }
}
