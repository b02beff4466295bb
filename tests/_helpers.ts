/** Helpers shared by the tests: fixture URLs, child processes, polling. */

import assert from "node:assert/strict";

/** The module with the tests' shared classes (imported by server processes). */
export const COUNTER_MODULE: string = new URL("./_fixtures/counter.ts", import.meta.url).href;
/** A worker script the tests start as a separate process. */
export const WORKER: string = new URL("./_fixtures/worker.ts", import.meta.url).href;

/**
 * True when no live process has this pid (a zombie counts as gone). Reading
 * /proc needs --allow-all; any error but NotFound is thrown, never taken
 * for "gone".
 */
export function processGone(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return true;
    throw error;
  }
}

/** Polls `check` until it is true or `timeout` ms pass; returns the last result. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeout: number,
): Promise<boolean> {
  const deadline = performance.now() + timeout;
  while (true) {
    if (await check()) return true;
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A private temp directory removed by `await using`. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "mpt-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

/** Base64 of bytes, to hand an authkey to a worker over stdin. */
export function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/** A worker process started with `deno run -A WORKER`, fed one JSON line on stdin. */
export interface Worker {
  readonly child: Deno.ChildProcess;
  /** Resolves with the next line the worker prints. */
  line(): Promise<string>;
  /** Waits for exit and returns the code and the rest of its output. */
  finish(): Promise<{ code: number; output: string }>;
}

/** Starts the worker fixture with a command object (sent as JSON over stdin). */
export function startWorker(command: Record<string, unknown>, flags: string[] = []): Worker {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", ...flags, WORKER],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  writer.write(new TextEncoder().encode(JSON.stringify(command) + "\n")).then(() => writer.close())
    .catch(() => {});
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let ended = false;
  const nextLine = async (): Promise<string | null> => {
    while (!buffered.includes("\n")) {
      if (ended) return null;
      const { value, done } = await lines.read();
      if (done) ended = true;
      else buffered += value;
    }
    const at = buffered.indexOf("\n");
    const line = buffered.slice(0, at);
    buffered = buffered.slice(at + 1);
    return line;
  };
  return {
    child,
    async line(): Promise<string> {
      const line = await nextLine();
      if (line === null) throw new Error(`Worker ended without printing a line`);
      return line;
    },
    async finish(): Promise<{ code: number; output: string }> {
      let output = "";
      let line: string | null;
      while ((line = await nextLine()) !== null) output += line + "\n";
      output += buffered;
      const status = await child.status;
      return { code: status.code, output };
    },
  };
}

/** A worker of `_fixtures/sync_worker.ts`. */
export const SYNC_WORKER: string = new URL("./_fixtures/sync_worker.ts", import.meta.url).href;

/** Hands `proxies` (as strings) to a sync worker running `scenario`. */
export async function startSyncWorker(
  manager: { address: unknown },
  scenario: string,
  proxies: Record<string, { _token: unknown }>,
  args: Record<string, number> = {},
): Promise<Deno.ChildProcess> {
  const { defaultAuthkey, proxyToString } = await import("../mod.ts");
  const strings: Record<string, string> = {};
  for (const [name, proxy] of Object.entries(proxies)) {
    strings[name] = await proxyToString(proxy as never);
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", SYNC_WORKER],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(JSON.stringify({
      scenario,
      address: manager.address,
      authkey: toBase64(defaultAuthkey()),
      proxies: strings,
      args,
    })),
  );
  await writer.close();
  return child;
}

/** Waits for a worker and asserts it exited with code 0; returns its output. */
export async function workerOk(child: Deno.ChildProcess): Promise<string> {
  const { code, stdout } = await child.output();
  const text = new TextDecoder().decode(stdout);
  if (code !== 0) throw new Error(`worker exited with code ${code}: ${text}`);
  return text;
}

/** mulberry32: a small seeded random number generator, good enough to pick test cases. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What a finished `deno` command printed. */
export interface DenoRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno run --quiet --no-lock <args>` to the end, with `NO_COLOR` and
 * any `env` added, and returns its exit code and output.
 */
export async function denoRun(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<DenoRun> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--no-lock", ...args],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/** `promise`, or a rejection naming `what` if it is not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts a sync worker and waits until it prints "held" (it then waits to be killed). */
export async function startHeldWorker(
  manager: { address: unknown },
  scenario: string,
  proxies: Record<string, { _token: unknown }>,
  args: Record<string, number> = {},
): Promise<Deno.ChildProcess> {
  const child = await startSyncWorker(manager, scenario, proxies, args);
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("held")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the ${scenario} worker exited before it said "held"`);
    text += value;
  }
  reader.releaseLock();
  return child;
}

/** SIGKILLs a worker and waits for it to be gone. */
export async function killWorker(child: Deno.ChildProcess): Promise<void> {
  child.kill("SIGKILL");
  await child.status;
  await child.stdout.cancel().catch(() => {});
}

/**
 * A test with a SyncManager of its own, so that resource sanitizers stay on
 * and no test depends on another: started before `fn`, and after it, the
 * manager must be back to no objects (within 3 s) before it shuts down.
 */
export function syncTest(
  name: string,
  fn: (manager: import("../mod.ts").SyncManager) => Promise<void>,
): void {
  Deno.test(name, async () => {
    const { SyncManager } = await import("../mod.ts");
    await using manager = await new SyncManager({ modules: [] }).start();
    await fn(manager);
    const objects = async (): Promise<number> => await manager.numberOfObjects();
    if (!(await waitUntil(async () => (await objects()) === 0, 3000))) {
      throw new Error(`The test left ${await objects()} shared objects on its manager`);
    }
  });
}

/**
 * A self-signed certificate for localhost and 127.0.0.1 (a P-256 key, made
 * by openssl in `dir`), as rustls accepts it: not a CA, with both names.
 */
export async function makeCertificate(dir: string): Promise<{ cert: string; key: string }> {
  const { success, stderr } = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      `${dir}/key.pem`,
      "-out",
      `${dir}/cert.pem`,
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
  return {
    cert: await Deno.readTextFile(`${dir}/cert.pem`),
    key: await Deno.readTextFile(`${dir}/key.pem`),
  };
}

/**
 * The first line a child prints on `stdout` (within 10 s, else a rejection
 * naming `what`), and the reader for the rest; cancel the reader when done.
 */
export async function firstLine(
  stdout: ReadableStream<Uint8Array>,
  what: string,
): Promise<{ line: string; rest: ReadableStreamDefaultReader<string> }> {
  const rest = stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await within(rest.read(), 10_000, what);
    if (done) throw new Error(`${what}: the process ended before printing a line`);
    text += value;
  }
  return { line: text.slice(0, text.indexOf("\n")), rest };
}
