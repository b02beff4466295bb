/**
 * In a process this library started (a manager's server process, a
 * worker): importing the user's module, with errors that say which module,
 * in which process, and why, and the guard against a module that starts
 * its manager at the top level.
 *
 * @module
 */

import { explainDenial } from "./permissions.ts";
import type { ExportRef } from "./config.ts";

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
    throw new TypeError(
      `'${ref.name}' of ${ref.module} is not an exported function: export the function under its own name (a process started while the main module is still at its top level finds it by name)`,
    );
  }
  return fn as (...args: unknown[]) => unknown;
}
