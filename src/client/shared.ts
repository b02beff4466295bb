/**
 * `@shared`: the class decorator that registers a class on a manager.
 *
 * @module
 */

import { BaseManager } from "./manager.ts";
import type { ProxyClass } from "../objects/proxy.ts";
import { publicMethods, registerCallable, type RegisterOptions } from "../objects/registry.ts";

/**
 * Options of {@linkcode shared}: the registration options plus the typeid
 * (default: the class name) and the manager class to register on (default
 * `BaseManager`).
 *
 * @example
 * ```ts
 * import { BaseManager, type SharedOptions } from "@multiprocess/managers";
 *
 * class MyManager extends BaseManager {}
 * const options: SharedOptions = { typeid: "Tally", manager: MyManager, exposed: ["add"] };
 * console.log(options.typeid); // "Tally"
 * ```
 */
export interface SharedOptions extends RegisterOptions {
  /** The name to register under; default the class name. */
  readonly typeid?: string;
  /** The manager class to register on; default `BaseManager`. */
  readonly manager?: typeof BaseManager;
  /** Proxy class for this typeid; default an auto proxy. */
  readonly proxytype?: ProxyClass;
}

/**
 * A TC39 class decorator that registers the class on a manager: the
 * server creates instances with `new Class(...args)`. The exposed methods
 * default to the public methods along the prototype chain (not
 * `constructor`, not names starting with `_`). `@shared("Name")` is short
 * for `@shared({ typeid: "Name" })`.
 *
 * The module that declares the class must be one the server process
 * imports (the manager's `modules`), so that the server registers it too.
 *
 * @example
 * ```ts
 * import { BaseManager, shared } from "@multiprocess/managers";
 *
 * class MyManager extends BaseManager {}
 *
 * @shared({ manager: MyManager })
 * export class Counter {
 *   #value = 0;
 *   increment(by = 1): number {
 *     return (this.#value += by);
 *   }
 * }
 *
 * if (import.meta.main) {
 *   await using manager = await new MyManager({ modules: [import.meta.url] }).start();
 *   const counter = await manager.create(Counter);
 *   console.log(await counter.increment(2)); // 2
 * }
 * ```
 */
export function shared(
  options: SharedOptions | string = {},
): <C extends new (...args: never[]) => object>(
  target: C,
  context: ClassDecoratorContext<C>,
) => void {
  const settings: SharedOptions = typeof options === "string" ? { typeid: options } : options;
  if (typeof settings !== "object" || settings === null) {
    throw new TypeError("@shared() takes a typeid string or an options object");
  }
  return (target, context) => {
    if (typeof context !== "object" || context === null) {
      // A legacy (experimentalDecorators) class decorator gets the class alone.
      throw new TypeError(
        `@shared() on ${
          (target as { name?: string })?.name ?? "a class"
        } was called as a legacy decorator: @shared needs standard (TC39) decorators, so remove "experimentalDecorators": true from compilerOptions in deno.json`,
      );
    }
    if (context.kind !== "class") throw new TypeError("@shared() decorates classes only");
    const typeid = settings.typeid ?? String(context.name ?? target.name);
    const manager = settings.manager ?? BaseManager;
    const { typeid: _typeid, manager: _manager, ...registerOptions } = settings;
    // Static fields (`_exposed_`, `_methodToTypeid_`) exist only once the
    // class is fully defined: register then, still while its module loads.
    context.addInitializer(() => {
      const declared = (target as { _exposed_?: unknown })._exposed_;
      const chained = (target as { _methodToTypeid_?: unknown })._methodToTypeid_;
      registerCallable(manager, typeid, target, {
        ...registerOptions,
        ...(settings.methodToTypeid === undefined && typeof chained === "object" &&
            chained !== null
          ? { methodToTypeid: chained as Readonly<Record<string, string>> }
          : {}),
        exposed: settings.exposed ??
          (settings.proxytype as { _exposed_?: readonly string[] } | undefined)?._exposed_ ??
          (Array.isArray(declared) ? declared as readonly string[] : undefined) ??
          publicMethods(target.prototype),
      }, true);
    });
  };
}
