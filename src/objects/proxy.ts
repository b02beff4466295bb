/**
 * Proxies: local stand-ins for objects that live in a manager's server.
 * Each proxy instance holds one reference on the server, released by
 * `await using` / `[Symbol.asyncDispose]()`, by its connection closing, or
 * (as a last resort) by garbage collection.
 *
 * @module
 */

import { markObjectHandles } from "../wire/codec.ts";
import type { Address } from "../wire/address.ts";
import { RemoteError } from "../errors.ts";

/**
 * Names a shared object: its typeid, the address of the manager that owns
 * it, and its id there. Ids come from a counter and are never reused.
 *
 * @example
 * ```ts
 * import type { Token } from "@multiprocess/managers";
 *
 * const token: Token = { typeid: "Counter", address: "/tmp/m.sock", id: 1 };
 * console.log(token.typeid); // "Counter"
 * ```
 */
export interface Token {
  /** The registered type of the object. */
  readonly typeid: string;
  /** The manager server that holds it. */
  readonly address: Address;
  /** Its id on that server. */
  readonly id: number;
}

/**
 * What a proxy's constructor receives from the library. Proxy classes
 * never build one themselves: a manager creates proxies.
 *
 * @example
 * ```ts
 * import { BaseProxy, type ProxyInit } from "@multiprocess/managers";
 *
 * class LoggingProxy extends BaseProxy {
 *   constructor(init: ProxyInit) {
 *     super(init);
 *   }
 * }
 * console.log(typeof LoggingProxy); // "function"
 * ```
 */
export interface ProxyInit {
  /** The object the proxy refers to. */
  readonly token: Token;
  /** The methods the server lets this proxy call. */
  readonly exposed: readonly string[];
}

/**
 * How one call may end early: `signal` aborts it (the promise rejects with
 * the signal's reason, an `AbortError` by default), `timeout` gives it up
 * after that many milliseconds (a `TimeoutError`). Either way the server
 * is told: the call stops, a waiting `get()` or `acquire()` leaves its
 * queue, and what a call that had already finished did is undone (a lock
 * let go, an item put back).
 *
 * @example
 * ```ts
 * import type { CallOptions } from "@multiprocess/managers";
 *
 * const options: CallOptions = { signal: AbortSignal.timeout(500) };
 * console.log(options.signal instanceof AbortSignal); // true
 * ```
 */
export interface CallOptions {
  /** Aborts the call. */
  readonly signal?: AbortSignal;
  /** Gives the call up after this many milliseconds. */
  readonly timeout?: number;
}

/** How a proxy reaches its referent: a client connection or, inside the server, the object table. */
export interface ProxyChannel {
  /** The address tokens of this channel carry. */
  readonly address: Address;
  /** Calls a method of object `id`; `options` may end it early. */
  call(
    id: number,
    method: string,
    args: readonly unknown[],
    options?: CallOptions,
  ): Promise<unknown>;
  /** Drops one reference to object `id`; never throws. */
  release(id: number): void;
  /** Proxy class for a typeid, or undefined for an auto proxy. */
  proxyType(typeid: string): ProxyClass | undefined;
  /** Inside the server only: the object itself. */
  referent?(id: number): unknown;
  /** Methods of `typeid` whose results are shared objects, and their typeids (pipelined). */
  methodToTypeid?(typeid: string): Readonly<Record<string, string>> | undefined;
  /** The exposed names of `typeid`, when this side knows them. */
  exposedOf?(typeid: string): readonly string[] | undefined;
}

/**
 * A proxy class: {@linkcode BaseProxy} or a subclass with hand-written
 * methods, as CPython's `AcquirerProxy`.
 *
 * @example
 * ```ts
 * import { BaseProxy, type ProxyClass } from "@multiprocess/managers";
 *
 * class CounterProxy extends BaseProxy {
 *   increment(): Promise<number> {
 *     return this._callmethod("increment") as Promise<number>;
 *   }
 * }
 * const proxytype: ProxyClass = CounterProxy;
 * console.log(proxytype.name); // "CounterProxy"
 * ```
 */
export type ProxyClass = new (init: ProxyInit) => BaseProxy;

const channels = new WeakMap<ProxyInit, ProxyChannel>();
const proxyChannels = new WeakMap<BaseProxy, ProxyChannel>();
let serials = 0;

interface Held {
  readonly channel: ProxyChannel;
  readonly id: number;
}

// A safety net only: explicit disposal and connection close are what count.
const finalizer = new FinalizationRegistry<Held>(({ channel, id }) => channel.release(id));

/**
 * The base of every proxy. It forwards calls to the shared object with
 * {@linkcode BaseProxy._callmethod}; auto proxies add one method per exposed
 * name. Subclass it for hand-written proxies and register the subclass as
 * `proxytype`.
 *
 * @example
 * ```ts
 * import { BaseManager, BaseProxy } from "@multiprocess/managers";
 *
 * class Greeter {
 *   greet(name: string): string {
 *     return `hello ${name}`;
 *   }
 * }
 * class GreeterProxy extends BaseProxy {
 *   greet(name: string): Promise<string> {
 *     return this._callmethod("greet", [name]) as Promise<string>;
 *   }
 * }
 * class GreeterManager extends BaseManager {}
 * GreeterManager.register("Greeter", () => new Greeter(), { proxytype: GreeterProxy });
 * ```
 */
export class BaseProxy {
  /** The shared object this proxy refers to. */
  readonly _token: Token;
  /** The methods the server lets this proxy call. */
  readonly _exposed: readonly string[];
  readonly #channel: ProxyChannel;
  readonly #serial = ++serials;
  #released = false;

  /** Called by the library only; see {@linkcode ProxyInit}. */
  constructor(init: ProxyInit) {
    const channel = channels.get(init);
    if (channel === undefined) {
      throw new TypeError(
        "Proxies are created by a manager (manager.create(), a factory method, or proxyFromString()); a proxy constructor cannot be called directly",
      );
    }
    this._token = init.token;
    this._exposed = init.exposed;
    this.#channel = channel;
    proxyChannels.set(this, channel);
    finalizer.register(this, { channel, id: init.token.id }, this);
  }

  /**
   * Calls `name` on the shared object with `args` and resolves with its
   * result (a copy, or a new proxy for methods in `methodToTypeid`).
   * Rejects with {@linkcode RemoteError} when `name` is not exposed.
   */
  _callmethod(
    name: string,
    args: readonly unknown[] = [],
    options?: CallOptions,
  ): Promise<unknown> {
    if (this.#released) {
      return Promise.reject(
        new RemoteError(
          `Cannot call '${name}' through ${this}: the proxy was released`,
        ),
      );
    }
    return this.#channel.call(this._token.id, name, args, options);
  }

  /** A copy of the shared object itself. */
  _getvalue(): Promise<unknown> {
    return this._callmethod("#GETVALUE");
  }

  /** True once this proxy released its reference. */
  get _released(): boolean {
    return this.#released;
  }

  /** CPython's proxy repr: `<AutoProxy[Counter] object, typeid 'Counter' at 0x1>`. */
  toString(): string {
    return `<${this.constructor.name} object, typeid '${this._token.typeid}' at 0x${
      this.#serial.toString(16)
    }>`;
  }

  /** Releases this proxy's reference on the server; later calls reject. Idempotent. */
  [Symbol.asyncDispose](): Promise<void> {
    if (!this.#released) {
      this.#released = true;
      finalizer.unregister(this);
      this.#channel.release(this._token.id);
    }
    return Promise.resolve();
  }

  /** Shown by `console.log`. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }
}

markObjectHandles(BaseProxy);

/** The channel a proxy calls through. */
export function channelOf(proxy: BaseProxy): ProxyChannel | undefined {
  return proxyChannels.get(proxy);
}

/** Names a proxy can never forward: they belong to every object or to BaseProxy. */
const RESERVED = new Set<string>([
  ...Object.getOwnPropertyNames(Object.prototype),
  ...Object.getOwnPropertyNames(BaseProxy.prototype),
  "_token",
  "_exposed",
  "prototype",
  "then",
  "catch",
  "finally",
]);

/**
 * True when `name` may be exposed: not a member of every object
 * (`toString`, `__proto__`, ...), not a BaseProxy member, and not `then`
 * (a proxy must never look like a promise).
 */
export function isExposableName(name: string): boolean {
  return name.length > 0 && !RESERVED.has(name) && !name.startsWith("#");
}

/**
 * `proxy` with every call made through it carrying `options`: a signal
 * that aborts it, a timeout that gives it up. The result has the proxy's
 * own type, so typed methods keep their types.
 *
 * @example
 * ```ts
 * import { SyncManager, withCall } from "@multiprocess/managers";
 *
 * await using manager = await new SyncManager({ modules: [] }).start();
 * const queue = await manager.Queue<string>();
 * const controller = new AbortController();
 * const waiting = withCall(queue, { signal: controller.signal }).get();
 * controller.abort();
 * await waiting.catch((error) => console.log(error.name)); // "AbortError"
 * await queue.put("x");
 * console.log(await queue.qsize()); // 1: the aborted get() took nothing
 * ```
 */
export function withCall<P extends BaseProxy>(proxy: P, options: CallOptions): P {
  const callmethod = (name: string, args: readonly unknown[] = []): Promise<unknown> =>
    proxy._callmethod(name, args, options);
  return new Proxy(proxy, {
    get(target, key, receiver): unknown {
      if (key === "_callmethod") return callmethod;
      const value = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      // BaseProxy's own methods read its private state: they run on the proxy itself. Forwarded
      // and hand-written methods run on this view, so their calls go through callmethod above.
      return Object.hasOwn(BaseProxy.prototype, key) ? value.bind(target) : value.bind(receiver);
    },
  });
}

/** The init for a proxy of `token` that calls through `channel` (for `createProxy`). */
export function proxyInit(
  token: Token,
  exposed: readonly string[],
  channel: ProxyChannel,
): ProxyInit {
  const init: ProxyInit = { token, exposed };
  channels.set(init, channel);
  return init;
}
