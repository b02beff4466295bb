/**
 * The manager protocol, whole. After the handshake (`handshake.ts`) every frame
 * is one MessagePack value (`codec.ts`):
 *
 * ```
 * request  [requestId, objectId, method, args]     client → server
 * reply    [requestId, kind, value]                 server → client
 * ```
 *
 * - `requestId` is chosen by the client, unique among its pending calls;
 *   0 means "no reply wanted" (used by `release`).
 * - `objectId` 0 addresses the server itself: `method` is then one of
 *   {@linkcode ControlMethod}. Any other id is a shared object, and
 *   `method` one of its exposed methods (or `#GETVALUE`).
 * - Many requests may be in flight on one connection; the server starts
 *   them in arrival order and replies as each settles.
 * - Reply kinds: {@linkcode Reply}. A proxy inside any value travels as a
 *   token, and each token the server sends carries one reference that the
 *   receiving connection now holds.
 *
 * @module
 */

/** Reply kinds. */
export const Reply = {
  /** The method returned `value`. */
  Return: 0,
  /** The method threw `value` (an Error is rebuilt as the same class). */
  Throw: 1,
  /** The protocol failed (unknown object, method not exposed, ...); `value` is a message. */
  Failure: 2,
} as const;

/** A reply kind. */
export type ReplyKind = typeof Reply[keyof typeof Reply];

/**
 * Messages of callbacks, server to client and back, told apart from
 * requests and replies by the string in their second place:
 * `[callId, CALLBACK_CALL, callbackId, args]` (server → client),
 * `[callId, CALLBACK_REPLY, kind, value]` (client → server),
 * `[0, CALLBACK_RELEASE, [callbackId, ...]]` (server → client: stubs collected).
 */
export const CallbackMessage = {
  call: "#callback",
  reply: "#reply",
  release: "#release",
} as const;

/** Requests addressed to the server (object id 0) and their arguments. */
export const ControlMethod = {
  /** `[typeid, ...args]` → a token of the new object. */
  create: "create",
  /** `[id, id, ...]`, sent with request id 0: drop one reference each. */
  release: "release",
  /** `[]` → number of live shared objects. */
  numberOfObjects: "numberOfObjects",
  /** `[]` → a text listing objects and their reference counts. */
  debugInfo: "debugInfo",
  /** `[]` → null, then the server stops. */
  shutdown: "shutdown",
  /** `[]` → null; proves the connection works. */
  ping: "ping",
  /** `[id, ttlMs]` → a ticket string holding one reference until claimed or expired. */
  share: "share",
  /** `[ticket]` → a token; the ticket's reference moves to this connection. */
  claim: "claim",
  /** `[requestId, ...]`, sent with request id 0: stop remembering those kept results. */
  forget: "forget",
  /**
   * `[requestId, ...]`, sent with request id 0: the client gave up on those
   * cancellable calls: stop them, or undo what they did.
   */
  cancel: "cancel",
  /** `[requestId, ...]`, sent with request id 0: the client has those calls' results. */
  accept: "accept",
  /**
   * `[streamId, max, maxBytes?]` → `[items, done]`: the next items of a
   * streamed result, at most `max` of them and, once encoded, about
   * `maxBytes` (an item larger on its own comes alone).
   */
  pull: "pull",
  /** `[streamId, ...]`, sent with request id 0: the client stopped reading those streams. */
  closeStream: "closeStream",
} as const;

/** The object id that addresses the server itself. */
export const SERVER_ID = 0;

/** The method that returns a copy of the referent (CPython's `#GETVALUE`). */
export const GET_VALUE = "#GETVALUE";

/**
 * A shared object may define this method to say what `_getvalue()` copies
 * (SyncManager's dict gives a Map, its list an array); otherwise the
 * object itself is sent.
 */
export const GET_VALUE_HOOK: unique symbol = Symbol.for("@multiprocess/managers.getvalue");

/**
 * A request as decoded; checked by {@linkcode parseRequest}.
 *
 * Promise pipelining: a request may end with `1` (`keep`), asking the
 * server to remember the shared object it returns under its request id;
 * a later request whose `objectId` is minus that id calls that object,
 * waiting on the server, not on the client, for it to exist. `forget`
 * ends the remembering.
 */
export interface Request {
  readonly requestId: number;
  /** An object id; or, below zero, minus the id of a kept request whose result to call. */
  readonly objectId: number;
  readonly method: string;
  readonly args: unknown[];
  /** Remember the result under `requestId` for requests that follow. */
  readonly keep: boolean;
  /**
   * The client may cancel it (it gave a signal or a timeout): it sends
   * `cancel` if it gives up, else `accept` once it has the result.
   */
  readonly cancellable: boolean;
}

/** Bits of a request's fifth element. */
export const RequestFlag = {
  /** Remember the result (promise pipelining). */
  keep: 1,
  /** The client may cancel the call. */
  cancellable: 2,
} as const;

/** The request in a decoded frame, or a message saying what is wrong with it. */
export function parseRequest(value: unknown): Request | string {
  if (!Array.isArray(value) || (value.length !== 4 && value.length !== 5)) {
    return "a request must be [requestId, objectId, method, args] or [..., flags]";
  }
  const [requestId, objectId, method, args, flags = 0] = value;
  if (!isId(requestId)) return "requestId must be a non-negative integer";
  if (typeof objectId !== "number" || !Number.isSafeInteger(objectId)) {
    return "objectId must be an integer";
  }
  if (typeof method !== "string") return "method must be a string";
  if (!Array.isArray(args)) return "args must be an array";
  if (typeof flags !== "number" || !Number.isInteger(flags) || flags < 0 || flags > 3) {
    return "flags must be an integer from 0 to 3";
  }
  const keep = (flags & RequestFlag.keep) !== 0;
  const cancellable = (flags & RequestFlag.cancellable) !== 0;
  if ((keep || cancellable) && requestId === 0) {
    return "a kept or cancellable request needs a request id";
  }
  return { requestId, objectId, method, args, keep, cancellable };
}

/** A request to the server itself, its arguments checked. */
export type ControlRequest =
  | { readonly method: "create"; readonly typeid: string; readonly args: unknown[] }
  | {
    readonly method: "release" | "forget" | "cancel" | "accept" | "closeStream";
    readonly ids: number[];
  }
  | {
    readonly method: "pull";
    readonly id: number;
    readonly max: number;
    readonly maxBytes: number | undefined;
  }
  | { readonly method: "numberOfObjects" | "debugInfo" | "shutdown" | "ping" }
  | { readonly method: "share"; readonly id: number; readonly ttl: number }
  | { readonly method: "claim"; readonly ticket: string };

/**
 * The control request `method(args)`, its arguments checked, or a message
 * saying what is wrong with them.
 */
export function parseControl(method: string, args: readonly unknown[]): ControlRequest | string {
  switch (method) {
    case ControlMethod.create: {
      const [typeid, ...rest] = args;
      if (typeof typeid !== "string") return "create needs a typeid string as its first argument";
      return { method, typeid, args: rest };
    }
    case ControlMethod.release:
    case ControlMethod.forget:
    case ControlMethod.cancel:
    case ControlMethod.accept:
    case ControlMethod.closeStream:
      // Ids that are not numbers are ignored, as ids of objects already gone are.
      return { method, ids: args.filter((id): id is number => typeof id === "number") };
    case ControlMethod.numberOfObjects:
    case ControlMethod.debugInfo:
    case ControlMethod.shutdown:
    case ControlMethod.ping:
      return { method };
    case ControlMethod.share: {
      const [id, ttl] = args;
      if (!isId(id)) return "share needs an object id as its first argument";
      if (typeof ttl !== "number" || !(ttl > 0)) {
        return "share needs a positive time to live in milliseconds";
      }
      return { method, id, ttl };
    }
    case ControlMethod.pull: {
      const [id, max, maxBytes] = args;
      if (!Number.isSafeInteger(id) || !Number.isSafeInteger(max) || (max as number) < 1) {
        return "pull needs a stream id and a positive batch size";
      }
      if (maxBytes !== undefined && !(Number.isSafeInteger(maxBytes) && (maxBytes as number) > 0)) {
        return "pull's byte budget, when given, must be a positive integer";
      }
      return {
        method,
        id: id as number,
        max: Math.min(max as number, 4096),
        maxBytes: maxBytes as number | undefined,
      };
    }
    case ControlMethod.claim: {
      const [ticket] = args;
      if (typeof ticket !== "string") return "claim needs a ticket string";
      return { method, ticket };
    }
    default:
      return `Unknown server request '${method}'`;
  }
}

/** A reply as decoded, or a message saying what is wrong with it. */
export function parseReply(
  value: unknown,
): { requestId: number; kind: ReplyKind; value: unknown } | string {
  if (!Array.isArray(value) || value.length !== 3) {
    return "a reply must be [requestId, kind, value]";
  }
  const [requestId, kind, payload] = value;
  if (!isId(requestId)) return "requestId must be a non-negative integer";
  if (kind !== Reply.Return && kind !== Reply.Throw && kind !== Reply.Failure) {
    return `unknown reply kind ${String(kind)}`;
  }
  return { requestId, kind, value: payload };
}

function isId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/**
 * The request id at the start of a message (requests and replies both
 * begin `[id, ...]`), read without decoding the rest: a message refused
 * for its content can still be answered, or matched to its call. Undefined
 * when the message does not start that way.
 */
export function peekMessageId(payload: Uint8Array): number | undefined {
  const head = payload[0];
  let at: number;
  if (head !== undefined && head >= 0x91 && head <= 0x9f) at = 1;
  else if (head === 0xdc) at = 3;
  else if (head === 0xdd) at = 5;
  else return undefined;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const kind = payload[at];
  if (kind === undefined) return undefined;
  if (kind <= 0x7f) return kind;
  if (kind === 0xcc && at + 1 < payload.length) return view.getUint8(at + 1);
  if (kind === 0xcd && at + 2 < payload.length) return view.getUint16(at + 1);
  if (kind === 0xce && at + 4 < payload.length) return view.getUint32(at + 1);
  return undefined;
}
