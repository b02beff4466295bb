/**
 * Callbacks by reference, and uploads: a long job reports its progress by
 * calling a function of the client's process, and a sink sums numbers a
 * client streams to it.
 *
 *     deno run --allow-run --allow-read --allow-write --allow-net examples/callbacks.ts
 */
import { BaseManager, callback, shared } from "../mod.ts";

/** The example's manager. */
export class JobManager extends BaseManager {}

/** A job that takes a while and says how far it got. */
@shared({ manager: JobManager })
export class Report {
  async build(parts: number, onProgress: (percent: number) => Promise<unknown>): Promise<string> {
    for (let part = 1; part <= parts; part++) {
      await new Promise((resolve) => setTimeout(resolve, 5)); // the work
      await onProgress(Math.round((part / parts) * 100));
    }
    return `a report of ${parts} parts`;
  }
  /** Adds up numbers streamed by the caller, as they arrive. */
  async total(numbers: AsyncIterable<number>): Promise<number> {
    let sum = 0;
    for await (const n of numbers) sum += n;
    return sum;
  }
}

/** 1, 2, ... n, produced as the server reads them. */
async function* upTo(n: number): AsyncGenerator<number> {
  for (let i = 1; i <= n; i++) yield i;
}

if (import.meta.main) {
  await using manager = await new JobManager().start();
  const report = await manager.create(Report);
  const result = await report.build(4, callback((percent: number) => console.log(`${percent}%`)));
  console.log(result);
  console.log(`total of 1..1000, streamed: ${await report.total(upTo(1000))}`);
}
