/**
 * `Process`: Python's `multiprocessing.Process` for Deno. It starts a
 * worker process that imports the module exporting `target` and calls it
 * with `args`; proxies among the arguments arrive as working proxies, and
 * the authkeys travel over the worker's stdin, never in argv or env. The
 * worker gets only the permissions it needs: to load its module and reach
 * the managers whose proxies it was given.
 *
 * @module
 */

import { settlesWithin } from "../_async.ts";
import { findExport, handArgs, moduleUrl } from "./handoff.ts";
import { checkPermissions, type ServerPermissions } from "../server/permissions.ts";
import { checkProjectOptions } from "../server/project.ts";
import { denoRunArgs, refuseStandalone } from "../server/spawn.ts";
import { encodeConfig, type WorkerConfig } from "../server/config.ts";

/** The worker process entry module. */
const PROCESS_MAIN = new URL("../main/process_main.ts", import.meta.url).href;

/**
 * A function a {@linkcode Process} can run.
 *
 * @example
 * ```ts
 * import type { Target } from "@multiprocess/managers";
 *
 * const target: Target = (n: number) => n + 1;
 * console.log(typeof target); // "function"
 * ```
 */
export type Target = (...args: never[]) => unknown;

/**
 * Options of `new Process()`.
 *
 * @example
 * ```ts
 * import type { ProcessOptions } from "@multiprocess/managers";
 *
 * export function work(n: number): void {
 *   console.log(n * 2);
 * }
 * const options: ProcessOptions = { target: work, args: [21], permissions: { env: ["HOME"] } };
 * console.log(options.args); // [21]
 * ```
 */
export interface ProcessOptions<F extends Target = Target> {
  /** The function to run: exported from `module`, called with `args`, awaited. */
  readonly target: F;
  /** Its arguments: data, and proxies (top-level only), which arrive as proxies. */
  readonly args?: Target extends F ? readonly unknown[] : Readonly<Parameters<F>>;
  /** The module that exports `target`; default the main module. */
  readonly module?: string | URL;
  /** Permissions beyond loading its module and reaching the managers of its proxies. */
  readonly permissions?: ServerPermissions;
  /** A name for messages; default the target's name. */
  readonly name?: string;
  /** The config file for the worker, or `false`; default the one this process uses. */
  readonly config?: string | URL | false;
  /** Further `deno run` flags, such as `["--unstable-kv"]`. */
  readonly denoFlags?: readonly string[];
}

/**
 * A worker process running one exported function, as Python's
 * `multiprocessing.Process(target=f, args=(...))`: `start()`, `join()`,
 * `exitCode`, `terminate()`, `kill()`. It exits with 0 when the target
 * returns, 1 when it throws (the error goes to stderr), and ends when this
 * process ends. `await using` stops it if it is still running.
 *
 * @example
 * ```ts
 * import { Process, type Remote, shared, SyncManager } from "@multiprocess/managers";
 * import type { QueueProxy } from "@multiprocess/managers";
 *
 * export async function worker(queue: QueueProxy<number>, n: number): Promise<void> {
 *   await queue.put(n * n);
 * }
 *
 * if (import.meta.main) {
 *   await using manager = await new SyncManager().start();
 *   const queue = await manager.Queue<number>();
 *   await using child = await new Process({ target: worker, args: [queue, 7] }).start();
 *   console.log(await queue.get()); // 49
 *   console.log(await child.join({ timeout: 5000 })); // 0
 * }
 * ```
 */
export class Process<F extends Target = Target> {
  readonly #options: ProcessOptions<F>;
  readonly #name: string;
  #child: Deno.ChildProcess | undefined;
  #stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #ended: Promise<number> | undefined;
  #exitCode: number | null = null;

  /** Checks the options; nothing runs until `start()`. */
  constructor(options: ProcessOptions<F>) {
    if (typeof options !== "object" || options === null || typeof options.target !== "function") {
      throw new TypeError("new Process() needs { target }: an exported function to run");
    }
    if (options.args !== undefined && !Array.isArray(options.args)) {
      throw new TypeError("Process args must be an array");
    }
    checkPermissions(options.permissions);
    checkProjectOptions(options);
    this.#options = options;
    this.#name = options.name ?? (options.target.name || "worker");
  }

  /** The name given, or the target's. */
  get name(): string {
    return this.#name;
  }

  /** The worker's process id once started. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The exit code once it has ended (128 + the signal number if a signal ended it), else null. */
  get exitCode(): number | null {
    return this.#exitCode;
  }

  /** True from `start()` until it ends. */
  isAlive(): boolean {
    return this.#child !== undefined && this.#exitCode === null;
  }

  /** Starts the worker and resolves once it runs; the target starts soon after. */
  async start(): Promise<this> {
    if (this.#child !== undefined) {
      throw new Error(
        `Process '${this.#name}' was already started; make a new Process to run again`,
      );
    }
    refuseStandalone("a worker process");
    const module = moduleUrl(this.#options.module ?? Deno.mainModule, "module");
    const target = await findExport(this.#options.target, [module], "target");
    const args = await handArgs(this.#options.args ?? [], "args");
    const child = new Deno.Command(Deno.execPath(), {
      args: await denoRunArgs({
        entry: PROCESS_MAIN,
        needs: {
          modules: [module],
          addresses: args.proxies.map((p) => p.address),
          socketDir: null,
        },
        project: this.#options,
        permissions: this.#options.permissions,
        v8: [],
      }),
      stdin: "piped",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    this.#child = child;
    const stdin = this.#stdin = child.stdin.getWriter();
    this.#ended = child.status.then(async (status) => {
      await stdin.close().catch(() => {});
      return this.#exitCode = status.signal === null
        ? status.code
        : 128 + signalNumber(status.signal);
    });
    const config: WorkerConfig = { target, args };
    // The writer stays open: its end of file tells the worker this process is gone.
    await stdin.write(encodeConfig(config)).catch(() => {});
    return this;
  }

  /**
   * Waits for the worker to end and returns its exit code, or null if
   * `timeout` ms pass first (it keeps running).
   */
  async join(options: { readonly timeout?: number } = {}): Promise<number | null> {
    this.#started("join");
    const ended = this.#ended!;
    const { timeout } = options;
    if (timeout !== undefined && (typeof timeout !== "number" || !(timeout >= 0))) {
      throw new RangeError("join() timeout must be a non-negative number of milliseconds");
    }
    if (timeout !== undefined && !(await settlesWithin(ended, timeout))) return null;
    return await ended;
  }

  /** Asks it to stop (SIGTERM), as Python's `terminate()`. */
  terminate(): void {
    this.#signal("SIGTERM");
  }

  /** Stops it at once (SIGKILL), as Python's `kill()`. */
  kill(): void {
    this.#signal("SIGKILL");
  }

  /** `await using`: if still running, it is told to stop (stdin closes), then SIGTERM, then SIGKILL. */
  async [Symbol.asyncDispose](): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    await this.#stdin?.close().catch(() => {});
    const ended = this.#ended!;
    if (!(await settlesWithin(ended, 500))) {
      this.terminate();
      if (!(await settlesWithin(ended, 1000))) this.kill();
    }
    await ended;
  }

  /** Shown by `console.log`. */
  [Symbol.for("Deno.customInspect")](): string {
    const state = this.#child === undefined
      ? "initial"
      : this.#exitCode === null
      ? `started, pid ${this.#child.pid}`
      : `exit code ${this.#exitCode}`;
    return `Process { name: "${this.#name}", ${state} }`;
  }

  #started(action: string): Deno.ChildProcess {
    if (this.#child === undefined) {
      throw new Error(`Cannot ${action} Process '${this.#name}': it was not started`);
    }
    return this.#child;
  }

  #signal(signal: Deno.Signal): void {
    const child = this.#started(signal === "SIGKILL" ? "kill" : "terminate");
    if (this.#exitCode !== null) return;
    try {
      child.kill(signal);
    } catch { /* it has just exited */ }
  }
}

const SIGNALS: Partial<Record<Deno.Signal, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGTERM: 15,
};

function signalNumber(signal: Deno.Signal): number {
  return SIGNALS[signal] ?? 0;
}
