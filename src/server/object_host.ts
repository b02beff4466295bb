/**
 * What a server holds: the shared objects (table and registry), the
 * proxy tickets waiting to be claimed, and the proxies that shared objects
 * hold of each other inside the server. Each client connection asks it to
 * create, find, share and count objects; it knows nothing of sockets.
 *
 * @module
 */

import type { Address } from "../wire/address.ts";
import { RemoteError } from "../errors.ts";
import { type ObjectHandle, Reference, UnsendableError } from "../wire/codec.ts";
import { GET_VALUE, GET_VALUE_HOOK } from "../wire/protocol.ts";
import { BaseProxy, type ProxyChannel, type ProxyClass } from "../objects/proxy.ts";
import { createProxy } from "../objects/auto_proxy.ts";
import { publicMethods, type Registration } from "../objects/registry.ts";
import { runAs, SERVER_CALLER } from "../objects/caller.ts";
import type { ServerLimits } from "./limits.ts";
import { ObjectTable, type SharedEntry } from "./object_table.ts";
import { ObjectQuota } from "./object_quota.ts";

/** A shared object's method, as the host calls it. */
export type Method = (this: unknown, ...args: unknown[]) => unknown;

/** Counts the unclaimed tickets one connection made. */
export interface TicketOwner {
  tickets: number;
}

/** One object for every unregistered typeid, so their objects share a kind. */
const NO_METHOD_TYPEIDS: Readonly<Record<string, string>> = Object.freeze({});

/** The objects of one server, and everything about them that is not a connection. */
export class ObjectHost {
  /** Every shared object, with its reference count. */
  readonly table: ObjectTable = new ObjectTable();
  /**
   * References CPython clients hold, by object id: CPython increfs and
   * decrefs over connections of their own, so they belong to no connection.
   */
  readonly pythonRefs: Map<number, number> = new Map();
  /**
   * The objects CPython clients hold, and those on their way to them: their
   * references belong to no connection, so `maxObjectsPerConnection` holds
   * for all of them together.
   */
  readonly pythonObjects: ObjectQuota;
  readonly #registry: ReadonlyMap<string, Registration>;
  readonly #address: Address;
  readonly #limits: Required<ServerLimits>;
  readonly #tickets = new Map<
    string,
    { id: number; timer: ReturnType<typeof setTimeout>; owner: TicketOwner }
  >();
  readonly #localProxies = new WeakSet<BaseProxy>();
  readonly #local: ProxyChannel;
  /** Server-side proxies not yet released. */
  #localLive = 0;
  #collecting: Promise<void> | undefined;
  #scheduled: Promise<void> | undefined;
  #collectableAt = 0;

  /** A host for `registry`'s typeids, serving at `address`. */
  constructor(
    registry: ReadonlyMap<string, Registration>,
    address: Address,
    limits: Required<ServerLimits>,
  ) {
    this.#registry = registry;
    this.#address = address;
    this.#limits = limits;
    this.#local = this.#localChannel();
    this.pythonObjects = new ObjectQuota(
      limits.maxObjectsPerConnection,
      () => this.pythonRefs.size,
      "CPython clients already hold",
      ", server-wide for CPython clients",
    );
  }

  /** The callable registered for `typeid`, if any. */
  callableOf(typeid: string): unknown {
    return this.#registry.get(typeid)?.callable;
  }

  /** What declares the parameters `typeid`'s callable takes (its class, for a class). */
  parametersOf(typeid: string): object | undefined {
    const registration = this.#registry.get(typeid);
    return registration?.parameters ?? registration?.callable;
  }

  /** The address the server listens on. */
  get address(): Address {
    return this.#address;
  }

  /** Drops every ticket and every object (the server is shutting down). */
  clear(): void {
    for (const { timer } of this.#tickets.values()) clearTimeout(timer);
    this.#tickets.clear();
    this.pythonRefs.clear();
    this.table.clear();
  }

  /** Makes a new object of `typeid`; throws RemoteError on any failure. */
  create(typeid: string, args: unknown[]): SharedEntry | Promise<SharedEntry> {
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
    return this.table.add(typeid, object, all, methodToTypeid);
  }

  /** The function to call for `method` of `entry`, or why there is none. */
  resolve(entry: SharedEntry, method: string): Method | string {
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

  /**
   * A method's result shared as a new object, when `methodToTypeid` says so;
   * undefined when the result goes back as it is. (Said apart by the entry,
   * never by comparing values: NaN is not equal to itself.)
   */
  shareResult(entry: SharedEntry, method: string, value: unknown): SharedEntry | undefined {
    const typeid = entry.methodToTypeid[method];
    if (typeid === undefined) return undefined;
    return this.#add(typeid, value);
  }

  /** The entry behind a proxy or reference about to be sent to a client. */
  encodeLocal(value: ObjectHandle): SharedEntry {
    let id: number;
    if (value instanceof Reference) {
      id = value.id;
    } else if (value instanceof BaseProxy && this.#localProxies.has(value)) {
      if (value._released) throw new UnsendableError("a released proxy");
      id = value._token.id;
    } else {
      throw new UnsendableError("a proxy of another manager");
    }
    const entry = this.table.get(id);
    if (entry === undefined) throw new UnsendableError(`a reference to released object ${id}`);
    return entry;
  }

  /** A server-side proxy holding its own reference to `entry`. */
  proxyFor(entry: SharedEntry): BaseProxy {
    this.table.incref(entry);
    this.#localLive++;
    const token = { typeid: entry.typeid, address: this.#address, id: entry.id };
    const proxy = createProxy(token, entry.exposedList, this.#local);
    this.#localProxies.add(proxy);
    return proxy;
  }

  /** Proxies used inside the server call their referents directly. */
  #localChannel(): ProxyChannel {
    return {
      address: this.#address,
      call: async (id, method, args) => {
        const entry = this.table.get(id);
        if (entry === undefined) {
          throw new RemoteError(`Object ${id} does not exist: it was released`);
        }
        const fn = this.resolve(entry, method);
        if (typeof fn === "string") throw new RemoteError(fn);
        // Server-side proxies act for the server, not for the client whose call led here.
        const value = await runAs(SERVER_CALLER, () => Reflect.apply(fn, entry.object, args));
        const shared = this.shareResult(entry, method, value);
        return shared === undefined ? value : this.proxyFor(shared);
      },
      release: (id) => {
        this.#localLive--;
        this.table.decref(id);
      },
      proxyType: (typeid): ProxyClass | undefined => this.#registry.get(typeid)?.proxytype,
      referent: (id) => this.table.get(id)?.object,
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
  async numberOfObjects(): Promise<number> {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc === undefined || this.#localLive === 0) return this.table.size;
    await this.#nextCollection(gc);
    return this.table.size;
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
        for (let round = 0; round < 10 && previous !== this.table.size; round++) {
          previous = this.table.size;
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

  /** A text listing every shared object with its reference count, as CPython's. */
  async debugInfo(): Promise<string> {
    await this.numberOfObjects();
    return this.table.values().map((entry) => {
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
  share(entry: SharedEntry, ttl: number, owner: TicketOwner): string {
    if (owner.tickets >= this.#limits.maxTickets) {
      throw new RemoteError(
        `This connection already holds ${owner.tickets} unclaimed proxy tickets, the limit (limits.maxTickets): claim some or let them expire`,
      );
    }
    const ticket = Array.from(crypto.getRandomValues(new Uint8Array(16)), hex).join("");
    this.table.incref(entry);
    owner.tickets++;
    const timer = setTimeout(() => {
      this.#tickets.delete(ticket);
      owner.tickets--;
      this.table.decref(entry.id);
    }, Math.min(ttl, this.#limits.ticketTtl));
    Deno.unrefTimer(timer);
    this.#tickets.set(ticket, { id: entry.id, timer, owner });
    return ticket;
  }

  /**
   * Takes a ticket's reference; the caller must release it after handing it
   * on. `admit` sees the object first and may refuse it by throwing: the
   * ticket is then left as it was.
   */
  claim(ticket: string, admit?: (entry: SharedEntry) => void): SharedEntry {
    const held = this.#tickets.get(ticket);
    if (held === undefined) {
      throw new RemoteError(
        "Proxy transfer ticket not found: it was claimed already, expired, or belongs to another server",
      );
    }
    admit?.(this.table.get(held.id)!);
    this.#tickets.delete(ticket);
    clearTimeout(held.timer);
    held.owner.tickets--;
    return this.table.get(held.id)!;
  }
}

function returnObject(this: unknown): unknown {
  const hook = (this as { [GET_VALUE_HOOK]?: unknown } | null)?.[GET_VALUE_HOOK];
  return typeof hook === "function" ? hook.call(this) : this;
}

function creationFailed(typeid: string, error: unknown): RemoteError {
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new RemoteError(`Creating '${typeid}' failed: ${reason}`, { cause: error });
}

/** True for promises and other thenables. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}
