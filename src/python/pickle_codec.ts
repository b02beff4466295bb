/**
 * The codec of a connection whose peer is CPython with
 * `serializer='pickle'`: each frame one pickle, read by the reader that
 * runs nothing (`pickle_reader.ts`), written by `pickle_writer.ts`.
 *
 * @module
 */

import { type PickleLimits, readPickle } from "./pickle_reader.ts";
import { type PickleReplacer, writePickle } from "./pickle_writer.ts";
import type { PyProxy } from "./python_values.ts";
import { DocumentCodec } from "./document_codec.ts";

/** How one side maps proxies through pickles. */
export interface PickleProxies {
  /** A CPython proxy that arrived, as this side holds it. */
  readonly read?: (found: PyProxy) => unknown;
  /** An instance about to be sent: what goes in its place, or undefined (refused). */
  readonly write?: PickleReplacer;
}

/** Pickles in, pickles out, within the connection's limits. */
export class PickleCodec extends DocumentCodec {
  readonly #limits: PickleLimits & { readonly maxFrameSize: number };
  readonly #proxies: PickleProxies;
  readonly #globals: ReadonlySet<string>;
  readonly #view: boolean;

  /**
   * A codec refusing pickles beyond `limits`; `proxies` maps proxies in
   * and out (by default they stay `PyProxy` values, and other classes
   * cannot be sent); `globals` adds Python types whose values travel
   * (`"module.name"`) to those that do by default. `view` reads values as
   * a Deno client reads them (a client's codec), not as a server keeps them.
   */
  constructor(
    limits: PickleLimits & { readonly maxFrameSize: number },
    proxies: PickleProxies = {},
    globals: ReadonlySet<string> = new Set(),
    view = false,
  ) {
    super(limits.maxFrameSize, "a pickle");
    this.#limits = limits;
    this.#proxies = proxies;
    this.#globals = globals;
    this.#view = view;
  }

  /** `value` as one pickle. */
  protected write(value: unknown): Uint8Array {
    return writePickle(value, this.#limits.maxDepth, this.#proxies.write, this.#globals);
  }

  /** The value of one pickle, read by the reader that runs nothing. */
  protected read(payload: Uint8Array): unknown {
    return readPickle(payload, this.#limits, this.#proxies.read, this.#globals, this.#view);
  }
}
