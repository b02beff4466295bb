/**
 * What the pickle reader builds, and from which names: the allowlist of
 * globals a pickle may name, what REDUCE, NEWOBJ and BUILD make of each
 * (data, exceptions, tokens and proxies, and the values of other Python
 * types kept inert as they were named and called: nothing is called,
 * imported or constructed from a name), the values as they are built, and
 * the walk that finishes them into the values a server keeps, within a
 * memory budget. `pickle_reader.ts` is the opcode machine that drives these.
 *
 * Past 400 lines: the allowlist and what each allowed global builds must
 * read side by side, with the finishing walk that checks what was built.
 *
 * @module
 */

import { BrokenBarrierError, Empty, Full } from "../errors.ts";
import {
  isTuple,
  PyByteArray,
  PyDatetime,
  PyFrozenSet,
  PythonObject,
  tuple,
} from "../wire/python_data.ts";
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

/**
 * The Python types whose values travel inertly by default: read as
 * {@linkcode PythonObject}s (a `datetime` as a `PyDatetime`), kept as they
 * were named and called, and written back the same way. The builtin types
 * among them may also be named as values (a `defaultdict`'s factory).
 */
export const PYTHON_TYPES: ReadonlySet<string> = new Set([
  "builtins.range",
  "builtins.complex",
  "builtins.int",
  "builtins.float",
  "builtins.str",
  "builtins.bool",
  "datetime.datetime",
  "datetime.date",
  "datetime.time",
  "datetime.timedelta",
  "datetime.timezone",
  "decimal.Decimal",
  "fractions.Fraction",
  "collections.deque",
  "collections.OrderedDict",
  "collections.Counter",
  "collections.defaultdict",
  "uuid.UUID",
  "uuid.SafeUUID",
  "array.array",
  "array._array_reconstructor",
]);

/** Python 2's names of builtins Python 3 renamed, as protocol 2 pickles name them. */
const PYTHON2_NAMES: Readonly<Record<string, string>> = {
  xrange: "range",
  unicode: "str",
  long: "int",
};

/** The builtin containers a pickle builds as data; named as values, they travel as references. */
const DATA_BUILTINS = new Set([
  "set",
  "frozenset",
  "bytearray",
  "slice",
  "bytes",
  "list",
  "tuple",
  "dict",
]);

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

/**
 * A value of an inert type being built: REDUCE or NEWOBJ made it from its
 * global and arguments; APPENDS, SETITEMS and BUILD may add items, entries
 * and state. Finished, it is a {@linkcode PythonObject} (a datetime a
 * {@linkcode PyDatetime}).
 */
export class Reduced {
  readonly items: unknown[] = [];
  readonly entries: [unknown, unknown][] = [];
  state: unknown = undefined;
  constructor(
    readonly global: Global,
    readonly form: "call" | "new",
    readonly args: unknown[],
  ) {}
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

/** Whether `qualified` names a type whose values travel inertly: the defaults, or one `extra` adds. */
export function inertType(qualified: string, extra: ReadonlySet<string>): boolean {
  return PYTHON_TYPES.has(qualified) || extra.has(qualified);
}

/** Whether a value naming the global `module.name` may travel to Python (`extra` adds types). */
export function travels(module: string, name: string, extra: ReadonlySet<string>): boolean {
  return inertType(`${module}.${name}`, extra) ||
    (module === "builtins" && DATA_BUILTINS.has(name));
}

/**
 * The global `module.name`, if the allowlist (or `extra`, the globals a
 * user added) has it; else a refusal naming it.
 */
export function lookupGlobal(module: string, name: string, extra: ReadonlySet<string>): Global {
  const builtin = module === "builtins" || module === "__builtin__" || module === "exceptions";
  // Protocol 2 names Python 2's builtins, as Python 3's unpickler maps them back (_compat_pickle).
  const global = new Global(
    builtin ? "builtins" : module,
    module === "__builtin__" ? PYTHON2_NAMES[name] ?? name : name,
  );
  const qualified = global.qualified;
  const allowed = builtin
    ? BUILTIN_EXCEPTIONS.has(global.name) || DATA_BUILTINS.has(global.name) ||
      inertType(qualified, extra)
    : qualified in OTHER_EXCEPTIONS ||
      qualified === "_codecs.encode" ||
      inertType(qualified, extra) ||
      (module === "multiprocessing.managers" &&
        (name === "Token" || name === "RebuildProxy" || PROXY_TYPES.has(name)));
  if (!allowed) {
    throw new PickleError(
      `the pickle names the global ${module}.${name}, which is not allowed (only data, exceptions, proxies and the Python types of docs/python.md travel; the pickleGlobals option adds more, at your own risk)`,
    );
  }
  return global;
}

/**
 * What REDUCE of `callable(*args)` builds: data, an exception, a token or
 * proxy, or a value of an inert type (`extra` adds to those); nothing runs.
 */
export function callGlobal(
  callable: unknown,
  args: unknown,
  limits: PickleLimits,
  extra: ReadonlySet<string>,
): unknown {
  if (!(callable instanceof Global)) {
    throw new PickleError("REDUCE on a value that is not a global");
  }
  if (!Array.isArray(args)) throw new PickleError("REDUCE with arguments that are not a tuple");
  const { module, name } = callable;
  if (inertType(callable.qualified, extra)) return new Reduced(callable, "call", args);
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
        const bytes = bytesOf(name, args);
        return name === "bytearray" ? new PyByteArray(bytes) : bytes;
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
        return Array.isArray(args[0]) ? [...args[0]] : [];
      case "tuple":
        return tuple(Array.isArray(args[0]) ? [...args[0]] : []);
      case "dict":
        return new PyDict();
      default:
        return new PyException(callable, args);
    }
  }
  const qualified = callable.qualified;
  if (qualified in OTHER_EXCEPTIONS) return new PyException(callable, args);
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
export function newObject(
  cls: unknown,
  args: unknown,
  limits: PickleLimits,
  extra: ReadonlySet<string>,
): unknown {
  if (!(cls instanceof Global)) throw new PickleError("NEWOBJ on a value that is not a global");
  if (cls.qualified === "multiprocessing.managers.Token") return new TokenInProgress();
  if (inertType(cls.qualified, extra)) {
    if (!Array.isArray(args)) throw new PickleError("NEWOBJ with arguments that are not a tuple");
    return new Reduced(cls, "new", args);
  }
  return callGlobal(cls, args, limits, extra);
}

/** BUILD: `target` takes `state` (a token its fields, an exception its `__dict__`). */
export function buildState(target: unknown, state: unknown): void {
  if (target instanceof Reduced) {
    if (target.state !== undefined) throw new PickleError("BUILD twice on one value");
    target.state = state;
    return;
  }
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

/** The bytes of `bytes(...)` or `bytearray(...)`, from the arguments a pickle gives them. */
function bytesOf(name: string, args: unknown[]): Uint8Array {
  const source = args[0] ?? new Uint8Array(0);
  if (source instanceof Uint8Array) return source.slice();
  if (typeof source === "string" && args[1] === "latin-1") return fromLatin1(source);
  if (Array.isArray(source) && source.every((b) => Number.isInteger(b) && b >= 0 && b < 256)) {
    return Uint8Array.from(source as number[]);
  }
  throw new PickleError(`${name}() of an unexpected value`);
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
  extra: ReadonlySet<string>,
  view: boolean,
): unknown {
  let budget = 4 * size + 1024;
  // `inside`: within a PythonObject's parts, where values keep their Python types even in `view`.
  const convert = (value: unknown, depth: number, inside: boolean): unknown => {
    if (--budget < 0) {
      throw new PickleError(
        "decoding it would take far more memory than its size (shared or cyclic structure)",
      );
    }
    if (value === null || typeof value !== "object") return value;
    const plain = view && !inside;
    if (Array.isArray(value)) {
      if (depth >= limits.maxDepth) tooDeep(limits);
      const length = value.length;
      const out = new Array<unknown>(length);
      for (let i = 0; i < length; i++) out[i] = convert(value[i], depth + 1, inside);
      return !plain && isTuple(value) ? tuple(out) : out;
    }
    if (value instanceof Number) return plain ? value.valueOf() : value;
    if (value instanceof Uint8Array) {
      return plain && value instanceof PyByteArray ? new Uint8Array(value) : value;
    }
    if (depth >= limits.maxDepth) tooDeep(limits);
    if (value instanceof PyDict) {
      // A plain object when JavaScript keeps its keys in Python's order: strings, none an index.
      let stringKeys = true;
      for (const key of value.entries.keys()) {
        if (typeof key !== "string" || key === "__proto__" || arrayIndex(key)) stringKeys = false;
      }
      if (stringKeys) {
        const out: Record<string, unknown> = {};
        for (const [key, item] of value.entries) {
          out[key as string] = convert(item, depth + 1, inside);
        }
        return out;
      }
      const out = new Map<unknown, unknown>();
      for (const [key, item] of value.entries) {
        out.set(convert(key, depth + 1, inside), convert(item, depth + 1, inside));
      }
      return out;
    }
    if (value instanceof PySet) {
      const items = value.items.map((item) => convert(item, depth + 1, inside));
      return value.frozen && !plain ? new PyFrozenSet(items) : new Set(items);
    }
    if (value instanceof Reduced) {
      const made = finishReduced(value, (item) => convert(item, depth + 1, true));
      return plain && made instanceof PyDatetime ? new Date(made.getTime()) : made;
    }
    if (value instanceof PyException) {
      const message = messageOf(value.args);
      const make = OTHER_EXCEPTIONS[value.cls.qualified];
      const error = make ? make(message) : named(value.cls.name, message);
      if (value.args.length > 0) {
        Object.defineProperty(error, "args", {
          value: value.args.map((item) => convert(item, depth + 1, inside)),
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
      if (
        inertType(value.qualified, extra) ||
        (value.module === "builtins" && DATA_BUILTINS.has(value.name))
      ) {
        return new PythonObject(value.module, value.name, { form: "ref" });
      }
      throw new PickleError(`the pickle holds the global ${value.qualified} itself, not data`);
    }
    throw new PickleError("the pickle holds a value that cannot be read");
  };
  return convert(raw, 0, false);
}

function tooDeep(limits: PickleLimits): never {
  throw new PickleError(
    `values nest deeper than the limit of ${limits.maxDepth} levels (limits.maxDepth)`,
  );
}

/** A finished inert value: a datetime as a `PyDatetime`, anything else a `PythonObject`. */
function finishReduced(value: Reduced, convert: (item: unknown) => unknown): unknown {
  const { module, name } = value.global;
  const args = value.args.map(convert);
  const items = value.items.map(convert);
  const entries = value.entries.map(([k, v]) => [convert(k), convert(v)] as [unknown, unknown]);
  const state = value.state === undefined ? undefined : convert(value.state);
  if (
    value.global.qualified === "datetime.datetime" && value.form === "call" &&
    state === undefined && items.length === 0 && entries.length === 0
  ) {
    const [fields, tzinfo = null] = args;
    if (!(fields instanceof Uint8Array) || fields.length !== 10 || args.length > 2) {
      throw new PickleError("datetime() with a state that is not 10 bytes");
    }
    try {
      return new PyDatetime(fields, tzinfo);
    } catch (error) {
      throw new PickleError(`datetime() of an unexpected state: ${(error as Error).message}`);
    }
  }
  return new PythonObject(module, name, {
    form: value.form,
    args,
    items,
    entries,
    ...(state === undefined ? {} : { state }),
  });
}

/** Whether JavaScript would order `key` as an array index, ahead of other keys. */
function arrayIndex(key: string): boolean {
  const first = key.charCodeAt(0);
  return first >= 48 && first <= 57 && /^(?:0|[1-9]\d{0,9})$/.test(key) &&
    Number(key) < 4294967295;
}
