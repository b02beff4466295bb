/**
 * CPython's manager protocol, as a server speaks it to a CPython client
 * (`BaseManager(address, authkey).connect()` with `serializer='pickle'`).
 * A connection is in this dialect when its first request is a pickle;
 * `client_connection.ts` decides that and hands the connection here.
 *
 * CPython opens a connection per request for control requests (`create`,
 * `incref`, `decref`, `dummy`, ...) and one per thread for method calls
 * (after `accept_connection`), one request in flight each. Replies are
 * `(kind, payload)` tuples: `#RETURN`, `#ERROR` (an exception object
 * CPython rebuilds), `#TRACEBACK` (text, for protocol failures), `#PROXY`
 * (a token for a `methodToTypeid` result) and `#UNSERIALIZABLE`.
 *
 * References a CPython client holds are counted server-wide, as CPython
 * counts them: its increfs and decrefs come over connections of their own.
 * So is their quota of objects (`maxObjectsPerConnection`, for all CPython
 * clients together). A connection that sends more requests than CPython
 * ever does without waiting for the replies (it sends one at a time) is
 * closed, told why, before they pile up.
 *
 * @module
 */

import type { Address } from "../wire/address.ts";
import type { Connection, MessageHandler } from "../wire/connection.ts";
import { PickleCodec, type PickleProxies } from "./pickle_codec.ts";
import { XmlrpcCodec } from "./xmlrpc.ts";
import type { ServerLimits } from "../server/limits.ts";
import type { DecodeError } from "../wire/codec.ts";
import { PyProxy, PyToken } from "./python_values.ts";
import { tuple } from "../wire/python_data.ts";
import { BaseProxy } from "../objects/proxy.ts";
import { GET_VALUE } from "../wire/protocol.ts";
import { RemoteError } from "../errors.ts";
import { CallContext, type Caller, runAs } from "../objects/caller.ts";
import { isThenable, type ObjectHost } from "../server/object_host.ts";
import type { SharedEntry } from "../server/object_table.ts";
import { explainDenial } from "../server/permissions.ts";
import { noteCall } from "../server/stray.ts";
import { pythonCreateArgs, pythonFaceOf } from "./python_faces.ts";
import { bindKeywords } from "./keywords.ts";

/**
 * The door from the server into this folder: a connection whose first
 * request is a pickle (or, with `xmlrpc`, an XML document) is served from
 * here on in CPython's protocol and codec.
 */
export function servePython(
  connection: Connection,
  host: ObjectHost,
  caller: Caller,
  requestShutdown: () => Promise<void>,
  limits: Required<ServerLimits>,
  xmlrpc: boolean,
  pickleGlobals: ReadonlySet<string> = new Set(),
): MessageHandler {
  const dialect = new PythonDialect(connection, host, caller, requestShutdown, xmlrpc);
  connection.useCodec(
    xmlrpc ? new XmlrpcCodec(limits) : new PickleCodec(limits, dialect.proxies, pickleGlobals),
  );
  return dialect;
}

/** Said of a call whose result could not be delivered, once what it took was given back. */
const UNDONE = "; the call was undone, as if it had not run: what it took is back in its place";

/**
 * Requests a connection may have waiting behind the one being answered.
 * CPython sends one and waits for its reply; a peer that sends this many
 * more is not CPython, and is closed before its requests pile up.
 */
const MAX_WAITING = 8;

/** A request as CPython sends it: `(ident, methodname, args, kwds)`. */
interface PythonRequest {
  readonly ident: unknown;
  readonly method: string;
  readonly args: unknown[];
  readonly kwds: Record<string, unknown>;
}

/** Serves one CPython connection: control requests, then (after accept_connection) calls. */
export class PythonDialect implements MessageHandler {
  readonly #connection: Connection;
  readonly #host: ObjectHost;
  readonly #caller: Caller;
  readonly #requestShutdown: () => Promise<void>;
  #calls = false;
  /** Requests not yet answered, in order: CPython sends one at a time, but a peer may not. */
  readonly #queue: (PythonRequest | string)[] = [];
  #running = false;
  /** Closing: it sent too many requests at once; what else it sends is dropped. */
  #overflowed = false;

  /**
   * Whether replies may carry exceptions and proxies: pickle can, XML-RPC
   * (CPython's `serializer='xmlrpclib'`) cannot, so there an exception is
   * sent as `#TRACEBACK` text (CPython would send `{}`, which its client
   * then fails to raise) and a `methodToTypeid` result is refused.
   */
  readonly #objects: boolean;

  /** Serves `connection`'s requests on `host`'s objects, as `caller`; `xmlrpc` for that serializer. */
  constructor(
    connection: Connection,
    host: ObjectHost,
    caller: Caller,
    requestShutdown: () => Promise<void>,
    xmlrpc = false,
  ) {
    this.#objects = !xmlrpc;
    this.#connection = connection;
    this.#host = host;
    this.#caller = caller;
    this.#requestShutdown = requestShutdown;
  }

  /** A request that could not be read: its own error reply, and the connection goes on. */
  refused(error: DecodeError): void {
    this.#enqueue(`The Deno manager server refused the request: ${error.message}`);
  }

  /** A decoded request. */
  message(value: unknown): void {
    if (
      !Array.isArray(value) || value.length !== 4 || typeof value[1] !== "string" ||
      !Array.isArray(value[2]) || (value[3] !== null && !isKeywords(value[3]))
    ) {
      this.#enqueue(
        "The Deno manager server expected a request (ident, methodname, args, kwds) and got something else",
      );
      return;
    }
    this.#enqueue({
      ident: value[0],
      method: value[1],
      args: value[2],
      kwds: (value[3] ?? {}) as Record<string, unknown>,
    });
  }

  #enqueue(request: PythonRequest | string): void {
    if (this.#overflowed) return;
    if (this.#queue.length >= MAX_WAITING) return this.#overflow();
    this.#queue.push(request);
    if (!this.#running) this.#drain();
  }

  /** Closes a connection that pipelines past {@linkcode MAX_WAITING}, telling it why. */
  #overflow(): void {
    this.#overflowed = true;
    const waiting = this.#queue.length + 2;
    this.#queue.length = 0;
    this.#send(
      "#TRACEBACK",
      traceback(
        "RemoteError",
        `The Deno manager server closed this connection: it sent ${waiting} requests without waiting for the replies, and a CPython client sends one at a time`,
      ),
    );
    const connection = this.#connection;
    let timer: ReturnType<typeof setTimeout> | undefined;
    Promise.race([
      connection.flush(),
      new Promise((resolve) => timer = setTimeout(resolve, 1000)),
    ]).finally(() => {
      clearTimeout(timer);
      connection.close();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      let request: PythonRequest | string | undefined;
      while ((request = this.#queue.shift()) !== undefined) {
        if (this.#connection.closed) return;
        try {
          if (typeof request === "string") {
            this.#send("#TRACEBACK", traceback("RemoteError", request));
          } else if (this.#calls) {
            await this.#call(request);
          } else {
            await this.#control(request);
          }
        } catch (error) {
          // Whatever went wrong costs this request only.
          this.#send("#TRACEBACK", tracebackOf(error));
        }
      }
    } finally {
      this.#running = false;
    }
  }

  /**
   * Sends a reply; one that cannot be pickled becomes `#UNSERIALIZABLE`,
   * saying why. `call`, whose reply it is, is then undone, as it is if the
   * connection has closed: a result that cannot be delivered gives back
   * what its call took.
   */
  #send(kind: string, payload: unknown, call?: CallContext): void {
    if (this.#connection.closed) {
      call?.cancel();
      return;
    }
    try {
      this.#connection.send(tuple([kind, payload]));
      call?.replied();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const undone = call?.cancel() === true ? UNDONE : "";
      this.#connection.send(
        tuple([
          "#UNSERIALIZABLE",
          traceback("TypeError", `${reason} (the reply was ${kind})${undone}`),
        ]),
      );
    }
  }

  async #control({ method, args, kwds }: PythonRequest): Promise<void> {
    const host = this.#host;
    try {
      switch (method) {
        case "dummy":
          return this.#send("#RETURN", null);
        case "accept_connection":
          this.#calls = true;
          return this.#send("#RETURN", null);
        case "create": {
          const [typeid, ...rest] = args;
          if (typeof typeid !== "string") throw new RemoteError("create needs a typeid");
          const createArgs = pythonCreateArgs(
            typeid,
            host.callableOf(typeid),
            rest,
            kwds,
            host.parametersOf(typeid),
          );
          // Its room is reserved until the new object is held.
          using _room = host.pythonObjects.reserve();
          const entry = await runAs(this.#caller, () => host.create(typeid, createArgs));
          this.#hold(entry);
          return this.#send(
            "#RETURN",
            tuple([pythonId(entry), tuple([...exposedOf(entry)])]),
          );
        }
        case "incref": {
          const entry = this.#entry(args[0]);
          // An object CPython clients held none of is one more for their quota.
          if (!host.pythonRefs.has(entry.id)) host.pythonObjects.check();
          this.#hold(entry);
          return this.#send("#RETURN", null);
        }
        case "decref": {
          this.#release(args[0]);
          return this.#send("#RETURN", null);
        }
        case "get_methods": {
          const token = args[0];
          if (!(token instanceof PyToken)) throw new RemoteError("get_methods needs a Token");
          return this.#send("#RETURN", tuple([...exposedOf(this.#entry(token.id))]));
        }
        case "number_of_objects":
          return this.#send("#RETURN", await host.numberOfObjects());
        case "debug_info":
          return this.#send("#RETURN", await host.debugInfo());
        case "shutdown":
          this.#send("#RETURN", null);
          await this.#connection.flush();
          await this.#requestShutdown();
          return;
        default:
          throw new RemoteError(
            `'${method}' is not a request this manager server answers (CPython's: dummy, create, incref, decref, get_methods, number_of_objects, debug_info, accept_connection, shutdown)`,
          );
      }
    } catch (error) {
      this.#send("#TRACEBACK", tracebackOf(error));
    }
  }

  async #call({ ident, method, args, kwds }: PythonRequest): Promise<void> {
    let entry: SharedEntry;
    try {
      entry = this.#entry(ident);
    } catch (error) {
      return this.#send("#TRACEBACK", tracebackOf(error));
    }
    const host = this.#host;
    const face = pythonFaceOf(entry.object);
    let call: () => unknown;
    let sharedAs = method;
    if (face !== undefined && method !== GET_VALUE) {
      if (!face.exposed.includes(method)) {
        if (method === "__repr__" || method === "__str__") {
          return this.#send("#RETURN", face.repr?.(entry.object as never) ?? describe(entry));
        }
        return this.#send(
          "#TRACEBACK",
          traceback(
            "AttributeError",
            `method '${method}' of '${entry.typeid}' object is not in exposed=${
              face.exposed.join(", ")
            }`,
          ),
        );
      }
      sharedAs = face.shares?.[method] ?? method;
      call = () => face.call(entry.object as never, method, args, kwds);
    } else {
      const fn = host.resolve(entry, method);
      if (typeof fn === "string") {
        if (method === "__repr__" || method === "__str__") {
          return this.#send("#RETURN", describe(entry));
        }
        return this.#send("#TRACEBACK", traceback("AttributeError", fn));
      }
      call = () =>
        Reflect.apply(
          fn,
          entry.object,
          bindKeywords(fn, args, kwds, `${entry.typeid}.${method}()`),
        );
    }
    // A method whose result is a new shared object reserves its room first: past the quota it
    // does not run.
    let room: Disposable | undefined;
    if (this.#objects && entry.methodToTypeid[sharedAs] !== undefined) {
      try {
        room = host.pythonObjects.reserve();
      } catch (error) {
        return this.#send("#TRACEBACK", tracebackOf(error));
      }
    }
    using _room = room;
    noteCall(entry.typeid, method);
    let result: unknown;
    // What the call takes is given back if its result cannot be delivered.
    const context = new CallContext({ cancellable: false });
    // A connection that closes while the call runs undoes it at once, whatever it returns later.
    const closed = (): void => context.connectionClosed();
    try {
      result = runAs(this.#caller, call, context);
      if (isThenable(result)) {
        this.#caller.signal.addEventListener("abort", closed, { once: true });
        result = await result;
      }
    } catch (error) {
      const thrown = error instanceof Error
        ? explainDenial(error) as Error
        : new Error(String(error));
      if (!this.#objects) {
        return this.#send("#TRACEBACK", traceback(thrown.name, thrown.message), context);
      }
      return this.#send("#ERROR", thrown, context);
    } finally {
      this.#caller.signal.removeEventListener("abort", closed);
    }
    const created = host.shareResult(entry, sharedAs, result);
    if (created === undefined) {
      return this.#send("#RETURN", result === undefined ? null : result, context);
    }
    if (!this.#objects) {
      const undone = context.cancel() ? UNDONE : "";
      host.table.dropIfUnreferenced(created.id);
      return this.#send(
        "#TRACEBACK",
        traceback(
          "TypeError",
          `${entry.typeid}.${method}() returns a shared object, and proxies cannot cross XML-RPC (as in CPython): use serializer='pickle'${undone}`,
        ),
      );
    }
    this.#hold(created);
    this.#send(
      "#PROXY",
      tuple([tuple([...exposedOf(created)]), this.#token(created)]),
      context,
    );
  }

  /**
   * How this connection's pickles carry proxies: one CPython sent (a proxy
   * in a list, say) becomes a server-side proxy of the object it names,
   * holding its own reference, as the proxies a Deno client sends do; a
   * server-side proxy in a result goes out as CPython's `RebuildProxy`,
   * with the proxy type CPython's `SyncManager` uses for it.
   */
  readonly proxies: PickleProxies = {
    read: (found) => this.#host.proxyFor(this.#entry(found.token.id)),
    write: (value) => {
      if (!(value instanceof BaseProxy)) return undefined;
      const entry = this.#host.encodeLocal(value);
      const face = pythonFaceOf(entry.object);
      return new PyProxy(this.#token(entry), face?.proxyType ?? "AutoProxy", exposedOf(entry));
    },
  };

  /** The entry a CPython ident names, or a RemoteError CPython shows as a KeyError. */
  #entry(ident: unknown): SharedEntry {
    const id = typeof ident === "string" && /^[0-9a-f]{1,13}$/.test(ident)
      ? parseInt(ident, 16)
      : NaN;
    const entry = Number.isNaN(id) ? undefined : this.#host.table.get(id);
    if (entry === undefined) {
      throw Object.assign(
        new RemoteError(
          `${pyRepr(ident)}: no shared object has this id (was its last proxy released?)`,
        ),
        { pythonName: "KeyError" },
      );
    }
    return entry;
  }

  /** One more reference held by CPython clients. */
  #hold(entry: SharedEntry): void {
    const held = this.#host.pythonRefs;
    held.set(entry.id, (held.get(entry.id) ?? 0) + 1);
    this.#host.table.incref(entry);
  }

  /** One reference less; CPython's decref of an id it holds none of is ignored, as CPython does. */
  #release(ident: unknown): void {
    const entry = this.#entry(ident);
    const held = this.#host.pythonRefs;
    const count = held.get(entry.id) ?? 0;
    if (count === 0) return;
    if (count === 1) held.delete(entry.id);
    else held.set(entry.id, count - 1);
    this.#host.table.decref(entry.id);
  }

  #token(entry: SharedEntry): PyToken {
    return new PyToken(entry.typeid, pythonAddress(this.#host.address), pythonId(entry));
  }
}

/** The methods CPython's proxy may call on `entry`: a standard type's Python names, else its own. */
function exposedOf(entry: SharedEntry): readonly string[] {
  return pythonFaceOf(entry.object)?.exposed ?? entry.exposedList;
}

/** An ident as CPython writes one: hex digits. */
function pythonId(entry: SharedEntry): string {
  return entry.id.toString(16);
}

/** The address as CPython writes it in a token: a path, or `(host, port)`. */
function pythonAddress(address: Address): string | readonly [string, number] {
  return typeof address === "string" ? address : [address.hostname, address.port];
}

function isKeywords(value: unknown): boolean {
  return typeof value === "object" && value !== null &&
    Object.getPrototypeOf(value) === Object.prototype;
}

function describe(entry: SharedEntry): string {
  return `<${entry.typeid} object ${pythonId(entry)} in a Deno manager server>`;
}

function pyRepr(value: unknown): string {
  return typeof value === "string" ? `'${value}'` : String(value);
}

/** Text in the shape of a Python traceback's last line, which CPython prints in a RemoteError. */
function traceback(name: string, message: string): string {
  return `Traceback (most recent call last):\n  (in the Deno manager server)\n${name}: ${message}\n`;
}

function tracebackOf(error: unknown): string {
  if (!(error instanceof Error)) return traceback("Exception", String(error));
  const name = (error as { pythonName?: string }).pythonName ?? error.name;
  const stack = error.stack?.split("\n").slice(1).join("\n");
  return `Traceback (most recent call last):\n${
    stack ?? "  (in the Deno manager server)"
  }\n${name}: ${error.message}\n`;
}
