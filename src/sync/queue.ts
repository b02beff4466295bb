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

import {
  type CallContext,
  type Caller,
  connectionCaller,
  currentCall,
  SERVER_CALLER,
} from "../objects/caller.ts";
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

/**
 * One item's place in the queue, from its put() on. Its `serial` orders it
 * among the others (the order puts entered the queue), so an undone get()
 * puts it back exactly where it was, and an undone put() removes exactly
 * it, never an equal item of someone else's.
 */
interface Slot {
  /** Its place in put order; 0 while its put waits for room. */
  serial: number;
  readonly item: unknown;
  state: "waiting" | "queued" | "taken" | "done" | "withdrawn";
  /** Counts the get()s that took it: an undo names the one it undoes. */
  takes: number;
  /** Its put() was undone while a get() held it: if that get is undone too, it goes. */
  withdrawn: boolean;
  /** JoinableQueue: who took it and has not marked it done. */
  holder: Caller | undefined;
}

/** The slots one caller holds (JoinableQueue), oldest first, with the caller's one abort listener. */
interface Holdings {
  readonly slots: Set<Slot>;
  readonly onAbort: () => void;
}

/**
 * A FIFO queue of any values (proxies included), as it lives in the server
 * process; clients use it through a `QueueProxy`.
 *
 * An undone get() (its client cancelled the call, or its result could not
 * be delivered) puts its item back in its place, among the others in put
 * order; an undone put() takes exactly its own item out again. A get()
 * undone after its room was given to a waiting put() leaves the queue
 * above its maxsize until the next get(): nothing is dropped.
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
  /** Queued slots in put order (ascending serial), from #head on. */
  #items: (Slot | undefined)[] = [];
  #head = 0;
  #serial = 0;
  #unfinished = 0;
  readonly #getters = new WaitList<Slot>();
  readonly #putters = new WaitList<true>();
  readonly #joiners = new WaitList<true>();
  /** Slots taken and not marked done, oldest take first; undefined for a plain Queue. */
  readonly #taken: Set<Slot> | undefined;
  /** The same slots by caller. */
  readonly #takenBy = new Map<Caller, Holdings>();

  /** A queue of at most `maxsize` items (0: no bound); `requeueOnDeath` makes it joinable (see `JoinableQueue`). */
  constructor(maxsize = 0, requeueOnDeath = false) {
    if (!Number.isInteger(maxsize)) throw new TypeError("A queue's maxsize must be an integer");
    this.#maxsize = maxsize;
    this.#taken = requeueOnDeath ? new Set() : undefined;
  }

  /** Adds `item`, waiting for room when full (`block`, `timeout` in ms); throws `Full` if none comes. */
  put(item: unknown, options?: QueueWaitOptions): void | Promise<void> {
    const { block, timeout } = checkQueueWait(options);
    const slot: Slot = {
      serial: 0,
      item,
      state: "waiting",
      takes: 0,
      withdrawn: false,
      holder: undefined,
    };
    const call = currentCall();
    // Put for a call that is then undone: exactly this item goes again.
    const withdraw = (): void => this.#withdraw(slot);
    if (this.#getters.size > 0 || !this.full()) {
      this.#enter(slot);
      call?.onUndo(withdraw);
      return;
    }
    if (!block) throw new Full();
    return this.#putters.wait(connectionCaller(), timeout, slot).then((admitted) => {
      if (admitted === null) throw new Full();
      call?.onUndo(withdraw);
    });
  }

  /** Adds `item` at once, or throws `Full`. */
  putNowait(item: unknown): void | Promise<void> {
    return this.put(item, { block: false });
  }

  /** Takes the oldest item, waiting for one when empty (`block`, `timeout` in ms); throws `Empty` if none comes. */
  get(options?: QueueWaitOptions): unknown {
    const { block, timeout } = checkQueueWait(options);
    const call = currentCall();
    if (this.qsize() > 0) {
      const slot = this.#items[this.#head]!;
      this.#items[this.#head++] = undefined;
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      this.#take(slot, connectionCaller());
      this.#admitPutter();
      this.#undoable(call, slot);
      return slot.item;
    }
    if (!block) throw new Empty();
    return this.#getters.wait(connectionCaller(), timeout).then((outcome) => {
      if (outcome === null) throw new Empty();
      this.#undoable(call, outcome.value);
      return outcome.value.item;
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
      const mine = this.#takenBy.get(connectionCaller())?.slots;
      const slot = mine?.values().next().value ?? this.#taken.values().next().value;
      if (slot !== undefined) {
        this.#release(slot);
        slot.state = "done";
      }
    }
    this.#finishOne();
  }

  /** Resolves once every item ever put has been marked done. */
  join(): void | Promise<void> {
    if (this.#unfinished === 0) return;
    return this.#joiners.wait(connectionCaller()).then(() => {});
  }

  /** A slot enters the queue (or goes straight to the oldest waiting get()). */
  #enter(slot: Slot): void {
    slot.serial = ++this.#serial;
    this.#unfinished++;
    this.#place(slot);
  }

  /** Puts `slot` in its place by serial, or hands it to the oldest waiting get(). */
  #place(slot: Slot): void {
    const getter = this.#getters.peek();
    if (getter !== undefined) {
      this.#take(slot, getter.caller);
      this.#getters.wakeOne(slot);
      return;
    }
    slot.state = "queued";
    const items = this.#items;
    const last = items.length - 1;
    if (this.#head > last || items[last]!.serial < slot.serial) {
      items.push(slot);
    } else if (slot.serial < items[this.#head]!.serial) {
      if (this.#head > 0) items[--this.#head] = slot;
      else items.unshift(slot);
    } else {
      items.splice(this.#indexAfter(slot.serial), 0, slot);
    }
  }

  /** The first queued position whose serial is above `serial`. */
  #indexAfter(serial: number): number {
    let low = this.#head;
    let high = this.#items.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#items[middle]!.serial <= serial) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** `slot` is taken by `caller`: a JoinableQueue remembers it until taskDone(). */
  #take(slot: Slot, caller: Caller): void {
    slot.state = "taken";
    slot.takes++;
    if (this.#taken === undefined || caller === SERVER_CALLER) return;
    slot.holder = caller;
    this.#taken.add(slot);
    let mine = this.#takenBy.get(caller);
    if (mine === undefined) {
      const onAbort = (): void => this.#requeue(caller);
      mine = { slots: new Set(), onAbort };
      this.#takenBy.set(caller, mine);
      caller.signal.addEventListener("abort", onAbort, { once: true });
    }
    mine.slots.add(slot);
  }

  /** Registers, for the call that took `slot` now, the undo of exactly this take. */
  #undoable(call: CallContext | undefined, slot: Slot): void {
    const take = slot.takes;
    call?.onUndo(() => {
      if (slot.state === "taken" && slot.takes === take) this.#putBack(slot);
    });
  }

  /** Forgets who holds `slot` (JoinableQueue). */
  #release(slot: Slot): void {
    const holder = slot.holder;
    if (holder === undefined) return;
    slot.holder = undefined;
    this.#taken!.delete(slot);
    const mine = this.#takenBy.get(holder);
    mine?.slots.delete(slot);
    if (mine !== undefined && mine.slots.size === 0) {
      this.#takenBy.delete(holder);
      holder.signal.removeEventListener("abort", mine.onAbort);
    }
  }

  /** Puts back, each in its place, what a dead caller took and never finished. */
  #requeue(caller: Caller): void {
    const mine = this.#takenBy.get(caller);
    if (mine === undefined) return;
    for (const slot of [...mine.slots]) this.#putBack(slot);
  }

  /** A taken slot comes back: in its place (or to a waiting get()), unless its put was undone. */
  #putBack(slot: Slot): void {
    this.#release(slot);
    if (slot.withdrawn) {
      slot.state = "withdrawn";
      this.#finishOne();
      this.#admitPutter();
      return;
    }
    this.#place(slot);
  }

  /** Undoes the put() of `slot`: out of the queue if there, or out when its get() is undone. */
  #withdraw(slot: Slot): void {
    if (slot.state === "queued") {
      const at = this.#indexAfter(slot.serial) - 1;
      if (this.#items[at] !== slot) return;
      this.#items.splice(at, 1);
      slot.state = "withdrawn";
      this.#finishOne();
      this.#admitPutter();
    } else if (slot.state === "taken") {
      slot.withdrawn = true;
    }
  }

  /** One item fewer to wait for in join(). */
  #finishOne(): void {
    if (--this.#unfinished === 0) this.#joiners.wakeAll(true);
  }

  #admitPutter(): void {
    const next = this.#putters.peek();
    if (next !== undefined && !this.full()) {
      this.#enter(next.data as Slot);
      this.#putters.wakeOne(true);
    }
  }
}
