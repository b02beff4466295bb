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
  | {
    readonly state: "pending";
    readonly waiting: Request[];
    /** The client forgot it before it came: it goes once its waiting calls do. */
    forgotten: boolean;
  }
  | { readonly state: "ready"; readonly id: number }
  | { readonly state: "failed"; readonly kind: ReplyKind; readonly value: unknown };

/**
 * One connection's kept results. What they hold is counted for the
 * connection's quota of calls in progress: the calls waiting for a result
 * not there yet, and the results there until the client forgets them.
 */
export class KeptResults {
  readonly #results = new Map<number, Promised>();
  readonly #dispatch: (request: Request) => void;
  readonly #reply: (requestId: number, kind: ReplyKind, value: unknown) => void;
  #waiting = 0;
  #settled = 0;

  /** Chained calls go on with `dispatch` (the real object's id in place) or fail with `reply`. */
  constructor(
    dispatch: (request: Request) => void,
    reply: (requestId: number, kind: ReplyKind, value: unknown) => void,
  ) {
    this.#dispatch = dispatch;
    this.#reply = reply;
  }

  /** Calls chained to results not there yet. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Results there (or failed) that the client has not forgotten yet. */
  get results(): number {
    return this.#settled;
  }

  /** Keeps the result of request `requestId`, which is on its way. */
  keep(requestId: number): void {
    const before = this.#results.get(requestId);
    if (before?.state === "pending") {
      // A request id used again while its first request runs: its chained calls cannot go on.
      this.#waiting -= before.waiting.length;
      for (const request of before.waiting) {
        this.#reply(request.requestId, Reply.Failure, [
          `The call is chained to request ${requestId}, whose id was used again before it was answered`,
          undefined,
        ]);
      }
    } else if (before !== undefined) {
      this.#settled--;
    }
    this.#results.set(requestId, { state: "pending", waiting: [], forgotten: false });
  }

  /** A call on the result of an earlier kept request (its object id is minus that request's). */
  chained(request: Request): void {
    const promised = this.#results.get(-request.objectId);
    if (promised === undefined) {
      return this.#reply(request.requestId, Reply.Failure, [
        `The call is chained to request ${-request
          .objectId}, which this connection did not keep (it was refused, or forgotten)`,
        undefined,
      ]);
    }
    if (promised.state === "pending") {
      promised.waiting.push(request);
      this.#waiting++;
    } else {
      this.#proceed(request, promised);
    }
  }

  /** A chained call whose result is known: made on it, or failed as it failed. */
  #proceed(request: Request, settled: Promised): void {
    if (settled.state === "ready") this.#dispatch({ ...request, objectId: settled.id });
    else if (settled.state === "failed") {
      this.#reply(request.requestId, settled.kind, settled.value);
    }
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
    if (promised.forgotten) {
      this.#results.delete(requestId);
    } else {
      this.#results.set(requestId, settled);
      this.#settled++;
    }
    this.#waiting -= promised.waiting.length;
    for (const request of promised.waiting) this.#proceed(request, settled);
  }

  /** The client will chain no more calls to `ids`: their results are forgotten once known. */
  forget(ids: Iterable<number>): void {
    for (const id of ids) {
      const promised = this.#results.get(id);
      if (promised === undefined) continue;
      if (promised.state === "pending") {
        promised.forgotten = true;
      } else {
        this.#results.delete(id);
        this.#settled--;
      }
    }
  }
}
