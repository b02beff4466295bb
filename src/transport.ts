/**
 * Bytes in, bytes out: opening and accepting Unix and TCP connections.
 * Nothing here knows about frames or the protocol.
 *
 * @module
 */

import { type Address, formatAddress } from "./address.ts";

/** A listening socket and the address it really bound. */
export interface BoundListener {
  readonly listener: Deno.Listener;
  readonly address: Address;
}

/**
 * Listens on `address`. TCP without an explicit hostname would bind
 * 0.0.0.0, so addresses always carry one.
 */
export function listen(address: Address): BoundListener {
  try {
    if (typeof address === "string") {
      const listener = Deno.listen({ transport: "unix", path: address });
      return { listener, address };
    }
    const listener = Deno.listen({ hostname: address.hostname, port: address.port });
    const bound = listener.addr as Deno.NetAddr;
    return { listener, address: Object.freeze({ hostname: address.hostname, port: bound.port }) };
  } catch (error) {
    throw rephrase(error, `Cannot listen on ${formatAddress(address)}`);
  }
}

/** Connects to `address`; TCP connections have Nagle's algorithm off. */
export async function connect(address: Address): Promise<Deno.Conn> {
  try {
    if (typeof address === "string") {
      return await Deno.connect({ transport: "unix", path: address });
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
