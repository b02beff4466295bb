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
   * of the payload is read or allocated.
   */
  async read(maxSize: number): Promise<Uint8Array | null> {
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
      const payload = this.#buffer.slice(this.#start, this.#start + size);
      this.#start += size;
      return payload;
    }
    // A frame larger than what is buffered gets its own buffer, read into directly.
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
   * The next frame's payload if it is already buffered whole, else
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
    return this.#buffer.slice(start, start + size);
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

/** Frames queued together are joined into one write up to this size. */
const COALESCE_LIMIT = 64 * 1024;

/**
 * Queues sealed frames and writes everything queued in one tick with a
 * single write, so a burst of calls costs one system call. A frame larger
 * than {@linkcode COALESCE_LIMIT} is written on its own, not copied.
 */
export class FrameWriter {
  readonly #conn: Deno.Conn;
  readonly #onError: (error: unknown) => void;
  readonly #onWritten: (frame: Uint8Array) => void;
  #queue: Uint8Array[] = [];
  #writing = false;
  #failed = false;
  #drained: Promise<void> = Promise.resolve();

  /**
   * `onError` hears of the first failed write; later frames are dropped.
   * `onWritten` gets each frame back once the writer is done with it (its
   * bytes were written or copied), so its buffer can be reused.
   */
  constructor(
    conn: Deno.Conn,
    onError: (error: unknown) => void,
    onWritten: (frame: Uint8Array) => void = () => {},
  ) {
    this.#conn = conn;
    this.#onError = onError;
    this.#onWritten = onWritten;
  }

  /** Queues a sealed frame (header included) for writing. */
  send(sealed: Uint8Array): void {
    if (this.#failed) return;
    this.#queue.push(sealed);
    if (!this.#writing) {
      this.#writing = true;
      this.#drained = Promise.resolve().then(() => this.#drain());
    }
  }

  /** Resolves once everything queued so far was written (or writing failed). */
  flush(): Promise<void> {
    return this.#drained;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const queue = this.#queue;
        this.#queue = [];
        let i = 0;
        while (i < queue.length) {
          // A run of small frames joined into one write, or one large frame alone.
          let end = i + 1;
          let size = queue[i]!.length;
          while (end < queue.length && size + queue[end]!.length <= COALESCE_LIMIT) {
            size += queue[end++]!.length;
          }
          const alone = end === i + 1;
          const chunk = alone ? queue[i]! : this.#join(queue, i, end, size);
          await writeAll(this.#conn, chunk);
          if (alone) this.#onWritten(chunk);
          i = end;
        }
      }
    } catch (error) {
      this.#failed = true;
      this.#queue = [];
      this.#onError(error);
    } finally {
      this.#writing = false;
    }
  }

  #join(queue: Uint8Array[], start: number, end: number, size: number): Uint8Array {
    const chunk = new Uint8Array(size);
    let offset = 0;
    for (let i = start; i < end; i++) {
      chunk.set(queue[i]!, offset);
      offset += queue[i]!.length;
      this.#onWritten(queue[i]!);
    }
    return chunk;
  }
}

/** Writes one frame and waits until it is handed to the OS (used by the handshake). */
export async function writeFrame(conn: Deno.Conn, payload: Uint8Array): Promise<void> {
  await writeAll(conn, frame(payload));
}
