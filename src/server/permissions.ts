/**
 * The Deno permissions of a manager's server process. It gets what it
 * needs to listen on its address and load its modules, and nothing else
 * unless the manager's `permissions` option grants more.
 *
 * @module
 */

import type { Address } from "../wire/address.ts";

/**
 * Extra permissions for the server process, in Deno's own vocabulary:
 * `true` grants all of a kind, a list grants those entries (as the
 * matching `--allow-*=` flag would).
 *
 * @example
 * ```ts
 * import { BaseManager, type ServerPermissions } from "@multiprocess/managers";
 *
 * const permissions: ServerPermissions = { read: ["./data"], env: ["HOME"] };
 * const manager = new BaseManager({ permissions });
 * console.log(manager.state); // "initial"
 * ```
 */
export interface ServerPermissions {
  /** `--allow-read` */
  readonly read?: readonly string[] | boolean;
  /** `--allow-write` */
  readonly write?: readonly string[] | boolean;
  /** `--allow-net` */
  readonly net?: readonly string[] | boolean;
  /** `--allow-env` */
  readonly env?: readonly string[] | boolean;
  /** `--allow-run` */
  readonly run?: readonly string[] | boolean;
  /** `--allow-ffi` */
  readonly ffi?: readonly string[] | boolean;
  /** `--allow-sys` */
  readonly sys?: readonly string[] | boolean;
  /** `--allow-import` */
  readonly import?: readonly string[] | boolean;
}

const KINDS = ["read", "write", "net", "env", "run", "ffi", "sys", "import"] as const;
type Kind = typeof KINDS[number];

/**
 * The hosts Deno lets any process import from unless told otherwise
 * (`deno run --help`, Deno 2.9). A child that needs no remote module is
 * denied them, so no code it runs can `import()` from there.
 */
const DEFAULT_IMPORT_HOSTS = [
  "deno.land:443",
  "jsr.io:443",
  "esm.sh:443",
  "raw.esm.sh:443",
  "cdn.jsdelivr.net:443",
  "raw.githubusercontent.com:443",
  "gist.githubusercontent.com:443",
];

/** What the server process needs for itself. */
export type RequiredPermissions = Partial<Record<Kind, readonly string[]>>;

/** Checks a user's `permissions` option. */
export function checkPermissions(value: unknown): ServerPermissions | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError('The permissions option must be an object such as { read: ["./data"] }');
  }
  for (const [kind, grant] of Object.entries(value)) {
    if (!(KINDS as readonly string[]).includes(kind)) {
      throw new TypeError(
        `Unknown permission '${kind}': expected one of ${KINDS.join(", ")}`,
      );
    }
    if (grant === undefined || typeof grant === "boolean") continue;
    if (!Array.isArray(grant) || !grant.every((entry) => typeof entry === "string")) {
      throw new TypeError(`Permission '${kind}' must be a boolean or a list of strings`);
    }
    for (const entry of grant as string[]) {
      if (entry.includes(",")) {
        throw new RangeError(
          `Permission '${kind}' entry ${
            JSON.stringify(entry)
          } contains a comma, which Deno's flags cannot express`,
        );
      }
    }
  }
  return value as ServerPermissions;
}

/** The `--allow-*` flags for `required` plus `granted`; everything else stays denied. */
export function permissionFlags(
  required: RequiredPermissions,
  granted: ServerPermissions | undefined,
): string[] {
  const flags = ["--no-prompt"];
  for (const kind of KINDS) {
    const grant = granted?.[kind];
    if (grant === true) {
      flags.push(`--allow-${kind}`);
      continue;
    }
    for (const entry of required[kind] ?? []) {
      if (entry.includes(",")) {
        throw new RangeError(
          `Cannot grant ${kind} access to ${
            JSON.stringify(entry)
          }: the path contains a comma, which Deno's permission flags use to separate entries and cannot carry; use a socket path and module paths without commas`,
        );
      }
    }
    const entries = new Set([...(required[kind] ?? []), ...(Array.isArray(grant) ? grant : [])]);
    if (entries.size > 0) flags.push(`--allow-${kind}=${[...entries].join(",")}`);
    // Without a grant, Deno still lets a process import from its default hosts.
    else if (kind === "import") flags.push(`--deny-import=${DEFAULT_IMPORT_HOSTS.join(",")}`);
  }
  return flags;
}

let sandbox: { readonly where: string; readonly option: string } | undefined;

/**
 * Marks this process as one the library started with few permissions:
 * `where` names it in messages, `option` names the option that grants more.
 */
export function markSandboxed(where: string, option: string): void {
  sandbox = { where, option };
}

const DENIAL = /Requires (\w+) access to (.+?), run again with the --allow-\w+ flag/;

/**
 * In a sandboxed process, a permission denial names the option that grants
 * it, not a command-line flag that cannot reach the process. Other errors,
 * and denials in other processes, are returned as they are.
 */
export function explainDenial(error: unknown): unknown {
  // Deno reports a refused import() as a TypeError, other denials as NotCapable.
  if (
    sandbox === undefined ||
    !(error instanceof Deno.errors.NotCapable || error instanceof TypeError)
  ) return error;
  const match = error.message.match(DENIAL);
  if (match === null) return error;
  const [, kind, target] = match as unknown as [string, string, string];
  const grant = (KINDS as readonly string[]).includes(kind)
    ? `{ permissions: { ${kind}: [${target}] } }`
    : "its permissions option";
  const Class = error instanceof TypeError ? TypeError : Deno.errors.NotCapable;
  const explained = new Class(
    error.message.replace(
      match[0],
      `Requires ${kind} access to ${target} in the ${sandbox.where}, which runs with only the permissions it needs: grant it with the ${sandbox.option}, ${grant}`,
    ),
    { cause: error },
  );
  if (error.stack !== undefined) {
    explained.stack = error.stack.replace(error.message, explained.message);
  }
  return explained;
}

/**
 * What `start()` needs in this process: to run `deno`, to make and use the
 * socket, to connect to it. Throws one `NotCapable` naming every missing
 * flag, instead of one denial per run. When a terminal can answer Deno's
 * prompts and nothing is denied outright, Deno asks as usual.
 */
export function checkOwnerPermissions(address: Address | undefined): void {
  const needed: [Deno.PermissionDescriptor, string, string][] = [
    [{ name: "run", command: Deno.execPath() }, "--allow-run", "to start the server process"],
  ];
  if (address === undefined || typeof address === "string") {
    const path = address ?? tempBase();
    const what = address === undefined
      ? `for the private socket directory in ${path}`
      : `for the socket ${JSON.stringify(path)}`;
    needed.push(
      [{ name: "write", path }, "--allow-write", what],
      [{ name: "read", path }, "--allow-read", what],
      [
        address === undefined ? { name: "net" } : { name: "net", host: `unix:${address}` },
        "--allow-net",
        "to connect to the socket",
      ],
    );
  } else {
    const host = address.port === 0 ? address.hostname : `${address.hostname}:${address.port}`;
    needed.push([{ name: "net", host }, "--allow-net", `to connect to ${host}`]);
  }
  const missing: string[] = [];
  let denied = false;
  for (const [descriptor, flag, why] of needed) {
    const { state } = Deno.permissions.querySync(descriptor);
    if (state === "granted") continue;
    denied ||= state === "denied";
    missing.push(`${flag} (${why})`);
  }
  if (missing.length === 0 || (!denied && Deno.stdin.isTerminal())) return;
  const flags = [...new Set(missing.map((entry) => entry.split(" ", 1)[0]))];
  throw new Deno.errors.NotCapable(
    `start() needs permissions this process does not have: ${
      missing.join(", ")
    }. Run it with: deno run ${flags.join(" ")} <your script>`,
  );
}

function tempBase(): string {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: "TMPDIR" }).state === "granted") {
      return Deno.env.get("TMPDIR") || "/tmp";
    }
  } catch { /* no env access: the default */ }
  return "/tmp";
}
