/** Functions the Process tests run in worker processes. */
import type { DictProxy, QueueProxy } from "../../mod.ts";

/** Puts n² on the queue. */
export async function square(queue: QueueProxy<number>, n: number): Promise<void> {
  await queue.put(n * n);
}

/** Records what it received: plain data and a proxy's type. */
export async function record(
  results: DictProxy<string, unknown>,
  data: { list: number[]; when: Date },
  label: string,
): Promise<void> {
  await results.set(label, {
    sum: data.list.reduce((a, b) => a + b, 0),
    year: data.when.getUTCFullYear(),
  });
}

/** Always fails. */
export function fail(): never {
  throw new RangeError("the target failed on purpose");
}

/** Reads an environment variable the worker was not granted. */
export function readHome(): void {
  console.log(Deno.env.get("HOME"));
}

/** Tells the queue it started, then never returns. */
export async function hang(queue: QueueProxy<string>): Promise<void> {
  await queue.put("started");
  await new Promise(() => setInterval(() => {}, 1000));
}

/**
 * Tries what a worker was not granted, each in turn: reading `file` and a
 * system file, writing beside `file`, running a program, listening,
 * reading the environment and the system. Records how each ended under
 * its name in `results`: "allowed", or the error's name and message.
 */
export async function tryWalls(results: DictProxy<string, string>, file: string): Promise<void> {
  const attempts: Record<string, () => unknown> = {
    "read /etc/hostname": () => Deno.readTextFile("/etc/hostname"),
    "read the test's file": () => Deno.readTextFile(file),
    "write beside it": () => Deno.writeTextFile(`${file}.written`, "x"),
    "run a program": () => new Deno.Command("true").output(),
    "listen on a port": () => Deno.listen({ hostname: "127.0.0.1", port: 0 }).close(),
    "read an environment variable": () => Deno.env.get("PATH"),
    "read the hostname": () => Deno.hostname(),
  };
  for (const [what, attempt] of Object.entries(attempts)) {
    try {
      await attempt();
      await results.set(what, "allowed");
    } catch (error) {
      await results.set(what, `${(error as Error).name}: ${(error as Error).message}`);
    }
  }
}
