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
import { type Caller, runAs } from "../objects/caller.ts";
import type { ObjectHost } from "../server/object_host.ts";
import type { SharedEntry } from "../server/object_table.ts";
import { explainDenial } from "../server/permissions.ts";
import { noteCall } from "../server/stray.ts";
import { pythonCreateArgs, pythonFaceOf } from "./python_faces.ts";

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
    this.#queue.push(request);
    if (!this.#running) this.#drain();
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

  /** Sends a reply; one that cannot be pickled becomes `#UNSERIALIZABLE`, saying why. */
  #send(kind: string, payload: unknown): void {
    try {
      this.#connection.send(tuple([kind, payload]));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.#connection.send(
        tuple([
          "#UNSERIALIZABLE",
          traceback("TypeError", `${reason} (the reply was ${kind})`),
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
          const createArgs = pythonCreateArgs(typeid, host.callableOf(typeid), rest, kwds);
          const entry = await runAs(this.#caller, () => host.create(typeid, createArgs));
          this.#hold(entry);
          return this.#send(
            "#RETURN",
            tuple([pythonId(entry), tuple([...exposedOf(entry)])]),
          );
        }
        case "incref": {
          const entry = this.#entry(args[0]);
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
      call = () => Reflect.apply(fn, entry.object, withKeywords(args, kwds));
    }
    noteCall(entry.typeid, method);
    let result: unknown;
    try {
      result = await runAs(this.#caller, call);
    } catch (error) {
      const thrown = error instanceof Error
        ? explainDenial(error) as Error
        : new Error(String(error));
      if (!this.#objects) {
        return this.#send("#TRACEBACK", traceback(thrown.name, thrown.message));
      }
      return this.#send("#ERROR", thrown);
    }
    const shared = host.shareResult(entry, sharedAs, result);
    if (Object.is(shared, result)) {
      // Object.is: a NaN result is itself, not a new shared object.
      return this.#send("#RETURN", result === undefined ? null : result);
    }
    const created = shared as SharedEntry;
    if (!this.#objects) {
      host.table.dropIfUnreferenced(created.id);
      return this.#send(
        "#TRACEBACK",
        traceback(
          "TypeError",
          `${entry.typeid}.${method}() returns a shared object, and proxies cannot cross XML-RPC (as in CPython): use serializer='pickle'`,
        ),
      );
    }
    this.#hold(created);
    this.#send("#PROXY", tuple([tuple([...exposedOf(created)]), this.#token(created)]));
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

/** Positional arguments, with keyword arguments (if any) as a trailing options object. */
function withKeywords(args: unknown[], kwds: Record<string, unknown>): unknown[] {
  return Object.keys(kwds).length === 0 ? args : [...args, kwds];
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
