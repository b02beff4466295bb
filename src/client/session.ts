/**
 * A client's connection to a manager server: one socket, authenticated
 * once, carrying every call and control request of this process to that
 * manager, with any number of calls in flight.
 *
 * Near 500 lines: one class whose parts share the table of requests in
 * flight (sending, replies, cancellation verdicts, releases batched per
 * tick, closing). Its lent callbacks are `lent_callbacks.ts`, its streams
 * `remote_stream.ts`.
 *
 * @module
 */

import { onDeadline } from "../_async.ts";
import { type Address, formatAddress } from "../wire/address.ts";
import { clientHandshake, importAuthkey } from "../wire/handshake.ts";
import {
  type CodecLimits,
  type CodecPeer,
  type DecodeError,
  MAX_DEPTH,
  MAX_LENGTH,
  type ObjectHandle,
  UnsendableError,
  type WireToken,
} from "../wire/codec.ts";
import { Connection, type MessageHandler } from "../wire/connection.ts";
import { ConnectionClosedError, RemoteError } from "../errors.ts";
import { DEFAULT_MAX_FRAME } from "../wire/framing.ts";
import { ControlMethod, parseReply, Reply, RequestFlag, SERVER_ID } from "../wire/protocol.ts";
import type { Callback } from "../wire/callback.ts";
import { BaseProxy, type CallOptions, type ProxyClass } from "../objects/proxy.ts";
import type { KeptRequest, PipelineChannel } from "../objects/pipeline.ts";
import { createProxy } from "../objects/auto_proxy.ts";
import { remoteStream, type StreamChannel } from "./remote_stream.ts";
import { batchBudget } from "../wire/batched_stream.ts";
import { LentCallbacks } from "./lent_callbacks.ts";
import { connect, type TlsOptions } from "../wire/transport.ts";

/** How a session is opened. */
export interface SessionOptions {
  /** The manager's address. */
  readonly address: Address;
  /** The manager's authkey. */
  readonly authkey: Uint8Array;
  /** The proxy class for a typeid, if its registration names one. */
  readonly proxyType?: (typeid: string) => ProxyClass | undefined;
  /** The registration of a typeid on this side, for pipelining its methods' results. */
  readonly registration?: (
    typeid: string,
  ) => {
    readonly exposed: readonly string[] | undefined;
    readonly methodToTypeid: Readonly<Record<string, string>>;
  } | undefined;
  /** Close the session once no proxy of it is left (sessions not owned by a manager). */
  readonly closeWhenIdle?: boolean;
  /** Milliseconds the server has to complete the handshake (default 5000). */
  readonly handshakeTimeout?: number;
  /** Accept CPython 3.11's HMAC-MD5 handshake too. */
  readonly legacyAuth?: boolean;
  /** TLS for a TCP address. */
  readonly tls?: TlsOptions;
  /** What this side reads, and assumes the server reads (as the manager's `limits`). */
  readonly limits?: Partial<CodecLimits>;
  /** Milliseconds after which a call without options of its own is given up (default: never). */
  readonly callTimeout?: number;
}

interface Pending {
  resolve(value: unknown): void;
  reject(reason: unknown): void;
  /** For a cancellable call: drops its abort listener and timer. */
  cleanup?: () => void;
}

/** One authenticated, multiplexed connection to a manager server. */
export class Session implements CodecPeer, PipelineChannel, MessageHandler, StreamChannel {
  readonly address: Address;
  readonly #authkey: Uint8Array;
  readonly #connection: Connection;
  readonly #proxyType: (typeid: string) => ProxyClass | undefined;
  readonly #registration: NonNullable<SessionOptions["registration"]>;
  readonly #closeWhenIdle: boolean;
  readonly #pending = new Map<number, Pending>();
  readonly #proxies = new WeakSet<BaseProxy>();
  readonly #done = Promise.withResolvers<void>();
  #nextRequestId = 1;
  #releases: number[] = [];
  #forgets: number[] = [];
  /** The functions this process lent the server: callbacks and uploads. */
  readonly #callbacks: LentCallbacks;
  /** Cancellable calls given up (`cancel`) or answered (`accept`), sent once per tick. */
  #verdicts: { cancel: number[]; accept: number[] } | undefined;
  readonly #callDefaults: CallOptions | undefined;
  /** Bytes a batch of a stream may take, in messages of at most this side's `maxFrameSize`. */
  readonly #batchBytes: number;
  #liveProxies = 0;
  #closedBy: Error | undefined;
  #expected: Error | undefined;
  #referenced = true;

  /** Connects and authenticates. */
  static async open(options: SessionOptions): Promise<Session> {
    const key = await importAuthkey(options.authkey, options.legacyAuth ?? false);
    const session = new Session(options, await connect(options.address, options.tls));
    const connection = session.#connection;
    const timeout = options.handshakeTimeout ?? 5000;
    let timedOut = false;
    const cancelDeadline = onDeadline(timeout, () => {
      timedOut = true;
      connection.close();
    });
    try {
      await clientHandshake(connection, key);
    } catch (error) {
      connection.close();
      const where = `Cannot connect to manager at ${formatAddress(options.address)}`;
      // Closing the connection at the deadline can surface as any read error: say why it closed.
      if (!timedOut && error instanceof Error && error.name === "AuthenticationError") {
        error.message = `${where}: ${error.message}`;
        throw error;
      }
      throw new ConnectionClosedError(
        timedOut
          ? `${where}: the handshake did not complete within ${timeout} ms (is it a manager, is it overloaded, or is TLS on at one side only?)`
          : `${where}: the server closed the connection during the handshake (is it at its connection limit?)`,
        { cause: error },
      );
    } finally {
      cancelDeadline();
    }
    session.#readLoop().then(session.#done.resolve);
    session.#setReferenced(false);
    return session;
  }

  private constructor(options: SessionOptions, socket: Deno.Conn) {
    this.address = options.address;
    this.#authkey = options.authkey.slice();
    this.#proxyType = options.proxyType ?? (() => undefined);
    this.#registration = options.registration ?? (() => undefined);
    this.#closeWhenIdle = options.closeWhenIdle ?? false;
    this.#callDefaults = options.callTimeout === undefined
      ? undefined
      : { timeout: options.callTimeout };
    const maxFrameSize = options.limits?.maxFrameSize ?? DEFAULT_MAX_FRAME;
    this.#connection = new Connection(
      socket,
      this,
      {
        maxDepth: options.limits?.maxDepth ?? MAX_DEPTH,
        maxLength: options.limits?.maxLength ?? MAX_LENGTH,
        maxFrameSize,
      },
      (error) => this.close(this.#lost(error)),
    );
    this.#batchBytes = batchBudget(maxFrameSize);
    this.#callbacks = new LentCallbacks(this.#connection, this.#batchBytes);
  }

  /** The authkey this session authenticated with. */
  get authkey(): Uint8Array {
    return this.#authkey.slice();
  }

  /** Resolves once the connection is gone. */
  get whenClosed(): Promise<void> {
    return this.#done.promise;
  }

  /** True once the connection is gone. */
  get closed(): boolean {
    return this.#closedBy !== undefined;
  }

  /** Calls `method` of object `id` (below zero: of the result of kept request `-id`). */
  call(
    id: number,
    method: string,
    args: readonly unknown[],
    options?: CallOptions,
  ): Promise<unknown> {
    return this.#request(id, method, args, false, options ?? this.#callDefaults);
  }

  /**
   * Calls `method` of object `id`, asking the server to keep its result for
   * chained calls; `callTimeout` applies as to any call.
   */
  callKept(id: number, method: string, args: readonly unknown[]): KeptRequest {
    const requestId = this.#nextRequestId;
    return { requestId, result: this.#request(id, method, args, true, this.#callDefaults) };
  }

  /** Lets the server forget kept result `requestId`; forgets made in one tick go out together. */
  forget(requestId: number): void {
    if (this.#closedBy !== undefined) return;
    if (this.#forgets.length === 0) {
      queueMicrotask(() => {
        const ids = this.#forgets;
        this.#forgets = [];
        if (this.#closedBy === undefined) {
          this.#connection.send([0, SERVER_ID, ControlMethod.forget, ids]);
        }
      });
    }
    this.#forgets.push(requestId);
  }

  /** Sends a request to the server itself. */
  control(method: string, args: readonly unknown[] = []): Promise<unknown> {
    return this.#request(SERVER_ID, method, args);
  }

  /** Drops a reference; releases made in one tick go out as one request. */
  release(id: number): void {
    this.#liveProxies--;
    if (this.#closedBy !== undefined) return;
    if (this.#releases.length === 0) queueMicrotask(() => this.#flushReleases());
    this.#releases.push(id);
  }

  /** The proxy class registered for `typeid`. */
  proxyType(typeid: string): ProxyClass | undefined {
    return this.#proxyType(typeid);
  }

  /** Methods of `typeid` that return shared objects, as registered on this side. */
  methodToTypeid(typeid: string): Readonly<Record<string, string>> | undefined {
    return this.#registration(typeid)?.methodToTypeid;
  }

  /** The exposed names of `typeid`, as registered on this side. */
  exposedOf(typeid: string): readonly string[] | undefined {
    return this.#registration(typeid)?.exposed;
  }

  /** A ticket string that holds a reference to `id` for `ttl` ms or until claimed. */
  share(id: number, ttl: number): Promise<string> {
    return this.control(ControlMethod.share, [id, ttl]) as Promise<string>;
  }

  /** The reason calls reject with if the server closes the connection (as after shutdown). */
  expectClose(reason: Error): void {
    this.#expected = reason;
  }

  /**
   * Closes the connection at once; pending and later calls reject with
   * `reason`. Nothing queued is waited for: a server that is stopped or busy
   * cannot hold this up, and closing releases everything this connection
   * held anyway.
   */
  async close(reason?: Error): Promise<void> {
    if (this.#closedBy === undefined) {
      this.#closedBy = reason ??
        new ConnectionClosedError(
          `Connection to manager at ${formatAddress(this.address)} was closed by this process`,
        );
      // Waited for below: the read loop's end must keep the process alive until it comes.
      this.#connection.setReferenced(true);
      this.#connection.close();
      this.#rejectAll();
    }
    await this.#done.promise;
  }

  #request(
    objectId: number,
    method: string,
    args: readonly unknown[],
    keep = false,
    options?: CallOptions,
  ): Promise<unknown> {
    if (this.#closedBy !== undefined) return Promise.reject(this.#closedBy);
    const signal = options?.signal;
    const timeout = options?.timeout;
    const cancellable = signal !== undefined || timeout !== undefined;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (timeout !== undefined && !(timeout >= 0)) {
      return Promise.reject(new RangeError("A call's timeout must be a non-negative number of ms"));
    }
    const requestId = this.#nextRequestId++;
    const flags = (keep ? RequestFlag.keep : 0) | (cancellable ? RequestFlag.cancellable : 0);
    try {
      this.#connection.send(
        flags === 0
          ? [requestId, objectId, method, args]
          : [requestId, objectId, method, args, flags],
      );
    } catch (error) {
      return Promise.reject(describeUnsendable(error, method));
    }
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const pending: Pending = { resolve, reject };
    if (cancellable) {
      // Given up at once, and the server told: it stops the call, or undoes what it did.
      const onAbort = (): void => this.#abandon(requestId, signal!.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      const timer = timeout === undefined ? undefined : setTimeout(() =>
        this.#abandon(
          requestId,
          new DOMException(
            `The call to '${method}' did not finish within ${timeout} ms`,
            "TimeoutError",
          ),
        ), timeout);
      pending.cleanup = () => {
        signal?.removeEventListener("abort", onAbort);
        clearTimeout(timer);
      };
    }
    this.#pending.set(requestId, pending);
    if (this.#pending.size === 1) this.#setReferenced(true);
    return promise;
  }

  /** Rejects a cancellable call now and tells the server to stop it (or undo it). */
  #abandon(requestId: number, reason: unknown): void {
    const pending = this.#settle(requestId);
    if (pending === undefined) return;
    pending.cleanup?.();
    pending.reject(reason);
    this.#verdict("cancel", requestId);
  }

  /** Queues `cancel` or `accept` of a cancellable call; all of a tick go in one message each. */
  #verdict(kind: "cancel" | "accept", requestId: number): void {
    if (this.#closedBy !== undefined) return;
    if (this.#verdicts === undefined) {
      this.#verdicts = { cancel: [], accept: [] };
      queueMicrotask(() => {
        const { cancel, accept } = this.#verdicts!;
        this.#verdicts = undefined;
        if (this.#closedBy !== undefined) return;
        if (cancel.length > 0) {
          this.#connection.send([0, SERVER_ID, ControlMethod.cancel, cancel]);
        }
        if (accept.length > 0) {
          this.#connection.send([0, SERVER_ID, ControlMethod.accept, accept]);
        }
      });
    }
    this.#verdicts[kind].push(requestId);
  }

  async #readLoop(): Promise<void> {
    const end = await this.#connection.run(this);
    if (this.#closedBy === undefined) {
      this.#closedBy = this.#expected ??
        (end.kind === "error" ? this.#lost(end.error) : new ConnectionClosedError(
          `Connection to manager at ${formatAddress(this.address)} was closed by the server`,
        ));
      this.#connection.close();
      this.#rejectAll();
    }
  }

  /** A reply this side refuses fails its own call (CPython's #UNSERIALIZABLE). */
  refused(error: DecodeError, id: number | undefined): void {
    const pending = this.#settle(id);
    if (pending === undefined) throw error;
    pending.reject(
      new RemoteError(
        `The reply could not be accepted: ${error.message.replace(/^Refused a message: /, "")}`,
        { cause: error },
      ),
    );
  }

  /** A reply, or the server's notice before it drops this connection. */
  message(decoded: unknown): void {
    if (Array.isArray(decoded) && typeof decoded[1] === "string") {
      return this.#callbacks.message(decoded);
    }
    const reply = parseReply(decoded);
    if (typeof reply === "string") throw new Error(`Malformed reply from server: ${reply}`);
    if (reply.requestId === 0) {
      // The server's last word before it drops this connection: say why.
      this.#expected = new ConnectionClosedError(
        `The manager at ${formatAddress(this.address)} closed the connection: ${
          remoteFailure(reply.value).message
        }`,
      );
      return;
    }
    const pending = this.#settle(reply.requestId);
    if (pending === undefined) return;
    if (pending.cleanup !== undefined) {
      pending.cleanup();
      this.#verdict("accept", reply.requestId);
    }
    if (reply.kind === Reply.Return) pending.resolve(reply.value);
    else if (reply.kind === Reply.Throw) pending.reject(reply.value);
    else pending.reject(remoteFailure(reply.value));
  }

  /** Takes call `requestId` out of the pending ones, if it is there. */
  #settle(requestId: number | undefined): Pending | undefined {
    if (requestId === undefined) return undefined;
    const pending = this.#pending.get(requestId);
    if (pending === undefined) return undefined;
    this.#pending.delete(requestId);
    if (this.#pending.size === 0) this.#setReferenced(false);
    return pending;
  }

  #rejectAll(): void {
    this.#callbacks.close();
    const reason = this.#closedBy!;
    for (const pending of this.#pending.values()) pending.reject(reason);
    this.#pending.clear();
    this.#setReferenced(false);
  }

  #flushReleases(): void {
    if (this.#releases.length === 0 || this.#closedBy !== undefined) return;
    const ids = this.#releases;
    this.#releases = [];
    this.#connection.send([0, SERVER_ID, ControlMethod.release, ids]);
    if (this.#closeWhenIdle && this.#liveProxies <= 0 && this.#pending.size === 0) {
      this.close();
    }
  }

  /** A connection with no call in flight does not keep the process alive. */
  #setReferenced(referenced: boolean): void {
    if (referenced === this.#referenced || this.#closedBy !== undefined) return;
    this.#referenced = referenced;
    this.#connection.setReferenced(referenced);
  }

  #lost(error: unknown): ConnectionClosedError {
    return new ConnectionClosedError(
      `Connection to manager at ${formatAddress(this.address)} was lost`,
      { cause: error },
    );
  }

  /** A callback being sent: the id under which the server calls it back. */
  encodeCallback(value: Callback): number {
    return this.#callbacks.lend(value);
  }

  /** An async iterable passed as an argument (an upload), read by the server a batch at a time. */
  encodeStream(value: AsyncIterable<unknown>): number {
    return this.#callbacks.lendStream(value);
  }

  decodeStream(id: number): unknown {
    return remoteStream(this, id, this.#batchBytes);
  }

  /** The next items of a streamed result. */
  pull(id: number, max: number, maxBytes: number): Promise<[unknown[], boolean]> {
    return this.control(ControlMethod.pull, [id, max, maxBytes]) as Promise<[unknown[], boolean]>;
  }

  /** Tells the server this process stopped reading stream `id`. */
  closeStream(id: number): void {
    if (this.#closedBy !== undefined) return;
    this.#connection.send([0, SERVER_ID, ControlMethod.closeStream, [id]]);
  }

  encodeToken(value: ObjectHandle): WireToken {
    if (!(value instanceof BaseProxy) || !this.#proxies.has(value)) {
      throw new UnsendableError(
        "a proxy of another manager",
        `: it belongs to the manager at ${
          value instanceof BaseProxy ? formatAddress(value._token.address) : "?"
        }`,
      );
    }
    if (value._released) throw new UnsendableError("a released proxy");
    return [value._token.typeid, value._token.id, value._exposed];
  }

  decodeToken([typeid, id, exposed]: WireToken): BaseProxy {
    const proxy = createProxy({ typeid, address: this.address, id }, exposed, this);
    this.#proxies.add(proxy);
    this.#liveProxies++;
    return proxy;
  }
}

function remoteFailure(value: unknown): RemoteError {
  const [message, cause] = Array.isArray(value) ? value : [String(value), undefined];
  return new RemoteError(
    typeof message === "string" ? message : "The server reported a failure",
    cause === undefined ? undefined : { cause },
  );
}

function describeUnsendable(error: unknown, method: string): unknown {
  if (!(error instanceof UnsendableError)) return error;
  // The request is [requestId, objectId, method, args]: show the args path.
  const [, ...rest] = error.path;
  const at = new UnsendableError(error.what);
  at.path.push(...rest);
  return new TypeError(
    `${error.message} in ${
      at.describePath("args")
    } of a call to '${method}': only data (JSON values, undefined, bigint, Date, Map, Set, typed arrays, Errors) and proxies can be sent`,
  );
}
