/**
 * CPython's "remote manager" example, over TCP: a server in one terminal,
 * clients in others.
 *
 *     deno run --allow-net examples/remote_manager.ts serve
 *     deno run --allow-net examples/remote_manager.ts put "hello"
 *     deno run --allow-net examples/remote_manager.ts get
 *     deno run --allow-net examples/remote_manager.ts stop
 *
 * Add `--port=N` to any of them to use another port than 50000, and
 * `--host=H` to use another host than 127.0.0.1 (`--host=` serves on every
 * interface, as the Python docs' `('', 50000)`). The server runs in its own
 * process (`getServer().serveForever()`), as in Python's docs; `get` waits
 * for an item without blocking other clients. The Python docs' own client
 * works with it unchanged (but for the host it connects to):
 *
 *     from multiprocessing.managers import BaseManager
 *     class QueueManager(BaseManager): pass
 *     QueueManager.register('get_queue')
 *     m = QueueManager(address=('127.0.0.1', 50000), authkey=b'abracadabra')
 *     m.connect()
 *     queue = m.get_queue()
 *     queue.put('hello')
 *
 * Across machines, listen on a reachable hostname, keep the authkey secret,
 * and add `tls: { cert, key }` (server) and `tls: { caCerts }` (clients) so
 * the traffic is encrypted too.
 */
import { BaseManager, type QueueProxy } from "../mod.ts";
import { Queue } from "../src/sync/standard.ts"; // "@multiprocess/managers/standard"

const queue = new Queue();

/**
 * The manager class both sides use: `get_queue` is the Python docs' name,
 * so their client (`QueueManager.register('get_queue')`) works unchanged.
 */
export class QueueManager extends BaseManager {
  declare get_queue: () => Promise<QueueProxy<string>>;
}
QueueManager.register("get_queue", () => queue);

const AUTHKEY = new TextEncoder().encode("abracadabra");

function options(): { address: { hostname: string; port: number }; authkey: Uint8Array } {
  const flag = (name: string): string | undefined =>
    Deno.args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
  const port = Number(flag("port") ?? 50000);
  return { address: { hostname: flag("host") ?? "127.0.0.1", port }, authkey: AUTHKEY };
}

async function main(): Promise<void> {
  const [command, ...rest] = Deno.args.filter((arg) => !arg.startsWith("--"));
  if (command === "serve") {
    const server = new QueueManager(options()).getServer();
    const { hostname, port } = server.address as { hostname: string; port: number };
    console.log(`serving on ${hostname}:${port}`);
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
  await using remote = await manager.get_queue();
  if (command === "put") {
    await remote.put(rest.join(" ") || "hello");
    console.log(`put; ${await remote.qsize()} item(s) waiting`);
  } else if (command === "get") {
    console.log(await remote.get());
  } else {
    console.log("usage: remote_manager.ts serve|put <text>|get|stop [--port=N] [--host=H]");
  }
}

if (import.meta.main) await main();
