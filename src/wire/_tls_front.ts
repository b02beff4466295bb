/**
 * TLS served over plain TCP sockets that this process owns. Deno cannot
 * release a socket whose TLS handshake waits for the peer: `Deno.listenTls`
 * and `node:tls` servers alike keep the descriptor of a peer that connects
 * and never sends a ClientHello, even after `close()`, until that peer
 * leaves (seen in Deno 2.9). So the TLS engine never owns a socket here:
 * each connection is accepted as plain TCP, which closes for certain, and
 * TLS runs over it in memory (`node:tls`'s `TLSSocket` over a stream whose
 * bytes this front moves to and from the socket). Closing the connection
 * closes the socket, so everything is released at `handshakeTimeout`
 * whatever the peer does, and no other port is open: no local process can
 * reach a TLS engine except through the public port.
 *
 * `node:tls` is loaded (about 120 ms) only by a process that serves TLS.
 *
 * @module
 */

import type { SecureContext, TLSSocket } from "node:tls";
import type { Duplex } from "node:stream";
import { writeAll } from "../_bytes.ts";

/** What a server needs of a listener: connections, and a way to stop. */
export interface Acceptor {
  accept(): Promise<Deno.Conn>;
  close(): void;
}

interface NodeModules {
  readonly tls: typeof import("node:tls");
  readonly stream: typeof import("node:stream");
  readonly crypto: typeof import("node:crypto");
}

/** Node's built-in modules, loaded on first use without an `await`. */
function nodeModules(): NodeModules {
  const process = (globalThis as {
    process?: { getBuiltinModule?(name: string): unknown };
  }).process;
  if (process?.getBuiltinModule === undefined) {
    throw new Error("Serving TLS needs Deno's Node.js built-in modules (node:tls)");
  }
  return {
    tls: process.getBuiltinModule("node:tls") as NodeModules["tls"],
    stream: process.getBuiltinModule("node:stream") as NodeModules["stream"],
    crypto: process.getBuiltinModule("node:crypto") as NodeModules["crypto"],
  };
}

/** The server's certificate and key, checked now rather than at a client's handshake. */
function secureContext(modules: NodeModules, tls: { cert: string; key: string }): SecureContext {
  let certificate: InstanceType<NodeModules["crypto"]["X509Certificate"]>;
  try {
    certificate = new modules.crypto.X509Certificate(tls.cert);
  } catch (error) {
    throw new Deno.errors.InvalidData(
      `The tls option's cert is not a PEM certificate (${(error as Error).message})`,
    );
  }
  let key: ReturnType<NodeModules["crypto"]["createPrivateKey"]>;
  try {
    key = modules.crypto.createPrivateKey(tls.key);
  } catch (error) {
    throw new Deno.errors.InvalidData(
      `The tls option's key is not a PEM private key (${(error as Error).message})`,
    );
  }
  if (!certificate.checkPrivateKey(key)) {
    throw new Deno.errors.InvalidData(
      "The tls option's key does not belong to its cert: give the key the certificate was made for",
    );
  }
  return modules.tls.createSecureContext({ cert: tls.cert, key: tls.key });
}

/** Most bytes read from a peer and not yet taken by `read()`; past it the socket is not read. */
const HIGH_WATER = 256 * 1024;

/**
 * The server's side of one TLS connection, as a `Deno.Conn` that reads and
 * writes plain text. The TCP socket is its own: `close()` closes it at once.
 */
class TlsServerConn {
  readonly #tcp: Deno.TcpConn;
  readonly #tls: TLSSocket;
  readonly #wire: Duplex;
  /** Plain text received and not yet read, and the part of the first already taken. */
  readonly #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #ended = false;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;
  /** Resolves the socket reader's wait for the TLS engine to want more. */
  #wanted: (() => void) | undefined;
  #closed = false;

  constructor(tcp: Deno.TcpConn, context: SecureContext, modules: NodeModules) {
    this.#tcp = tcp;
    this.#wire = new modules.stream.Duplex({
      read: () => {
        const wanted = this.#wanted;
        this.#wanted = undefined;
        wanted?.();
      },
      write: (chunk: Uint8Array, _encoding, done) => {
        writeAll(tcp, chunk).then(() => done(), (error) => done(error));
      },
      destroy: (error, done) => {
        this.close();
        done(error);
      },
    });
    this.#tls = new modules.tls.TLSSocket(this.#wire, { isServer: true, secureContext: context });
    this.#tls.on("data", (chunk: Uint8Array) => {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      if (this.#pendingBytes > HIGH_WATER) this.#tls.pause();
      this.#signal();
    });
    const end = (): void => {
      this.#ended = true;
      this.#signal();
    };
    this.#tls.on("end", end);
    this.#tls.on("close", end);
    this.#tls.on("error", (error: Error) => {
      this.#failure ??= error;
      this.#signal();
    });
    this.#pump();
  }

  /** Moves the socket's bytes into the TLS engine, as fast as it takes them. */
  async #pump(): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (!this.#closed) {
        const n = await this.#tcp.read(buffer);
        if (n === null) break;
        if (!this.#wire.push(buffer.slice(0, n))) {
          await new Promise<void>((resolve) => this.#wanted = resolve);
        }
      }
    } catch { /* closed */ }
    if (!this.#closed) this.#wire.push(null);
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#pending.length === 0) {
      if (this.#closed || this.#ended) return null;
      if (this.#failure !== undefined) throw this.#failure;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    // As much as fits: TLS records arrive 16 KiB at a time.
    let n = 0;
    while (n < buffer.length && this.#pending.length > 0) {
      const first = this.#pending[0]!;
      const take = Math.min(first.length, buffer.length - n);
      buffer.set(take === first.length ? first : first.subarray(0, take), n);
      n += take;
      if (take === first.length) this.#pending.shift();
      else this.#pending[0] = first.subarray(take);
    }
    this.#pendingBytes -= n;
    if (this.#pendingBytes <= HIGH_WATER / 2 && this.#tls.isPaused()) this.#tls.resume();
    return n;
  }

  write(data: Uint8Array): Promise<number> {
    if (this.#closed) {
      return Promise.reject(new Deno.errors.BadResource("The connection is closed"));
    }
    // A copy: the engine may still hold the chunk after the caller reuses its buffer.
    const chunk = data.slice();
    return new Promise((resolve, reject) => {
      this.#tls.write(chunk, (error) => error ? reject(error) : resolve(data.length));
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#tcp.close();
    } catch { /* closed already */ }
    this.#tls.destroy();
    this.#wire.destroy();
    this.#signal();
    const wanted = this.#wanted;
    this.#wanted = undefined;
    wanted?.();
  }
}

/** A TLS listener on `hostname:port` that always lets go of silent peers. */
export class TlsFront implements Acceptor {
  readonly #listener: Deno.TcpListener;
  readonly #modules: NodeModules;
  readonly #context: SecureContext;

  /** Listens on `hostname:port`; throws if `tls` is not a certificate and its key. */
  constructor(hostname: string, port: number, tls: { cert: string; key: string }) {
    this.#modules = nodeModules();
    this.#context = secureContext(this.#modules, tls);
    this.#listener = Deno.listen({ hostname, port });
  }

  /** The public address. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  async accept(): Promise<Deno.Conn> {
    const tcp = await this.#listener.accept();
    tcp.setNoDelay(true);
    return new TlsServerConn(tcp, this.#context, this.#modules) as unknown as Deno.Conn;
  }

  close(): void {
    this.#listener.close();
  }
}
