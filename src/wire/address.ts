/**
 * Manager addresses: a Unix socket path or a TCP host and port.
 *
 * @module
 */

/**
 * A TCP address. `port: 0` asks the operating system for a free port when
 * the server starts; the manager's `address` then holds the real one.
 *
 * @example
 * ```ts
 * import type { TcpAddress } from "@multiprocess/managers";
 *
 * const address: TcpAddress = { hostname: "127.0.0.1", port: 0 };
 * console.log(address.port); // 0
 * ```
 */
export interface TcpAddress {
  /** The host to listen on or connect to, matched literally by Deno's permissions. */
  readonly hostname: string;
  /** The TCP port; 0 picks a free one when listening. */
  readonly port: number;
}

/**
 * Where a manager's server listens: a string is a Unix socket path, an
 * object is a TCP address.
 *
 * @example
 * ```ts
 * import type { Address } from "@multiprocess/managers";
 *
 * const unix: Address = "/tmp/my-manager.sock";
 * const tcp: Address = { hostname: "127.0.0.1", port: 50000 };
 * console.log(typeof unix, typeof tcp); // "string" "object"
 * ```
 */
export type Address = string | TcpAddress;

/**
 * An address as a user may give it: an {@linkcode Address}, or Python's
 * `(hostname, port)` pair written as an array. An empty hostname means
 * every interface (`"0.0.0.0"`), as Python's `("", 50000)` does.
 *
 * @example
 * ```ts
 * import { BaseManager, type AddressInput } from "@multiprocess/managers";
 *
 * const address: AddressInput = ["127.0.0.1", 0]; // as Python's ("127.0.0.1", 0)
 * const manager = new BaseManager({ address });
 * console.log(manager.address); // { hostname: "127.0.0.1", port: 0 }
 * ```
 */
export type AddressInput = Address | readonly [hostname: string, port: number];

/**
 * The hostname of every IPv4 interface: what Python's `("", port)` means,
 * and what an empty hostname here becomes. Listening there accepts
 * connections from other machines; a client connecting to it reaches this
 * machine.
 */
const EVERY_INTERFACE = "0.0.0.0";

/** Checks an address given by a user and returns a frozen copy. */
export function checkAddress(address: unknown, what = "address"): Address {
  if (typeof address === "string") {
    if (address.length === 0) {
      throw new TypeError(`Invalid ${what}: a Unix socket path must not be empty`);
    }
    const tcp = address.match(/^\[?([^/\[\]]*?)\]?:(\d{1,5})$/);
    if (tcp) {
      throw new TypeError(
        `Invalid ${what} ${
          JSON.stringify(address)
        }: a string is a Unix socket path; for TCP pass { hostname: ${
          JSON.stringify(tcp[1] || "127.0.0.1")
        }, port: ${Number(tcp[2])} } (or ["${tcp[1] || "127.0.0.1"}", ${
          Number(tcp[2])
        }]), and for a socket file whose name has a colon write "./${address}"`,
      );
    }
    return address;
  }
  if (Array.isArray(address)) {
    if (address.length !== 2) {
      throw new TypeError(
        `Invalid ${what}: an array address must be [hostname, port], as Python's (hostname, port), got ${address.length} items`,
      );
    }
    return checkAddress({ hostname: address[0], port: address[1] }, what);
  }
  if (typeof address === "object" && address !== null) {
    const { hostname: given, port } = address as Record<string, unknown>;
    if (typeof given !== "string") {
      throw new TypeError(
        `Invalid ${what}: "hostname" must be a string, got ${describe(given)}`,
      );
    }
    // Python's ("", port): every interface, as INADDR_ANY.
    const hostname = given === "" ? EVERY_INTERFACE : given;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(
        `Invalid ${what}: "port" must be an integer from 0 to 65535, got ${describe(port)}`,
      );
    }
    return Object.freeze({ hostname, port });
  }
  throw new TypeError(
    `Invalid ${what}: expected a Unix socket path or { hostname, port }, got ${describe(address)}`,
  );
}

/** The address as people read it: `"/tmp/x.sock"` or `127.0.0.1:5000`. */
export function formatAddress(address: Address): string {
  if (typeof address === "string") return JSON.stringify(address);
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  return `${host}:${address.port}`;
}

/** True when both name the same endpoint. */
export function sameAddress(a: Address, b: Address): boolean {
  if (typeof a === "string" || typeof b === "string") return a === b;
  return a.hostname === b.hostname && a.port === b.port;
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return String(value);
}
