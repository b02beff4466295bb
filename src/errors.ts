/**
 * The error classes callers catch. Errors thrown by a shared object's own
 * methods are not wrapped: they arrive as the same class (see `wire/codec.ts`).
 *
 * @module
 */

/**
 * A failure of the manager protocol itself, reported by the server: an
 * unknown typeid, a method that is not exposed, an object that was already
 * released, or a factory that threw while creating an object.
 *
 * @example
 * ```ts
 * import { RemoteError } from "@multiprocess/managers";
 *
 * const error = new RemoteError("Method 'secret' of 'Counter' is not exposed");
 * console.log(error.name); // "RemoteError"
 * ```
 */
export class RemoteError extends Error {
  /** Creates the error; `cause` carries a remote exception when there is one. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RemoteError";
  }
}

/**
 * The peer failed the authkey challenge, or did not follow the handshake.
 *
 * @example
 * ```ts
 * import { AuthenticationError } from "@multiprocess/managers";
 *
 * const error = new AuthenticationError("Digest sent was rejected");
 * console.log(error instanceof Error); // true
 * ```
 */
export class AuthenticationError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AuthenticationError";
  }
}

/**
 * A manager was used in a state that does not allow it: started twice,
 * started after shutdown, or asked for objects before it was started.
 *
 * @example
 * ```ts
 * import { ManagerStateError } from "@multiprocess/managers";
 *
 * const error = new ManagerStateError("Cannot start(): the manager is already started");
 * console.log(error.name); // "ManagerStateError"
 * ```
 */
export class ManagerStateError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ManagerStateError";
  }
}

/**
 * The connection to a manager's server is gone: the server shut down or
 * died, or this side closed the connection. Every call pending on that
 * connection rejects with it, and so does every later call.
 *
 * @example
 * ```ts
 * import { ConnectionClosedError } from "@multiprocess/managers";
 *
 * const error = new ConnectionClosedError("Connection to manager closed");
 * console.log(error.name); // "ConnectionClosedError"
 * ```
 */
export class ConnectionClosedError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionClosedError";
  }
}

/**
 * `queue.get()` found the queue empty (non-blocking, or the timeout ran
 * out), as Python's `queue.Empty`.
 *
 * @example
 * ```ts
 * import { Empty } from "@multiprocess/managers";
 *
 * const error = new Empty();
 * console.log(error.message); // "Queue is empty"
 * ```
 */
export class Empty extends Error {
  /** Creates the error. */
  constructor(message = "Queue is empty", options?: ErrorOptions) {
    super(message, options);
    this.name = "Empty";
  }
}

/**
 * `queue.put()` found the queue full (non-blocking, or the timeout ran
 * out), as Python's `queue.Full`.
 *
 * @example
 * ```ts
 * import { Full } from "@multiprocess/managers";
 *
 * const error = new Full();
 * console.log(error.message); // "Queue is full"
 * ```
 */
export class Full extends Error {
  /** Creates the error. */
  constructor(message = "Queue is full", options?: ErrorOptions) {
    super(message, options);
    this.name = "Full";
  }
}

/**
 * A barrier was broken (aborted, reset, timed out, or a waiting party's
 * connection died) while or before waiting, as Python's
 * `threading.BrokenBarrierError`.
 *
 * @example
 * ```ts
 * import { BrokenBarrierError } from "@multiprocess/managers";
 *
 * const error = new BrokenBarrierError();
 * console.log(error.name); // "BrokenBarrierError"
 * ```
 */
export class BrokenBarrierError extends Error {
  /** Creates the error. */
  constructor(message = "The barrier is broken", options?: ErrorOptions) {
    super(message, options);
    this.name = "BrokenBarrierError";
  }
}
