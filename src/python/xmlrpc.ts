/**
 * CPython's second serializer, `serializer='xmlrpclib'`: each frame is one
 * value marshalled as XML-RPC `<params>` with `allow_none`, as
 * `xmlrpc.client.dumps((value,), None, None, None, 1)` writes it and
 * `xmlrpc.client.loads` reads it. The reader is a small parser of exactly
 * that subset: no DTD, no entities beyond the five predefined ones and
 * character references, MessagePack's limits on nesting and length.
 *
 * Values: `<nil/>` ↔ `null`, `<boolean>`, `<int>`/`<i4>`/`<i8>` ↔ number
 * (bigint beyond ±2^53; larger than int32 is sent as `<i8>`, which CPython
 * reads), `<double>`, `<string>` (and bare text), `<base64>` ↔ `Uint8Array`,
 * `<dateTime.iso8601>` ↔ `Date` (UTC), `<array>` ↔ Array, `<struct>` ↔ a
 * plain object (string keys only). Sets travel as arrays. Proxies cannot
 * cross XML-RPC, in CPython either.
 *
 * @module
 */

import { DocumentCodec } from "./document_codec.ts";
import { PyFloat } from "../wire/python_data.ts";
import { UnsendableError } from "../wire/unsendable.ts";
import { readXmlrpc, XmlrpcError, type XmlrpcLimits } from "./_xmlrpc_reader.ts";

export { readXmlrpc, XmlrpcError, type XmlrpcLimits };

const utf8 = new TextEncoder();
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
      } else if (value instanceof PyFloat) {
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

/** The codec of a connection whose peer is CPython with `serializer='xmlrpclib'`. */
export class XmlrpcCodec extends DocumentCodec {
  readonly #view: boolean;
  readonly #limits: XmlrpcLimits & { readonly maxFrameSize: number };

  /** A codec refusing documents beyond `limits`. */
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
