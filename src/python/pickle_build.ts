/**
 * What the pickle reader builds, and from which names: the allowlist of
 * globals a pickle may name, what REDUCE, NEWOBJ and BUILD make of each
 * (data, exceptions, tokens and proxies; nothing is called, imported or
 * constructed from a name), the values as they are built, and the walk
 * that finishes them into JavaScript values within a memory budget.
 * `pickle_reader.ts` is the opcode machine that drives these.
 *
 * @module
 */

import { BrokenBarrierError, Empty, Full } from "../errors.ts";
import { BUILTIN_EXCEPTIONS, PyProxy, PySlice, PyToken } from "./python_values.ts";

/** A pickle that cannot be read, or that this reader refuses. */
export class PickleError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "PickleError";
  }
}

/** How much a pickle may hold. */
export interface PickleLimits {
  /** Deepest nesting of containers. */
  readonly maxDepth: number;
  /** Most items in one collection. */
  readonly maxLength: number;
}

/** Exception classes outside `builtins` a pickle may name, and the error each becomes. */
const OTHER_EXCEPTIONS: Record<string, (message: string) => Error> = {
  "queue.Empty": (message) => new Empty(message || undefined),
  "_queue.Empty": (message) => new Empty(message || undefined),
  "queue.Full": (message) => new Full(message || undefined),
  "threading.BrokenBarrierError": (message) => new BrokenBarrierError(message || undefined),
  "multiprocessing.managers.RemoteError": (message) => named("RemoteError", message),
  "multiprocessing.context.AuthenticationError": (message) => named("AuthenticationError", message),
  "multiprocessing.context.ProcessError": (message) => named("ProcessError", message),
  "multiprocessing.context.TimeoutError": (message) => named("TimeoutError", message),
};

/** The proxy types a `RebuildProxy` may name. */
const PROXY_TYPES = new Set([
  "AutoProxy",
  "BaseProxy",
  "IteratorProxy",
  "AcquirerProxy",
  "ConditionProxy",
  "EventProxy",
  "BarrierProxy",
  "NamespaceProxy",
  "ValueProxy",
  "ListProxy",
  "DictProxy",
  "ArrayProxy",
  "PoolProxy",
  "BaseListProxy",
]);

function named(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** A global a pickle named, from the allowlist. */
export class Global {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An exception being built: `cls(*args)`, then perhaps BUILD with its `__dict__`. */
class PyException {
  constructor(readonly cls: Global, readonly args: unknown[]) {}
}

/** A token being built: `Token.__new__(Token)`, then BUILD with `(typeid, address, id)`. */
class TokenInProgress {
  token: PyToken | undefined;
}

/** A `timedelta` (and a `timezone`, which is one): milliseconds. */
class Offset {
  constructor(readonly ms: number) {}
}

/**
 * `datetime(state[, tzinfo])`: 10 bytes of year (2), month, day, hour,
 * minute, second and microsecond (3). A naive datetime is read as UTC.
 */
function readDatetime(args: unknown[]): Date {
  const [state, zone] = args;
  if (!(state instanceof Uint8Array) || state.length !== 10) {
    throw new PickleError("datetime() with a state that is not 10 bytes");
  }
  if (zone !== undefined && zone !== null && !(zone instanceof Offset)) {
    throw new PickleError("datetime() with a tzinfo that is not a fixed timezone");
  }
  const [y1, y2, month, day, hour, minute, second, u1, u2, u3] = state as unknown as number[];
  const date = new Date(0);
  date.setUTCFullYear(y1! * 256 + y2!, (month! & 0x7f) - 1, day!);
  date.setUTCHours(hour!, minute!, second!, Math.floor((u1! * 65536 + u2! * 256 + u3!) / 1000));
  return new Date(date.getTime() - (zone instanceof Offset ? zone.ms : 0));
}

/** A dict as the pickle builds it (keys may be any value). */
export class PyDict {
  readonly entries = new Map<unknown, unknown>();
}

/** A set as the pickle builds it. */
export class PySet {
  readonly items: unknown[] = [];
  constructor(readonly frozen: boolean) {}
}

/** Adds `items` to a set being built, within the collection limit. */
export function addItems(set: PySet, items: unknown[], limits: PickleLimits): void {
  if (set.items.length + items.length > limits.maxLength) {
    throw new PickleError(
      `a collection of more than ${limits.maxLength} items (limits.maxLength)`,
    );
  }
  for (const item of items) set.items.push(item);
}

/** The global `module.name`, if the allowlist has it; else a refusal naming it. */
export function lookupGlobal(module: string, name: string): Global {
  const qualified = `${module}.${name}`;
  const allowed = (module === "builtins" || module === "__builtin__" ||
      module === "exceptions")
    ? BUILTIN_EXCEPTIONS.has(name) ||
      ["set", "frozenset", "bytearray", "slice", "bytes", "list", "tuple", "dict", "range"]
        .includes(name)
    : qualified in OTHER_EXCEPTIONS ||
      qualified === "collections.OrderedDict" ||
      qualified === "_codecs.encode" ||
      qualified === "datetime.datetime" ||
      qualified === "datetime.timezone" ||
      qualified === "datetime.timedelta" ||
      (module === "multiprocessing.managers" &&
        (name === "Token" || name === "RebuildProxy" || PROXY_TYPES.has(name)));
  if (!allowed) {
    throw new PickleError(
      `the pickle names the global ${qualified}, which is not allowed (only data, exceptions and proxies can be sent)`,
    );
  }
  return new Global(
    module === "__builtin__" || module === "exceptions" ? "builtins" : module,
    name,
  );
}

/** What REDUCE of `callable(*args)` builds: data, an exception, a token or proxy; nothing runs. */
export function callGlobal(callable: unknown, args: unknown, limits: PickleLimits): unknown {
  if (!(callable instanceof Global)) {
    throw new PickleError("REDUCE on a value that is not a global");
  }
  if (!Array.isArray(args)) throw new PickleError("REDUCE with arguments that are not a tuple");
  const { module, name } = callable;
  if (module === "builtins") {
    switch (name) {
      case "set":
      case "frozenset": {
        const set = new PySet(name === "frozenset");
        const items = args[0] ?? [];
        if (!Array.isArray(items)) {
          throw new PickleError(`${name}() of a value that is not a list`);
        }
        addItems(set, items, limits);
        return set;
      }
      case "bytearray":
      case "bytes": {
        const source = args[0] ?? new Uint8Array(0);
        if (source instanceof Uint8Array) return source.slice();
        if (typeof source === "string" && args[1] === "latin-1") return fromLatin1(source);
        if (
          Array.isArray(source) && source.every((b) => Number.isInteger(b) && b >= 0 && b < 256)
        ) {
          return Uint8Array.from(source as number[]);
        }
        throw new PickleError(`${name}() of an unexpected value`);
      }
      case "slice": {
        const [start = null, stop = null, step = null] = args.length === 1
          ? [null, args[0], null]
          : args;
        for (const part of [start, stop, step]) {
          if (part !== null && typeof part !== "number") {
            throw new PickleError("slice() of values that are not integers");
          }
        }
        return new PySlice(start as number | null, stop as number | null, step as number | null);
      }
      case "list":
      case "tuple":
        return Array.isArray(args[0]) ? [...args[0]] : [];
      case "range": {
        // range(start, stop, step): its numbers, within the collection limit.
        const [start, stop, step = 1] = args.length === 1 ? [0, args[0]] : args;
        if (![start, stop, step].every(Number.isSafeInteger) || step === 0) {
          throw new PickleError("range() of values that are not integers");
        }
        const count = Math.max(
          0,
          Math.ceil(((stop as number) - (start as number)) / (step as number)),
        );
        if (count > limits.maxLength) {
          throw new PickleError(
            `a range of ${count} items, over the limit of ${limits.maxLength} (limits.maxLength)`,
          );
        }
        return Array.from({ length: count }, (_, i) => (start as number) + i * (step as number));
      }
      case "dict":
        return new PyDict();
      default:
        return new PyException(callable, args);
    }
  }
  const qualified = callable.qualified;
  if (qualified in OTHER_EXCEPTIONS) return new PyException(callable, args);
  if (qualified === "collections.OrderedDict") return new PyDict();
  if (qualified === "datetime.timedelta") {
    const [days = 0, seconds = 0, microseconds = 0] = args;
    if (![days, seconds, microseconds].every(Number.isSafeInteger)) {
      throw new PickleError("timedelta() of values that are not integers");
    }
    return new Offset(
      (days as number) * 86_400_000 + (seconds as number) * 1000 +
        (microseconds as number) / 1000,
    );
  }
  if (qualified === "datetime.timezone") {
    if (!(args[0] instanceof Offset)) throw new PickleError("timezone() without a timedelta");
    return args[0];
  }
  if (qualified === "datetime.datetime") return readDatetime(args);
  if (qualified === "_codecs.encode") {
    // Protocol 2's bytes: _codecs.encode(text, "latin1").
    const [text, encoding] = args;
    if (typeof text !== "string" || (encoding !== "latin1" && encoding !== "latin-1")) {
      throw new PickleError("_codecs.encode() of unexpected arguments");
    }
    return fromLatin1(text);
  }
  if (qualified === "multiprocessing.managers.RebuildProxy") {
    const [func, token, , kwds] = args;
    if (!(func instanceof Global) || !(token instanceof TokenInProgress) || !token.token) {
      throw new PickleError("RebuildProxy() of unexpected arguments");
    }
    const exposedRaw = kwds instanceof PyDict ? kwds.entries.get("exposed") : undefined;
    const exposed = Array.isArray(exposedRaw) && exposedRaw.every((x) => typeof x === "string")
      ? exposedRaw as string[]
      : undefined;
    return new PyProxy(token.token, func.name, exposed);
  }
  throw new PickleError(`the pickle calls ${qualified}, which is not allowed`);
}

/** What NEWOBJ (`cls.__new__(cls, *args)`) builds. */
export function newObject(cls: unknown, args: unknown, limits: PickleLimits): unknown {
  if (!(cls instanceof Global)) throw new PickleError("NEWOBJ on a value that is not a global");
  if (cls.qualified === "multiprocessing.managers.Token") return new TokenInProgress();
  if (cls.qualified === "collections.OrderedDict") return new PyDict();
  return callGlobal(cls, args, limits);
}

/** BUILD: `target` takes `state` (a token its fields, an exception its `__dict__`). */
export function buildState(target: unknown, state: unknown): void {
  if (target instanceof TokenInProgress) {
    const [typeid, address, id] = Array.isArray(state) ? state : [];
    const addressOk = typeof address === "string" ||
      (Array.isArray(address) && address.length === 2 && typeof address[0] === "string" &&
        typeof address[1] === "number");
    if (typeof typeid !== "string" || !addressOk || typeof id !== "string") {
      throw new PickleError("a Token with a malformed state");
    }
    target.token = new PyToken(typeid, address as string | [string, number], id);
    return;
  }
  if (target instanceof PyException) {
    // The exception's __dict__ (notes, attributes): not part of what crosses.
    return;
  }
  throw new PickleError("BUILD on a value that takes no state");
}

function fromLatin1(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) throw new PickleError("latin-1 bytes with a character above U+00FF");
    out[i] = code;
  }
  return out;
}

/** A dict key as a Map key: tuples are compared by content, as Python hashes them. */
export function dictKey(key: unknown): unknown {
  if (key instanceof PyDict || (key instanceof PySet && !key.frozen)) {
    throw new PickleError("a dict key that is a dict or a set (unhashable in Python)");
  }
  return key;
}

/** Python's `str()` of an exception's first argument, the message it shows. */
function messageOf(args: unknown[]): string {
  if (args.length === 0) return "";
  if (args.length === 1) return typeof args[0] === "string" ? args[0] : pyRepr(args[0]);
  return `(${args.map(pyRepr).join(", ")})`;
}

function pyRepr(value: unknown): string {
  if (typeof value === "string") {
    return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
  }
  if (value === null) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  return String(value);
}

/**
 * The finished value in JavaScript terms, walked once with a budget: it
 * refuses nesting past `maxDepth`, cycles, and shared structure that would
 * grow past what the message's size allows.
 */
export function finish(
  raw: unknown,
  limits: PickleLimits,
  size: number,
  proxy: ((found: PyProxy) => unknown) | undefined,
): unknown {
  let budget = 4 * size + 1024;
  const convert = (value: unknown, depth: number): unknown => {
    if (--budget < 0) {
      throw new PickleError(
        "decoding it would take far more memory than its size (shared or cyclic structure)",
      );
    }
    if (value === null || typeof value !== "object") return value;
    if (value instanceof Uint8Array || value instanceof Date) return value;
    if (value instanceof Offset) {
      throw new PickleError("a bare timedelta or timezone cannot be read");
    }
    if (depth >= limits.maxDepth) {
      throw new PickleError(
        `values nest deeper than the limit of ${limits.maxDepth} levels (limits.maxDepth)`,
      );
    }
    if (Array.isArray(value)) return value.map((item) => convert(item, depth + 1));
    if (value instanceof PyDict) {
      let stringKeys = true;
      for (const key of value.entries.keys()) {
        if (typeof key !== "string" || key === "__proto__") stringKeys = false;
      }
      if (stringKeys) {
        const out: Record<string, unknown> = {};
        for (const [key, item] of value.entries) out[key as string] = convert(item, depth + 1);
        return out;
      }
      const out = new Map<unknown, unknown>();
      for (const [key, item] of value.entries) {
        out.set(convert(key, depth + 1), convert(item, depth + 1));
      }
      return out;
    }
    if (value instanceof PySet) return new Set(value.items.map((item) => convert(item, depth + 1)));
    if (value instanceof PyException) {
      const message = messageOf(value.args);
      const make = OTHER_EXCEPTIONS[value.cls.qualified];
      const error = make ? make(message) : named(value.cls.name, message);
      if (value.args.length > 0) {
        Object.defineProperty(error, "args", {
          value: value.args.map((item) => convert(item, depth + 1)),
          enumerable: false,
        });
      }
      return error;
    }
    if (value instanceof TokenInProgress) {
      if (value.token === undefined) {
        throw new PickleError("a Token that was never given its state");
      }
      return value.token;
    }
    if (value instanceof PyProxy) return proxy === undefined ? value : proxy(value);
    if (value instanceof PySlice) return value;
    if (value instanceof Global) {
      throw new PickleError(`the pickle holds the global ${value.qualified} itself, not data`);
    }
    throw new PickleError("the pickle holds a value that cannot be read");
  };
  return convert(raw, 0);
}
