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
