/**
 * The containers as CPython's proxies call them: dict, list, set,
 * Namespace, Value, Array and the iterator (`__getitem__` with slices,
 * `__iter__` as a new shared iterator, Python's exceptions).
 *
 * @module
 */

import { pythonRepr } from "../sync/python_repr.ts";
import { PySlice } from "./python_values.ts";
import { PyFloat, PythonObject, tuple } from "../wire/python_data.ts";
import {
  type Dict,
  type List,
  type Namespace,
  type SharedArray,
  SharedIterator,
  type SharedSet,
  type Value,
} from "../sync/containers.ts";
import {
  arg,
  integer,
  notExposed,
  position,
  pythonError,
  type PythonFace,
  pythonHashable,
  sliceIndices,
} from "./face.ts";

/** The methods of a dict or set whose first argument is a key (or member). */
const KEYED = new Set([
  "__getitem__",
  "__setitem__",
  "__delitem__",
  "__contains__",
  "get",
  "pop",
  "setdefault",
  "add",
  "discard",
  "remove",
]);

export const DICT: PythonFace = {
  proxyType: "DictProxy",
  repr(object: Dict): string {
    return pythonRepr(new Map(object.entries()));
  },
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
    if (KEYED.has(method)) pythonHashable(args[0]);
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
        return object.entries().map((pair) => tuple(pair));
      case "pop":
        if (!object.has(args[0])) {
          if (args.length > 1) return args[1];
          throw pythonError("KeyError", args[0]);
        }
        return object.pop(args[0]);
      case "popitem":
        if (object.size() === 0) throw pythonError("KeyError", "popitem(): dictionary is empty");
        return tuple(object.popitem());
      case "setdefault":
        return object.setdefault(args[0], args.length > 1 ? args[1] : null);
      case "update":
        if (Array.isArray(args[0])) {
          for (const pair of args[0]) pythonHashable(Array.isArray(pair) ? pair[0] : undefined);
        }
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

export const LIST: PythonFace = {
  proxyType: "ListProxy",
  repr(object: List): string {
    return pythonRepr(object.slice());
  },
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

export const VALUE: PythonFace = {
  proxyType: "ValueProxy",
  exposed: ["get", "set"],
  call(object: Value, method, args): unknown {
    if (method === "get") return object.get();
    if (method === "set") return object.set(args[0]);
    return notExposed("Value", method);
  },
};

/** An item of an Array('d', ...) is a float: 2.0 reads as a float, as from Python's array. */
function arrayItem(object: SharedArray, item: unknown): unknown {
  return object.floating && Number.isInteger(item) ? new PyFloat(item as number) : item;
}

export const ARRAY: PythonFace = {
  proxyType: "ArrayProxy",
  repr(object: SharedArray): string {
    const items = object.toArray().map((item) => arrayItem(object, item));
    // A CPython client's Array('d', ...) is an array.array on CPython's server.
    return object.typecode === undefined
      ? pythonRepr(items)
      : `array('${object.typecode}', ${pythonRepr(items)})`;
  },
  exposed: ["__len__", "__getitem__", "__setitem__"],
  call(object: SharedArray, method, args): unknown {
    const length = object.length();
    const read = (item: unknown): unknown => arrayItem(object, item);
    switch (method) {
      case "__len__":
        return length;
      case "__getitem__":
        if (args[0] instanceof PySlice) {
          const items = object.toArray();
          const slice = sliceIndices(args[0], length).map((i) => read(items[i]));
          // A slice of Python's array.array is one (its typecode known when Python made it).
          return object.typecode === undefined
            ? slice
            : new PythonObject("array", "array", { args: [object.typecode, slice] });
        }
        return read(object.get(position(args[0], length, "array")));
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

export const NAMESPACE: PythonFace = {
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

export const SET: PythonFace = {
  proxyType: "AutoProxy",
  repr(object: SharedSet): string {
    return pythonRepr(new Set(object.values()));
  },
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
    if (KEYED.has(method)) pythonHashable(args[0]);
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
        for (const other of args) {
          if (other instanceof Set || Array.isArray(other)) {
            for (const item of other) pythonHashable(item);
          }
        }
        return object.update(...args);
      case "copy":
        return object.copy();
    }
    return notExposed("set", method);
  },
};

export const ITERATOR: PythonFace = {
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
