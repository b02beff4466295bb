/**
 * The listener of a manager server: it accepts connections, admits them
 * through the handshake (within the connection and handshake budgets),
 * and serves each as a {@linkcode ClientConnection} over one shared
 * {@linkcode ObjectHost}, until `shutdown()`.
 *
 * @module
 */

import type { Address } from "../wire/address.ts";
import { onDeadline } from "../_async.ts";
import { type AuthKey, importAuthkey, serverHandshake } from "../wire/handshake.ts";
import type { Registration } from "../objects/registry.ts";
import {
  type Acceptor,
  closeUnixListener,
  listen,
  type SocketIdentity,
  type TlsOptions,
} from "../wire/transport.ts";
import { formatAddress } from "../wire/address.ts";
import { ClientConnection } from "./client_connection.ts";
import { resolveLimits, type ServerLimits } from "./limits.ts";
import { ObjectHost } from "./object_host.ts";

/**
 * How to build a {@linkcode Server}. Managers fill this in; most code gets
 * a server from `manager.getServer()`.
 *
 * @example
 * ```ts
 * import { BaseManager, type ServerOptions } from "@multiprocess/managers";
 *
 * const options: ServerOptions = {
 *   registry: BaseManager.registrations(),
 *   address: { hostname: "127.0.0.1", port: 0 },
 *   authkey: new TextEncoder().encode("secret"),
 * };
 * console.log(options.handshakeTimeout ?? 5000); // 5000
 * ```
 */
export interface ServerOptions {
  /** Typeids the server can create. */
  readonly registry: ReadonlyMap<string, Registration>;
  /** Where to listen. */
  readonly address: Address;
  /** The shared secret every client must prove it knows. */
  readonly authkey: Uint8Array;
  /** Milliseconds a new connection has to finish the handshake (default 5000). */
  readonly handshakeTimeout?: number;
  /** Accept (and answer) CPython 3.11's HMAC-MD5 handshake too; default false. */
  readonly legacyAuth?: boolean;
  /** More Python types whose values CPython clients may store (`"module.name"`, see `ManagerOptions`). */
  readonly pickleGlobals?: readonly string[];
  /** What a client may send; see {@linkcode ServerLimits}. */
  readonly limits?: ServerLimits;
  /** TLS (TCP only): the server's `cert` and `key`. */
  readonly tls?: TlsOptions;
  /** A private directory made for the socket, removed when the server shuts down. */
  readonly socketDir?: string;
  /** With `tls`: the loopback port its TLS relay listens on (default: a free one). */
  readonly tlsRelayPort?: number;
}

/**
 * A manager server running in this process, as returned by
 * `manager.getServer()`. It listens as soon as it is created.
 *
 * @example
 * ```ts
 * import { BaseManager } from "@multiprocess/managers";
 *
 * const manager = new BaseManager({ address: { hostname: "127.0.0.1", port: 0 } });
 * await using server = manager.getServer();
 * console.log(typeof server.address); // "object"
 * // await server.serveForever();  // until a client asks it to shut down
 * ```
 */
export class Server {
  /** The address the server is listening on (the real port for TCP). */
  readonly address: Address;
  readonly #socketIdentity: SocketIdentity | null;
  readonly #listener: Acceptor;
  readonly #host: ObjectHost;
  readonly #key: Promise<AuthKey>;
  readonly #handshakeTimeout: number;
  readonly #limits: Required<ServerLimits>;
  readonly #socketDir: string | undefined;
  readonly #pickleGlobals: ReadonlySet<string>;
  readonly #connections = new Set<ClientConnection>();
  /** Peers in the handshake, oldest first, with when they came. */
  readonly #handshaking = new Map<ClientConnection, number>();
  readonly #stopped = Promise.withResolvers<void>();
  #serving = false;
  #stopping = false;
  #callerIds = 0;
  /** Peers welcomed in the handshake and not yet counted as connections. */
  #welcomed = 0;

  /** Listens on `options.address` at once. */
  constructor(options: ServerOptions) {
    this.#handshakeTimeout = options.handshakeTimeout ?? 5000;
    this.#limits = resolveLimits(options.limits);
    this.#socketDir = options.socketDir;
    this.#pickleGlobals = new Set(options.pickleGlobals ?? []);
    this.#key = importAuthkey(options.authkey, options.legacyAuth ?? false);
    this.#key.catch(() => {});
    const bound = listen(options.address, options.tls, options.tlsRelayPort);
    this.#listener = bound.listener;
    this.address = bound.address;
    this.#socketIdentity = bound.identity;
    boundSockets.set(this, bound.identity);
    this.#host = new ObjectHost(options.registry, this.address, this.#limits);
  }

  /** Accepts clients until the server is shut down; resolves then. */
  serveForever(): Promise<void> {
    if (!this.#serving && !this.#stopping) {
      this.#serving = true;
      this.#acceptLoop();
    }
    return this.#stopped.promise;
  }

  /** Stops accepting, closes every connection and drops every object. Idempotent. */
  shutdown(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      if (typeof this.address === "string") {
        closeUnixListener(this.#listener, this.address, this.#socketIdentity);
      } else {
        try {
          this.#listener.close();
        } catch { /* already closed */ }
      }
      for (const client of this.#handshaking.keys()) client.connection.close();
      for (const client of [...this.#connections]) client.close();
      this.#host.clear();
      if (this.#socketDir !== undefined) {
        try {
          Deno.removeSync(this.#socketDir, { recursive: true });
        } catch { /* already gone */ }
      }
      if (!this.#serving) this.#stopped.resolve();
    }
    return this.#stopped.promise;
  }

  /** Shuts the server down. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#stopping) {
      let socket: Deno.Conn;
      try {
        socket = await this.#listener.accept();
      } catch (error) {
        if (this.#stopping || error instanceof Deno.errors.BadResource) break;
        // Out of descriptors and the like: keep serving the clients we have.
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      this.#admit(socket);
    }
    // Let connections see their close before anyone waiting on us resumes.
    await Promise.all([...this.#connections].map((c) => c.done));
    this.#stopped.resolve();
  }

  async #admit(socket: Deno.Conn): Promise<void> {
    if (this.#connections.size >= this.#limits.maxConnections) {
      // Nothing is said to a peer that has not authenticated.
      closeQuietly(socket);
      return;
    }
    if (this.#handshaking.size >= this.#limits.maxPending) {
      // The oldest peer still in the handshake makes room, once it has had
      // time to finish one: a flood of peers that never authenticate cannot
      // keep a key holder out, and a burst of real clients is not cut short.
      const [oldest, since] = this.#handshaking.entries().next().value!;
      if (
        performance.now() - since >= EVICT_AFTER ||
        this.#handshaking.size >= this.#limits.maxPending * BURST
      ) {
        this.#handshaking.delete(oldest);
        oldest.connection.close();
      }
    }
    if ("setNoDelay" in socket) (socket as Deno.TcpConn).setNoDelay(true);
    const client = new ClientConnection(
      socket,
      this.#host,
      this.#limits,
      ++this.#callerIds,
      () => this.shutdown(),
      () => this.#connections,
      this.#pickleGlobals,
    );
    this.#handshaking.set(client, performance.now());
    const cancelDeadline = onDeadline(this.#handshakeTimeout, () => client.connection.close());
    let reserved = false;
    const admit = (): boolean => {
      // Counted from the welcome on, so a burst of key holders cannot pass the limit.
      if (this.#connections.size + this.#welcomed >= this.#limits.maxConnections) return false;
      this.#welcomed++;
      reserved = true;
      return true;
    };
    try {
      await serverHandshake(client.connection, await this.#key, admit);
    } catch {
      if (reserved) this.#welcomed--;
      // Nothing is decoded and nothing but #FAILURE# is sent to a peer that failed.
      client.connection.close();
      return;
    } finally {
      cancelDeadline();
      this.#handshaking.delete(client);
    }
    this.#welcomed--;
    if (this.#stopping) {
      client.connection.close();
      return;
    }
    this.#connections.add(client);
    await client.serve();
    this.#connections.delete(client);
  }

  /** Shown by `console.log`. */
  [Symbol.for("Deno.customInspect")](): string {
    return `Server { address: ${formatAddress(this.address)} }`;
  }
}

const boundSockets = new WeakMap<Server, SocketIdentity | null>();

/** For a Unix socket: the file `server` made, the only one its owner may remove. */
export function boundSocket(server: Server): SocketIdentity | null {
  return boundSockets.get(server) ?? null;
}

/** A peer in the handshake this long (ms) may be dropped for a newcomer. */
const EVICT_AFTER = 100;
/** Past this many times `maxPending`, the oldest peer in the handshake drops whatever its age. */
const BURST = 8;

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}
