/**
 * How a program ends, and what it leaves: a program that never calls
 * `shutdown()` exits when its own work is done, as Python's does, and its
 * server process goes with it, leaving nothing in the temp dir.
 */
import assert from "node:assert/strict";
import { processGone, tempDir, waitUntil } from "./_helpers.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;
/** The README's permission flags for a program that starts a manager. */
const README_FLAGS = ["--allow-run", "--allow-read", "--allow-write", "--allow-net"];

Deno.test("a program that never calls shutdown() exits by itself, and its server goes with it", async () => {
  await using dir = await tempDir();
  const script = `${dir.path}/no_shutdown.ts`;
  await Deno.writeTextFile(
    script,
    `import { Manager } from "${MOD}";
if (import.meta.main) {
  const manager = await Manager();
  const stock = await manager.dict();
  await stock.set("apples", 3);
  const queue = await manager.Queue();
  await queue.put("job");
  console.log(JSON.stringify({ pid: manager.pid, address: manager.address, apples: await stock.get("apples") }));
}
`,
  );
  // Killed if it has not exited within 20 s (the deadline of this test).
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...README_FLAGS, script],
    env: { NO_COLOR: "1", TMPDIR: dir.path },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(20_000),
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  assert.equal(output.signal, null, "the program exited by itself within 20 s");
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const { pid, address, apples } = JSON.parse(stdout) as {
    pid: number;
    address: string;
    apples: number;
  };
  assert.equal(apples, 3);
  assert.ok(address.startsWith(dir.path), address);
  assert.ok(
    await waitUntil(() => processGone(pid), 5000),
    "the server process ends with its owner",
  );
  const left = [];
  for await (const entry of Deno.readDir(dir.path)) {
    if (entry.name.startsWith("mp-")) left.push(entry.name);
  }
  assert.deepEqual(left, [], "the server removed its socket directory");
});
