/**
 * Length-prefixed frames, byte-compatible with CPython's
 * `multiprocessing.connection`: a 4-byte big-endian signed length, or -1
 * followed by an 8-byte unsigned length for payloads over 2 GiB.
 *
 * @module
 */

import { writeAll } from "../_bytes.ts";

/** The largest frame accepted unless configured otherwise: 64 MiB. */
export const DEFAULT_MAX_FRAME = 64 * 1024 * 1024;

/** Bytes of the short length header. */
export const HEADER_SIZE = 4;

/** Thrown for frames that break the framing rules; the connection is unusable after it. */
export class FrameError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

/** `payload` with its length header in front. */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  new DataView(out.buffer).setInt32(0, payload.length);
  out.set(payload, HEADER_SIZE);
  return out;
}

/** Writes the length header into the first 4 bytes of a buffer that reserved them. */
export function sealFrame(buffer: Uint8Array): Uint8Array {
  const length = buffer.length - HEADER_SIZE;
  if (length > 0x7fffffff) throw new FrameError(`Frame of ${length} bytes is too large to send`);
  new DataView(buffer.buffer, buffer.byteOffset, HEADER_SIZE).setInt32(0, length);
  return buffer;
}

const READ_CHUNK = 16 * 1024;

/** Reads whole frames from a connection, one at a time, in order. */
export class FrameReader {
  readonly #conn: Deno.Conn;
  #buffer = new Uint8Array(READ_CHUNK);
  #start = 0;
  #end = 0;

  /** Wraps a connection; nothing is read until {@linkcode FrameReader.read}. */
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /**
   * The next frame's payload, or `null` at a clean end of stream (the peer
   * closed between frames). A length over `maxSize` is refused before any
   * of the payload is read or allocated. The payload is the caller's.
   */
  async read(maxSize: number): Promise<Uint8Array | null> {
    const payload = await this.readView(maxSize);
    return payload !== null && this.isBorrowed(payload) ? payload.slice() : payload;
  }

  /**
   * Like {@linkcode FrameReader.read}, but a frame that fits the read
   * buffer is returned as a view into it, valid until the next call on this
   * reader ({@linkcode FrameReader.isBorrowed} says which): no copy, no
   * fresh buffer per frame.
   */
  async readView(maxSize: number): Promise<Uint8Array | null> {
    // A frame already buffered whole needs no wait for more bytes.
    const buffered = this.takeBuffered(maxSize);
    if (buffered !== undefined) return buffered;
    if (!(await this.#fill(HEADER_SIZE, true))) return null;
    let size = this.#int32At(this.#start);
    this.#start += HEADER_SIZE;
    if (size === -1) {
      await this.#fill(8, false);
      const big = new DataView(this.#buffer.buffer, this.#start).getBigUint64(0);
      this.#start += 8;
      size = big > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(big);
    } else if (size < 0) {
      throw new FrameError(`Invalid frame length ${size}`);
    }
    if (size > maxSize) {
      throw new FrameError(`Frame of ${size} bytes exceeds the limit of ${maxSize} bytes`);
    }
    const available = this.#end - this.#start;
    if (size <= available) {
      const payload = this.#buffer.subarray(this.#start, this.#start + size);
      this.#start += size;
      return payload;
    }
    if (size <= this.#buffer.length) {
      // It fits the read buffer once the bytes already read move to its start.
      await this.#fill(size, false);
      const payload = this.#buffer.subarray(this.#start, this.#start + size);
      this.#start += size;
      return payload;
    }
    // A frame larger than the read buffer gets its own buffer, read into directly.
    const payload = new Uint8Array(size);
    payload.set(this.#buffer.subarray(this.#start, this.#end));
    this.#start = this.#end = 0;
    let filled = available;
    while (filled < size) {
      const n = await this.#conn.read(payload.subarray(filled));
      if (n === null) throw new FrameError("Connection closed in the middle of a frame");
      filled += n;
    }
    return payload;
  }

  /**
   * The first byte of the next frame's payload, without consuming
   * anything: how a server tells a MessagePack peer from a pickle one.
   * `null` at a clean end of stream, -1 for an empty or refused frame.
   */
  async peekPayloadByte(maxSize: number): Promise<number | null> {
    if (!(await this.#fill(HEADER_SIZE, true))) return null;
    const size = this.#int32At(this.#start);
    if (size <= 0 || size > maxSize) return -1;
    await this.#fill(HEADER_SIZE + 1, false);
    return this.#buffer[this.#start + HEADER_SIZE]!;
  }

  /** Whether `payload` (from this reader) is a view into its read buffer. */
  isBorrowed(payload: Uint8Array): boolean {
    return payload.buffer === this.#buffer.buffer;
  }

  /**
   * The next frame's payload if it is already buffered whole, as a view
   * into the read buffer valid until the next call on this reader; else
   * `undefined` with nothing consumed. Lets a reader handle every frame one
   * read brought in the same turn, so their replies share one write. Frames
   * that break a rule are left for {@linkcode FrameReader.read} to refuse.
   */
  takeBuffered(maxSize: number): Uint8Array | undefined {
    const available = this.#end - this.#start;
    if (available < HEADER_SIZE) return undefined;
    const size = this.#int32At(this.#start);
    if (size < 0 || size > maxSize || size > available - HEADER_SIZE) return undefined;
    const start = this.#start + HEADER_SIZE;
    this.#start = start + size;
    return this.#buffer.subarray(start, start + size);
  }

  /** The big-endian signed 32-bit length at `offset` of the buffer (no view allocated per frame). */
  #int32At(offset: number): number {
    const b = this.#buffer;
    return (b[offset]! << 24) | (b[offset + 1]! << 16) | (b[offset + 2]! << 8) | b[offset + 3]!;
  }

  /** Ensures `count` bytes are buffered; false at a clean end of stream. */
  async #fill(count: number, eofAllowed: boolean): Promise<boolean> {
    while (this.#end - this.#start < count) {
      if (this.#start > 0) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      if (this.#end === this.#buffer.length) {
        const grown = new Uint8Array(this.#buffer.length * 2);
        grown.set(this.#buffer);
        this.#buffer = grown;
      }
      const n = await this.#conn.read(this.#buffer.subarray(this.#end));
      if (n === null) {
        if (eofAllowed && this.#end === this.#start) return false;
        throw new FrameError("Connection closed in the middle of a frame");
      }
      this.#end += n;
    }
    return true;
  }
}

/**
 * Where a {@linkcode FrameWriter} takes its bytes: whole frames appended
 * in place (a connection's codec), taken in one piece and given back once
 * written.
 */
export interface FrameSource {
  /** Everything appended so far, or `undefined` if nothing is. */
  take(): Uint8Array | undefined;
  /** Bytes from `take()`, written: their buffer may be written into again. */
  giveBack(chunk: Uint8Array): void;
}

/**
 * Writes what a {@linkcode FrameSource} holds: everything appended in one
 * tick goes out in a single write, so a burst of calls costs one system
 * call and no copy.
 */
export class FrameWriter {
  readonly #conn: Deno.Conn;
  readonly #source: FrameSource;
  readonly #onError: (error: unknown) => void;
  #writing = false;
  #failed = false;
  #inFlight = 0;
  #drained: Promise<void> = Promise.resolve();

  /** `onError` hears of the first failed write; nothing is written after it. */
  constructor(conn: Deno.Conn, source: FrameSource, onError: (error: unknown) => void) {
    this.#conn = conn;
    this.#source = source;
    this.#onError = onError;
  }

  /** Says frames were appended to the source: they are written once this tick's code is done. */
  kick(): void {
    if (this.#writing || this.#failed) return;
    this.#writing = true;
    this.#drained = Promise.resolve().then(() => this.#drain());
  }

  /** Resolves once everything appended so far was written (or writing failed). */
  flush(): Promise<void> {
    return this.#drained;
  }

  /** Bytes handed to the socket and not yet written. */
  get inFlight(): number {
    return this.#inFlight;
  }

  async #drain(): Promise<void> {
    try {
      let chunk: Uint8Array | undefined;
      while ((chunk = this.#source.take()) !== undefined) {
        this.#inFlight = chunk.length;
        await writeAll(this.#conn, chunk);
        this.#inFlight = 0;
        this.#source.giveBack(chunk);
      }
    } catch (error) {
      this.#failed = true;
      this.#inFlight = 0;
      this.#onError(error);
    } finally {
      this.#writing = false;
    }
  }
}

/** Writes one frame and waits until it is handed to the OS (used by the handshake). */
export async function writeFrame(conn: Deno.Conn, payload: Uint8Array): Promise<void> {
  await writeAll(conn, frame(payload));
}
