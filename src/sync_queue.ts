/**
 * The server-side half of `SyncManager.Queue()` and `JoinableQueue()`:
 * Python's `queue.Queue`, FIFO, optionally bounded, with `taskDone()` and
 * `join()`. Items go straight to the oldest waiting `get()`, and a full
 * queue admits the oldest waiting `put()` as soon as there is room.
 *
 * A JoinableQueue also remembers which caller took which item: items a
 * caller took and had not marked done when its connection closed are put
 * back at the head of the queue, so another worker gets them and `join()`
 * still returns. (CPython's `join()` waits forever for them.)
 *
 * @module
 */

import { type Caller, currentCaller, SERVER_CALLER } from "./caller.ts";
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
  /** Items each caller took and has not marked done; undefined for a plain Queue. */
  readonly #taken: Map<Caller, unknown[]> | undefined;

  constructor(maxsize = 0, requeueOnDeath = false) {
    if (!Number.isInteger(maxsize)) throw new TypeError("maxsize must be an integer");
    this.#maxsize = maxsize;
    this.#taken = requeueOnDeath ? new Map() : undefined;
  }

  put(item: unknown, options?: QueueWaitOptions): void | Promise<void> {
    const { block, timeout } = checkQueueWait(options);
    if (this.#getters.size > 0) {
      this.#unfinished++;
      this.#handToGetter(item);
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
      this.#noteTaken(currentCaller(), item);
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
    const mine = this.#taken?.get(currentCaller());
    if (mine !== undefined) {
      mine.shift();
      if (mine.length === 0) this.#taken!.delete(currentCaller());
    }
    if (--this.#unfinished === 0) this.#joiners.wakeAll(true);
  }

  /** Resolves once every item ever put has been marked done. */
  join(): void | Promise<void> {
    if (this.#unfinished === 0) return;
    return this.#joiners.wait(currentCaller()).then(() => {});
  }

  #handToGetter(item: unknown): void {
    this.#noteTaken(this.#getters.peek()!.caller, item);
    this.#getters.wakeOne(item);
  }

  /** Remembers that `caller` holds `item` until it calls taskDone(). */
  #noteTaken(caller: Caller, item: unknown): void {
    if (this.#taken === undefined || caller === SERVER_CALLER) return;
    let mine = this.#taken.get(caller);
    if (mine === undefined) {
      this.#taken.set(caller, mine = []);
      caller.signal.addEventListener("abort", () => this.#requeue(caller), { once: true });
    }
    mine.push(item);
  }

  /** Puts back, at the head and in order, what a dead caller took and never finished. */
  #requeue(caller: Caller): void {
    const mine = this.#taken?.get(caller);
    if (mine === undefined) return;
    this.#taken!.delete(caller);
    const rest: unknown[] = [];
    for (const item of mine) {
      if (this.#getters.size > 0) this.#handToGetter(item);
      else rest.push(item);
    }
    for (const item of rest.reverse()) {
      if (this.#head > 0) this.#items[--this.#head] = item;
      else this.#items.unshift(item);
    }
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
