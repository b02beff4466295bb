/**
 * `Manager()`, CPython's `multiprocessing.Manager()`: a started
 * SyncManager, ended by `await using`, by `shutdown()`, or by the end of
 * the process that started it.
 */
import assert from "node:assert/strict";
import { Manager, SyncManager } from "../mod.ts";
import { denoRun, processGone, tempDir, waitUntil } from "./_helpers.ts";

Deno.test("Manager() is a started SyncManager, shut down at the end of its block", async () => {
  let pid: number | undefined;
  let socket: string | undefined;
  {
    await using manager = await Manager({ modules: [] });
    assert.ok(manager instanceof SyncManager);
    assert.equal(manager.state, "started");
    pid = manager.pid;
    socket = manager.address as string;
    const queue = await manager.Queue<number>();
    await queue.put(7);
    assert.equal(await queue.get({ timeout: 1000 }), 7);
  }
  assert.ok(pid !== undefined && processGone(pid), "the server process ended with the block");
  assert.equal(await Deno.stat(socket).then(() => true, () => false), false, "its socket is gone");
});

Deno.test("Manager()'s server ends when the process that started it exits without shutdown()", async () => {
  await using dir = await tempDir();
  const script = `${dir.path}/main.ts`;
  await Deno.writeTextFile(
    script,
    `import { Manager } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};
if (import.meta.main) {
  const manager = await Manager({ modules: [] });
  console.log(JSON.stringify({ pid: manager.pid, address: manager.address }));
  Deno.exit(0); // no shutdown()
}
`,
  );
  const run = await denoRun(["--allow-all", script]);
  assert.equal(run.code, 0, run.stderr);
  const { pid, address } = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
  assert.ok(await waitUntil(() => processGone(pid), 5000), "the server process ended");
  assert.equal(await Deno.stat(address).then(() => true, () => false), false, "its socket is gone");
});
