/**
 * Objects a CPython client reaches by a registered name, as in the Python
 * docs' remote-manager example (`register("get_queue", callable=...)`).
 */
import { DictProxy, SetProxy, SyncManager } from "../../mod.ts";
import { Dict, SharedSet } from "../../src/sync/containers.ts";
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

const dict = new Dict();
const set = new SharedSet();

/** One dict for every client (Python's `DictProxy` on one side, ours on the other). */
PythonFacingManager.register("get_dict", () => dict, { proxytype: DictProxy });
/** One set for every client. */
PythonFacingManager.register("get_set", () => set, { proxytype: SetProxy });
