/**
 * The manager server: accepts authenticated connections, keeps the shared
 * objects, dispatches calls to them, and records which connection holds
 * which reference so that a connection's references die with it.
 *
 * @module
 */

import { type Address, formatAddress } from "../wire/address.ts";
import { deadline, settlesWithin } from "../_async.ts";
import { type AuthKey, importAuthkey, serverHandshake } from "../wire/handshake.ts";
import {
  Codec,
  type CodecPeer,
  DecodeError,
  MAX_DEPTH,
  MAX_LENGTH,
  Reference,
  UnsendableError,
  type WireToken,
} from "../wire/codec.ts";
import { type Caller, runAs, SERVER_CALLER } from "./caller.ts";
import { noteCall } from "./_stray.ts";
import { RemoteError } from "../errors.ts";
import { DEFAULT_MAX_FRAME, FrameError, FrameReader, FrameWriter } from "../wire/framing.ts";
import { ObjectTable, type SharedEntry } from "./object_table.ts";
import { explainDenial } from "./permissions.ts";
import {
  ControlMethod,
  GET_VALUE,
  parseRequest,
  peekMessageId,
  Reply,
  type ReplyKind,
  type Request,
  SERVER_ID,
} from "../wire/protocol.ts";
import { BaseProxy, createProxy, type ProxyChannel, type ProxyClass } from "../client/proxy.ts";
import { publicMethods, type Registration } from "../client/registry.ts";
import {
  type Acceptor,
  closeUnixListener,
  listen,
  type SocketIdentity,
  type TlsOptions,
} from "../wire/transport.ts";

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
 * What the server accepts from any peer. A peer that goes beyond them is
 * told why and disconnected; nothing it sent reaches a shared object.
 *
 * @example
 * ```ts
 * import { SyncManager, type ServerLimits } from "@multiprocess/managers";
 *
 * const limits: ServerLimits = { maxFrameSize: 1 << 20, maxConnections: 64 };
 * const manager = new SyncManager({ limits });
 * console.log(manager.state); // "initial"
 * ```
 */
export interface ServerLimits {
  /** Largest frame, in bytes; a larger declared length is refused before any allocation (default 64 MiB). */
  readonly maxFrameSize?: number;
  /** Most authenticated connections at once; more are closed at once (default 1024). */
  readonly maxConnections?: number;
  /**
   * Peers still in the authentication handshake (default 64). Past it, a
   * newcomer makes the oldest one drop if it has waited 100 ms or more (a
   * burst of real clients is not cut short), and at 8 times it, whatever
   * its age: a flood of peers that never authenticate cannot lock a key
   * holder out, nor use more than that many descriptors.
   */
  readonly maxPending?: number;
  /** Most unclaimed `proxyToString()` tickets per connection (default 1024). */
  readonly maxTickets?: number;
  /** Longest time, in ms, a ticket keeps its object alive unclaimed (default 60000). */
  readonly ticketTtl?: number;
  /** Deepest nesting of a received value (default 512). */
  readonly maxDepth?: number;
  /** Most items in one received array, object, Map or Set (default 4,194,304). */
  readonly maxLength?: number;
}

const LIMITS = [
  "maxFrameSize",
  "maxConnections",
  "maxPending",
  "maxDepth",
  "maxLength",
  "maxTickets",
  "ticketTtl",
];

/** Checks limits given by a user. */
export function checkLimits(limits: unknown): ServerLimits | undefined {
  if (limits === undefined) return undefined;
  if (typeof limits !== "object" || limits === null) {
    throw new TypeError("limits must be an object such as { maxFrameSize: 1048576 }");
  }
  for (const [name, value] of Object.entries(limits)) {
    if (!LIMITS.includes(name)) {
      throw new TypeError(`Unknown limit '${name}'`);
    }
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw new RangeError(`Limit '${name}' must be a positive integer, got ${String(value)}`);
    }
  }
  return limits as ServerLimits;
}

type Method = (this: unknown, ...args: unknown[]) => unknown;

/** One object for every unregistered typeid, so their objects share a kind. */
const NO_METHOD_TYPEIDS: Readonly<Record<string, string>> = Object.freeze({});

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
  readonly #registry: ReadonlyMap<string, Registration>;
  readonly #table = new ObjectTable();
  readonly #key: Promise<AuthKey>;
  readonly #handshakeTimeout: number;
  readonly #limits: Required<ServerLimits>;
  readonly #socketDir: string | undefined;
  readonly #connections = new Set<ServerConnection>();
  /** Peers in the handshake, oldest first, with when they came. */
  readonly #handshaking = new Map<Deno.Conn, number>();
  readonly #tickets = new Map<
    string,
    { id: number; timer: ReturnType<typeof setTimeout>; owner: TicketOwner }
  >();
  readonly #localProxies = new WeakSet<BaseProxy>();
  readonly #local: ProxyChannel;
  readonly #stopped = Promise.withResolvers<void>();
  #serving = false;
  #stopping = false;
  #callerIds = 0;
  /** Server-side proxies not yet released. */
  #localLive = 0;
  /** Peers welcomed in the handshake and not yet counted as connections. */
  #welcomed = 0;
  #collecting: Promise<void> | undefined;
  #scheduled: Promise<void> | undefined;
  #collectableAt = 0;

  /** Listens on `options.address` at once. */
  constructor(options: ServerOptions) {
    this.#registry = options.registry;
    this.#handshakeTimeout = options.handshakeTimeout ?? 5000;
    const limits = checkLimits(options.limits) ?? {};
    this.#limits = {
      maxFrameSize: limits.maxFrameSize ?? DEFAULT_MAX_FRAME,
      maxConnections: limits.maxConnections ?? 1024,
      maxPending: limits.maxPending ?? 64,
      maxTickets: limits.maxTickets ?? 1024,
      ticketTtl: limits.ticketTtl ?? 60_000,
      maxDepth: limits.maxDepth ?? MAX_DEPTH,
      maxLength: limits.maxLength ?? MAX_LENGTH,
    };
    this.#socketDir = options.socketDir;
    this.#key = importAuthkey(options.authkey);
    this.#key.catch(() => {});
    const bound = listen(options.address, options.tls, options.tlsRelayPort);
    this.#listener = bound.listener;
    this.address = bound.address;
    this.#socketIdentity = bound.identity;
    boundSockets.set(this, bound.identity);
    this.#local = this.#localChannel();
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
      for (const conn of this.#handshaking.keys()) closeQuietly(conn);
      for (const connection of [...this.#connections]) connection.close();
      for (const { timer } of this.#tickets.values()) clearTimeout(timer);
      this.#tickets.clear();
      this.#table.clear();
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
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#stopping || error instanceof Deno.errors.BadResource) break;
        // Out of descriptors and the like: keep serving the clients we have.
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      this.#admit(conn);
    }
    // Let connections see their close before anyone waiting on us resumes.
    await Promise.all([...this.#connections].map((c) => c.done));
    this.#stopped.resolve();
  }

  async #admit(conn: Deno.Conn): Promise<void> {
    if (this.#connections.size >= this.#limits.maxConnections) {
      // Nothing is said to a peer that has not authenticated.
      closeQuietly(conn);
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
        closeQuietly(oldest);
      }
    }
    if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
    const reader = new FrameReader(conn);
    this.#handshaking.set(conn, performance.now());
    const cancelDeadline = deadline(this.#handshakeTimeout, () => closeQuietly(conn));
    let reserved = false;
    const admit = (): boolean => {
      // Counted from the welcome on, so a burst of key holders cannot pass the limit.
      if (this.#connections.size + this.#welcomed >= this.#limits.maxConnections) return false;
      this.#welcomed++;
      reserved = true;
      return true;
    };
    try {
      await serverHandshake(conn, reader, await this.#key, admit);
    } catch {
      if (reserved) this.#welcomed--;
      // Nothing is decoded and nothing but #FAILURE# is sent to a peer that failed.
      closeQuietly(conn);
      return;
    } finally {
      cancelDeadline();
      this.#handshaking.delete(conn);
    }
    this.#welcomed--;
    if (this.#stopping) {
      closeQuietly(conn);
      return;
    }
    const connection = new ServerConnection(
      this.#core(),
      conn,
      reader,
      this.#limits,
      ++this.#callerIds,
    );
    this.#connections.add(connection);
    await connection.done;
    this.#connections.delete(connection);
  }

  /** The parts of the server its connections use. */
  #core(): ServerCore {
    return {
      table: this.#table,
      create: (typeid, args) => this.#create(typeid, args),
      resolve: (entry, method) => this.#resolve(entry, method),
      shareResult: (entry, method, value) => this.#shareResult(entry, method, value),
      encodeLocal: (value) => this.#encodeLocal(value),
      decodeLocal: (entry) => this.#proxyFor(entry),
      numberOfObjects: () => this.#numberOfObjects(),
      debugInfo: () => this.#debugInfo(),
      shutdown: () => this.shutdown(),
      share: (entry, ttl, owner) => this.#share(entry, ttl, owner),
      claim: (ticket) => this.#claim(ticket),
    };
  }

  /** Makes a new object of `typeid`; throws RemoteError on any failure. */
  #create(typeid: string, args: unknown[]): SharedEntry | Promise<SharedEntry> {
    if (typeof typeid !== "string") {
      throw new RemoteError("create needs a typeid string as its first argument");
    }
    const registration = this.#registry.get(typeid);
    if (registration === undefined) {
      const known = [...this.#registry.keys()].join(", ") || "none";
      throw new RemoteError(
        `Unknown typeid '${typeid}': it is not registered with the server's manager (registered: ${known})`,
      );
    }
    if (registration.callable === undefined) {
      throw new RemoteError(
        `Typeid '${typeid}' has no callable on the server: it was registered without one`,
      );
    }
    let made: unknown;
    try {
      made = Reflect.apply(registration.callable, undefined, args);
    } catch (error) {
      throw creationFailed(typeid, error);
    }
    if (isThenable(made)) {
      return Promise.resolve(made).then(
        (object) => this.#add(typeid, object),
        (error) => {
          throw creationFailed(typeid, error);
        },
      );
    }
    return this.#add(typeid, made);
  }

  /** Shares `object` as `typeid`, exposed as its registration says (or its public methods). */
  #add(typeid: string, object: unknown): SharedEntry {
    const registration = this.#registry.get(typeid);
    const exposed = registration?.exposed ?? publicMethods(object);
    const methodToTypeid = registration?.methodToTypeid ?? NO_METHOD_TYPEIDS;
    const all = [...new Set([...exposed, ...Object.keys(methodToTypeid)])];
    return this.#table.add(typeid, object, all, methodToTypeid);
  }

  /** The function to call for `method` of `entry`, or why there is none. */
  #resolve(entry: SharedEntry, method: string): Method | string {
    if (method === GET_VALUE) return returnObject;
    if (!entry.exposed.has(method)) {
      return `Method '${method}' of '${entry.typeid}' is not exposed (exposed: ${
        entry.exposedList.join(", ") || "none"
      })`;
    }
    const fn = (entry.object as Record<string, unknown> | null)?.[method];
    if (typeof fn !== "function") {
      return `'${entry.typeid}' object has no method '${method}'`;
    }
    return fn as Method;
  }

  /** A method's result, shared as a new object when `methodToTypeid` says so. */
  #shareResult(entry: SharedEntry, method: string, value: unknown): unknown {
    const typeid = entry.methodToTypeid[method];
    if (typeid === undefined) return value;
    return this.#add(typeid, value);
  }

  #encodeLocal(value: BaseProxy | Reference): SharedEntry {
    const id = value instanceof Reference ? value.id : value._token.id;
    if (value instanceof BaseProxy) {
      if (!this.#localProxies.has(value)) {
        throw new UnsendableError("a proxy of another manager");
      }
      if (value._released) throw new UnsendableError("a released proxy");
    }
    const entry = this.#table.get(id);
    if (entry === undefined) throw new UnsendableError(`a reference to released object ${id}`);
    return entry;
  }

  /** A server-side proxy holding its own reference to `entry`. */
  #proxyFor(entry: SharedEntry): BaseProxy {
    this.#table.incref(entry);
    this.#localLive++;
    const token = { typeid: entry.typeid, address: this.address, id: entry.id };
    const proxy = createProxy(token, entry.exposedList, this.#local);
    this.#localProxies.add(proxy);
    return proxy;
  }

  /** Proxies used inside the server call their referents directly. */
  #localChannel(): ProxyChannel {
    return {
      address: this.address,
      call: async (id, method, args) => {
        const entry = this.#table.get(id);
        if (entry === undefined) {
          throw new RemoteError(`Object ${id} does not exist: it was released`);
        }
        const fn = this.#resolve(entry, method);
        if (typeof fn === "string") throw new RemoteError(fn);
        // Server-side proxies act for the server, not for the client whose call led here.
        const value = await runAs(SERVER_CALLER, () => Reflect.apply(fn, entry.object, args));
        const shared = this.#shareResult(entry, method, value);
        return shared === value ? value : this.#proxyFor(shared as SharedEntry);
      },
      release: (id) => {
        this.#localLive--;
        this.#table.decref(id);
      },
      proxyType: (typeid): ProxyClass | undefined => this.#registry.get(typeid)?.proxytype,
      referent: (id) => this.#table.get(id)?.object,
    };
  }

  /**
   * The number of shared objects. Server-side proxies (a proxy stored in a
   * shared object) release their referent when collected, so while any
   * exist the count is taken after a forced garbage collection that starts
   * after the request came. Forced collections are spaced so that they take
   * at most a quarter of the server's time: a client asking in a loop waits
   * for its own answers, and everyone else keeps being served.
   */
  async #numberOfObjects(): Promise<number> {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc === undefined || this.#localLive === 0) return this.#table.size;
    await this.#nextCollection(gc);
    return this.#table.size;
  }

  /** A forced collection that has not started yet; requests that come now share it. */
  #nextCollection(gc: () => void): Promise<void> {
    this.#scheduled ??= (async () => {
      await this.#collecting;
      const wait = this.#collectableAt - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      // From here on, requests wait for the one after this.
      this.#scheduled = undefined;
      const started = performance.now();
      this.#collecting = (async () => {
        let previous = -1;
        for (let round = 0; round < 10 && previous !== this.#table.size; round++) {
          previous = this.#table.size;
          gc();
          await new Promise((resolve) => setTimeout(resolve, 0));
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      })();
      await this.#collecting;
      const took = performance.now() - started;
      this.#collectableAt = performance.now() + 3 * took;
    })();
    return this.#scheduled;
  }

  async #debugInfo(): Promise<string> {
    await this.#numberOfObjects();
    return this.#table.values().map((entry) => {
      const preview = Deno.inspect(entry.object, { depth: 1, compact: true, breakLength: Infinity })
        .slice(0, 75);
      return `  ${entry.id}:       refcount=${entry.refs}  typeid=${entry.typeid}\n    ${preview}`;
    }).join("\n");
  }

  /**
   * A ticket that holds a reference to `entry` until claimed or until it
   * expires: after `ttl` ms, and never later than `limits.ticketTtl`.
   * Each connection may hold `limits.maxTickets` unclaimed tickets.
   */
  #share(entry: SharedEntry, ttl: number, owner: TicketOwner): string {
    if (typeof ttl !== "number" || !(ttl > 0)) {
      throw new RemoteError("share needs a positive time to live in milliseconds");
    }
    if (owner.tickets >= this.#limits.maxTickets) {
      throw new RemoteError(
        `This connection already holds ${owner.tickets} unclaimed proxy tickets, the limit (limits.maxTickets): claim some or let them expire`,
      );
    }
    const ticket = Array.from(crypto.getRandomValues(new Uint8Array(16)), hex).join("");
    this.#table.incref(entry);
    owner.tickets++;
    const timer = setTimeout(() => {
      this.#tickets.delete(ticket);
      owner.tickets--;
      this.#table.decref(entry.id);
    }, Math.min(ttl, this.#limits.ticketTtl));
    Deno.unrefTimer(timer);
    this.#tickets.set(ticket, { id: entry.id, timer, owner });
    return ticket;
  }

  /** Takes a ticket's reference; the caller must release it after handing it on. */
  #claim(ticket: unknown): SharedEntry {
    const held = typeof ticket === "string" ? this.#tickets.get(ticket) : undefined;
    if (held === undefined) {
      throw new RemoteError(
        "Proxy transfer ticket not found: it was claimed already, expired, or belongs to another server",
      );
    }
    this.#tickets.delete(ticket as string);
    clearTimeout(held.timer);
    held.owner.tickets--;
    return this.#table.get(held.id)!;
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

/** Counts the unclaimed tickets one connection made. */
interface TicketOwner {
  tickets: number;
}

/** A peer in the handshake this long (ms) may be dropped for a newcomer. */
const EVICT_AFTER = 100;
/** Past this many times `maxPending`, the oldest peer in the handshake drops whatever its age. */
const BURST = 8;

/** What a connection needs from its server. */
interface ServerCore {
  readonly table: ObjectTable;
  create(typeid: string, args: unknown[]): SharedEntry | Promise<SharedEntry>;
  resolve(entry: SharedEntry, method: string): Method | string;
  shareResult(entry: SharedEntry, method: string, value: unknown): unknown;
  encodeLocal(value: BaseProxy | Reference): SharedEntry;
  decodeLocal(entry: SharedEntry): BaseProxy;
  numberOfObjects(): Promise<number>;
  debugInfo(): Promise<string>;
  shutdown(): Promise<void>;
  share(entry: SharedEntry, ttl: number, owner: TicketOwner): string;
  claim(ticket: unknown): SharedEntry;
}

/** One authenticated client connection and the references it holds. */
class ServerConnection implements CodecPeer {
  readonly done: Promise<void>;
  readonly #core: ServerCore;
  readonly #conn: Deno.Conn;
  readonly #reader: FrameReader;
  readonly #writer: FrameWriter;
  readonly #codec: Codec;
  readonly #limits: Required<ServerLimits>;
  /** Object id → references this connection holds. */
  readonly #refs = new Map<number, number>();
  readonly #aborter = new AbortController();
  readonly #caller: Caller;
  readonly #tickets: TicketOwner = { tickets: 0 };
  #decodeProblem: string | undefined;
  #closed = false;

  constructor(
    core: ServerCore,
    conn: Deno.Conn,
    reader: FrameReader,
    limits: Required<ServerLimits>,
    callerId: number,
  ) {
    this.#caller = Object.freeze({ id: callerId, signal: this.#aborter.signal });
    this.#core = core;
    this.#conn = conn;
    this.#reader = reader;
    this.#limits = limits;
    this.#writer = new FrameWriter(conn, () => this.close(), (frame) => this.#codec.recycle(frame));
    this.#codec = new Codec(this, limits);
    this.done = this.#run();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.#conn);
    // Locks, permits and waits held for this client let go first, then its references.
    this.#aborter.abort(new Error("The client's connection closed"));
    for (const [id, count] of this.#refs) this.#core.table.decref(id, count);
    this.#refs.clear();
  }

  async #run(): Promise<void> {
    try {
      const max = this.#limits.maxFrameSize;
      while (!this.#closed) {
        const payload = await this.#reader.read(max);
        if (payload === null) break;
        this.#receive(payload);
        // Every request this read brought in is handled now: the replies share one write.
        let next: Uint8Array | undefined;
        while (!this.#closed && (next = this.#reader.takeBuffered(max)) !== undefined) {
          this.#receive(next);
        }
      }
    } catch (error) {
      // A broken or excessive message ends this client only; it is told why.
      if (error instanceof FrameError || error instanceof DecodeError) {
        await this.#notice(error.message);
      }
    } finally {
      this.close();
    }
  }

  /** The last frame a misbehaving client gets: request id 0, a Failure saying why. */
  async #notice(message: string): Promise<void> {
    if (this.#closed) return;
    this.#writer.send(this.#codec.encode([0, Reply.Failure, [message, undefined]]));
    await settlesWithin(this.#writer.flush(), 1000);
  }

  #receive(payload: Uint8Array): void {
    this.#decodeProblem = undefined;
    let decoded: unknown;
    try {
      decoded = this.#codec.decode(payload);
    } catch (error) {
      // A whole frame whose content is refused fails its own call; the
      // connection and its objects stay. Without an id to answer, it ends.
      const requestId = peekMessageId(payload);
      if (!(error instanceof DecodeError) || requestId === undefined || requestId === 0) {
        throw error;
      }
      return this.#reply(requestId, Reply.Failure, [
        `The server refused the request: ${error.message.replace(/^Refused a message: /, "")}`,
        undefined,
      ]);
    }
    const request = parseRequest(decoded);
    if (typeof request === "string") {
      const requestId = peekMessageId(payload);
      if (requestId === undefined || requestId === 0) {
        throw new DecodeError(`Malformed request: ${request}`);
      }
      return this.#reply(requestId, Reply.Failure, [
        `The server refused a malformed request: ${request}`,
        undefined,
      ]);
    }
    if (this.#decodeProblem !== undefined) {
      return this.#reply(request.requestId, Reply.Failure, [this.#decodeProblem, undefined]);
    }
    if (request.objectId === SERVER_ID) {
      this.#control(request);
      return;
    }
    this.#call(request);
  }

  #call({ requestId, objectId, method, args }: Request): void {
    const core = this.#core;
    const entry = core.table.get(objectId);
    if (entry === undefined || !this.#refs.has(objectId)) {
      return this.#reply(requestId, Reply.Failure, [
        `Object ${objectId} does not exist or this connection holds no reference to it (was its proxy released?)`,
        undefined,
      ]);
    }
    const fn = core.resolve(entry, method);
    if (typeof fn === "string") return this.#reply(requestId, Reply.Failure, [fn, undefined]);
    noteCall(entry.typeid, method);
    let result: unknown;
    try {
      result = runAs(this.#caller, () => Reflect.apply(fn, entry.object, args));
    } catch (error) {
      return this.#reply(requestId, Reply.Throw, error, entry, method);
    }
    if (isThenable(result)) {
      Promise.resolve(result).then(
        (value) => this.#returnValue(requestId, entry, method, value),
        (error) => this.#reply(requestId, Reply.Throw, error, entry, method),
      );
    } else {
      this.#returnValue(requestId, entry, method, result);
    }
  }

  #returnValue(requestId: number, entry: SharedEntry, method: string, value: unknown): void {
    const shared = this.#core.shareResult(entry, method, value);
    if (shared === value) return this.#reply(requestId, Reply.Return, value, entry, method);
    const created = shared as SharedEntry;
    this.#reply(requestId, Reply.Return, new Reference(created.id), entry, method);
    this.#core.table.dropIfUnreferenced(created.id);
  }

  async #control({ requestId, method, args }: Request): Promise<void> {
    const core = this.#core;
    try {
      switch (method) {
        case ControlMethod.release:
          for (const id of args) if (typeof id === "number") this.#dropRef(id);
          if (requestId !== 0) this.#reply(requestId, Reply.Return, null);
          return;
        case ControlMethod.create: {
          const [typeid, ...rest] = args;
          const entry = await runAs(this.#caller, () => core.create(typeid as string, rest));
          this.#reply(requestId, Reply.Return, new Reference(entry.id));
          core.table.dropIfUnreferenced(entry.id);
          return;
        }
        case ControlMethod.ping:
          return this.#reply(requestId, Reply.Return, null);
        case ControlMethod.numberOfObjects:
          return this.#reply(requestId, Reply.Return, await core.numberOfObjects());
        case ControlMethod.debugInfo:
          return this.#reply(requestId, Reply.Return, await core.debugInfo());
        case ControlMethod.share: {
          const [id, ttl] = args;
          const entry = typeof id === "number" && this.#refs.has(id)
            ? core.table.get(id)
            : undefined;
          if (entry === undefined) {
            throw new RemoteError(
              `Cannot share object ${String(id)}: this connection holds no reference to it`,
            );
          }
          return this.#reply(
            requestId,
            Reply.Return,
            core.share(entry, ttl as number, this.#tickets),
          );
        }
        case ControlMethod.claim: {
          const entry = core.claim(args[0]);
          this.#reply(requestId, Reply.Return, new Reference(entry.id));
          core.table.decref(entry.id);
          return;
        }
        case ControlMethod.shutdown:
          this.#reply(requestId, Reply.Return, null);
          await this.#writer.flush();
          await core.shutdown();
          return;
        default:
          throw new RemoteError(`Unknown server request '${method}'`);
      }
    } catch (error) {
      if (error instanceof RemoteError) {
        this.#reply(requestId, Reply.Failure, [error.message, error.cause]);
      } else {
        this.#reply(requestId, Reply.Throw, error);
      }
    }
  }

  /** Sends a reply; a value that cannot be encoded becomes a Failure saying why. */
  #reply(
    requestId: number,
    kind: ReplyKind,
    value: unknown,
    entry?: SharedEntry,
    method?: string,
  ): void {
    if (requestId === 0 || this.#closed) return;
    if (kind === Reply.Throw) value = explainDenial(value);
    let frame: Uint8Array;
    try {
      frame = this.#codec.encode([requestId, kind, value]);
    } catch (error) {
      const what = kind === Reply.Throw ? "the error thrown by" : "the result of";
      const call = entry === undefined ? "the request" : `${entry.typeid}.${method}()`;
      const where = error instanceof UnsendableError
        ? `${error.message} at ${error.describePath("value").replace(/^value\[2\]/, "value")}`
        : String(error);
      frame = this.#codec.encode([
        requestId,
        Reply.Failure,
        [`Cannot send ${what} ${call}: ${where}`, undefined],
      ]);
    }
    this.#writer.send(frame);
  }

  #addRef(entry: SharedEntry): void {
    this.#core.table.incref(entry);
    this.#refs.set(entry.id, (this.#refs.get(entry.id) ?? 0) + 1);
  }

  #dropRef(id: number): void {
    const held = this.#refs.get(id);
    if (held === undefined) return;
    if (held === 1) this.#refs.delete(id);
    else this.#refs.set(id, held - 1);
    this.#core.table.decref(id);
  }

  encodeToken(value: BaseProxy | Reference): WireToken {
    const entry = this.#core.encodeLocal(value);
    this.#addRef(entry);
    return [entry.typeid, entry.id, entry.exposedList];
  }

  decodeToken([typeid, id]: WireToken): unknown {
    const entry = this.#core.table.get(id);
    if (entry === undefined || entry.typeid !== typeid || !this.#refs.has(id)) {
      this.#decodeProblem ??=
        `The request carries a proxy of object ${id} ('${typeid}'), which this connection holds no reference to (was it released?)`;
      return undefined;
    }
    return this.#core.decodeLocal(entry);
  }
}

/**
 * A shared object may define this method to say what `_getvalue()` copies
 * (SyncManager's dict gives a Map, its list an array); otherwise the
 * object itself is sent.
 */
export const GET_VALUE_HOOK: unique symbol = Symbol.for("@multiprocess/managers.getvalue");

function returnObject(this: unknown): unknown {
  const hook = (this as { [GET_VALUE_HOOK]?: unknown } | null)?.[GET_VALUE_HOOK];
  return typeof hook === "function" ? hook.call(this) : this;
}

function creationFailed(typeid: string, error: unknown): RemoteError {
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new RemoteError(`Creating '${typeid}' failed: ${reason}`, { cause: error });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}
