/**
 * Shared classes for the undo tests: values no codec can send, put into
 * standard objects by server-side code, and a class that takes from
 * standard objects of its own inside its methods.
 */
import { shared, SyncManager } from "../../mod.ts";
import { Dict, List } from "../../src/sync/containers.ts";
import { Lock, Semaphore } from "../../src/sync/primitives.ts";
import { Queue } from "../../src/sync/queue.ts";

/** The undo tests' manager: SyncManager's types, a Feeder and a Holder. */
export class UndoManager extends SyncManager {}

// One queue, list and dict by name, for Deno and CPython clients alike.
const queue = new Queue();
const list = new List();
const dict = new Dict();
UndoManager.register("shared_queue", () => queue, {
  exposed: ["put", "get", "getNowait", "qsize", "empty"],
});
UndoManager.register("shared_list", () => list, {
  exposed: ["append", "pop", "copy", "length", "clear"],
});
UndoManager.register("shared_dict", () => dict, {
  exposed: ["set", "get", "pop", "popitem", "entries", "size", "clear"],
});

/** The kinds of value `unsendable()` makes. */
export type UnsendableKind = "cycle" | "surrogate" | "big";

/** A value no client can be sent: it contains itself, has a lone surrogate, or is too big. */
function unsendable(kind: UnsendableKind): unknown {
  if (kind === "cycle") {
    const cycle: unknown[] = ["cycle"];
    cycle.push(cycle);
    return cycle;
  }
  if (kind === "surrogate") return "lone \ud800 surrogate";
  return "x".repeat(200_000);
}

/** What a test can be told of a value it cannot receive. */
function describe(value: unknown): string {
  if (Array.isArray(value) && value[1] === value) return "<cycle>";
  if (typeof value === "string" && /[\ud800-\udfff]/.test(value)) return "<surrogate>";
  if (typeof value === "string" && value.length > 100_000) return `<${value.length} chars>`;
  return JSON.stringify(value);
}

/** What a standard object looks like to server-side code (its proxy, called in the server). */
interface Callable {
  _callmethod(method: string, args?: unknown[]): Promise<unknown>;
}

/** Puts unsendable values into standard objects, and reads them back as descriptions. */
@shared({ manager: UndoManager })
export class Feeder {
  async put(queue: Callable, kind: UnsendableKind): Promise<void> {
    await queue._callmethod("put", [unsendable(kind)]);
  }
  async append(list: Callable, kind: UnsendableKind): Promise<void> {
    await list._callmethod("append", [unsendable(kind)]);
  }
  async set(dict: Callable, key: string, kind: UnsendableKind): Promise<void> {
    await dict._callmethod("set", [key, unsendable(kind)]);
  }
  async add(set: Callable, kind: UnsendableKind): Promise<void> {
    await set._callmethod("add", [unsendable(kind)]);
  }
  /** A queue's items in order, described; the queue is left as it was. */
  async queued(queue: Callable): Promise<string[]> {
    const items: unknown[] = [];
    while (!(await queue._callmethod("empty"))) items.push(await queue._callmethod("getNowait"));
    for (const item of items) await queue._callmethod("put", [item]);
    return items.map(describe);
  }
  async listed(list: Callable): Promise<string[]> {
    return ((await list._callmethod("copy")) as unknown[]).map(describe);
  }
  async entries(dict: Callable): Promise<[unknown, string][]> {
    const entries = (await dict._callmethod("entries")) as [unknown, unknown][];
    return entries.map(([key, value]) => [key, describe(value)]);
  }
  async members(set: Callable): Promise<string[]> {
    return ((await set._callmethod("values")) as unknown[]).map(describe);
  }
}

/** Takes from standard objects of its own inside its methods, then returns what it is told to. */
@shared({ manager: UndoManager })
export class Holder {
  readonly #lock = new Lock();
  readonly #permits = new Semaphore(2);
  readonly #queue = new Queue();

  /** Acquires the lock, then returns an unsendable value. */
  grab(kind: UnsendableKind): unknown {
    this.#lock.acquire();
    return unsendable(kind);
  }
  /** Takes a permit, then returns an unsendable value. */
  permit(kind: UnsendableKind): unknown {
    this.#permits.acquire();
    return unsendable(kind);
  }
  locked(): boolean {
    return this.#lock.locked();
  }
  permits(): number {
    return this.#permits.value();
  }
  fill(items: unknown[]): void {
    for (const item of items) this.#queue.put(item);
  }
  /** Takes the oldest item at once and returns it `ms` later. */
  async takeLater(ms: number): Promise<unknown> {
    const item = this.#queue.getNowait();
    await new Promise((resolve) => setTimeout(resolve, ms));
    return item;
  }
  /** The queue's items in order; the queue is left as it was. */
  contents(): unknown[] {
    const items: unknown[] = [];
    while (!this.#queue.empty()) items.push(this.#queue.getNowait());
    for (const item of items) this.#queue.put(item);
    return items;
  }
  /** NaN, from a method of the user's own. */
  notANumber(): number {
    return NaN;
  }
}

// One Holder by name, for a CPython client to call.
const holder = new Holder();
UndoManager.register("shared_holder", () => holder, {
  exposed: ["takeLater", "fill", "contents"],
});
