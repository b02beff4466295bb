/**
 * Objects a CPython client reaches by a registered name, as in the Python
 * docs' remote-manager example (`register("get_queue", callable=...)`).
 */
import { SyncManager } from "../../mod.ts";
import { Lock } from "../../src/sync/primitives.ts";
import { Queue } from "../../src/sync/queue.ts";

/** The tests' manager with names for CPython clients. */
export class PythonFacingManager extends SyncManager {}

const lock = new Lock();
const queue = new Queue();

/** One lock for every client, Deno or CPython. */
PythonFacingManager.register("get_lock", () => lock, { exposed: ["acquire", "release", "locked"] });
/** One queue for every client. */
PythonFacingManager.register("get_queue", () => queue, {
  exposed: ["put", "get", "qsize", "empty", "taskDone", "join"],
});
