/**
 * The server-side half of `SyncManager.Queue()` and `JoinableQueue()`:
 * Python's `queue.Queue`, FIFO, optionally bounded, with `taskDone()` and
 * `join()`. Items go straight to the oldest waiting `get()`, and a full
 * queue admits the oldest waiting `put()` as soon as there is room.
 *
 * @module
 */

import { currentCaller } from "./caller.ts";
import { Empty, Full } from "./errors.ts";
import { checkTimeout, WaitList } from "./_wait_list.ts";

/** Options of `put()` and `get()`: Python's `block` and `timeout` (ms). */
export interface QueueWaitOptions {
  /** Wait when the queue is full (put) or empty (get); default true. */
  readonly block?: boolean | undefined;
  /** Milliseconds to wait at most; default forever. */
  readonly timeout?: number | undefined;
}

function checkQueueWait(options: unknown): { block: boolean; timeout: number | undefined } {
  const { block = true, timeout } = (options ?? {}) as { block?: unknown; timeout?: unknown };
  if (typeof block !== "boolean") throw new TypeError("block must be a boolean");
  return { block, timeout: block ? checkTimeout(timeout) : undefined };
}

/** A FIFO queue of any values (proxies included). */
export class Queue {
  readonly #maxsize: number;
  #items: unknown[] = [];
  #head = 0;
  #unfinished = 0;
  readonly #getters = new WaitList<unknown>();
  readonly #putters = new WaitList<true>();
  readonly #joiners = new WaitList<true>();

  constructor(maxsize = 0) {
    if (!Number.isInteger(maxsize)) throw new TypeError("maxsize must be an integer");
    this.#maxsize = maxsize;
  }

  put(item: unknown, options?: QueueWaitOptions): void | Promise<void> {
    const { block, timeout } = checkQueueWait(options);
    if (this.#getters.size > 0) {
      this.#unfinished++;
      this.#getters.wakeOne(item);
      return;
    }
    if (!this.full()) {
      this.#push(item);
      return;
    }
    if (!block) throw new Full();
    return this.#putters.wait(currentCaller(), timeout, item).then((admitted) => {
      if (admitted === null) throw new Full();
    });
  }

  putNowait(item: unknown): void | Promise<void> {
    return this.put(item, { block: false });
  }

  get(options?: QueueWaitOptions): unknown {
    const { block, timeout } = checkQueueWait(options);
    if (this.qsize() > 0) {
      const item = this.#items[this.#head];
      this.#items[this.#head++] = undefined;
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      this.#admitPutter();
      return item;
    }
    if (!block) throw new Empty();
    return this.#getters.wait(currentCaller(), timeout).then((outcome) => {
      if (outcome === null) throw new Empty();
      return outcome.value;
    });
  }

  getNowait(): unknown {
    return this.get({ block: false });
  }

  qsize(): number {
    return this.#items.length - this.#head;
  }

  empty(): boolean {
    return this.qsize() === 0;
  }

  full(): boolean {
    return this.#maxsize > 0 && this.qsize() >= this.#maxsize;
  }

  /** Marks one item taken with `get()` as processed. */
  taskDone(): void {
    if (this.#unfinished <= 0) throw new RangeError("taskDone() called too many times");
    if (--this.#unfinished === 0) this.#joiners.wakeAll(true);
  }

  /** Resolves once every item ever put has been marked done. */
  join(): void | Promise<void> {
    if (this.#unfinished === 0) return;
    return this.#joiners.wait(currentCaller()).then(() => {});
  }

  #push(item: unknown): void {
    this.#items.push(item);
    this.#unfinished++;
  }

  #admitPutter(): void {
    const next = this.#putters.peek();
    if (next !== undefined && !this.full()) {
      this.#push(next.data);
      this.#putters.wakeOne(true);
    }
  }
}
