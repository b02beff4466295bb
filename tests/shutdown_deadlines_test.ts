/**
 * Shutdown and start always end. `shutdown()` returns within
 * 3 × shutdownTimeout (ask, then SIGTERM, then SIGKILL) plus a little,
 * whatever the server is doing: busy in a synchronous method, or stopped
 * (SIGSTOP) with a large call in flight. `disconnect()` returns at once and
 * rejects the caller's pending calls. `start()` gives up after
 * `startTimeout`, stops the server process and says what it was waiting for.
 */
import assert from "node:assert/strict";
import { BaseManager, ConnectionClosedError } from "../mod.ts";
import { Probe, Store, TestManager } from "./_fixtures/counter.ts";
import { COUNTER_MODULE, processGone, tempDir, waitUntil, within } from "./_helpers.ts";

const modules = [COUNTER_MODULE];
const T = 300;
/** What the README states: three steps of shutdownTimeout, plus process exit. */
const BOUND = 3 * T + 700;

/** How long `work` took; a regression that hangs fails after 10 s instead. */
async function timed(work: () => Promise<unknown>, what: string): Promise<number> {
  const start = performance.now();
  await within(work(), 10_000, what);
  return performance.now() - start;
}

/** Ends a server process a failed test left stopped. */
function killQuietly(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch { /* gone */ }
}

Deno.test("shutdown() of a server busy in a long synchronous method ends within its bound", async () => {
  const manager = await new TestManager({ modules, shutdownTimeout: T }).start();
  const pid = manager.pid!;
  const probe = await manager.create(Probe);
  const spinning = probe.spin(20_000).then(() => "returned", (e) => e);
  await new Promise((resolve) => setTimeout(resolve, 100));
  try {
    const took = await timed(() => manager.shutdown(), "shutdown()");
    assert.ok(took < BOUND, `shutdown() took ${took.toFixed(0)} ms (bound ${BOUND})`);
    assert.ok(await spinning instanceof ConnectionClosedError);
    assert.ok(processGone(pid));
  } finally {
    killQuietly(pid);
  }
});

Deno.test("shutdown() of a stopped server with a large call in flight ends within its bound", async () => {
  const manager = await new TestManager({ modules, shutdownTimeout: T }).start();
  const pid = manager.pid!;
  const store = await manager.create(Store);
  Deno.kill(pid, "SIGSTOP");
  // 32 MiB cannot fit in the socket's buffers while nobody reads.
  const pending = store.set("big", new Uint8Array(32 * 1024 * 1024)).then(() => "stored", (e) => e);
  await new Promise((resolve) => setTimeout(resolve, 100));
  try {
    const took = await timed(() => manager.shutdown(), "shutdown()");
    assert.ok(took < BOUND, `shutdown() took ${took.toFixed(0)} ms (bound ${BOUND})`);
    assert.ok(await pending instanceof ConnectionClosedError);
    assert.ok(await waitUntil(() => processGone(pid), 2000), "the stopped server was killed");
  } finally {
    killQuietly(pid);
  }
});

Deno.test("disconnect() from a stopped server returns at once and rejects pending calls", async () => {
  await using owner = await new TestManager({ modules, shutdownTimeout: T }).start();
  const client = await new TestManager({ address: owner.address, modules }).connect();
  const store = await client.create(Store);
  Deno.kill(owner.pid!, "SIGSTOP");
  try {
    const pending = store.set("big", new Uint8Array(16 * 1024 * 1024)).then(() => "ok", (e) => e);
    const small = store.size().then(() => "ok", (e) => e);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const took = await timed(() => client.disconnect(), "disconnect()");
    assert.ok(took < 200, `disconnect() took ${took.toFixed(0)} ms`);
    assert.ok(await pending instanceof ConnectionClosedError);
    assert.ok(await small instanceof ConnectionClosedError);
  } finally {
    Deno.kill(owner.pid!, "SIGCONT");
  }
  assert.ok(
    await waitUntil(async () => (await owner.numberOfObjects()) === 0, 2000),
    "the server released the client's objects",
  );
});

async function hangingStart(
  source: string,
  initializer?: string,
): Promise<{ error: Error; took: number }> {
  await using dir = await tempDir();
  const module = `${dir.path}/hang.ts`;
  await Deno.writeTextFile(module, source);
  const manager = new BaseManager({ modules: [module], startTimeout: 800 });
  const imported = initializer === undefined ? undefined : (await import(module))[initializer];
  const start = performance.now();
  const error = await within(
    manager.start(imported).then(() => undefined, (e) => e),
    10_000,
    "start()",
  );
  const took = performance.now() - start;
  assert.ok(error instanceof Deno.errors.TimedOut, String(error));
  const pid = Number(error.message.match(/pid (\d+)/)?.[1]);
  assert.ok(await waitUntil(() => processGone(pid), 2000), "the server process was stopped");
  return { error, took };
}

Deno.test("start() gives up on a module whose top-level await never settles", async () => {
  const { error, took } = await hangingStart(
    "await new Promise(() => setInterval(() => {}, 1000));\n",
  );
  assert.match(
    error.message,
    /^The server process did not become ready within 800 ms \(startTimeout\): it was still importing file:\/\/.*hang\.ts, and was stopped \(pid \d+\)/,
  );
  assert.ok(took < 800 + 2500, `start() took ${took.toFixed(0)} ms`);
});

Deno.test("start() gives up on an initializer that never returns", async () => {
  const { error } = await hangingStart(
    "export function hang(): Promise<never> {\n  return new Promise(() => setInterval(() => {}, 1000));\n}\n",
    "hang",
  );
  assert.match(error.message, /it was still running the initializer hang of file:\/\/.*hang\.ts/);
});
