/**
 * A shared method's streamed result, as its caller gets it: an async
 * iterator that asks the server for the next batch while the loop works
 * through the current one (one batch ahead, never more), and tells the
 * server to stop when the loop ends early (`break`, `return()`, an error,
 * `await using`), even before its first item or while a read waits, and
 * when it is collected unread, as a proxy is.
 *
 * @module
 */

import { BatchReader, STREAM_BATCH } from "../wire/batched_stream.ts";

/** What a remote stream needs from its session. */
export interface StreamChannel {
  /** The next items of stream `id`, at most `max` items and `maxBytes` encoded, and whether it ended. */
  pull(id: number, max: number, maxBytes: number): Promise<[unknown[], boolean]>;
  /** Tells the server the client stopped reading stream `id`. */
  closeStream(id: number): void;
}

/** The async iterable for stream `id` of `channel`, in batches of at most `maxBytes`. */
export function remoteStream(
  channel: StreamChannel,
  id: number,
  maxBytes: number,
): AsyncIterableIterator<unknown> & AsyncDisposable {
  return new BatchReader({
    fetch: () => channel.pull(id, STREAM_BATCH, maxBytes),
    done: (early) => {
      if (early) channel.closeStream(id);
    },
    ahead: true,
  });
}
