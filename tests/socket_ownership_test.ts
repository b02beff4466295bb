/**
 * Never remove what is not yours: a manager removes only the socket file
 * its own server bound (same device and inode). A refused or failed
 * `start()` on the path of a live manager leaves that manager reachable.
 */
import assert from "node:assert/strict";
import { BaseManager } from "../mod.ts";
import { Counter, TestManager } from "./_fixtures/counter.ts";
import { COUNTER_MODULE, tempDir } from "./_helpers.ts";

const modules = [COUNTER_MODULE];

async function reachable(address: string): Promise<number> {
  await using client = await new TestManager({ address, modules }).connect();
  await using counter = await client.create(Counter, 41);
  return await counter.increment();
}

Deno.test("a second start() on a live manager's socket is refused and leaves it reachable", async () => {
  await using dir = await tempDir();
  const address = `${dir.path}/live.sock`;
  await using live = await new TestManager({ address, modules }).start();
  const before = await Deno.lstat(address);
  await assert.rejects(
    new TestManager({ address, modules }).start(),
    /Cannot listen on .*live\.sock.*address already in use/,
  );
  const after = await Deno.lstat(address);
  assert.equal(after.ino, before.ino, "the live socket file is the same file");
  assert.equal(await reachable(address), 42, "a new client still reaches the live manager");
  assert.equal(live.state, "started");
});

Deno.test("a start() whose initializer throws leaves a live manager's socket alone", async () => {
  await using dir = await tempDir();
  const address = `${dir.path}/live.sock`;
  await using _live = await new TestManager({ address, modules }).start();
  const { initializeCounter } = await import("./_fixtures/counter.ts");
  // The second server fails before it listens: its initializer throws.
  await assert.rejects(
    new TestManager({ address, modules }).start(initializeCounter, [-1]),
    /initial value must not be negative/,
  );
  assert.equal(await reachable(address), 42);
});

Deno.test("a server that shuts down does not unlink a socket that replaced its own", async () => {
  await using dir = await tempDir();
  const address = `${dir.path}/shared.sock`;
  const first = new BaseManager({ address });
  const server = first.getServer();
  // Someone removes the first server's file and a second server binds the path.
  await Deno.remove(address);
  await using second = await new TestManager({ address, modules }).start();
  const theirs = (await Deno.lstat(address)).ino;
  await server.shutdown();
  assert.equal(
    (await Deno.lstat(address)).ino,
    theirs,
    "the second server's socket is still there",
  );
  assert.equal(await reachable(address), 42);
  assert.equal(second.state, "started");
});
