/**
 * One client's connection, as the server sees it: the requests it sends,
 * the references it holds, and its caller identity (whose signal aborts
 * when it closes, so that locks, permits and waits held for it let go).
 * Requests go from here to the object host, never back to the listener.
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

/** A pickle starts with PROTO (protocol 2 and above): how a CPython client is told apart. */
const PICKLE_PROTOCOL_OPCODE = 0x80;
/** CPython's `serializer='xmlrpclib'` sends XML documents: `<?xml`. */
const XML_OPENING = 0x3c;

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
  readonly #limits: Required<ServerLimits>;
  /** More Python types whose values CPython clients may store, for a pickle connection. */
  readonly #pickleGlobals: ReadonlySet<string>;
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
    this.#callbacks = new ClientCallbacks(this.connection);
    this.#streams = new ClientStreams(limits.maxObjectsPerConnection);
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
      return this.#callbacks.replied(decoded);
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
    if (request.keep) this.#kept.keep(request.requestId);
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
          this.#kept.forget(request.ids);
          if (requestId !== 0) this.#reply(requestId, Reply.Return, null);
          return;
        case "pull": {
          this.#inProgress++;
          let batch: [unknown[], boolean];
          try {
            batch = await this.#streams.pull(request.id, request.max);
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
    this.#kept.settle(requestId, kind, value);
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
