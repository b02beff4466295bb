/**
 * The server's shared objects and their reference counts. Ids come from a
 * counter and are never reused, so a stale token can never reach a newer
 * object.
 *
 * @module
 */

/** One shared object. */
export interface SharedEntry {
  /** Its id, unique for the life of the server. */
  readonly id: number;
  /** Its registered type. */
  readonly typeid: string;
  /** The object itself. */
  readonly object: unknown;
  /** Methods proxies may call. */
  readonly exposed: ReadonlySet<string>;
  /** The same, in order, as sent to clients. */
  readonly exposedList: readonly string[];
  /** Methods whose results become new shared objects. */
  readonly methodToTypeid: Readonly<Record<string, string>>;
  /** References held by connections, server-side proxies and transfer tickets. */
  refs: number;
}

/** What objects of one typeid with one exposed list share. */
interface Shape {
  readonly exposed: ReadonlySet<string>;
  readonly exposedList: readonly string[];
}

/** Shared objects by id. */
export class ObjectTable {
  #nextId = 1;
  readonly #entries = new Map<number, SharedEntry>();
  /** One exposed set per distinct list, not one per object. */
  readonly #shapes = new Map<string, Shape>();

  /** Adds an object with no references yet; the caller gives it one at once. */
  add(
    typeid: string,
    object: unknown,
    exposed: readonly string[],
    methodToTypeid: Readonly<Record<string, string>>,
  ): SharedEntry {
    const key = exposed.join("\0");
    let shape = this.#shapes.get(key);
    if (shape === undefined) {
      shape = { exposed: new Set(exposed), exposedList: Object.freeze([...exposed]) };
      this.#shapes.set(key, shape);
    }
    const entry: SharedEntry = {
      id: this.#nextId++,
      typeid,
      object,
      exposed: shape.exposed,
      exposedList: shape.exposedList,
      methodToTypeid,
      refs: 0,
    };
    this.#entries.set(entry.id, entry);
    return entry;
  }

  /** The entry for `id`, if it is still alive. */
  get(id: number): SharedEntry | undefined {
    return this.#entries.get(id);
  }

  /** Adds `count` references to a live object. */
  incref(entry: SharedEntry, count = 1): void {
    entry.refs += count;
  }

  /** Drops `count` references; the object is gone when none are left. */
  decref(id: number, count = 1): void {
    const entry = this.#entries.get(id);
    if (entry === undefined) return;
    entry.refs -= count;
    if (entry.refs <= 0) this.#entries.delete(id);
  }

  /** Forgets an object nobody took a reference to (its reply could not be sent). */
  dropIfUnreferenced(id: number): void {
    const entry = this.#entries.get(id);
    if (entry !== undefined && entry.refs <= 0) this.#entries.delete(id);
  }

  /** Number of live objects. */
  get size(): number {
    return this.#entries.size;
  }

  /** Live objects in id order. */
  values(): SharedEntry[] {
    return [...this.#entries.values()].sort((a, b) => a.id - b.id);
  }

  /** Forgets everything (server shutdown). */
  clear(): void {
    this.#entries.clear();
  }
}
