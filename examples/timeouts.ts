/**
 * Timeouts and cancellation that reach the server: a `get()` that gives up
 * after 200 ms takes nothing from the queue, an aborted `acquire()` leaves
 * the lock free, and a shared method sees its call cancelled through
 * `currentCaller().signal`.
 *
 *     deno run --allow-run --allow-read --allow-write --allow-net examples/timeouts.ts
 */
import { currentCaller, shared, SyncManager, withCall } from "../mod.ts";

/** The example's manager: SyncManager's types plus a slow report. */
export class ReportManager extends SyncManager {}

/** Builds a report slowly; stops as soon as its caller gives up. */
@shared({ manager: ReportManager })
export class Reports {
  #stopped = 0;
  async build(steps: number): Promise<string> {
    const signal = currentCaller().signal; // read before any await
    for (let step = 0; step < steps; step++) {
      if (signal.aborted) {
        this.#stopped++;
        return "stopped";
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return `report of ${steps} steps`;
  }
  stopped(): number {
    return this.#stopped;
  }
}

if (import.meta.main) {
  await using manager = await new ReportManager().start();
  const queue = await manager.Queue<string>();
  try {
    await withCall(queue, { timeout: 200 }).get();
  } catch (error) {
    console.log(`get() gave up: ${(error as Error).name}`);
  }
  await queue.put("job");
  console.log(`the job is still there: qsize ${await queue.qsize()}`);

  const lock = await manager.Lock();
  await lock.acquire();
  const controller = new AbortController();
  const waiting = withCall(lock, { signal: controller.signal }).acquire();
  controller.abort();
  await waiting.catch((error) => console.log(`acquire() aborted: ${error.name}`));
  await lock.release();
  console.log(`the lock is free: ${await lock.acquire({ blocking: false })}`);

  const reports = await manager.create(Reports);
  const slow = withCall(reports, { timeout: 100 }).build(1000);
  await slow.catch((error) => console.log(`build() gave up: ${error.name}`));
  await new Promise((resolve) => setTimeout(resolve, 100));
  console.log(`builds the server stopped: ${await reports.stopped()}`);
}
