/**
 * The server half of `SyncManager`'s standard types: for each typeid, the
 * object it makes and the methods a proxy may call on it. The proxies
 * (`proxies.ts`) take their method lists from here, and `SyncManager`
 * registers each type with its proxy. A server process started with no
 * modules of the user's serves these without loading the client half.
 *
 * @module
 */

import type { Registration } from "../objects/registry.ts";
import {
  Barrier,
  type BarrierOptions,
  BoundedSemaphore,
  Condition,
  Event,
  Lock,
  RLock,
  Semaphore,
} from "./primitives.ts";
import { Queue } from "./queue.ts";
import { Dict, List, Namespace, SharedArray, SharedSet, Value } from "./containers.ts";

const acquirer = ["acquire", "release", "locked"] as const;

/** The methods each standard proxy may call, by proxy kind. */
export const EXPOSED = {
  Iterator: ["next"],
  Acquirer: acquirer,
  Semaphore: [...acquirer, "value"],
  Condition: [...acquirer, "wait", "notify", "notifyAll"],
  Event: ["isSet", "set", "clear", "wait"],
  Barrier: ["wait", "abort", "reset", "parties", "nWaiting", "broken"],
  Queue: ["put", "get", "putNowait", "getNowait", "qsize", "empty", "full", "taskDone", "join"],
  Value: ["get", "set"],
  Array: ["length", "get", "set", "toArray", "iterate", "stream"],
  Dict: [
    "get",
    "set",
    "has",
    "delete",
    "clear",
    "size",
    "keys",
    "values",
    "entries",
    "pop",
    "popitem",
    "setdefault",
    "update",
    "copy",
    "iterate",
    "stream",
  ],
  List: [
    "length",
    "at",
    "get",
    "set",
    "push",
    "append",
    "extend",
    "insert",
    "pop",
    "splice",
    "slice",
    "indexOf",
    "index",
    "count",
    "remove",
    "sort",
    "reverse",
    "clear",
    "copy",
    "iterate",
    "stream",
  ],
  Set: [
    "add",
    "delete",
    "has",
    "clear",
    "size",
    "values",
    "discard",
    "remove",
    "pop",
    "update",
    "copy",
    "iterate",
    "stream",
  ],
  Namespace: ["get", "set", "delete", "has", "toObject", "repr"],
} as const satisfies Record<string, readonly string[]>;

/** The proxy kinds: the keys of {@linkcode EXPOSED}. */
export type ProxyKind = keyof typeof EXPOSED;

/** One standard type: its typeid, what makes it, and which proxy kind calls it. */
export interface StandardType {
  readonly typeid: string;
  /** Absent for `Iterator`, which only methods return. */
  readonly callable: ((...args: never[]) => unknown) | undefined;
  readonly kind: ProxyKind;
  /** Methods whose result is a new shared object. */
  readonly methodToTypeid?: Readonly<Record<string, string>>;
}

const iterate = { iterate: "Iterator" } as const;

/** Every standard type, in the order `SyncManager` registers them. */
export const STANDARD_TYPES: readonly StandardType[] = [
  { typeid: "Queue", callable: (maxsize?: number) => new Queue(maxsize), kind: "Queue" },
  {
    typeid: "JoinableQueue",
    callable: (maxsize?: number) => new Queue(maxsize, true),
    kind: "Queue",
  },
  { typeid: "Event", callable: () => new Event(), kind: "Event" },
  { typeid: "Lock", callable: () => new Lock(), kind: "Acquirer" },
  { typeid: "RLock", callable: () => new RLock(), kind: "Acquirer" },
  { typeid: "Semaphore", callable: (value?: number) => new Semaphore(value), kind: "Semaphore" },
  {
    typeid: "BoundedSemaphore",
    callable: (value?: number) => new BoundedSemaphore(value),
    kind: "Semaphore",
  },
  { typeid: "Condition", callable: (lock?: never) => new Condition(lock), kind: "Condition" },
  {
    typeid: "Barrier",
    callable: (parties: number, options?: BarrierOptions) => new Barrier(parties, options),
    kind: "Barrier",
  },
  { typeid: "Value", callable: (value: unknown) => new Value(value), kind: "Value" },
  {
    typeid: "Array",
    callable: (values: unknown, typecode?: string) => new SharedArray(values, typecode),
    kind: "Array",
    methodToTypeid: iterate,
  },
  {
    typeid: "dict",
    callable: (init?: unknown) => new Dict(init),
    kind: "Dict",
    methodToTypeid: iterate,
  },
  {
    typeid: "list",
    callable: (init?: unknown) => new List(init),
    kind: "List",
    methodToTypeid: iterate,
  },
  {
    typeid: "set",
    callable: (init?: unknown) => new SharedSet(init),
    kind: "Set",
    methodToTypeid: iterate,
  },
  {
    typeid: "Namespace",
    callable: (init?: Record<string, unknown>) => new Namespace(init),
    kind: "Namespace",
  },
  { typeid: "Iterator", callable: undefined, kind: "Iterator" },
];

/**
 * `SyncManager`'s registrations as a server needs them (no proxy classes),
 * for a server process that has not loaded `SyncManager` itself.
 */
export function standardRegistrations(): Map<string, Registration> {
  return new Map(STANDARD_TYPES.map((type) => [type.typeid, {
    typeid: type.typeid,
    callable: type.callable,
    proxytype: undefined,
    exposed: EXPOSED[type.kind],
    methodToTypeid: type.methodToTypeid ?? {},
  }]));
}
