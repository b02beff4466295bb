/**
 * The user's project, as the server process must see it: the same config
 * file (import map, lockfile, `nodeModulesDir`, compiler options) and the
 * same resolution flags as the `deno` command that started this process.
 * Without them a server process started from a user's project could not
 * resolve the user's bare specifiers (`"@multiprocess/managers"` from their
 * import map), nor keep their lockfile frozen, nor start offline.
 *
 * Where they come from, first match wins: the manager's `config` and
 * `denoFlags` options; this process's own command line (Linux
 * `/proc/self/cmdline`, read only when read access to it is granted); and
 * Deno's own discovery, upward from the main module's directory.
 *
 * @module
 */

/** What decides how the server process resolves modules. */
export interface ProjectOptions {
  /** A config file path or URL, or `false` for none; default: the one this process uses. */
  readonly config?: string | URL | false;
  /** Further `deno run` flags for the server process. */
  readonly denoFlags?: readonly string[];
}

/** The flags for `deno run` (the server) and `deno info` (its module graph). */
export interface ProjectFlags {
  /** Flags that decide resolution: config, import map, lockfile, node_modules, caching. */
  readonly resolution: readonly string[];
  /** Flags only `deno run` takes: `--unstable-*` and the V8 flags. */
  readonly runtime: readonly string[];
  /** The V8 flags, one per entry (merged into one `--v8-flags=` by the caller). */
  readonly v8: readonly string[];
}

/**
 * Flags copied from this process's command line that `deno run` and
 * `deno info` both take; each takes its value after `=`.
 */
const RESOLUTION = [
  "--lock",
  "--no-lock",
  "--frozen",
  "--frozen-lockfile",
  "--node-modules-dir",
  "--vendor",
  "--no-remote",
  "--no-npm",
] as const;
/** Resolution flags that may take their value as the next argument. */
const WITH_VALUE = ["--import-map", "--cert", "--node-modules-linker"] as const;
/** Flags copied from this process's command line that only `deno run` takes. */
const RUN_ONLY = ["--cached-only"] as const;
/** Flags no `denoFlags` entry may carry: permissions belong in `permissions`. */
const PERMISSION_FLAG = /^(-A|--allow-|--deny-|--ignore-env|--permission-set|-P\b|--no-prompt)/;

/** Checks the `config` and `denoFlags` options. */
export function checkProjectOptions(options: ProjectOptions): void {
  const { config, denoFlags } = options;
  if (
    config !== undefined && config !== false && !(config instanceof URL) &&
    (typeof config !== "string" || config.length === 0)
  ) {
    throw new TypeError(
      'The config option must be a path or URL of a deno.json file, or false for none, such as { config: "./deno.json" }',
    );
  }
  if (denoFlags === undefined) return;
  if (!Array.isArray(denoFlags)) {
    throw new TypeError('The denoFlags option must be an array such as ["--unstable-kv"]');
  }
  for (const flag of denoFlags) {
    if (typeof flag !== "string" || !flag.startsWith("-")) {
      throw new TypeError(
        `denoFlags lists ${
          JSON.stringify(flag)
        }: each entry must be one flag such as "--unstable-kv" or "--lock=deno.lock"`,
      );
    }
    if (PERMISSION_FLAG.test(flag)) {
      throw new TypeError(
        `denoFlags lists ${
          JSON.stringify(flag)
        }: grant the server process permissions with the manager's permissions option, such as { permissions: { env: ["HOME"] } }`,
      );
    }
  }
}

/** The flags that make the server process resolve modules as this process does. */
export function projectFlags(options: ProjectOptions): ProjectFlags {
  const resolution: string[] = [];
  const runtime: string[] = [];
  const v8: string[] = [];
  const parent = parentFlags();
  const config = options.config !== undefined
    ? options.config
    : parent?.config !== undefined
    ? parent.config
    : discoverConfig();
  if (config === false) resolution.push("--no-config");
  else if (config !== undefined) resolution.push(`--config=${toPath(config)}`);
  for (let flag of [...(parent?.flags ?? []), ...(options.denoFlags ?? [])]) {
    // `deno info` knows only the long name.
    if (flag === "--frozen" || flag.startsWith("--frozen=")) {
      flag = flag.replace("--frozen", "--frozen-lockfile");
    }
    if (flag.startsWith("--v8-flags=")) v8.push(...flag.slice(11).split(",").filter(Boolean));
    else if (flag.startsWith("--unstable")) runtime.push(flag);
    else if (isResolutionFlag(flag)) resolution.push(flag);
    else runtime.push(flag);
  }
  return { resolution, runtime, v8 };
}

function isResolutionFlag(flag: string): boolean {
  const name = flag.split("=", 1)[0]!;
  return (RESOLUTION as readonly string[]).includes(name) ||
    (WITH_VALUE as readonly string[]).includes(name) || name === "--config" ||
    name === "--no-config";
}

function toPath(config: string | URL): string {
  if (config instanceof URL) return config.protocol === "file:" ? fromFileUrl(config) : config.href;
  if (/^file:/i.test(config)) return fromFileUrl(new URL(config));
  if (/^[a-z][a-z0-9+.-]*:/i.test(config)) return config;
  return absolute(config);
}

function fromFileUrl(url: URL): string {
  return decodeURIComponent(url.pathname);
}

function absolute(path: string): string {
  if (path.startsWith("/")) return path;
  return `${Deno.cwd()}/${path}`;
}

interface ParentFlags {
  readonly config: string | false | undefined;
  readonly flags: readonly string[];
}

/**
 * The resolution flags of the `deno` command that started this process, or
 * undefined when its command line cannot be read.
 */
function parentFlags(): ParentFlags | undefined {
  const words = commandLine();
  if (words === undefined) return undefined;
  // Leave out the executable and the script's own arguments.
  const own = words.slice(1, words.length - Deno.args.length);
  let config: string | false | undefined;
  const flags: string[] = [];
  for (let i = 0; i < own.length; i++) {
    const word = own[i]!;
    if (word === "--") break;
    const [name, value] = splitFlag(word);
    if (name === "--config" || name === "-c") {
      const path = value ?? own[++i];
      if (path !== undefined) config = absolute(path);
    } else if (word.startsWith("-c") && !word.startsWith("--") && word.length > 2) {
      config = absolute(word.slice(2));
    } else if (name === "--no-config") {
      config = false;
    } else if ((WITH_VALUE as readonly string[]).includes(name)) {
      const path = value ?? own[++i];
      if (path !== undefined) {
        flags.push(`${name}=${/^[a-z]+:/i.test(path) ? path : absolute(path)}`);
      }
    } else if (name === "--lock" && value !== undefined) {
      flags.push(`--lock=${absolute(value)}`);
    } else if (
      (RESOLUTION as readonly string[]).includes(name) ||
      (RUN_ONLY as readonly string[]).includes(name) || name.startsWith("--unstable")
    ) {
      flags.push(word);
    }
  }
  return { config, flags };
}

function splitFlag(word: string): [string, string | undefined] {
  const at = word.indexOf("=");
  return at < 0 ? [word, undefined] : [word.slice(0, at), word.slice(at + 1)];
}

const CMDLINE = "/proc/self/cmdline";

function commandLine(): string[] | undefined {
  try {
    if (Deno.permissions.querySync({ name: "read", path: CMDLINE }).state !== "granted") {
      return undefined;
    }
    const words = new TextDecoder().decode(Deno.readFileSync(CMDLINE)).split("\0");
    if (words.at(-1) === "") words.pop();
    return words.length > 1 ? words : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The config file Deno found for this process: `deno.json` or `deno.jsonc`
 * in the main module's directory or a parent (the working directory when
 * the main module is remote). False when there is none; undefined when the
 * directories cannot be read, so the server process looks for itself.
 */
function discoverConfig(): string | false | undefined {
  let dir: string;
  try {
    const main = new URL(Deno.mainModule);
    dir = main.protocol === "file:" ? fromFileUrl(main).replace(/\/[^/]*$/, "") : Deno.cwd();
  } catch {
    return undefined;
  }
  while (true) {
    for (const name of ["deno.json", "deno.jsonc"]) {
      const path = `${dir === "/" ? "" : dir}/${name}`;
      try {
        if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
          return undefined;
        }
        if (Deno.statSync(path).isFile) return path;
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) return undefined;
      }
    }
    if (dir === "/" || dir === "") return false;
    dir = dir.replace(/\/[^/]*$/, "") || "/";
  }
}
