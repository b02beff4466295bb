/**
 * The XML-RPC reader: one pass over a document's bytes, building values as
 * it goes, within MessagePack's limits and memory budget. Internal to
 * `python/`; `xmlrpc.ts` is its door. Longer than most files: one reader
 * whose steps share a cursor, and the text and base64 decoding it needs.
 *
 * @module
 */

import { PyFloat } from "../wire/python_data.ts";
import { DECODE_COST, DECODE_EXPANSION, decodeBudget, KeyCosts } from "../wire/codec.ts";

const utf8 = new TextEncoder();
const text = new TextDecoder("utf-8", { fatal: true });

/** An XML-RPC document that cannot be read, or that this reader refuses. */
export class XmlrpcError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "XmlrpcError";
  }
}

/** How much a document may hold. */
export interface XmlrpcLimits {
  readonly maxDepth: number;
  readonly maxLength: number;
}

/**
 * The one value of an XML-RPC `<params>` document (CPython's
 * `loads(s)[0][0]`); a `<double>` of integral value is a `PyFloat`, but
 * with `view` (a Deno client's reading) a number.
 */
export function readXmlrpc(bytes: Uint8Array, limits: XmlrpcLimits, view = false): unknown {
  return new DocumentReader(bytes, limits, view).document();
}

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

/** What a value costs in memory once read, as the MessagePack reader charges it. */
const COST = {
  array: DECODE_COST.array,
  item: DECODE_COST.arrayItem,
  object: DECODE_COST.object,
  string: DECODE_COST.string,
  binary: DECODE_COST.binary,
  date: 104,
  bigint: 32,
} as const;

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const AMP = 0x26;
const CR = 0x0d;

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/** `<name>` as bytes, for the elements that hold others. */
const OPENING = {
  params: utf8.encode("<params>"),
  param: utf8.encode("<param>"),
  value: utf8.encode("<value>"),
  data: utf8.encode("<data>"),
  member: utf8.encode("<member>"),
  name: utf8.encode("<name>"),
} as const;
type TagName = keyof typeof OPENING;

/** `</name>` as bytes, made once per name (names come from this file, not from documents). */
const CLOSING = new Map<string, Uint8Array>();
const CLOSE_VALUE = utf8.encode("</value>");
const CLOSE_DATA = utf8.encode("</data>");
function closingTag(name: string): Uint8Array {
  if (name === "value") return CLOSE_VALUE;
  if (name === "data") return CLOSE_DATA;
  let bytes = CLOSING.get(name);
  if (bytes === undefined) CLOSING.set(name, bytes = utf8.encode(`</${name}>`));
  return bytes;
}

/** Base64's alphabet: each byte's six bits, -1 for others. */
const BASE64 = new Int8Array(256).fill(-1);
for (
  const [i, c] of [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"].entries()
) {
  BASE64[c.charCodeAt(0)] = i;
}

/**
 * Reads one document in a single pass over its bytes, building values as
 * it goes: nothing is kept per tag, nesting is refused as soon as it passes
 * the limit, only text is decoded (markup is compared as bytes), and what
 * the values will take is counted against the same budget as a
 * MessagePack message's (16 times the document's size plus 1 MiB).
 */
class DocumentReader {
  readonly #bytes: Uint8Array;
  readonly #limits: XmlrpcLimits;
  readonly #budget: number;
  #at = 0;
  #spent = 0;
  readonly #keys = new KeyCosts();
  /** The name of the tag `#tag()` read, and whether it was `<name/>` or `</name>`. */
  #name = "";
  #empty = false;
  #closing = false;

  readonly #view: boolean;

  constructor(bytes: Uint8Array, limits: XmlrpcLimits, view: boolean) {
    this.#bytes = bytes;
    this.#limits = limits;
    this.#view = view;
    this.#budget = decodeBudget(bytes.length);
  }

  document(): unknown {
    const bytes = this.#bytes;
    if (this.#startsWith(utf8.encode("<?xml"), 0)) {
      let end = bytes.indexOf(GT, 0);
      while (end > 0 && bytes[end - 1] !== 0x3f) end = bytes.indexOf(GT, end + 1);
      if (end < 0) throw new XmlrpcError("an unterminated XML declaration");
      this.#at = end + 1;
    }
    this.#expectOpen("params");
    this.#expectOpen("param");
    this.#expectOpen("value");
    const result = this.#empty ? "" : this.#value(1);
    this.#expectClose("param");
    this.#expectClose("params");
    this.#skipSpace();
    if (this.#at !== bytes.length) throw new XmlrpcError("content after </params>");
    return result;
  }

  #charge(bytes: number): void {
    this.#spent += bytes;
    if (this.#spent > this.#budget) {
      throw new XmlrpcError(
        `reading it would take more than ${DECODE_EXPANSION} times its ${this.#bytes.length} bytes in memory`,
      );
    }
  }

  #startsWith(prefix: Uint8Array, at: number): boolean {
    const bytes = this.#bytes;
    if (at + prefix.length > bytes.length) return false;
    for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false;
    return true;
  }

  #skipSpace(): void {
    const bytes = this.#bytes;
    let at = this.#at;
    while (at < bytes.length && isSpace(bytes[at]!)) at++;
    this.#at = at;
  }

  /** Where the next `<` is, from the cursor on. */
  #nextTag(): number {
    const bytes = this.#bytes;
    const length = bytes.length;
    // Text between tags is mostly short: a loop beats a native call.
    let at = this.#at;
    while (at < length && bytes[at] !== LT) at++;
    if (at === length) throw new XmlrpcError("the document ends too early");
    return at;
  }

  /** Reads the tag at the cursor into `#name`, `#empty` and `#closing`. */
  #tag(): void {
    const bytes = this.#bytes;
    const at = this.#at;
    if (at >= bytes.length) throw new XmlrpcError("the document ends too early");
    if (bytes[at] !== LT) throw new XmlrpcError("text where a tag was expected");
    const gt = bytes.indexOf(GT, at);
    if (gt < 0) throw new XmlrpcError("an unterminated tag");
    const first = bytes[at + 1];
    if (first === 0x21 || first === 0x3f) { // ! ?
      throw new XmlrpcError("comments, DTDs and processing instructions are not accepted");
    }
    this.#closing = first === SLASH;
    this.#empty = !this.#closing && bytes[gt - 1] === SLASH;
    const from = at + (this.#closing ? 2 : 1);
    const to = this.#empty ? gt - 1 : gt;
    let end = from;
    while (end < to && !isSpace(bytes[end]!)) end++;
    const name = end - from <= 64 ? String.fromCharCode(...bytes.subarray(from, end)) : "";
    if (!/^[A-Za-z][\w.:-]*$/.test(name)) {
      const shown = String.fromCharCode(...bytes.subarray(from, Math.min(to, from + 64)));
      throw new XmlrpcError(`a malformed tag <${shown}${to - from > 64 ? "..." : ""}>`);
    }
    this.#name = name;
    this.#at = gt + 1;
  }

  /** Reads `<name>` (after any space); `#empty` says whether it was `<name/>`. */
  #expectOpen(name: TagName): void {
    this.#skipSpace();
    if (this.#opens(name)) return;
    this.#tag();
    if (this.#closing || this.#name !== name) throw new XmlrpcError(`expected <${name}>`);
  }

  /** Moves past `<name>` (exactly so) if it is at the cursor. */
  #opens(name: TagName): boolean {
    const open = OPENING[name];
    if (!this.#startsWith(open, this.#at)) return false;
    this.#at += open.length;
    this.#empty = false;
    return true;
  }

  /** Reads `</name>` (after any space). */
  #expectClose(name: string): void {
    this.#skipSpace();
    if (!this.#closes(name)) {
      this.#tag();
      if (!this.#closing || this.#name !== name) throw new XmlrpcError(`expected </${name}>`);
    }
  }

  /** Moves past `</name>` if it is at the cursor. */
  #closes(name: string): boolean {
    const close = closingTag(name);
    if (!this.#startsWith(close, this.#at)) return false;
    this.#at += close.length;
    return true;
  }

  /** The text up to `</name>`, entities and character references decoded. */
  #textUntil(name: string): string {
    const start = this.#at;
    const lt = this.#nextTag();
    this.#at = lt;
    if (!this.#closes(name)) {
      this.#tag();
      if (!this.#closing || this.#name !== name) {
        throw new XmlrpcError(`unexpected markup inside <${name}>`);
      }
    }
    return this.#text(start, lt);
  }

  /** The text of bytes `start` to `end`, as XML reads it. */
  #text(start: number, end: number): string {
    const bytes = this.#bytes;
    let plain = true;
    let out = "";
    if (end - start <= 64) {
      for (let i = start; i < end; i++) {
        const byte = bytes[i]!;
        if (byte >= 0x80 || byte === AMP || byte === CR) {
          plain = false;
          break;
        }
        out += String.fromCharCode(byte);
      }
      if (plain) return out;
    }
    try {
      out = text.decode(bytes.subarray(start, end));
    } catch {
      throw new XmlrpcError("the document is not valid UTF-8");
    }
    return decodeText(out);
  }

  #string(value: string): string {
    if (value.length > 0) this.#charge(COST.string + 2 * value.length);
    return value;
  }

  /** The value whose `<value>` was just read (not `<value/>`). */
  #value(depth: number): unknown {
    if (depth > this.#limits.maxDepth) {
      throw new XmlrpcError(
        `values nest deeper than the limit of ${this.#limits.maxDepth} levels (limits.maxDepth)`,
      );
    }
    const bytes = this.#bytes;
    const start = this.#at;
    const lt = this.#nextTag();
    this.#at = lt;
    // Bare text is a string.
    if (this.#closes("value")) return this.#string(this.#text(start, lt));
    for (let i = start; i < lt; i++) {
      if (!isSpace(bytes[i]!)) throw new XmlrpcError("unexpected content in <value>");
    }
    this.#tag();
    if (this.#closing) throw new XmlrpcError("unexpected content in <value>");
    const result = this.#typed(this.#name, this.#empty, depth);
    this.#expectClose("value");
    return result;
  }

  /** The value of the type tag `<name>` just read (`<name/>` when `empty`). */
  #typed(name: string, empty: boolean, depth: number): unknown {
    switch (name) {
      case "nil":
      case "ex:nil":
        if (!empty) this.#textUntil(name);
        return null;
      case "string":
        return this.#string(empty ? "" : this.#textUntil(name));
      case "int":
      case "i1":
      case "i2":
      case "i4":
      case "i8":
      case "biginteger": {
        const digits = (empty ? "" : this.#textUntil(name)).trim();
        if (!/^[-+]?\d{1,400}$/.test(digits)) throw new XmlrpcError(`a malformed <${name}>`);
        if (digits.length < 16) return Number(digits) + 0; // "-0" is 0, as an int
        const big = BigInt(digits);
        const safe = BigInt(Number.MAX_SAFE_INTEGER);
        if (big >= -safe && big <= safe) return Number(big);
        this.#charge(COST.bigint + digits.length);
        return big;
      }
      case "boolean": {
        const flag = (empty ? "" : this.#textUntil(name)).trim();
        if (flag !== "0" && flag !== "1") throw new XmlrpcError("a malformed <boolean>");
        return flag === "1";
      }
      case "double":
      case "float":
      case "bigdecimal": {
        const number = (empty ? "" : this.#textUntil(name)).trim();
        const parsed = /^-?inf$/i.test(number)
          ? (number.startsWith("-") ? -Infinity : Infinity)
          : /^-?nan$/i.test(number)
          ? NaN
          : Number(number);
        if (number === "" || (Number.isNaN(parsed) && !/nan$/i.test(number))) {
          throw new XmlrpcError(`a malformed <${name}>`);
        }
        // A float of integral value stays a float (PyFloat), never an int.
        return !this.#view && Number.isInteger(parsed) &&
            Math.abs(parsed) <= Number.MAX_SAFE_INTEGER
          ? new PyFloat(parsed)
          : parsed;
      }
      case "base64":
        return empty ? new Uint8Array(0) : this.#base64();
      case "dateTime.iso8601": {
        const stamp = (empty ? "" : this.#textUntil(name)).trim();
        const m = stamp.match(/^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})/);
        if (!m) throw new XmlrpcError("a malformed <dateTime.iso8601>");
        this.#charge(COST.date);
        return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
      }
      case "array":
        if (empty) throw new XmlrpcError("expected <data>");
        return this.#array(depth);
      case "struct":
        this.#charge(COST.object);
        return empty ? {} : this.#struct(depth);
      default:
        throw new XmlrpcError(`an unknown XML-RPC type <${name}${empty ? "/" : ""}>`);
    }
  }

  /**
   * The bytes of a `<base64>` element, decoded straight from the document:
   * ASCII whitespace is skipped (CPython breaks lines every 76 characters),
   * padding may be left out, anything else outside the alphabet is refused.
   */
  #base64(): Uint8Array {
    const bytes = this.#bytes;
    const start = this.#at;
    const end = this.#nextTag();
    this.#at = end;
    if (!this.#closes("base64")) throw new XmlrpcError("unexpected markup inside <base64>");
    this.#charge(COST.binary + Math.ceil((end - start) * 3 / 4));
    const out = new Uint8Array(Math.ceil((end - start) * 3 / 4));
    let n = 0;
    let bits = 0;
    let count = 0;
    let padding = 0;
    for (let i = start; i < end; i++) {
      const byte = bytes[i]!;
      const six = BASE64[byte]!;
      if (six >= 0 && padding === 0) {
        bits = (bits << 6) | six;
        if (++count === 4) {
          out[n] = bits >> 16;
          out[n + 1] = bits >> 8;
          out[n + 2] = bits;
          n += 3;
          bits = 0;
          count = 0;
        }
      } else if (byte === 0x3d && count >= 2 && count + padding < 4) { // =
        padding++;
      } else if (!isSpace(byte)) {
        throw new XmlrpcError("a malformed <base64>");
      }
    }
    if (count === 1) throw new XmlrpcError("a malformed <base64>");
    if (count === 2) out[n++] = bits >> 4;
    if (count === 3) {
      out[n] = bits >> 10;
      out[n + 1] = bits >> 2;
      n += 2;
    }
    return n === out.length ? out : out.slice(0, n);
  }

  #array(depth: number): unknown[] {
    this.#charge(COST.array);
    this.#expectOpen("data");
    const items: unknown[] = [];
    if (!this.#empty) {
      const limit = this.#limits.maxLength;
      for (;;) {
        this.#skipSpace();
        if (this.#closes("data")) break;
        if (!this.#opens("value")) {
          this.#tag();
          if (this.#closing && this.#name === "data") break;
          if (this.#closing || this.#name !== "value") {
            throw new XmlrpcError("expected <value> in <data>");
          }
        }
        if (items.length >= limit) {
          throw new XmlrpcError(`a collection of more than ${limit} items (limits.maxLength)`);
        }
        this.#charge(COST.item);
        items.push(this.#empty ? "" : this.#value(depth + 1));
      }
    }
    this.#expectClose("array");
    return items;
  }

  #struct(depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const keys = this.#keys.object();
    const limit = this.#limits.maxLength;
    let count = 0;
    for (;;) {
      this.#skipSpace();
      if (this.#closes("struct")) break;
      if (!this.#opens("member")) {
        this.#tag();
        if (this.#closing && this.#name === "struct") break;
        if (this.#closing || this.#name !== "member" || this.#empty) {
          throw new XmlrpcError("expected <member> in <struct>");
        }
      }
      this.#expectOpen("name");
      const key = this.#empty ? "" : this.#textUntil("name");
      if (key === "__proto__") throw new XmlrpcError('a struct member "__proto__"');
      this.#expectOpen("value");
      if (++count > limit) {
        throw new XmlrpcError(`a collection of more than ${limit} items (limits.maxLength)`);
      }
      // As V8 stores them: "1000" is an array index, 12 KiB of elements.
      this.#charge(keys.add(key, COST.string + 2 * key.length));
      out[key] = this.#empty ? "" : this.#value(depth + 1);
      this.#expectClose("member");
    }
    return out;
  }
}

/**
 * `raw` with the five predefined entities and character references
 * decoded, and line ends as XML reads them. A reference to a surrogate is
 * refused: XML has no such characters, and a string holding one could not
 * be stored or sent on exactly.
 */
function decodeText(raw: string): string {
  let amp = raw.indexOf("&");
  if (amp < 0) return raw.includes("\r") ? raw.replaceAll("\r\n", "\n") : raw;
  const parts: string[] = [];
  let copied = 0;
  while (amp >= 0) {
    const semicolon = raw.indexOf(";", amp);
    const entity = semicolon < 0 ? "" : raw.slice(amp + 1, semicolon);
    let decoded: string | undefined;
    if (/^#x[0-9a-fA-F]{1,16}$/.test(entity)) {
      decoded = character(parseInt(entity.slice(2), 16), `&${entity};`);
    } else if (/^#\d{1,20}$/.test(entity)) {
      decoded = character(parseInt(entity.slice(1), 10), `&${entity};`);
    } else if (/^[a-z]+$/.test(entity)) {
      decoded = ENTITIES[entity];
      if (decoded === undefined) throw new XmlrpcError(`an unknown entity &${entity};`);
    }
    if (decoded === undefined) {
      // A lone "&" stays as it is.
      amp = raw.indexOf("&", amp + 1);
      continue;
    }
    parts.push(raw.slice(copied, amp), decoded);
    copied = semicolon + 1;
    amp = raw.indexOf("&", copied);
  }
  parts.push(raw.slice(copied));
  const out = parts.join("");
  return out.includes("\r") ? out.replaceAll("\r\n", "\n") : out;
}

/** The character a reference names; surrogates and numbers past Unicode are refused. */
function character(code: number, reference: string): string {
  const hex = code.toString(16).toUpperCase().padStart(4, "0");
  if (code >= 0xd800 && code <= 0xdfff) {
    throw new XmlrpcError(
      `the character reference ${reference} names a surrogate (U+${hex}), which is not a character: send the character itself`,
    );
  }
  if (code > 0x10ffff) {
    throw new XmlrpcError(`the character reference ${reference} is beyond U+10FFFF`);
  }
  return String.fromCodePoint(code);
}
