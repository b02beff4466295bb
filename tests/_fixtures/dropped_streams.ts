/**
 * Run with `--v8-flags=--expose-gc`. What this process lends or receives
 * and then drops is let go of once garbage is collected on both sides:
 *
 * 1. an upload the server's method never reads, whose producer holds
 *    200 MiB here: this process's memory after a forced GC, against before;
 * 2. a stream this process drops unread: its slot of
 *    `maxObjectsPerConnection` on the server is freed.
 *
 * Prints one JSON line: `{ uploadMiB, uploadFreed, uploadMs, streamSlotFreed, streamMs }`
 * (`uploadMiB`: this process's resident memory above where it started,
 * after the last forced GC; `...Ms`: how long each took to be let go of).
 * A step that hangs ends the process with code 3, naming the step.
 */
import { StopsManager, Waiter } from "./stops.ts";
import { Feed } from "./stops.ts";

const DEADLINE = 10_000;
const MiB = 1024 * 1024;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run this with --v8-flags=--expose-gc");

let step = "starting the manager";
const watchdog = setTimeout(() => {
  console.error(`dropped_streams.ts: stuck ${step}`);
  Deno.exit(3);
}, 45_000);

await using manager = await new StopsManager({
  modules: [new URL("./stops.ts", import.meta.url).href],
  limits: { maxObjectsPerConnection: 2 },
}).start();
await using waiter = await manager.create(Waiter);
await using feed = await manager.create(Feed);

async function collect(): Promise<void> {
  await waiter.collectGarbage();
  await new Promise((resolve) => setTimeout(resolve, 20));
  gc!();
  await new Promise((resolve) => setTimeout(resolve, 0));
}

step = "measuring";
const rss = (): number => Deno.memoryUsage().rss;
await collect();
const before = rss();

// 1. An upload whose producer holds 25 arrays of 8 MiB; the method never reads it.
step = "uploading";
const held = await (async () => {
  const chunks = Array.from({ length: 25 }, (_, i) => new Uint8Array(8 * MiB).fill(i + 1));
  async function* produce(data: Uint8Array[]): AsyncGenerator<Uint8Array> {
    for (const chunk of data) yield chunk;
  }
  await waiter.ignore(produce(chunks));
  return new WeakRef(chunks[0]!);
})();
step = "collecting the upload";
let started = performance.now();
while (held.deref() !== undefined && performance.now() - started < DEADLINE) await collect();
const uploadMs = Math.round(performance.now() - started);
await collect();
const uploadMiB = Math.round((rss() - before) / MiB);

// 2. A stream dropped unread: the connection may have 2 open; a third fits once one is collected.
step = "opening two streams";
await (async () => {
  await feed.follow();
  await feed.follow();
})();
step = "collecting the streams";
let streamSlotFreed = false;
started = performance.now();
while (!streamSlotFreed && performance.now() - started < DEADLINE) {
  await collect();
  try {
    const third = await feed.big(1, 1);
    streamSlotFreed = true;
    for await (const _ of third) { /* read to its end: its slot is freed */ }
  } catch (error) {
    if (!/maxObjectsPerConnection/.test(String(error))) throw error;
  }
}

const streamMs = Math.round(performance.now() - started);
step = "shutting down";
console.log(JSON.stringify({
  uploadMiB,
  uploadFreed: held.deref() === undefined,
  uploadMs,
  streamSlotFreed,
  streamMs,
}));
await manager.shutdown();
clearTimeout(watchdog);
