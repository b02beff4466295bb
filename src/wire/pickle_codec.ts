/**
 * The codec of a connection whose peer is CPython with
 * `serializer='pickle'`: each frame one pickle, read by the reader that
 * runs nothing (`pickle_reader.ts`), written by `pickle_writer.ts`.
 *
 * @module
 */

import { DecodeError } from "./codec.ts";
import { HEADER_SIZE } from "./framing.ts";
import { PickleError, type PickleLimits, readPickle } from "./pickle_reader.ts";
import { type PickleReplacer, writePickle } from "./pickle_writer.ts";
import type { PyProxy } from "./python_values.ts";
import type { WireCodec } from "./connection.ts";
import { UnsendableError } from "./unsendable.ts";

/** How one side maps proxies through pickles. */
export interface PickleProxies {
  /** A CPython proxy that arrived, as this side holds it. */
  readonly read?: (found: PyProxy) => unknown;
  /** An instance about to be sent: what goes in its place, or undefined (refused). */
  readonly write?: PickleReplacer;
}

/** Pickles in, pickles out, within the connection's limits. */
export class PickleCodec implements WireCodec {
  readonly #limits: PickleLimits & { readonly maxFrameSize: number };
  readonly #proxies: PickleProxies;
  #frames: Uint8Array[] = [];

  /**
   * A codec refusing pickles beyond `limits`; `proxies` maps proxies in
   * and out (by default they stay `PyProxy` values, and other classes
   * cannot be sent).
   */
  constructor(
    limits: PickleLimits & { readonly maxFrameSize: number },
    proxies: PickleProxies = {},
  ) {
    this.#limits = limits;
    this.#proxies = proxies;
  }

  /** Appends `value` as one pickled frame. */
  append(value: unknown): void {
    const payload = writePickle(value, this.#limits.maxDepth, this.#proxies.write);
    if (payload.length > this.#limits.maxFrameSize) {
      throw new UnsendableError(
        `a value of ${payload.length} bytes once pickled`,
        `, over the limit of ${this.#limits.maxFrameSize} bytes per message (limits.maxFrameSize)`,
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

  /** The value in one pickle; a refused pickle is a `DecodeError` saying why. */
  decode(payload: Uint8Array, _borrowed: boolean): unknown {
    try {
      return readPickle(payload, this.#limits, this.#proxies.read);
    } catch (error) {
      if (error instanceof PickleError) throw new DecodeError(`Refused a pickle: ${error.message}`);
      throw new DecodeError(`Refused a pickle: ${String(error)}`, { cause: error });
    }
  }
}
