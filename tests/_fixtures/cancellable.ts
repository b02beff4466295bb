/** A shared class that watches its calls being cancelled, and a SyncManager for the races. */
import { currentCaller, shared, SyncManager } from "../../mod.ts";

/** The cancellation tests' manager: SyncManager's types and a Watcher. */
export class CancelManager extends SyncManager {}

/** Counts the calls whose client cancelled them while they ran. */
@shared({ manager: CancelManager })
export class Watcher {
  #cancelled = 0;
  #finished = 0;
  /** Waits `ms`, or until the call is cancelled; says which. */
  async work(ms: number): Promise<string> {
    const signal = currentCaller().signal; // read before any await
    const outcome = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve("finished"), ms);
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve("cancelled");
      }, { once: true });
    });
    if (outcome === "cancelled") this.#cancelled++;
    else this.#finished++;
    return outcome;
  }
  counts(): { cancelled: number; finished: number } {
    return { cancelled: this.#cancelled, finished: this.#finished };
  }
}

let finishedEverywhere = 0;

/** Streams numbers, and counts what it produced and how its generators ended. */
@shared({ manager: CancelManager })
export class Numbers {
  #produced = 0;
  #finished = 0;
  /** 0, 1, ... `count - 1`; fails with a RangeError at `failAt`. */
  async *count(count: number, failAt = -1): AsyncGenerator<number> {
    try {
      for (let i = 0; i < count; i++) {
        if (i === failAt) throw new RangeError(`failed at ${i}`);
        this.#produced++;
        yield i;
      }
    } finally {
      this.#finished++;
      finishedEverywhere++;
    }
  }
  /** A ReadableStream of `count` strings, one every `ms` milliseconds. */
  slowly(count: number, ms: number): ReadableStream<string> {
    let i = 0;
    return new ReadableStream({
      pull: async (controller) => {
        await new Promise((resolve) => setTimeout(resolve, ms));
        if (i < count) controller.enqueue(`item ${i++}`);
        else controller.close();
      },
    });
  }
  stats(): { produced: number; finished: number } {
    return { produced: this.#produced, finished: this.#finished };
  }
  /** Generators finished in this server process, whichever object made them. */
  finishedInServer(): number {
    return finishedEverywhere;
  }
}

/** A job that reports its progress through a callback. */
@shared({ manager: CancelManager })
export class Job {
  /** Calls `fn` once, disposes of it, then tries again: says how each call ended. */
  async once(fn: (n: number) => Promise<unknown>): Promise<unknown[]> {
    const first = await fn(1);
    await (fn as unknown as AsyncDisposable)[Symbol.asyncDispose]();
    const second = await fn(2).then((value) => `ok ${value}`, (error) => error.name);
    return [first, second];
  }
  async run(steps: number, onProgress: (step: number) => Promise<unknown>): Promise<string> {
    for (let step = 1; step <= steps; step++) await onProgress(step);
    return "done";
  }
  /** Receives a callback and keeps no reference to it: its stub is garbage at once. */
  forget(_onProgress: (step: number) => Promise<unknown>): void {}
  /** Forces a garbage collection in the server process (which runs with --expose-gc). */
  collectGarbage(): void {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc === undefined) throw new Error("the server process has no gc(): --expose-gc is gone");
    gc();
  }
}

/** Fan-out: subscribers' callbacks, called on each publish. */
@shared({ manager: CancelManager })
export class Events {
  readonly #subscribers = new Set<(event: string) => Promise<unknown>>();
  subscribe(onEvent: (event: string) => Promise<unknown>): number {
    this.#subscribers.add(onEvent);
    return this.#subscribers.size;
  }
  /** Calls every subscriber; says how each call ended. */
  async publish(event: string): Promise<string[]> {
    const outcomes = await Promise.allSettled([...this.#subscribers].map((fn) => fn(event)));
    return outcomes.map((o) =>
      o.status === "fulfilled" ? `ok ${String(o.value)}` : `${o.reason.name}`
    );
  }
}

/** Consumes uploads: async iterables its callers pass. */
@shared({ manager: CancelManager })
export class Sink {
  async sum(items: AsyncIterable<number>): Promise<number> {
    let total = 0;
    for await (const n of items) total += n;
    return total;
  }
  /** The first `count` items, taken slowly; then it stops reading. */
  async first(items: AsyncIterable<number>, count: number): Promise<number[]> {
    const taken: number[] = [];
    for await (const n of items) {
      taken.push(n);
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (taken.length === count) break;
    }
    return taken;
  }
}
