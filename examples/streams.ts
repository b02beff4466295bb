/**
 * Streams: a shared method that returns an async generator reaches its
 * caller as an async iterable, batch by batch as the server produces it;
 * `break` stops the generator on the server (its `finally` runs), and
 * `for await` over a shared dict streams it the same way.
 *
 *     deno run --allow-run --allow-read --allow-write --allow-net examples/streams.ts
 */
import { shared, SyncManager } from "../mod.ts";

/** The example's manager: SyncManager's types plus a log. */
export class LogManager extends SyncManager {}

/** A log whose lines can be followed. */
@shared({ manager: LogManager })
export class Log {
  #lines: string[] = [];
  #stopped = 0;
  append(line: string): number {
    return this.#lines.push(line);
  }
  /** Every line from `from` on, as a stream. */
  async *follow(from = 0): AsyncGenerator<string> {
    try {
      for (let i = from; i < this.#lines.length; i++) yield this.#lines[i]!;
    } finally {
      this.#stopped++;
    }
  }
  stopped(): number {
    return this.#stopped;
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
  const totals = await manager.dict<string, number>({ apples: 3, pears: 2 });
  for await (const [fruit, n] of totals) console.log(fruit, n);
}
