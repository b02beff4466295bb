/**
 * The results one client reads as streams: a shared method's async
 * generator or `ReadableStream`, held under a stream id while the client
 * pulls it a batch at a time, until it is read to its end or closed.
 * Open streams count against the connection's object quota.
 *
 * @module
 */

import { RemoteError } from "../errors.ts";
import { UnsendableError } from "../wire/codec.ts";
import { BatchedStream } from "../wire/batched_stream.ts";

/** One client's open streams. */
export class ClientStreams {
  readonly #streams = new Map<number, BatchedStream>();
  #next = 0;
  readonly #limit: number;

  /** Streams for a connection that may hold `limit` objects and streams. */
  constructor(limit: number) {
    this.#limit = limit;
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
    this.#streams.set(id, new BatchedStream(value));
    return id;
  }

  /** The next batch of stream `id` (at most `max` items), and whether it ended. */
  async pull(id: number, max: number): Promise<[unknown[], boolean]> {
    const stream = this.#streams.get(id);
    if (stream === undefined) throw new RemoteError(`Stream ${id} was read to its end or closed`);
    let batch: [unknown[], boolean];
    try {
      batch = await stream.pull(max);
    } catch (error) {
      this.#streams.delete(id);
      throw error;
    }
    if (batch[1]) this.#streams.delete(id);
    return batch;
  }

  /** Ends streams `ids` early (their generators' `finally` runs). */
  close(ids: Iterable<number>): void {
    for (const id of ids) {
      this.#streams.get(id)?.close().catch(() => {});
      this.#streams.delete(id);
    }
  }

  /** Ends every open stream (the connection closed). */
  closeAll(): void {
    this.close([...this.#streams.keys()]);
  }
}
