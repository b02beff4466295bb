/**
 * The server process loads only the server half: its entry's static graph
 * has no manager class, no proxy classes and no `mod.ts`, so a SyncManager
 * with no modules of the user's starts without them. What that saves is
 * measured in `bench/HISTORY.md` (run 6); here, that it stays so and still serves
 * every standard type as SyncManager registers it.
 */
import assert from "node:assert/strict";
import { SyncManager } from "../mod.ts";
import { allRegistrations, type Registration } from "../src/objects/registry.ts";
import { standardRegistrations } from "../src/sync/standard_types.ts";

const SERVER_MAIN = new URL("../src/main/server_main.ts", import.meta.url).href;
const CLIENT_HALF = [
  "mod.ts",
  "src/client/manager.ts",
  "src/client/process.ts",
  "src/client/transfer.ts",
  "src/sync/proxies.ts",
  "src/client/sync_manager.ts",
];

Deno.test("the server entry's module graph holds no client half", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", SERVER_MAIN],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    modules: { specifier: string }[];
  };
  const root = new URL("../", import.meta.url).href;
  const loaded = graph.modules.map((m) => m.specifier.replace(root, ""));
  assert.ok(loaded.includes("src/server/server.ts"), "the graph was read");
  for (const file of CLIENT_HALF) {
    assert.ok(!loaded.includes(file), `${file} is in the server entry's static graph`);
  }
});

Deno.test("a SyncManager with no modules serves every standard type", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  const queue = await manager.Queue<number>();
  await queue.put(1);
  assert.equal(await queue.get({ timeout: 2000 }), 1);
  await using lock = await manager.Lock();
  await using _held = await lock.hold({ timeout: 2000 });
  assert.equal(await lock.locked(), true);
  const dict = await manager.dict<string, number>([["a", 1]]);
  // A method returning a shared object (methodToTypeid) still does.
  const seen: unknown[] = [];
  for await (const entry of await dict.iterate()) seen.push(entry);
  assert.deepEqual(seen, [["a", 1]]);
  const list = await manager.list([3, 1, 2]);
  await list.sort();
  assert.deepEqual(await list.copy(), [1, 2, 3]);
  await using barrier = await manager.Barrier(1);
  assert.equal(await barrier.wait({ timeout: 2000 }), 0);
  const ns = await manager.Namespace({ x: 1 });
  assert.equal(await ns.repr(), "Namespace(x=1)");
  await Promise.all([queue, dict, list, ns].map((p) => p[Symbol.asyncDispose]()));
});

Deno.test("the server's table of standard types is what SyncManager registers", () => {
  const shape = (registry: Map<string, Registration>) =>
    [...registry].map(([typeid, r]) => ({
      typeid,
      exposed: r.exposed,
      methodToTypeid: r.methodToTypeid,
    }));
  const table = standardRegistrations();
  const registered = allRegistrations(SyncManager);
  assert.deepEqual(shape(table), shape(registered));
  for (const [typeid, registration] of table) {
    assert.equal(
      registration.callable === undefined,
      registered.get(typeid)!.callable === undefined,
    );
  }
});
