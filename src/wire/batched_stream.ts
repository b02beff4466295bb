/**
 * An async iterable read in batches the other side asks for: a shared
 * method's result streamed to its caller (the server holds at most one
 * batch ahead of what the client took), or an upload a client passes as
 * an argument (the client holds at most one batch ahead of the server).
 * Ending it early runs the producer's `return()` (a generator's `finally`).
 *
 * @module
 */

/** Items one `pull` returns at most, unless the client asks for fewer. */
export const STREAM_BATCH = 64;

const TURN_OVER = Symbol("turn over");

/** One async iterable, read a batch at a time. */
export class BatchedStream {
  readonly #iterator: AsyncIterator<unknown>;
  #pending: Promise<IteratorResult<unknown>> | undefined;
  /** An error the producer threw after items the last pull returned: the next pull throws it. */
  #failure: { error: unknown } | undefined;
  #closed = false;

  /** Streams `iterable`; nothing is read from it until the first pull. */
  constructor(iterable: AsyncIterable<unknown>) {
    this.#iterator = iterable[Symbol.asyncIterator]();
  }

  /**
   * The next items, at most `max`: waits for the first, then takes more
   * only while they are ready in the same turn (a slow producer's items go
   * out one by one, a fast one's in batches). `done` once it ends.
   */
  async pull(max: number): Promise<[unknown[], boolean]> {
    if (this.#failure !== undefined) {
      this.#closed = true;
      throw this.#failure.error;
    }
    if (this.#closed) return [[], true];
    const items: unknown[] = [];
    let step = await (this.#pending ?? this.#iterator.next());
    this.#pending = undefined;
    let turnOver: Promise<typeof TURN_OVER> | undefined;
    for (;;) {
      if (step.done) {
        this.#closed = true;
        return [items, true];
      }
      items.push(step.value);
      if (items.length >= max) return [items, false];
      const next = this.#iterator.next();
      turnOver ??= new Promise((resolve) => setTimeout(() => resolve(TURN_OVER), 0));
      let raced: IteratorResult<unknown> | typeof TURN_OVER;
      try {
        raced = await Promise.race([next, turnOver]);
      } catch (error) {
        // The items before the failure go out first; the failure with the next pull.
        this.#failure = { error };
        return [items, false];
      }
      if (raced === TURN_OVER) {
        this.#pending = next;
        return [items, false];
      }
      step = raced;
    }
  }

  /** Ends it early: runs the generator's `return()` (its `finally`). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending?.catch(() => {});
    await this.#iterator.return?.();
  }
}
