/**
 * A shared method's streamed result, as its caller gets it: an async
 * generator that asks the server for the next batch while the loop works
 * through the current one (one batch ahead, never more), and tells the
 * server to stop when the loop ends early (`break`, `return`, an error).
 *
 * @module
 */

/** What a remote stream needs from its session. */
export interface StreamChannel {
  /** The next items of stream `id`, at most `max`, and whether it ended. */
  pull(id: number, max: number): Promise<[unknown[], boolean]>;
  /** Tells the server the client stopped reading stream `id`. */
  closeStream(id: number): void;
}

/** Items asked for at once. */
const BATCH = 64;

/** The async iterable for stream `id` of `channel`. */
export async function* remoteStream(
  channel: StreamChannel,
  id: number,
): AsyncGenerator<unknown, void, undefined> {
  let ended = false;
  let next: Promise<[unknown[], boolean]> | undefined = channel.pull(id, BATCH);
  try {
    for (;;) {
      const batch: [unknown[], boolean] = await next!;
      const [items, done] = batch;
      // The next batch is asked for now, while this one is worked through.
      next = done ? undefined : channel.pull(id, BATCH);
      next?.catch(() => {});
      for (const item of items) yield item;
      if (done) {
        ended = true;
        return;
      }
    }
  } finally {
    if (!ended) channel.closeStream(id);
  }
}
