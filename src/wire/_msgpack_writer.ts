/**
 * A reusable MessagePack writer that builds a whole frame in one buffer:
 * 4 bytes reserved for the frame length, then the MessagePack payload.
 * Internal: `codec.ts` decides what values become; this only writes bytes.
 *
 * @module
 */

import { HEADER_SIZE, sealFrame } from "./framing.ts";

const INITIAL_SIZE = 2048;
/** Frames up to this size are copied out of the writer's buffer; larger ones take it along. */
const KEEP_LIMIT = 256 * 1024;
/** A large buffer given back by {@linkcode MsgpackWriter.recycle} is kept up to this size. */
const SPARE_LIMIT = 16 * 1024 * 1024;
const utf8 = new TextEncoder();

/** Writes MessagePack values into a growable buffer. */
export class MsgpackWriter {
  #bytes: Uint8Array<ArrayBuffer> = new Uint8Array(INITIAL_SIZE);
  #view: DataView<ArrayBuffer> = new DataView(this.#bytes.buffer);
  #pos = HEADER_SIZE;
  /** The buffer for frames up to KEEP_LIMIT, kept while a larger one is in use. */
  #small = this.#bytes;
  /** The last large buffer a frame took along; only it is taken back. */
  #lent: ArrayBuffer | undefined;
  /** A large buffer taken back, used the next time a frame outgrows #small. */
  #spare: Uint8Array<ArrayBuffer> | undefined;

  /** Starts a new frame, forgetting anything written before. */
  reset(): void {
    this.#pos = HEADER_SIZE;
  }

  /** The frame written since {@linkcode MsgpackWriter.reset}, length header filled in. */
  finish(): Uint8Array {
    if (this.#bytes !== this.#small) {
      // A large frame takes its buffer along instead of copying it.
      const out = this.#bytes.subarray(0, this.#pos);
      this.#lent = out.buffer;
      this.#use(this.#small);
      this.#pos = HEADER_SIZE;
      return sealFrame(out);
    }
    return sealFrame(this.#bytes.slice(0, this.#pos));
  }

  /**
   * Takes back the buffer of a frame from {@linkcode MsgpackWriter.finish}
   * once its bytes were written: the next large frame reuses it instead of
   * fresh memory (whose first touch costs more than the copy). Buffers this
   * writer did not lend are ignored.
   */
  recycle(frame: Uint8Array): void {
    const buffer = frame.buffer;
    if (buffer !== this.#lent || !(buffer instanceof ArrayBuffer)) return;
    this.#lent = undefined;
    if (buffer.byteLength > SPARE_LIMIT) return;
    if (this.#spare === undefined || this.#spare.length < buffer.byteLength) {
      this.#spare = new Uint8Array(buffer);
    }
  }

  #use(bytes: Uint8Array<ArrayBuffer>): void {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer);
  }

  #ensure(extra: number): void {
    const needed = this.#pos + extra;
    if (needed <= this.#bytes.length) return;
    // Double for many small writes; for one large one (a 1 MiB payload) take just what it needs.
    const size = Math.max(needed, this.#bytes.length * 2);
    let grown: Uint8Array<ArrayBuffer>;
    if (size <= KEEP_LIMIT) {
      grown = new Uint8Array(size);
      if (this.#bytes === this.#small) this.#small = grown;
    } else if (this.#spare !== undefined && this.#spare.length >= needed) {
      grown = this.#spare;
      this.#spare = undefined;
    } else {
      grown = new Uint8Array(size);
    }
    grown.set(this.#bytes.subarray(0, this.#pos));
    this.#use(grown);
  }

  /** nil */
  nil(): void {
    this.#ensure(1);
    this.#bytes[this.#pos++] = 0xc0;
  }

  /** true / false */
  boolean(value: boolean): void {
    this.#ensure(1);
    this.#bytes[this.#pos++] = value ? 0xc3 : 0xc2;
  }

  /** Safe integers as the smallest int type, everything else as float64. */
  number(value: number): void {
    this.#ensure(9);
    const b = this.#bytes;
    const v = this.#view;
    if (Number.isSafeInteger(value) && !Object.is(value, -0)) {
      if (value >= 0) {
        if (value < 0x80) {
          b[this.#pos++] = value;
        } else if (value < 0x100) {
          b[this.#pos++] = 0xcc;
          b[this.#pos++] = value;
        } else if (value < 0x10000) {
          b[this.#pos++] = 0xcd;
          v.setUint16(this.#pos, value);
          this.#pos += 2;
        } else if (value < 0x100000000) {
          b[this.#pos++] = 0xce;
          v.setUint32(this.#pos, value);
          this.#pos += 4;
        } else {
          b[this.#pos++] = 0xcf;
          v.setBigUint64(this.#pos, BigInt(value));
          this.#pos += 8;
        }
      } else if (value >= -0x20) {
        b[this.#pos++] = value & 0xff;
      } else if (value >= -0x80) {
        b[this.#pos++] = 0xd0;
        v.setInt8(this.#pos++, value);
      } else if (value >= -0x8000) {
        b[this.#pos++] = 0xd1;
        v.setInt16(this.#pos, value);
        this.#pos += 2;
      } else if (value >= -0x80000000) {
        b[this.#pos++] = 0xd2;
        v.setInt32(this.#pos, value);
        this.#pos += 4;
      } else {
        b[this.#pos++] = 0xd3;
        v.setBigInt64(this.#pos, BigInt(value));
        this.#pos += 8;
      }
      return;
    }
    b[this.#pos++] = 0xcb;
    v.setFloat64(this.#pos, value);
    this.#pos += 8;
  }

  /** A UTF-8 string. */
  string(value: string): void {
    const length = value.length;
    if (length < 32) {
      // Short strings, mostly ASCII (keys, method names): a loop beats a native call.
      this.#ensure(1 + length);
      const b = this.#bytes;
      const start = this.#pos;
      let i = 0;
      for (; i < length; i++) {
        const code = value.charCodeAt(i);
        if (code >= 0x80) break;
        b[start + 1 + i] = code;
      }
      if (i === length) {
        b[start] = 0xa0 | length;
        this.#pos = start + 1 + length;
        return;
      }
    }
    const max = length * 3;
    this.#ensure(5 + max);
    // Write after the largest header, then move the bytes if a smaller one fits.
    const headerAt = this.#pos;
    const headerSize = max < 0x20 ? 1 : max < 0x100 ? 2 : max < 0x10000 ? 3 : 5;
    const { written } = utf8.encodeInto(value, this.#bytes.subarray(headerAt + headerSize));
    const size = written < 0x20 ? 1 : written < 0x100 ? 2 : written < 0x10000 ? 3 : 5;
    if (size !== headerSize) {
      this.#bytes.copyWithin(
        headerAt + size,
        headerAt + headerSize,
        headerAt + headerSize + written,
      );
    }
    const b = this.#bytes;
    if (size === 1) b[headerAt] = 0xa0 | written;
    else if (size === 2) {
      b[headerAt] = 0xd9;
      b[headerAt + 1] = written;
    } else if (size === 3) {
      b[headerAt] = 0xda;
      this.#view.setUint16(headerAt + 1, written);
    } else {
      b[headerAt] = 0xdb;
      this.#view.setUint32(headerAt + 1, written);
    }
    this.#pos = headerAt + size + written;
  }

  /** Raw bytes (MessagePack bin). */
  binary(value: Uint8Array): void {
    const n = value.length;
    this.#ensure(5 + n);
    const b = this.#bytes;
    if (n < 0x100) {
      b[this.#pos++] = 0xc4;
      b[this.#pos++] = n;
    } else if (n < 0x10000) {
      b[this.#pos++] = 0xc5;
      this.#view.setUint16(this.#pos, n);
      this.#pos += 2;
    } else {
      b[this.#pos++] = 0xc6;
      this.#view.setUint32(this.#pos, n);
      this.#pos += 4;
    }
    b.set(value, this.#pos);
    this.#pos += n;
  }

  /** The header of an array of `length` items. */
  arrayHeader(length: number): void {
    this.#ensure(5);
    if (length < 0x10) this.#bytes[this.#pos++] = 0x90 | length;
    else if (length < 0x10000) {
      this.#bytes[this.#pos++] = 0xdc;
      this.#view.setUint16(this.#pos, length);
      this.#pos += 2;
    } else {
      this.#bytes[this.#pos++] = 0xdd;
      this.#view.setUint32(this.#pos, length);
      this.#pos += 4;
    }
  }

  /** The header of a map of `length` entries. */
  mapHeader(length: number): void {
    this.#ensure(5);
    if (length < 0x10) this.#bytes[this.#pos++] = 0x80 | length;
    else if (length < 0x10000) {
      this.#bytes[this.#pos++] = 0xde;
      this.#view.setUint16(this.#pos, length);
      this.#pos += 2;
    } else {
      this.#bytes[this.#pos++] = 0xdf;
      this.#view.setUint32(this.#pos, length);
      this.#pos += 4;
    }
  }

  /** An extension value whose data is given whole. */
  ext(type: number, data: Uint8Array): void {
    this.#ensure(6 + data.length);
    this.#bytes[this.#pos++] = 0xc9;
    this.#view.setUint32(this.#pos, data.length);
    this.#pos += 4;
    this.#view.setInt8(this.#pos++, type);
    this.#bytes.set(data, this.#pos);
    this.#pos += data.length;
  }

  /**
   * Starts an extension value whose data is written next by the caller;
   * returns a mark for {@linkcode MsgpackWriter.endExt}.
   */
  beginExt(type: number): number {
    this.#ensure(6);
    this.#bytes[this.#pos++] = 0xc9;
    const mark = this.#pos;
    this.#pos += 4;
    this.#view.setInt8(this.#pos++, type);
    return mark;
  }

  /** Fills in the length of the extension started at `mark`. */
  endExt(mark: number): void {
    this.#view.setUint32(mark, this.#pos - mark - 5);
  }

  /** A timestamp (extension -1, 96-bit form) for `Date`. */
  timestamp(milliseconds: number): void {
    const seconds = Math.floor(milliseconds / 1000);
    const nanoseconds = (milliseconds - seconds * 1000) * 1e6;
    this.#ensure(15);
    this.#bytes[this.#pos++] = 0xc7;
    this.#bytes[this.#pos++] = 12;
    this.#view.setInt8(this.#pos++, -1);
    this.#view.setUint32(this.#pos, Math.round(nanoseconds));
    this.#view.setBigInt64(this.#pos + 4, BigInt(seconds));
    this.#pos += 12;
  }
}
