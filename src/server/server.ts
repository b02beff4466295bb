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
import { type AuthKey, importAuthkey, LEGACY_REFUSED, serverHandshake } from "../wire/handshake.ts";
import { AuthenticationError } from "../errors.ts";
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
  /** Peers in the handshake that have not proved the key, oldest first, with when they came. */
  readonly #handshaking = new Map<ClientConnection, number>();
  /** Peers that proved the key less than EVICT_AFTER ago: when each came, and when it proved it. */
  readonly #recentProofs: { came: number; at: number }[] = [];
  /** When the latest peer came of those that proved the key EVICT_AFTER ago or more. */
  #provedBefore = -Infinity;
  readonly #stopped = Promise.withResolvers<void>();
  #serving = false;
  #stopping = false;
  #callerIds = 0;
  /** Peers welcomed in the handshake and not yet counted as connections. */
  #welcomed = 0;
  /** When a refused HMAC-MD5 client was last reported. */
  #legacyNoted = -Infinity;

  /** Listens on `options.address` at once. */
  constructor(options: ServerOptions) {
    this.#handshakeTimeout = options.handshakeTimeout ?? 5000;
    this.#limits = resolveLimits(options.limits);
    this.#socketDir = options.socketDir;
    this.#pickleGlobals = new Set(options.pickleGlobals ?? []);
    this.#key = importAuthkey(options.authkey, options.legacyAuth ?? false);
    this.#key.catch(() => {});
    const bound = listen(options.address, options.tls);
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
      // The oldest peer that has not proved the key makes room once it lags: a peer that came
      // after it proved the key EVICT_AFTER ago and it still has not. A flood of peers that never
      // answer cannot keep a key holder out (each one that gets in makes the flood before it
      // lag), and a burst of real clients on a loaded machine, slow to answer, is not cut short
      // for being slow. Past BURST times the budget the oldest goes whatever it did.
      const [oldest, since] = this.#handshaking.entries().next().value!;
      if (
        this.#lagging(since) ||
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
    const came = performance.now();
    this.#handshaking.set(client, came);
    const cancelDeadline = onDeadline(this.#handshakeTimeout, () => client.connection.close());
    let reserved = false;
    const admit = (): boolean => {
      // It proved the key: it is no longer a peer that may be dropped for a newcomer.
      this.#handshaking.delete(client);
      this.#ripenProofs();
      this.#recentProofs.push({ came, at: performance.now() });
      // Counted from the welcome on, so a burst of key holders cannot pass the limit.
      if (this.#connections.size + this.#welcomed >= this.#limits.maxConnections) return false;
      this.#welcomed++;
      reserved = true;
      return true;
    };
    try {
      await serverHandshake(client.connection, await this.#key, admit);
    } catch (error) {
      if (reserved) this.#welcomed--;
      this.#noteRefusal(error);
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

  /**
   * A CPython 3.11 client refused for its HMAC-MD5 answer is told only
   * "digest sent was rejected"; the server, which knows why, says so on
   * its stderr (at most once a minute, so that a peer cannot flood it).
   */
  #noteRefusal(error: unknown): void {
    if (!(error instanceof AuthenticationError) || error.message !== LEGACY_REFUSED) return;
    const now = performance.now();
    if (now - this.#legacyNoted < 60_000) return;
    this.#legacyNoted = now;
    console.error(
      `The manager server at ${
        formatAddress(this.address)
      } refused a client that answered its challenge with HMAC-MD5, the handshake of CPython 3.11 and older: to accept such clients, start the manager with legacyAuth: true (serve: --legacy-auth); their authkey is still checked`,
    );
  }

  /** Whether a peer that came at `since` lags: one that came after it proved the key EVICT_AFTER ago. */
  #lagging(since: number): boolean {
    this.#ripenProofs();
    return this.#provedBefore > since;
  }

  /** Folds the proofs EVICT_AFTER old into `#provedBefore`: only the last EVICT_AFTER's are kept. */
  #ripenProofs(): void {
    const ripe = performance.now() - EVICT_AFTER;
    const proofs = this.#recentProofs;
    let done = 0;
    while (done < proofs.length && proofs[done]!.at <= ripe) {
      this.#provedBefore = Math.max(this.#provedBefore, proofs[done]!.came);
      done++;
    }
    if (done > 0) proofs.splice(0, done);
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

/** A peer that has not proved the key this long (ms) after a newer one did may be dropped. */
const EVICT_AFTER = 100;
/** Past this many times `maxPending`, the oldest peer in the handshake drops whatever its age. */
const BURST = 8;

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}
