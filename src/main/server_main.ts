/**
 * Entry of a manager's server process: read the config from stdin, import
 * the user's modules (their registrations run as they load), build a
 * {@linkcode Server}, report the address, and serve until asked to stop or
 * until stdin closes (the parent is gone).
 *
 * @module
 */

// Only the server half is loaded here: a SyncManager with no modules of
// the user's starts without the client, the proxies or the manager class
// (`bench/HISTORY.md`, run 6, measures what that saves). A user's module that
// imports the library loads the rest, with the read and import access
// `deno info` found for it. `mod.ts` imports this file, so that `deno
// cache` of a user's program fetches it too.
import { writeAll } from "../_bytes.ts";
import { formatAddress } from "../wire/address.ts";
import { claimArgs } from "../client/handoff.ts";
import { importExport, importUserModule } from "../server/user_module.ts";
import { explainDenial, markSandboxed } from "../server/permissions.ts";
import { allRegistrations, findManagerClass, type Registration } from "../objects/registry.ts";
import { standardRegistrations } from "../sync/standard_types.ts";
import { boundSocket, Server } from "../server/server.ts";
import {
  readServerConfig,
  type ServerConfig,
  type ServerStatus,
  STATUS_MARKER,
} from "../server/config.ts";
import { removeStaleSocket } from "../wire/transport.ts";
import { watchParent } from "../server/parent.ts";
import { catchStrayErrors } from "../server/stray.ts";

const ROLE = "manager's server process";

async function report(status: ServerStatus): Promise<void> {
  await writeAll(
    Deno.stdout,
    new TextEncoder().encode(`${STATUS_MARKER}${JSON.stringify(status)}\n`),
  );
}

/** What the manager class named in the config registered. */
function registrationsOf(config: ServerConfig): Map<string, Registration> {
  const owner = findManagerClass(config.manager);
  if (typeof owner !== "string") return allRegistrations(owner);
  // No module loaded the library's own classes: SyncManager's standard
  // types (without their proxies), and nothing registered on BaseManager.
  if (config.manager === "SyncManager") return standardRegistrations();
  if (config.manager === "BaseManager") return new Map();
  throw new Error(
    `${owner}: define and register it at the top level of a module the server imports (modules: ${
      config.modules.join(", ")
    })`,
  );
}

async function serve(): Promise<void> {
  markSandboxed(ROLE, "manager's permissions option");
  catchStrayErrors("The manager's server process");
  // Ctrl-C in a terminal reaches the whole process group; the owner decides.
  Deno.addSignalListener("SIGINT", () => {});
  let server: Server;
  let config: ServerConfig | undefined;
  try {
    config = await readServerConfig(Deno.stdin);
    for (const url of config.modules) {
      await report({ phase: `importing ${url}` });
      await importUserModule(url, ROLE);
    }
    const registry = registrationsOf(config);
    if (config.initializer !== null) {
      const { module, name } = config.initializer;
      await report({ phase: `claiming the proxies among the initargs` });
      const initargs = await claimArgs(config.initargs);
      await report({ phase: `running the initializer ${name} of ${module}` });
      const initializer = await importExport(config.initializer, ROLE);
      await initializer(...initargs);
    }
    await report({ phase: `listening on ${formatAddress(config.address)}` });
    if (typeof config.address === "string") await removeStaleSocket(config.address);
    server = new Server({
      registry,
      address: config.address,
      authkey: config.authkey,
      handshakeTimeout: config.handshakeTimeout,
      legacyAuth: config.legacyAuth,
      pickleGlobals: config.pickleGlobals,
      ...(config.limits ? { limits: config.limits } : {}),
      ...(config.tls ? { tls: config.tls } : {}),
    });
    const typeids = [...registry.values()].filter((r) => r.callable !== undefined)
      .map((r) => r.typeid);
    await report({ ready: { address: server.address, typeids, socket: boundSocket(server) } });
  } catch (thrown) {
    const error = explainDenial(thrown);
    const { name, message, stack } = error instanceof Error
      ? error
      : { name: "Error", message: String(error), stack: undefined };
    await report({ error: { name, message, ...(stack ? { stack } : {}) } });
    await removeSocketDir(config);
    Deno.exit(1);
  }
  Deno.addSignalListener("SIGTERM", () => server.shutdown());
  watchParent().then(() => server.shutdown());
  await server.serveForever();
  await removeSocketDir(config);
  Deno.exit(0);
}

/**
 * The private socket directory goes with the server, however its owner
 * ended (Ctrl-C, SIGTERM, `Deno.exit`, SIGKILL): each of those closes stdin.
 */
async function removeSocketDir(config: ServerConfig | undefined): Promise<void> {
  if (config?.socketDir) await Deno.remove(config.socketDir, { recursive: true }).catch(() => {});
}

if (import.meta.main) serve();
