/**
 * A quota of shared objects (`limits.maxObjectsPerConnection`), reserved
 * when a request is admitted: the objects a holder has references to,
 * and those on their way to it (a `create()` or a `methodToTypeid` call
 * admitted and not yet answered). Requests admitted together, in one
 * write or from many threads, cannot pass it.
 *
 * @module
 */

import { RemoteError } from "../errors.ts";

/** One holder's objects and the room it has left. */
export class ObjectQuota {
  readonly #limit: number;
  readonly #held: () => number;
  readonly #subject: string;
  readonly #scope: string;
  /** Objects reserved for requests in progress. */
  #coming = 0;

  /**
   * A quota of `limit` objects for a holder that holds `held()`. Its
   * errors begin with `subject` ("This connection already holds") and
   * name the limit, followed by `scope`.
   */
  constructor(limit: number, held: () => number, subject: string, scope = "") {
    this.#limit = limit;
    this.#held = held;
    this.#subject = subject;
    this.#scope = scope;
  }

  /**
   * Room for one more object, until the returned reservation is disposed
   * of (once the object is held, or will not come); a RemoteError naming
   * the limit when there is none.
   */
  reserve(): Disposable {
    this.check();
    this.#coming++;
    let released = false;
    return {
      [Symbol.dispose]: () => {
        if (released) return;
        released = true;
        this.#coming--;
      },
    };
  }

  /** Whether no object more may come now. */
  get full(): boolean {
    return this.#held() + this.#coming >= this.#limit;
  }

  /** What a request refused for this quota is told. */
  refusal(): string {
    const total = this.#held() + this.#coming;
    const coming = this.#coming === 0 ? "" : `, counting ${this.#coming} on their way to it`;
    return `${this.#subject} ${total} shared objects, the limit (limits.maxObjectsPerConnection${this.#scope})${coming}: release some first`;
  }

  /** Throws a RemoteError naming the limit if no object more may come now. */
  check(): void {
    if (this.full) throw new RemoteError(this.refusal());
  }
}
