/**
 * An async iterable read in batches the other side asks for: a shared
 * method's result streamed to its caller (the server holds at most one
 * batch ahead of what the client took), or an upload a client passes as
 * an argument (the client holds at most one batch ahead of the server).
 * {@linkcode BatchedStream} is the producing end, {@linkcode BatchReader}
 * the reading end.
 *
 * A batch holds at most {@linkcode STREAM_BATCH} items, and stops short of
 * the item that would take it past its byte budget (an item over the
 * budget on its own goes alone), so that items that each fit in a message
 * fit in a batch too.
 *
 * Ending early runs the producer's `return()` (a generator's `finally`) and
 * answers at once a read in progress; a reader left unread and collected
 * ends too. A producer waiting inside an `await` cannot be stopped from
 * outside (its `return()` waits for that `await`): it is told through a
 * signal its owner gives it.
 *
 * @module
 */

import { encodedSize } from "./_encoded_size.ts";

/** Items one batch holds at most, unless the reader asks for fewer. */
export const STREAM_BATCH = 64;

/** Bytes one batch holds at most, once encoded (less when a message may hold less). */
export const STREAM_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * The byte budget of a batch sent in messages of at most `maxFrameSize`
 * bytes: {@linkcode STREAM_BATCH_BYTES}, or a quarter of `maxFrameSize`
 * when that is less (room for the message around it, and for tokens whose
 * size is estimated).
 */
export function batchBudget(maxFrameSize: number): number {
  return Math.max(1, Math.min(STREAM_BATCH_BYTES, Math.floor(maxFrameSize / 4)));
}

const TURN_OVER = Symbol("turn over");
const STOPPED = Symbol("stopped");

/** Runs one step of a producer (its `next()` or `return()`): as its caller, for a server. */
export type StepRunner = <T>(step: () => T) => T;

/** The producing end: one async iterable, read a batch at a time. */
export class BatchedStream {
  readonly #iterator: AsyncIterator<unknown>;
  readonly #run: StepRunner;
  readonly #budget: number;
  /** A `next()` of the producer in flight, left by the last pull for the next one. */
  #pending: Promise<IteratorResult<unknown>> | undefined;
  /** An item that did not fit in the last batch: it opens the next one. */
  #carried: { step: IteratorResult<unknown>; size: number } | undefined;
  /** An error the producer threw after items the last pull returned: the next pull throws it. */
  #failure: { error: unknown } | undefined;
  /** Pulls run one at a time: the last one, and how many have not settled. */
  #queue: Promise<unknown> = Promise.resolve();
  #queued = 0;
  /** Ends the pull in progress: the stream was closed meanwhile. */
  #interrupt: (() => void) | undefined;
  /** The producer finished (or failed): it needs no `return()`. */
  #finished = false;
  #closed = false;

  /**
   * Streams `iterable`; nothing is read from it until the first pull.
   * `budget`: the bytes of a batch (see {@linkcode batchBudget}); `run`
   * runs each step of the producer.
   */
  constructor(
    iterable: AsyncIterable<unknown>,
    budget: number,
    run: StepRunner = (step) => step(),
  ) {
    this.#run = run;
    this.#budget = budget;
    this.#iterator = run(() => iterable[Symbol.asyncIterator]());
  }

  /**
   * The next items, at most `max` and `maxBytes` (and this stream's
   * budget): waits for the first, then takes more only while they are
   * ready in the same turn (a slow producer's items go out one by one, a
   * fast one's in batches). `done` once it ends, or once it is closed.
   */
  pull(max: number, maxBytes: number = this.#budget): Promise<[unknown[], boolean]> {
    const budget = Math.min(maxBytes, this.#budget);
    // With no pull in progress the producer is stepped now, before the next message is handled
    // (as it was when a pull was a plain call of its next()).
    const result = this.#queued === 0
      ? this.#pull(max, budget)
      : this.#queue.then(() => this.#pull(max, budget));
    this.#queued++;
    this.#queue = result.then(this.#settled, this.#settled);
    return result;
  }

  readonly #settled = (): void => {
    this.#queued--;
  };

  async #pull(max: number, budget: number): Promise<[unknown[], boolean]> {
    if (this.#failure !== undefined) {
      this.#closed = this.#finished = true;
      throw this.#failure.error;
    }
    if (this.#closed) return [[], true];
    const stopped = new Promise<typeof STOPPED>((resolve) => {
      this.#interrupt = () => resolve(STOPPED);
    });
    try {
      return await this.#fill(max, budget, stopped);
    } finally {
      this.#interrupt = undefined;
    }
  }

  async #fill(
    max: number,
    budget: number,
    stopped: Promise<typeof STOPPED>,
  ): Promise<[unknown[], boolean]> {
    const items: unknown[] = [];
    let bytes = 0;
    let step: IteratorResult<unknown> | typeof STOPPED;
    let size: number | undefined;
    if (this.#carried !== undefined) {
      ({ step, size } = this.#carried);
      this.#carried = undefined;
    } else {
      const next = this.#pending ?? this.#next();
      this.#pending = undefined;
      try {
        step = await Promise.race([next, stopped]);
      } catch (error) {
        this.#closed = this.#finished = true;
        throw error;
      }
    }
    let turnOver: Promise<typeof TURN_OVER> | undefined;
    for (;;) {
      // Closed meanwhile: what was taken is not sent. (Only the first wait races the close: the
      // others end with the turn, and a race per item would keep every item's promise alive.)
      if (step === STOPPED || this.#closed) return [[], true];
      if (step.done) {
        this.#closed = this.#finished = true;
        return [items, true];
      }
      size ??= encodedSize(step.value, budget);
      if (items.length > 0 && bytes + size > budget) {
        // It opens the next batch; one over the budget on its own goes alone.
        this.#carried = { step, size };
        return [items, false];
      }
      items.push(step.value);
      bytes += size;
      size = undefined;
      if (items.length >= max || bytes >= budget) return [items, false];
      const next = this.#next();
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

  #next(): Promise<IteratorResult<unknown>> {
    // Each one is raced at once, which handles its failure even if the stream closes first.
    return this.#run(() => this.#iterator.next());
  }

  /**
   * Ends it early: a pull in progress returns done at once, and the
   * producer's `return()` runs (a generator's `finally`), once the
   * producer reaches a `yield`.
   */
  async close(): Promise<void> {
    if (this.#closed) {
      this.#interrupt?.();
      return;
    }
    this.#closed = true;
    this.#interrupt?.();
    this.#carried = undefined;
    if (this.#finished) return;
    this.#finished = true;
    await this.#run(() => this.#iterator.return?.());
  }
}

/** Ends a reader that was collected before it ended: its `done(true)`. */
const unread = new FinalizationRegistry<() => void>((end) => end());

/**
 * `source.done`, told once however the end comes (the first call wins),
 * then no longer watched for collection. Made outside the reader so that
 * the registry's closure cannot hold the reader.
 */
function endOnce(source: BatchSource, state: object): (early: boolean) => void {
  let ended = false;
  return (early) => {
    if (ended) return;
    ended = true;
    unread.unregister(state);
    source.done(early);
  };
}

/** How a {@linkcode BatchReader} gets its batches, and what it does when it ends. */
export interface BatchSource {
  /** The next batch: items, and whether the stream ended with them. */
  fetch(): Promise<[unknown[], boolean]>;
  /**
   * Called once, when the reader ends: `early` when the stream had not
   * ended (`return()`, `throw()`, a failed fetch, or the reader collected
   * unread), to tell the other side to stop. Must not hold the reader.
   */
  done(early: boolean): void;
  /** Fetch the next batch while this one is read (one batch ahead), or only when needed. */
  readonly ahead: boolean;
}

/**
 * The reading end: an async iterator over the batches of `source`. Unlike
 * an async generator, `return()` takes effect at once, even before the
 * first `next()` or while a `next()` waits (which then ends, done); and a
 * reader collected before it ended tells the other side to stop.
 */
export class BatchReader implements AsyncIterableIterator<unknown>, AsyncDisposable {
  readonly #source: BatchSource;
  readonly #end: (early: boolean) => void;
  #items: unknown[] = [];
  #index = 0;
  #ahead: Promise<[unknown[], boolean]> | undefined;
  /** The other side said the stream ended: what is left here is read, then done. */
  #exhausted = false;
  /** Ended early: done at once. */
  #closed = false;
  /** `next()` calls run one at a time: the last one queued, and how many have not settled. */
  #queue: Promise<unknown> = Promise.resolve();
  #queued = 0;

  /** A reader of `source`; nothing is fetched until the first `next()`. */
  constructor(source: BatchSource) {
    this.#source = source;
    const state = {};
    const end = endOnce(source, state);
    this.#end = end;
    unread.register(this, () => end(true), state);
  }

  /** The next item. */
  next(): Promise<IteratorResult<unknown, undefined>> {
    let result: Promise<IteratorResult<unknown, undefined>>;
    if (this.#queued === 0) {
      // No earlier next() unsettled: an item in hand is given at once, and a fetch goes out now
      // (as a generator's body runs at once), before whatever the caller sends next.
      if (!this.#closed && this.#index < this.#items.length) {
        return Promise.resolve({ value: this.#take(), done: false });
      }
      result = this.#step();
    } else {
      result = this.#queue.then(() => this.#step());
    }
    this.#queued++;
    this.#queue = result.then(this.#settled, this.#settled);
    return result;
  }

  readonly #settled = (): void => {
    this.#queued--;
  };

  #take(): unknown {
    const value = this.#items[this.#index];
    this.#items[this.#index++] = undefined; // taken: collectable once the loop lets go of it
    return value;
  }

  /** Stops reading: the other side is told at once, and a `next()` waiting ends, done. */
  return(value?: unknown): Promise<IteratorResult<unknown, undefined>> {
    this.#close();
    return Promise.resolve({ value: value as undefined, done: true });
  }

  /** Stops reading, as `return()`, and rejects with `error`. */
  throw(error?: unknown): Promise<IteratorResult<unknown, undefined>> {
    this.#close();
    return Promise.reject(error);
  }

  /** Itself: it is read once. */
  [Symbol.asyncIterator](): this {
    return this;
  }

  /** `await using`: stops reading, as `return()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }

  async #step(): Promise<IteratorResult<unknown, undefined>> {
    for (;;) {
      if (this.#closed) return { value: undefined, done: true };
      if (this.#index < this.#items.length) return { value: this.#take(), done: false };
      if (this.#exhausted) return { value: undefined, done: true };
      const fetching = this.#ahead ?? this.#source.fetch();
      this.#ahead = undefined;
      let batch: [unknown[], boolean];
      try {
        batch = await fetching;
      } catch (error) {
        if (this.#closed) return { value: undefined, done: true };
        this.#close();
        throw error;
      }
      if (this.#closed) return { value: undefined, done: true };
      const [items, done] = batch;
      this.#items = items;
      this.#index = 0;
      if (done) {
        this.#exhausted = true;
        this.#end(false);
      } else if (this.#source.ahead) {
        // The next batch is asked for now, while this one is worked through.
        this.#ahead = this.#source.fetch();
        this.#ahead.catch(() => {});
      }
    }
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#items = [];
    this.#end(!this.#exhausted);
  }
}
