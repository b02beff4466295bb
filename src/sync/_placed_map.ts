/**
 * A Map that remembers each key's place in insertion order, so that an
 * entry taken out and then given back (a `dict.pop()` whose call is
 * undone) returns to exactly its place, at O(1) per change.
 *
 * @module
 */

/**
 * A `Map` whose keys carry their place in insertion order: a number given
 * when a key is first set, kept while it stays (setting it again does not
 * move it, as in a Map and a Python dict).
 */
export class PlacedMap<K, V> extends Map<K, V> {
  #next = 0;
  readonly #places = new Map<K, number>();

  /** A map of `entries`, in their order. */
  constructor(entries?: Iterable<readonly [K, V]>) {
    super();
    if (entries !== undefined) { for (const [key, value] of entries) this.set(key, value); }
  }

  override set(key: K, value: V): this {
    if (!this.#places.has(key)) this.#places.set(key, this.#next++);
    return super.set(key, value);
  }

  override delete(key: K): boolean {
    this.#places.delete(key);
    return super.delete(key);
  }

  override clear(): void {
    this.#places.clear();
    super.clear();
  }

  /** The place of `key`, while it is present. */
  placeOf(key: K): number | undefined {
    return this.#places.get(key);
  }

  /**
   * Puts `key` back at `place` (from `placeOf` before it was deleted), with
   * `value`; if it was set again meanwhile, its new value stays, at its old
   * place, as if it had never left. O(size).
   */
  restore(key: K, value: V, place: number): void {
    const current = super.has(key) ? super.get(key) as V : value;
    this.delete(key);
    const entries = [...super.entries()];
    let at = entries.findIndex(([other]) => this.#places.get(other)! > place);
    if (at < 0) at = entries.length;
    entries.splice(at, 0, [key, current]);
    super.clear();
    for (const [other, item] of entries) super.set(other, item);
    this.#places.set(key, place);
  }
}
