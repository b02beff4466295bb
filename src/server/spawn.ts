/**
 * Starting and stopping a manager's server process. The parent writes one
 * config frame to the child's stdin (`config.ts`) and keeps stdin open: its
 * end of file tells the child that the parent is gone, even after SIGKILL.
 * The child answers with one marked line on stdout; anything else it
 * prints is passed through.
 *
 * @module
 */

import { writeAll } from "../_bytes.ts";
import type { Address } from "../wire/address.ts";
import { settlesWithin } from "../_async.ts";
import { reviveError } from "../wire/codec.ts";
import type { SocketIdentity } from "../wire/transport.ts";
import { encodeConfig, type ServerConfig, type ServerStatus, STATUS_MARKER } from "./config.ts";
import { projectFlags, type ProjectOptions } from "./project.ts";
import {
  permissionFlags,
  type RequiredPermissions,
  type ServerPermissions,
} from "./permissions.ts";

/** The server process entry module. */
export const SERVER_MAIN: string = new URL("../main/server_main.ts", import.meta.url).href;

/** How to launch a server process. */
export interface LaunchOptions {
  readonly config: ServerConfig;
  readonly permissions: ServerPermissions | undefined;
  /** The config file and flags to run it with (default: this process's). */
  readonly project: ProjectOptions;
  /** Milliseconds it has to become ready, imports and initializer included. */
  readonly startTimeout: number;
}

/** A running server process. */
export interface ServerProcess {
  /** The address it listens on (the real port for TCP). */
  readonly address: Address;
  /** Typeids it can create. */
  readonly typeids: readonly string[];
  /** The socket file it made (Unix), the only one its owner may remove. */
  readonly socket: SocketIdentity | null;
  /** Its process id. */
  readonly pid: number;
  /** Resolves when it has exited. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Ends it: stdin closed, then SIGTERM, then SIGKILL, `timeout` ms apart. */
  stop(timeout: number): Promise<void>;
}

/** Starts the server process and waits until it listens. */
export async function launchServer(
  { config, permissions, project, startTimeout }: LaunchOptions,
): Promise<ServerProcess> {
  refuseStandalone("a server process");
  const args = await denoRunArgs({
    entry: SERVER_MAIN,
    needs: {
      modules: config.modules,
      // Its own address, and those of the managers whose proxies it is given.
      addresses: [config.address, ...config.initargs.proxies.map((p) => p.address)],
      socketDir: config.socketDir,
    },
    project,
    permissions,
    v8: ["--expose-gc"],
  });
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const stdout = child.stdout.getReader();
  const stop = async (timeout: number): Promise<void> => {
    // Waited for now: the program must not end before the server has.
    child.ref();
    await stdin.close().catch(() => {});
    if (!(await settlesWithin(child.status, timeout))) {
      signal(child, "SIGTERM");
      if (!(await settlesWithin(child.status, timeout))) signal(child, "SIGKILL");
    }
    await child.status;
    await pump.catch(() => {});
  };
  let pump: Promise<void> = Promise.resolve();
  try {
    await stdin.write(encodeConfig(config));
    let phase = "starting";
    const reading = readStatus(stdout, (now) => phase = now);
    if (!(await settlesWithin(reading, startTimeout))) {
      await stop(1000);
      await reading.catch(() => {});
      throw new Deno.errors.TimedOut(
        `The server process did not become ready within ${startTimeout} ms (startTimeout): it was still ${phase}, and was stopped (pid ${child.pid}). A module whose top-level await never settles, or an initializer that never returns, does this`,
      );
    }
    const { status, rest } = await reading;
    pump = forward(rest, stdout);
    if (status === null) {
      const exit = await child.status;
      throw new Error(
        `The server process exited with code ${exit.code} before it was ready (its error output is above)`,
      );
    }
    if ("error" in status) throw reviveError(status.error);
    // A server idle in the background keeps no program alive, as in Python: when this process
    // ends, its stdin closes and the server ends too.
    child.unref();
    return {
      address: status.ready.address,
      typeids: status.ready.typeids,
      socket: status.ready.socket,
      pid: child.pid,
      status: child.status,
      stop,
    };
  } catch (error) {
    await stop(1000);
    throw error;
  }
}

/**
 * A program built with `deno compile` has no `deno` to start a server
 * process with: `Deno.execPath()` is the program itself.
 */
export function refuseStandalone(
  what: "a server process" | "a worker process",
  standalone: boolean = Deno.build.standalone,
): void {
  if (!standalone) return;
  const instead = what === "a server process"
    ? "run the manager's server with `deno run` (getServer().serveForever()) and connect() to it " +
      "from the compiled program, or call getServer() in this process"
    : "start the worker with `deno run` yourself and hand it proxies with proxyToString()";
  throw new Error(
    `start() cannot launch ${what} from a program built with \`deno compile\`, which has no deno ` +
      `to run it with: ${instead}`,
  );
}

/** What a child process started by this library must be able to reach. */
export interface ChildNeeds {
  /** Modules it imports. */
  readonly modules: readonly string[];
  /** Manager addresses it listens on or connects to. */
  readonly addresses: readonly Address[];
  /** A private socket directory it removes when it ends. */
  readonly socketDir: string | null;
}

/** How to run a child process of this library with `deno run`. */
export interface ChildLaunch {
  /** The entry module (the server's or the worker's). */
  readonly entry: string;
  readonly needs: ChildNeeds;
  /** The user's config and flags. */
  readonly project: ProjectOptions;
  /** Permissions granted beyond its needs. */
  readonly permissions: ServerPermissions | undefined;
  /** V8 flags of the library's own, merged with the user's. */
  readonly v8: readonly string[];
}

/**
 * The `deno run` arguments for a child: the user's resolution and runtime
 * flags, the V8 flags, exactly the permissions it needs plus those
 * granted, and the entry module.
 */
export async function denoRunArgs(launch: ChildLaunch): Promise<string[]> {
  const flags = projectFlags(launch.project);
  const needed = await requiredPermissions(launch.needs, flags.resolution);
  // The entry's own host, when the library itself was loaded from one.
  const entryHost = /^https?:/.test(launch.entry) ? [new URL(launch.entry).host] : [];
  const required = { ...needed, import: [...new Set([...needed.import ?? [], ...entryHost])] };
  const v8 = [...launch.v8, ...flags.v8];
  return [
    "run",
    "--quiet",
    ...flags.resolution,
    ...flags.runtime,
    ...(v8.length > 0 ? [`--v8-flags=${v8.join(",")}`] : []),
    ...permissionFlags(required, launch.permissions),
    launch.entry,
  ];
}

/** Read access to the modules' files, import access to their hosts, and the addresses. */
async function requiredPermissions(
  needs: ChildNeeds,
  resolution: readonly string[],
): Promise<RequiredPermissions> {
  const { files, hosts } = await moduleGraph(needs.modules, resolution);
  const read = [...files];
  const write: string[] = [];
  const net: string[] = [];
  if (needs.socketDir !== null) {
    // The whole private directory, so that the server can remove it.
    read.push(needs.socketDir);
    write.push(needs.socketDir);
  }
  for (const address of needs.addresses) {
    if (typeof address === "string") {
      read.push(address);
      write.push(address);
      net.push(`unix:${address}`);
    } else {
      net.push(`${address.hostname}:${address.port}`);
    }
  }
  return { read, write, net, import: hosts };
}

/**
 * The files and remote hosts the server process will load for `modules`,
 * from `deno info`. Modules already in the server's own graph need no grant,
 * but listing them does no harm.
 */
async function moduleGraph(
  modules: readonly string[],
  resolution: readonly string[],
): Promise<{ files: string[]; hosts: string[] }> {
  const files = new Set<string>();
  const hosts = new Set<string>();
  const add = (specifier: string): void => {
    if (specifier.startsWith("file:")) files.add(decodeURIComponent(new URL(specifier).pathname));
    else if (/^https?:/.test(specifier)) hosts.add(new URL(specifier).host);
  };
  modules.forEach(add);
  if (modules.length === 0) return { files: [...files], hosts: [...hosts] };
  // `deno info` takes one module at a time; ask about each in parallel.
  await Promise.all(modules.map(async (module) => {
    try {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["info", "--json", ...resolution, module],
        stdout: "piped",
        stderr: "null",
        stdin: "null",
      }).output();
      if (!output.success) return;
      const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as {
        modules?: { specifier?: unknown }[];
      };
      for (const entry of graph.modules ?? []) {
        if (typeof entry.specifier === "string") add(entry.specifier);
      }
    } catch {
      // Without a graph the server can still load the module itself.
    }
  }));
  return { files: [...files], hosts: [...hosts] };
}

/** Reads the child's status lines until it is ready or failed; phases go to `onPhase`. */
async function readStatus(
  stdout: ReadableStreamDefaultReader<Uint8Array>,
  onPhase: (phase: string) => void,
): Promise<{ status: Exclude<ServerStatus, { phase: string }> | null; rest: string }> {
  const decoder = new TextDecoder();
  let buffered = "";
  while (true) {
    const { value, done } = await stdout.read();
    if (done) {
      await writeOut(buffered);
      return { status: null, rest: "" };
    }
    buffered += decoder.decode(value, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.startsWith(STATUS_MARKER)) {
        const status = JSON.parse(line.slice(STATUS_MARKER.length)) as ServerStatus;
        if ("phase" in status) {
          onPhase(status.phase);
          continue;
        }
        return { status, rest: buffered };
      }
      await writeOut(`${line}\n`);
    }
  }
}

/** Passes the child's later output through to ours. */
async function forward(
  rest: string,
  stdout: ReadableStreamDefaultReader<Uint8Array>,
): Promise<void> {
  await writeOut(rest);
  while (true) {
    const { value, done } = await stdout.read();
    if (done) return;
    await writeAll(Deno.stdout, value);
  }
}

async function writeOut(text: string): Promise<void> {
  if (text.length > 0) await writeAll(Deno.stdout, new TextEncoder().encode(text));
}

function signal(child: Deno.ChildProcess, name: Deno.Signal): void {
  try {
    child.kill(name);
  } catch { /* already exited */ }
}
