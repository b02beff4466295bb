/**
 * One benchmark workload on this library, in its own process:
 *
 *     deno run -A bench/deno_side.ts <workload> <unix|tcp> <milliseconds>
 *
 * Prints one JSON line `{ "ops": n, "seconds": s }` (or `{ "ms": n }` for
 * start, `{ "bytes": n }` for memory). `bench/run.ts` runs it beside
 * `bench/cpython_side.py`, which does the same work with CPython.
 */
import {
  type BaseProxy,
  defaultAuthkey,
  proxyFromString,
  proxyToString,
  type Remote,
  shared,
  SyncManager,
} from "../mod.ts";

/** The benchmark's manager: SyncManager's types plus a counter. */
export class BenchManager extends SyncManager {}

@shared({ manager: BenchManager })
export class Counter {
  #value = 0;
  increment(): number {
    return ++this.#value;
  }
  echo<T>(value: T): T {
    return value;
  }
}

const [workload = "sequential", transport = "unix", durationText = "1000"] = Deno.args;
const duration = Number(durationText);
const modules = [import.meta.url];

function managerOptions(): ConstructorParameters<typeof BenchManager>[0] {
  return transport === "tcp"
    ? { address: { hostname: "127.0.0.1", port: 0 }, modules }
    : { modules };
}

/** Runs `step` (which does `batch` operations) until `duration` ms pass. */
async function timed(
  batch: number,
  step: () => Promise<unknown>,
): Promise<{ ops: number; seconds: number }> {
  const warmUntil = performance.now() + Math.min(200, duration / 5);
  while (performance.now() < warmUntil) await step();
  let ops = 0;
  const started = performance.now();
  while (performance.now() - started < duration) {
    await step();
    ops += batch;
  }
  return { ops, seconds: (performance.now() - started) / 1000 };
}

function report(result: Record<string, number>): void {
  console.log(JSON.stringify(result));
}

const KIB_OBJECT = {
  name: "x".repeat(200),
  tags: Array.from({ length: 20 }, (_, i) => `tag-${i}`),
  values: Array.from({ length: 60 }, (_, i) => i * 1.5),
  nested: { a: 1, b: [true, false, null], c: "y".repeat(100) },
};
const MIB = new Uint8Array(1024 * 1024).fill(7);

async function worker(count: number): Promise<void> {
  // The proxy string and the authkey arrive on stdin.
  const { proxy, authkey } = JSON.parse(await new Response(Deno.stdin.readable).text());
  await using counter = await proxyFromString<Remote<Counter>>(proxy, {
    authkey: Uint8Array.from(authkey as number[]),
  });
  for (let i = 0; i < count; i++) await counter.increment();
}

async function main(): Promise<void> {
  if (workload === "start") {
    const started = performance.now();
    // SyncManager needs no module of ours: this is start() as most users meet it.
    await using manager = await new SyncManager({ ...managerOptions(), modules: [] }).start();
    const queue = await manager.Queue();
    await queue.qsize();
    report({ ms: performance.now() - started });
    return;
  }
  await using manager = await new BenchManager(managerOptions()).start();
  const counter = await manager.create(Counter);
  switch (workload) {
    case "sequential":
      return report(await timed(1, () => counter.increment()));
    case "inflight64":
      return report(
        await timed(64, () => Promise.all(Array.from({ length: 64 }, () => counter.increment()))),
      );
    case "echo1k":
      return report(await timed(1, () => counter.echo(KIB_OBJECT)));
    case "echo1m":
      return report(await timed(1, () => counter.echo(MIB)));
    case "dict": {
      const dict = await manager.dict<string, number>();
      let i = 0;
      return report(
        await timed(1, async () => {
          const key = `k${i++ % 1000}`;
          await dict.set(key, i);
          await dict.get(key);
        }),
      );
    }
    case "create":
      return report(
        await timed(1, async () => {
          const proxy = await manager.create(Counter);
          await proxy[Symbol.asyncDispose]();
        }),
      );
    case "clients8": {
      // 8 client processes hammer one counter; aggregate operations per second.
      const per = 2000;
      const started = performance.now();
      const children = await Promise.all(Array.from({ length: 8 }, async () => {
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", import.meta.filename!, "worker", String(per)],
          stdin: "piped",
        }).spawn();
        const message = { proxy: await proxyToString(counter), authkey: [...defaultAuthkey()] };
        const writer = child.stdin.getWriter();
        await writer.write(new TextEncoder().encode(JSON.stringify(message)));
        await writer.close();
        return child;
      }));
      const statuses = await Promise.all(children.map((child) => child.status));
      if (!statuses.every((s) => s.success)) throw new Error("a worker failed");
      return report({ ops: 8 * per, seconds: (performance.now() - started) / 1000 });
    }
    case "memory": {
      // Server RSS with 100,000 live objects, and idle.
      const rss = (): number =>
        Number(
          Deno.readTextFileSync(`/proc/${manager.pid}/status`).match(/VmRSS:\s+(\d+) kB/)![1],
        ) * 1024;
      await manager.numberOfObjects();
      const idle = rss();
      const held: BaseProxy[] = [];
      for (let i = 0; i < 100_000; i += 500) {
        held.push(...await Promise.all(Array.from({ length: 500 }, () => manager.Value(0))));
      }
      await manager.numberOfObjects();
      const full = rss();
      return report({ idle, perObject: (full - idle) / 100_000 });
    }
    default:
      throw new Error(`Unknown workload ${workload}`);
  }
}

if (import.meta.main) {
  if (Deno.args[0] === "worker") {
    await worker(Number(Deno.args[1]));
  } else {
    await main();
  }
}
