/**
 * Our typed `SyncManager` proxies on a CPython `SyncManager` server: each
 * call of a standard type, in our names and units (`get({ timeout: 500 })`,
 * `set(k, v)`, `size()`), as CPython's proxies would make it
 * (`get(True, 0.5)`, `__setitem__(k, v)`, `__len__()`), and the reply
 * turned back into what our proxy promises (`delete()` is a boolean where
 * Python raises `KeyError`; an iterator's end is `{ done: true }` where
 * Python raises `StopIteration`).
 *
 * @module
 */

import { PySlice } from "./python_values.ts";

/** One call as CPython makes it, and how its reply (or error) becomes ours. */
export interface PythonCall {
  readonly method: string;
  readonly args: readonly unknown[];
  readonly kwds?: Readonly<Record<string, unknown>>;
  /** Turns the reply into ours (default: as it is). */
  readonly reply?: (value: unknown) => unknown;
  /** Turns a Python error into a reply, or rethrows it (default: rethrow). */
  readonly failure?: (error: unknown) => unknown;
}

type Translate = (args: readonly unknown[]) => PythonCall;

/** `{ timeout }` in ms (ours) as seconds (Python's), or `None`. */
function seconds(options: unknown): number | null {
  const timeout = (options as { timeout?: unknown } | undefined)?.timeout;
  return typeof timeout === "number" ? timeout / 1000 : null;
}

function named(name: string): (error: unknown) => boolean {
  return (error) => error instanceof Error && error.name === name;
}

const isKeyError = named("KeyError");
const isAttributeError = named("AttributeError");

const same = (method: string): Translate => (args) => ({ method, args });

const ACQUIRER: Record<string, Translate> = {
  // As CPython's AcquirerProxy: no timeout argument at all without one (a Lock refuses None).
  acquire: ([options]) => {
    const blocking = (options as { blocking?: boolean } | undefined)?.blocking ?? true;
    const timeout = seconds(options);
    return { method: "acquire", args: timeout === null ? [blocking] : [blocking, timeout] };
  },
  release: same("release"),
};

const QUEUE: Record<string, Translate> = {
  put: ([item, options]) => ({
    method: "put",
    args: [item, (options as { block?: boolean } | undefined)?.block ?? true, seconds(options)],
  }),
  get: ([options]) => ({
    method: "get",
    args: [(options as { block?: boolean } | undefined)?.block ?? true, seconds(options)],
  }),
  putNowait: same("put_nowait"),
  getNowait: same("get_nowait"),
  qsize: same("qsize"),
  empty: same("empty"),
  full: same("full"),
  taskDone: same("task_done"),
  join: same("join"),
};

const DICT: Record<string, Translate> = {
  get: ([key, ...fallback]) => ({ method: "get", args: [key, fallback[0] ?? null] }),
  set: ([key, value]) => ({ method: "__setitem__", args: [key, value] }),
  has: ([key]) => ({ method: "__contains__", args: [key] }),
  delete: ([key]) => ({
    method: "__delitem__",
    args: [key],
    reply: () => true,
    failure: (error) => {
      if (isKeyError(error)) return false;
      throw error;
    },
  }),
  clear: same("clear"),
  size: same("__len__"),
  keys: same("keys"),
  values: same("values"),
  entries: same("items"),
  pop: same("pop"),
  popitem: same("popitem"),
  setdefault: same("setdefault"),
  update: same("update"),
  copy: same("copy"),
  iterate: same("__iter__"),
  stream: same("__iter__"),
};

const LIST: Record<string, Translate> = {
  length: same("__len__"),
  get: ([index]) => ({ method: "__getitem__", args: [index] }),
  at: ([index]) => ({
    method: "__getitem__",
    args: [index],
    failure: (error) => {
      if (named("IndexError")(error)) return undefined;
      throw error;
    },
  }),
  set: ([index, value]) => ({ method: "__setitem__", args: [index, value] }),
  append: same("append"),
  push: (items) => ({ method: "extend", args: [items] }),
  extend: same("extend"),
  insert: same("insert"),
  pop: same("pop"),
  index: same("index"),
  count: same("count"),
  remove: same("remove"),
  sort: ([options]) => ({
    method: "sort",
    args: [],
    kwds: { reverse: Boolean((options as { reverse?: boolean } | undefined)?.reverse) },
  }),
  reverse: same("reverse"),
  copy: () => ({ method: "__getitem__", args: [new PySlice(null, null, null)] }),
  slice: ([start, end]) => ({
    method: "__getitem__",
    args: [new PySlice((start as number) ?? null, (end as number) ?? null, null)],
  }),
  clear: () => ({ method: "__delitem__", args: [new PySlice(null, null, null)] }),
};

const EVENT: Record<string, Translate> = {
  isSet: same("is_set"),
  set: same("set"),
  clear: same("clear"),
  wait: ([options]) => ({ method: "wait", args: [seconds(options)] }),
};

const CONDITION: Record<string, Translate> = {
  ...ACQUIRER,
  wait: ([options]) => ({ method: "wait", args: [seconds(options)] }),
  notify: ([n]) => ({ method: "notify", args: [n ?? 1] }),
  notifyAll: same("notify_all"),
};

const BARRIER: Record<string, Translate> = {
  wait: ([options]) => ({ method: "wait", args: [seconds(options)] }),
  abort: same("abort"),
  reset: same("reset"),
  parties: () => ({ method: "__getattribute__", args: ["parties"] }),
  nWaiting: () => ({ method: "__getattribute__", args: ["n_waiting"] }),
  broken: () => ({ method: "__getattribute__", args: ["broken"] }),
};

const NAMESPACE: Record<string, Translate> = {
  get: ([name]) => ({
    method: "__getattribute__",
    args: [name],
    failure: (error) => {
      if (isAttributeError(error)) return undefined;
      throw error;
    },
  }),
  set: ([name, value]) => ({ method: "__setattr__", args: [name, value] }),
  delete: ([name]) => ({
    method: "__delattr__",
    args: [name],
    reply: () => true,
    failure: (error) => {
      if (isAttributeError(error)) return false;
      throw error;
    },
  }),
  has: ([name]) => ({
    method: "__getattribute__",
    args: [name],
    reply: () => true,
    failure: (error) => {
      if (isAttributeError(error)) return false;
      throw error;
    },
  }),
};

const ITERATOR: Record<string, Translate> = {
  next: () => ({
    method: "__next__",
    args: [],
    reply: (value) => ({ done: false, value }),
    failure: (error) => {
      if (named("StopIteration")(error)) return { done: true, value: undefined };
      throw error;
    },
  }),
};

const ARRAY: Record<string, Translate> = {
  length: same("__len__"),
  get: ([index]) => ({ method: "__getitem__", args: [index] }),
  set: ([index, value]) => ({ method: "__setitem__", args: [index, value] }),
  toArray: () => ({ method: "__getitem__", args: [new PySlice(null, null, null)] }),
};

/** CPython's `SyncManager` typeids, and how our proxies' calls become theirs. */
const BY_TYPEID: Record<string, Record<string, Translate>> = {
  Queue: QUEUE,
  JoinableQueue: QUEUE,
  dict: DICT,
  list: LIST,
  Lock: ACQUIRER,
  RLock: ACQUIRER,
  Semaphore: ACQUIRER,
  BoundedSemaphore: ACQUIRER,
  Condition: CONDITION,
  Event: EVENT,
  Barrier: BARRIER,
  Value: { get: same("get"), set: same("set") },
  Array: ARRAY,
  Namespace: NAMESPACE,
  Iterator: ITERATOR,
};

/**
 * Our call `method(args)` on a standard object of `typeid`, as CPython's
 * proxy makes it; `undefined` when the typeid is not a standard one (the
 * call goes as it is).
 */
export function pythonCall(
  typeid: string,
  method: string,
  args: readonly unknown[],
): PythonCall | undefined {
  const table = BY_TYPEID[typeid];
  if (table === undefined) return undefined;
  const translate = table[method];
  if (translate === undefined) return undefined;
  return translate(args);
}

/**
 * Arguments of our `SyncManager` factories as CPython's take them:
 * `Value(initial)` is `Value(typecode, initial)`, `Array(values)` is
 * `Array(typecode, values)`.
 */
export function pythonCreateCall(
  typeid: string,
  given: readonly unknown[],
): { args: readonly unknown[]; kwds: Readonly<Record<string, unknown>> } {
  // Arguments left out are left out, not sent as None.
  let end = given.length;
  while (end > 0 && given[end - 1] === undefined) end--;
  const args = given.slice(0, end);
  if (typeid === "Namespace") {
    return { args: [], kwds: (args[0] ?? {}) as Record<string, unknown> };
  }
  return { args: pythonCreateArgs(typeid, args), kwds: {} };
}

function pythonCreateArgs(typeid: string, args: readonly unknown[]): readonly unknown[] {
  if (typeid === "Value") {
    const [value] = args;
    const code = typeof value === "number" ? (Number.isInteger(value) ? "q" : "d") : "O";
    return [code, value];
  }
  if (typeid === "Array") {
    const [values] = args;
    const items = [...(values as Iterable<number>)];
    const code = items.every((x) => Number.isInteger(x)) ? "q" : "d";
    return [code, items];
  }
  if (typeid === "Barrier") {
    const [parties, options] = args;
    const timeout = seconds(options);
    return timeout === null ? [parties] : [parties, null, timeout];
  }
  return args;
}
