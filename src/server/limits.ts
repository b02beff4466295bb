/**
 * What a server accepts from any peer, and its defaults.
 *
 * @module
 */

import { MAX_DEPTH, MAX_LENGTH } from "../wire/codec.ts";
import { DEFAULT_MAX_FRAME } from "../wire/framing.ts";

/**
 * What the server accepts from any peer. A peer that goes beyond them is
 * told why and disconnected; nothing it sent reaches a shared object.
 *
 * @example
 * ```ts
 * import { SyncManager, type ServerLimits } from "@multiprocess/managers";
 *
 * const limits: ServerLimits = { maxFrameSize: 1 << 20, maxConnections: 64 };
 * const manager = new SyncManager({ limits });
 * console.log(manager.state); // "initial"
 * ```
 */
export interface ServerLimits {
  /** Largest frame, in bytes; a larger declared length is refused before any allocation (default 64 MiB). */
  readonly maxFrameSize?: number;
  /** Most authenticated connections at once; more are closed at once (default 1024). */
  readonly maxConnections?: number;
  /**
   * Peers in the authentication handshake that have not yet proved they
   * hold the key (default 64). Past it, a newcomer makes the oldest one
   * drop if it lags: a peer that came after it proved the key 100 ms ago or
   * more, and it still has not. At 8 times it, the oldest drops whatever it
   * did. A flood of peers that never authenticate cannot lock a key holder
   * out, nor use more than 8 times this many descriptors; a burst of real
   * clients on a loaded machine, slow to answer, is not cut short.
   */
  readonly maxPending?: number;
  /** Most unclaimed `proxyToString()` tickets per connection (default 1024). */
  readonly maxTickets?: number;
  /** Longest time, in ms, a ticket keeps its object alive unclaimed (default 60000). */
  readonly ticketTtl?: number;
  /** Deepest nesting of a received value (default 512). */
  readonly maxDepth?: number;
  /** Most items in one received array, object, Map or Set (default 4,194,304). */
  readonly maxLength?: number;
  /**
   * Most shared objects one connection may hold references to, and most
   * streamed results it may have open (default 1,048,576 each). Room is
   * reserved when a request is admitted, so requests sent together cannot
   * pass it. A `create()`, a method returning a new shared object or a
   * stream, or a `proxyFromString()` claim past it fails naming this limit,
   * and a refused method does not run; the connection goes on. CPython
   * clients, whose references belong to no connection, share one such quota
   * for the whole server.
   */
  readonly maxObjectsPerConnection?: number;
  /**
   * Most calls of one connection in progress at once (default 65,536):
   * waiting `get()`s, `acquire()`s and other unfinished async methods,
   * calls chained to a pipelined result that is not there yet, and
   * pipelined results kept for chained calls until the client forgets them
   * (ours does once the result arrives). A call past it fails at once with
   * a RemoteError naming this limit, and does not run. It bounds the other
   * way too: the server's calls of a client's callbacks waiting for their
   * replies.
   */
  readonly maxPendingCallsPerConnection?: number;
  /**
   * Most bytes of replies a connection may have waiting to be written
   * (default 128 MiB). Past it, the server stops reading that client's
   * requests until its replies drain: a client that sends without reading
   * is throttled, and its buffered replies stay bounded, while every other
   * client is served as usual. A call of that client's callbacks (made by
   * any caller, as in a fan-out) fails at once with a RemoteError while
   * that much waits for it.
   */
  readonly maxBufferedBytesPerConnection?: number;
}

const LIMITS = [
  "maxFrameSize",
  "maxConnections",
  "maxPending",
  "maxDepth",
  "maxLength",
  "maxTickets",
  "ticketTtl",
  "maxObjectsPerConnection",
  "maxPendingCallsPerConnection",
  "maxBufferedBytesPerConnection",
];

/** Checks limits given by a user. */
export function checkLimits(limits: unknown): ServerLimits | undefined {
  if (limits === undefined) return undefined;
  if (typeof limits !== "object" || limits === null) {
    throw new TypeError("The limits option must be an object such as { maxFrameSize: 1048576 }");
  }
  for (const [name, value] of Object.entries(limits)) {
    if (!LIMITS.includes(name)) {
      throw new TypeError(`Unknown limit '${name}'`);
    }
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw new RangeError(`Limit '${name}' must be a positive integer, got ${String(value)}`);
    }
  }
  return limits as ServerLimits;
}

/** The limits with every default filled in. */
export function resolveLimits(limits: ServerLimits | undefined): Required<ServerLimits> {
  const given = checkLimits(limits) ?? {};
  return {
    maxFrameSize: given.maxFrameSize ?? DEFAULT_MAX_FRAME,
    maxConnections: given.maxConnections ?? 1024,
    maxPending: given.maxPending ?? 64,
    maxTickets: given.maxTickets ?? 1024,
    ticketTtl: given.ticketTtl ?? 60_000,
    maxDepth: given.maxDepth ?? MAX_DEPTH,
    maxLength: given.maxLength ?? MAX_LENGTH,
    maxObjectsPerConnection: given.maxObjectsPerConnection ?? 1_048_576,
    maxPendingCallsPerConnection: given.maxPendingCallsPerConnection ?? 65_536,
    maxBufferedBytesPerConnection: given.maxBufferedBytesPerConnection ?? 128 * 1024 * 1024,
  };
}
