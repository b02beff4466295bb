/**
 * The standard types as CPython's own proxies call them. A CPython
 * `SyncManager` that `connect()`s to our server calls `d["k"] = v` as
 * `__setitem__`, `q.get(timeout=0.5)` in seconds, `lock.acquire(True, 1)`,
 * `ns.x` as `__getattribute__`: each kind's face maps those calls, with
 * Python's names, argument shapes, units and exceptions, onto the
 * JavaScript methods the Deno proxies call. A kind's face also says which
 * methods CPython's proxy may call (its `exposed` list) and which return a
 * new shared object (`__iter__`).
 *
 * @module
 */

import { PySlice, PyTuple } from "./python_values.ts";
import {
  Dict,
  List,
  Namespace,
  SharedArray,
  SharedIterator,
  SharedSet,
  Value,
} from "../sync/containers.ts";
import { Barrier, Condition, Event, Lock, RLock, Semaphore } from "../sync/primitives.ts";
import { Queue } from "../sync/queue.ts";
import { STANDARD_TYPES } from "../sync/standard_types.ts";

/** Keyword arguments of a CPython call. */
export type Keywords = Readonly<Record<string, unknown>>;

/** How CPython's proxies call one kind of standard object. */
export interface PythonFace {
  /** The methods CPython's proxy may call. */
  readonly exposed: readonly string[];
  /** CPython's proxy type for it, in `multiprocessing.managers` (`DictProxy`, ...). */
  readonly proxyType: string;
  /** Python's `str()` of it, when not the generic one. */
  repr?(object: never): string;
  /** Python method → the JavaScript method whose result is shared (`__iter__` → `iterate`). */
  readonly shares?: Readonly<Record<string, string>>;
  /** Calls `method` as CPython means it. */
  call(object: never, method: string, args: unknown[], kwds: Keywords): unknown;
}

/** A Python exception: `name` is its class, `args` what Python shows. */
export function pythonError(name: string, ...args: unknown[]): Error {
  const error = new Error(args.length === 1 ? String(args[0]) : args.map(String).join(", "));
  error.name = name;
  Object.defineProperty(error, "args", { value: args, enumerable: false });
  return error;
}

function notExposed(kind: string, method: string): never {
  throw pythonError("AttributeError", `'${kind}' object has no exposed method '${method}'`);
}

/** Seconds (Python) to milliseconds (ours); `None` is no timeout. */
function ms(seconds: unknown): number | undefined {
  if (seconds === null || seconds === undefined) return undefined;
  if (typeof seconds !== "number" || Number.isNaN(seconds)) {
    throw pythonError("TypeError", "timeout must be a number or None");
  }
  return Math.max(0, seconds * 1000);
}

/** The positional argument at `index`, else the keyword `name`, else `fallback`. */
function arg(
  args: unknown[],
  kwds: Keywords,
  index: number,
  name: string,
  fallback?: unknown,
): unknown {
  if (index < args.length) return args[index];
  return name in kwds ? kwds[name] : fallback;
}

function integer(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw pythonError("TypeError", `${what} must be integers, not ${typeof value}`);
  }
  return value;
}

/** Python's `slice.indices(length)`, then the indices the slice selects. */
function sliceIndices(slice: PySlice, length: number): number[] {
  const step = slice.step ?? 1;
  if (step === 0) throw pythonError("ValueError", "slice step cannot be zero");
  const clamp = (value: number | null, fallback: number, low: number, high: number): number => {
    if (value === null) return fallback;
    const at = value < 0 ? value + length : value;
    return Math.min(Math.max(at, low), high);
  };
  const start = step > 0
    ? clamp(slice.start, 0, 0, length)
    : clamp(slice.start, length - 1, -1, length - 1);
  const stop = step > 0
    ? clamp(slice.stop, length, 0, length)
    : clamp(slice.stop, -1, -1, length - 1);
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

function position(index: unknown, length: number, what = "list"): number {
  const at = integer(index, `${what} indices`);
  const resolved = at < 0 ? at + length : at;
  if (resolved < 0 || resolved >= length) {
    throw pythonError("IndexError", `${what} index out of range`);
  }
  return resolved;
}

const DICT: PythonFace = {
  proxyType: "DictProxy",
  exposed: [
    "__contains__",
    "__delitem__",
    "__getitem__",
    "__iter__",
    "__len__",
    "__setitem__",
    "clear",
    "copy",
    "get",
    "items",
    "keys",
    "pop",
    "popitem",
    "setdefault",
    "update",
    "values",
  ],
  shares: { __iter__: "iterate" },
  call(object: Dict, method, args, kwds): unknown {
    switch (method) {
      case "__getitem__":
        if (!object.has(args[0])) throw pythonError("KeyError", args[0]);
        return object.get(args[0]);
      case "__setitem__":
        return object.set(args[0], args[1]);
      case "__delitem__":
        if (!object.delete(args[0])) throw pythonError("KeyError", args[0]);
        return null;
      case "__contains__":
        return object.has(args[0]);
      case "__len__":
        return object.size();
      case "__iter__": {
        // Python iterates a dict's keys (ours iterates entries), and fails if its size changes.
        const keys = object.keys();
        let i = 0;
        return new SharedIterator(() => {
          if (object.size() !== keys.length) {
            throw pythonError("RuntimeError", "dictionary changed size during iteration");
          }
          return i < keys.length
            ? { done: false, value: keys[i++] }
            : { done: true, value: undefined };
        });
      }
      case "get":
        return object.has(args[0]) ? object.get(args[0]) : arg(args, kwds, 1, "default", null);
      case "keys":
        return object.keys();
      case "values":
        return object.values();
      case "items":
        return object.entries().map((pair) => new PyTuple(pair));
      case "pop":
        if (!object.has(args[0])) {
          if (args.length > 1) return args[1];
          throw pythonError("KeyError", args[0]);
        }
        return object.pop(args[0]);
      case "popitem":
        if (object.size() === 0) throw pythonError("KeyError", "popitem(): dictionary is empty");
        return new PyTuple(object.popitem());
      case "setdefault":
        return object.setdefault(args[0], args.length > 1 ? args[1] : null);
      case "update":
        if (args.length > 0) object.update(args[0]);
        if (Object.keys(kwds).length > 0) object.update(kwds);
        return null;
      case "copy":
        return object.copy();
      case "clear":
        return object.clear();
    }
    return notExposed("dict", method);
  },
};

const LIST: PythonFace = {
  proxyType: "ListProxy",
  exposed: [
    "__add__",
    "__contains__",
    "__delitem__",
    "__getitem__",
    "__len__",
    "__mul__",
    "__reversed__",
    "__rmul__",
    "__setitem__",
    "append",
    "count",
    "extend",
    "index",
    "insert",
    "pop",
    "remove",
    "reverse",
    "sort",
    "__imul__",
  ],
  call(object: List, method, args, kwds): unknown {
    switch (method) {
      case "__getitem__": {
        const length = object.length();
        if (args[0] instanceof PySlice) {
          const items = object.copy();
          return sliceIndices(args[0], length).map((i) => items[i]);
        }
        return object.get(position(args[0], length));
      }
      case "__setitem__": {
        const length = object.length();
        if (args[0] instanceof PySlice) {
          const values = [...(args[1] as Iterable<unknown>)];
          const indices = sliceIndices(args[0], length);
          if ((args[0].step ?? 1) === 1) {
            const start = indices[0] ?? Math.min(
              Math.max(
                args[0].start === null
                  ? 0
                  : args[0].start < 0
                  ? args[0].start + length
                  : args[0].start,
                0,
              ),
              length,
            );
            object.splice(start, indices.length, ...values);
            return null;
          }
          if (values.length !== indices.length) {
            throw pythonError(
              "ValueError",
              `attempt to assign sequence of size ${values.length} to extended slice of size ${indices.length}`,
            );
          }
          indices.forEach((i, n) => object.set(i, values[n]));
          return null;
        }
        return object.set(position(args[0], length, "list assignment"), args[1]);
      }
      case "__delitem__": {
        const length = object.length();
        if (args[0] instanceof PySlice) {
          const doomed = new Set(sliceIndices(args[0], length));
          const kept = object.copy().filter((_, i) => !doomed.has(i));
          object.clear();
          object.extend(kept);
          return null;
        }
        object.splice(position(args[0], length, "list assignment"), 1);
        return null;
      }
      case "__contains__":
        return object.count(args[0]) > 0;
      case "__len__":
        return object.length();
      case "__add__":
        return [...object.copy(), ...(args[0] as Iterable<unknown>)];
      case "__mul__":
      case "__rmul__": {
        const items = object.copy();
        const times = Math.max(0, integer(args[0], "a list's multiplier"));
        return Array.from({ length: times }, () => items).flat(1);
      }
      case "__imul__": {
        const items = object.copy();
        const times = Math.max(0, integer(args[0], "a list's multiplier"));
        object.clear();
        for (let i = 0; i < times; i++) object.extend(items);
        return null;
      }
      case "__reversed__":
        return object.copy().reverse();
      case "append":
        return object.append(args[0]);
      case "extend":
        return object.extend(args[0]);
      case "insert":
        return object.insert(integer(args[0], "list indices"), args[1]);
      case "pop": {
        const length = object.length();
        if (length === 0) throw pythonError("IndexError", "pop from empty list");
        return object.pop(position(arg(args, kwds, 0, "index", -1), length, "pop"));
      }
      case "remove":
        if (object.count(args[0]) === 0) {
          throw pythonError("ValueError", "list.remove(x): x not in list");
        }
        return object.remove(args[0]);
      case "index":
        try {
          return object.index(...(args as [unknown, number?, number?]));
        } catch (error) {
          throw pythonError("ValueError", (error as Error).message);
        }
      case "count":
        return object.count(args[0]);
      case "reverse":
        return object.reverse();
      case "sort":
        if (arg(args, kwds, 0, "key", null) !== null) {
          throw pythonError(
            "TypeError",
            "sort(key=...) cannot cross to a Deno manager: a function cannot be sent",
          );
        }
        return object.sort({ reverse: Boolean(kwds.reverse) });
    }
    return notExposed("list", method);
  },
};

const QUEUE: PythonFace = {
  proxyType: "AutoProxy",
  exposed: [
    "put",
    "get",
    "put_nowait",
    "get_nowait",
    "qsize",
    "empty",
    "full",
    "task_done",
    "join",
  ],
  call(object: Queue, method, args, kwds): unknown {
    switch (method) {
      case "put":
        return object.put(args[0], {
          block: Boolean(arg(args, kwds, 1, "block", true)),
          timeout: ms(arg(args, kwds, 2, "timeout")),
        });
      case "get":
        return object.get({
          block: Boolean(arg(args, kwds, 0, "block", true)),
          timeout: ms(arg(args, kwds, 1, "timeout")),
        });
      case "put_nowait":
        return object.putNowait(args[0]);
      case "get_nowait":
        return object.getNowait();
      case "qsize":
        return object.qsize();
      case "empty":
        return object.empty();
      case "full":
        return object.full();
      case "task_done":
        try {
          return object.taskDone();
        } catch (error) {
          throw pythonError("ValueError", (error as Error).message);
        }
      case "join":
        return object.join();
    }
    return notExposed("Queue", method);
  },
};

/** What Lock, RLock, Semaphore and Condition share: CPython's AcquirerProxy. */
function acquire(
  object: { acquire(o: { blocking: boolean; timeout?: number | undefined }): unknown },
  args: unknown[],
  kwds: Keywords,
): unknown {
  return object.acquire({
    blocking: Boolean(arg(args, kwds, 0, "blocking", true)),
    timeout: ms(arg(args, kwds, 1, "timeout")),
  });
}

function release(release: () => unknown): unknown {
  try {
    return release();
  } catch (error) {
    throw pythonError("RuntimeError", (error as Error).message);
  }
}

const LOCK: PythonFace = {
  proxyType: "AcquirerProxy",
  exposed: ["acquire", "release", "locked"],
  call(object: Lock | RLock, method, args, kwds): unknown {
    switch (method) {
      case "acquire":
        return acquire(object, args, kwds);
      case "release":
        return release(() => object.release());
      case "locked":
        return object.locked();
    }
    return notExposed("Lock", method);
  },
};

const SEMAPHORE: PythonFace = {
  proxyType: "AcquirerProxy",
  exposed: ["acquire", "release", "get_value"],
  call(object: Semaphore, method, args, kwds): unknown {
    switch (method) {
      case "acquire":
        return acquire(object, args, kwds);
      case "release":
        try {
          return object.release(Number(arg(args, kwds, 0, "n", 1)));
        } catch (error) {
          throw pythonError("ValueError", (error as Error).message);
        }
      case "get_value":
        return object.value();
    }
    return notExposed("Semaphore", method);
  },
};

const CONDITION: PythonFace = {
  proxyType: "ConditionProxy",
  exposed: ["acquire", "release", "wait", "notify", "notify_all"],
  call(object: Condition, method, args, kwds): unknown {
    switch (method) {
      case "acquire":
        return acquire(object, args, kwds);
      case "release":
        return release(() => object.release());
      case "wait":
        return object.wait({ timeout: ms(arg(args, kwds, 0, "timeout")) }).catch((error: Error) => {
          throw pythonError("RuntimeError", error.message);
        });
      case "notify":
        return release(() => object.notify(Number(arg(args, kwds, 0, "n", 1))));
      case "notify_all":
        return release(() => object.notifyAll());
    }
    return notExposed("Condition", method);
  },
};

const EVENT: PythonFace = {
  proxyType: "EventProxy",
  exposed: ["is_set", "set", "clear", "wait"],
  call(object: Event, method, args, kwds): unknown {
    switch (method) {
      case "is_set":
        return object.isSet();
      case "set":
        return object.set();
      case "clear":
        return object.clear();
      case "wait":
        return object.wait({ timeout: ms(arg(args, kwds, 0, "timeout")) });
    }
    return notExposed("Event", method);
  },
};

const BARRIER: PythonFace = {
  proxyType: "BarrierProxy",
  exposed: ["__getattribute__", "wait", "abort", "reset"],
  call(object: Barrier, method, args, kwds): unknown {
    switch (method) {
      case "wait":
        return object.wait({ timeout: ms(arg(args, kwds, 0, "timeout")) });
      case "abort":
        return object.abort();
      case "reset":
        return object.reset();
      case "__getattribute__":
        switch (args[0]) {
          case "parties":
            return object.parties();
          case "n_waiting":
            return object.nWaiting();
          case "broken":
            return object.broken();
        }
        throw pythonError(
          "AttributeError",
          `'Barrier' object has no attribute '${String(args[0])}'`,
        );
    }
    return notExposed("Barrier", method);
  },
};

const VALUE: PythonFace = {
  proxyType: "ValueProxy",
  exposed: ["get", "set"],
  call(object: Value, method, args): unknown {
    if (method === "get") return object.get();
    if (method === "set") return object.set(args[0]);
    return notExposed("Value", method);
  },
};

const ARRAY: PythonFace = {
  proxyType: "ArrayProxy",
  exposed: ["__len__", "__getitem__", "__setitem__"],
  call(object: SharedArray, method, args): unknown {
    const length = object.length();
    switch (method) {
      case "__len__":
        return length;
      case "__getitem__":
        if (args[0] instanceof PySlice) {
          const items = object.toArray();
          return sliceIndices(args[0], length).map((i) => items[i]);
        }
        return object.get(position(args[0], length, "array"));
      case "__setitem__":
        if (args[0] instanceof PySlice) {
          const values = [...(args[1] as Iterable<unknown>)];
          const indices = sliceIndices(args[0], length);
          if (values.length !== indices.length) {
            throw pythonError("ValueError", "Can only assign sequence of same size");
          }
          indices.forEach((i, n) => object.set(i, values[n]));
          return null;
        }
        return object.set(position(args[0], length, "array assignment"), args[1]);
    }
    return notExposed("Array", method);
  },
};

const NAMESPACE: PythonFace = {
  proxyType: "NamespaceProxy",
  exposed: ["__getattribute__", "__setattr__", "__delattr__"],
  repr(object: Namespace): string {
    return object.repr();
  },
  call(object: Namespace, method, args): unknown {
    const name = args[0];
    if (typeof name !== "string") throw pythonError("TypeError", "attribute name must be string");
    switch (method) {
      case "__getattribute__":
        if (!object.has(name)) {
          throw pythonError("AttributeError", `'Namespace' object has no attribute '${name}'`);
        }
        return object.get(name);
      case "__setattr__":
        return object.set(name, args[1]);
      case "__delattr__":
        if (!object.delete(name)) throw pythonError("AttributeError", name);
        return null;
    }
    return notExposed("Namespace", method);
  },
};

const SET: PythonFace = {
  proxyType: "AutoProxy",
  exposed: [
    "__contains__",
    "__len__",
    "__iter__",
    "add",
    "discard",
    "remove",
    "pop",
    "clear",
    "update",
    "copy",
  ],
  shares: { __iter__: "iterate" },
  call(object: SharedSet, method, args): unknown {
    switch (method) {
      case "__contains__":
        return object.has(args[0]);
      case "__len__":
        return object.size();
      case "__iter__":
        return object.iterate();
      case "add":
        return object.add(args[0]);
      case "discard":
        return object.discard(args[0]);
      case "remove":
        if (!object.has(args[0])) throw pythonError("KeyError", args[0]);
        return object.remove(args[0]);
      case "pop":
        if (object.size() === 0) throw pythonError("KeyError", "pop from an empty set");
        return object.pop();
      case "clear":
        return object.clear();
      case "update":
        return object.update(...args);
      case "copy":
        return object.copy();
    }
    return notExposed("set", method);
  },
};

const ITERATOR: PythonFace = {
  proxyType: "IteratorProxy",
  exposed: ["__next__", "send", "throw", "close"],
  call(object: SharedIterator, method): unknown {
    if (method === "__next__" || method === "send") {
      const step = object.next();
      if (step.done) throw pythonError("StopIteration");
      return step.value;
    }
    if (method === "close") return null;
    return notExposed("Iterator", method);
  },
};

/** The face CPython's proxies see of `object`, if it is one of the standard types. */
export function pythonFaceOf(object: unknown): PythonFace | undefined {
  if (object instanceof Dict) return DICT;
  if (object instanceof List) return LIST;
  if (object instanceof Queue) return QUEUE;
  if (object instanceof Lock || object instanceof RLock) return LOCK;
  if (object instanceof Semaphore) return SEMAPHORE;
  if (object instanceof Condition) return CONDITION;
  if (object instanceof Event) return EVENT;
  if (object instanceof Barrier) return BARRIER;
  if (object instanceof Value) return VALUE;
  if (object instanceof SharedArray) return ARRAY;
  if (object instanceof Namespace) return NAMESPACE;
  if (object instanceof SharedSet) return SET;
  if (object instanceof SharedIterator) return ITERATOR;
  return undefined;
}

/**
 * The arguments CPython's `SyncManager` passes to create a standard type,
 * as our constructors take them: `Value(typecode, value, lock=True)` and
 * `Array(typecode, sequence, lock=True)` drop their typecode, `dict(**kw)`
 * becomes one mapping.
 */
export function pythonCreateArgs(
  typeid: string,
  callable: unknown,
  args: unknown[],
  kwds: Keywords,
): unknown[] {
  const standard = STANDARD_TYPES.some((type) =>
    type.typeid === typeid && type.callable === callable
  );
  switch (standard ? typeid : "") {
    case "Value":
    case "Array":
      return typeof args[0] === "string" ? [args[1]] : args;
    case "dict": {
      const init = new Map<unknown, unknown>();
      const first = args[0];
      if (first instanceof Map) { for (const [k, v] of first) init.set(k, v); }
      else if (Array.isArray(first)) {
        for (const pair of first) init.set((pair as unknown[])[0], (pair as unknown[])[1]);
      } else if (first !== undefined && first !== null) {
        for (const [k, v] of Object.entries(first as object)) init.set(k, v);
      }
      for (const [k, v] of Object.entries(kwds)) init.set(k, v);
      return [init];
    }
    case "Namespace":
      return [{ ...kwds }];
    case "Barrier": {
      // Barrier(parties, action=None, timeout=None): an action cannot cross.
      const timeout = ms(arg(args, kwds, 2, "timeout"));
      return [arg(args, kwds, 0, "parties"), timeout === undefined ? {} : { timeout }];
    }
    case "Queue":
    case "JoinableQueue":
      return [arg(args, kwds, 0, "maxsize", 0)];
    case "Semaphore":
    case "BoundedSemaphore":
      return [arg(args, kwds, 0, "value", 1)];
    case "list":
      return [arg(args, kwds, 0, "sequence", [])];
    case "Lock":
    case "RLock":
    case "Event":
    case "Condition":
      return [];
    default:
      return Object.keys(kwds).length === 0 ? args : [...args, kwds];
  }
}
