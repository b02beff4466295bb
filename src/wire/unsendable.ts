/**
 * Why a value cannot be sent, said precisely: the path to it, cycles
 * named as cycles, strings UTF-8 cannot carry, class instances whose data
 * is not in own properties. The encoder (`codec.ts`) throws these; the
 * caller adds where the value was (`args[0].onDone`).
 *
 * @module
 */

import { MAX_DEPTH } from "./_limits.ts";

/** A value on its way out could not be encoded; `path` says where. */
export class UnsendableError extends TypeError {
  /** Keys from the root down to the value. */
  readonly path: (string | number)[] = [];
  /** What the value was: "a function", "a symbol", ... */
  readonly what: string;
  /** Creates the error for a value described by `what`. */
  constructor(what: string, reason = "") {
    super(`Cannot send ${what}${reason}`);
    this.name = "TypeError";
    this.what = what;
  }
  /**
   * Renders the path after a root label: `args[0].handler`. A very long
   * path keeps its first and last steps.
   */
  describePath(root: string): string {
    const steps = this.path.map((key) =>
      typeof key === "number"
        ? `[${key}]`
        : /^[A-Za-z_$][\w$]*$/.test(key)
        ? `.${key}`
        : `[${JSON.stringify(key)}]`
    );
    if (steps.length <= PATH_SHOWN) return root + steps.join("");
    const head = steps.slice(0, PATH_SHOWN - 3).join("");
    return `${root}${head}…(${steps.length - PATH_SHOWN + 1} more)…${steps.slice(-2).join("")}`;
  }
}

/** Steps of a path shown in full; longer ones are cut in the middle. */
const PATH_SHOWN = 12;

/** Thrown past MAX_DEPTH; `encode()` then looks for a cycle to name instead. */
export class TooDeepError extends UnsendableError {}

/**
 * The path to the first place where `value` contains one of its own
 * ancestors, or undefined. Runs only after an encode went too deep.
 */
export function findCycle(value: unknown): (string | number)[] | undefined {
  const ancestors = new Set<object>();
  const path: (string | number)[] = [];
  const visit = (node: unknown): boolean => {
    if (typeof node !== "object" || node === null) return false;
    if (ancestors.has(node)) return true;
    if (ancestors.size > MAX_DEPTH) return false;
    ancestors.add(node);
    const children: [string | number, unknown][] = Array.isArray(node)
      ? node.map((item, i) => [i, item])
      : node instanceof Map
      ? [...node].flatMap(([k, v], i) => [[`<Map entry ${i}>`, k], [`<Map entry ${i}>`, v]])
      : node instanceof Set
      ? [...node].map((item, i) => [`<Set item ${i}>`, item])
      : Object.entries(node);
    for (const [key, child] of children) {
      path.push(key);
      if (visit(child)) return true;
      path.pop();
    }
    ancestors.delete(node);
    return false;
  };
  return visit(value) ? path : undefined;
}

/**
 * A string with half of a surrogate pair cannot be written as UTF-8; the
 * encoder would put U+FFFD in its place, so the peer would get another
 * string. It is refused instead.
 */
export function loneSurrogate(value: string): UnsendableError {
  let at = 0;
  for (; at < value.length; at++) {
    const code = value.charCodeAt(at);
    if (code >= 0xd800 && code <= 0xdbff && at + 1 < value.length) {
      const next = value.charCodeAt(at + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        at++;
        continue;
      }
    }
    if (code >= 0xd800 && code <= 0xdfff) break;
  }
  const unit = value.charCodeAt(at).toString(16).toUpperCase();
  return new UnsendableError(
    "a string with a lone surrogate",
    ` (U+${unit} at index ${at}: half of a UTF-16 pair, which UTF-8 cannot carry; it would arrive as U+FFFD)`,
  );
}

/** What to send instead of a class instance whose data is not in own properties. */
const SEND_INSTEAD: Readonly<Record<string, string>> = {
  URL: "send url.href",
  URLSearchParams: "send params.toString()",
  RegExp: "send its source and flags",
  Blob: "send await blob.bytes()",
  File: "send await file.bytes() and its name",
  Headers: "send Object.fromEntries(headers)",
  FormData: "send Object.fromEntries(formData)",
};

/**
 * Class instances travel as their own enumerable properties. One with none
 * (a `URL`, a `RegExp`, a `Blob`: their data lives in internal slots) would
 * arrive as `{}`, so it is refused here instead.
 */
export function refuseOpaque(value: object): void {
  const prototype = Object.getPrototypeOf(value);
  if (prototype === Object.prototype || prototype === null) return;
  const name = (prototype as { constructor?: { name?: unknown } }).constructor?.name;
  const label = typeof name === "string" && name.length > 0 ? name : "class instance";
  const instead = SEND_INSTEAD[label];
  throw new UnsendableError(
    `a ${label}`,
    ` (class instances travel as their own enumerable properties, and it has none${
      instead === undefined ? "" : `: ${instead}`
    })`,
  );
}

export function within(error: unknown, key: string | number): unknown {
  if (error instanceof UnsendableError) error.path.unshift(key);
  return error;
}
