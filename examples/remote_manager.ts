/**
 * CPython's "remote manager" example, over TCP: a server in one terminal,
 * clients in others.
 *
 *     deno run --allow-net examples/remote_manager.ts serve
 *     deno run --allow-net examples/remote_manager.ts put "hello"
 *     deno run --allow-net examples/remote_manager.ts get
 *     deno run --allow-net examples/remote_manager.ts stop
 *
 * Add `--port=N` to any of them to use another port than 50000. The server
 * runs in its own process (`getServer().serveForever()`), as in Python's
 * docs; `get` waits for an item without blocking other clients.
 *
 * Across machines, listen on a reachable hostname, keep the authkey secret,
 * and add `tls: { cert, key }` (server) and `tls: { caCerts }` (clients) so
 * the traffic is encrypted too.
 */
import { BaseManager, type BaseProxy } from "../mod.ts";

/** A first-in first-out queue whose get() waits for an item. */
export class MessageQueue {
  #items: unknown[] = [];
  #waiting: ((item: unknown) => void)[] = [];
  put(item: unknown): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(item);
    else this.#items.push(item);
  }
  get(): unknown {
    if (this.#items.length > 0) return this.#items.shift();
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
  size(): number {
    return this.#items.length;
  }
}

const queue = new MessageQueue();

/** The manager class both sides use. */
export class QueueManager extends BaseManager {
  declare getQueue: () => Promise<BaseProxy & RemoteQueue>;
}
QueueManager.register("getQueue", () => queue);

interface RemoteQueue {
  put(item: unknown): Promise<void>;
  get(): Promise<unknown>;
  size(): Promise<number>;
}

const AUTHKEY = new TextEncoder().encode("abracadabra");

function options(): { address: { hostname: string; port: number }; authkey: Uint8Array } {
  const flag = Deno.args.find((arg) => arg.startsWith("--port="));
  const port = flag === undefined ? 50000 : Number(flag.slice("--port=".length));
  return { address: { hostname: "127.0.0.1", port }, authkey: AUTHKEY };
}

async function main(): Promise<void> {
  const [command, ...rest] = Deno.args.filter((arg) => !arg.startsWith("--"));
  if (command === "serve") {
    const server = new QueueManager(options()).getServer();
    const { port } = server.address as { port: number };
    console.log(`serving on 127.0.0.1:${port}`);
    await server.serveForever();
    console.log("server stopped");
    return;
  }
  await using manager = await new QueueManager(options()).connect();
  if (command === "stop") {
    await manager.shutdown();
    console.log("asked the server to stop");
    return;
  }
  await using remote = await manager.getQueue();
  if (command === "put") {
    await remote.put(rest.join(" ") || "hello");
    console.log(`put; ${await remote.size()} item(s) waiting`);
  } else if (command === "get") {
    console.log(await remote.get());
  } else {
    console.log("usage: remote_manager.ts serve|put <text>|get|stop [--port=N]");
  }
}

if (import.meta.main) await main();
