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
  type EventProxy,
  proxyFromString,
  proxyToString,
  type QueueProxy,
  type Remote,
  shared,
  SyncManager,
} from "../mod.ts";
import { Value } from "../src/sync/containers.ts";

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

/** Workload 9: a node whose child() returns a shared node (chained, pipelined). */
@shared({ manager: BenchManager })
export class Node {
  static readonly _methodToTypeid_ = { child: "Node" } as const;
  child(_name: string): Node {
    return new Node();
  }
  path(): string {
    return "/";
  }
}

/** Workload 11: a stream of small items. */
@shared({ manager: BenchManager })
export class Source {
  async *items(count: number): AsyncGenerator<number> {
    for (let i = 0; i < count; i++) yield i;
  }
}

/**
 * Workload 8's view from inside the server process: its heap after a full
 * GC (the server runs with `--expose-gc`), and what 100,000 bare `Value`
 * objects take there without any manager bookkeeping.
 */
@shared({ manager: BenchManager })
export class HeapProbe {
  heapAfterGc(): number {
    (globalThis as { gc?: () => void }).gc?.();
    return Deno.memoryUsage().heapUsed;
  }
  bareValues(count: number): number {
    const before = this.heapAfterGc();
    const values = Array.from({ length: count }, () => new Value(0));
    const after = this.heapAfterGc();
    // `values` is read after the measurement, so it is alive during it.
    return (after - before) / values.length - 8; // less the array slot holding each
  }
}

const [workload = "sequential", transport = "unix", durationText = "1000"] = Deno.args;
const duration = Number(durationText);
const modules = [import.meta.url];

function managerOptions(): ConstructorParameters<typeof BenchManager>[0] {
  // `BENCH_SERVER_PROFILE=<dir>` writes a CPU profile of the server process there.
  const profileDir = Deno.env.get("BENCH_SERVER_PROFILE");
  const denoFlags = profileDir === undefined
    ? {}
    : { denoFlags: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, "--cpu-prof-interval=100"] };
  return transport === "tcp"
    ? { address: { hostname: "127.0.0.1", port: 0 }, modules, ...denoFlags }
    : { modules, ...denoFlags };
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

/**
 * The RSS of a bare Deno process idling in `accept()` on a Unix socket:
 * what the runtime itself holds before any code of ours.
 */
async function idleRuntimeRss(rss: (pid: number) => number): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "mp-bench-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./idle_listener.ts", import.meta.url).pathname, `${dir}/s`],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  await reader.read(); // "listening"
  await new Promise((resolve) => setTimeout(resolve, 300));
  const bytes = rss(child.pid);
  await child.stdin.close();
  await reader.cancel();
  await child.status;
  await Deno.remove(dir, { recursive: true });
  return bytes;
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

/**
 * Workload 6's client process: claims its proxies, says it is ready, waits
 * for the start signal, then calls `increment()` for `duration` ms and
 * reports how many calls it made and in how long.
 */
/** Calls each of the 8 worker processes makes before it reports ready (CPython's make as many). */
const WORKER_WARMUP = 3000;

async function worker(): Promise<void> {
  // The proxy strings and the authkey arrive on stdin.
  const message = JSON.parse(await new Response(Deno.stdin.readable).text()) as {
    proxies: Record<"counter" | "ready" | "go" | "results", string>;
    authkey: number[];
  };
  const options = { authkey: Uint8Array.from(message.authkey) };
  const counter = await proxyFromString<Remote<Counter>>(message.proxies.counter, options);
  const ready = await proxyFromString<QueueProxy<number>>(message.proxies.ready, options);
  const go = await proxyFromString<EventProxy>(message.proxies.go, options);
  const results = await proxyFromString<QueueProxy<number[]>>(message.proxies.results, options);
  // Steady state: V8 compiles the hot path during the first thousands of calls
  // (9 processes warming up on one core took most of a 1 s window).
  for (let i = 0; i < WORKER_WARMUP; i++) await counter.increment();
  await ready.put(1);
  await go.wait();
  let calls = 0;
  const started = performance.now();
  while (performance.now() - started < duration) {
    await counter.increment();
    calls++;
  }
  await results.put([calls, (performance.now() - started) / 1000]);
  for (const proxy of [counter, ready, go, results]) await proxy[Symbol.asyncDispose]();
}

async function main(): Promise<void> {
  if (workload === "serve") {
    // A server for CPython clients (the pickle path): its address and key on
    // stdout, then serving until stdin closes.
    const authkey = crypto.getRandomValues(new Uint8Array(32));
    await using manager = await new BenchManager({ ...managerOptions(), authkey }).start();
    const hex = Array.from(authkey, (b) => b.toString(16).padStart(2, "0")).join("");
    console.log(JSON.stringify({ address: manager.address, authkey: hex }));
    await new Response(Deno.stdin.readable).arrayBuffer();
    return;
  }
  if (workload === "start") {
    const started = performance.now();
    // SyncManager needs no module of ours: this is start() as most users meet it.
    await using manager = await new SyncManager({ ...managerOptions(), modules: [] }).start();
    const ready = performance.now();
    const queue = await manager.Queue();
    await queue.qsize();
    const done = performance.now();
    report({ ms: done - started, startMs: ready - started, firstCallMs: done - ready });
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
    case "chain-pipelined": {
      // Three dependent calls sent at once: child, child, path.
      await using root = await manager.create(Node);
      return report(
        await timed(1, async () => {
          const a = root.child("a");
          const b = a.child("b");
          await b.path();
          await a[Symbol.asyncDispose]();
          await b[Symbol.asyncDispose]();
        }),
      );
    }
    case "chain-awaited": {
      // The same three calls, each awaited before the next is sent.
      await using root = await manager.create(Node);
      return report(
        await timed(1, async () => {
          await using a = await root.child("a");
          await using b = await a.child("b");
          await b.path();
        }),
      );
    }
    case "stream": {
      // Items per second through a stream, 1,000 per stream.
      const source = await manager.create(Source);
      return report(
        await timed(1000, async () => {
          for await (const _ of await source.items(1000)) { /* take each item */ }
        }),
      );
    }
    case "queue-loop": {
      // The same items by queue.get() one at a time: put 1,000 (not timed), then take them.
      const queue = await manager.Queue<number>();
      let taking = 0;
      let items = 0;
      const started = performance.now();
      while (performance.now() - started < duration + 200) {
        await Promise.all(Array.from({ length: 1000 }, (_, i) => queue.put(i)));
        const from = performance.now();
        for (let i = 0; i < 1000; i++) await queue.get();
        taking += performance.now() - from;
        items += 1000;
      }
      return report({ ops: items, seconds: taking / 1000 });
    }
    case "create":
      return report(
        await timed(1, async () => {
          const proxy = await manager.create(Counter);
          await proxy[Symbol.asyncDispose]();
        }),
      );
    case "clients8": {
      // 8 client processes hammer one counter. Measured in steady state: every
      // process has started and connected before the clock starts; the result
      // is the sum of the 8 processes' own rates over the same `duration`.
      const ready = await manager.Queue<number>();
      const go = await manager.Event();
      const results = await manager.Queue<number[]>();
      const children = await Promise.all(Array.from({ length: 8 }, async () => {
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", import.meta.filename!, "worker", transport, String(duration)],
          stdin: "piped",
        }).spawn();
        // A proxy string can be claimed once: each process gets its own.
        const proxies = {
          counter: await proxyToString(counter),
          ready: await proxyToString(ready),
          go: await proxyToString(go),
          results: await proxyToString(results),
        };
        const message = JSON.stringify({ proxies, authkey: [...defaultAuthkey()] });
        const writer = child.stdin.getWriter();
        await writer.write(new TextEncoder().encode(message));
        await writer.close();
        return child;
      }));
      // Fails fast if a worker dies, instead of waiting for its result forever.
      const failure = new Promise<never>((_, reject) => {
        for (const child of children) {
          child.status.then((status) => status.success || reject(new Error("a worker failed")));
        }
      });
      const measure = async (): Promise<number> => {
        for (let i = 0; i < 8; i++) await ready.get();
        await go.set();
        let rate = 0;
        for (let i = 0; i < 8; i++) {
          const [calls, seconds] = await results.get();
          rate += calls! / seconds!;
        }
        return rate;
      };
      const rate = await Promise.race([measure(), failure]);
      await Promise.all(children.map((child) => child.status));
      return report({ ops: rate, seconds: 1 });
    }
    case "memory": {
      // Server memory: idle (one object, as CPython's is measured), per idle
      // connection, and with 100,000 live objects: RSS (comparable with
      // CPython's), and the heap after a full GC, less what the bare objects take.
      const rss = (pid: number): number =>
        Number(
          Deno.readTextFileSync(`/proc/${pid}/status`).match(/VmRSS:\s+(\d+) kB/)![1],
        ) * 1024;
      const probe = await manager.create(HeapProbe);
      await probe.heapAfterGc();
      const idle = rss(manager.pid!);
      const connections: BenchManager[] = [];
      for (let i = 0; i < 100; i++) {
        connections.push(await new BenchManager({ address: manager.address }).connect());
      }
      const perConnection = (rss(manager.pid!) - idle) / connections.length;
      await Promise.all(connections.map((c) => c.disconnect()));
      const bare = await probe.bareValues(100_000);
      const before = rss(manager.pid!);
      const heapBefore = await probe.heapAfterGc();
      const held: BaseProxy[] = [];
      for (let i = 0; i < 100_000; i += 500) {
        held.push(...await Promise.all(Array.from({ length: 500 }, () => manager.Value(0))));
      }
      const heapAfter = await probe.heapAfterGc();
      const full = rss(manager.pid!);
      return report({
        idle,
        perConnection,
        perObject: (full - before) / 100_000,
        heapPerObject: (heapAfter - heapBefore) / 100_000,
        bareObject: bare,
        runtimeIdle: await idleRuntimeRss(rss),
      });
    }
    default:
      throw new Error(`Unknown workload ${workload}`);
  }
}

if (import.meta.main) {
  if (Deno.args[0] === "worker") {
    await worker();
  } else {
    await main();
  }
}
