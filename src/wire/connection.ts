/**
 * One connection, as both ends use it: the socket, its framing, its codec,
 * the read loop and a close that happens once. The handshake runs over it
 * (`handshake.ts` takes it whole); then `run()` hands every message to its
 * owner (a client's `Session`, or a server's per-client connection), in
 * order, and the frames one read brought in during the same turn, so that
 * their replies share one write.
 *
 * What breaks the framing ends the connection. A whole frame whose content
 * is refused (a decode limit, malformed MessagePack) is handed to the owner
 * with its message id, when it can be read, so that only its own call
 * fails.
 *
 * @module
 */

import { Codec, type CodecLimits, type CodecPeer, DecodeError } from "./codec.ts";
import { FrameError, FrameReader, type FrameSource, FrameWriter } from "./framing.ts";
import { peekMessageId, Reply } from "./protocol.ts";

/** What the owner of a connection hears from it. */
export interface MessageHandler {
  /** A decoded message, in arrival order. */
  message(value: unknown): void;
  /**
   * A whole message whose content was refused; `id` is its message id when
   * that could be read. Throw to end the connection.
   */
  refused(error: DecodeError, id: number | undefined): void;
}

/** How the read loop ended. */
export type EndReason =
  /** The peer closed the connection between frames. */
  | { readonly kind: "eof" }
  /** This side called `close()`. */
  | { readonly kind: "closed" }
  /** The framing broke, a handler threw, or the socket failed. */
  | { readonly kind: "error"; readonly error: unknown };

/**
 * What turns messages into frames and back: MessagePack (`Codec`) unless
 * the peer speaks CPython's pickle (`PickleCodec`).
 */
export interface WireCodec extends FrameSource {
  /** Appends `value` as a frame; throws if it cannot travel (nothing is appended then). */
  append(value: unknown): void;
  /** Bytes appended and not yet taken for writing. */
  readonly pendingBytes: number;
  /** The value in a payload; throws `DecodeError`. `borrowed`: the bytes are reused later. */
  decode(payload: Uint8Array, borrowed: boolean): unknown;
}

/** A framed, encoded connection over one socket. */
export class Connection implements FrameSource {
  /** The socket. */
  readonly socket: Deno.Conn;
  /** Its frame reader, also used by the handshake before `run()`. */
  readonly reader: FrameReader;
  #codec: WireCodec;
  readonly #writer: FrameWriter;
  readonly #maxFrame: number;
  #maxBuffered = Infinity;
  #closed = false;

  /**
   * Wraps `socket`. `onWriteError` hears of a failed write (the connection
   * is closed after it).
   */
  constructor(
    socket: Deno.Conn,
    peer: CodecPeer,
    limits: CodecLimits,
    onWriteError: (error: unknown) => void,
  ) {
    this.socket = socket;
    this.reader = new FrameReader(socket);
    this.#codec = new Codec(peer, limits);
    this.#maxFrame = limits.maxFrameSize;
    this.#writer = new FrameWriter(socket, this, (error) => {
      onWriteError(error);
      this.close();
    });
  }

  /**
   * Stops reading while more than `bytes` of replies wait to be written:
   * a peer that sends without reading is throttled, and what is buffered
   * for it stays bounded.
   */
  throttleAt(bytes: number): void {
    this.#maxBuffered = bytes;
  }

  /** Bytes queued for this peer and not yet written. */
  get buffered(): number {
    return this.#codec.pendingBytes + this.#writer.inFlight;
  }

  /** Switches to another codec: only before `run()`, with nothing sent since the handshake. */
  useCodec(codec: WireCodec): void {
    this.#codec = codec;
  }

  /** For the writer: the frames appended so far. */
  take(): Uint8Array | undefined {
    return this.#codec.take();
  }

  /** For the writer: bytes from `take()`, written. */
  giveBack(chunk: Uint8Array): void {
    this.#codec.giveBack(chunk);
  }

  /** True once closed, by either side. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Encodes `value` and queues it; throws the codec's `UnsendableError` if it cannot travel. */
  send(value: unknown): void {
    if (this.#closed) return;
    this.#codec.append(value);
    this.#writer.kick();
  }

  /** Resolves once everything queued so far was written (or writing failed). */
  flush(): Promise<void> {
    return this.#writer.flush();
  }

  /**
   * The last word to a peer that broke the rules: message id 0, a failure
   * saying why; then it is written, within a second.
   */
  async notice(message: string): Promise<void> {
    if (this.#closed) return;
    this.send([0, Reply.Failure, [message, undefined]]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.flush(),
      new Promise((resolve) => timer = setTimeout(resolve, 1000)),
    ]);
    clearTimeout(timer);
  }

  /** Reads and hands on messages until the connection ends; says how it ended. */
  async run(handler: MessageHandler): Promise<EndReason> {
    const max = this.#maxFrame;
    try {
      while (!this.#closed) {
        const payload = await this.reader.readView(max);
        if (payload === null) return { kind: "eof" };
        this.#deliver(payload, this.reader.isBorrowed(payload), handler);
        let next: Uint8Array | undefined;
        while (!this.#closed && (next = this.reader.takeBuffered(max)) !== undefined) {
          this.#deliver(next, true, handler);
        }
        // A peer whose replies pile up is not read from until they drain.
        while (!this.#closed && this.buffered > this.#maxBuffered) await this.#writer.flush();
      }
      return { kind: "closed" };
    } catch (error) {
      return this.#closed && !(error instanceof FrameError) && !(error instanceof DecodeError)
        ? { kind: "closed" }
        : { kind: "error", error };
    }
  }

  /** Decodes and hands on one message; a borrowed payload is read before this returns. */
  #deliver(payload: Uint8Array, borrowed: boolean, handler: MessageHandler): void {
    let value: unknown;
    try {
      value = this.#codec.decode(payload, borrowed);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      handler.refused(error, peekMessageId(payload));
      return;
    }
    handler.message(value);
  }

  /** Closes the socket, once; a pending read ends the loop. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.socket.close();
    } catch { /* closed already */ }
  }

  /** Lets the process exit while this connection is idle (or not). */
  setReferenced(referenced: boolean): void {
    if (this.#closed) return;
    try {
      if (referenced) this.socket.ref();
      else this.socket.unref();
    } catch { /* closed */ }
  }
}
