/**
 * The Deno permissions of a manager's server process. It gets what it
 * needs to listen on its address and load its modules, and nothing else
 * unless the manager's `permissions` option grants more.
 *
 * @module
 */

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
    const entries = new Set([...(required[kind] ?? []), ...(Array.isArray(grant) ? grant : [])]);
    if (entries.size > 0) flags.push(`--allow-${kind}=${[...entries].join(",")}`);
  }
  return flags;
}
