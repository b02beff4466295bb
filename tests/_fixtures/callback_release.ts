/**
 * Run with `--v8-flags=--expose-gc`: passes two callbacks to a server of
 * its own, one the shared object drops and one it keeps, and lets garbage
 * be collected on both sides until the dropped one's function is gone here
 * (or `DEADLINE` ms pass). Prints two JSON lines: whether each function
 * is still alive in this process and how long the release took, then what
 * a publish to the kept one gave.
 */
import { callback } from "../../mod.ts";
import { CancelManager, Events, Job } from "./cancellable.ts";

const DEADLINE = 10_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run this with --v8-flags=--expose-gc");

await using manager = await new CancelManager({
  modules: [new URL("./cancellable.ts", import.meta.url).href],
}).start();
await using job = await manager.create(Job);
await using events = await manager.create(Events);

// The functions are reachable from here only through the WeakRefs (and the session's table).
const [dropped, kept] = await (async () => {
  const onDropped = (step: number): number => step;
  const onKept = (event: string): string => event;
  await job.forget(callback(onDropped));
  await events.subscribe(callback(onKept));
  return [new WeakRef(onDropped), new WeakRef(onKept)];
})();

const started = performance.now();
while (dropped.deref() !== undefined && performance.now() - started < DEADLINE) {
  await job.collectGarbage(); // the server's stub is collected and its release sent
  await new Promise((resolve) => setTimeout(resolve, 20));
  gc();
  await new Promise((resolve) => setTimeout(resolve, 0));
}
console.log(JSON.stringify({
  dropped: dropped.deref() === undefined ? "released" : "alive",
  kept: kept.deref() === undefined ? "released" : "alive",
  ms: Math.round(performance.now() - started),
}));
// Still called back: the kept stub works after all those collections.
console.log(JSON.stringify(await events.publish("still here")));
