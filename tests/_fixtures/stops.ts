/**
 * Shared classes whose work waits on something that may never come (a
 * callback's reply, an upload's next item, data for a stream, a timer), and
 * that record how that work ended: for the tests of what stops when a call
 * is cancelled or its client is gone (tests/stops_test.ts), and of big
 * items in streams (tests/big_items_test.ts).
 */
import { currentCaller, shared, SyncManager } from "../../mod.ts";

/** The manager of these tests: SyncManager's types and the classes below. */
export class StopsManager extends SyncManager {}

/** How the `Stuck` factories' waits ended, in this server process. */
const stuckFactories: string[] = [];

/** A factory that never finishes: `create("Stuck")` waits until its signal aborts. */
StopsManager.register("Stuck", () => {
  const signal = currentCaller().signal;
  return new Promise<never>((_, reject) => {
    signal.addEventListener("abort", () => {
      stuckFactories.push(signal.reason?.name ?? String(signal.reason));
      reject(signal.reason);
    }, { once: true });
  });
});

function outcome(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : `thrown ${String(error)}`;
}

/** Methods that wait on their caller's callbacks and uploads, and say how each wait ended. */
@shared({ manager: StopsManager })
export class Waiter {
  readonly #outcomes: string[] = [];
  /** Waits for `fn(1)`; records how that ended. */
  async onCallback(fn: (n: number) => Promise<unknown>): Promise<string> {
    try {
      const value = await fn(1);
      this.#outcomes.push(`returned ${String(value)}`);
    } catch (error) {
      this.#outcomes.push(outcome(error));
    }
    return "done";
  }
  /** Sums an upload; records how the reading ended. */
  async onUpload(items: AsyncIterable<number>): Promise<number> {
    let total = 0;
    try {
      for await (const n of items) total += n;
      this.#outcomes.push(`summed ${total}`);
    } catch (error) {
      this.#outcomes.push(outcome(error));
    }
    return total;
  }
  /** Takes an upload and never reads it. */
  ignore(_items: AsyncIterable<unknown>): string {
    return "ignored";
  }
  /** How each wait ended, in order. */
  outcomes(): string[] {
    return [...this.#outcomes];
  }
  /** How the `Stuck` factories' waits ended (server-wide). */
  stuckFactories(): string[] {
    return [...stuckFactories];
  }
  /** Forces a garbage collection in the server process (which runs with --expose-gc). */
  collectGarbage(): void {
    (globalThis as { gc?: () => void }).gc!();
  }
}

/** How the Feeds' streams ended, and their polls, in this server process (any Feed object). */
const ended: string[] = [];
let polls = 0;

/**
 * Streams that wait: for data that never comes (unless the stream's
 * signal aborts), or on a timer that polls. Each records how it ended,
 * server-wide: a client's Feed is gone with its connection.
 */
@shared({ manager: StopsManager })
export class Feed {
  /** The caller id of a plain call, to compare with the one a stream runs as. */
  whoAmI(): number {
    return currentCaller().id;
  }
  /** Yields the caller id it runs as, then waits for data that never comes. */
  async *follow(): AsyncGenerator<number> {
    const caller = currentCaller();
    try {
      yield caller.id;
      await new Promise((resolve) => {
        caller.signal.addEventListener("abort", resolve, { once: true });
      });
    } finally {
      ended.push(caller.signal.aborted ? "aborted" : "ended");
    }
  }
  /** Polls every `ms` for a change that never comes, until its signal aborts. */
  async *poll(ms: number): AsyncGenerator<number> {
    const signal = currentCaller().signal;
    try {
      while (!signal.aborted) {
        await new Promise((resolve) => setTimeout(resolve, ms));
        polls++;
      }
    } finally {
      ended.push(signal.aborted ? "aborted" : "ended");
    }
    yield polls; // never reached while the data never changes
  }
  /** `count` arrays of `size` bytes, the i-th filled with i % 256. */
  async *big(count: number, size: number): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < count; i++) yield new Uint8Array(size).fill(i % 256);
  }
  /** Reads an upload of byte arrays; says each one's length and first byte, in order. */
  async receive(items: AsyncIterable<Uint8Array>): Promise<string[]> {
    const seen: string[] = [];
    for await (const item of items) {
      let same = true;
      for (let i = 0; i < item.length; i++) same &&= item[i] === item[0];
      seen.push(`${item.length}:${item[0]}${same ? "" : ":mixed"}`);
    }
    return seen;
  }
  /** How the streams ended, in order, and the polls made so far. */
  stats(): { ended: string[]; polls: number } {
    return { ended: [...ended], polls };
  }
}

/** Makes Feeds; `hang()` is pipelined (methodToTypeid) and never finishes. */
@shared({ manager: StopsManager })
export class Maker {
  static readonly _methodToTypeid_ = { feed: "Feed", hang: "Feed" } as const;
  feed(): Feed {
    return new Feed();
  }
  hang(): Promise<Feed> {
    return new Promise<Feed>(() => {});
  }
}

/** Fan-out without waiting: each broadcast calls every subscriber and moves on. */
@shared({ manager: StopsManager })
export class Broadcast {
  readonly #subscribers = new Set<(event: unknown) => Promise<unknown>>();
  readonly #failures: string[] = [];
  #delivered = 0;
  subscribe(onEvent: (event: unknown) => Promise<unknown>): number {
    this.#subscribers.add(onEvent);
    return this.#subscribers.size;
  }
  /** Calls every subscriber with `event` and returns at once (what each call did is counted). */
  send(event: unknown): number {
    for (const fn of this.#subscribers) {
      fn(event).then(() => this.#delivered++, (error) => this.#failures.push(outcome(error)));
    }
    return this.#subscribers.size;
  }
  /** Calls delivered, and the failures (the first `max` of them). */
  stats(max = 3): { delivered: number; failed: number; failures: string[] } {
    return {
      delivered: this.#delivered,
      failed: this.#failures.length,
      failures: this.#failures.slice(0, max),
    };
  }
}
