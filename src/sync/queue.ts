/**
 * The server-side half of `SyncManager.Queue()` and `JoinableQueue()`:
 * Python's `queue.Queue`, FIFO, optionally bounded, with `taskDone()` and
 * `join()`. Items go straight to the oldest waiting `get()`, and a full
 * queue admits the oldest waiting `put()` as soon as there is room.
 *
 * A JoinableQueue also remembers which caller took which item: items a
 * caller took and had not marked done when its connection closed are put
 * back at the head of the queue, so another worker gets them and `join()`
 * still returns. (CPython's `join()` waits forever for them.) `taskDone()`
 * marks the caller's oldest unfinished item done, or, from a caller that
 * took none, the oldest unfinished item of anyone: an item marked done is
 * never delivered again. Every step is O(1).
 *
 * @module
 */

import { type Caller, connectionCaller, currentCall, SERVER_CALLER } from "../objects/caller.ts";
import { Empty, Full } from "../errors.ts";
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
  if (typeof block !== "boolean") throw new TypeError("The block option must be a boolean");
  return { block, timeout: block ? checkTimeout(timeout) : undefined };
}

/** An item a caller took with `get()` and has not marked done. */
interface TakenItem {
  readonly caller: Caller;
  readonly item: unknown;
}

/**
 * A FIFO queue of any values (proxies included), as it lives in the server
 * process; clients use it through a `QueueProxy`.
 *
 * @example
 * ```ts
 * import { Queue } from "@multiprocess/managers/standard";
 *
 * const queue = new Queue(2);
 * queue.put("a");
 * console.log(queue.getNowait()); // "a"
 * ```
 */
export class Queue {
  readonly #maxsize: number;
  #items: unknown[] = [];
  #head = 0;
  #unfinished = 0;
  readonly #getters = new WaitList<unknown>();
  readonly #putters = new WaitList<true>();
  readonly #joiners = new WaitList<true>();
  /** Items taken and not marked done, oldest first; undefined for a plain Queue. */
  readonly #taken: Map<number, TakenItem> | undefined;
  /** The same records by caller, oldest first, with the caller's one abort listener. */
  readonly #takenBy = new Map<Caller, { records: Set<number>; onAbort: () => void }>();
  #takenSerial = 0;

  /** A queue of at most `maxsize` items (0: no bound); `requeueOnDeath` makes it joinable (see `JoinableQueue`). */
  constructor(maxsize = 0, requeueOnDeath = false) {
    if (!Number.isInteger(maxsize)) throw new TypeError("A queue's maxsize must be an integer");
    this.#maxsize = maxsize;
    this.#taken = requeueOnDeath ? new Map() : undefined;
  }

  /** Adds `item`, waiting for room when full (`block`, `timeout` in ms); throws `Full` if none comes. */
  put(item: unknown, options?: QueueWaitOptions): void | Promise<void> {
    const { block, timeout } = checkQueueWait(options);
    if (this.#getters.size > 0) {
      // Handed straight to a waiting get(): that cannot be taken back, even if this call is cancelled.
      this.#unfinished++;
      this.#handToGetter(item);
      return;
    }
    const call = currentCall();
    // Put for a call its client then cancels: taken out again if still queued.
    const takeOut = (): void => this.#remove(item);
    if (!this.full()) {
      this.#push(item);
      call?.onUndo(takeOut);
      return;
    }
    if (!block) throw new Full();
    return this.#putters.wait(connectionCaller(), timeout, item).then((admitted) => {
      if (admitted === null) throw new Full();
      call?.onUndo(takeOut);
    });
  }

  /** Adds `item` at once, or throws `Full`. */
  putNowait(item: unknown): void | Promise<void> {
    return this.put(item, { block: false });
  }

  /** Takes the oldest item, waiting for one when empty (`block`, `timeout` in ms); throws `Empty` if none comes. */
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
      const caller = connectionCaller();
      this.#noteTaken(caller, item);
      currentCall()?.onUndo(() => this.#putBack(caller, item));
      return item;
    }
    if (!block) throw new Empty();
    const caller = connectionCaller();
    const call = currentCall();
    return this.#getters.wait(caller, timeout).then((outcome) => {
      if (outcome === null) throw new Empty();
      // Taken for a call its client then cancels: back at the head, as if never taken.
      call?.onUndo(() => this.#putBack(caller, outcome.value));
      return outcome.value;
    });
  }

  /** Takes the oldest item at once, or throws `Empty`. */
  getNowait(): unknown {
    return this.get({ block: false });
  }

  /** The number of items. */
  qsize(): number {
    return this.#items.length - this.#head;
  }

  /** Whether it holds no items. */
  empty(): boolean {
    return this.qsize() === 0;
  }

  /** Whether it holds `maxsize` items. */
  full(): boolean {
    return this.#maxsize > 0 && this.qsize() >= this.#maxsize;
  }

  /** Marks one item taken with `get()` as processed. */
  taskDone(): void {
    if (this.#unfinished <= 0) throw new RangeError("taskDone() called too many times");
    if (this.#taken !== undefined) {
      const mine = this.#takenBy.get(connectionCaller())?.records;
      const serial = mine?.values().next().value ?? this.#taken.keys().next().value;
      if (serial !== undefined) this.#forgetTaken(serial);
    }
    if (--this.#unfinished === 0) this.#joiners.wakeAll(true);
  }

  /** Resolves once every item ever put has been marked done. */
  join(): void | Promise<void> {
    if (this.#unfinished === 0) return;
    return this.#joiners.wait(connectionCaller()).then(() => {});
  }

  #handToGetter(item: unknown): void {
    this.#noteTaken(this.#getters.peek()!.caller, item);
    this.#getters.wakeOne(item);
  }

  /** Remembers that `caller` holds `item` until it calls taskDone(). */
  #noteTaken(caller: Caller, item: unknown): void {
    if (this.#taken === undefined || caller === SERVER_CALLER) return;
    const serial = ++this.#takenSerial;
    this.#taken.set(serial, { caller, item });
    let mine = this.#takenBy.get(caller);
    if (mine === undefined) {
      const onAbort = (): void => this.#requeue(caller);
      mine = { records: new Set(), onAbort };
      this.#takenBy.set(caller, mine);
      caller.signal.addEventListener("abort", onAbort, { once: true });
    }
    mine.records.add(serial);
  }

  #forgetTaken(serial: number): void {
    const record = this.#taken!.get(serial);
    if (record === undefined) return;
    this.#taken!.delete(serial);
    const mine = this.#takenBy.get(record.caller);
    mine?.records.delete(serial);
    if (mine !== undefined && mine.records.size === 0) {
      this.#takenBy.delete(record.caller);
      record.caller.signal.removeEventListener("abort", mine.onAbort);
    }
  }

  /** Puts back, at the head and in order, what a dead caller took and never finished. */
  #requeue(caller: Caller): void {
    const records = this.#takenBy.get(caller)?.records;
    if (records === undefined) return;
    this.#takenBy.delete(caller);
    const mine: unknown[] = [];
    for (const serial of records) {
      mine.push(this.#taken!.get(serial)!.item);
      this.#taken!.delete(serial);
    }
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

  /** Undoes a get() of `item` by `caller`: back at the head (or to a waiting getter). */
  #putBack(caller: Caller, item: unknown): void {
    if (this.#taken !== undefined) {
      const mine = this.#takenBy.get(caller)?.records;
      const serial = mine === undefined
        ? undefined
        : [...mine].reverse().find((s) => this.#taken!.get(s)?.item === item);
      if (serial !== undefined) this.#forgetTaken(serial);
    }
    if (this.#getters.size > 0) {
      this.#handToGetter(item);
    } else if (this.#head > 0) {
      this.#items[--this.#head] = item;
    } else {
      this.#items.unshift(item);
    }
  }

  /** Undoes a put() of `item`, if it is still queued. */
  #remove(item: unknown): void {
    for (let i = this.#head; i < this.#items.length; i++) {
      if (this.#items[i] === item) {
        this.#items.splice(i, 1);
        this.#unfinished--;
        if (this.#unfinished === 0) this.#joiners.wakeAll(true);
        this.#admitPutter();
        return;
      }
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
