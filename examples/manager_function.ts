/**
 * `Manager()`, CPython's `multiprocessing.Manager()`: a started SyncManager
 * in one call, shut down at the end of its `await using` block.
 *
 *     deno run --allow-run --allow-read --allow-write --allow-net examples/manager_function.ts
 */
import { Manager } from "../mod.ts";

if (import.meta.main) {
  await using manager = await Manager();
  const inventory = await manager.dict<string, number>({ apples: 3 });
  const log = await manager.list<string>();
  await inventory.set("pears", 2);
  await log.append("pears added");
  console.log(await inventory.entries(), await log.copy());
}
