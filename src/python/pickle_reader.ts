/**
 * A pickle reader that runs nothing: it reads the pickles CPython's
 * managers send (protocols 2 to 5, and the few protocol 0 opcodes older
 * picklers mix in) into plain values. A global is only ever looked up in
 * a fixed allowlist (exception classes, the builtin containers, the
 * manager's token and proxy rebuilders, and the Python types whose values
 * travel inertly, to which a user may add); anything else is refused with
 * an error that names it. No object is built from a name, so no prototype
 * can be reached.
 *
 * The same limits as MessagePack hold: nesting depth, items per
 * collection, and memory per message (the finished value is walked once,
 * with a budget, so shared or cyclic structures cannot blow up). The memo
 * is bounded by the message: every entry costs at least one opcode byte.
 *
 * Values keep their Python type (`wire/python_data.ts`): `None` → `null`,
 * `bool`, `int` → number (bigint past ±(2^53 - 1)), `float` → number (a
 * {@linkcode PyFloat} when integral), `str`, `bytes` → `Uint8Array`
 * (`bytearray` a `PyByteArray`), `list` → Array, `tuple` → an Array marked
 * as a tuple, `dict` → a plain object when every key is a string that is
 * not an array index, else a `Map`, `set` → `Set`, `frozenset` →
 * `PyFrozenSet`, `datetime` → `PyDatetime`, the other inert types →
 * `PythonObject`, exceptions → `Error`s named as in Python, `slice` →
 * {@linkcode PySlice}, a proxy → {@linkcode PyProxy}.
 *
 * This file is the opcode machine: one switch over CPython's opcodes and
 * the stack, marks and memo they work on, kept whole so that each opcode
 * reads beside the others (past 450 lines for that reason). What the
 * opcodes build, and from which globals, is `pickle_build.ts`.
 *
 * @module
 */

import type { PyProxy } from "./python_values.ts";
import { isTuple as isTupleValue, PyByteArray, PyFloat, tuple } from "../wire/python_data.ts";
import {
  addItems,
  buildState,
  callGlobal,
  dictKey,
  finish,
  lookupGlobal,
  newObject,
  PickleError,
  type PickleLimits,
  PyDict,
  PySet,
  Reduced,
} from "./pickle_build.ts";

export { PickleError, type PickleLimits } from "./pickle_build.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });
const SAFE = 2n ** 53n - 1n;
const NONE: ReadonlySet<string> = new Set();

/**
 * Reads one pickle into plain values; refuses what it does not allow.
 * `proxy` turns each CPython proxy in it into what the caller holds for
 * one (by default a {@linkcode PyProxy}); `globals` are the types a user
 * added to those whose values travel inertly (`"module.name"`). With
 * `view`, values are what a Deno client reads (a float a number, a tuple
 * an array...) rather than what a server keeps.
 */
export function readPickle(
  bytes: Uint8Array,
  limits: PickleLimits,
  proxy?: (found: PyProxy) => unknown,
  globals: ReadonlySet<string> = NONE,
  view = false,
): unknown {
  const raw = new Unpickler(bytes, limits, globals).run();
  return finish(raw, limits, bytes.length, proxy, globals, view);
}

/** A float as Python has it: an integral one is a PyFloat, never mistaken for an int. */
function float(value: number): number | PyFloat {
  return Number.isInteger(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER
    ? new PyFloat(value)
    : value;
}

class Unpickler {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #limits: PickleLimits;
  #pos = 0;
  #stack: unknown[] = [];
  readonly #marks: unknown[][] = [];
  readonly #memo = new Map<number, unknown>();
  readonly #globals: ReadonlySet<string>;

  constructor(bytes: Uint8Array, limits: PickleLimits, globals: ReadonlySet<string>) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#limits = limits;
    this.#globals = globals;
  }

  run(): unknown {
    for (;;) {
      const op = this.#byte();
      switch (op) {
        case 0x80: // PROTO
          if (this.#byte() > 5) throw new PickleError("pickle protocol above 5");
          break;
        case 0x95: // FRAME: a hint for buffering, nothing to do
          this.#skip(8);
          break;
        case 0x2e: // STOP
          if (this.#stack.length !== 1 || this.#marks.length !== 0) {
            throw new PickleError("the pickle ends with a malformed stack");
          }
          if (this.#pos !== this.#bytes.length) {
            throw new PickleError(`${this.#bytes.length - this.#pos} bytes after STOP`);
          }
          return this.#stack[0];
        case 0x28: // MARK
          if (this.#marks.length >= this.#limits.maxDepth) this.#tooDeep();
          this.#marks.push(this.#stack);
          this.#stack = [];
          break;
        case 0x30: // POP
          if (this.#stack.length > 0) this.#stack.pop();
          else this.#popMark();
          break;
        case 0x31: // POP_MARK
          this.#popMark();
          break;
        case 0x32: // DUP
          this.#push(this.#top());
          break;
        case 0x4e: // NONE
          this.#push(null);
          break;
        case 0x88: // NEWTRUE
          this.#push(true);
          break;
        case 0x89: // NEWFALSE
          this.#push(false);
          break;
        case 0x4b: // BININT1
          this.#push(this.#byte());
          break;
        case 0x4d: // BININT2
          this.#need(2);
          this.#push(this.#view.getUint16(this.#pos, true));
          this.#pos += 2;
          break;
        case 0x4a: // BININT
          this.#need(4);
          this.#push(this.#view.getInt32(this.#pos, true));
          this.#pos += 4;
          break;
        case 0x8a: // LONG1
          this.#push(this.#long(this.#byte()));
          break;
        case 0x8b: { // LONG4
          const size = this.#int32();
          if (size < 0) throw new PickleError("LONG4 with a negative size");
          if (size > 4096) throw new PickleError(`an integer of ${size} bytes (at most 4096)`);
          this.#push(this.#long(size));
          break;
        }
        case 0x49: // INT (text)
          this.#push(this.#textInt(this.#line()));
          break;
        case 0x4c: // LONG (text)
          this.#push(this.#textInt(this.#line().replace(/L$/, "")));
          break;
        case 0x46: { // FLOAT (text)
          const text = this.#line();
          const value = Number(text);
          if (Number.isNaN(value) && !/^-?nan$/i.test(text)) {
            throw new PickleError(`a malformed float ${JSON.stringify(text)}`);
          }
          this.#push(float(value));
          break;
        }
        case 0x47: // BINFLOAT (big-endian)
          this.#need(8);
          this.#push(float(this.#view.getFloat64(this.#pos)));
          this.#pos += 8;
          break;
        case 0x8c: // SHORT_BINUNICODE
          this.#push(this.#text(this.#byte()));
          break;
        case 0x58: // BINUNICODE
          this.#push(this.#text(this.#uint32()));
          break;
        case 0x8d: // BINUNICODE8
          this.#push(this.#text(this.#uint64()));
          break;
        case 0x43: // SHORT_BINBYTES
          this.#push(this.#take(this.#byte()).slice());
          break;
        case 0x42: // BINBYTES
          this.#push(this.#take(this.#uint32()).slice());
          break;
        case 0x8e: // BINBYTES8
          this.#push(this.#take(this.#uint64()).slice());
          break;
        case 0x96: // BYTEARRAY8
          this.#push(new PyByteArray(this.#take(this.#uint64())));
          break;
        case 0x55: // SHORT_BINSTRING (a Python 2 str): latin-1 text
          this.#push(latin1(this.#take(this.#byte())));
          break;
        case 0x54: { // BINSTRING
          const size = this.#int32();
          if (size < 0) throw new PickleError("BINSTRING with a negative size");
          this.#push(latin1(this.#take(size)));
          break;
        }
        case 0x5d: // EMPTY_LIST
          this.#push([]);
          break;
        case 0x29: // EMPTY_TUPLE
          this.#push(tuple([]));
          break;
        case 0x7d: // EMPTY_DICT
          this.#push(new PyDict());
          break;
        case 0x8f: // EMPTY_SET
          this.#push(new PySet(false));
          break;
        case 0x6c: // LIST
          this.#push(this.#popMark());
          break;
        case 0x74: // TUPLE
          this.#push(tuple(this.#popMark()));
          break;
        case 0x85: // TUPLE1
          this.#push(tuple([this.#pop()]));
          break;
        case 0x86: { // TUPLE2
          const b = this.#pop();
          this.#push(tuple([this.#pop(), b]));
          break;
        }
        case 0x87: { // TUPLE3
          const c = this.#pop();
          const b = this.#pop();
          this.#push(tuple([this.#pop(), b, c]));
          break;
        }
        case 0x64: { // DICT
          const items = this.#popMark();
          const dict = new PyDict();
          this.#setItems(dict, items);
          this.#push(dict);
          break;
        }
        case 0x91: { // FROZENSET
          const set = new PySet(true);
          addItems(set, this.#popMark(), this.#limits);
          this.#push(set);
          break;
        }
        case 0x61: { // APPEND
          const value = this.#pop();
          this.#append(this.#top(), [value]);
          break;
        }
        case 0x65: { // APPENDS
          const items = this.#popMark();
          this.#append(this.#top(), items);
          break;
        }
        case 0x73: { // SETITEM
          const value = this.#pop();
          const key = this.#pop();
          this.#setItems(this.#top(), [key, value]);
          break;
        }
        case 0x75: { // SETITEMS
          const items = this.#popMark();
          this.#setItems(this.#top(), items);
          break;
        }
        case 0x90: { // ADDITEMS
          const items = this.#popMark();
          const set = this.#top();
          if (!(set instanceof PySet) || set.frozen) throw new PickleError("ADDITEMS on a non-set");
          addItems(set, items, this.#limits);
          break;
        }
        case 0x63: { // GLOBAL
          const module = this.#line();
          const name = this.#line();
          this.#push(lookupGlobal(module, name, this.#globals));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.#pop();
          const module = this.#pop();
          if (typeof module !== "string" || typeof name !== "string") {
            throw new PickleError("STACK_GLOBAL needs two strings");
          }
          this.#push(lookupGlobal(module, name, this.#globals));
          break;
        }
        case 0x52: { // REDUCE
          const args = this.#pop();
          const callable = this.#pop();
          this.#push(callGlobal(callable, args, this.#limits, this.#globals));
          break;
        }
        case 0x81: { // NEWOBJ
          const args = this.#pop();
          const cls = this.#pop();
          this.#push(newObject(cls, args, this.#limits, this.#globals));
          break;
        }
        case 0x92: { // NEWOBJ_EX
          const kwargs = this.#pop();
          if (!(kwargs instanceof PyDict) || kwargs.entries.size > 0) {
            throw new PickleError("NEWOBJ_EX with keyword arguments is not accepted");
          }
          const args = this.#pop();
          const cls = this.#pop();
          this.#push(newObject(cls, args, this.#limits, this.#globals));
          break;
        }
        case 0x62: { // BUILD
          const state = this.#pop();
          buildState(this.#top(), state);
          break;
        }
        case 0x94: // MEMOIZE
          this.#memo.set(this.#memo.size, this.#top());
          break;
        case 0x71: // BINPUT
          this.#memo.set(this.#byte(), this.#top());
          break;
        case 0x72: // LONG_BINPUT
          this.#memo.set(this.#uint32(), this.#top());
          break;
        case 0x70: // PUT (text)
          this.#memo.set(this.#textIndex(), this.#top());
          break;
        case 0x68: // BINGET
          this.#push(this.#recall(this.#byte()));
          break;
        case 0x6a: // LONG_BINGET
          this.#push(this.#recall(this.#uint32()));
          break;
        case 0x67: // GET (text)
          this.#push(this.#recall(this.#textIndex()));
          break;
        case 0x50: // PERSID
        case 0x51: // BINPERSID
          throw new PickleError("persistent ids are not accepted");
        case 0x82: // EXT1
        case 0x83: // EXT2
        case 0x84: // EXT4
          throw new PickleError("extension registry codes are not accepted");
        case 0x97: // NEXT_BUFFER
        case 0x98: // READONLY_BUFFER
          throw new PickleError("out-of-band buffers are not accepted");
        case 0x69: // INST
        case 0x6f: // OBJ
          throw new PickleError("protocol 0 class instances are not accepted");
        case 0x53: // STRING
        case 0x56: // UNICODE
          throw new PickleError("protocol 0 strings are not accepted (use protocol 2 or above)");
        default:
          throw new PickleError(`unknown opcode 0x${op.toString(16).padStart(2, "0")}`);
      }
    }
  }

  #tooDeep(): never {
    throw new PickleError(
      `values nest deeper than the limit of ${this.#limits.maxDepth} levels (limits.maxDepth)`,
    );
  }

  #need(n: number): void {
    if (this.#pos + n > this.#bytes.length) {
      throw new PickleError("the pickle ends in the middle of a value (no STOP)");
    }
  }

  #byte(): number {
    this.#need(1);
    return this.#bytes[this.#pos++]!;
  }

  #skip(n: number): void {
    this.#need(n);
    this.#pos += n;
  }

  #int32(): number {
    this.#need(4);
    const value = this.#view.getInt32(this.#pos, true);
    this.#pos += 4;
    return value;
  }

  #uint32(): number {
    this.#need(4);
    const value = this.#view.getUint32(this.#pos, true);
    this.#pos += 4;
    return value;
  }

  #uint64(): number {
    this.#need(8);
    const low = this.#view.getUint32(this.#pos, true);
    const high = this.#view.getUint32(this.#pos + 4, true);
    this.#pos += 8;
    return high * 2 ** 32 + low;
  }

  #take(size: number): Uint8Array {
    this.#need(size);
    const out = this.#bytes.subarray(this.#pos, this.#pos + size);
    this.#pos += size;
    return out;
  }

  #text(size: number): string {
    if (size <= 64) {
      // Short ASCII text is read byte by byte: no decoder call.
      this.#need(size);
      const b = this.#bytes;
      const start = this.#pos;
      let out = "";
      let i = start;
      for (; i < start + size; i++) {
        const code = b[i]!;
        if (code >= 0x80) break;
        out += String.fromCharCode(code);
      }
      if (i === start + size) {
        this.#pos = i;
        return out;
      }
    }
    try {
      return utf8.decode(this.#take(size));
    } catch {
      throw new PickleError("a string that is not valid UTF-8");
    }
  }

  #line(): string {
    const end = this.#bytes.indexOf(0x0a, this.#pos);
    if (end < 0 || end - this.#pos > 256) throw new PickleError("a malformed text argument");
    const text = latin1(this.#bytes.subarray(this.#pos, end));
    this.#pos = end + 1;
    return text;
  }

  #textInt(text: string): number | bigint | boolean {
    if (text === "01") return true;
    if (text === "00") return false;
    if (!/^[-+]?\d{1,1000}$/.test(text)) throw new PickleError("a malformed integer");
    return fromBigint(BigInt(text));
  }

  #textIndex(): number {
    const text = this.#line();
    if (!/^\d{1,9}$/.test(text)) throw new PickleError("a malformed memo index");
    return Number(text);
  }

  #long(size: number): number | bigint {
    const bytes = this.#take(size);
    if (size === 0) return 0;
    let value = 0n;
    for (let i = size - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
    if (bytes[size - 1]! & 0x80) value -= 1n << BigInt(size * 8);
    return fromBigint(value);
  }

  #push(value: unknown): void {
    if (this.#stack.length >= this.#limits.maxLength) {
      throw new PickleError(
        `a collection of more than ${this.#limits.maxLength} items (limits.maxLength)`,
      );
    }
    this.#stack.push(value);
  }

  #pop(): unknown {
    if (this.#stack.length === 0) throw new PickleError("the pickle pops an empty stack");
    return this.#stack.pop();
  }

  #top(): unknown {
    if (this.#stack.length === 0) throw new PickleError("the pickle reads an empty stack");
    return this.#stack[this.#stack.length - 1];
  }

  #popMark(): unknown[] {
    const items = this.#stack;
    const outer = this.#marks.pop();
    if (outer === undefined) throw new PickleError("the pickle has no MARK to pop to");
    this.#stack = outer;
    return items;
  }

  #recall(index: number): unknown {
    if (!this.#memo.has(index)) throw new PickleError(`memo entry ${index} was never stored`);
    return this.#memo.get(index);
  }

  #append(target: unknown, items: unknown[]): void {
    // A list, or a value of an inert type (a deque) that takes items once made.
    const list = (target instanceof Reduced ? target.items : target) as unknown[];
    if (!Array.isArray(list) || isTupleValue(list)) {
      throw new PickleError("APPEND to a value that is not a list");
    }
    if (list.length + items.length > this.#limits.maxLength) {
      throw new PickleError(
        `a collection of more than ${this.#limits.maxLength} items (limits.maxLength)`,
      );
    }
    for (const item of items) list.push(item);
  }

  #setItems(target: unknown, items: unknown[]): void {
    if (items.length % 2 !== 0) throw new PickleError("SETITEMS with an odd number of items");
    if (target instanceof Reduced) {
      // A value of an inert type (an OrderedDict) that takes entries once made.
      if (target.entries.length + items.length / 2 > this.#limits.maxLength) {
        throw new PickleError(
          `a collection of more than ${this.#limits.maxLength} items (limits.maxLength)`,
        );
      }
      for (let i = 0; i < items.length; i += 2) target.entries.push([items[i], items[i + 1]]);
      return;
    }
    if (!(target instanceof PyDict)) throw new PickleError("SETITEM on a value that is not a dict");
    if (target.entries.size + items.length / 2 > this.#limits.maxLength) {
      throw new PickleError(
        `a collection of more than ${this.#limits.maxLength} items (limits.maxLength)`,
      );
    }
    for (let i = 0; i < items.length; i += 2) target.entries.set(dictKey(items[i]), items[i + 1]);
  }
}

function latin1(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += String.fromCharCode(b);
  return out;
}

/** An int: a number when it is a safe integer, else a bigint (2**53 itself is not: 2**53 + 1 rounds to it). */
function fromBigint(value: bigint): number | bigint {
  return value >= -SAFE && value <= SAFE ? Number(value) : value;
}
