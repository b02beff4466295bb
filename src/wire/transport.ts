/**
 * Bytes in, bytes out: opening and accepting Unix and TCP connections.
 * Nothing here knows about frames or the protocol.
 *
 * @module
 */

import { type Address, formatAddress } from "./address.ts";
import { type Acceptor, TlsFront } from "./_tls_front.ts";

export type { Acceptor };

/**
 * TLS for a TCP manager. The server needs `cert` and `key`; clients check
 * the server's certificate against `caCerts` (default: the system's roots)
 * and the address's hostname. All are PEM text.
 *
 * @example
 * ```ts
 * import { SyncManager, type TlsOptions } from "@multiprocess/managers";
 *
 * const tls: TlsOptions = { caCerts: ["-----BEGIN CERTIFICATE-----\n..."] };
 * const client = new SyncManager({ address: { hostname: "db.internal", port: 50000 }, tls });
 * console.log(client.state); // "initial"
 * ```
 */
export interface TlsOptions {
  /** The server's certificate chain (PEM); needed to serve. */
  readonly cert?: string;
  /** The server's private key (PEM); needed to serve. */
  readonly key?: string;
  /** Certificates a client trusts for the server (PEM); default the system's roots. */
  readonly caCerts?: readonly string[];
}

/** Checks TLS options against the address they go with. */
export function checkTls(tls: unknown, address: Address | undefined): TlsOptions | undefined {
  if (tls === undefined) return undefined;
  if (typeof tls !== "object" || tls === null) {
    throw new TypeError("The tls option must be an object such as { cert, key, caCerts }");
  }
  if (address === undefined || typeof address === "string") {
    throw new TypeError(
      "The tls option needs a TCP address ({ hostname, port }); Unix sockets are local",
    );
  }
  const { cert, key, caCerts } = tls as Record<string, unknown>;
  for (const [name, value] of [["cert", cert], ["key", key]] as const) {
    if (value !== undefined && typeof value !== "string") {
      throw new TypeError(`The tls option's ${name} must be PEM text`);
    }
  }
  if ((cert === undefined) !== (key === undefined)) {
    throw new TypeError("The tls option's cert and key go together: give both or neither");
  }
  if (
    caCerts !== undefined &&
    (!Array.isArray(caCerts) || !caCerts.every((c) => typeof c === "string"))
  ) {
    throw new TypeError("The tls option's caCerts must be a list of PEM certificates");
  }
  return tls as TlsOptions;
}

/** Which file a Unix socket is: its device and inode, as `lstat` gives them. */
export interface SocketIdentity {
  readonly dev: number;
  readonly ino: number;
}

/** A listening socket and the address it really bound. */
export interface BoundListener {
  readonly listener: Acceptor;
  readonly address: Address;
  /** For a Unix socket: the file this listener made. */
  readonly identity: SocketIdentity | null;
}

/** The identity of the socket file at `path`, or null if there is none. */
export function socketIdentity(path: string): SocketIdentity | null {
  try {
    const info = Deno.lstatSync(path);
    if (!info.isSocket || info.ino === null) return null;
    return { dev: info.dev, ino: info.ino };
  } catch {
    return null;
  }
}

/** True when the socket file at `path` is the one `identity` names. */
export function isSameSocket(path: string, identity: SocketIdentity): boolean {
  const now = socketIdentity(path);
  return now !== null && now.dev === identity.dev && now.ino === identity.ino;
}

/**
 * Closes a Unix socket listener without removing a socket file that is not
 * its own. Deno unlinks the path when the listener closes, whatever file is
 * there by then: if another server's socket replaced ours, it is moved
 * aside for that moment and put back.
 */
export function closeUnixListener(
  listener: Acceptor,
  path: string,
  identity: SocketIdentity | null,
): void {
  const foreign = identity !== null && socketIdentity(path) !== null &&
    !isSameSocket(path, identity);
  const aside = `${path}.${crypto.randomUUID().slice(0, 8)}`;
  if (foreign) {
    try {
      Deno.renameSync(path, aside);
    } catch { /* gone meanwhile */ }
  }
  try {
    listener.close();
  } catch { /* already closed */ }
  if (foreign) {
    try {
      Deno.renameSync(aside, path);
    } catch { /* nothing was moved */ }
  }
}

/**
 * Listens on `address`. TCP without an explicit hostname would bind
 * 0.0.0.0, so addresses always carry one. TLS runs over plain TCP sockets
 * this process owns (see `_tls_front.ts`).
 */
export function listen(address: Address, tls?: TlsOptions): BoundListener {
  try {
    if (typeof address === "string") {
      const listener = Deno.listen({ transport: "unix", path: address });
      return { listener, address, identity: socketIdentity(address) };
    }
    if (tls !== undefined && (tls.cert === undefined || tls.key === undefined)) {
      throw new TypeError("A TLS server needs tls.cert and tls.key");
    }
    const listener = tls === undefined
      ? Deno.listen({ hostname: address.hostname, port: address.port })
      : new TlsFront(address.hostname, address.port, { cert: tls.cert!, key: tls.key! });
    const bound = listener.addr as Deno.NetAddr;
    return {
      listener,
      address: Object.freeze({ hostname: address.hostname, port: bound.port }),
      identity: null,
    };
  } catch (error) {
    throw rephrase(error, `Cannot listen on ${formatAddress(address)}`);
  }
}

/** Connects to `address`; TCP connections have Nagle's algorithm off. */
export async function connect(address: Address, tls?: TlsOptions): Promise<Deno.Conn> {
  try {
    if (typeof address === "string") {
      return await Deno.connect({ transport: "unix", path: address });
    }
    if (tls !== undefined) {
      const conn = await Deno.connectTls({
        hostname: address.hostname,
        port: address.port,
        ...(tls.caCerts === undefined ? {} : { caCerts: [...tls.caCerts] }),
      });
      // The TLS handshake is lazy; do it now so a bad certificate fails here.
      try {
        await conn.handshake();
      } catch (error) {
        conn.close();
        throw error;
      }
      return conn;
    }
    const conn = await Deno.connect({ hostname: address.hostname, port: address.port });
    conn.setNoDelay(true);
    return conn;
  } catch (error) {
    throw rephrase(error, `Cannot connect to manager at ${formatAddress(address)}`);
  }
}

/**
 * Removes a Unix socket file left behind by a server that died without
 * cleaning up. A socket somebody still listens on is left alone.
 */
export async function removeStaleSocket(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch {
    return;
  }
  if (!info.isSocket) return;
  try {
    const probe = await Deno.connect({ transport: "unix", path });
    probe.close();
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) {
      await Deno.remove(path).catch(() => {});
    }
  }
}

/**
 * Gives an OS error a message that says what was attempted, keeping its
 * class so callers can still test `instanceof Deno.errors.X`.
 */
function rephrase(error: unknown, attempt: string): unknown {
  if (!(error instanceof Error)) return error;
  const reason = describeOsError(error);
  const Class = error.constructor as new (message: string, options?: ErrorOptions) => Error;
  try {
    const better = new Class(`${attempt}: ${reason}`, { cause: error });
    better.name = error.name;
    return better;
  } catch {
    return error;
  }
}

function describeOsError(error: Error): string {
  if (error instanceof Deno.errors.NotFound) return "no such socket";
  if (error instanceof Deno.errors.ConnectionRefused) return "connection refused";
  if (error instanceof Deno.errors.AddrInUse) return "address already in use";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotCapable) return error.message;
  return error.message.replace(/ \(os error \d+\)$/, "");
}
