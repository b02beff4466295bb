/**
 * A producer, a pool of worker processes and a results dict, on a
 * SyncManager: Python's classic manager pattern.
 *
 *     deno run --allow-run --allow-read --allow-write --allow-net examples/work_queue.ts
 *
 * The main process puts jobs on a JoinableQueue, four workers (separate
 * processes that may touch nothing but the manager's socket) take them,
 * store results in a shared dict and call taskDone(); join() returns when
 * every job is done.
 */
import {
  defaultAuthkey,
  type DictProxy,
  proxyFromString,
  proxyToString,
  type QueueProxy,
  SyncManager,
} from "../mod.ts";

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

async function main(): Promise<void> {
  // No registrations of our own: the server needs none of this module.
  await using manager = await new SyncManager({ modules: [] }).start();
  const jobs = await manager.JoinableQueue<number | null>(2 * WORKERS);
  const results = await manager.dict<number, Result>();

  const socket = manager.address as string;
  const workers: Deno.ChildProcess[] = [];
  for (let n = 0; n < WORKERS; n++) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        `--allow-read=${socket}`,
        `--allow-write=${socket}`,
        `--allow-net=unix:${socket}`,
        import.meta.filename!,
        "worker",
        String(n),
      ],
      stdin: "piped",
    }).spawn();
    // A proxy string is claimed once: every worker gets its own pair.
    const message = JSON.stringify({
      jobs: await proxyToString(jobs),
      results: await proxyToString(results),
      authkey: Array.from(defaultAuthkey()),
    });
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(message));
    await writer.close();
    workers.push(child);
  }

  // The producer: a bounded queue makes it wait when the workers fall behind.
  for (let job = 1; job <= JOBS; job++) await jobs.put(job * 25_000);
  await jobs.join();
  for (let i = 0; i < WORKERS; i++) await jobs.put(null);
  const statuses = await Promise.all(workers.map((child) => child.status));
  if (!statuses.every((status) => status.success)) {
    throw new Error("a worker failed");
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

async function worker(n: number): Promise<void> {
  const message = JSON.parse(await new Response(Deno.stdin.readable).text());
  const authkey = Uint8Array.from(message.authkey as number[]);
  await using jobs = await proxyFromString<QueueProxy<number | null>>(message.jobs, { authkey });
  await using results = await proxyFromString<DictProxy<number, Result>>(message.results, {
    authkey,
  });
  while (true) {
    const job = await jobs.get();
    if (job === null) break;
    await results.set(job, { primes: primesBelow(job), worker: n });
    await jobs.taskDone();
  }
}

if (import.meta.main) {
  if (Deno.args[0] === "worker") await worker(Number(Deno.args[1]));
  else await main();
}
