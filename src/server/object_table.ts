/**
 * The server's shared objects and their reference counts. Ids come from a
 * counter and are never reused, so a stale token can never reach a newer
 * object.
 *
 * @module
 */

/** What the objects of one typeid with one exposed list share. */
interface Kind {
  readonly typeid: string;
  readonly exposed: ReadonlySet<string>;
  readonly exposedList: readonly string[];
  readonly methodToTypeid: Readonly<Record<string, string>>;
}

/**
 * One shared object. Four fields each: what objects of a kind have in
 * common lives once, in their {@linkcode Kind}.
 */
export class SharedEntry {
  /** Its id, unique for the life of the server. */
  readonly id: number;
  /** The object itself. */
  readonly object: unknown;
  readonly #kind: Kind;
  /** References held by connections, server-side proxies and transfer tickets. */
  refs = 0;

  /** An entry with no references yet. */
  constructor(id: number, object: unknown, kind: Kind) {
    this.id = id;
    this.object = object;
    this.#kind = kind;
  }

  /** Its registered type. */
  get typeid(): string {
    return this.#kind.typeid;
  }
  /** Methods proxies may call. */
  get exposed(): ReadonlySet<string> {
    return this.#kind.exposed;
  }
  /** The same, in order, as sent to clients. */
  get exposedList(): readonly string[] {
    return this.#kind.exposedList;
  }
  /** Methods whose results become new shared objects. */
  get methodToTypeid(): Readonly<Record<string, string>> {
    return this.#kind.methodToTypeid;
  }
}

/** Shared objects by id. */
export class ObjectTable {
  #nextId = 1;
  readonly #entries = new Map<number, SharedEntry>();
  /** One kind per typeid, exposed list and methodToTypeid, not one per object. */
  readonly #kinds = new Map<string, Kind>();

  /** Adds an object with no references yet; the caller gives it one at once. */
  add(
    typeid: string,
    object: unknown,
    exposed: readonly string[],
    methodToTypeid: Readonly<Record<string, string>>,
  ): SharedEntry {
    const key = `${typeid}\0${exposed.join("\0")}`;
    let kind = this.#kinds.get(key);
    if (kind === undefined || kind.methodToTypeid !== methodToTypeid) {
      kind = {
        typeid,
        exposed: new Set(exposed),
        exposedList: Object.freeze([...exposed]),
        methodToTypeid,
      };
      this.#kinds.set(key, kind);
    }
    const entry = new SharedEntry(this.#nextId++, object, kind);
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
