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
import { arg, type Keywords, ms, type PythonFace, pythonHashable } from "./face.ts";
import { bindKeywords } from "./keywords.ts";
import { ARRAY, DICT, ITERATOR, LIST, NAMESPACE, SET, VALUE } from "./face_containers.ts";
import { BARRIER, CONDITION, EVENT, LOCK, QUEUE, SEMAPHORE } from "./face_sync.ts";

export type { Keywords, PythonFace } from "./face.ts";

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
 * becomes one mapping. Any other type's keywords bind to the parameters
 * `parameters` (its class or callable) declares, by name.
 */
export function pythonCreateArgs(
  typeid: string,
  callable: unknown,
  args: unknown[],
  kwds: Keywords,
  parameters?: object,
): unknown[] {
  const standard = STANDARD_TYPES.some((type) =>
    type.typeid === typeid && type.callable === callable
  );
  switch (standard ? typeid : "") {
    case "Value":
      return typeof args[0] === "string" ? [args[1]] : args;
    case "Array": {
      if (typeof args[0] !== "string") return args;
      // Array('d', ...) and Array('f', ...) hold floats, as Python's array.array does.
      const [typecode, values] = args;
      if ((typecode === "d" || typecode === "f") && values !== null && typeof values === "object") {
        const numbers = Array.from(values as Iterable<unknown>, Number);
        return [
          typecode === "d" ? Float64Array.from(numbers) : Float32Array.from(numbers),
          typecode,
        ];
      }
      return [Array.isArray(values) ? values : [...values as Iterable<unknown>], typecode];
    }
    case "dict": {
      const init = new Map<unknown, unknown>();
      const first = args[0];
      if (first instanceof Map) { for (const [k, v] of first) init.set(k, v); }
      else if (Array.isArray(first)) {
        for (const pair of first) {
          pythonHashable((pair as unknown[])[0]);
          init.set((pair as unknown[])[0], (pair as unknown[])[1]);
        }
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
      return parameters === undefined
        ? Object.keys(kwds).length === 0 ? args : [...args, kwds]
        : bindKeywords(parameters, args, kwds, `${typeid}()`);
  }
}
