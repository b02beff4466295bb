/**
 * Handing arguments to a process this library starts (a manager's server
 * process for `initargs`, a {@linkcode Process} for `args`). Data travels
 * as it is; a proxy cannot, so it becomes a transfer ticket that the new
 * process claims over its own connection to the proxy's manager (CPython's
 * TestInitializers passes another manager's Namespace this way). A
 * function is named by the module that exports it.
 *
 * @module
 */

import type { Address } from "../wire/address.ts";
import { explainDenial } from "../server/permissions.ts";
import { ControlMethod } from "../wire/protocol.ts";
import { BaseProxy, channelOf } from "./proxy.ts";
import { anyProxyType } from "./registry.ts";
import { Session } from "./session.ts";

/** An exported function the new process imports and calls. */
export interface ExportRef {
  readonly module: string;
  readonly name: string;
}

/** A proxy among the arguments, as a ticket the new process claims. */
export interface HandedProxy {
  readonly index: number;
  readonly address: Address;
  readonly authkey: Uint8Array;
  readonly ticket: string;
}

/** Arguments ready to travel: data in `values`, proxies (null there) in `proxies`. */
export interface HandedArgs {
  readonly values: unknown[];
  readonly proxies: HandedProxy[];
}

/** How long the server holds a handed proxy for the new process to claim it. */
const CLAIM_WITHIN = 60_000;

/** Turns the top-level proxies of `args` into tickets. */
export async function handArgs(args: readonly unknown[], what: string): Promise<HandedArgs> {
  if (!Array.isArray(args)) throw new TypeError(`${what} must be an array`);
  const values: unknown[] = [];
  const proxies: HandedProxy[] = [];
  for (const [index, arg] of args.entries()) {
    const channel = arg instanceof BaseProxy ? channelOf(arg) : undefined;
    if (arg instanceof BaseProxy && arg._released) {
      throw new TypeError(`${what}[${index}] is a released proxy`);
    }
    if (channel instanceof Session) {
      const ticket = await channel.share(arg._token.id, CLAIM_WITHIN);
      proxies.push({ index, address: channel.address, authkey: channel.authkey, ticket });
      values.push(null);
    } else {
      values.push(arg);
    }
  }
  return { values, proxies };
}

/** In the new process: the arguments with each ticket claimed as a proxy. */
export async function claimArgs({ values, proxies }: HandedArgs): Promise<unknown[]> {
  const args = [...values];
  for (const { index, address, authkey, ticket } of proxies) {
    const session = await Session.open({
      address,
      authkey,
      closeWhenIdle: true,
      proxyType: anyProxyType,
    });
    args[index] = await session.control(ControlMethod.claim, [ticket]);
  }
  return args;
}

/** The module and export name of `fn`, which one of `modules` must export. */
export async function findExport(
  fn: (...args: never[]) => unknown,
  modules: readonly string[],
  what: string,
): Promise<ExportRef> {
  for (const module of modules) {
    const namespace = await import(module) as Record<string, unknown>;
    for (const [name, value] of Object.entries(namespace)) {
      if (value === fn) return { module, name };
    }
  }
  throw new TypeError(
    `The ${what} ${fn.name || "(anonymous)"} must be exported from one of the modules ` +
      `the new process imports (${modules.join(", ")}), so that it can find it there`,
  );
}

/** A module given as a URL or a path (relative to the working directory) as a URL. */
export function moduleUrl(module: string | URL, what: string): string {
  if (module instanceof URL) return module.href;
  if (typeof module !== "string") throw new TypeError(`${what} must be module URLs or paths`);
  if (/^[a-z][a-z0-9+.-]*:/i.test(module)) return new URL(module).href;
  return new URL(module, `file://${Deno.cwd()}/`).href;
}

/** Which kind of process this library started this one as, while it imports a user module. */
export type ChildRole = "manager's server process" | "worker process";

let importing: { readonly module: string; readonly role: ChildRole } | undefined;

/**
 * `start()` reached in a process this library started, while it imports
 * the user's module: the module starts its manager at the top level, with
 * no `if (import.meta.main)` guard, so every such process would start
 * another.
 */
export function refuseWhileImporting(): void {
  if (importing === undefined) return;
  throw new Error(
    `start() was called while the ${importing.role} was importing ${importing.module}: ` +
      "start the manager inside `if (import.meta.main) { ... }` so that it runs only in your program, " +
      "not when a process started by the library imports the module to find your @shared classes and functions",
  );
}

// deno-lint-ignore no-control-regex
const ANSI_COLOR = /\x1b\[[0-9;]*m/g;

/** In the new process: imports a user module, with an error that says which and why. */
export async function importUserModule(
  url: string,
  role: ChildRole,
): Promise<Record<string, unknown>> {
  importing = { module: url, role };
  try {
    return await import(url);
  } catch (error) {
    // Deno colours import errors; the message goes into an exception.
    const explained = explainDenial(error);
    const reason = (explained instanceof Error ? explained.message : String(explained))
      .replace(ANSI_COLOR, "");
    throw new Error(`The ${role} cannot import ${url}: ${reason}`, { cause: error });
  } finally {
    importing = undefined;
  }
}

/** In the new process: the function `ref` names. */
export async function importExport(
  ref: ExportRef,
  role: ChildRole,
): Promise<(...args: unknown[]) => unknown> {
  const fn = (await importUserModule(ref.module, role))[ref.name];
  if (typeof fn !== "function") {
    throw new TypeError(`'${ref.name}' of ${ref.module} is not a function`);
  }
  return fn as (...args: unknown[]) => unknown;
}
