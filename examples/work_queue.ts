/**
 * A producer, a pool of worker processes and a results dict, on a
 * SyncManager: Python's classic manager pattern.
 *
 *     deno run --allow-run --allow-read --allow-write --allow-net examples/work_queue.ts
 *
 * The main process puts jobs on a JoinableQueue; four workers (`Process`es
 * that may touch nothing but the manager's socket) take them, store results
 * in a shared dict and call taskDone(); join() returns when every job is
 * done.
 */
import { type DictProxy, Process, type QueueProxy, SyncManager } from "../mod.ts";

const WORKERS = 4;
const JOBS = 40;

/** The work itself: how many primes are below `n`. */
function primesBelow(n: number): number {
  const sieve = new Uint8Array(n);
  let count = 0;
  for (let i = 2; i < n; i++) {
    if (sieve[i]) continue;
    count++;
    for (let j = i * i; j < n; j += i) sieve[j] = 1;
  }
  return count;
}

interface Result {
  primes: number;
  worker: number;
}

/** Runs in each worker process: take jobs until a null, record each result. */
export async function worker(
  jobs: QueueProxy<number | null>,
  results: DictProxy<number, Result>,
  n: number,
): Promise<void> {
  while (true) {
    const job = await jobs.get();
    if (job === null) break;
    await results.set(job, { primes: primesBelow(job), worker: n });
    await jobs.taskDone();
  }
}

if (import.meta.main) {
  // No registrations of our own: the server needs none of this module.
  await using manager = await new SyncManager({ modules: [] }).start();
  const jobs = await manager.JoinableQueue<number | null>(2 * WORKERS);
  const results = await manager.dict<number, Result>();
  const workers = Array.from(
    { length: WORKERS },
    (_, n) => new Process({ target: worker, args: [jobs, results, n] }),
  );
  for (const process of workers) await process.start();

  // The producer: a bounded queue makes it wait when the workers fall behind.
  for (let job = 1; job <= JOBS; job++) await jobs.put(job * 25_000);
  await jobs.join();
  for (let i = 0; i < WORKERS; i++) await jobs.put(null);
  for (const process of workers) {
    if (await process.join({ timeout: 30_000 }) !== 0) throw new Error(`${process.name} failed`);
  }

  const done = await results.values();
  const perWorker = Array.from(
    { length: WORKERS },
    (_, n) => done.filter((r) => r.worker === n).length,
  );
  console.log(`${done.length} jobs done; per worker: ${perWorker.join(", ")}`);
  console.log(`primes below 1,000,000: ${(await results.get(1_000_000))?.primes}`);
  await jobs[Symbol.asyncDispose]();
  await results[Symbol.asyncDispose]();
  console.log(`objects left on the server: ${await manager.numberOfObjects()}`);
}
