/**
 * What each example must print, checked wherever it runs: from this
 * repository (`examples_test.ts`) and copied into a throw-away project
 * that installed the package from a registry (`user_project_test.ts`).
 */
import assert from "node:assert/strict";

/** The outcome of one `deno run`. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs an example: `deno run --quiet <flags> <example file> <args>`. */
export interface ExampleRunner {
  run(example: string, flags: string[], args?: string[]): Promise<Run>;
  spawn(example: string, flags: string[], args: string[]): Deno.ChildProcess;
}

/** The examples, by file name. */
export const EXAMPLES = [
  "quickstart.ts",
  "custom_proxy.ts",
  "work_queue.ts",
  "remote_manager.ts",
  "python_interop/deno_hosts.ts",
  "python_interop/python_hosts.ts",
  "timeouts.ts",
  "streams.ts",
  "callbacks.ts",
  "quotas.ts",
  "manager_function.ts",
] as const;

const OWNER_FLAGS = ["--allow-run", "--allow-read", "--allow-write", "--allow-net"];

/** Four workers count to 1000 and nothing is left. */
export async function checkQuickstart(runner: ExampleRunner): Promise<void> {
  const { code, stdout, stderr } = await runner.run("quickstart.ts", OWNER_FLAGS);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /total: 1000 \(expected 1000\)/);
  assert.match(stdout, /objects left on the server: 0/);
  assert.equal(stdout.match(/worker \d done/g)?.length, 4);
}

/** The mean through a hand-written proxy. */
export async function checkCustomProxy(runner: ExampleRunner): Promise<void> {
  const { code, stdout, stderr } = await runner.run("custom_proxy.ts", OWNER_FLAGS);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /<AccumulatorProxy object, typeid 'Accumulator' at 0x[0-9a-f]+>/);
  assert.match(stdout, /count 4, mean 7\.25/);
}

/** Four worker processes drain 40 jobs into a results dict. */
export async function checkWorkQueue(runner: ExampleRunner): Promise<void> {
  const { code, stdout, stderr } = await runner.run("work_queue.ts", OWNER_FLAGS);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^40 jobs done; per worker: \d+, \d+, \d+, \d+$/m);
  const counts = stdout.match(/per worker: ([\d, ]+)/)![1]!.split(", ").map(Number);
  assert.equal(counts.reduce((a, b) => a + b, 0), 40);
  assert.match(stdout, /primes below 1,000,000: 78498/);
  assert.match(stdout, /objects left on the server: 0/);
}

/** Serve, get (waiting), put, stop: CPython's remote-manager example. */
export async function checkRemoteManager(runner: ExampleRunner): Promise<void> {
  const server = runner.spawn("remote_manager.ts", ["--allow-net"], ["serve", "--port=0"]);
  const lines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let banner = "";
  while (!banner.includes("\n")) banner += (await lines.read()).value ?? "";
  const port = banner.match(/serving on 127\.0\.0\.1:(\d+)/)?.[1];
  assert.ok(port, banner);
  const client = (...args: string[]): Promise<Run> =>
    runner.run("remote_manager.ts", ["--allow-net"], [...args, `--port=${port}`]);
  const getting = client("get");
  await new Promise((resolve) => setTimeout(resolve, 300));
  const put = await client("put", "hello", "there");
  assert.equal(put.code, 0, put.stderr);
  const got = await getting;
  assert.equal(got.stdout.trim(), "hello there", got.stderr);
  if (await pythonDocsClient(port)) {
    const fromPython = await client("get");
    assert.equal(fromPython.stdout.trim(), "hello from Python", fromPython.stderr);
  }
  const stop = await client("stop");
  assert.equal(stop.code, 0, stop.stderr);
  let rest = "";
  for (let r = await lines.read(); !r.done; r = await lines.read()) rest += r.value;
  assert.match(rest, /server stopped/);
  assert.ok((await server.status).success);
}

/**
 * The Python docs' remote-manager client, unchanged but for its address,
 * puts on the example's queue and a Deno client gets it (skipped without
 * CPython 3.12 or later).
 */
async function pythonDocsClient(port: string): Promise<boolean> {
  const python = (code: string): Promise<Deno.CommandOutput> =>
    new Deno.Command("python3", {
      args: ["-c", code],
      env: { PYENV_VERSION: "3.13.0" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  const version = await python("import sys; assert sys.version_info >= (3, 12)").catch(() => null);
  if (version === null || !version.success) {
    console.log("skipping the Python docs' client: CPython 3.13.0 not found");
    return false;
  }
  const put = await python(`
from multiprocessing.managers import BaseManager
class QueueManager(BaseManager): pass
QueueManager.register('get_queue')
m = QueueManager(address=('127.0.0.1', ${port}), authkey=b'abracadabra')
m.connect()
queue = m.get_queue()
queue.put('hello from Python')
`);
  assert.ok(put.success, new TextDecoder().decode(put.stderr));
  return true;
}

/** CPython workers square 12 numbers taken from a Deno JoinableQueue. */
export async function checkDenoHosts(runner: ExampleRunner): Promise<void> {
  const { code, stdout, stderr } = await runner.run("python_interop/deno_hosts.ts", OWNER_FLAGS);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /12 jobs done by CPython workers: 1 4 9 16 25 36 49 64 81 100 121 144/);
  const counts = [...stdout.matchAll(/python-\d squared (\d+) numbers/g)].map((m) => Number(m[1]));
  assert.equal(counts.length, 3);
  assert.equal(counts.reduce((a, b) => a + b, 0), 12);
  assert.match(stdout, /objects left on the server: 0/);
}

/** A Deno client puts and gets on a CPython server's queue, then stops it. */
export async function checkPythonHosts(runner: ExampleRunner): Promise<void> {
  const { code, stdout, stderr } = await runner.run("python_interop/python_hosts.ts", [
    "--allow-run",
    "--allow-read",
    "--allow-net",
  ]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /qsize: 1/);
  assert.match(stdout, /from: "Deno"/);
  assert.match(stdout, /18446744073709551616n/);
  assert.match(stdout, /an empty queue raises Empty/);
  assert.match(stdout, /CPython server exited: true/);
}

/** A timed-out get() takes nothing, an aborted acquire() leaves the lock free, the server stops. */
export async function checkTimeouts(runner: ExampleRunner): Promise<void> {
  const { code, stdout, stderr } = await runner.run("timeouts.ts", OWNER_FLAGS);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /get\(\) gave up: TimeoutError/);
  assert.match(stdout, /the job is still there: qsize 1/);
  assert.match(stdout, /acquire\(\) aborted: AbortError/);
  assert.match(stdout, /the lock is free: true/);
  assert.match(stdout, /build\(\) gave up: TimeoutError/);
  assert.match(stdout, /builds the server stopped: 1/);
}

/**
 * A followed log: break after 100 lines closes the server's generator; a tail waiting for lines
 * stops at return(); a dict streams.
 */
export async function checkStreams(runner: ExampleRunner): Promise<void> {
  const { code, stdout, stderr } = await runner.run("streams.ts", OWNER_FLAGS);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /read 100 lines, then stopped/);
  assert.match(stdout, /generators the server closed: 1/);
  assert.match(stdout, /tailed: line 500\nthe waiting read ended: done true/);
  assert.match(stdout, /generators the server closed: 2/);
  assert.match(stdout, /apples 3\npears 2/);
}

/** Progress reported through a callback, and numbers uploaded as a stream. */
export async function checkCallbacks(runner: ExampleRunner): Promise<void> {
  const { code, stdout, stderr } = await runner.run("callbacks.ts", OWNER_FLAGS);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /25%\n50%\n75%\n100%\na report of 4 parts/);
  assert.match(stdout, /total of 1\.\.1000, streamed: 500500/);
}

/** A create over the object quota is refused by name; a release makes room. */
export async function checkQuotas(runner: ExampleRunner): Promise<void> {
  const { code, stdout, stderr } = await runner.run("quotas.ts", OWNER_FLAGS);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /refused: .*limits\.maxObjectsPerConnection/);
  assert.match(stdout, /after a release: 9/);
  assert.match(stdout, /connection \d+: 3 objects, 0 calls in progress, 0 bytes buffered/);
}

/** Manager(): a dict and a list in a started SyncManager. */
export async function checkManagerFunction(runner: ExampleRunner): Promise<void> {
  const { code, stdout, stderr } = await runner.run("manager_function.ts", OWNER_FLAGS);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /\[ \[ "apples", 3 \], \[ "pears", 2 \] \] \[ "pears added" \]/);
}

/** Every example's check, by file name. */
export const CHECKS: Record<typeof EXAMPLES[number], (runner: ExampleRunner) => Promise<void>> = {
  "quickstart.ts": checkQuickstart,
  "custom_proxy.ts": checkCustomProxy,
  "work_queue.ts": checkWorkQueue,
  "remote_manager.ts": checkRemoteManager,
  "python_interop/deno_hosts.ts": checkDenoHosts,
  "python_interop/python_hosts.ts": checkPythonHosts,
  "timeouts.ts": checkTimeouts,
  "streams.ts": checkStreams,
  "callbacks.ts": checkCallbacks,
  "quotas.ts": checkQuotas,
  "manager_function.ts": checkManagerFunction,
};

/** A runner for `deno` with a working directory and environment of its own. */
export function denoRunner(
  dir: string,
  options: { cwd?: string; env?: Record<string, string> } = {},
): ExampleRunner {
  const command = (example: string, flags: string[], args: string[], piped: boolean) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", ...flags, `${dir}/${example}`, ...args],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      env: { NO_COLOR: "1", ...options.env },
      stdin: "null",
      stdout: "piped",
      stderr: piped ? "piped" : "inherit",
    });
  return {
    async run(example, flags, args = []): Promise<Run> {
      const output = await command(example, flags, args, true).output();
      const text = new TextDecoder();
      return {
        code: output.code,
        stdout: text.decode(output.stdout),
        stderr: text.decode(output.stderr),
      };
    },
    spawn(example, flags, args): Deno.ChildProcess {
      return command(example, flags, args, false).spawn();
    },
  };
}
