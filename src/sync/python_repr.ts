/**
 * Python's `repr()` of the values a shared container holds, for what a
 * CPython client's `str(proxy)` and `print(d)` show (CPython's server
 * answers them with the referent's `repr()`), and for `Namespace.repr()`.
 * Python's own types kept by the server (tuples, integral floats, bytes,
 * frozensets, datetimes, the wrapped stdlib values) print as Python
 * prints them, the wrapped ones in the constructor form of their type.
 *
 * @module
 */

import { BaseProxy } from "../objects/proxy.ts";
import {
  isTuple,
  PyByteArray,
  PyDatetime,
  PyFloat,
  PyFrozenSet,
  PythonObject,
  utcOffset,
} from "../wire/python_data.ts";

/** Python's `repr()` of a `str`: single quotes unless the text has one and no double quote. */
export function pythonStringRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (char === quote || char === "\\") out += `\\${char}`;
    else if (char === "\n") out += "\\n";
    else if (char === "\r") out += "\\r";
    else if (char === "\t") out += "\\t";
    else if (code < 0x20 || (code >= 0x7f && code <= 0xa0)) {
      out += `\\x${code.toString(16).padStart(2, "0")}`;
    } else out += char;
  }
  return out + quote;
}

function bytesRepr(bytes: Uint8Array): string {
  let quote = "'";
  let hasSingle = false;
  let hasDouble = false;
  for (const b of bytes) {
    if (b === 0x27) hasSingle = true;
    if (b === 0x22) hasDouble = true;
  }
  if (hasSingle && !hasDouble) quote = '"';
  let out = `b${quote}`;
  for (const b of bytes) {
    if (b === 0x5c || String.fromCharCode(b) === quote) out += `\\${String.fromCharCode(b)}`;
    else if (b === 0x0a) out += "\\n";
    else if (b === 0x0d) out += "\\r";
    else if (b === 0x09) out += "\\t";
    else if (b < 0x20 || b >= 0x7f) out += `\\x${b.toString(16).padStart(2, "0")}`;
    else out += String.fromCharCode(b);
  }
  return out + quote;
}

function floatRepr(value: number): string {
  if (Number.isNaN(value)) return "nan";
  if (value === Infinity) return "inf";
  if (value === -Infinity) return "-inf";
  if (Object.is(value, -0)) return "-0.0";
  const magnitude = Math.abs(value);
  // Python's repr turns to an exponent from 1e16 up and below 1e-4 (JavaScript at 1e21 and 1e-7),
  // and writes it with at least two digits (1e-07).
  const text = magnitude >= 1e16 || (magnitude < 1e-4 && magnitude > 0)
    ? value.toExponential()
    : String(value);
  if (/^-?\d+$/.test(text)) return `${text}.0`;
  return text.replace(/e([+-])(\d)$/, "e$10$2");
}

function datetimeRepr(value: Date): string {
  let fields: number[];
  let zone = ", tzinfo=datetime.timezone.utc";
  if (value instanceof PyDatetime) {
    const [y1, y2, m, day, hour, minute, second, u1, u2, u3] = value.state as unknown as number[];
    fields = [
      y1! * 256 + y2!,
      m! & 0x7f,
      day!,
      hour!,
      minute!,
      second!,
      u1! * 65536 + u2! * 256 + u3!,
    ];
    const offset = utcOffset(value.tzinfo);
    zone = value.naive
      ? ""
      : offset === 0
      ? zone
      : offset === undefined
      ? `, tzinfo=${pythonRepr(value.tzinfo)}`
      : `, tzinfo=datetime.timezone(datetime.timedelta(seconds=${offset / 1_000_000}))`;
  } else {
    fields = [
      value.getUTCFullYear(),
      value.getUTCMonth() + 1,
      value.getUTCDate(),
      value.getUTCHours(),
      value.getUTCMinutes(),
      value.getUTCSeconds(),
      value.getUTCMilliseconds() * 1000,
    ];
  }
  // Python leaves out a zero microsecond, then a zero second.
  if (fields[6] === 0) fields.pop();
  if (fields.length === 6 && fields[5] === 0) fields.pop();
  return `datetime.datetime(${fields.join(", ")}${zone})`;
}

function itemsRepr(items: Iterable<unknown>): string {
  return [...items].map(pythonRepr).join(", ");
}

/** Python's `repr()` of `value`, as CPython's server would show it. */
export function pythonRepr(value: unknown): string {
  if (typeof value === "string") return pythonStringRepr(value);
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "bigint") return String(value);
  if (typeof value === "number") {
    // Past 2**53 an integral number is a float: a Python int that large arrives as a bigint.
    return Number.isSafeInteger(value) && !Object.is(value, -0) ? String(value) : floatRepr(value);
  }
  if (value instanceof PyFloat) return floatRepr(value.valueOf());
  if (isTuple(value)) {
    const items = (value as unknown[]).map(pythonRepr);
    return items.length === 1 ? `(${items[0]},)` : `(${items.join(", ")})`;
  }
  if (Array.isArray(value)) return `[${itemsRepr(value)}]`;
  if (value instanceof PyByteArray) return `bytearray(${bytesRepr(value)})`;
  if (value instanceof Uint8Array) return bytesRepr(value);
  if (value instanceof Date) return datetimeRepr(value);
  if (value instanceof PyFrozenSet) {
    return value.size === 0 ? "frozenset()" : `frozenset({${itemsRepr(value)}})`;
  }
  if (value instanceof Set) return value.size === 0 ? "set()" : `{${itemsRepr(value)}}`;
  if (value instanceof Map) {
    return `{${[...value].map(([k, v]) => `${pythonRepr(k)}: ${pythonRepr(v)}`).join(", ")}}`;
  }
  if (value instanceof PythonObject) {
    // The constructor form of its type: Decimal('1.5'), Fraction(1, 3), UUID('...').
    const parts = value.args.length > 0 ? value.args : value.items;
    return `${value.name}(${itemsRepr(parts)})`;
  }
  if (value instanceof BaseProxy) return String(value);
  if (value instanceof Error) {
    // A Python exception keeps its args (as read from a pickle); otherwise its message is one.
    const args = (value as { args?: unknown }).args;
    return `${value.name}(${
      Array.isArray(args) ? itemsRepr(args) : pythonStringRepr(value.message)
    })`;
  }
  if (typeof value === "object") {
    return `{${
      Object.entries(value).map(([k, v]) => `${pythonStringRepr(k)}: ${pythonRepr(v)}`).join(", ")
    }}`;
  }
  return String(value);
}
