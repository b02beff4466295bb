/**
 * Pipelining on the server: the results of one client's kept requests
 * (calls it sent with `keep`), by request id, for the calls it chains to
 * them before they arrive. A chained call is made at once when the result
 * is there, after it when it is not yet, and fails as it failed.
 *
 * @module
 */

import { Reference } from "../wire/codec.ts";
import { Reply, type ReplyKind, type Request } from "../wire/protocol.ts";

/** Where a kept request's result is: still coming, there, or failed. */
type Promised =
  | { readonly state: "pending"; readonly waiting: Request[] }
  | { readonly state: "ready"; readonly id: number }
  | { readonly state: "failed"; readonly kind: ReplyKind; readonly value: unknown };

/** One connection's kept results. */
export class KeptResults {
  readonly #results = new Map<number, Promised>();
  readonly #dispatch: (request: Request) => void;
  readonly #reply: (requestId: number, kind: ReplyKind, value: unknown) => void;

  /** Chained calls go on with `dispatch` (the real object's id in place) or fail with `reply`. */
  constructor(
    dispatch: (request: Request) => void,
    reply: (requestId: number, kind: ReplyKind, value: unknown) => void,
  ) {
    this.#dispatch = dispatch;
    this.#reply = reply;
  }

  /** Keeps the result of request `requestId`, which is on its way. */
  keep(requestId: number): void {
    this.#results.set(requestId, { state: "pending", waiting: [] });
  }

  /** A call on the result of an earlier kept request (its object id is minus that request's). */
  chained(request: Request): void {
    const promised = this.#results.get(-request.objectId);
    if (promised === undefined) {
      return this.#reply(request.requestId, Reply.Failure, [
        `The call is chained to request ${-request
          .objectId}, which this connection did not keep (or forgot)`,
        undefined,
      ]);
    }
    if (promised.state === "pending") promised.waiting.push(request);
    else if (promised.state === "ready") this.#dispatch({ ...request, objectId: promised.id });
    else this.#reply(request.requestId, promised.kind, promised.value);
  }

  /** A request has its answer: if it was kept, calls chained to it go on, or fail as it did. */
  settle(requestId: number, kind: ReplyKind, value: unknown): void {
    const promised = this.#results.get(requestId);
    if (promised?.state !== "pending") return;
    const settled: Promised = kind === Reply.Return && value instanceof Reference
      ? { state: "ready", id: value.id }
      : kind === Reply.Return
      ? {
        state: "failed",
        kind: Reply.Failure,
        value: [
          `Request ${requestId} returned a value, not a shared object, so no call can be chained to it (only methodToTypeid methods and create() return one)`,
          undefined,
        ],
      }
      : { state: "failed", kind, value };
    this.#results.set(requestId, settled);
    for (const request of promised.waiting) this.chained(request);
  }

  /** The client will chain no more calls to `ids`: their results are forgotten once known. */
  forget(ids: Iterable<number>): void {
    for (const id of ids) {
      if (this.#results.get(id)?.state !== "pending") this.#results.delete(id);
    }
  }
}
