/**
 * Promise pipelining: a shared object that is still being made can be
 * called at once. `manager.create(...)` and methods listed in
 * `methodToTypeid` return a {@linkcode Pipelined} proxy: a promise of the
 * proxy that also has its methods. Calls made before the proxy arrives go
 * out at once, addressed to the request that makes the object; the server
 * runs them in order once it exists, and fails them as that request failed.
 * A chain of any length costs one round trip.
 *
 * @module
 */

import type { BaseProxy, ProxyChannel } from "./proxy.ts";

/**
 * A proxy on its way: a promise of it, with its methods callable at once
 * (each pipelined: sent now, run by the server once the object exists).
 * `await` it for the proxy itself; `await using` disposes of that proxy.
 *
 * @example
 * ```ts
 * import { BaseManager, type Pipelined, type Remote, shared } from "@multiprocess/managers";
 *
 * @shared()
 * export class Tally {
 *   #n = 0;
 *   add(k: number): number {
 *     return (this.#n += k);
 *   }
 * }
 *
 * if (import.meta.main) {
 *   await using manager = await new BaseManager({ modules: [import.meta.url] }).start();
 *   const tally: Pipelined<Remote<Tally>> = manager.create(Tally);
 *   console.log(await tally.add(2)); // 2: created and called in one round trip
 *   await using proxy = await tally; // the proxy itself, released at the end of the block
 *   console.log(await proxy.add(3)); // 5
 * }
 * ```
 */
export type Pipelined<P extends BaseProxy> =
  & Promise<P>
  & AsyncDisposable
  & { [K in keyof P as K extends keyof BaseProxy | "catch" | "finally" ? never : K]: P[K] }
  & {
    /** Calls `name` on the object once it exists; see `BaseProxy._callmethod`. */
    _callmethod(name: string, args?: readonly unknown[]): Promise<unknown>;
  };

/** A request the server keeps the result of, for calls chained to it. */
export interface KeptRequest {
  /** Its request id: calls chained to it address object `-requestId`. */
  readonly requestId: number;
  /** Its result as the channel decodes it (a proxy, for a shared object). */
  readonly result: Promise<unknown>;
}

/** A channel that can keep results and chain calls to them (a client's session). */
export interface PipelineChannel extends ProxyChannel {
  /** Sends `method(args)` on object `id`, asking the server to keep its result. */
  callKept(id: number, method: string, args: readonly unknown[]): KeptRequest;
  /** The server may forget a kept result: later calls use the real object. */
  forget(requestId: number): void;
}

/** True for a channel that can pipeline. */
export function canPipeline(channel: ProxyChannel | undefined): channel is PipelineChannel {
  return typeof (channel as Partial<PipelineChannel> | undefined)?.callKept === "function";
}

/**
 * The pipelined proxy for `kept`, which makes an object of `typeid`: a
 * method for each name it exposes (when known on this side), and those of
 * its methods that return shared objects pipelined in turn.
 */
export function pipelined<P extends BaseProxy>(
  channel: PipelineChannel,
  kept: KeptRequest,
  typeid: string | undefined,
): Pipelined<P> {
  const methods = typeid === undefined ? [] : channel.exposedOf?.(typeid) ?? [];
  const chained = typeid === undefined ? {} : channel.methodToTypeid?.(typeid) ?? {};
  let arrived: BaseProxy | undefined;
  // Once the result is known, calls go to it directly (or fail as it did): the server may forget.
  let failed: { error: unknown } | undefined;
  const promise = kept.result.then(
    (proxy) => {
      arrived = proxy as BaseProxy;
      channel.forget(kept.requestId);
      return proxy as P;
    },
    (error) => {
      failed = { error };
      channel.forget(kept.requestId);
      throw error;
    },
  );
  // Not awaiting a failed creation is allowed: the calls chained to it say why.
  promise.catch(() => {});
  const call = (name: string, args: readonly unknown[]): Promise<unknown> =>
    failed !== undefined
      ? Promise.reject(failed.error)
      : arrived !== undefined
      ? arrived._callmethod(name, args)
      : channel.call(-kept.requestId, name, args);
  const define = (name: PropertyKey, value: unknown): void => {
    Object.defineProperty(promise, name, { value, writable: true, configurable: true });
  };
  define("_callmethod", (name: string, args: readonly unknown[] = []) => call(name, args));
  for (const name of methods) {
    if (name in promise) continue;
    const target = chained[name];
    define(
      name,
      target === undefined
        ? (...args: unknown[]) => call(name, args)
        // A result that is itself a shared object: chained without waiting.
        : (...args: unknown[]) =>
          failed !== undefined
            ? failedPipeline(failed.error)
            : arrived !== undefined
            ? (arrived as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!(...args)
            : pipelined(channel, channel.callKept(-kept.requestId, name, args), target),
    );
  }
  define(Symbol.asyncDispose, async (): Promise<void> => {
    const proxy = await promise.catch(() => undefined);
    await proxy?.[Symbol.asyncDispose]();
  });
  return promise as unknown as Pipelined<P>;
}

/** A pipelined proxy that will never arrive: it and every call on it reject with `error`. */
export function failedPipeline<P extends BaseProxy>(error: unknown): Pipelined<P> {
  const promise = Promise.reject(error);
  promise.catch(() => {});
  const failing = new Proxy(promise, {
    get(target, name, receiver): unknown {
      if (name in target || typeof name === "symbol") {
        const value = Reflect.get(target, name, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      }
      return (): Promise<never> => Promise.reject(error);
    },
  });
  return failing as unknown as Pipelined<P>;
}
