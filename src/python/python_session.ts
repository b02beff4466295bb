/**
 * A client's link to a CPython manager server (`serializer: "pickle"`),
 * in CPython's own protocol: each control request (`create`, `decref`,
 * `number_of_objects`, ...) on a connection of its own, and method calls
 * on connections that said `accept_connection` first, one request in
 * flight each. Calls that overlap get connections of their own, up to a
 * pool of {@linkcode MAX_CALL_CONNECTIONS}; finished ones are reused.
 *
 * Proxies are built as for our own server, from the names the CPython
 * server reports. Calls chained to a result that has not arrived yet wait
 * for it here (CPython's protocol cannot pipeline).
 *
 * Near 470 lines: the session (the face our proxies call) and its pool of
 * CPython connections share one state, the calls in flight and the
 * connections they hold; the call shapes CPython expects are
 * `python_calls.ts`.
 *
 * @module
 */

import { type Address, formatAddress } from "../wire/address.ts";
import { type AuthKey, clientHandshake, importAuthkey } from "../wire/handshake.ts";
import { Connection, type MessageHandler } from "../wire/connection.ts";
import { type CodecPeer, type DecodeError, MAX_DEPTH, MAX_LENGTH } from "../wire/codec.ts";
import { DEFAULT_MAX_FRAME } from "../wire/framing.ts";
import { PickleCodec } from "./pickle_codec.ts";
import { XmlrpcCodec } from "./xmlrpc.ts";
import { PyProxy, PyToken } from "./python_values.ts";
import { tuple } from "../wire/python_data.ts";
import { connect } from "../wire/transport.ts";
import { ConnectionClosedError, RemoteError } from "../errors.ts";
import { ControlMethod, SERVER_ID } from "../wire/protocol.ts";
import { onDeadline } from "../_async.ts";
import type { BaseProxy, ProxyClass } from "../objects/proxy.ts";
import { createProxy } from "../objects/auto_proxy.ts";
import type { KeptRequest, PipelineChannel } from "../objects/pipeline.ts";
import { pythonCall, pythonCreateCall } from "./python_calls.ts";

/** Calls in flight at once on one session; more wait for a connection. */
export const MAX_CALL_CONNECTIONS = 16;

/**
 * Keyword arguments for a CPython method, as the last argument of a call;
 * made by {@linkcode kwargs}.
 *
 * @example
 * ```ts
 * import { kwargs, PythonKeywords } from "@multiprocess/managers";
 *
 * console.log(kwargs({ timeout: 1 }) instanceof PythonKeywords); // true
 * ```
 */
export class PythonKeywords {
  /** The keywords. */
  readonly keywords: Readonly<Record<string, unknown>>;
  /** Wraps `keywords`. */
  constructor(keywords: Readonly<Record<string, unknown>>) {
    this.keywords = keywords;
  }
}

/**
 * Keyword arguments for a method of an object on a CPython server: pass as
 * the last argument. `q.get(kwargs({ timeout: 0.5 }))` is Python's
 * `q.get(timeout=0.5)`.
 *
 * @example
 * ```ts
 * import { kwargs } from "@multiprocess/managers";
 *
 * const options = kwargs({ timeout: 0.5 });
 * console.log(options.keywords.timeout); // 0.5
 * ```
 */
export function kwargs(keywords: Readonly<Record<string, unknown>>): PythonKeywords {
  return new PythonKeywords(keywords);
}

/** What a pickle session needs to know. */
export interface PythonSessionOptions {
  readonly address: Address;
  readonly authkey: Uint8Array;
  readonly handshakeTimeout?: number;
  /** Accept and answer CPython 3.11's HMAC-MD5 handshake. */
  readonly legacyAuth?: boolean;
  /** CPython's serializer on that server: `"pickle"` (the default) or `"xmlrpclib"`. */
  readonly serializer?: "pickle" | "xmlrpclib";
  /** Proxy class for a typeid (a `SyncManager`'s typed proxies), or undefined for an auto proxy. */
  readonly proxyType?: (typeid: string) => ProxyClass | undefined;
  /** More Python types whose values travel (`"module.name"`, see `ManagerOptions`). */
  readonly pickleGlobals?: readonly string[];
}

/** A connection with at most one request in flight. */
class Link implements MessageHandler {
  readonly connection: Connection;
  #pending: PromiseWithResolvers<unknown> | undefined;
  readonly ended: Promise<void>;

  constructor(socket: Deno.Conn, xmlrpc: boolean, globals: ReadonlySet<string>) {
    const limits = { maxDepth: MAX_DEPTH, maxLength: MAX_LENGTH, maxFrameSize: DEFAULT_MAX_FRAME };
    this.connection = new Connection(socket, NO_TOKENS, limits, () => {});
    this.connection.useCodec(
      // A Deno client reads a CPython server's values as it reads ours (a float a number...).
      xmlrpc ? new XmlrpcCodec(limits, true) : new PickleCodec(limits, {}, globals, true),
    );
    this.ended = Promise.resolve();
  }

  start(): void {
    (this as { ended: Promise<void> }).ended = this.connection.run(this).then((end) => {
      const reason = end.kind === "error" ? end.error : undefined;
      this.#pending?.reject(
        new ConnectionClosedError("The CPython manager server closed the connection", {
          cause: reason,
        }),
      );
      this.#pending = undefined;
      this.connection.close();
    });
  }

  /** Sends one request; the connection keeps the process alive until its reply. */
  request(value: unknown): Promise<unknown> {
    this.#pending = Promise.withResolvers();
    const { promise } = this.#pending;
    this.connection.setReferenced(true);
    this.connection.send(value);
    return promise;
  }

  message(value: unknown): void {
    const pending = this.#pending;
    this.#pending = undefined;
    this.connection.setReferenced(false);
    pending?.resolve(value);
  }

  refused(error: DecodeError): void {
    const pending = this.#pending;
    this.#pending = undefined;
    this.connection.setReferenced(false);
    pending?.reject(
      new RemoteError(`The reply could not be read: ${error.message}`, { cause: error }),
    );
  }
}

const NO_TOKENS: CodecPeer = {
  encodeToken(): never {
    throw new TypeError("unreachable: a pickle connection has no MessagePack tokens");
  },
  decodeToken(): never {
    throw new TypeError("unreachable: a pickle connection has no MessagePack tokens");
  },
};

/** CPython's names for our control requests. */
const CONTROL_NAMES: Readonly<Record<string, string>> = {
  [ControlMethod.create]: "create",
  [ControlMethod.numberOfObjects]: "number_of_objects",
  [ControlMethod.debugInfo]: "debug_info",
  [ControlMethod.shutdown]: "shutdown",
  [ControlMethod.ping]: "dummy",
};

/** A control request as CPython's `dispatch()` sends it: `(None, name, args, kwds)`. */
function controlRequest(
  name: string,
  args: readonly unknown[],
  keywords: Readonly<Record<string, unknown>> = {},
): unknown[] {
  return tuple([null, name, tuple([...args]), keywords]);
}

/** A session with a CPython manager server. */
export class PythonSession implements PipelineChannel {
  /** The server's address. */
  readonly address: Address;
  readonly #authkey: Uint8Array;
  readonly #key: AuthKey;
  readonly #handshakeTimeout: number;
  readonly #xmlrpc: boolean;
  readonly #pickleGlobals: ReadonlySet<string>;
  readonly #proxyType: (typeid: string) => ProxyClass | undefined;
  /** The typeid of each object this session made a proxy for, for typed calls. */
  readonly #typeids = new Map<number, string>();
  readonly #idle: Link[] = [];
  readonly #links = new Set<Link>();
  readonly #waiting: PromiseWithResolvers<Link>[] = [];
  readonly #kept = new Map<number, Promise<unknown>>();
  #nextKept = 1;
  #closedBy: Error | undefined;
  #expected: Error | undefined;
  readonly #done = Promise.withResolvers<void>();

  /** Connects and checks the authkey with CPython's `dummy` request. */
  static async open(options: PythonSessionOptions): Promise<PythonSession> {
    const session = new PythonSession(
      options,
      await importAuthkey(options.authkey, options.legacyAuth ?? false),
    );
    await session.control(ControlMethod.ping);
    return session;
  }

  private constructor(options: PythonSessionOptions, key: AuthKey) {
    this.address = options.address;
    this.#authkey = options.authkey.slice();
    this.#key = key;
    this.#handshakeTimeout = options.handshakeTimeout ?? 5000;
    this.#xmlrpc = options.serializer === "xmlrpclib";
    this.#pickleGlobals = new Set(options.pickleGlobals ?? []);
    this.#proxyType = options.proxyType ?? (() => undefined);
  }

  /** The authkey (a copy). */
  get authkey(): Uint8Array {
    return this.#authkey.slice();
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closedBy !== undefined;
  }

  /** Resolves once closed. */
  get whenClosed(): Promise<void> {
    return this.#done.promise;
  }

  /** A control request on a connection of its own, as CPython's `dispatch()`. */
  async control(method: string, args: readonly unknown[] = [], keywords = {}): Promise<unknown> {
    const name = CONTROL_NAMES[method];
    if (name === undefined) {
      throw new RemoteError(
        `${method}() is not available with a CPython server (serializer: "pickle")`,
      );
    }
    return await this.#controlRaw(name, args, keywords);
  }

  /** Creates `typeid` on the server; the result is a proxy. */
  callKept(id: number, method: string, args: readonly unknown[]): KeptRequest {
    const requestId = this.#nextKept++;
    const result = id === SERVER_ID && method === ControlMethod.create
      ? this.#create(args)
      : this.call(id, method, args);
    this.#kept.set(requestId, result);
    result.catch(() => {});
    return { requestId, result };
  }

  /** Forgets a kept result. */
  forget(requestId: number): void {
    this.#kept.delete(requestId);
  }

  /** Calls `method` on object `id` (a negative id: the result of a kept request, once it is there). */
  async call(id: number, method: string, args: readonly unknown[]): Promise<unknown> {
    if (id < 0) {
      const kept = this.#kept.get(-id);
      if (kept === undefined) throw new RemoteError(`Request ${-id} was not kept`);
      const proxy = await kept as BaseProxy;
      return await proxy._callmethod(method, args);
    }
    if (this.#closedBy !== undefined) throw this.#closedBy;
    const last = args.at(-1);
    let keywords = last instanceof PythonKeywords ? last.keywords : {};
    let positional = last instanceof PythonKeywords ? args.slice(0, -1) : args;
    // A typed proxy's call of a standard type, in CPython's names and units.
    const typeid = this.#typeids.get(id);
    const typed = typeid === undefined || last instanceof PythonKeywords
      ? undefined
      : pythonCall(typeid, method, positional);
    if (typed !== undefined) {
      method = typed.method;
      positional = typed.args;
      keywords = typed.kwds ?? {};
    }
    const link = await this.#callLink();
    let reply: unknown;
    try {
      reply = await link.request(
        tuple([id.toString(16), method, tuple([...positional]), keywords]),
      );
    } catch (error) {
      this.#links.delete(link);
      link.connection.close();
      this.#wakeWaiter();
      throw error;
    }
    this.#giveBack(link);
    if (typed === undefined) return this.#interpret(reply);
    let value: unknown;
    try {
      value = this.#interpret(reply);
    } catch (error) {
      if (typed.failure === undefined) throw error;
      return typed.failure(error);
    }
    return typed.reply === undefined ? value : typed.reply(value);
  }

  /** Drops this process's reference to object `id` (a `decref`); never throws. */
  release(id: number): void {
    if (this.#closedBy !== undefined) return;
    this.#controlRaw("decref", [id.toString(16)]).catch(() => {});
  }

  /** A typed proxy for a standard typeid (its calls are translated), else an auto proxy. */
  proxyType(typeid: string): ProxyClass | undefined {
    return this.#proxyType(typeid);
  }

  /** Not known ahead: the server reports each object's names. */
  exposedOf(_typeid: string): readonly string[] | undefined {
    return undefined;
  }

  /** Remembered for `shutdown()`: what calls say once the session is closed. */
  expectClose(reason: Error): void {
    this.#expected = reason;
  }

  /** Closes every connection; calls in flight reject. */
  close(reason?: Error): Promise<void> {
    this.#closedBy ??= reason ?? this.#expected ??
      new ConnectionClosedError(
        `Connection to manager at ${formatAddress(this.address)} was closed by this process`,
      );
    for (const link of this.#links) link.connection.close();
    this.#links.clear();
    this.#idle.length = 0;
    this.#done.resolve();
    return Promise.resolve();
  }

  /** Turns a reply tuple into a value, or throws what it reports. */
  #interpret(reply: unknown): unknown {
    if (!Array.isArray(reply) || reply.length !== 2 || typeof reply[0] !== "string") {
      throw new RemoteError("The CPython manager server sent a malformed reply");
    }
    const [kind, payload] = reply as [string, unknown];
    switch (kind) {
      case "#RETURN":
        return this.#proxiesIn(payload);
      case "#ERROR":
        if (payload instanceof Error) throw payload;
        throw new RemoteError(
          this.#xmlrpc
            ? 'The CPython server raised an exception, which XML-RPC cannot carry (CPython\'s own clients fail on it too): use serializer "pickle" to get it'
            : `The CPython server raised ${String(payload)}`,
        );
      case "#TRACEBACK":
        throw new RemoteError(String(payload));
      case "#UNSERIALIZABLE":
        throw new RemoteError(`Unserializable message: ${String(payload)}`);
      case "#PROXY": {
        const [exposed, token] = Array.isArray(payload) ? payload : [];
        if (!(token instanceof PyToken) || !Array.isArray(exposed)) {
          throw new RemoteError("The CPython manager server sent a malformed #PROXY reply");
        }
        return this.#proxy(token.typeid, token.id, exposed as string[]);
      }
      default:
        throw new RemoteError(`The CPython manager server sent an unknown reply kind ${kind}`);
    }
  }

  /** Proxies inside a returned value (a CPython proxy pickled in a list, say) become ours. */
  #proxiesIn(value: unknown): unknown {
    if (value instanceof PyProxy) {
      // CPython's RebuildProxy increfs when it unpickles; so do we.
      const proxy = this.#proxy(value.token.typeid, value.token.id, value.exposed ?? []);
      this.#controlRaw("incref", [value.token.id]).catch(() => {});
      return proxy;
    }
    if (Array.isArray(value)) return value.map((item) => this.#proxiesIn(item));
    return value;
  }

  async #create(args: readonly unknown[]): Promise<unknown> {
    const [typeid, ...rest] = args;
    const last = rest.at(-1);
    const keywords = last instanceof PythonKeywords ? last.keywords : {};
    const positional = last instanceof PythonKeywords ? rest.slice(0, -1) : rest;
    const call = last instanceof PythonKeywords
      ? { args: positional, kwds: keywords }
      : pythonCreateCall(String(typeid), positional);
    const reply = await this.control(ControlMethod.create, [typeid, ...call.args], call.kwds);
    const [ident, exposed] = Array.isArray(reply) ? reply : [];
    if (typeof ident !== "string" || !Array.isArray(exposed)) {
      throw new RemoteError("The CPython manager server sent a malformed reply to create");
    }
    // The server counted one reference for this creation: the proxy holds it.
    return this.#proxy(String(typeid), ident, exposed as string[]);
  }

  #proxy(typeid: string, ident: string, exposed: readonly string[]): BaseProxy {
    const id = parseInt(ident, 16);
    if (!Number.isSafeInteger(id)) throw new RemoteError(`Unusable object id '${ident}'`);
    this.#typeids.set(id, typeid);
    return createProxy({ typeid, address: this.address, id }, exposed, this);
  }

  /** A control request by CPython's name, on a connection of its own, as CPython's `dispatch()`. */
  async #controlRaw(
    name: string,
    args: readonly unknown[],
    keywords: Readonly<Record<string, unknown>> = {},
  ): Promise<unknown> {
    const link = await this.#open();
    try {
      return this.#interpret(await link.request(controlRequest(name, args, keywords)));
    } finally {
      link.connection.close();
      this.#links.delete(link);
    }
  }

  /** A new authenticated connection. */
  async #open(): Promise<Link> {
    if (this.#closedBy !== undefined) throw this.#closedBy;
    const socket = await connect(this.address);
    const link = new Link(socket, this.#xmlrpc, this.#pickleGlobals);
    this.#links.add(link);
    const cancel = onDeadline(this.#handshakeTimeout, () => link.connection.close());
    try {
      await clientHandshake(link.connection, this.#key);
    } catch (error) {
      this.#links.delete(link);
      link.connection.close();
      if (error instanceof Error && error.name === "AuthenticationError") {
        error.message = `Cannot connect to manager at ${
          formatAddress(this.address)
        }: ${error.message}`;
        throw error;
      }
      throw new ConnectionClosedError(
        `Cannot connect to manager at ${formatAddress(this.address)}: the handshake failed`,
        { cause: error },
      );
    } finally {
      cancel();
    }
    link.start();
    return link;
  }

  /** An idle method-call connection, a new one, or the next to come free. */
  async #callLink(): Promise<Link> {
    const idle = this.#idle.pop();
    if (idle !== undefined && !idle.connection.closed) return idle;
    if (this.#links.size >= MAX_CALL_CONNECTIONS) {
      const waiter = Promise.withResolvers<Link>();
      this.#waiting.push(waiter);
      return await waiter.promise;
    }
    return await this.#openCallLink();
  }

  async #openCallLink(): Promise<Link> {
    const link = await this.#open();
    this.#interpret(await link.request(controlRequest("accept_connection", ["Deno"])));
    return link;
  }

  /** A call waiting for a free connection gets a new one (one was lost). */
  #wakeWaiter(): void {
    const waiter = this.#waiting.shift();
    if (waiter !== undefined) this.#openCallLink().then(waiter.resolve, waiter.reject);
  }

  #giveBack(link: Link): void {
    if (link.connection.closed) {
      this.#links.delete(link);
      this.#wakeWaiter();
      return;
    }
    const next = this.#waiting.shift();
    if (next !== undefined) next.resolve(link);
    else this.#idle.push(link);
  }
}
