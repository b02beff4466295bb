/**
 * The standard shared types themselves, for a server that shares one
 * object under a name, as Python's docs share a `queue.Queue()` with
 * `register("get_queue", callable=lambda: queue)`: every client that
 * creates `get_queue`, Deno or CPython, gets a proxy of the same queue.
 *
 * ```ts
 * import { SyncManager } from "@multiprocess/managers";
 * import { JoinableQueue } from "@multiprocess/managers/standard";
 *
 * export class JobManager extends SyncManager {}
 * const jobs = new JoinableQueue();
 * JobManager.register("get_jobs", () => jobs);
 * ```
 *
 * They run in the server process; clients call them through proxies: a
 * CPython client's own `SyncManager` proxies call them with Python's
 * names, arguments and units, whatever name they were registered under.
 * Every standard type is here: the queues and the containers (`Dict`,
 * `List`, `SharedSet`, `Namespace`, `Value`, `SharedArray`) as classes,
 * and the locks, semaphores, `Event`, `Condition` and `Barrier` made by
 * functions, as Python's `threading.Lock()` is.
 *
 * @module
 */

import { Queue } from "./queue.ts";

export { Queue, type QueueWaitOptions } from "./queue.ts";
export {
  Dict,
  List,
  Namespace,
  SharedArray,
  SharedIterator,
  SharedSet,
  type Step,
  Value,
} from "./containers.ts";
export type { AcquireOptions, WaitOptions } from "./primitives.ts";
export {
  Barrier,
  type BarrierObject,
  BoundedSemaphore,
  Condition,
  type ConditionObject,
  Event,
  type EventObject,
  Lock,
  type LockObject,
  RLock,
  Semaphore,
  type SemaphoreObject,
} from "./shareable_sync.ts";

/**
 * A `Queue` whose items are counted until marked done (`taskDone()`), so
 * that `join()` waits for all of them: Python's `JoinableQueue`. An item a
 * dead client took and never marked done goes back to the queue.
 *
 * @example
 * ```ts
 * import { JoinableQueue } from "@multiprocess/managers/standard";
 *
 * const jobs = new JoinableQueue();
 * jobs.put("job 1");
 * console.log(jobs.qsize()); // 1
 * ```
 */
export class JoinableQueue extends Queue {
  /** A joinable queue of at most `maxsize` items (0: no bound). */
  constructor(maxsize = 0) {
    super(maxsize, true);
  }
}
