/**
 * A counter shared by this process and four worker processes.
 *
 *     deno task demo
 *     (or: deno run --allow-run --allow-read --allow-write --allow-net examples/quickstart.ts)
 *
 * The main process starts a manager (its server is a sandboxed child
 * process), creates a shared Counter, and starts workers with
 * Deno.Command. Each worker gets the proxy as a string and the authkey
 * over stdin, and needs permission for nothing but the manager's socket.
 */
import {
  BaseManager,
  defaultAuthkey,
  proxyFromString,
  proxyToString,
  type Remote,
  shared,
} from "../mod.ts";

@shared()
export class Counter {
  #value = 0;
  increment(by = 1): number {
    return (this.#value += by);
  }
  value(): number {
    return this.#value;
  }
}

const WORKERS = 4;
const INCREMENTS = 250;

async function main(): Promise<void> {
  await using manager = await new BaseManager({ modules: [import.meta.url] }).start();
  const counter = await manager.create(Counter);
  console.log(`manager serving at ${manager.address} (server pid ${manager.pid})`);

  const socket = manager.address as string;
  const workers = await Promise.all(Array.from({ length: WORKERS }, async (_, n) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        `--allow-read=${socket}`,
        `--allow-write=${socket}`,
        `--allow-net=unix:${socket}`,
        import.meta.filename!,
        "worker",
        String(n),
      ],
      stdin: "piped",
    }).spawn();
    // The proxy string carries no secret; the authkey travels separately.
    const message = { proxy: await proxyToString(counter), authkey: Array.from(defaultAuthkey()) };
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(JSON.stringify(message)));
    await writer.close();
    return child.status;
  }));
  if (!workers.every((status) => status.success)) throw new Error("a worker failed");

  console.log(`total: ${await counter.value()} (expected ${WORKERS * INCREMENTS})`);
  await counter[Symbol.asyncDispose]();
  console.log(`objects left on the server: ${await manager.numberOfObjects()}`);
}

async function worker(n: string): Promise<void> {
  const { proxy, authkey } = JSON.parse(await new Response(Deno.stdin.readable).text());
  await using counter = await proxyFromString<Remote<Counter>>(proxy, {
    authkey: Uint8Array.from(authkey),
  });
  let last = 0;
  for (let i = 0; i < INCREMENTS; i++) last = await counter.increment();
  console.log(`worker ${n} done; it saw the counter at ${last}`);
}

if (import.meta.main) {
  if (Deno.args[0] === "worker") await worker(Deno.args[1] ?? "?");
  else await main();
}
