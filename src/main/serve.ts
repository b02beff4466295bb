/**
 * A manager server for Python programs, with no TypeScript to write: the
 * standard types of CPython's `SyncManager` (`Queue`, `dict`, `list`,
 * `Lock`, `Event`, `Namespace`, `Value`, ...), objects shared under a name
 * as Python's docs share one queue with
 * `register("get_queue", callable=lambda: queue)`, and the `@shared`
 * classes of any modules given. Deno clients connect to it too.
 *
 * ```sh
 * MP_AUTHKEY=abracadabra deno run --allow-net=0.0.0.0:50000 --allow-env=MP_AUTHKEY \
 *   jsr:@multiprocess/managers/serve --address=:50000 --queue=get_queue
 * ```
 *
 * It serves in this process until SIGINT or SIGTERM, and asks for no
 * permission beyond its address, the authkey's variable or file, and the
 * modules it imports. Run it with `--help` for every option.
 *
 * @module
 */

import { checkAddress, formatAddress } from "../wire/address.ts";
import type { Address } from "../wire/address.ts";
import { BaseManager } from "../client/manager.ts";
import { SyncManager } from "../client/sync_manager.ts";
import { moduleUrl } from "../client/handoff.ts";
import { importUserModule } from "../server/user_module.ts";
import { Queue } from "../sync/queue.ts";
import { Dict, List, Namespace } from "../sync/containers.ts";
import { Event, Lock, RLock } from "../sync/primitives.ts";

const USAGE = `Usage: deno run --allow-net=<host:port> --allow-env=MP_AUTHKEY \\
  jsr:@multiprocess/managers/serve --address=<host:port | :port | /path/to.sock> [options]

The authkey is read from the environment variable MP_AUTHKEY (or the one
--authkey-env names), or from a file with --authkey-file; never from the
command line, where other users of the machine could read it.

Options:
  --address=HOST:PORT     TCP (":PORT" or "0.0.0.0:PORT": every interface, as Python's ("", PORT))
  --address=PATH          a Unix socket (a path with a "/"; allow it with
                          --allow-read=PATH --allow-write=PATH --allow-net=unix:PATH)
  --authkey-env=NAME      the variable holding the authkey (default MP_AUTHKEY)
  --authkey-file=PATH     a file holding the authkey (a final newline is dropped)
  --legacy-auth           also accept CPython 3.11's HMAC-MD5 handshake
  --module=PATH_OR_URL    import a module of @shared classes (repeatable; allow reading
                          it and what it imports with --allow-read, remote imports
                          with --allow-import)
  --queue=NAME            share one Queue under NAME (repeatable, as every option below)
  --joinable-queue=NAME   share one JoinableQueue under NAME
  --dict=NAME             share one dict under NAME
  --list=NAME             share one list under NAME
  --namespace=NAME        share one Namespace under NAME
  --lock=NAME             share one Lock under NAME
  --rlock=NAME            share one RLock under NAME
  --event=NAME            share one Event under NAME
  --help                  print this

Every client that calls NAME (Python: register('NAME') on its manager class,
then manager.NAME()) gets a proxy of the same object. For the whole Python
face of a namespace, lock, event, dict or list, register NAME with the proxy
type CPython uses for it: register('NAME', proxytype=NamespaceProxy) (or
AcquirerProxy, EventProxy, DictProxy, ListProxy, from multiprocessing.managers).
A namespace needs it: its attributes are its methods.`;

/** The objects `--<kind>=NAME` shares, by kind. */
const SHARED_KINDS: Readonly<Record<string, () => unknown>> = {
  "queue": () => new Queue(),
  "joinable-queue": () => new Queue(0, true),
  "dict": () => new Dict(),
  "list": () => new List(),
  "namespace": () => new Namespace(),
  "lock": () => new Lock(),
  "rlock": () => new RLock(),
  "event": () => new Event(),
};

/** What the command line asks for. */
interface ServeOptions {
  readonly address: Address;
  readonly authkey: Uint8Array;
  readonly legacyAuth: boolean;
  readonly modules: readonly string[];
  readonly shared: readonly { readonly name: string; readonly kind: string }[];
}

/** A command line that cannot be served: its message is for the user, with the usage after it. */
class UsageError extends Error {
  override name = "UsageError";
}

/** `--address` as Python writes it: `host:port`, `:port`, or a Unix socket path. */
function parseAddress(text: string): Address {
  if (text.includes("/")) return checkAddress(text, "--address");
  const tcp = text.match(/^\[?([^\[\]]*?)\]?:(\d{1,5})$/);
  if (tcp === null) {
    throw new UsageError(
      `--address=${text} is neither HOST:PORT, :PORT nor a socket path (a path with a "/", such as ./manager.sock)`,
    );
  }
  return checkAddress({ hostname: tcp[1]!, port: Number(tcp[2]) }, "--address");
}

function readAuthkey(env: string, file: string | undefined): Uint8Array {
  if (file !== undefined) {
    const bytes = Deno.readFileSync(file);
    const end = bytes.at(-1) === 0x0a ? bytes.length - 1 : bytes.length;
    if (end === 0) throw new UsageError(`The authkey file ${file} is empty`);
    return bytes.subarray(0, end);
  }
  const value = Deno.env.get(env);
  if (value === undefined || value === "") {
    throw new UsageError(
      `No authkey: set the environment variable ${env} (and allow it with --allow-env=${env}), or pass --authkey-file=PATH`,
    );
  }
  return new TextEncoder().encode(value);
}

/** Reads the command line; throws a UsageError saying what is wrong. */
function parseArgs(args: readonly string[]): ServeOptions {
  let address: Address | undefined;
  let authkeyEnv = "MP_AUTHKEY";
  let authkeyFile: string | undefined;
  let legacyAuth = false;
  const modules: string[] = [];
  const shared: { name: string; kind: string }[] = [];
  for (const arg of args) {
    const [, flag, value] = arg.match(/^--([a-z-]+)(?:=(.*))?$/s) ?? [];
    if (flag === undefined) throw new UsageError(`Unexpected argument ${JSON.stringify(arg)}`);
    if (flag === "legacy-auth" && value === undefined) {
      legacyAuth = true;
      continue;
    }
    if (value === undefined || value === "") {
      throw new UsageError(`--${flag} needs a value: --${flag}=...`);
    }
    if (flag === "address") {
      if (address !== undefined) throw new UsageError("--address is given twice");
      address = parseAddress(value);
    } else if (flag === "authkey-env") authkeyEnv = value;
    else if (flag === "authkey-file") authkeyFile = value;
    else if (flag === "module") modules.push(moduleUrl(value, "--module"));
    else if (flag in SHARED_KINDS) {
      if (shared.some((s) => s.name === value)) {
        throw new UsageError(`The name ${value} is shared twice`);
      }
      shared.push({ name: value, kind: flag });
    } else if (flag === "authkey") {
      throw new UsageError(
        "The authkey is not taken from the command line, where other users of this machine can read it: use MP_AUTHKEY or --authkey-file",
      );
    } else throw new UsageError(`Unknown option --${flag}`);
  }
  if (address === undefined) throw new UsageError("--address is required");
  return { address, authkey: readAuthkey(authkeyEnv, authkeyFile), legacyAuth, modules, shared };
}

async function serve(options: ServeOptions): Promise<void> {
  for (const module of options.modules) await importUserModule(module, "manager's server process");
  // A class of its own, so that the names registered here stay here.
  class ServeManager extends SyncManager {}
  // The modules' @shared() classes register on BaseManager, which SyncManager's table does not see.
  const own = ServeManager.registrations();
  for (const [typeid, r] of BaseManager.registrations()) {
    if (own.has(typeid) || r.callable === undefined) continue;
    ServeManager.register(typeid, (r.parameters ?? r.callable) as () => unknown, {
      ...(r.exposed === undefined ? {} : { exposed: r.exposed }),
      methodToTypeid: r.methodToTypeid,
      createMethod: false,
    });
  }
  for (const { name, kind } of options.shared) {
    const object = SHARED_KINDS[kind]!();
    ServeManager.register(name, () => object);
  }
  const server = new ServeManager({
    address: options.address,
    authkey: options.authkey,
    legacyAuth: options.legacyAuth,
  }).getServer();
  const stop = (): void => {
    server.shutdown();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const names = options.shared.map((s) => `${s.name} (${s.kind})`).join(", ");
  console.log(
    `serving on ${formatAddress(server.address)}${names === "" ? "" : `; shared: ${names}`}`,
  );
  await server.serveForever();
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
}

if (import.meta.main) {
  if (Deno.args.includes("--help")) {
    console.log(USAGE);
  } else {
    let options: ServeOptions | undefined;
    try {
      options = parseArgs(Deno.args);
    } catch (error) {
      if (!(error instanceof UsageError || error instanceof TypeError)) throw error;
      console.error(`${error.message}\n\n${USAGE}`);
      Deno.exit(2);
    }
    try {
      await serve(options);
    } catch (error) {
      // Cannot listen (address in use, a permission missing, ...): the message, not a stack.
      console.error(`serve could not start: ${error instanceof Error ? error.message : error}`);
      Deno.exit(1);
    }
  }
}
