/**
 * CPython's second serializer, `serializer='xmlrpclib'`: each frame is one
 * value marshalled as XML-RPC `<params>` with `allow_none`, as
 * `xmlrpc.client.dumps((value,), None, None, None, 1)` writes it and
 * `xmlrpc.client.loads` reads it. The reader is a small parser of exactly
 * that subset: no DTD, no entities beyond the five predefined ones and
 * character references, MessagePack's limits on nesting and length.
 *
 * Values: `<nil/>` ↔ `null`, `<boolean>`, `<int>`/`<i4>`/`<i8>` ↔ number
 * (bigint beyond ±(2^53 - 1); larger than int32 is sent as `<i8>`, which
 * CPython reads), `<double>` ↔ number (a `PyFloat` when integral), `<string>` (and bare text), `<base64>` ↔ `Uint8Array`,
 * `<dateTime.iso8601>` ↔ `Date` (UTC), `<array>` ↔ Array, `<struct>` ↔ a
 * plain object (string keys only). Sets travel as arrays. Proxies cannot
 * cross XML-RPC, in CPython either.
 *
 * @module
 */

import { DocumentCodec } from "./document_codec.ts";
import { PyFloat } from "../wire/python_data.ts";
import { UnsendableError } from "../wire/unsendable.ts";

const utf8 = new TextEncoder();
const text = new TextDecoder("utf-8", { fatal: true });
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** `value` as the XML-RPC document CPython's `xmlrpclib` serializer sends. */
export function writeXmlrpc(value: unknown, maxDepth = 100): Uint8Array {
  const parts: string[] = ["<?xml version='1.0'?>\n<params>\n<param>\n"];
  writeValue(value, parts, 0, maxDepth);
  parts.push("</param>\n</params>\n");
  return utf8.encode(parts.join(""));
}

function escape(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

function writeValue(value: unknown, out: string[], depth: number, maxDepth: number): void {
  if (depth > maxDepth) throw new UnsendableError(`a value nested deeper than ${maxDepth} levels`);
  out.push("<value>");
  switch (typeof value) {
    case "undefined":
      out.push("<nil/>");
      break;
    case "boolean":
      out.push(`<boolean>${value ? 1 : 0}</boolean>`);
      break;
    case "number":
      if (Number.isSafeInteger(value) && !Object.is(value, -0)) {
        out.push(
          value >= INT32_MIN && value <= INT32_MAX ? `<int>${value}</int>` : `<i8>${value}</i8>`,
        );
      } else {
        const shown = Number.isNaN(value)
          ? "nan"
          : value === Infinity
          ? "inf"
          : value === -Infinity
          ? "-inf"
          : Object.is(value, -0)
          ? "-0.0"
          : String(value);
        out.push(`<double>${shown}</double>`);
      }
      break;
    case "bigint":
      if (value < -(2n ** 63n) || value >= 2n ** 63n) {
        throw new UnsendableError(
          "an integer beyond 64 bits",
          " (XML-RPC carries at most <i8>; send it as a string)",
        );
      }
      out.push(`<i8>${value}</i8>`);
      break;
    case "string":
      out.push(`<string>${escape(value)}</string>`);
      break;
    case "object":
      if (value === null) {
        out.push("<nil/>");
      } else if (value instanceof Number) {
        // A float of integral value (PyFloat): a <double>, as Python wrote it.
        const number = value.valueOf();
        out.push(`<double>${Object.is(number, -0) ? "-0.0" : `${number}.0`}</double>`);
      } else if (value instanceof Uint8Array) {
        out.push(`<base64>\n${toBase64(value)}\n</base64>`);
      } else if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw new UnsendableError("an invalid Date");
        const iso = value.toISOString(); // 2024-01-02T03:04:05.678Z
        out.push(
          `<dateTime.iso8601>${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${
            iso.slice(11, 19)
          }</dateTime.iso8601>`,
        );
      } else if (Array.isArray(value) || value instanceof Set) {
        const items = [...value];
        out.push("<array><data>\n");
        for (const item of items) writeValue(item, out, depth + 1, maxDepth);
        out.push("</data></array>");
      } else if (value instanceof Map || Object.getPrototypeOf(value) === Object.prototype) {
        const entries = value instanceof Map ? [...value] : Object.entries(value);
        out.push("<struct>\n");
        for (const [key, item] of entries) {
          if (typeof key !== "string") {
            throw new UnsendableError(
              `a ${typeof key} dict key`,
              " (XML-RPC structs have string keys only)",
            );
          }
          out.push(`<member>\n<name>${escape(key)}</name>\n`);
          writeValue(item, out, depth + 1, maxDepth);
          out.push("</member>\n");
        }
        out.push("</struct>");
      } else {
        const name = (value as { constructor?: { name?: string } }).constructor?.name ?? "object";
        throw new UnsendableError(
          `a ${name} instance`,
          " (XML-RPC carries data only: no proxies, errors or class instances)",
        );
      }
      break;
    default:
      throw new UnsendableError(`a ${typeof value}`, " (XML-RPC carries data only)");
  }
  out.push("</value>\n");
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

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

/** A tag or a run of text, as the tokenizer sees them. */
type Token =
  | { readonly kind: "open"; readonly name: string; readonly empty: boolean }
  | { readonly kind: "close"; readonly name: string }
  | { readonly kind: "text"; readonly text: string };

/**
 * The one value of an XML-RPC `<params>` document (CPython's
 * `loads(s)[0][0]`); a `<double>` of integral value is a `PyFloat`, but
 * with `view` (a Deno client's reading) a number.
 */
export function readXmlrpc(bytes: Uint8Array, limits: XmlrpcLimits, view = false): unknown {
  let source: string;
  try {
    source = text.decode(bytes);
  } catch {
    throw new XmlrpcError("the document is not valid UTF-8");
  }
  const tokens = tokenize(source);
  let at = 0;
  const next = (): Token => {
    const token = tokens[at++];
    if (token === undefined) throw new XmlrpcError("the document ends too early");
    return token;
  };
  const peek = (): Token | undefined => tokens[at];
  const skipSpace = (): void => {
    while (peek()?.kind === "text" && (peek() as { text: string }).text.trim() === "") at++;
  };
  const expectOpen = (name: string): void => {
    skipSpace();
    const token = next();
    if (token.kind !== "open" || token.name !== name) {
      throw new XmlrpcError(`expected <${name}>`);
    }
  };
  const expectClose = (name: string): void => {
    skipSpace();
    const token = next();
    if (token.kind !== "close" || token.name !== name) {
      throw new XmlrpcError(`expected </${name}>`);
    }
  };
  const textUntil = (name: string): string => {
    let out = "";
    for (;;) {
      const token = next();
      if (token.kind === "text") out += token.text;
      else if (token.kind === "close" && token.name === name) return out;
      else throw new XmlrpcError(`unexpected markup inside <${name}>`);
    }
  };
  const value = (depth: number): unknown => {
    if (depth > limits.maxDepth) {
      throw new XmlrpcError(
        `values nest deeper than the limit of ${limits.maxDepth} levels (limits.maxDepth)`,
      );
    }
    // <value> was just read.
    const first = next();
    if (first.kind === "text") {
      const after = next();
      if (after.kind === "close" && after.name === "value") return first.text;
      if (first.text.trim() !== "" || after.kind !== "open") {
        throw new XmlrpcError("unexpected content in <value>");
      }
      return typed(after, depth);
    }
    if (first.kind === "close" && first.name === "value") return "";
    if (first.kind !== "open") throw new XmlrpcError("unexpected content in <value>");
    return typed(first, depth);
  };
  const typed = (open: Token & { kind: "open" }, depth: number): unknown => {
    let result: unknown;
    const name = open.name;
    if (open.empty) {
      if (name !== "nil" && name !== "ex:nil") throw new XmlrpcError(`an empty <${name}/>`);
      result = null;
    } else {
      switch (name) {
        case "string":
          result = textUntil(name);
          break;
        case "int":
        case "i1":
        case "i2":
        case "i4":
        case "i8":
        case "biginteger": {
          const digits = textUntil(name).trim();
          if (!/^[-+]?\d{1,400}$/.test(digits)) throw new XmlrpcError(`a malformed <${name}>`);
          const big = BigInt(digits);
          const safe = BigInt(Number.MAX_SAFE_INTEGER);
          result = big >= -safe && big <= safe ? Number(big) : big;
          break;
        }
        case "boolean": {
          const flag = textUntil(name).trim();
          if (flag !== "0" && flag !== "1") throw new XmlrpcError("a malformed <boolean>");
          result = flag === "1";
          break;
        }
        case "double":
        case "float":
        case "bigdecimal": {
          const number = textUntil(name).trim();
          const parsed = /^-?inf$/i.test(number)
            ? (number.startsWith("-") ? -Infinity : Infinity)
            : /^-?nan$/i.test(number)
            ? NaN
            : Number(number);
          if (number === "" || (Number.isNaN(parsed) && !/nan$/i.test(number))) {
            throw new XmlrpcError(`a malformed <${name}>`);
          }
          // A float of integral value stays a float (PyFloat), never an int.
          result = !view && Number.isInteger(parsed) &&
              Math.abs(parsed) <= Number.MAX_SAFE_INTEGER
            ? new PyFloat(parsed)
            : parsed;
          break;
        }
        case "base64": {
          const data = textUntil(name).replace(/\s+/g, "");
          try {
            result = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
          } catch {
            throw new XmlrpcError("a malformed <base64>");
          }
          break;
        }
        case "dateTime.iso8601": {
          const stamp = textUntil(name).trim();
          const m = stamp.match(/^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})/);
          if (!m) throw new XmlrpcError("a malformed <dateTime.iso8601>");
          result = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
          break;
        }
        case "array": {
          expectOpen("data");
          const items: unknown[] = [];
          for (;;) {
            skipSpace();
            const token = next();
            if (token.kind === "close" && token.name === "data") break;
            if (token.kind !== "open" || token.name !== "value") {
              throw new XmlrpcError("expected <value> in <data>");
            }
            if (items.length >= limits.maxLength) {
              throw new XmlrpcError(
                `a collection of more than ${limits.maxLength} items (limits.maxLength)`,
              );
            }
            items.push(value(depth + 1));
          }
          expectClose("array");
          result = items;
          break;
        }
        case "struct": {
          const out: Record<string, unknown> = {};
          let count = 0;
          for (;;) {
            skipSpace();
            const token = next();
            if (token.kind === "close" && token.name === "struct") break;
            if (token.kind !== "open" || token.name !== "member") {
              throw new XmlrpcError("expected <member> in <struct>");
            }
            expectOpen("name");
            const key = textUntil("name");
            if (key === "__proto__") throw new XmlrpcError('a struct member "__proto__"');
            expectOpen("value");
            if (++count > limits.maxLength) {
              throw new XmlrpcError(
                `a collection of more than ${limits.maxLength} items (limits.maxLength)`,
              );
            }
            out[key] = value(depth + 1);
            expectClose("member");
          }
          result = out;
          break;
        }
        default:
          throw new XmlrpcError(`an unknown XML-RPC type <${name}>`);
      }
    }
    expectClose("value");
    return result;
  };
  expectOpen("params");
  expectOpen("param");
  expectOpen("value");
  const result = value(1);
  expectClose("param");
  expectClose("params");
  skipSpace();
  if (at !== tokens.length) throw new XmlrpcError("content after </params>");
  return result;
}

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

/** Tags and text of a document, after its `<?xml ...?>` declaration. */
function tokenize(source: string): Token[] {
  let i = 0;
  if (source.startsWith("<?xml")) {
    const end = source.indexOf("?>");
    if (end < 0) throw new XmlrpcError("an unterminated XML declaration");
    i = end + 2;
  }
  const tokens: Token[] = [];
  while (i < source.length) {
    const lt = source.indexOf("<", i);
    if (lt !== i) {
      const raw = source.slice(i, lt < 0 ? source.length : lt);
      tokens.push({ kind: "text", text: decodeText(raw) });
      if (lt < 0) break;
      i = lt;
    }
    const gt = source.indexOf(">", i);
    if (gt < 0) throw new XmlrpcError("an unterminated tag");
    const inner = source.slice(i + 1, gt);
    if (inner.startsWith("!") || inner.startsWith("?")) {
      throw new XmlrpcError("comments, DTDs and processing instructions are not accepted");
    }
    if (inner.startsWith("/")) {
      tokens.push({ kind: "close", name: inner.slice(1).trim() });
    } else {
      const empty = inner.endsWith("/");
      const name = (empty ? inner.slice(0, -1) : inner).trim().split(/\s/)[0]!;
      if (!/^[A-Za-z][\w.:-]*$/.test(name)) throw new XmlrpcError(`a malformed tag <${inner}>`);
      tokens.push({ kind: "open", name, empty });
    }
    i = gt + 1;
  }
  return tokens;
}

function decodeText(raw: string): string {
  return raw.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (match, entity: string) => {
    if (entity.startsWith("#x")) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith("#")) return String.fromCodePoint(parseInt(entity.slice(1), 10));
    const known = ENTITIES[entity];
    if (known === undefined) throw new XmlrpcError(`an unknown entity ${match}`);
    return known;
  }).replaceAll("\r\n", "\n");
}

/** The codec of a connection whose peer is CPython with `serializer='xmlrpclib'`. */
export class XmlrpcCodec extends DocumentCodec {
  readonly #limits: XmlrpcLimits & { readonly maxFrameSize: number };
  readonly #view: boolean;

  /** A codec refusing documents beyond `limits`; `view` reads as a Deno client does. */
  constructor(limits: XmlrpcLimits & { readonly maxFrameSize: number }, view = false) {
    super(limits.maxFrameSize, "an XML-RPC message");
    this.#limits = limits;
    this.#view = view;
  }

  /** `value` as one XML-RPC document. */
  protected write(value: unknown): Uint8Array {
    return writeXmlrpc(value, this.#limits.maxDepth);
  }

  /** The value of one XML-RPC document. */
  protected read(payload: Uint8Array): unknown {
    return readXmlrpc(payload, this.#limits, this.#view);
  }
}
