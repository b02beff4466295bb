/**
 * One client's connection, as the server sees it: the requests it sends,
 * the references it holds, and its caller identity (whose signal aborts
 * when it closes, so that locks, permits and waits held for it let go).
 * Requests go from here to the object host, never back to the listener.
 *
 * @module
 */

import { ConnectionClosedError, RemoteError } from "../errors.ts";
import {
  type CodecPeer,
  DecodeError,
  type ObjectHandle,
  Reference,
  UnsendableError,
  type WireToken,
} from "../wire/codec.ts";
import { Connection, type MessageHandler } from "../wire/connection.ts";
import { FrameError } from "../wire/framing.ts";
import {
  CallbackMessage,
  parseControl,
  parseRequest,
  Reply,
  type ReplyKind,
  type Request,
  SERVER_ID,
} from "../wire/protocol.ts";
import { CallContext, type Caller, runAs } from "../objects/caller.ts";
import { isThenable, type ObjectHost, type TicketOwner } from "./object_host.ts";
import type { SharedEntry } from "./object_table.ts";
import { explainDenial } from "./permissions.ts";
import type { ServerLimits } from "./limits.ts";
import { noteCall } from "./stray.ts";
import { BatchedStream, STREAM_BATCH } from "../wire/batched_stream.ts";

/** Callback stubs held by shared code: collected, they release their client's function. */
const callbackStubs = new FinalizationRegistry<{ connection: ClientConnection; id: number }>(
  ({ connection, id }) => connection.releaseCallback(id),
);

/** A pickle starts with PROTO (protocol 2 and above): how a CPython client is told apart. */
const PICKLE_PROTOCOL_OPCODE = 0x80;
/** CPython's `serializer='xmlrpclib'` sends XML documents: `<?xml`. */
const XML_OPENING = 0x3c;

/** Where a kept request's result is: still coming, there, or failed. */
type Promised =
  | { readonly state: "pending"; readonly waiting: Request[] }
  | { readonly state: "ready"; readonly id: number }
  | { readonly state: "failed"; readonly kind: ReplyKind; readonly value: unknown };

/** One authenticated client connection and the references it holds. */
export class ClientConnection implements CodecPeer, MessageHandler {
  /** The framed socket; the handshake runs over it before `serve()`. */
  readonly connection: Connection;
  readonly #host: ObjectHost;
  readonly #requestShutdown: () => Promise<void>;
  /** Object id → references this connection holds. */
  readonly #refs = new Map<number, number>();
  readonly #aborter = new AbortController();
  readonly #caller: Caller;
  readonly #tickets: TicketOwner = { tickets: 0 };
  /** Results of kept requests, by request id, for the calls chained to them. */
  readonly #promised = new Map<number, Promised>();
  /** Calls of the client's callbacks waiting for their reply, by call id. */
  readonly #callbackCalls = new Map<number, PromiseWithResolvers<unknown>>();
  #nextCallbackCall = 0;
  /** Callback stubs collected, to tell the client (sent once per tick). */
  #releasedCallbacks: number[] = [];
  /** Streamed results, by stream id, until read to the end or closed. */
  readonly #streams = new Map<number, BatchedStream>();
  #nextStream = 0;
  /** Cancellable calls, by request id, until their client cancels or accepts them. */
  readonly #cancellable = new Map<number, CallContext>();
  readonly #limits: Required<ServerLimits>;
  /** Every connection of the server, for `debugInfo()`. */
  readonly #connections: () => Iterable<ClientConnection>;
  /** Calls of this connection in progress (async results not yet sent). */
  #inProgress = 0;
  #decodeProblem: string | undefined;
  #closed = false;
  #done: Promise<void> = Promise.resolve();

  /**
   * A connection over `socket` to `host`'s objects; `callerId` names it to
   * shared code, `requestShutdown` is what a client's `shutdown` asks for.
   */
  constructor(
    socket: Deno.Conn,
    host: ObjectHost,
    limits: Required<ServerLimits>,
    callerId: number,
    requestShutdown: () => Promise<void>,
    connections: () => Iterable<ClientConnection> = () => [this],
  ) {
    this.#connections = connections;
    this.#caller = Object.freeze({ id: callerId, signal: this.#aborter.signal });
    this.#host = host;
    this.#requestShutdown = requestShutdown;
    this.#limits = limits;
    this.connection = new Connection(socket, this, limits, () => {});
    this.connection.throttleAt(limits.maxBufferedBytesPerConnection);
  }

  /** Resolves once `serve()` has ended. */
  get done(): Promise<void> {
    return this.#done;
  }

  /**
   * Serves the client until its connection ends, then lets go of all it
   * held. A client whose first request is a pickle is CPython: it is
   * served in CPython's own protocol (`../python/python_dialect.ts`).
   */
  serve(): Promise<void> {
    this.#done = (async () => {
      const end = await this.connection.run(await this.#handler());
      // A broken or excessive message ends this client only; it is told why.
      if (
        end.kind === "error" &&
        (end.error instanceof FrameError || end.error instanceof DecodeError)
      ) {
        await this.connection.notice(end.error.message);
      }
      this.close();
    })();
    return this.#done;
  }

  /** This client's dialect, told by its first request: MessagePack, or CPython's pickle. */
  async #handler(): Promise<MessageHandler> {
    let first: number | null;
    try {
      first = await this.connection.reader.peekPayloadByte(this.#limits.maxFrameSize);
    } catch {
      return this; // the read loop meets the same failure and reports it
    }
    if (first !== PICKLE_PROTOCOL_OPCODE && first !== XML_OPENING) return this;
    // CPython's dialect is loaded when a CPython client first connects: a server that never
    // meets one starts without the pickle and XML-RPC code.
    const { servePython } = await import("../python/python_dialect.ts");
    return servePython(
      this.connection,
      this.#host,
      this.#caller,
      this.#requestShutdown,
      this.#limits,
      first === XML_OPENING,
    );
  }

  /** Closes the connection; its locks, permits and waits let go first, then its references. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.connection.close();
    this.#aborter.abort(new Error("The client's connection closed"));
    for (const { reject } of this.#callbackCalls.values()) {
      reject(new ConnectionClosedError("The client that passed this callback is gone"));
    }
    this.#callbackCalls.clear();
    for (const stream of this.#streams.values()) stream.close().catch(() => {});
    this.#streams.clear();
    // What a dead client held is let go of by the connection's own signal; nothing to undo.
    for (const call of this.#cancellable.values()) call.accept();
    this.#cancellable.clear();
    for (const [id, count] of this.#refs) this.#host.table.decref(id, count);
    this.#refs.clear();
  }

  /** A whole request whose content was refused fails that request alone. */
  refused(error: DecodeError, id: number | undefined): void {
    if (id === undefined || id === 0) throw error;
    this.#reply(id, Reply.Failure, [
      `The server refused the request: ${error.message.replace(/^Refused a message: /, "")}`,
      undefined,
    ]);
  }

  /** A decoded request (or the reply to a callback this server called). */
  message(decoded: unknown): void {
    if (Array.isArray(decoded) && decoded[1] === CallbackMessage.reply) {
      return this.#callbackReplied(decoded);
    }
    this.#decodeProblem = undefined;
    const request = parseRequest(decoded);
    if (typeof request === "string") {
      const id = Array.isArray(decoded) ? decoded[0] : undefined;
      if (typeof id !== "number" || !(id > 0)) {
        throw new DecodeError(`Malformed request: ${request}`);
      }
      return this.#reply(id, Reply.Failure, [
        `The server refused a malformed request: ${request}`,
        undefined,
      ]);
    }
    if (request.keep) this.#promised.set(request.requestId, { state: "pending", waiting: [] });
    if (this.#decodeProblem !== undefined) {
      return this.#reply(request.requestId, Reply.Failure, [this.#decodeProblem, undefined]);
    }
    if (
      request.requestId !== 0 &&
      (this.#inProgress >= this.#limits.maxPendingCallsPerConnection ||
        this.#cancellable.size >= this.#limits.maxPendingCallsPerConnection)
    ) {
      return this.#reply(request.requestId, Reply.Failure, [
        `This connection already has ${this.#inProgress} calls in progress, the limit (limits.maxPendingCallsPerConnection): wait for some to finish`,
        undefined,
      ]);
    }
    this.#dispatch(request);
  }

  #dispatch(request: Request): void {
    if (request.objectId === SERVER_ID) {
      this.#control(request);
    } else if (request.objectId < 0) {
      this.#viaPromise(request);
    } else {
      this.#call(request);
    }
  }

  /**
   * A call on the result of an earlier kept request: made at once if that
   * result is there, after it if it is not yet, and failed as it failed.
   */
  #viaPromise(request: Request): void {
    const promised = this.#promised.get(-request.objectId);
    if (promised === undefined) {
      return this.#reply(request.requestId, Reply.Failure, [
        `The call is chained to request ${-request
          .objectId}, which this connection did not keep (or forgot)`,
        undefined,
      ]);
    }
    if (promised.state === "pending") promised.waiting.push(request);
    else if (promised.state === "ready") this.#dispatch({ ...request, objectId: promised.id });
    else this.#reply(request.requestId, promised.kind, promised.value);
  }

  /** A kept request has its answer: calls chained to it go on, or fail as it did. */
  #settlePromise(requestId: number, kind: ReplyKind, value: unknown): void {
    const promised = this.#promised.get(requestId);
    if (promised?.state !== "pending") return;
    const settled: Promised = kind === Reply.Return && value instanceof Reference
      ? { state: "ready", id: value.id }
      : kind === Reply.Return
      ? {
        state: "failed",
        kind: Reply.Failure,
        value: [
          `Request ${requestId} returned a value, not a shared object, so no call can be chained to it (only methodToTypeid methods and create() return one)`,
          undefined,
        ],
      }
      : { state: "failed", kind, value };
    this.#promised.set(requestId, settled);
    for (const request of promised.waiting) this.#viaPromise(request);
  }

  #call({ requestId, objectId, method, args, cancellable }: Request): void {
    const host = this.#host;
    const entry = host.table.get(objectId);
    if (entry === undefined || !this.#refs.has(objectId)) {
      return this.#reply(requestId, Reply.Failure, [
        `Object ${objectId} does not exist or this connection holds no reference to it (was its proxy released?)`,
        undefined,
      ]);
    }
    const fn = host.resolve(entry, method);
    if (typeof fn === "string") return this.#reply(requestId, Reply.Failure, [fn, undefined]);
    noteCall(entry.typeid, method);
    let result: unknown;
    let call: CallContext | undefined;
    if (cancellable) {
      call = new CallContext();
      this.#cancellable.set(requestId, call);
    }
    try {
      result = runAs(this.#caller, () => Reflect.apply(fn, entry.object, args), call);
    } catch (error) {
      return this.#reply(requestId, Reply.Throw, error, entry, method);
    }
    if (isThenable(result)) {
      this.#inProgress++;
      Promise.resolve(result).then(
        (value) => {
          this.#inProgress--;
          this.#returnValue(requestId, entry, method, value);
        },
        (error) => {
          this.#inProgress--;
          this.#reply(requestId, Reply.Throw, error, entry, method);
        },
      );
    } else {
      this.#returnValue(requestId, entry, method, result);
    }
  }

  #returnValue(requestId: number, entry: SharedEntry, method: string, value: unknown): void {
    if (entry.methodToTypeid[method] !== undefined && this.#atObjectLimit()) {
      return this.#reply(requestId, Reply.Failure, [this.#objectLimitMessage(), undefined]);
    }
    const shared = this.#host.shareResult(entry, method, value);
    if (shared === value) return this.#reply(requestId, Reply.Return, value, entry, method);
    const created = shared as SharedEntry;
    this.#reply(requestId, Reply.Return, new Reference(created.id), entry, method);
    this.#host.table.dropIfUnreferenced(created.id);
  }

  async #control({ requestId, method, args }: Request): Promise<void> {
    const host = this.#host;
    const request = parseControl(method, args);
    if (typeof request === "string") {
      return this.#reply(requestId, Reply.Failure, [request, undefined]);
    }
    try {
      switch (request.method) {
        case "release":
          for (const id of request.ids) this.#dropRef(id);
          if (requestId !== 0) this.#reply(requestId, Reply.Return, null);
          return;
        case "forget":
          for (const id of request.ids) {
            if (this.#promised.get(id)?.state !== "pending") this.#promised.delete(id);
          }
          if (requestId !== 0) this.#reply(requestId, Reply.Return, null);
          return;
        case "pull": {
          const stream = this.#streams.get(request.id);
          if (stream === undefined) {
            throw new RemoteError(`Stream ${request.id} was read to its end or closed`);
          }
          this.#inProgress++;
          let batch: [unknown[], boolean];
          try {
            batch = await stream.pull(request.max);
          } catch (error) {
            this.#streams.delete(request.id);
            throw error;
          } finally {
            this.#inProgress--;
          }
          if (batch[1]) this.#streams.delete(request.id);
          return this.#reply(requestId, Reply.Return, batch);
        }
        case "closeStream":
          for (const id of request.ids) {
            this.#streams.get(id)?.close().catch(() => {});
            this.#streams.delete(id);
          }
          if (requestId !== 0) this.#reply(requestId, Reply.Return, null);
          return;
        case "cancel":
        case "accept":
          for (const id of request.ids) {
            const call = this.#cancellable.get(id);
            if (call === undefined) continue;
            this.#cancellable.delete(id);
            if (request.method === "cancel") call.cancel();
            else call.accept();
          }
          if (requestId !== 0) this.#reply(requestId, Reply.Return, null);
          return;
        case "create": {
          const { typeid, args } = request;
          if (this.#atObjectLimit()) throw new RemoteError(this.#objectLimitMessage());
          this.#inProgress++;
          let entry: SharedEntry;
          try {
            entry = await runAs(this.#caller, () => host.create(typeid, args));
          } finally {
            this.#inProgress--;
          }
          this.#reply(requestId, Reply.Return, new Reference(entry.id));
          host.table.dropIfUnreferenced(entry.id);
          return;
        }
        case "ping":
          return this.#reply(requestId, Reply.Return, null);
        case "numberOfObjects":
          return this.#reply(requestId, Reply.Return, await host.numberOfObjects());
        case "debugInfo": {
          const objects = await host.debugInfo();
          const connections = [...this.#connections()].map((c) => c.describe()).join("\n");
          return this.#reply(
            requestId,
            Reply.Return,
            `${objects}${objects === "" ? "" : "\n"}connections:\n${connections}`,
          );
        }
        case "share": {
          const entry = this.#refs.has(request.id) ? host.table.get(request.id) : undefined;
          if (entry === undefined) {
            throw new RemoteError(
              `Cannot share object ${request.id}: this connection holds no reference to it`,
            );
          }
          return this.#reply(
            requestId,
            Reply.Return,
            host.share(entry, request.ttl, this.#tickets),
          );
        }
        case "claim": {
          const entry = host.claim(request.ticket);
          this.#reply(requestId, Reply.Return, new Reference(entry.id));
          host.table.decref(entry.id);
          return;
        }
        case "shutdown":
          this.#reply(requestId, Reply.Return, null);
          await this.connection.flush();
          await this.#requestShutdown();
          return;
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
    try {
      this.connection.send([requestId, kind, value]);
    } catch (error) {
      const what = kind === Reply.Throw ? "the error thrown by" : "the result of";
      const call = entry === undefined ? "the request" : `${entry.typeid}.${method}()`;
      const where = error instanceof UnsendableError
        ? `${error.message} at ${error.describePath("value").replace(/^value\[2\]/, "value")}`
        : String(error);
      kind = Reply.Failure;
      value = [`Cannot send ${what} ${call}: ${where}`, undefined];
      this.connection.send([requestId, kind, value]);
    }
    this.#settlePromise(requestId, kind, value);
  }

  /** Whether this connection holds references to as many objects as it may. */
  #atObjectLimit(): boolean {
    return this.#refs.size >= this.#limits.maxObjectsPerConnection;
  }

  #objectLimitMessage(): string {
    return `This connection already holds ${this.#refs.size} shared objects, the limit (limits.maxObjectsPerConnection): release some first`;
  }

  /** One line of `debugInfo()`: what this connection holds and has in progress. */
  describe(): string {
    return `  connection ${this.#caller.id}: ${this.#refs.size} objects, ${this.#inProgress} calls in progress, ${this.connection.buffered} bytes buffered`;
  }

  #addRef(entry: SharedEntry): void {
    this.#host.table.incref(entry);
    this.#refs.set(entry.id, (this.#refs.get(entry.id) ?? 0) + 1);
  }

  #dropRef(id: number): void {
    const held = this.#refs.get(id);
    if (held === undefined) return;
    if (held === 1) this.#refs.delete(id);
    else this.#refs.set(id, held - 1);
    this.#host.table.decref(id);
  }

  /**
   * The server's side of a callback the client sent: an async function
   * that calls it in the client's process. Collected, it tells the client
   * to let go of the function.
   */
  decodeCallback(id: number): unknown {
    const stub = (...args: unknown[]): Promise<unknown> => this.#callClient(id, args);
    const held = { connection: this, id };
    callbackStubs.register(stub, held, held);
    // Disposing the stub lets go of the client's function now, not when it is collected.
    let disposed = false;
    Object.defineProperty(stub, Symbol.asyncDispose, {
      value: (): Promise<void> => {
        if (!disposed) {
          disposed = true;
          callbackStubs.unregister(held);
          this.releaseCallback(id);
        }
        return Promise.resolve();
      },
    });
    return stub;
  }

  /** Releases a callback whose stub was collected. */
  releaseCallback(id: number): void {
    if (this.#closed) return;
    if (this.#releasedCallbacks.length === 0) {
      queueMicrotask(() => {
        const ids = this.#releasedCallbacks;
        this.#releasedCallbacks = [];
        if (!this.#closed) this.connection.send([0, CallbackMessage.release, ids]);
      });
    }
    this.#releasedCallbacks.push(id);
  }

  #callClient(id: number, args: unknown[]): Promise<unknown> {
    if (this.#closed) {
      return Promise.reject(
        new ConnectionClosedError("The client that passed this callback is gone"),
      );
    }
    const callId = ++this.#nextCallbackCall;
    const pending = Promise.withResolvers<unknown>();
    this.#callbackCalls.set(callId, pending);
    try {
      this.connection.send([callId, CallbackMessage.call, id, args]);
    } catch (error) {
      this.#callbackCalls.delete(callId);
      return Promise.reject(error);
    }
    return pending.promise;
  }

  #callbackReplied(message: unknown[]): void {
    const [callId, , kind, value] = message;
    const pending = this.#callbackCalls.get(callId as number);
    if (pending === undefined) return;
    this.#callbackCalls.delete(callId as number);
    if (kind === Reply.Return) pending.resolve(value);
    else if (kind === Reply.Throw) pending.reject(value);
    else {pending.reject(
        new RemoteError(`The callback failed: ${String((value as unknown[])?.[0] ?? value)}`),
      );}
  }

  /**
   * An async iterable a client passed as an argument (an upload): read a
   * batch at a time from the client, as the shared method consumes it.
   */
  decodeStream(id: number): unknown {
    return this.#upload(id);
  }

  async *#upload(id: number): AsyncGenerator<unknown, void, undefined> {
    let ended = false;
    try {
      for (;;) {
        const [items, done] = await this.#callClient(id, [STREAM_BATCH]) as [unknown[], boolean];
        for (const item of items) yield item;
        if (done) {
          ended = true;
          return;
        }
      }
    } finally {
      // Stopped early: the client's producer is told to end (its finally runs there).
      if (!ended) this.#callClient(id, [0]).catch(() => {});
      this.releaseCallback(id);
    }
  }

  encodeStream(value: AsyncIterable<unknown>): number {
    // Open streams count against the same quota as the objects a connection holds.
    if (this.#streams.size >= this.#limits.maxObjectsPerConnection) {
      throw new UnsendableError(
        "another stream",
        `: this connection already reads ${this.#streams.size} streams, the limit (limits.maxObjectsPerConnection); finish or break some first`,
      );
    }
    const id = ++this.#nextStream;
    this.#streams.set(id, new BatchedStream(value));
    return id;
  }

  encodeToken(value: ObjectHandle): WireToken {
    const entry = this.#host.encodeLocal(value);
    this.#addRef(entry);
    return [entry.typeid, entry.id, entry.exposedList];
  }

  decodeToken([typeid, id]: WireToken): unknown {
    const entry = this.#host.table.get(id);
    if (entry === undefined || entry.typeid !== typeid || !this.#refs.has(id)) {
      this.#decodeProblem ??=
        `The request carries a proxy of object ${id} ('${typeid}'), which this connection holds no reference to (was it released?)`;
      return undefined;
    }
    return this.#host.proxyFor(entry);
  }
}
