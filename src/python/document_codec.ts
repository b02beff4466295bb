/**
 * What the codecs of CPython's serializers share: each message is one
 * whole document (a pickle, an XML-RPC `<params>`), framed on its own and
 * joined with the others appended in the same tick when taken.
 *
 * @module
 */

import { DecodeError } from "../wire/codec.ts";
import { HEADER_SIZE } from "../wire/framing.ts";
import type { WireCodec } from "../wire/connection.ts";
import { UnsendableError } from "../wire/unsendable.ts";

/** A codec of whole documents; subclasses say how a value becomes one and back. */
export abstract class DocumentCodec implements WireCodec {
  readonly #maxFrameSize: number;
  readonly #what: string;
  #frames: Uint8Array[] = [];

  /** `what` names a document in errors ("a pickle"); `maxFrameSize` bounds each. */
  constructor(maxFrameSize: number, what: string) {
    this.#maxFrameSize = maxFrameSize;
    this.#what = what;
  }

  /** `value` as one document; throws `UnsendableError` if it cannot be one. */
  protected abstract write(value: unknown): Uint8Array;

  /** The value of one document; throws on anything refused. */
  protected abstract read(payload: Uint8Array): unknown;

  /** Appends `value` as one framed document. */
  append(value: unknown): void {
    const payload = this.write(value);
    if (payload.length > this.#maxFrameSize) {
      throw new UnsendableError(
        `a value of ${payload.length} bytes as ${this.#what}`,
        `, over the limit of ${this.#maxFrameSize} bytes per message (limits.maxFrameSize)`,
      );
    }
    const frame = new Uint8Array(HEADER_SIZE + payload.length);
    new DataView(frame.buffer).setInt32(0, payload.length);
    frame.set(payload, HEADER_SIZE);
    this.#frames.push(frame);
  }

  /** Bytes appended and not yet taken. */
  get pendingBytes(): number {
    return this.#frames.reduce((n, frame) => n + frame.length, 0);
  }

  /** The frames appended since the last take, joined. */
  take(): Uint8Array | undefined {
    const frames = this.#frames;
    if (frames.length === 0) return undefined;
    this.#frames = [];
    if (frames.length === 1) return frames[0];
    const out = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const frame of frames) {
      out.set(frame, at);
      at += frame.length;
    }
    return out;
  }

  /** Nothing is reused. */
  giveBack(_chunk: Uint8Array): void {}

  /** The value of one document; a refused one is a `DecodeError` saying why. */
  decode(payload: Uint8Array, _borrowed: boolean): unknown {
    try {
      return this.read(payload);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new DecodeError(`Refused ${this.#what}: ${reason}`, { cause: error });
    }
  }
}
