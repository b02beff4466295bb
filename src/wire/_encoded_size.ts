/**
 * How many bytes a value takes once encoded, at most: what a batch of a
 * stream counts against its byte budget before the value is encoded. An
 * upper bound for everything the codec writes (a string's UTF-16 units
 * counted as three bytes each, every header at its widest), except a proxy
 * token, whose typeid and exposed names are the peer's to fill in: it is
 * counted as 16 KiB.
 *
 * @module
 */

import { MAX_DEPTH } from "./_limits.ts";
import { Callback } from "./callback.ts";
import { OBJECT_HANDLE } from "./codec.ts";

/** What a proxy token is counted as: its typeid and exposed names are the peer's to fill in. */
const TOKEN_BYTES = 16 * 1024;
/** The widest header of a string, a binary, an array, a map or an extension. */
const HEADER = 6;

/**
 * An upper bound on the bytes `value` takes once encoded; counting stops
 * once it passes `budget` (the result is then only known to be over it).
 * A value nested deeper than the codec allows (a cycle) counts as Infinity:
 * it goes alone, and the codec says what is wrong with it.
 */
export function encodedSize(value: unknown, budget: number): number {
  switch (typeof value) {
    case "number":
      return 9;
    case "string":
      return HEADER + 3 * value.length;
    case "object":
      return value === null ? 1 : sizeOf(value, budget, 1);
    default:
      return sizeOf(value, budget, 1);
  }
}

/** `encodedSize` of `item` at `depth`, counted until it passes `budget`. */
function sizeOf(item: unknown, budget: number, depth: number): number {
  if (depth > MAX_DEPTH) return Infinity;
  switch (typeof item) {
    case "string":
      return HEADER + 3 * item.length;
    case "number":
      return 9;
    case "bigint":
      return HEADER + 2 + item.toString(16).length;
    case "object":
      break;
    default:
      return 3;
  }
  if (item === null) return 1;
  if (Array.isArray(item)) {
    let total = HEADER;
    for (let i = 0; i < item.length && total <= budget; i++) {
      total += sizeOf(item[i], budget - total, depth + 1);
    }
    return total;
  }
  if (ArrayBuffer.isView(item) || item instanceof ArrayBuffer) return HEADER + 1 + item.byteLength;
  if (item instanceof Map) {
    let total = 2 * HEADER;
    for (const [key, entry] of item) {
      if (total > budget) break;
      total += sizeOf(key, budget - total, depth + 2);
      total += sizeOf(entry, budget - total, depth + 2);
    }
    return total;
  }
  if (item instanceof Set) {
    let total = 2 * HEADER;
    for (const entry of item) {
      if (total > budget) break;
      total += sizeOf(entry, budget - total, depth + 2);
    }
    return total;
  }
  if (item instanceof Date) return 15;
  if (item instanceof Error) {
    const fields: unknown[] = [item.name, item.message, item.stack];
    if ("cause" in item) fields.push(item.cause);
    if (item instanceof AggregateError) fields.push(item.errors);
    for (const key of Object.keys(item)) {
      fields.push(key, (item as unknown as Record<string, unknown>)[key]);
    }
    return 2 * HEADER + 64 + sizeOf(fields, budget, depth + 1);
  }
  if ((item as { [OBJECT_HANDLE]?: true })[OBJECT_HANDLE] === true) return TOKEN_BYTES;
  if (
    item instanceof Callback ||
    typeof (item as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function"
  ) {
    return 2 * HEADER + 9; // an id
  }
  let total = HEADER;
  const record = item as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (total > budget) break;
    total += HEADER + 3 * key.length;
    total += sizeOf(record[key], budget - total, depth + 1);
  }
  return total;
}
