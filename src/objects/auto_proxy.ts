/**
 * Proxy classes made from method lists, as CPython's `MakeProxyType`:
 * `forwardMethods()` for hand-written proxies, auto proxies for typeids
 * without one (their `methodToTypeid` methods pipelined), and
 * `createProxy()`, which picks the class for a token that arrived.
 *
 * @module
 */

import {
  BaseProxy,
  channelOf,
  isExposableName,
  type ProxyChannel,
  type ProxyClass,
  proxyInit,
  type Token,
} from "./proxy.ts";
import { canPipeline, pipelined } from "./pipeline.ts";

const autoProxyClasses = new Map<string, ProxyClass>();

/**
 * Gives `cls` a method for each of `names` that it (or a parent) does not
 * define itself, forwarding its arguments with `_callmethod`: CPython's
 * `MakeProxyType`. Hand-written proxies declare the types of these methods
 * and write bodies only where there is logic.
 */
export function forwardMethods(cls: ProxyClass, names: readonly string[]): void {
  for (const name of names) {
    if (!isExposableName(name) || name in cls.prototype) continue;
    Object.defineProperty(cls.prototype, name, {
      value: function (this: BaseProxy, ...args: unknown[]): Promise<unknown> {
        return this._callmethod(name, args);
      },
      writable: true,
      configurable: true,
    });
  }
}

/**
 * The auto proxy class for a typeid and exposed set (cached), as CPython's
 * `MakeProxyType`. Methods in `methodToTypeid` return pipelined proxies.
 */
export function autoProxyClass(
  typeid: string,
  exposed: readonly string[],
  methodToTypeid: Readonly<Record<string, string>> = {},
): ProxyClass {
  const chained = Object.keys(methodToTypeid).filter((name) => exposed.includes(name));
  const key = `${typeid}\0${exposed.join("\0")}\0\0${chained.join("\0")}`;
  let cls = autoProxyClasses.get(key);
  if (cls === undefined) {
    const AutoProxy = class extends BaseProxy {};
    Object.defineProperty(AutoProxy, "name", { value: `AutoProxy[${typeid}]` });
    for (const name of chained) {
      const target = methodToTypeid[name]!;
      Object.defineProperty(AutoProxy.prototype, name, {
        value: function (this: BaseProxy, ...args: unknown[]): Promise<unknown> {
          return callPipelined(this, name, args, target);
        },
        writable: true,
        configurable: true,
      });
    }
    forwardMethods(AutoProxy, exposed);
    cls = AutoProxy;
    autoProxyClasses.set(key, cls);
  }
  return cls;
}

/** Builds a proxy for `token` that calls through `channel`. */
export function createProxy(
  token: Token,
  exposed: readonly string[],
  channel: ProxyChannel,
): BaseProxy {
  const init = proxyInit(token, exposed, channel);
  const Class = channel.proxyType(token.typeid) ??
    autoProxyClass(token.typeid, exposed, channel.methodToTypeid?.(token.typeid));
  return new Class(init);
}

/**
 * `proxy.method(args)` whose result is a shared object of `typeid`,
 * pipelined when the channel can: calls on the result go out at once.
 */
function callPipelined(
  proxy: BaseProxy,
  method: string,
  args: readonly unknown[],
  typeid: string,
): Promise<unknown> {
  const channel = channelOf(proxy);
  if (proxy._released || !canPipeline(channel)) return proxy._callmethod(method, args);
  return pipelined(channel, channel.callKept(proxy._token.id, method, args), typeid);
}
