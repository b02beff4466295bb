/**
 * CPython versions for the interop tests. A version that is not installed
 * (pyenv's `PYENV_VERSION=<v> python3`) makes its tests skip, with one line
 * saying what is missing; they never fail for it.
 */

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
