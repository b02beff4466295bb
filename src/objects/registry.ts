/**
 * Registrations: which typeids a manager class can create, and how their
 * proxies look. As in CPython, a manager class uses the table of the
 * nearest class in its chain that has one; its first registration copies
 * that table, so registering on a subclass never changes the parent's, and
 * later registrations on the parent (a `@shared()` class on `BaseManager`)
 * do not reach a subclass that already has its own (`SyncManager`).
 *
 * @module
 */

import { BaseProxy, isExposableName, type ProxyClass } from "./proxy.ts";

/**
 * A function the server calls to make a shared object: a factory such as
 * `(n) => new Counter(n)` or `() => theQueue`.
 *
 * @example
 * ```ts
 * import type { Callable } from "@multiprocess/managers";
 *
 * const make: Callable = (start: number) => ({ value: start });
 * console.log(typeof make); // "function"
 * ```
 */
export type Callable = (...args: never[]) => unknown;

/**
 * Options of `BaseManager.register()`, as CPython's keyword arguments.
 *
 * @example
 * ```ts
 * import type { RegisterOptions } from "@multiprocess/managers";
 *
 * const options: RegisterOptions = {
 *   exposed: ["get", "set"],
 *   methodToTypeid: { iterate: "Iterator" },
 *   createMethod: true,
 * };
 * console.log(options.exposed); // ["get", "set"]
 * ```
 */
export interface RegisterOptions {
  /** Proxy class for this typeid; default: an auto proxy with one method per exposed name. */
  readonly proxytype?: ProxyClass;
  /** Methods proxies may call; default: the proxytype's `_exposed_`, else the object's public methods. */
  readonly exposed?: readonly string[];
  /** Methods whose result is shared as a new object of the given typeid and returned as a proxy. */
  readonly methodToTypeid?: Readonly<Record<string, string>>;
  /** Give the manager an async factory method named after the typeid (default true). */
  readonly createMethod?: boolean;
}

/**
 * One typeid's registration, as `BaseManager.registrations()` lists them.
 *
 * @example
 * ```ts
 * import { BaseManager } from "@multiprocess/managers";
 *
 * class MyManager extends BaseManager {}
 * MyManager.register("Box", () => ({ value: 1 }), { exposed: ["get"] });
 * const registration = MyManager.registrations().get("Box");
 * console.log(registration?.exposed); // ["get"]
 * ```
 */
export interface Registration {
  /** The registered name. */
  readonly typeid: string;
  /** Makes the object on the server; absent for client-only registrations. */
  readonly callable: Callable | undefined;
  /**
   * Whose declared parameters `callable` takes (the class, for a class
   * registered), so that a CPython client's keyword arguments can be bound
   * by name; absent when it is `callable` itself.
   */
  readonly parameters?: object;
  /** The client's proxy class; absent for auto proxies. */
  readonly proxytype: ProxyClass | undefined;
  /** Exposed methods; absent means "public methods of the object". */
  readonly exposed: readonly string[] | undefined;
  /** Methods that return new shared objects. */
  readonly methodToTypeid: Readonly<Record<string, string>>;
}

// deno-lint-ignore ban-types
type AnyClass = Function;

interface Entry {
  readonly registration: Registration;
  /** The class registered, when a class was (for telling two apart). */
  readonly source: AnyClass | undefined;
}

const tables = new WeakMap<AnyClass, Map<string, Entry>>();

/** The table `owner` uses: its own, or that of the nearest class above it with one. */
function tableOf(owner: AnyClass): Map<string, Entry> | undefined {
  for (let cls: unknown = owner; typeof cls === "function"; cls = Object.getPrototypeOf(cls)) {
    const table = tables.get(cls);
    if (table !== undefined) return table;
  }
  return undefined;
}

/**
 * Checks and stores a registration on `owner` (a manager class). `source`
 * is the class being registered, if it is one: a different class under a
 * typeid already taken on the same manager class is refused.
 */
export function addRegistration(
  owner: AnyClass,
  typeid: string,
  callable: Callable | undefined,
  options: RegisterOptions,
  source?: AnyClass,
): Registration {
  if (typeof typeid !== "string" || typeid.length === 0) {
    throw new TypeError(`A typeid must be a non-empty string, got ${String(typeid)}`);
  }
  if (callable !== undefined && typeof callable !== "function") {
    throw new TypeError(`The callable registered for '${typeid}' must be a function`);
  }
  const { proxytype } = options;
  if (
    proxytype !== undefined &&
    (typeof proxytype !== "function" ||
      !(proxytype === BaseProxy || proxytype.prototype instanceof BaseProxy))
  ) {
    throw new TypeError(`The proxytype registered for '${typeid}' must be BaseProxy or a subclass`);
  }
  const declared = (proxytype as { _exposed_?: readonly string[] } | undefined)?._exposed_;
  const exposed = options.exposed ?? declared;
  if (exposed !== undefined) checkNames(typeid, "exposed", exposed);
  const methodToTypeid = { ...(options.methodToTypeid ?? {}) };
  for (const [method, target] of Object.entries(methodToTypeid)) {
    checkNames(typeid, "methodToTypeid", [method]);
    if (typeof target !== "string" || target.length === 0) {
      throw new TypeError(
        `methodToTypeid of '${typeid}' maps '${method}' to ${String(target)}; expected a typeid`,
      );
    }
  }
  const registration: Registration = Object.freeze({
    typeid,
    callable,
    ...(source === undefined ? {} : { parameters: source }),
    proxytype,
    exposed: exposed === undefined ? undefined : Object.freeze([...exposed]),
    methodToTypeid: Object.freeze(methodToTypeid),
  });
  const previous = tableOf(owner)?.get(typeid)?.source;
  if (previous !== undefined && source !== undefined && previous !== source) {
    const same = previous.name === source.name ? " another" : "";
    throw new TypeError(
      `Cannot register class ${source.name} as '${typeid}' on ${owner.name}:${same} class ${previous.name} is already registered under that typeid; give one of them its own typeid, such as @shared({ typeid: "${source.name}2" }) or register("${source.name}2", ${source.name})`,
    );
  }
  let table = tables.get(owner);
  // First registration on this class: copy what it saw until now.
  if (table === undefined) tables.set(owner, table = new Map(tableOf(owner)));
  table.set(typeid, { registration, source });
  rememberManagerClass(owner);
  return registration;
}

function checkNames(typeid: string, what: string, names: readonly unknown[]): void {
  if (!Array.isArray(names)) {
    throw new TypeError(`${what} of '${typeid}' must be an array of method names`);
  }
  for (const name of names) {
    if (typeof name !== "string" || !isExposableName(name)) {
      throw new TypeError(
        `${what} of '${typeid}' lists ${
          JSON.stringify(String(name))
        }, which can never be called through a proxy (it belongs to every object or to BaseProxy)`,
      );
    }
  }
}

/** The registration for `typeid` as seen from `owner`. */
export function findRegistration(owner: AnyClass, typeid: string): Registration | undefined {
  return tableOf(owner)?.get(typeid)?.registration;
}

/** Every registration visible from `owner`. */
export function allRegistrations(owner: AnyClass): Map<string, Registration> {
  const all = new Map<string, Registration>();
  for (const [typeid, entry] of tableOf(owner) ?? []) all.set(typeid, entry.registration);
  return all;
}

/**
 * The default exposed methods of an object: function-valued properties of
 * it and its prototypes (not `Object.prototype`), except `constructor`,
 * names starting with `_`, and names no proxy may forward.
 */
export function publicMethods(object: unknown): string[] {
  const names = new Set<string>();
  for (
    let current: unknown = object;
    current !== null && current !== undefined && current !== Object.prototype &&
    current !== Function.prototype;
    current = Object.getPrototypeOf(current)
  ) {
    if (typeof current !== "object" && typeof current !== "function") break;
    for (const name of Object.getOwnPropertyNames(current)) {
      if (name.startsWith("_") || !isExposableName(name) || names.has(name)) continue;
      const descriptor = Object.getOwnPropertyDescriptor(current, name);
      if (descriptor !== undefined && typeof descriptor.value === "function") names.add(name);
    }
  }
  return [...names];
}

const classesByName = new Map<string, Set<AnyClass>>();

/** Lets the server process find a manager class by its name. */
export function rememberManagerClass(owner: AnyClass): void {
  let classes = classesByName.get(owner.name);
  if (classes === undefined) classesByName.set(owner.name, classes = new Set());
  classes.add(owner);
}

/**
 * The nearest class in `owner`'s chain that has registrations of its own:
 * the class the server process must find to know the same typeids.
 */
export function registryOwner(owner: AnyClass, root: AnyClass): AnyClass {
  for (let cls: unknown = owner; typeof cls === "function"; cls = Object.getPrototypeOf(cls)) {
    if (tables.has(cls) || cls === root) return cls;
  }
  return root;
}

/** The manager class called `name` in this process, or why it cannot be chosen. */
export function findManagerClass(name: string): AnyClass | string {
  const classes = [...(classesByName.get(name) ?? [])];
  if (classes.length === 1) return classes[0]!;
  if (classes.length === 0) {
    return `The server process has no manager class '${name}' with registrations`;
  }
  return `${classes.length} different manager classes are named '${name}'; give them distinct names`;
}

/**
 * The proxy class any manager class in this process registered for
 * `typeid`, for a process that receives proxies without knowing their
 * manager class (a {@linkcode Process} worker).
 */
export function anyProxyType(typeid: string): ProxyClass | undefined {
  for (const classes of classesByName.values()) {
    for (const owner of classes) {
      const proxytype = findRegistration(owner, typeid)?.proxytype;
      if (proxytype !== undefined) return proxytype;
    }
  }
  return undefined;
}

/**
 * Registers `callable` under `typeid` on the manager class `owner`, as
 * `BaseManager.register()` does: a class (`asClass`, told by its source
 * unless given) is called with `new`, its `static _exposed_` gives the
 * default exposed list, and `create(cls)` finds it again on that manager
 * class. Unless `createMethod` is false, `owner` gets a factory method
 * named after the typeid.
 */
export function registerCallable(
  owner: AnyClass,
  typeid: string,
  callable: unknown,
  options: RegisterOptions,
  asClass: boolean = isClass(callable),
): void {
  if (callable !== undefined && asClass) {
    const cls = callable as new (...args: never[]) => unknown;
    const declared = (cls as { _exposed_?: unknown })._exposed_;
    const exposed = options.exposed ??
      (options.proxytype as { _exposed_?: readonly string[] } | undefined)?._exposed_ ??
      (Array.isArray(declared) ? declared as readonly string[] : undefined);
    if (options.createMethod ?? true) defineCreateMethod(owner, typeid);
    addRegistration(
      owner,
      typeid,
      (...args: never[]) => new cls(...args),
      exposed === undefined ? options : { ...options, exposed },
      cls,
    );
    return;
  }
  if (options.createMethod ?? true) defineCreateMethod(owner, typeid);
  addRegistration(owner, typeid, callable as Callable | undefined, options);
}

/** The typeid `cls` is registered under, as seen from the manager class `owner`. */
export function typeidOfClass(owner: AnyClass, cls: AnyClass): string | undefined {
  for (const [typeid, entry] of tableOf(owner) ?? []) {
    if (entry.source === cls) return typeid;
  }
  return undefined;
}

function isClass(fn: unknown): boolean {
  return typeof fn === "function" && /^class[\s{]/.test(Function.prototype.toString.call(fn));
}

const createMethods = new WeakSet<object>();

/** Gives `owner` a factory method named after `typeid`, unless that hides one of its own. */
function defineCreateMethod(owner: AnyClass, typeid: string): void {
  const prototype = owner.prototype as Record<string, unknown>;
  if (typeid in prototype && !createMethods.has(prototype[typeid] as object)) {
    throw new TypeError(
      `Typeid '${typeid}' would hide ${owner.name}.prototype.${typeid}; register it with { createMethod: false }`,
    );
  }
  const method = function (
    this: { create(typeid: string, ...args: unknown[]): Promise<unknown> },
    ...args: unknown[]
  ): Promise<unknown> {
    return this.create(typeid, ...args);
  };
  createMethods.add(method);
  Object.defineProperty(prototype, typeid, { value: method, writable: true, configurable: true });
}
