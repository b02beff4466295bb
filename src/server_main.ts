/**
 * Entry of a manager's server process: read the config from stdin, import
 * the user's modules (their registrations run as they load), build a
 * {@linkcode Server}, report the address, and serve until asked to stop or
 * until stdin closes (the parent is gone).
 *
 * @module
 */

// Importing the whole library keeps it in this process's static module
// graph, so loading it needs no read or import permission, and makes
// BaseManager and SyncManager known by name. `mod.ts` imports this file in
// turn, so that `deno cache` of a user's program fetches it too.
import "../mod.ts";
import { explainDenial, markSandboxed } from "./permissions.ts";
import { ControlMethod } from "./protocol.ts";
import { allRegistrations, findManagerClass } from "./registry.ts";
import { Session } from "./session.ts";
import { Server } from "./server.ts";
import {
  markImporting,
  readConfig,
  type ServerConfig,
  type ServerStatus,
  STATUS_MARKER,
} from "./spawn.ts";
import { removeStaleSocket } from "./transport.ts";

async function report(status: ServerStatus): Promise<void> {
  const bytes = new TextEncoder().encode(`${STATUS_MARKER}${JSON.stringify(status)}\n`);
  let offset = 0;
  while (offset < bytes.length) offset += await Deno.stdout.write(bytes.subarray(offset));
}

// deno-lint-ignore no-control-regex
const ANSI_COLOR = /\x1b\[[0-9;]*m/g;

async function importModule(url: string): Promise<Record<string, unknown>> {
  markImporting(url);
  try {
    return await import(url);
  } catch (error) {
    // Deno colours import errors; the message goes into an exception.
    const explained = explainDenial(error);
    const reason = (explained instanceof Error ? explained.message : String(explained))
      .replace(ANSI_COLOR, "");
    throw new Error(`The server process cannot import ${url}: ${reason}`, { cause: error });
  } finally {
    markImporting(undefined);
  }
}

async function serve(): Promise<void> {
  markSandboxed();
  // Ctrl-C in a terminal reaches the whole process group; the owner decides.
  Deno.addSignalListener("SIGINT", () => {});
  let server: Server;
  let config: ServerConfig | undefined;
  try {
    config = await readConfig(Deno.stdin);
    for (const url of config.modules) await importModule(url);
    const owner = findManagerClass(config.manager);
    if (typeof owner === "string") {
      throw new Error(
        `${owner}: define and register it at the top level of a module the server imports (modules: ${
          config.modules.join(", ")
        })`,
      );
    }
    if (config.initializer !== null) {
      const { module, name } = config.initializer;
      const initializer = (await importModule(module))[name];
      if (typeof initializer !== "function") {
        throw new TypeError(`Initializer '${name}' of ${module} is not a function`);
      }
      const initargs = [...config.initargs];
      for (const { index, address, authkey, ticket } of config.initargProxies ?? []) {
        const session = await Session.open({ address, authkey, closeWhenIdle: true });
        initargs[index] = await session.control(ControlMethod.claim, [ticket]);
      }
      await initializer(...initargs);
    }
    if (typeof config.address === "string") await removeStaleSocket(config.address);
    const registry = allRegistrations(owner);
    server = new Server({
      registry,
      address: config.address,
      authkey: config.authkey,
      handshakeTimeout: config.handshakeTimeout,
      ...(config.limits ? { limits: config.limits } : {}),
      ...(config.tls ? { tls: config.tls } : {}),
    });
    const typeids = [...registry.values()].filter((r) => r.callable !== undefined)
      .map((r) => r.typeid);
    await report({ ready: { address: server.address, typeids } });
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

/** Resolves when stdin reaches end of file: the parent closed it or died. */
async function watchParent(): Promise<void> {
  const buffer = new Uint8Array(64);
  try {
    while ((await Deno.stdin.read(buffer)) !== null) { /* nothing else is sent */ }
  } catch { /* a broken pipe means the same */ }
}

if (import.meta.main) serve();
