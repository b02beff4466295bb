/**
 * Process: a worker process runs an exported function with data and
 * proxies as arguments, with only the permissions it needs, and never
 * outlives its parent.
 */
import assert from "node:assert/strict";
import { Process, SyncManager } from "../mod.ts";
import { fail, hang, readHome, record, square, tryWalls } from "./_fixtures/process_targets.ts";
import { denoRun, processGone, tempDir, waitUntil } from "./_helpers.ts";

const module = new URL("./_fixtures/process_targets.ts", import.meta.url);
const MOD = new URL("../mod.ts", import.meta.url).href;

Deno.test("a Process runs its target with proxies and data, and exits with 0", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  await using queue = await manager.Queue<number>();
  await using results = await manager.dict<string, unknown>();
  const workers = [3, 4, 5].map((n) => new Process({ target: square, args: [queue, n], module }));
  for (const worker of workers) await worker.start();
  const got = [
    await queue.get({ timeout: 5000 }),
    await queue.get({ timeout: 5000 }),
    await queue.get({ timeout: 5000 }),
  ];
  assert.deepEqual(got.sort((a, b) => a - b), [9, 16, 25]);
  for (const worker of workers) assert.equal(await worker.join({ timeout: 5000 }), 0);
  assert.ok(workers.every((w) => w.exitCode === 0 && !w.isAlive()));

  const recorder = new Process({
    target: record,
    args: [results, { list: [1, 2, 3], when: new Date(Date.UTC(2024, 5, 1)) }, "first"],
    module,
  });
  await recorder.start();
  assert.equal(await recorder.join({ timeout: 5000 }), 0);
  assert.deepEqual(await results.get("first"), { sum: 6, year: 2024 });
  // Claimed proxies are released when the worker ends.
  assert.ok(await waitUntil(async () => (await manager.numberOfObjects()) === 2, 3000));
});

Deno.test("a target that throws exits with 1; join() with a timeout returns null while it runs", async () => {
  const failing = await new Process({ target: fail, module }).start();
  assert.equal(await failing.join({ timeout: 5000 }), 1);

  await using manager = await new SyncManager({ modules: [] }).start();
  await using queue = await manager.Queue<string>();
  await using hanging = await new Process({ target: hang, args: [queue], module }).start();
  assert.equal(await queue.get({ timeout: 5000 }), "started");
  assert.equal(await hanging.join({ timeout: 50 }), null);
  assert.ok(hanging.isAlive());
  const pid = hanging.pid!;
  await hanging[Symbol.asyncDispose]();
  assert.ok(!hanging.isAlive());
  assert.ok(await waitUntil(() => processGone(pid), 3000), "the worker is gone after dispose");
});

Deno.test("Process refuses a target its module does not export, and a second start()", async () => {
  const local = (): void => {};
  await assert.rejects(new Process({ target: local, module }).start(), {
    name: "TypeError",
    message:
      `The target local must be exported from one of the modules the new process imports (${module.href}), so that it can find it there`,
  });
  const once = await new Process({ target: fail, module }).start();
  await assert.rejects(
    once.start(),
    /Process 'fail' was already started; make a new Process to run again/,
  );
  await once.join({ timeout: 5000 });
});

Deno.test("a worker has only the permissions it needs; a denial names the Process option", async () => {
  await using dir = await tempDir();
  const script = `${dir.path}/main.ts`;
  await Deno.writeTextFile(
    script,
    `import { Process } from "${MOD}";
import { readHome } from "${module.href}";
const denied = await new Process({ target: readHome, module: "${module.href}" }).start();
console.log("denied:", await denied.join({ timeout: 5000 }));
const granted = await new Process({ target: readHome, module: "${module.href}", permissions: { env: ["HOME"] } }).start();
console.log("granted:", await granted.join({ timeout: 5000 }));
`,
  );
  const { code, stdout, stderr } = await denoRun(["-A", script], {
    env: { HOME: "/home/for-the-test" },
  });
  assert.equal(code, 0, stderr);
  assert.match(stdout, /denied: 1\n/);
  assert.match(stdout, /\/home\/for-the-test\ngranted: 0\n/);
  assert.match(
    stderr,
    /NotCapable: Requires env access to "HOME" in the worker process, which runs with only the permissions it needs: grant it with the Process's permissions option, \{ permissions: \{ env: \["HOME"\] \} \}/,
  );
});

Deno.test("a worker cannot read, write, run, listen or read env and sys beyond its grant", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/secret.txt`;
  await Deno.writeTextFile(file, "top secret");
  await using manager = await new SyncManager({ modules: [] }).start();
  await using results = await manager.dict<string, string>();
  await using denied = await new Process({ target: tryWalls, args: [results, file], module })
    .start();
  assert.equal(await denied.join({ timeout: 10_000 }), 0, "the worker ran every attempt");
  const kinds: Record<string, string> = {
    "read /etc/hostname": 'read access to "/etc/hostname"',
    "read the test's file": `read access to "${file}"`,
    "write beside it": `write access to "${file}.written"`,
    "run a program": 'run access to "true"',
    "listen on a port": 'net access to "127.0.0.1:0"',
    "read an environment variable": 'env access to "PATH"',
    "read the hostname": 'sys access to "hostname"',
  };
  const seen = Object.fromEntries(await results.entries());
  assert.deepStrictEqual(Object.keys(seen).sort(), Object.keys(kinds).sort());
  for (const [what, access] of Object.entries(kinds)) {
    assert.ok(
      seen[what]!.startsWith(`NotCapable: Requires ${access}`),
      `${what}: ${seen[what]}`,
    );
  }
  await assert.rejects(Deno.stat(`${file}.written`), Deno.errors.NotFound, "nothing was written");
  // What the permissions option grants, it can do: the attempts above were real.
  await results.clear();
  await using granted = await new Process({
    target: tryWalls,
    args: [results, file],
    module,
    permissions: { read: [dir.path], env: ["PATH"] },
  }).start();
  assert.equal(await granted.join({ timeout: 10_000 }), 0);
  assert.equal(await results.get("read the test's file"), "allowed");
  assert.equal(await results.get("read an environment variable"), "allowed");
  assert.match((await results.get("read /etc/hostname"))!, /^NotCapable/);
});

Deno.test("a worker ends when its parent is SIGKILLed", async () => {
  await using dir = await tempDir();
  const script = `${dir.path}/parent.ts`;
  await Deno.writeTextFile(
    script,
    `import { Process, SyncManager } from "${MOD}";
import { hang } from "${module.href}";
const manager = await new SyncManager({ modules: [] }).start();
const queue = await manager.Queue();
const worker = await new Process({ target: hang, args: [queue], module: "${module.href}" }).start();
await queue.get();
console.log(worker.pid, manager.pid);
await new Promise(() => setInterval(() => {}, 1000));
`,
  );
  const parent = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--no-lock", "-A", script],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = parent.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const line = (await reader.read()).value ?? "";
  const [workerPid, serverPid] = line.trim().split(" ").map(Number);
  assert.ok(workerPid! > 0 && serverPid! > 0, line);
  parent.kill("SIGKILL");
  await parent.status;
  await reader.cancel();
  assert.ok(await waitUntil(() => processGone(workerPid!), 3000), "the worker ended");
  assert.ok(await waitUntil(() => processGone(serverPid!), 3000), "the server ended");
});

// Used only through their module URL above; imported so that a rename breaks the type check.
void [fail, hang, readHome, record, square, tryWalls];

Deno.test("Process.start() works as the first await of the main module", async () => {
  await using dir = await tempDir();
  const script = `${dir.path}/first_await.ts`;
  await Deno.writeTextFile(
    script,
    `import { Process } from "${new URL("../mod.ts", import.meta.url).href}";
export function work(n: number): void {
  console.log("worker got", n);
}
const renamed = (): void => {};
export { renamed as alias };
if (import.meta.main) {
  const child = await new Process({ target: work, args: [7] }).start();
  console.log("exit", await child.join({ timeout: 10_000 }));
  const other = await new Process({ target: renamed }).start();
  console.log("exit", await other.join({ timeout: 10_000 }));
}
`,
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-run", "--allow-read", "--allow-write", "--allow-net", script],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  assert.equal(stdout, "worker got 7\nexit 0\nexit 1\n");
  assert.match(
    stderr,
    /'renamed' of .* is not an exported function: export the function under its own name/,
  );
});
