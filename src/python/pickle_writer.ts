/**
 * Writes JavaScript values as pickles (protocol 4) that CPython reads
 * without running anything but its own constructors of data: `None`,
 * `bool`, `int`, `float`, `str`, `bytes`, `list`, `tuple` (an array
 * marked by `tuple()`), `dict`, `set`, builtin exceptions and
 * `queue.Empty`/`Full`, `threading.BrokenBarrierError`, a manager's
 * `Token`, and the Python values a server keeps as they came (an integral
 * `PyFloat`, `PyFrozenSet`, `PyByteArray`, `PyDatetime`, and
 * `PythonObject`s of the allowed types, made as they were read). In a dict
 * key or a set member, where Python takes no list or set, an array is a
 * tuple and a `Set` a frozenset. What Python has no counterpart for is an
 * {@linkcode UnsendableError} naming it.
 *
 * Past 400 lines: one writer per opcode family (integers, strings, the
 * containers, datetimes, inert values, exceptions, tokens) beside the one
 * `#write` that picks among them, so that the pickle it makes reads whole.
 *
 * @module
 */

import { BUILTIN_EXCEPTIONS, PyProxy, PySlice, PyToken } from "./python_values.ts";
import {
  isTuple,
  PyByteArray,
  PyDatetime,
  PyFrozenSet,
  PythonObject,
  tuple,
} from "../wire/python_data.ts";
import { UnsendableError } from "../wire/unsendable.ts";
import { travels } from "./pickle_build.ts";

const utf8 = new TextEncoder();

/** The Python exception class a JavaScript error is sent as: `[module, name]`. */
export function pythonExceptionClass(error: Error): [string, string] {
  switch (error.name) {
    case "Empty":
      return ["queue", "Empty"];
    case "Full":
      return ["queue", "Full"];
    case "BrokenBarrierError":
      return ["threading", "BrokenBarrierError"];
    case "RangeError":
      return ["builtins", "ValueError"];
    default:
      return BUILTIN_EXCEPTIONS.has(error.name)
        ? ["builtins", error.name]
        : ["builtins", "Exception"];
  }
}

/** Instances of other classes, as the caller would send them (a proxy's token), or undefined. */
export type PickleReplacer = (value: object) => unknown;

const NONE: ReadonlySet<string> = new Set();

/** Scratch space kept between pickles up to this size. */
const KEEP_LIMIT = 256 * 1024;

/** Pickles one value into a growable buffer, kept for the next one. */
class Pickler {
  #bytes = new Uint8Array(4096);
  #view = new DataView(this.#bytes.buffer);
  #pos = 0;
  #maxDepth = 100;
  #replace: PickleReplacer | undefined;
  #globals: ReadonlySet<string> = NONE;

  run(
    value: unknown,
    maxDepth: number,
    replace: PickleReplacer | undefined,
    globals: ReadonlySet<string>,
  ): Uint8Array {
    this.#maxDepth = maxDepth;
    this.#replace = replace;
    this.#globals = globals;
    this.#pos = 0;
    try {
      this.#op2(0x80, 4); // PROTO 4
      this.#write(value, 0, false);
      this.#op1(0x2e); // STOP
      return this.#bytes.slice(0, this.#pos);
    } finally {
      if (this.#bytes.length > KEEP_LIMIT) {
        this.#bytes = new Uint8Array(4096);
        this.#view = new DataView(this.#bytes.buffer);
      }
    }
  }

  #op1(byte: number): void {
    this.#ensure(1);
    this.#bytes[this.#pos++] = byte;
  }

  #op2(a: number, b: number): void {
    this.#ensure(2);
    this.#bytes[this.#pos++] = a;
    this.#bytes[this.#pos++] = b;
  }

  #ensure(extra: number): void {
    if (this.#pos + extra <= this.#bytes.length) return;
    const grown = new Uint8Array(Math.max(this.#pos + extra, this.#bytes.length * 2));
    grown.set(this.#bytes.subarray(0, this.#pos));
    this.#bytes = grown;
    this.#view = new DataView(grown.buffer);
  }

  #op(...bytes: number[]): void {
    this.#ensure(bytes.length);
    for (const b of bytes) this.#bytes[this.#pos++] = b;
  }

  #raw(bytes: Uint8Array): void {
    this.#ensure(bytes.length);
    this.#bytes.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  #uint32(value: number): void {
    this.#ensure(4);
    this.#view.setUint32(this.#pos, value, true);
    this.#pos += 4;
  }

  #string(text: string): void {
    const length = text.length;
    if (length < 256) {
      // Short ASCII text is written byte by byte; anything else is encoded in place.
      this.#ensure(2 + length);
      const b = this.#bytes;
      const start = this.#pos + 2;
      let i = 0;
      for (; i < length; i++) {
        const code = text.charCodeAt(i);
        if (code >= 0x80) break;
        b[start + i] = code;
      }
      if (i === length) {
        b[this.#pos] = 0x8c; // SHORT_BINUNICODE
        b[this.#pos + 1] = length;
        this.#pos = start + length;
        return;
      }
    }
    // UTF-8 takes at most 3 bytes per UTF-16 unit: room for the worst case, then the real length.
    this.#ensure(5 + length * 3);
    const { written } = utf8.encodeInto(text, this.#bytes.subarray(this.#pos + 5));
    if (written < 256) {
      this.#bytes.copyWithin(this.#pos + 2, this.#pos + 5, this.#pos + 5 + written);
      this.#bytes[this.#pos] = 0x8c;
      this.#bytes[this.#pos + 1] = written;
      this.#pos += 2 + written;
    } else {
      this.#bytes[this.#pos] = 0x58; // BINUNICODE
      this.#view.setUint32(this.#pos + 1, written, true);
      this.#pos += 5 + written;
    }
  }

  #global(module: string, name: string): void {
    this.#string(module);
    this.#string(name);
    this.#op1(0x93); // STACK_GLOBAL
  }

  /** A safe integer: BININT1, BININT2 or BININT when it fits, else as a bigint. */
  #smallInteger(value: number): void {
    if (value >= 0 && value < 256) return this.#op2(0x4b, value); // BININT1
    if (value >= 0 && value < 65536) {
      this.#ensure(3);
      this.#bytes[this.#pos] = 0x4d; // BININT2
      this.#bytes[this.#pos + 1] = value & 0xff;
      this.#bytes[this.#pos + 2] = value >> 8;
      this.#pos += 3;
      return;
    }
    if (value >= -0x80000000 && value < 0x80000000) {
      this.#ensure(5);
      this.#bytes[this.#pos] = 0x4a; // BININT
      this.#view.setInt32(this.#pos + 1, value, true);
      this.#pos += 5;
      return;
    }
    this.#integer(BigInt(value));
  }

  #integer(value: bigint): void {
    if (value >= -(2n ** 31n) && value < 2n ** 31n) return this.#smallInteger(Number(value));
    // LONG1/LONG4: little-endian two's complement, as short as it goes.
    const bytes: number[] = [];
    let rest = value;
    for (;;) {
      const byte = Number(rest & 0xffn);
      bytes.push(byte);
      rest >>= 8n;
      if ((rest === 0n && !(byte & 0x80)) || (rest === -1n && byte & 0x80)) break;
    }
    if (bytes.length < 256) {
      this.#op2(0x8a, bytes.length); // LONG1
    } else {
      this.#op1(0x8b); // LONG4
      this.#uint32(bytes.length);
    }
    this.#op(...bytes);
  }

  /** A Date as an aware `datetime.datetime` in UTC, to the millisecond. */
  #datetime(date: Date): void {
    const time = date.getTime();
    const year = date.getUTCFullYear();
    if (Number.isNaN(time) || year < 1 || year > 9999) {
      throw new UnsendableError(
        Number.isNaN(time) ? "an invalid Date" : `a Date in the year ${year}`,
        " (Python's datetime holds the years 1 to 9999)",
      );
    }
    const micro = date.getUTCMilliseconds() * 1000;
    this.#global("datetime", "datetime");
    this.#op2(0x43, 10); // SHORT_BINBYTES, the 10-byte state
    this.#op(
      year >> 8,
      year & 0xff,
      date.getUTCMonth() + 1,
      date.getUTCDate(),
      date.getUTCHours(),
      date.getUTCMinutes(),
      date.getUTCSeconds(),
      micro >> 16,
      (micro >> 8) & 0xff,
      micro & 0xff,
    );
    // timezone(timedelta(0, 0, 0)): datetime.timezone.utc
    this.#global("datetime", "timezone");
    this.#global("datetime", "timedelta");
    this.#op(0x4b, 0, 0x4b, 0, 0x4b, 0, 0x87, 0x52); // (0, 0, 0), REDUCE
    this.#op2(0x85, 0x52); // TUPLE1, REDUCE
    this.#op2(0x86, 0x52); // TUPLE2 (state, tz), REDUCE
  }

  #items(items: Iterable<unknown>, depth: number, key: boolean): void {
    for (const item of items) this.#write(item, depth + 1, key);
  }

  /** A tuple of `items`: `key` says they are in a dict key or set member. */
  #tuple(items: readonly unknown[], depth: number, key: boolean): void {
    if (items.length === 0) return this.#op1(0x29); // EMPTY_TUPLE
    if (items.length <= 3) {
      this.#items(items, depth, key);
      return this.#op1(0x84 + items.length); // TUPLE1..3
    }
    this.#op1(0x28); // MARK
    this.#items(items, depth, key);
    return this.#op1(0x74); // TUPLE
  }

  /** A value of an inert Python type, made as it was read, if its global may travel. */
  #pythonObject(value: PythonObject, depth: number): void {
    if (!travels(value.module, value.name, this.#globals)) {
      throw new UnsendableError(
        `a PythonObject of ${value.type}`,
        " (not a type whose values may travel to Python: see pickleGlobals in docs/python.md)",
      );
    }
    this.#global(value.module, value.name);
    if (value.form === "ref") return;
    this.#tuple(value.args, depth + 1, false);
    this.#op1(value.form === "new" ? 0x81 : 0x52); // NEWOBJ or REDUCE
    if (value.items.length > 0) {
      this.#op1(0x28);
      this.#items(value.items, depth, false);
      this.#op1(0x65); // APPENDS
    }
    if (value.entries.length > 0) {
      this.#op1(0x28);
      for (const [key, item] of value.entries) {
        this.#write(key, depth + 1, true);
        this.#write(item, depth + 1, false);
      }
      this.#op1(0x75); // SETITEMS
    }
    if (value.state !== undefined) {
      this.#write(value.state, depth + 1, false);
      this.#op1(0x62); // BUILD
    }
  }

  /** A datetime as it came: its 10 bytes of state and its tzinfo, to the microsecond. */
  #pyDatetime(value: PyDatetime, depth: number): void {
    this.#global("datetime", "datetime");
    this.#op2(0x43, 10); // SHORT_BINBYTES
    this.#raw(value.state);
    if (value.tzinfo === null) return this.#op2(0x85, 0x52); // TUPLE1, REDUCE
    this.#write(value.tzinfo, depth + 1, false);
    this.#op2(0x86, 0x52); // TUPLE2, REDUCE
  }

  /**
   * Writes `value`. `key` says it is (in) a dict key or a set member, where
   * an array is a tuple and a `Set` a frozenset, as Python has them there.
   */
  #write(value: unknown, depth: number, key: boolean): void {
    if (depth > this.#maxDepth) {
      throw new UnsendableError(`a value nested deeper than ${this.#maxDepth} levels`);
    }
    switch (typeof value) {
      case "undefined":
        return this.#op1(0x4e);
      case "boolean":
        return this.#op1(value ? 0x88 : 0x89);
      case "number":
        if (Number.isSafeInteger(value) && !Object.is(value, -0)) {
          return this.#smallInteger(value);
        }
        this.#op1(0x47); // BINFLOAT, big-endian
        this.#ensure(8);
        this.#view.setFloat64(this.#pos, value);
        this.#pos += 8;
        return;
      case "bigint":
        return this.#integer(value);
      case "string":
        return this.#string(value);
      case "function":
        throw new UnsendableError(`a function${value.name ? ` (${value.name})` : ""}`);
      case "symbol":
        throw new UnsendableError("a symbol");
    }
    if (value === null) return this.#op1(0x4e); // NONE
    if (value instanceof Uint8Array) {
      if (value instanceof PyByteArray) {
        this.#global("builtins", "bytearray");
        this.#write(value.slice(), depth + 1, false);
        return this.#op2(0x85, 0x52); // TUPLE1, REDUCE
      }
      if (value.length < 256) {
        this.#op2(0x43, value.length); // SHORT_BINBYTES
      } else {
        this.#op1(0x42); // BINBYTES
        this.#uint32(value.length);
      }
      return this.#raw(value);
    }
    if (Array.isArray(value)) {
      if (key || isTuple(value)) return this.#tuple(value, depth, key);
      this.#op1(0x5d); // EMPTY_LIST
      if (value.length === 0) return;
      this.#op1(0x28);
      this.#items(value, depth, false);
      return this.#op1(0x65); // APPENDS
    }
    if (value instanceof Number) {
      this.#op1(0x47); // BINFLOAT: a float of integral value (PyFloat) stays a float
      this.#ensure(8);
      this.#view.setFloat64(this.#pos, value.valueOf());
      this.#pos += 8;
      return;
    }
    if (value instanceof Set) {
      if (key || value instanceof PyFrozenSet) {
        this.#op1(0x28); // MARK
        this.#items(value, depth, true);
        return this.#op1(0x91); // FROZENSET
      }
      this.#op1(0x8f); // EMPTY_SET
      if (value.size === 0) return;
      this.#op1(0x28);
      this.#items(value, depth, true);
      return this.#op1(0x90); // ADDITEMS
    }
    if (value instanceof Map) {
      this.#op1(0x7d); // EMPTY_DICT
      if (value.size === 0) return;
      this.#op1(0x28);
      for (const [entryKey, item] of value) {
        this.#write(entryKey, depth + 1, true);
        this.#write(item, depth + 1, false);
      }
      return this.#op1(0x75); // SETITEMS
    }
    if (value instanceof PythonObject) return this.#pythonObject(value, depth);
    if (value instanceof Error) {
      const [module, name] = pythonExceptionClass(value);
      this.#global(module, name);
      const message = name === "Exception" && value.name !== "Error"
        ? `${value.name}: ${value.message}`
        : value.message;
      const args = (value as { args?: unknown }).args;
      this.#tuple(Array.isArray(args) ? args : [message], depth + 1, false);
      this.#op1(0x52); // REDUCE
      // The remote stack, as a note Python 3.11+ prints with the traceback (CPython's own
      // managers lose it): BUILD with the state {"__notes__": [...]}.
      const frames = typeof value.stack === "string"
        ? value.stack.split("\n").filter((line) => /^\s+at /.test(line))
        : [];
      if (frames.length === 0) return;
      const note = `Raised in the Deno manager server (${value.name}: ${value.message}):\n${
        frames.join("\n")
      }`;
      this.#write(new Map([["__notes__", [note]]]), depth + 1, false);
      return this.#op1(0x62); // BUILD
    }
    if (value instanceof PyToken) {
      this.#global("multiprocessing.managers", "Token");
      this.#op2(0x29, 0x81); // EMPTY_TUPLE, NEWOBJ
      const address = typeof value.address === "string" ? value.address : tuple([...value.address]);
      this.#tuple([value.typeid, address, value.id], depth + 1, false);
      return this.#op1(0x62); // BUILD
    }
    if (value instanceof PyProxy) {
      // RebuildProxy(<proxy type>, token, "pickle", {"exposed": (...)})
      this.#global("multiprocessing.managers", "RebuildProxy");
      this.#op1(0x28); // MARK
      this.#global("multiprocessing.managers", value.proxyType);
      this.#write(value.token, depth + 1, false);
      this.#string("pickle");
      const kwds = new Map<string, unknown>();
      if (value.exposed !== undefined) kwds.set("exposed", tuple([...value.exposed]));
      this.#write(kwds, depth + 1, false);
      this.#op1(0x74); // TUPLE
      return this.#op1(0x52); // REDUCE
    }
    if (value instanceof PySlice) {
      this.#global("builtins", "slice");
      this.#tuple([value.start, value.stop, value.step], depth + 1, false);
      return this.#op1(0x52);
    }
    if (value instanceof PyDatetime) return this.#pyDatetime(value, depth);
    if (value instanceof Date) return this.#datetime(value);
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      const entries = Object.entries(value as Record<string, unknown>);
      this.#op1(0x7d);
      if (entries.length === 0) return;
      this.#op1(0x28);
      for (const [name, item] of entries) {
        this.#string(name);
        this.#write(item, depth + 1, false);
      }
      return this.#op1(0x75);
    }
    const replaced = this.#replace?.(value as object);
    if (replaced !== undefined) return this.#write(replaced, depth, key);
    const name = (value as { constructor?: { name?: string } }).constructor?.name ?? "object";
    throw new UnsendableError(`a ${name} instance`, " (Python receives data, errors and proxies)");
  }
}

const pickler = new Pickler();

/**
 * `value` as a pickle CPython's `pickle.loads` reads. `replace` may turn
 * instances of other classes into what is sent in their place (a proxy
 * into its token); `globals` are the types a user added to those whose
 * values travel (`"module.name"`): a `PythonObject` of any other type is
 * refused.
 */
export function writePickle(
  value: unknown,
  maxDepth = 100,
  replace?: PickleReplacer,
  globals: ReadonlySet<string> = NONE,
): Uint8Array {
  return pickler.run(value, maxDepth, replace, globals);
}
