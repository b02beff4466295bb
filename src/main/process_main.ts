/**
 * Entry of a {@linkcode Process} worker: read the config from stdin,
 * import the target's module, claim the proxies among the arguments, call
 * the target, and exit: 0 when it returns, 1 when it throws. It also ends
 * when stdin closes (the parent is gone or stopped it).
 *
 * @module
 */

// The standard proxy classes are known before any argument is claimed. The
// target's module brings the rest of the library (mod.ts) with it; the
// worker may read that module's whole graph.
import "../sync/proxies.ts";
import { claimArgs } from "../client/handoff.ts";
import { importExport } from "../server/user_module.ts";
import { explainDenial, markSandboxed } from "../server/permissions.ts";
import { readConfig, type WorkerConfig } from "../server/config.ts";
import { watchParent } from "../server/parent.ts";

const ROLE = "worker process";

async function work(): Promise<void> {
  markSandboxed(ROLE, "Process's permissions option");
  let config: WorkerConfig;
  try {
    config = await readConfig(Deno.stdin) as WorkerConfig;
  } catch (error) {
    console.error(`The worker process did not receive its config: ${String(error)}`);
    Deno.exit(1);
  }
  watchParent().then(() => Deno.exit(1));
  try {
    const target = await importExport(config.target, ROLE);
    await target(...await claimArgs(config.args));
  } catch (error) {
    console.error(explainDenial(error));
    Deno.exit(1);
  }
  Deno.exit(0);
}

if (import.meta.main) work();
