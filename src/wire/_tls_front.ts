/**
 * TLS served behind a plain TCP front. Deno cannot release a `TlsConn`
 * closed while its TLS handshake waits for the peer (seen in Deno 2.9: the
 * socket stays open and the peer never sees the close), so peers that
 * connect and never send a ClientHello would hold a descriptor each, for
 * as long as they like. Here the public socket is plain TCP, which closes
 * for certain; each accepted connection is relayed to a TLS listener on
 * loopback, and the `TlsConn` the server talks through is that relay's
 * other end. Closing it closes both plain sockets, which ends the TLS
 * handshake with an end of file, so everything is released at
 * `handshakeTimeout` whatever the peer does.
 *
 * @module
 */

import { writeAll } from "../_bytes.ts";

/** What a server needs of a listener: connections, and a way to stop. */
export interface Acceptor {
  accept(): Promise<Deno.Conn>;
  close(): void;
}

/** The TLS side of a relayed connection, closing the relay with it. */
class RelayedConn {
  readonly #tls: Deno.TlsConn;
  readonly #sockets: readonly Deno.Conn[];
  #closed = false;

  constructor(tls: Deno.TlsConn, sockets: readonly Deno.Conn[]) {
    this.#tls = tls;
    this.#sockets = sockets;
  }

  read(buffer: Uint8Array): Promise<number | null> {
    return this.#tls.read(buffer);
  }

  write(data: Uint8Array): Promise<number> {
    return this.#tls.write(data);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const conn of [...this.#sockets, this.#tls]) {
      try {
        conn.close();
      } catch { /* closed already */ }
    }
  }
}

/** Copies `from` into `to` until either ends; then `onEnd`. */
async function relay(from: Deno.Conn, to: Deno.Conn, onEnd: () => void): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    while (true) {
      const n = await from.read(buffer);
      if (n === null) break;
      await writeAll(to, buffer.subarray(0, n));
    }
  } catch { /* either side closed */ }
  onEnd();
}

/** A TLS listener on `hostname:port` that always lets go of silent peers. */
export class TlsFront implements Acceptor {
  readonly #front: Deno.TcpListener;
  readonly #inner: Deno.TlsListener;
  readonly #innerPort: number;
  /** Inner connections accepted but not yet claimed, by the relay's local port. */
  readonly #arrived = new Map<number, Deno.TlsConn>();
  readonly #waiting = new Map<number, (conn: Deno.TlsConn) => void>();
  #closed = false;

  /**
   * Listens on `hostname:port` (TCP) and on `127.0.0.1:innerPort` (TLS,
   * `0` picks one), which only this front's own relays may use.
   */
  constructor(
    hostname: string,
    port: number,
    innerPort: number,
    tls: { cert: string; key: string },
  ) {
    this.#inner = Deno.listenTls({ hostname: "127.0.0.1", port: innerPort, ...tls });
    try {
      this.#front = Deno.listen({ hostname, port });
    } catch (error) {
      this.#inner.close();
      throw error;
    }
    this.#innerPort = (this.#inner.addr as Deno.NetAddr).port;
    this.#acceptInner();
  }

  /** The public address. */
  get addr(): Deno.NetAddr {
    return this.#front.addr;
  }

  async accept(): Promise<Deno.Conn> {
    while (true) {
      const outer = await this.#front.accept();
      outer.setNoDelay(true);
      let inner: Deno.TcpConn | undefined;
      try {
        inner = await Deno.connect({ hostname: "127.0.0.1", port: this.#innerPort });
        inner.setNoDelay(true);
        const tls = await this.#claim((inner.localAddr as Deno.NetAddr).port);
        const conn = new RelayedConn(tls, [outer, inner]);
        const end = (): void => conn.close();
        relay(outer, inner, end);
        relay(inner, outer, end);
        return conn as unknown as Deno.Conn;
      } catch {
        // The relay could not be set up (closing down, or out of descriptors).
        for (const conn of [outer, inner]) {
          try {
            conn?.close();
          } catch { /* closed */ }
        }
        if (this.#closed) throw new Deno.errors.BadResource("The TLS listener is closed");
      }
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const listener of [this.#front, this.#inner]) {
      try {
        listener.close();
      } catch { /* closed */ }
    }
    for (const conn of this.#arrived.values()) conn.close();
    this.#arrived.clear();
  }

  /** The inner connection whose peer is our relay socket on `port`. */
  #claim(port: number): Promise<Deno.TlsConn> {
    const arrived = this.#arrived.get(port);
    if (arrived !== undefined) {
      this.#arrived.delete(port);
      return Promise.resolve(arrived);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(port);
        reject(new Error("The TLS relay was not accepted"));
      }, 5000);
      this.#waiting.set(port, (conn) => {
        clearTimeout(timer);
        resolve(conn);
      });
    });
  }

  async #acceptInner(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.TlsConn;
      try {
        conn = await this.#inner.accept();
      } catch {
        if (this.#closed) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      const port = (conn.remoteAddr as Deno.NetAddr).port;
      const waiter = this.#waiting.get(port);
      if (waiter !== undefined) {
        this.#waiting.delete(port);
        waiter(conn);
      } else if (this.#arrived.size < 1024) {
        // Its relay's accept() has not asked yet; a stranger's is never claimed.
        this.#arrived.set(port, conn);
        setTimeout(() => {
          if (this.#arrived.get(port) === conn) {
            this.#arrived.delete(port);
            conn.close();
          }
        }, 5000);
      } else {
        conn.close();
      }
    }
  }
}
