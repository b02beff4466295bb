/**
 * A counter shared by this process and four worker processes.
 *
 *     deno task demo
 *     (or: deno run --allow-run --allow-read --allow-write --allow-net examples/quickstart.ts)
 *
 * The main process starts a manager (its server is a sandboxed child
 * process), creates a shared Counter, and starts four workers with
 * `Process`: each runs `worker()` below with the counter's proxy as its
 * argument, and may touch nothing but the manager's socket.
 */
import { BaseManager, Process, type Remote, shared } from "../mod.ts";

@shared()
export class Counter {
  #value = 0;
  increment(by = 1): number {
    return (this.#value += by);
  }
  value(): number {
    return this.#value;
  }
}

const WORKERS = 4;
const INCREMENTS = 250;

/** Runs in each worker process: `counter` arrives as a working proxy. */
export async function worker(counter: Remote<Counter>, n: number): Promise<void> {
  let last = 0;
  for (let i = 0; i < INCREMENTS; i++) last = await counter.increment();
  console.log(`worker ${n} done; it saw the counter at ${last}`);
}

if (import.meta.main) {
  await using manager = await new BaseManager({ modules: [import.meta.url] }).start();
  const counter = await manager.create(Counter);
  console.log(`manager serving at ${manager.address} (server pid ${manager.pid})`);

  const workers = Array.from(
    { length: WORKERS },
    (_, n) => new Process({ target: worker, args: [counter, n] }),
  );
  for (const process of workers) await process.start();
  for (const process of workers) {
    if (await process.join({ timeout: 30_000 }) !== 0) throw new Error(`${process.name} failed`);
  }

  console.log(`total: ${await counter.value()} (expected ${WORKERS * INCREMENTS})`);
  await counter[Symbol.asyncDispose]();
  console.log(`objects left on the server: ${await manager.numberOfObjects()}`);
}
