/**
 * Errors across the wire: which fields travel, and the allowlist of
 * classes an error is rebuilt as on arrival. Nothing the peer sends ever
 * chooses code to run: an unknown name arrives as a plain `Error` carrying
 * that name.
 *
 * @module
 */

import {
  AuthenticationError,
  BrokenBarrierError,
  ConnectionClosedError,
  Empty,
  Full,
  ManagerStateError,
  RemoteError,
} from "../errors.ts";

/** Fields written for every error; its other own properties go in `props`. */
export const ERROR_FIELDS: ReadonlySet<string> = new Set([
  "name",
  "message",
  "stack",
  "cause",
  "errors",
]);

type ErrorClass = new (message?: string, options?: ErrorOptions) => Error;

/**
 * Error classes rebuilt by name on arrival. Anything else arrives as a
 * plain `Error` carrying the original `name`; nothing the peer sends ever
 * chooses code to run.
 */
const errorClasses = new Map<string, ErrorClass>();
for (
  const cls of [
    Error,
    TypeError,
    RangeError,
    SyntaxError,
    ReferenceError,
    EvalError,
    URIError,
    RemoteError,
    AuthenticationError,
    ManagerStateError,
    ConnectionClosedError,
    Empty,
    Full,
    BrokenBarrierError,
  ]
) {
  errorClasses.set(cls.name, cls as ErrorClass);
}
for (const [name, cls] of Object.entries(Deno.errors)) {
  errorClasses.set(name, cls as ErrorClass);
}

/** An Error rebuilt from its wire form; the class comes from the allowlist only. */
export function reviveError(raw: unknown): Error {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new TypeError("Malformed Error");
  }
  const fields = raw as Record<string, unknown>;
  const name = typeof fields.name === "string" ? fields.name : "Error";
  const message = typeof fields.message === "string" ? fields.message : "";
  const options: ErrorOptions | undefined = "cause" in fields ? { cause: fields.cause } : undefined;
  let error: Error;
  if (name === "AggregateError" && Array.isArray(fields.errors)) {
    error = new AggregateError(fields.errors, message, options);
  } else {
    const Class = errorClasses.get(name) ?? Error;
    error = new Class(message, options);
    if (error.name !== name) error.name = name;
  }
  if (typeof fields.stack === "string") {
    Object.defineProperty(error, "stack", {
      value: fields.stack,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
  const props = fields.props;
  if (typeof props === "object" && props !== null && !Array.isArray(props)) {
    for (const [key, value] of Object.entries(props)) {
      if (ERROR_FIELDS.has(key)) continue;
      Object.defineProperty(error, key, {
        value,
        writable: true,
        configurable: true,
        enumerable: true,
      });
    }
  }
  return error;
}
