/**
 * What a parent and the process it starts say to each other: one config
 * frame on the child's stdin (the authkey travels there, never in argv or
 * env), and the child's status lines on stdout. `spawn.ts` is the parent's
 * side; the server entry imports only this, not the launch code.
 *
 * @module
 */

import type { Address } from "../wire/address.ts";
import { Codec, UnsendableError } from "../wire/codec.ts";
import { HEADER_SIZE } from "../wire/framing.ts";
import type { ServerLimits } from "./limits.ts";
import type { SocketIdentity, TlsOptions } from "../wire/transport.ts";

/** Prefix of the child's one status line on stdout. */
export const STATUS_MARKER = "#MP-MANAGER-STATUS#";

/** An exported function the new process imports and calls. */
export interface ExportRef {
  readonly module: string;
  readonly name: string;
}

/** A proxy among the arguments, as a ticket the new process claims. */
export interface HandedProxy {
  readonly index: number;
  readonly address: Address;
  readonly authkey: Uint8Array;
  readonly ticket: string;
}

/** Arguments ready to travel: data in `values`, proxies (null there) in `proxies`. */
export interface HandedArgs {
  readonly values: unknown[];
  readonly proxies: HandedProxy[];
}

/** What a worker learns from its parent, over stdin. */
export interface WorkerConfig {
  readonly target: ExportRef;
  readonly args: HandedArgs;
}

/** Everything the server process learns from its parent, over stdin. */
export interface ServerConfig {
  readonly address: Address;
  /** The private directory of a default Unix socket, which the server removes when it ends. */
  readonly socketDir: string | null;
  readonly authkey: Uint8Array;
  readonly modules: readonly string[];
  readonly manager: string;
  readonly initializer: ExportRef | null;
  readonly initargs: HandedArgs;
  readonly handshakeTimeout: number;
  /** Accept CPython 3.11's HMAC-MD5 handshake too. */
  readonly legacyAuth: boolean;
  /** More Python types whose values CPython clients may store (`"module.name"`). */
  readonly pickleGlobals: readonly string[];
  readonly limits: ServerLimits | null;
  readonly tls: TlsOptions | null;
}

/** The child's status line. */
export type ServerStatus =
  | {
    readonly ready: {
      readonly address: Address;
      readonly typeids: readonly string[];
      readonly socket: SocketIdentity | null;
    };
  }
  | {
    readonly error: { readonly name: string; readonly message: string; readonly stack?: string };
  }
  /** What it is doing now, for the message if it never becomes ready. */
  | { readonly phase: string };

const configCodec = new Codec({
  encodeToken(): never {
    throw new UnsendableError(
      "a proxy",
      ": only top-level arguments can be proxies when handed to a new process",
    );
  },
  decodeToken(): never {
    throw new TypeError("Unexpected proxy in a config frame");
  },
});

/** A config (for a server process or a {@linkcode Process}) as one sealed frame. */
export function encodeConfig(config: unknown): Uint8Array {
  try {
    return configCodec.encode(config);
  } catch (error) {
    if (error instanceof UnsendableError) {
      throw new TypeError(`${error.message} at ${error.describePath("config")}`);
    }
    throw error;
  }
}

/** Anything with Deno's `read()` (the child's stdin). */
export interface ByteReader {
  read(buffer: Uint8Array): Promise<number | null>;
}

/** Reads one config frame from a stream (the child's stdin). */
export async function readConfig(input: ByteReader): Promise<unknown> {
  const header = await readExactly(input, HEADER_SIZE);
  const size = new DataView(header.buffer).getInt32(0);
  if (size < 0 || size > 64 * 1024 * 1024) throw new Error(`Bad config frame length ${size}`);
  return configCodec.decode(await readExactly(input, size));
}

/** Reads the server process's config. */
export async function readServerConfig(input: ByteReader): Promise<ServerConfig> {
  const config = await readConfig(input) as ServerConfig;
  if (
    typeof config !== "object" || config === null || !(config.authkey instanceof Uint8Array) ||
    !Array.isArray(config.modules) || typeof config.manager !== "string"
  ) {
    throw new Error("Malformed server config");
  }
  return config;
}

async function readExactly(input: ByteReader, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let filled = 0;
  while (filled < size) {
    const n = await input.read(out.subarray(filled));
    if (n === null) throw new Error("The parent closed stdin before sending the config");
    filled += n;
  }
  return out;
}
