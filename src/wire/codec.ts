/**
 * What values become on the wire: MessagePack plus extension types for the
 * JavaScript values JSON cannot carry. Proxies travel as tokens; how a
 * token is turned into a reference is the peer's business (client or
 * server), given to the codec as a {@linkcode CodecPeer}.
 *
 * | ext | value |
 * | --- | --- |
 * | -1 | `Date` (MessagePack timestamp) |
 * | 0 | `undefined` |
 * | 1 | `bigint` |
 * | 2 | `Map` |
 * | 3 | `Set` |
 * | 4 | typed arrays other than `Uint8Array`, `ArrayBuffer`, `DataView` |
 * | 5 | `Error` (name, message, stack, cause, errors, own properties) |
 * | 6 | a proxy token `[typeid, id, exposed]` |
 * | 7, 8 | a stream, a callback (their ids) |
 * | 9 | a {@linkcode PythonObject}: `[module, name, form, args, items, entries, hasState, state]` |
 * | 10 | a Python value that keeps its type (`PyFloat`, a tuple, ...): `[kind, data]` |
 *
 * A {@linkcode PyFloat} (a Python float of integral value) is a float64,
 * never an int; the other Python values a server keeps are what they
 * extend (a tuple an array, a `PyFrozenSet` a `Set`, a `PyDatetime` a
 * `Date`), so that a client reads them as JavaScript values; but within a
 * `PythonObject`'s parts, which a client sends back unchanged, a tuple, a
 * `PyFloat`, a `PyFrozenSet`, a `PyByteArray` and a `PyDatetime` keep
 * their type (ext 10), as they do on their way from a client to its
 * server, which keeps them (`CodecPeer.keepsPythonTypes`).
 *
 * Longer than most files on purpose: the encoder and the decoder of each
 * kind of value sit side by side, so that their limits, memory charges and
 * extension types can be read against each other.
 *
 * @module
 */

import { type DecodeLimits, MsgpackError, MsgpackReader } from "./_msgpack_reader.ts";
import {
  DECODE_COST,
  DECODE_EXPANSION,
  decodeBudget,
  KeyCosts,
  stringCost,
} from "./_decode_cost.ts";
import { MsgpackWriter } from "./_msgpack_writer.ts";
import { ERROR_FIELDS, reviveError } from "./error_wire.ts";
import {
  findCycle,
  loneSurrogate,
  refuseOpaque,
  TooDeepError,
  UnsendableError,
  within,
} from "./unsendable.ts";

export { reviveError, UnsendableError };
export { MAX_DEPTH, MAX_LENGTH } from "./_limits.ts";
export {
  DECODE_COST,
  DECODE_EXPANSION,
  decodeBudget,
  KeyCosts,
  ObjectKeys,
  stringCost,
} from "./_decode_cost.ts";
import { MAX_DEPTH, MAX_LENGTH } from "./_limits.ts";
import { DEFAULT_MAX_FRAME } from "./framing.ts";
import { Callback } from "./callback.ts";
import {
  isTuple,
  PyByteArray,
  PyDatetime,
  PyFloat,
  PyFrozenSet,
  PythonObject,
  tuple,
} from "./python_data.ts";

const EXT_TIMESTAMP = -1;
const EXT_UNDEFINED = 0;
const EXT_BIGINT = 1;
const EXT_MAP = 2;
const EXT_SET = 3;
const EXT_TYPED_ARRAY = 4;
const EXT_ERROR = 5;
const EXT_TOKEN = 6;
const EXT_STREAM = 7;
const EXT_CALLBACK = 8;
const EXT_PYTHON = 9;
const EXT_PYTHON_VALUE = 10;

/** A received message broke a decode limit or was not valid MessagePack. */
export class DecodeError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DecodeError";
  }
}

/** A token as it crosses the wire. */
export type WireToken = readonly [typeid: string, id: number, exposed: readonly string[]];

/**
 * The mark of a handle on a shared object, which the codec sends as a token
 * `[typeid, id, exposed]` that its {@linkcode CodecPeer} supplies: a proxy
 * (`BaseProxy.prototype` carries it) or a {@linkcode Reference}. The codec
 * knows no more of proxies than this.
 */
export const OBJECT_HANDLE: unique symbol = Symbol("object handle");

/** A proxy or a {@linkcode Reference}: a value that carries {@linkcode OBJECT_HANDLE}. */
export type ObjectHandle = object;

/** Marks the instances of `cls` as handles the codec sends as tokens. */
export function markObjectHandles(cls: abstract new (...args: never[]) => object): void {
  Object.defineProperty(cls.prototype, OBJECT_HANDLE, { value: true });
}

/**
 * A reference the server hands to a client without a proxy of its own in
 * between: a freshly created object or a transfer being claimed.
 */
export class Reference {
  /** A reference to object `id`. */
  constructor(readonly id: number) {}
}
markObjectHandles(Reference);

/** How tokens map to references on one side of one connection. */
export interface CodecPeer {
  /**
   * Called before each message is decoded: what `decodeToken` and the like
   * note about a message starts afresh here.
   */
  beginMessage?(): void;
  /** The token to send for a proxy or reference; throws a TypeError when it cannot go here. */
  encodeToken(value: ObjectHandle): WireToken;
  /** The value to hand to the application for a token that arrived. */
  decodeToken(token: WireToken): unknown;
  /**
   * The id under which an async iterable being sent (a method's async
   * generator, a `ReadableStream`) is streamed; absent where none can go.
   */
  encodeStream?(value: AsyncIterable<unknown>): number;
  /** The async iterable to hand to the application for a stream id that arrived. */
  decodeStream?(id: number): unknown;
  /** The id under which a callback being sent is called back; absent where none can go. */
  encodeCallback?(value: Callback): number;
  /** The function to hand to the application for a callback id that arrived. */
  decodeCallback?(id: number): unknown;
  /**
   * Whether this side keeps Python values as Python had them (a server):
   * then a float64 of integral value that arrives is a {@linkcode PyFloat},
   * not a number, and what it sends its clients outside a PythonObject is
   * their JavaScript kin (a tuple an array, a `PyFrozenSet` a `Set`). A
   * client sends them as ext 10, so that its server keeps their type.
   */
  readonly keepsPythonTypes?: boolean;
}

const TYPED_ARRAYS = [
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
] as const;
const KIND_ARRAY_BUFFER = 100;
const KIND_DATA_VIEW = 101;

/** The limits of one side of a connection: what it reads, and what its peer is assumed to read. */
export interface CodecLimits extends DecodeLimits {
  /** Largest message payload, in bytes. */
  readonly maxFrameSize: number;
}

/**
 * What decoding an extension value costs in memory beyond the containers
 * inside it (which the reader charges itself); see `DECODE_COST`.
 */
const EXT_COST: Readonly<Record<number, number>> = {
  [EXT_TIMESTAMP]: 104,
  [EXT_UNDEFINED]: 0,
  [EXT_BIGINT]: 32,
  [EXT_MAP]: 216,
  [EXT_SET]: 240,
  [EXT_TYPED_ARRAY]: 208,
  [EXT_ERROR]: 256,
  [EXT_TOKEN]: 512,
  [EXT_STREAM]: 512,
  [EXT_CALLBACK]: 512,
  [EXT_PYTHON]: 256,
  [EXT_PYTHON_VALUE]: 64,
};

/**
 * Encodes and decodes the messages of one connection. The encoder checks
 * what the peer's decoder checks (nesting, collection length, memory per
 * message, message size), counted the same way, so that a value the peer
 * would refuse fails here, before any byte is sent.
 */
export class Codec {
  readonly #peer: CodecPeer;
  readonly #writer = new MsgpackWriter();
  readonly #reader: MsgpackReader;
  readonly #limits: CodecLimits;
  #cost = 0;
  readonly #keys = new KeyCosts();
  /** How many PythonObjects the value being written is inside (their parts keep Python's types). */
  #inPython = 0;
  /** Whether the peer is a server, which keeps Python values' types (see `keepsPythonTypes`). */
  readonly #toServer: boolean;

  /** A codec that maps tokens through `peer` and refuses messages beyond `limits`. */
  constructor(peer: CodecPeer, limits: Partial<CodecLimits> = {}) {
    this.#peer = peer;
    this.#limits = {
      maxDepth: limits.maxDepth ?? MAX_DEPTH,
      maxLength: limits.maxLength ?? MAX_LENGTH,
      maxFrameSize: limits.maxFrameSize ?? DEFAULT_MAX_FRAME,
    };
    this.#toServer = peer.keepsPythonTypes !== true;
    this.#reader = new MsgpackReader(
      this.#limits,
      (reader, type, size, depth) => this.#readExtension(reader, type, size, depth),
      peer.keepsPythonTypes === true ? (value) => new PyFloat(value) : undefined,
    );
  }

  /** The peer that maps tokens for this codec. */
  get peer(): CodecPeer {
    return this.#peer;
  }

  /**
   * `value` as a sealed frame of its own (header included). Throws
   * {@linkcode UnsendableError} (a `TypeError`) naming the path of the
   * first value that cannot travel. A connection uses
   * {@linkcode Codec.append} instead, which copies nothing.
   */
  encode(value: unknown): Uint8Array {
    if (this.#writer.pending > 0) {
      throw new Error("Codec.encode() called while appended frames wait to be taken");
    }
    this.append(value);
    const chunk = this.#writer.take()!;
    const frame = chunk.slice();
    this.#writer.giveBack(chunk);
    return frame;
  }

  /**
   * Appends `value` as a frame to the outgoing bytes, for
   * {@linkcode Codec.take}. Throws {@linkcode UnsendableError} (a
   * `TypeError`) naming the path of the first value that cannot travel;
   * then nothing of it was appended.
   */
  append(value: unknown): void {
    const writer = this.#writer;
    writer.beginFrame();
    this.#cost = 0;
    this.#keys.reset();
    try {
      // Depth 1 at the top, as the reader counts.
      this.#write(value, 1);
    } catch (error) {
      writer.abandonFrame();
      if (!(error instanceof TooDeepError)) throw error;
      const cycle = findCycle(value);
      if (cycle === undefined) throw error;
      const named = new UnsendableError(
        "a cycle",
        " (an object that contains itself; send a copy without the back reference)",
      );
      named.path.push(...cycle);
      throw named;
    }
    const size = writer.endFrame();
    if (size > this.#limits.maxFrameSize) {
      writer.abandonFrame();
      throw new UnsendableError(
        `a value of ${size} bytes once encoded`,
        `, over the limit of ${this.#limits.maxFrameSize} bytes per message (limits.maxFrameSize)`,
      );
    }
    if (this.#cost > decodeBudget(size)) {
      writer.abandonFrame();
      throw new UnsendableError(
        `a value that would take more than ${DECODE_EXPANSION} times its ${size} bytes in memory to decode`,
        " (many small containers: send typed arrays, or fewer and larger values)",
      );
    }
  }

  /** Bytes appended and not yet taken. */
  get pendingBytes(): number {
    return this.#writer.pending;
  }

  /**
   * The frames appended since the last take, in one piece, or `undefined`
   * if there are none. Give the bytes back with {@linkcode Codec.giveBack}
   * once written.
   */
  take(): Uint8Array | undefined {
    return this.#writer.take();
  }

  /** Takes back bytes from {@linkcode Codec.take} once written, to write into again. */
  giveBack(chunk: Uint8Array): void {
    this.#writer.giveBack(chunk);
  }

  /** Checks a container of `items` values at `depth` as the peer's reader will. */
  #open(items: number, depth: number): void {
    if (items > this.#limits.maxLength) {
      throw new UnsendableError(
        `a collection of ${items} items`,
        `, over the limit of ${this.#limits.maxLength} (limits.maxLength)`,
      );
    }
    if (items > 0) this.#nest(depth);
  }

  /** A level of nesting the peer's reader opens at `depth`. */
  #nest(depth: number): void {
    if (depth >= this.#limits.maxDepth) {
      throw new TooDeepError(
        `a value nested deeper than ${this.#limits.maxDepth} levels`,
        " (limits.maxDepth)",
      );
    }
  }

  /**
   * The value in a frame's payload. Throws {@linkcode DecodeError} on bad or
   * excessive input. `borrowed` says the payload is a view into a buffer
   * that is written again later (binary values are then copied out).
   */
  decode(payload: Uint8Array, borrowed = false): unknown {
    this.#peer.beginMessage?.();
    try {
      return this.#reader.decode(payload, borrowed);
    } catch (error) {
      throw new DecodeError(
        `Refused a message: ${error instanceof Error ? error.message : String(error)}`,
        error instanceof MsgpackError ? undefined : { cause: error },
      );
    }
  }

  #readExtension(reader: MsgpackReader, type: number, size: number, depth: number): unknown {
    reader.charge(EXT_COST[type] ?? 0);
    switch (type) {
      case EXT_TIMESTAMP:
        return readTimestamp(reader.take(size));
      case EXT_UNDEFINED:
        reader.take(size);
        return undefined;
      case EXT_BIGINT:
        return readBigint(reader.take(size));
      case EXT_MAP: {
        const items = expectArray(reader.nested(size, depth), "Map");
        reader.charge(DECODE_COST.mapEntry * (items.length >> 1));
        const map = new Map<unknown, unknown>();
        for (let i = 0; i + 1 < items.length; i += 2) map.set(items[i], items[i + 1]);
        return map;
      }
      case EXT_SET: {
        const items = expectArray(reader.nested(size, depth), "Set");
        reader.charge(DECODE_COST.setEntry * items.length);
        return new Set(items);
      }
      case EXT_TYPED_ARRAY:
        return readTypedArray(reader.take(size));
      case EXT_ERROR:
        return reviveError(reader.nested(size, depth));
      case EXT_TOKEN:
        return this.#peer.decodeToken(expectToken(reader.nested(size, depth)));
      case EXT_CALLBACK: {
        const id = reader.nested(size, depth);
        if (!Number.isSafeInteger(id) || this.#peer.decodeCallback === undefined) {
          throw new TypeError("Malformed or unexpected callback");
        }
        return this.#peer.decodeCallback(id as number);
      }
      case EXT_STREAM: {
        const id = reader.nested(size, depth);
        if (!Number.isSafeInteger(id) || this.#peer.decodeStream === undefined) {
          throw new TypeError("Malformed or unexpected stream");
        }
        return this.#peer.decodeStream(id as number);
      }
      case EXT_PYTHON:
        return readPythonObject(reader.nested(size, depth));
      case EXT_PYTHON_VALUE:
        return readPythonValue(reader.nested(size, depth));
      default:
        throw new MsgpackError(`unknown extension type ${type}`);
    }
  }

  #write(value: unknown, depth: number): void {
    const w = this.#writer;
    switch (typeof value) {
      case "string": {
        if (!value.isWellFormed()) throw loneSurrogate(value);
        const bytes = w.string(value);
        this.#cost += stringCost(bytes, bytes === value.length);
        return;
      }
      case "number":
        // Numbers other than 32-bit integers are objects of their own once decoded.
        if (!(value === (value | 0) && !Object.is(value, -0))) this.#cost += DECODE_COST.heapNumber;
        return w.number(value);
      case "boolean":
        return w.boolean(value);
      case "undefined":
        return w.ext(EXT_UNDEFINED, EMPTY);
      case "bigint":
        this.#cost += EXT_COST[EXT_BIGINT]!;
        return w.ext(EXT_BIGINT, textEncoder.encode(value.toString(16)));
      case "object":
        if (value === null) return w.nil();
        break;
      case "function":
        throw new UnsendableError(`a function${value.name ? ` (${value.name})` : ""}`);
      default:
        throw new UnsendableError(`a ${typeof value}`);
    }
    const next = depth + 1;
    if (Array.isArray(value)) {
      if ((this.#toServer || this.#inPython > 0) && isTuple(value)) {
        return this.#writePythonValue(value, depth);
      }
      const length = value.length;
      this.#open(length, depth);
      this.#cost += DECODE_COST.array + DECODE_COST.arrayItem * length;
      w.arrayHeader(length);
      for (let i = 0; i < length; i++) {
        try {
          this.#write(value[i], next);
        } catch (error) {
          throw within(error, i);
        }
      }
    } else if (value instanceof Uint8Array) {
      if (this.#pythonTypes() && value instanceof PyByteArray) {
        return this.#writePythonValue(value, depth);
      }
      this.#cost += DECODE_COST.binary;
      w.binary(value);
    } else if ((value as { [OBJECT_HANDLE]?: true })[OBJECT_HANDLE] === true) {
      const [typeid, id, exposed] = this.#peer.encodeToken(value);
      // The token's array [typeid, id, exposed] and its exposed list, inside the extension.
      this.#nest(depth);
      this.#open(3, next);
      this.#open(exposed.length, next + 1);
      this.#cost += EXT_COST[EXT_TOKEN]! + 2 * DECODE_COST.array +
        DECODE_COST.arrayItem * (3 + exposed.length);
      const mark = w.beginExt(EXT_TOKEN);
      w.arrayHeader(3);
      let bytes = w.string(typeid);
      this.#cost += stringCost(bytes, bytes === typeid.length);
      w.number(id);
      w.arrayHeader(exposed.length);
      for (const name of exposed) {
        bytes = w.string(name);
        this.#cost += stringCost(bytes, bytes === name.length);
      }
      w.endExt(mark);
    } else if (value instanceof Map) {
      this.#nest(depth);
      this.#open(value.size * 2, next);
      this.#cost += EXT_COST[EXT_MAP]! + DECODE_COST.array +
        (2 * DECODE_COST.arrayItem + DECODE_COST.mapEntry) * value.size;
      const mark = w.beginExt(EXT_MAP);
      w.arrayHeader(value.size * 2);
      let i = 0;
      for (const [k, v] of value) {
        try {
          this.#write(k, next + 1);
          this.#write(v, next + 1);
        } catch (error) {
          throw within(error, `<Map entry ${i}>`);
        }
        i++;
      }
      w.endExt(mark);
    } else if (value instanceof Set) {
      if (this.#pythonTypes() && value instanceof PyFrozenSet) {
        return this.#writePythonValue(value, depth);
      }
      this.#nest(depth);
      this.#open(value.size, next);
      this.#cost += EXT_COST[EXT_SET]! + DECODE_COST.array +
        (DECODE_COST.arrayItem + DECODE_COST.setEntry) * value.size;
      const mark = w.beginExt(EXT_SET);
      w.arrayHeader(value.size);
      let i = 0;
      for (const item of value) {
        try {
          this.#write(item, next + 1);
        } catch (error) {
          throw within(error, `<Set item ${i}>`);
        }
        i++;
      }
      w.endExt(mark);
    } else if (value instanceof Callback) {
      if (this.#peer.encodeCallback === undefined) {
        throw new UnsendableError("a callback", " (callbacks go from a client to its server)");
      }
      const id = this.#peer.encodeCallback(value);
      this.#cost += EXT_COST[EXT_CALLBACK]!;
      const mark = w.beginExt(EXT_CALLBACK);
      w.number(id);
      w.endExt(mark);
    } else if (value instanceof Date) {
      if (this.#pythonTypes() && value instanceof PyDatetime) {
        return this.#writePythonValue(value, depth);
      }
      const time = value.getTime();
      if (Number.isNaN(time)) throw new UnsendableError("an invalid Date");
      this.#cost += EXT_COST[EXT_TIMESTAMP]!;
      w.timestamp(time);
    } else if (value instanceof Error) {
      this.#writeError(value, depth);
    } else if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
      this.#cost += EXT_COST[EXT_TYPED_ARRAY]!;
      this.#writeBinaryKind(value);
    } else if (
      value instanceof Promise || value instanceof WeakMap || value instanceof WeakSet ||
      value instanceof WeakRef
    ) {
      throw new UnsendableError(`a ${value.constructor.name}`);
    } else if (
      typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function"
    ) {
      if (this.#peer.encodeStream === undefined) {
        throw new UnsendableError(
          "an async iterable",
          " (a stream goes from a shared method to its caller, or from a client to its server)",
        );
      }
      const id = this.#peer.encodeStream(value as AsyncIterable<unknown>);
      this.#cost += EXT_COST[EXT_STREAM]!;
      const mark = w.beginExt(EXT_STREAM);
      w.number(id);
      w.endExt(mark);
    } else if (value instanceof Number) {
      // A Python float of integral value (PyFloat): a float64, which a server reads as a PyFloat.
      if (this.#inPython > 0) return this.#writePythonValue(value as PyFloat, depth);
      w.float(value.valueOf());
    } else if (value instanceof PythonObject) {
      this.#writePython(value, depth);
    } else {
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record);
      if (keys.length === 0) refuseOpaque(record);
      this.#open(keys.length * 2, depth);
      this.#cost += DECODE_COST.object;
      w.mapHeader(keys.length);
      const costs = this.#keys.object();
      for (const key of keys) {
        if (key === "__proto__") {
          // A receiver would refuse it (it could reach a prototype): refuse it here.
          throw within(new UnsendableError('an object with an own "__proto__" key'), key);
        }
        if (!key.isWellFormed()) throw within(loneSurrogate(key), key);
        const bytes = w.string(key);
        this.#cost += costs.add(key, stringCost(bytes, bytes === key.length));
        try {
          this.#write(record[key], next);
        } catch (error) {
          throw within(error, key);
        }
      }
    }
  }

  /** An Error: an extension at `depth` holding a map of its fields one level in. */
  #writeError(error: Error, depth: number): void {
    const w = this.#writer;
    const fields: [string, unknown][] = [
      ["name", String(error.name)],
      ["message", String(error.message)],
      ["stack", typeof error.stack === "string" ? error.stack : undefined],
    ];
    if ("cause" in error) fields.push(["cause", error.cause]);
    if (error instanceof AggregateError) fields.push(["errors", [...error.errors]]);
    const own = Object.keys(error).filter((k) => !ERROR_FIELDS.has(k));
    if (own.length > 0) {
      fields.push(["props", Object.fromEntries(own.map((k) => [k, (error as never)[k]]))]);
    }
    this.#nest(depth);
    this.#open(fields.length * 2, depth + 1);
    this.#cost += EXT_COST[EXT_ERROR]! + DECODE_COST.object;
    const mark = w.beginExt(EXT_ERROR);
    w.mapHeader(fields.length);
    const costs = this.#keys.object();
    for (const [key, value] of fields) {
      const bytes = w.string(key);
      this.#cost += costs.add(key, stringCost(bytes, bytes === key.length));
      try {
        this.#write(value, depth + 2);
      } catch (inner) {
        throw within(inner, key);
      }
    }
    w.endExt(mark);
  }

  /** A PythonObject: an extension at `depth` holding its parts' array one level in. */
  #writePython(value: PythonObject, depth: number): void {
    const entries: unknown[] = [];
    for (const [key, item] of value.entries) entries.push(key, item);
    const hasState = value.state !== undefined;
    const parts: unknown[] = [
      value.module,
      value.name,
      value.form,
      value.args,
      value.items,
      entries,
      hasState,
      hasState ? value.state : null,
    ];
    this.#nest(depth);
    this.#cost += EXT_COST[EXT_PYTHON]!;
    const mark = this.#writer.beginExt(EXT_PYTHON);
    this.#inPython++;
    try {
      this.#write(parts, depth + 1);
    } catch (error) {
      throw within(error, `<${value.type}>`);
    } finally {
      this.#inPython--;
    }
    this.#writer.endExt(mark);
  }

  /**
   * Whether Python values keep their types here (ext 10): always on the
   * way to a server, which keeps them; on the way from one, only within a
   * PythonObject's parts (a client reads the rest as their JavaScript kin).
   */
  #pythonTypes(): boolean {
    return this.#toServer || this.#inPython > 0;
  }

  /** A Python value that keeps its type, as ext 10 `[kind, data]`. */
  #writePythonValue(
    value: unknown[] | PyFloat | PyFrozenSet | PyByteArray | PyDatetime,
    depth: number,
  ): void {
    let parts: [string, unknown];
    if (Array.isArray(value)) parts = ["tuple", [...value]];
    else if (value instanceof Number) parts = ["float", value.valueOf()];
    else if (value instanceof PyFrozenSet) parts = ["frozenset", [...value]];
    else if (value instanceof PyByteArray) parts = ["bytearray", value.slice()];
    else parts = ["datetime", [value.state, value.tzinfo]];
    this.#nest(depth);
    this.#cost += EXT_COST[EXT_PYTHON_VALUE]!;
    const mark = this.#writer.beginExt(EXT_PYTHON_VALUE);
    if (parts[0] === "float") {
      this.#writer.arrayHeader(2);
      this.#writer.string("float");
      this.#writer.float(parts[1] as number);
    } else {
      this.#write(parts, depth + 1);
    }
    this.#writer.endExt(mark);
  }

  #writeBinaryKind(value: ArrayBufferView | ArrayBuffer): void {
    let kind: number;
    let bytes: Uint8Array;
    if (value instanceof ArrayBuffer) {
      kind = KIND_ARRAY_BUFFER;
      bytes = new Uint8Array(value);
    } else if (value instanceof DataView) {
      kind = KIND_DATA_VIEW;
      bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    } else {
      kind = TYPED_ARRAYS.findIndex((cls) => value instanceof cls);
      if (kind < 0) throw new UnsendableError(`a ${value.constructor.name}`);
      bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    }
    const data = new Uint8Array(bytes.length + 1);
    data[0] = kind;
    data.set(bytes, 1);
    this.#writer.ext(EXT_TYPED_ARRAY, data);
  }
}

const EMPTY = new Uint8Array(0);
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

function readTimestamp(data: Uint8Array): Date {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let seconds: number;
  let nanoseconds = 0;
  if (data.length === 4) {
    seconds = view.getUint32(0);
  } else if (data.length === 8) {
    // 30 bits of nanoseconds, then 34 bits of seconds.
    const high = view.getUint32(0);
    nanoseconds = high >>> 2;
    seconds = (high & 0x3) * 4294967296 + view.getUint32(4);
  } else if (data.length === 12) {
    nanoseconds = view.getUint32(0);
    seconds = Number(view.getBigInt64(4));
  } else {
    throw new TypeError(`Malformed timestamp of ${data.length} bytes`);
  }
  return new Date(seconds * 1000 + Math.floor(nanoseconds / 1e6));
}

function readBigint(data: Uint8Array): bigint {
  const text = textDecoder.decode(data);
  if (!/^-?[0-9a-f]+$/.test(text)) throw new TypeError("Malformed bigint");
  return text.startsWith("-") ? -BigInt(`0x${text.slice(1)}`) : BigInt(`0x${text}`);
}

function readTypedArray(data: Uint8Array): ArrayBuffer | ArrayBufferView {
  const kind = data[0];
  // Copy: the new buffer is aligned and owned by the value.
  const copy = data.slice(1);
  if (kind === KIND_ARRAY_BUFFER) return copy.buffer;
  if (kind === KIND_DATA_VIEW) return new DataView(copy.buffer);
  const Class = kind === undefined ? undefined : TYPED_ARRAYS[kind];
  if (Class === undefined) throw new TypeError(`Unknown typed array kind ${kind}`);
  if (copy.length % Class.BYTES_PER_ELEMENT !== 0) {
    throw new TypeError(`Malformed ${Class.name}`);
  }
  return new Class(copy.buffer);
}

function readPythonObject(raw: unknown): PythonObject {
  if (!Array.isArray(raw) || raw.length !== 8) throw new TypeError("Malformed Python value");
  const [module, name, form, args, items, entries, hasState, state] = raw;
  if (
    typeof module !== "string" || typeof name !== "string" || typeof form !== "string" ||
    !Array.isArray(args) || !Array.isArray(items) || !Array.isArray(entries) ||
    entries.length % 2 !== 0 || typeof hasState !== "boolean"
  ) {
    throw new TypeError("Malformed Python value");
  }
  const pairs: [unknown, unknown][] = [];
  for (let i = 0; i < entries.length; i += 2) pairs.push([entries[i], entries[i + 1]]);
  return new PythonObject(module, name, {
    form: form as "call",
    args,
    items,
    entries: pairs,
    ...(hasState ? { state } : {}),
  });
}

function readPythonValue(raw: unknown): unknown {
  if (!Array.isArray(raw) || raw.length !== 2) throw new TypeError("Malformed Python value");
  const [kind, data] = raw;
  if (kind === "float" && typeof data === "number") return new PyFloat(data);
  if (kind === "tuple" && Array.isArray(data)) return tuple(data);
  if (kind === "frozenset" && Array.isArray(data)) return new PyFrozenSet(data);
  if (kind === "bytearray" && data instanceof Uint8Array) return new PyByteArray(data);
  if (kind === "datetime" && Array.isArray(data) && data.length === 2) {
    return new PyDatetime(data[0] as Uint8Array, data[1]);
  }
  throw new TypeError("Malformed Python value");
}

function expectToken(raw: unknown): WireToken {
  if (
    !Array.isArray(raw) || raw.length !== 3 || typeof raw[0] !== "string" ||
    !Number.isSafeInteger(raw[1]) || !Array.isArray(raw[2]) ||
    !raw[2].every((name: unknown) => typeof name === "string")
  ) {
    throw new TypeError("Malformed proxy token");
  }
  return raw as unknown as WireToken;
}

function expectArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new TypeError(`Malformed ${what}`);
  return value;
}
