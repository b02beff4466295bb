/**
 * One client's connection, as the server sees it: the requests it sends,
 * the references it holds, and its caller identity (whose signal aborts
 * when it closes, so that locks, permits and waits held for it let go).
 * Requests go from here to the object host, never back to the listener.
 *
 * Near 500 lines: admission, dispatch, calls, control requests and
 * references share one state (the references held, the quotas reserved,
 * the calls in progress); callbacks, streams and kept results are classes
 * of their own.
 *
 * @module
 */

import { RemoteError } from "../errors.ts";
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
  ControlMethod,
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
import { ClientCallbacks } from "./client_callbacks.ts";
import { KeptResults } from "./kept_results.ts";
import { ClientStreams } from "./client_streams.ts";
import { batchBudget } from "../wire/batched_stream.ts";
import { ObjectQuota } from "./object_quota.ts";

/** A pickle starts with PROTO (protocol 2 and above): how a CPython client is told apart. */
const PICKLE_PROTOCOL_OPCODE = 0x80;
/** CPython's `serializer='xmlrpclib'` sends XML documents: `<?xml`. */
const XML_OPENING = 0x3c;
/** Requests that only let go of something: admitted whatever the quotas say. */
const RELEASING: ReadonlySet<string> = new Set([
  ControlMethod.release,
  ControlMethod.forget,
  ControlMethod.cancel,
  ControlMethod.accept,
  ControlMethod.closeStream,
]);

/** Said of a call whose result could not be delivered, once what it took was given back. */
const UNDONE = "; the call was undone, as if cancelled: what it took is back in its place";

/** A call awaiting its result: what its reply needs, until the connection closes. */
interface AwaitedCall {
  connection: ClientConnection | undefined;
  entry: SharedEntry | undefined;
}

/** One authenticated client connection and the references it holds. */
export class ClientConnection implements CodecPeer, MessageHandler {
  /** The framed socket; the handshake runs over it before `serve()`. */
  readonly connection: Connection;
  /** Python values keep their type here (a client's `new PyFloat(2)`, `tuple([...])`), for CPython clients. */
  readonly keepsPythonTypes = true;
  readonly #host: ObjectHost;
  readonly #requestShutdown: () => Promise<void>;
  /** Object id → references this connection holds. */
  readonly #refs = new Map<number, number>();
  readonly #aborter = new AbortController();
  readonly #caller: Caller;
  readonly #tickets: TicketOwner = { tickets: 0 };
  /** Results of kept requests, by request id, for the calls chained to them. */
  readonly #kept: KeptResults = new KeptResults(
    (request) => this.#dispatch(request),
    (requestId, kind, value) => this.#reply(requestId, kind, value),
  );
  /** The client's callbacks and uploads, as this server calls them. */
  readonly #callbacks: ClientCallbacks;
  /** Streamed results, until read to the end or closed. */
  readonly #streams: ClientStreams;
  /** Cancellable calls, by request id, until their client cancels or accepts them. */
  readonly #cancellable = new Map<number, CallContext>();
  /** Calls whose results are awaited: undone at once if the connection closes first. */
  readonly #running = new Set<CallContext>();
  readonly #limits: Required<ServerLimits>;
  /** Objects this connection holds, and those on their way to it. */
  readonly #objects: ObjectQuota;
  /** More Python types whose values CPython clients may store, for a pickle connection. */
  readonly #pickleGlobals: ReadonlySet<string>;
  /** Every connection of the server, for `debugInfo()`. */
  readonly #connections: () => Iterable<ClientConnection>;
  /** Calls of this connection in progress (async results not yet sent). */
  #inProgress = 0;
  /** The calls awaiting their results; let go of when the connection closes. */
  readonly #awaiting = new Set<AwaitedCall>();
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
    pickleGlobals: ReadonlySet<string> = new Set(),
  ) {
    this.#connections = connections;
    this.#pickleGlobals = pickleGlobals;
    this.#caller = Object.freeze({ id: callerId, signal: this.#aborter.signal });
    this.#host = host;
    this.#requestShutdown = requestShutdown;
    this.#limits = limits;
    this.connection = new Connection(socket, this, limits, () => {});
    this.connection.throttleAt(limits.maxBufferedBytesPerConnection);
    const batchBytes = batchBudget(limits.maxFrameSize);
    this.#callbacks = new ClientCallbacks(this.connection, { ...limits, batchBytes });
    this.#streams = new ClientStreams(limits.maxObjectsPerConnection, this.#caller, batchBytes);
    this.#objects = new ObjectQuota(
      limits.maxObjectsPerConnection,
      () => this.#refs.size,
      "This connection already holds",
    );
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
      this.#pickleGlobals,
    );
  }

  /** Closes the connection; its locks, permits and waits let go first, then its references. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.connection.close();
    this.#aborter.abort(new Error("The client's connection closed"));
    this.#callbacks.close();
    this.#streams.closeAll();
    // A call replied to stands (what a dead client holds is let go of by its connection's
    // signal); one still running is undone now, whatever it returns later.
    for (const call of this.#cancellable.values()) call.connectionClosed();
    this.#cancellable.clear();
    for (const call of this.#running) call.connectionClosed();
    this.#running.clear();
    for (const [id, count] of this.#refs) this.#host.table.decref(id, count);
    this.#refs.clear();
    // A call that never settles holds its reply's closure: it keeps nothing of ours from here on.
    for (const awaiting of this.#awaiting) {
      awaiting.connection = undefined;
      awaiting.entry = undefined;
    }
    this.#awaiting.clear();
  }

  /** A whole request whose content was refused fails that request alone. */
  refused(error: DecodeError, id: number | undefined): void {
    this.#callbacks.claim(undefined);
    if (id === undefined || id === 0) throw error;
    this.#reply(id, Reply.Failure, [
      `The server refused the request: ${error.message.replace(/^Refused a message: /, "")}`,
      undefined,
    ]);
  }

  /** A decoded request (or the reply to a callback this server called). */
  message(decoded: unknown): void {
    if (Array.isArray(decoded) && decoded[1] === CallbackMessage.reply) {
      this.#callbacks.claim(undefined);
      return this.#callbacks.replied(decoded);
    }
    const request = parseRequest(decoded);
    // Callbacks and uploads it passes belong to it: a cancel of it stops them.
    this.#callbacks.claim(typeof request === "string" ? undefined : request.args);
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
    const refusal = this.#admission(request);
    if (refusal !== undefined) {
      // Refused before it is kept: a refused request leaves nothing behind.
      return this.#reply(request.requestId, Reply.Failure, [refusal, undefined]);
    }
    if (request.keep) this.#kept.keep(request.requestId);
    if (this.#decodeProblem !== undefined) {
      return this.#reply(request.requestId, Reply.Failure, [this.#decodeProblem, undefined]);
    }
    this.#dispatch(request);
  }

  /**
   * Why `request` cannot be admitted now, if it cannot: every request
   * counts against `maxPendingCallsPerConnection` from here until it is
   * answered (a call chained to a kept result that is not there yet
   * included), and a kept result until the client forgets it. Requests
   * that only let go of something are always admitted. A refused request
   * with no reply wanted (id 0) is dropped unseen, as if never sent.
   */
  #admission(request: Request): string | undefined {
    if (request.objectId === SERVER_ID && RELEASING.has(request.method)) return undefined;
    const limit = this.#limits.maxPendingCallsPerConnection;
    const pending = this.#pendingCalls();
    if (pending < limit && this.#cancellable.size < limit) return undefined;
    const kept = this.#kept.results === 0
      ? ""
      : `, counting ${this.#kept.results} pipelined results not yet forgotten`;
    return `This connection already has ${
      Math.max(pending, this.#cancellable.size)
    } calls in progress, the limit (limits.maxPendingCallsPerConnection)${kept}: wait for some to finish`;
  }

  /** Calls in progress: running, waiting for a kept result, or kept until forgotten. */
  #pendingCalls(): number {
    return this.#inProgress + this.#kept.waiting + this.#kept.results;
  }

  #dispatch(request: Request): void {
    if (request.objectId === SERVER_ID) {
      this.#control(request);
    } else if (request.objectId < 0) {
      this.#kept.chained(request);
    } else {
      this.#call(request);
    }
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
    // A method whose result is a new shared object reserves its room first: past the quota it
    // does not run.
    let slot: Disposable | undefined;
    if (entry.methodToTypeid[method] !== undefined) {
      try {
        slot = this.#objects.reserve();
      } catch (error) {
        return this.#reply(requestId, Reply.Failure, [(error as Error).message, undefined]);
      }
    }
    noteCall(entry.typeid, method);
    let result: unknown;
    // Every call can be undone until its result is delivered; a cancellable one until its
    // client accepts the result.
    const call = this.#callContext(requestId, args, cancellable);
    try {
      result = runAs(this.#caller, () => Reflect.apply(fn, entry.object, args), call);
    } catch (error) {
      slot?.[Symbol.dispose]();
      return this.#reply(requestId, Reply.Throw, error, entry, method, call);
    }
    if (isThenable(result)) {
      this.#whenSettled(result, requestId, entry, method, call, slot);
    } else {
      slot?.[Symbol.dispose]();
      this.#returnValue(requestId, entry, method, result, call);
    }
  }

  /**
   * Replies once `result` settles. A call that never settles keeps only
   * what is in here alive (made apart from `#call`, its closures hold none
   * of the call's arguments), and nothing of this connection once it closed.
   */
  #whenSettled(
    result: PromiseLike<unknown>,
    requestId: number,
    entry: SharedEntry,
    method: string,
    call: CallContext,
    slot: Disposable | undefined,
  ): void {
    this.#inProgress++;
    this.#running.add(call);
    const awaiting: AwaitedCall = { connection: this, entry };
    this.#awaiting.add(awaiting);
    const settled = (kind: "value" | "error", outcome: unknown): void => {
      const { connection, entry } = awaiting;
      if (connection === undefined || entry === undefined) return;
      connection.#awaiting.delete(awaiting);
      connection.#inProgress--;
      connection.#running.delete(call);
      slot?.[Symbol.dispose]();
      if (kind === "value") connection.#returnValue(requestId, entry, method, outcome, call);
      else connection.#reply(requestId, Reply.Throw, outcome, entry, method, call);
    };
    Promise.resolve(result).then(
      (value) => settled("value", value),
      (error) => settled("error", error),
    );
  }

  #returnValue(
    requestId: number,
    entry: SharedEntry,
    method: string,
    value: unknown,
    call: CallContext,
  ): void {
    if (entry.methodToTypeid[method] !== undefined && this.#atObjectLimit()) {
      const undone = this.#undo(requestId, call);
      return this.#reply(requestId, Reply.Failure, [
        `${this.#objectLimitMessage()}${undone ? UNDONE : ""}`,
        undefined,
      ]);
    }
    const created = this.#host.shareResult(entry, method, value);
    if (created === undefined) {
      return this.#reply(requestId, Reply.Return, value, entry, method, call);
    }
    this.#reply(requestId, Reply.Return, new Reference(created.id), entry, method, call);
    this.#host.table.dropIfUnreferenced(created.id);
  }

  /** Undoes `call`, whose result will not reach its client; whether it had anything to undo. */
  #undo(requestId: number, call: CallContext): boolean {
    if (call.cancellable) this.#cancellable.delete(requestId);
    return call.cancel();
  }

  /**
   * The context of a client call. One its client may cancel is kept until
   * the client's verdict, and the callbacks and uploads among its arguments
   * are tied to it.
   */
  #callContext(requestId: number, args: unknown[], cancellable: boolean): CallContext {
    const call = new CallContext({ cancellable });
    if (cancellable) {
      this.#cancellable.set(requestId, call);
      this.#callbacks.tieTo(args, call.cancelled!);
    }
    return call;
  }

  async #control({ requestId, method, args, cancellable }: Request): Promise<void> {
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
          this.#kept.forget(request.ids);
          if (requestId !== 0) this.#reply(requestId, Reply.Return, null);
          return;
        case "pull": {
          this.#inProgress++;
          let batch: [unknown[], boolean];
          try {
            batch = await this.#streams.pull(request.id, request.max, request.maxBytes);
          } finally {
            this.#inProgress--;
          }
          return this.#reply(requestId, Reply.Return, batch);
        }
        case "closeStream":
          this.#streams.close(request.ids);
          if (requestId !== 0) this.#reply(requestId, Reply.Return, null);
          return;
        case "cancel":
        case "accept":
          // A batch of cancels is undone newest first, each call's steps newest first too.
          for (const id of request.method === "cancel" ? request.ids.reverse() : request.ids) {
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
          // Its room is reserved until the reply carries the new reference.
          using _room = this.#objects.reserve();
          this.#inProgress++;
          let entry: SharedEntry;
          // With a timeout (callTimeout) or a signal, the factory sees the cancel as a method does.
          const call = cancellable ? this.#callContext(requestId, args, true) : undefined;
          try {
            entry = await runAs(this.#caller, () => host.create(typeid, args), call);
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
          return this.#reply(requestId, Reply.Return, await this.#counted(host.numberOfObjects()));
        case "debugInfo": {
          const objects = await this.#counted(host.debugInfo());
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
          const entry = host.claim(request.ticket, (entry) => {
            // Claiming a ticket obtains an object as a create does; a refused ticket stays.
            if (!this.#refs.has(entry.id)) this.#objects.check();
          });
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

  /** `work`, counted as a call in progress until it settles (a forced collection can take a while). */
  async #counted<T>(work: Promise<T>): Promise<T> {
    this.#inProgress++;
    try {
      return await work;
    } finally {
      this.#inProgress--;
    }
  }

  /**
   * Sends a reply. A value that cannot be encoded becomes a Failure saying
   * why; `call`, whose reply it is, is then undone, as it is if the
   * connection has closed: a result that cannot be delivered gives back
   * what its call took.
   */
  #reply(
    requestId: number,
    kind: ReplyKind,
    value: unknown,
    entry?: SharedEntry,
    method?: string,
    call?: CallContext,
  ): void {
    if (this.#closed || this.connection.closed) {
      if (call !== undefined) this.#undo(requestId, call);
      return;
    }
    if (requestId === 0) return call?.accept();
    if (kind === Reply.Throw) value = explainDenial(value);
    try {
      this.connection.send([requestId, kind, value]);
      call?.replied();
    } catch (error) {
      const what = kind === Reply.Throw ? "the error thrown by" : "the result of";
      const where = entry === undefined ? "the request" : `${entry.typeid}.${method}()`;
      const why = error instanceof UnsendableError
        ? `${error.message} at ${error.describePath("value").replace(/^value\[2\]/, "value")}`
        : String(error);
      const undone = call !== undefined && this.#undo(requestId, call);
      kind = Reply.Failure;
      value = [`Cannot send ${what} ${where}: ${why}${undone ? UNDONE : ""}`, undefined];
      this.connection.send([requestId, kind, value]);
    }
    this.#kept.settle(requestId, kind, value);
  }

  /** Whether this connection holds (or is being sent) as many objects as it may. */
  #atObjectLimit(): boolean {
    return this.#objects.full;
  }

  #objectLimitMessage(): string {
    return this.#objects.refusal();
  }

  /** One line of `debugInfo()`: what this connection holds and has in progress. */
  describe(): string {
    return `  connection ${this.#caller.id}: ${this.#refs.size} objects, ${this.#pendingCalls()} calls in progress, ${this.connection.buffered} bytes buffered`;
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

  /** A callback the client sent: a stub that calls it in the client's process. */
  decodeCallback(id: number): unknown {
    return this.#callbacks.stub(id);
  }

  /** An async iterable the client passed as an argument, read as it is consumed. */
  decodeStream(id: number): unknown {
    return this.#callbacks.upload(id);
  }

  /** A result streamed to the client (counted against its object quota). */
  encodeStream(value: AsyncIterable<unknown>): number {
    return this.#streams.open(value);
  }

  encodeToken(value: ObjectHandle): WireToken {
    const entry = this.#host.encodeLocal(value);
    this.#addRef(entry);
    return [entry.typeid, entry.id, entry.exposedList];
  }

  /** A problem found while decoding (a token held no reference to) belongs to that message. */
  beginMessage(): void {
    this.#decodeProblem = undefined;
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
