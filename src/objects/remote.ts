/**
 * The types of remote objects: which methods of a shared class a proxy
 * forwards, and what each returns once it crosses the wire. Types only;
 * the runtime half is `proxy.ts`.
 *
 * @module
 */

import type { BaseProxy } from "./proxy.ts";
import type { Pipelined } from "./pipeline.ts";
import type { Callback } from "../wire/callback.ts";

/**
 * A method's parameters as a caller passes them: a parameter that is a
 * function takes a `callback(fn)` (a function travels only by reference).
 *
 * @example
 * ```ts
 * import type { Sendable } from "@multiprocess/managers";
 *
 * type Args = Sendable<[steps: number, onProgress: (step: number) => Promise<void>]>;
 * const ok: Args[0] = 3;
 * console.log(ok); // 3
 * ```
 */
export type Sendable<A extends readonly unknown[]> = {
  [I in keyof A]: A[I] extends (...args: infer P) => infer R ? A[I] | Callback<P, Awaited<R>>
    : A[I];
};
/**
 * The names of `T`'s methods that a proxy forwards: public (not starting
 * with `_`), callable, and not reserved (`then`, BaseProxy's own members).
 *
 * @example
 * ```ts
 * import type { ExposedKeys } from "@multiprocess/managers";
 *
 * class Counter {
 *   value = 0;
 *   increment(): number {
 *     return ++this.value;
 *   }
 *   _reset(): void {}
 * }
 * const name: ExposedKeys<Counter> = "increment"; // the only one
 * console.log(name);
 * ```
 */
export type ExposedKeys<T> = {
  [K in keyof T]: K extends string
    ? K extends `_${string}` | keyof BaseProxy | "then" | "constructor" ? never
    : T[K] extends (...args: never[]) => unknown ? K
    : never
    : never;
}[keyof T];

/**
 * The proxy type of a shared class: each exposed method of `T` becomes one
 * that returns a promise of its awaited result; fields and `_`-prefixed
 * members are not there. `K` narrows it to the exposed names (see
 * {@linkcode RemoteOf}).
 *
 * @example
 * ```ts
 * import type { Remote } from "@multiprocess/managers";
 *
 * class Counter {
 *   value = 0;
 *   increment(by: number): number {
 *     return (this.value += by);
 *   }
 * }
 * // { increment(by: number): Promise<number> } plus the BaseProxy members
 * type CounterProxy = Remote<Counter>;
 * const call: keyof CounterProxy = "increment";
 * console.log(call);
 * ```
 */
export type Remote<
  T,
  K extends ExposedKeys<T> = ExposedKeys<T>,
  Chained extends PropertyKey = never,
> =
  & {
    [P in K]: T[P] extends (...args: infer A) => infer R ? P extends Chained
        // A shared object comes back: pipelined, and chained the same way if it is a T.
        ? (...args: Sendable<A>) => Pipelined<
          Remote<
            Awaited<R>,
            ExposedKeys<Awaited<R>>,
            Awaited<R> extends T ? Chained : never
          >
        >
      : (...args: Sendable<A>) => Promise<Awaited<R>>
      : never;
  }
  & BaseProxy;

/**
 * The proxy type of a shared class `C`, as `manager.create(C)` returns it:
 * when the class lists its exposed methods in `static _exposed_` (with
 * `as const`), only those; otherwise every public method.
 *
 * @example
 * ```ts
 * import type { RemoteOf } from "@multiprocess/managers";
 *
 * class Store {
 *   static readonly _exposed_ = ["get"] as const;
 *   #data = new Map<string, number>();
 *   get(key: string): number | undefined {
 *     return this.#data.get(key);
 *   }
 *   clear(): void {
 *     this.#data.clear();
 *   }
 * }
 * // Only `get` is on the proxy type: `clear` is not exposed.
 * const name: keyof RemoteOf<typeof Store> = "get";
 * console.log(name);
 * ```
 */
export type RemoteOf<C extends new (...args: never[]) => object> = C extends
  { readonly _exposed_: readonly (infer E)[] }
  ? Remote<InstanceType<C>, Extract<E, ExposedKeys<InstanceType<C>>>, ChainedKeys<C>>
  : Remote<InstanceType<C>, ExposedKeys<InstanceType<C>>, ChainedKeys<C>>;

/**
 * The methods of a shared class `C` that return shared objects, as its
 * `static _methodToTypeid_` lists them (with `as const`): on its proxy they
 * return {@linkcode Pipelined} proxies.
 *
 * @example
 * ```ts
 * import type { ChainedKeys } from "@multiprocess/managers";
 *
 * class Tree {
 *   static readonly _methodToTypeid_ = { child: "Tree" } as const;
 *   child(_name: string): Tree {
 *     return new Tree();
 *   }
 * }
 * const chained: ChainedKeys<typeof Tree> = "child";
 * console.log(chained);
 * ```
 */
export type ChainedKeys<C> = C extends { readonly _methodToTypeid_: infer M } ? keyof M & string
  : never;
