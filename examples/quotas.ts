/**
 * Per-connection quotas: a client over its limit of objects gets an error
 * that names the limit and goes on working, and `debugInfo()` shows what
 * each connection holds.
 *
 *     deno run --allow-run --allow-read --allow-write --allow-net examples/quotas.ts
 */
import { SyncManager } from "../mod.ts";

if (import.meta.main) {
  await using manager = await new SyncManager({
    modules: [],
    limits: { maxObjectsPerConnection: 3, maxPendingCallsPerConnection: 100 },
  }).start();
  const values = [];
  for (let i = 0; i < 3; i++) values.push(await manager.Value(i));
  try {
    await manager.Value(3);
  } catch (error) {
    console.log(`refused: ${(error as Error).message}`);
  }
  await values[0]![Symbol.asyncDispose]();
  const again = await manager.Value(9);
  console.log(`after a release: ${await again.get()}`);
  console.log(
    (await manager.debugInfo()).split("\n").filter((l) => l.includes("connection ")).join("\n"),
  );
}
