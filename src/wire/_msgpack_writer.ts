/**
 * A MessagePack writer that appends whole frames to one outgoing buffer:
 * each frame is its 4-byte length header, then the MessagePack payload,
 * written in place. The connection's writer takes everything appended so
 * far in one piece ({@linkcode MsgpackWriter.take}) and gives the buffer
 * back once it is written, so a call costs no copy and no fresh buffer.
 * Internal: `codec.ts` decides what values become; this only writes bytes.
 *
 * @module
 */

import { FrameError, HEADER_SIZE } from "./framing.ts";

const INITIAL_SIZE = 2048;
/** Buffers up to this size are kept for reuse (two at most); larger ones are the spare. */
const KEEP_LIMIT = 256 * 1024;
/** A large buffer given back is kept as the spare up to this size. */
const SPARE_LIMIT = 16 * 1024 * 1024;
const utf8 = new TextEncoder();

/** Writes MessagePack values into a growable buffer, frame after frame. */
export class MsgpackWriter {
  #bytes: Uint8Array<ArrayBuffer> = new Uint8Array(INITIAL_SIZE);
  #view: DataView<ArrayBuffer> = new DataView(this.#bytes.buffer);
  #pos = 0;
  /** Where the frame being written starts (its header). */
  #frameStart = 0;
  /** Small buffers given back, ready to be written into. */
  readonly #free: Uint8Array<ArrayBuffer>[] = [];
  /** One large buffer given back, used the next time the frames outgrow a small one. */
  #spare: Uint8Array<ArrayBuffer> | undefined;
  /** Buffers handed out by take() and not yet given back. */
  readonly #lent = new Set<ArrayBuffer>();

  /** Bytes appended and not yet taken. */
  get pending(): number {
    return this.#pos;
  }

  /** Starts a frame after those already appended: reserves its header. */
  beginFrame(): void {
    this.#frameStart = this.#pos;
    this.#ensure(HEADER_SIZE);
    this.#pos += HEADER_SIZE;
  }

  /** Fills in the header of the frame begun last; returns its payload's length. */
  endFrame(): number {
    const length = this.#pos - this.#frameStart - HEADER_SIZE;
    if (length > 0x7fffffff) {
      this.abandonFrame();
      throw new FrameError(`Frame of ${length} bytes is too large to send`);
    }
    this.#view.setInt32(this.#frameStart, length);
    return length;
  }

  /** Forgets the frame begun last (it could not be written whole). */
  abandonFrame(): void {
    this.#pos = this.#frameStart;
  }

  /**
   * Everything appended so far (whole frames), or `undefined` if nothing
   * is. The bytes stay this writer's: give them back with
   * {@linkcode MsgpackWriter.giveBack} once they are written; new frames go
   * to another buffer meanwhile.
   */
  take(): Uint8Array | undefined {
    if (this.#pos === 0) return undefined;
    const out = this.#bytes.subarray(0, this.#pos);
    this.#lent.add(out.buffer);
    this.#use(this.#free.pop() ?? new Uint8Array(INITIAL_SIZE));
    this.#pos = this.#frameStart = 0;
    return out;
  }

  /**
   * Takes back bytes from {@linkcode MsgpackWriter.take} once written: a
   * small buffer is written into again, a large one (up to 16 MiB) is kept
   * for the next large frame, whose fresh memory would cost more than
   * the reuse. Buffers this writer did not lend are ignored.
   */
  giveBack(chunk: Uint8Array): void {
    const buffer = chunk.buffer;
    if (!(buffer instanceof ArrayBuffer) || !this.#lent.delete(buffer)) return;
    if (buffer.byteLength <= KEEP_LIMIT) {
      if (this.#free.length < 2) this.#free.push(new Uint8Array(buffer));
    } else if (
      buffer.byteLength <= SPARE_LIMIT &&
      (this.#spare === undefined || this.#spare.length < buffer.byteLength)
    ) {
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
    const old = this.#bytes;
    let grown: Uint8Array<ArrayBuffer>;
    if (size > KEEP_LIMIT && this.#spare !== undefined && this.#spare.length >= needed) {
      grown = this.#spare;
      this.#spare = undefined;
    } else {
      grown = new Uint8Array(size);
    }
    grown.set(old.subarray(0, this.#pos));
    this.#use(grown);
    // The small buffer outgrown is written into again after this batch.
    if (old.length <= KEEP_LIMIT && this.#free.length < 2) this.#free.push(old);
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

  /** A float64, whatever its value (a Python float of integral value stays a float). */
  float(value: number): void {
    this.#ensure(9);
    this.#bytes[this.#pos++] = 0xcb;
    this.#view.setFloat64(this.#pos, value);
    this.#pos += 8;
  }

  /** A UTF-8 string; returns its length in bytes. */
  string(value: string): number {
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
        return length;
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
    return written;
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
