/**
 * A Deno server, a Deno producer and a pool of CPython workers sharing one
 * JoinableQueue and one dict: the Deno side puts jobs, three `python3`
 * processes take them with CPython's own `multiprocessing.managers`,
 * square them, store the results and mark each job done.
 *
 *     deno run --allow-run --allow-read --allow-write --allow-net \
 *       examples/python_interop/deno_hosts.ts
 *
 * The workers use CPython's `SyncManager`, as Python code written for a
 * CPython server would (`worker.py`); nothing Deno-specific is on their side.
 */
import { type BaseProxy, SyncManager } from "../../mod.ts";
import { Dict, JoinableQueue } from "../../src/sync/standard.ts"; // "@multiprocess/managers/standard"

/** The manager both sides use: the names CPython workers create. */
export class JobManager extends SyncManager {}
const jobs = new JoinableQueue();
const results = new Dict();
JobManager.register("get_jobs", () => jobs, {
  exposed: ["put", "get", "taskDone", "join", "qsize"],
});
JobManager.register("get_results", () => results, { exposed: ["get", "size", "entries"] });

const WORKERS = 3;
const JOBS = 12;

if (import.meta.main) {
  const authkey = crypto.getRandomValues(new Uint8Array(32));
  // legacyAuth: python3 3.8-3.11 answer the handshake with HMAC-MD5; 3.12+ need not.
  await using manager = await new JobManager({ authkey, legacyAuth: true }).start();
  const queue = await manager.create("get_jobs") as BaseProxy & {
    put(item: unknown): Promise<void>;
    join(): Promise<void>;
  };
  const done = await manager.create("get_results") as BaseProxy & {
    entries(): Promise<[number, number][]>;
  };
  const worker = new URL("./worker.py", import.meta.url).pathname;
  const pool = Array.from({ length: WORKERS }, (_, i) =>
    new Deno.Command("python3", {
      args: [worker, JSON.stringify(manager.address), toHex(authkey), `python-${i + 1}`],
      stdout: "inherit",
      stderr: "inherit",
    }).spawn());
  // A worker that fails ends the demo instead of leaving join() waiting.
  const failed = Promise.all(pool.map(async (child) => {
    const status = await child.status;
    if (!status.success) throw new Error(`a CPython worker exited with ${status.code}`);
  }));
  for (let n = 1; n <= JOBS; n++) await queue.put(n);
  await Promise.race([queue.join(), failed]); // every job taken and marked done

  for (let i = 0; i < WORKERS; i++) await queue.put(null); // one stop sign per worker
  await failed;
  const squares = (await done.entries()).sort(([a], [b]) => a - b);
  console.log(
    `${squares.length} jobs done by CPython workers:`,
    squares.map(([, v]) => v).join(" "),
  );
  await queue[Symbol.asyncDispose]();
  await done[Symbol.asyncDispose]();
  console.log("objects left on the server:", await manager.numberOfObjects());
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
