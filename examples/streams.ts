/**
 * Streams: a shared method that returns an async generator reaches its
 * caller as an async iterable, batch by batch as the server produces it;
 * `break` stops the generator on the server (its `finally` runs), and
 * `for await` over a shared dict streams it the same way. A generator that
 * waits for new lines watches `currentCaller().signal`, which aborts when
 * its reader stops: `return()` ends it even while it waits.
 *
 *     deno run --allow-run --allow-read --allow-write --allow-net examples/streams.ts
 */
import { currentCaller, shared, SyncManager } from "../mod.ts";

/** The example's manager: SyncManager's types plus a log. */
export class LogManager extends SyncManager {}

/** A log whose lines can be followed. */
@shared({ manager: LogManager })
export class Log {
  #lines: string[] = [];
  #stopped = 0;
  /** Wakes the tails waiting for a line. */
  #wakers = new Set<() => void>();
  append(line: string): number {
    const count = this.#lines.push(line);
    for (const wake of this.#wakers) wake();
    return count;
  }
  /** Every line from `from` on, as a stream. */
  async *follow(from = 0): AsyncGenerator<string> {
    try {
      for (let i = from; i < this.#lines.length; i++) yield this.#lines[i]!;
    } finally {
      this.#stopped++;
    }
  }
  /** The lines appended from now on, as they come: it waits for them until its reader stops. */
  async *tail(): AsyncGenerator<string> {
    const signal = currentCaller().signal; // read first: it aborts when the reader stops
    let next = this.#lines.length;
    try {
      while (!signal.aborted) {
        if (next < this.#lines.length) yield this.#lines[next++]!;
        else await this.#appended(signal);
      }
    } finally {
      this.#stopped++;
    }
  }
  stopped(): number {
    return this.#stopped;
  }
  /** Resolves on the next append, or when `signal` aborts. */
  #appended(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.#wakers.delete(wake);
        signal.removeEventListener("abort", wake);
        resolve();
      };
      this.#wakers.add(wake);
      signal.addEventListener("abort", wake);
    });
  }
}

if (import.meta.main) {
  await using manager = await new LogManager().start();
  const log = await manager.create(Log);
  for (let i = 0; i < 500; i++) await log.append(`line ${i}`);
  let count = 0;
  for await (const line of await log.follow()) {
    count++;
    if (line === "line 99") break; // the server's generator stops here too
  }
  console.log(`read ${count} lines, then stopped`);
  await new Promise((resolve) => setTimeout(resolve, 50));
  console.log(`generators the server closed: ${await log.stopped()}`);
  const tail = (await log.tail())[Symbol.asyncIterator]();
  const first = tail.next(); // the server's generator waits for a line
  await log.append("line 500");
  console.log(`tailed: ${(await first).value}`);
  const waiting = tail.next(); // it waits again...
  await tail.return(undefined); // ...and stops at once: its signal aborted
  console.log(`the waiting read ended: done ${(await waiting).done}`);
  await new Promise((resolve) => setTimeout(resolve, 50));
  console.log(`generators the server closed: ${await log.stopped()}`);
  const totals = await manager.dict<string, number>({ apples: 3, pears: 2 });
  for await (const [fruit, n] of totals) console.log(fruit, n);
}
