/** Shared classes for the quota tests; the server process imports this module. */
import { BaseManager, shared } from "../../mod.ts";

/** A manager class of the quota tests' own. */
export class QuotaManager extends BaseManager {}

/** A count, calls that never end, and a way to read the server's memory. */
@shared({ manager: QuotaManager, methodToTypeid: { spawn: "Tally" } })
export class Tally {
  #count = 0;
  increment(): number {
    return ++this.#count;
  }
  get(): number {
    return this.#count;
  }
  echo<T>(value: T): T {
    return value;
  }
  /** Never settles. */
  hang(): Promise<never> {
    return new Promise(() => {});
  }
  /** A new shared Tally (methodToTypeid); counts the calls that made one. */
  spawn(): Tally {
    this.#count++;
    return new Tally();
  }
  /**
   * The server's memory in use, in bytes, after forced garbage
   * collections: V8's heap and the buffers outside it (received frames).
   */
  memoryAfterGc(): number {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc === undefined) throw new Error("the server process has no gc(): --expose-gc is gone");
    for (let i = 0; i < 3; i++) gc();
    const { heapUsed, external } = Deno.memoryUsage();
    return heapUsed + external;
  }
}
