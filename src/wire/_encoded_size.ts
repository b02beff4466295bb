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
  let total = 0;
  const add = (item: unknown, depth: number): void => {
    if (total > budget) return;
    if (depth > MAX_DEPTH) {
      total = Infinity;
      return;
    }
    switch (typeof item) {
      case "string":
        total += HEADER + 3 * item.length;
        return;
      case "number":
        total += 9;
        return;
      case "bigint":
        total += HEADER + 2 + item.toString(16).length;
        return;
      case "object":
        break;
      default:
        total += 3;
        return;
    }
    if (item === null) {
      total += 1;
    } else if (Array.isArray(item)) {
      total += HEADER;
      for (let i = 0; i < item.length && total <= budget; i++) add(item[i], depth + 1);
    } else if (ArrayBuffer.isView(item) || item instanceof ArrayBuffer) {
      total += HEADER + 1 + item.byteLength;
    } else if (item instanceof Map) {
      total += 2 * HEADER;
      for (const [key, entry] of item) {
        if (total > budget) return;
        add(key, depth + 2);
        add(entry, depth + 2);
      }
    } else if (item instanceof Set) {
      total += 2 * HEADER;
      for (const entry of item) {
        if (total > budget) return;
        add(entry, depth + 2);
      }
    } else if (item instanceof Date) {
      total += 15;
    } else if (item instanceof Error) {
      total += 2 * HEADER + 64;
      add(item.name, depth + 2);
      add(item.message, depth + 2);
      add(item.stack, depth + 2);
      if ("cause" in item) add(item.cause, depth + 2);
      if (item instanceof AggregateError) add(item.errors, depth + 2);
      for (const key of Object.keys(item)) {
        add(key, depth + 3);
        add((item as unknown as Record<string, unknown>)[key], depth + 3);
      }
    } else if ((item as { [OBJECT_HANDLE]?: true })[OBJECT_HANDLE] === true) {
      total += TOKEN_BYTES;
    } else if (
      item instanceof Callback ||
      typeof (item as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function"
    ) {
      total += 2 * HEADER + 9; // an id
    } else {
      total += HEADER;
      const record = item as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        if (total > budget) return;
        total += HEADER + 3 * key.length;
        add(record[key], depth + 1);
      }
    }
  };
  add(value, 1);
  return total;
}
