/**
 * Handing arguments to a process this library starts (a manager's server
 * process for `initargs`, a {@linkcode Process} for `args`). Data travels
 * as it is; a proxy cannot, so it becomes a transfer ticket that the new
 * process claims over its own connection to the proxy's manager (CPython's
 * TestInitializers passes another manager's Namespace this way). A
 * function is named by the module that exports it. What travels is
 * typed in `../server/config.ts`; the new process imports the module with
 * `../server/user_module.ts`.
 *
 * @module
 */

import type { ExportRef, HandedArgs, HandedProxy } from "../server/config.ts";
import { ControlMethod } from "../wire/protocol.ts";
import { BaseProxy, channelOf } from "../objects/proxy.ts";
import { anyProxyType } from "../objects/registry.ts";
import { Session } from "./session.ts";

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
    const namespace = await importUnlessEvaluating(module);
    if (namespace === undefined) {
      // The main module, still at its top level (start() is its first await): importing it
      // would wait for itself. The new process looks the function up by its own name.
      if (fn.name === "") break;
      return { module, name: fn.name };
    }
    for (const [name, value] of Object.entries(namespace)) {
      if (value === fn) return { module, name };
    }
  }
  throw new TypeError(
    `The ${what} ${fn.name || "(anonymous)"} must be exported from one of the modules ` +
      `the new process imports (${modules.join(", ")}), so that it can find it there`,
  );
}

/**
 * `module`'s namespace; undefined for the main module while it is still
 * evaluating, whose `import()` would settle only after the caller's own
 * top-level `await` (never). Once evaluated, it is in the module map and
 * settles at once.
 */
async function importUnlessEvaluating(
  module: string,
): Promise<Record<string, unknown> | undefined> {
  const imported = import(module) as Promise<Record<string, unknown>>;
  if (module !== Deno.mainModule) return await imported;
  imported.catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const evaluating = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), 20);
  });
  try {
    return await Promise.race([imported, evaluating]);
  } finally {
    clearTimeout(timer);
  }
}

/** A module given as a URL or a path (relative to the working directory) as a URL. */
export function moduleUrl(module: string | URL, what: string): string {
  if (module instanceof URL) return module.href;
  if (typeof module !== "string") throw new TypeError(`${what} must be module URLs or paths`);
  if (/^[a-z][a-z0-9+.-]*:/i.test(module)) return new URL(module).href;
  return new URL(module, `file://${Deno.cwd()}/`).href;
}
