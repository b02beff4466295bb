/**
 * CPython versions for the interop tests. A version that is not installed
 * (pyenv's `PYENV_VERSION=<v> python3`) makes its tests skip, with one line
 * saying what is missing; they never fail for it.
 */

import { firstLine, within } from "./_helpers.ts";

const found = new Map<string, Promise<boolean>>();

/** True when `PYENV_VERSION=<version> python3` runs exactly that version. */
export function hasPython(version: string): Promise<boolean> {
  let check = found.get(version);
  if (check === undefined) {
    check = new Deno.Command("python3", {
      args: ["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
      env: { PYENV_VERSION: version },
      stdout: "piped",
      stderr: "null",
      stdin: "null",
    }).output().then(
      (output) => output.success && new TextDecoder().decode(output.stdout).trim() === version,
      () => false,
    );
    found.set(version, check);
  }
  return check;
}

/** Registers a test that needs these CPython versions, skipped when one is missing. */
export async function pythonTest(
  versions: readonly string[],
  name: string,
  fn: () => Promise<void>,
): Promise<void> {
  const missing: string[] = [];
  for (const version of versions) if (!(await hasPython(version))) missing.push(version);
  if (missing.length > 0) {
    console.log(
      `skipping "${name}": CPython ${missing.join(", ")} not found (PYENV_VERSION=${
        missing[0]
      } python3 did not run it)`,
    );
  }
  Deno.test({ name, ignore: missing.length > 0, fn });
}

/**
 * Runs `code` with `python3 -c` in CPython `version`, `stdin` as its input;
 * returns its stdout, or rejects with its stderr. Killed after 30 s.
 */
export async function runPython(
  version: string,
  code: string,
  stdin: Uint8Array | string = "",
): Promise<Uint8Array> {
  const child = new Deno.Command("python3", {
    args: ["-c", code],
    env: { PYENV_VERSION: version },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const deadline = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    const writer = child.stdin.getWriter();
    await writer.write(typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin);
    await writer.close();
    const output = await child.output();
    if (!output.success) {
      throw new Error(
        `python3 failed (${output.code}): ${new TextDecoder().decode(output.stderr)}`,
      );
    }
    return output.stdout;
  } finally {
    clearTimeout(deadline);
  }
}

const SERVER = new URL("./_fixtures/python_server.py", import.meta.url).pathname;

/** A CPython manager server, as `tests/_fixtures/python_server.py` starts one. */
export interface CpythonServer extends AsyncDisposable {
  /** Its address: a socket path, or a TCP address. */
  readonly address: string | { hostname: string; port: number };
}

/**
 * A CPython `version` server on `transport` with `authkey` (`kind` "docs":
 * the Python docs' QueueManager; "sync": a SyncManager); stopped, and its
 * socket removed, on dispose.
 */
export async function cpythonServer(
  version: string,
  transport: "unix" | "tcp",
  authkey: string,
  serializer = "pickle",
  kind: "docs" | "sync" = "docs",
): Promise<CpythonServer> {
  const child = new Deno.Command("python3", {
    args: [SERVER, transport, authkey, serializer, kind],
    env: { PYENV_VERSION: version },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const { line, rest: lines } = await firstLine(child.stdout, "the CPython server's address");
  return {
    address: JSON.parse(line),
    async [Symbol.asyncDispose](): Promise<void> {
      await child.stdin.close().catch(() => {});
      await within(child.status, 10_000, "the CPython server's exit");
      await lines.cancel();
    },
  };
}
