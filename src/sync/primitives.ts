/**
 * The synchronisation objects `SyncManager` shares: the server-side halves
 * of Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition and
 * Barrier. What blocks in Python returns a promise here, and blocks only
 * its caller.
 *
 * Ownership belongs to a caller (a client connection, that is a process)
 * where it is defined: when a connection closes, every Lock and RLock it
 * holds is released (an RLock fully), a Condition's lock with them, and its
 * waits are dropped; the next waiter wakes. CPython keeps such a lock
 * forever. Semaphore permits are not owned (a producer may release what a
 * consumer acquires), so a dead caller's acquires are not undone: a
 * semaphore used for signalling never gains phantom permits.
 *
 * Longer than most files: the locks, the semaphores, Event, Condition and
 * Barrier share the rules of ownership and waiting written out above.
 *
 * @module
 */

import { type Caller, connectionCaller, currentCall, SERVER_CALLER } from "../objects/caller.ts";
import { BrokenBarrierError } from "../errors.ts";
import { type BaseProxy, channelOf } from "../objects/proxy.ts";
import { checkBlocking, checkTimeout, WaitList } from "./_wait_list.ts";

/** Options of `acquire()`: Python's `blocking` and `timeout` (ms). */
export interface AcquireOptions {
  /** Wait for the lock (default true); false returns at once. */
  readonly blocking?: boolean | undefined;
  /** Milliseconds to wait at most; default forever. */
  readonly timeout?: number | undefined;
}

/** Options of the `wait()` methods. */
export interface WaitOptions {
  /** Milliseconds to wait at most; default forever. */
  readonly timeout?: number | undefined;
}

/**
 * Calls `release` when `caller`'s connection closes, until `cancel()`; at
 * once (in a microtask) if it has closed already.
 */
function onCallerGone(caller: Caller, release: () => void): () => void {
  if (caller === SERVER_CALLER) return () => {};
  if (caller.signal.aborted) {
    let cancelled = false;
    queueMicrotask(() => cancelled || release());
    return () => cancelled = true;
  }
  caller.signal.addEventListener("abort", release, { once: true });
  return () => caller.signal.removeEventListener("abort", release);
}

/**
 * `granted`, with `undo` registered for the client call running now (if
 * any) once it is true: a call cancelled after the grant, or whose reply
 * could not be delivered, gets it undone.
 */
function undoable(
  granted: boolean | Promise<boolean>,
  undo: () => void,
): boolean | Promise<boolean> {
  const call = currentCall();
  if (call === undefined) return granted;
  if (granted === true) call.onUndo(undo);
  if (typeof granted === "boolean") return granted;
  return granted.then((ok) => {
    if (ok) call.onUndo(undo);
    return ok;
  });
}

/** What Condition needs from the lock it wraps. */
interface OwnedLock {
  acquireAs(caller: Caller, blocking: boolean, timeout?: number): boolean | Promise<boolean>;
  /** `acquireAs`, undone if the client call it runs for is undone. */
  acquireUndoable(caller: Caller, blocking: boolean, timeout?: number): boolean | Promise<boolean>;
  releaseAs(caller: Caller): void;
  /** Releases entirely; returns what `restoreAs` needs to take it back. */
  releaseAllAs(caller: Caller): number;
  restoreAs(caller: Caller, saved: number): Promise<void>;
  /** Takes the lock back at once if it is free (as `restoreAs` would); false if it is not. */
  tryRestoreAs(caller: Caller, saved: number): boolean;
  ownedBy(caller: Caller): boolean;
  locked(): boolean;
}

/**
 * What Lock and RLock share: a holder (the caller that acquired), a hold
 * count, and a FIFO of waiters the lock is handed to in turn. A holder
 * whose connection closes lets go of it entirely.
 */
abstract class HeldLock implements OwnedLock {
  /** Whether the holder may acquire again (RLock) or blocks like anyone else (Lock). */
  protected abstract readonly reentrant: boolean;
  protected holder: Caller | undefined;
  protected count = 0;
  /** Counts the times the lock changed hands: an undo names the hold it undoes. */
  #hold = 0;
  #forget: () => void = () => {};
  /** Waiters are handed the hold they were given. */
  readonly #waiters = new WaitList<number>();

  acquire(options?: AcquireOptions): boolean | Promise<boolean> {
    const { blocking, timeout } = checkBlocking(options);
    return this.acquireUndoable(connectionCaller(), blocking, timeout);
  }

  release(): void {
    this.releaseAs(connectionCaller());
  }

  locked(): boolean {
    return this.holder !== undefined;
  }

  ownedBy(caller: Caller): boolean {
    return this.holder === caller;
  }

  acquireAs(caller: Caller, blocking: boolean, timeout?: number): boolean | Promise<boolean> {
    const granted = this.#acquireHold(caller, blocking, timeout);
    if (typeof granted === "number") return true;
    if (granted === false) return false;
    return granted.then((hold) => hold !== false);
  }

  acquireUndoable(caller: Caller, blocking: boolean, timeout?: number): boolean | Promise<boolean> {
    const call = currentCall();
    const granted = this.#acquireHold(caller, blocking, timeout);
    // Acquired for a call that is then undone: let go of exactly that hold (a level of it, for
    // an RLock), never of a later one the same caller took after letting this one go.
    const undo = (hold: number) => () => {
      if (this.holder === caller && this.#hold === hold) this.releaseAs(caller);
    };
    if (typeof granted === "number") {
      call?.onUndo(undo(granted));
      return true;
    }
    if (granted === false) return false;
    return granted.then((hold) => {
      if (hold === false) return false;
      call?.onUndo(undo(hold));
      return true;
    });
  }

  /** The hold granted (a number), false, or a promise of either. */
  #acquireHold(
    caller: Caller,
    blocking: boolean,
    timeout?: number,
  ): number | false | Promise<number | false> {
    if (this.reentrant && this.holder === caller) {
      this.count++;
      return this.#hold;
    }
    if (this.holder === undefined) {
      this.#give(caller);
      return this.#hold;
    }
    if (!blocking) return false;
    return this.#waiters.wait(caller, timeout).then((outcome) => outcome?.value ?? false);
  }

  abstract releaseAs(caller: Caller): void;
  abstract releaseAllAs(caller: Caller): number;
  abstract restoreAs(caller: Caller, saved: number): Promise<void>;

  tryRestoreAs(caller: Caller, saved: number): boolean {
    if (this.holder !== undefined || caller.signal.aborted) return false;
    this.#give(caller);
    this.count = saved;
    return true;
  }

  /** Lets go entirely and hands the lock to the oldest waiter, if any. */
  protected handOn(): void {
    this.#forget();
    this.holder = undefined;
    this.count = 0;
    const next = this.#waiters.peek();
    if (next !== undefined) {
      this.#give(next.caller);
      this.#waiters.wakeOne(this.#hold);
    }
  }

  #give(caller: Caller): void {
    this.holder = caller;
    this.count = 1;
    this.#hold++;
    // A caller already gone is let go of at once.
    this.#forget = onCallerGone(caller, () => {
      if (this.holder === caller) this.handOn();
    });
  }
}

/**
 * A mutual-exclusion lock. Any caller may release it (as in Python), but
 * the server remembers who holds it, so it is released if the holder's
 * connection closes.
 */
export class Lock extends HeldLock {
  protected readonly reentrant = false;

  releaseAs(_caller: Caller): void {
    if (this.holder === undefined) throw new Error("release unlocked lock");
    this.handOn();
  }

  releaseAllAs(caller: Caller): number {
    this.releaseAs(caller);
    return 1;
  }

  async restoreAs(caller: Caller, _saved: number): Promise<void> {
    await this.acquireAs(caller, true);
  }
}

/** A re-entrant lock owned by the caller (connection) that acquired it. */
export class RLock extends HeldLock {
  protected readonly reentrant = true;

  releaseAs(caller: Caller): void {
    if (this.holder !== caller) throw new Error("cannot release un-acquired lock");
    if (--this.count === 0) this.handOn();
  }

  releaseAllAs(caller: Caller): number {
    if (this.holder !== caller) throw new Error("cannot release un-acquired lock");
    const saved = this.count;
    this.handOn();
    return saved;
  }

  async restoreAs(caller: Caller, saved: number): Promise<void> {
    // A caller that died waiting gets nothing back: the holder's count is not touched.
    if (await this.acquireAs(caller, true) && this.holder === caller) this.count = saved;
  }
}

/**
 * A counting semaphore. Its permits are not owned, as in Python: any
 * caller may release, and a caller whose connection closes keeps nothing
 * and gives nothing back (its pending acquires are dropped).
 */
export class Semaphore {
  #value: number;
  readonly #waiters = new WaitList<true>();

  constructor(value = 1) {
    if (!Number.isInteger(value) || value < 0) {
      throw new RangeError("A semaphore's initial value must be an integer >= 0");
    }
    this.#value = value;
  }

  acquire(options?: AcquireOptions): boolean | Promise<boolean> {
    const { blocking, timeout } = checkBlocking(options);
    // A permit taken for a call its client then cancels goes back.
    const giveBack = (): void => this.release();
    if (this.#value > 0) {
      this.#value--;
      return undoable(true, giveBack);
    }
    if (!blocking) return false;
    return undoable(
      this.#waiters.wait(connectionCaller(), timeout).then((outcome) => outcome !== null),
      giveBack,
    );
  }

  release(n = 1): void {
    if (!Number.isInteger(n) || n < 1) throw new RangeError("release(n) needs n of one or more");
    this.check(n);
    // Each permit goes to the oldest waiter, or back to the count.
    for (let i = 0; i < n; i++) if (!this.#waiters.wakeOne(true)) this.#value++;
  }

  /** The number of permits free now (Python keeps it in `_value`). */
  value(): number {
    return this.#value;
  }

  locked(): boolean {
    return this.#value === 0;
  }

  /** Subclasses refuse releases that are too many. */
  protected check(_n: number): void {}
}

/** A semaphore that refuses to be released above its initial value. */
export class BoundedSemaphore extends Semaphore {
  readonly #initial: number;

  constructor(value = 1) {
    super(value);
    this.#initial = value;
  }

  protected override check(n: number): void {
    if (this.value() + n > this.#initial) {
      throw new RangeError("Semaphore released too many times");
    }
  }
}

/** A flag that callers can wait for. */
export class Event {
  #flag = false;
  readonly #waiters = new WaitList<true>();

  isSet(): boolean {
    return this.#flag;
  }

  set(): void {
    this.#flag = true;
    this.#waiters.wakeAll(true);
  }

  clear(): void {
    this.#flag = false;
  }

  wait(options?: WaitOptions): boolean | Promise<boolean> {
    const timeout = checkTimeout(options?.timeout);
    if (this.#flag) return true;
    // Woken by set() means true, even if clear() followed at once (as Python's).
    return this.#waiters.wait(connectionCaller(), timeout).then((woken) => woken !== null);
  }
}

/** A condition variable over a Lock or RLock (a new RLock by default). */
export class Condition {
  readonly #lock: OwnedLock;
  /** Woken waiters are handed the arrival mark of the newest waiter at the notify. */
  readonly #waiters = new WaitList<number>();

  constructor(lock?: BaseProxy) {
    if (lock === undefined || lock === null) {
      this.#lock = new RLock();
      return;
    }
    const referent = localReferent(lock);
    if (!(referent instanceof Lock || referent instanceof RLock)) {
      throw new TypeError("Condition(lock) needs a Lock or RLock of the same manager");
    }
    this.#lock = referent;
  }

  acquire(options?: AcquireOptions): boolean | Promise<boolean> {
    const { blocking, timeout } = checkBlocking(options);
    return this.#lock.acquireUndoable(connectionCaller(), blocking, timeout);
  }

  release(): void {
    this.#lock.releaseAs(connectionCaller());
  }

  locked(): boolean {
    return this.#lock.locked();
  }

  /** Releases the lock, waits for a notify (or the timeout), takes the lock back. */
  async wait(options?: WaitOptions): Promise<boolean> {
    const timeout = checkTimeout(options?.timeout);
    const caller = connectionCaller();
    if (!this.#lock.ownedBy(caller)) throw new Error("cannot wait on un-acquired lock");
    const saved = this.#lock.releaseAllAs(caller);
    // Cancelled by its client: the lock comes back at once, when free, so that the caller's next
    // message (its release, say) finds it held, as after any wait() in Python.
    const call = currentCall();
    let restored = false;
    const restoreNow = (): void => {
      restored = this.#lock.tryRestoreAs(caller, saved);
    };
    call?.cancelled?.addEventListener("abort", restoreNow, { once: true });
    const notified = await this.#waiters.wait(caller, timeout);
    call?.cancelled?.removeEventListener("abort", restoreNow);
    if (caller.signal.aborted) return false;
    if (notified !== null) {
      // Notified for a call that is then undone: the notify goes to the next waiter that was
      // there when it was given, as if this wait had never been.
      const mark = notified.value;
      call?.onUndo(() => this.#waiters.wakeOneUpTo(mark, mark));
    }
    if (!restored) await this.#lock.restoreAs(caller, saved);
    return notified !== null;
  }

  notify(n = 1): void {
    if (!this.#lock.ownedBy(connectionCaller())) {
      throw new Error("cannot notify on un-acquired lock");
    }
    const mark = this.#waiters.lastSeq;
    for (let i = 0; i < n && this.#waiters.wakeOne(mark); i++) { /* woken */ }
  }

  notifyAll(): void {
    if (!this.#lock.ownedBy(connectionCaller())) {
      throw new Error("cannot notify on un-acquired lock");
    }
    this.#waiters.wakeAll(this.#waiters.lastSeq);
  }
}

/** A method call the last party to reach a barrier makes before releasing the others. */
export interface BarrierAction {
  /** A proxy of an object of the same manager. */
  readonly target: BaseProxy;
  /** The method to call on it. */
  readonly method: string;
  /** Its arguments. */
  readonly args?: readonly unknown[];
}

/** Options of `Barrier()`. */
export interface BarrierOptions {
  /** Called once per cycle by the last party to arrive, before the others are released. */
  readonly action?: BarrierAction;
  /** Default timeout of `wait()`, in ms. */
  readonly timeout?: number | undefined;
}

type Outcome = { kind: "passed"; index: number } | { kind: "broken"; error: Error };

/** A barrier for a fixed number of parties, reusable cycle after cycle. */
export class Barrier {
  readonly #parties: number;
  readonly #action: BarrierAction | undefined;
  readonly #timeout: number | undefined;
  #count = 0;
  #broken = false;
  #waiters = new WaitList<Outcome>();

  constructor(parties: number, options: BarrierOptions = {}) {
    if (!Number.isInteger(parties) || parties < 1) {
      throw new RangeError("A barrier's parties must be an integer >= 1");
    }
    this.#parties = parties;
    this.#timeout = checkTimeout(options?.timeout);
    this.#action = options?.action;
    if (this.#action !== undefined && typeof this.#action.method !== "string") {
      throw new TypeError("A barrier action is { target: proxy, method: string, args? }");
    }
  }

  /** Waits until all parties arrive; resolves with this party's arrival index (0 first). */
  async wait(options?: WaitOptions): Promise<number> {
    const timeout = checkTimeout(options?.timeout) ?? this.#timeout;
    if (this.#broken) throw new BrokenBarrierError();
    const caller = connectionCaller();
    if (++this.#count === this.#parties) {
      // Close this cycle before the action runs: later arrivals start the next one.
      const waiters = this.#waiters;
      this.#waiters = new WaitList();
      this.#count = 0;
      try {
        if (this.#action !== undefined) {
          const { target, method, args = [] } = this.#action;
          await target._callmethod(method, args);
        }
      } catch (error) {
        this.#break();
        waiters.wakeAll({ kind: "broken", error: new BrokenBarrierError() });
        throw error;
      }
      // Indices go by arrival among the parties that stayed: one that left (its call
      // cancelled) takes no number, as if it had never come.
      waiters.wakeEach((index) => ({ kind: "passed", index }));
      return this.#parties - 1;
    }
    const waiters = this.#waiters;
    const gone = onCallerGone(caller, () => this.#break());
    const call = currentCall();
    const outcome = await waiters.wait(caller, timeout);
    gone();
    if (outcome === null && call?.cancelled?.aborted) {
      // Cancelled by its client while waiting: this party leaves, the barrier stays whole.
      if (this.#waiters === waiters) this.#count--;
      throw new DOMException("The client cancelled the call", "AbortError");
    }
    if (outcome === null) {
      // Timed out (or our connection died): the barrier breaks, as in Python.
      this.#break();
      throw new BrokenBarrierError();
    }
    if (outcome.value.kind === "broken") throw outcome.value.error;
    return outcome.value.index;
  }

  /** Breaks the barrier: current and later waits fail until `reset()`. */
  abort(): void {
    this.#break();
  }

  /** Returns the barrier to its empty state; current waiters get BrokenBarrierError. */
  reset(): void {
    const waiters = this.#waiters;
    this.#waiters = new WaitList();
    this.#count = 0;
    this.#broken = false;
    waiters.wakeAll({ kind: "broken", error: new BrokenBarrierError() });
  }

  parties(): number {
    return this.#parties;
  }

  nWaiting(): number {
    return this.#broken ? 0 : this.#waiters.size;
  }

  broken(): boolean {
    return this.#broken;
  }

  #break(): void {
    this.#broken = true;
    const waiters = this.#waiters;
    this.#waiters = new WaitList();
    this.#count = 0;
    waiters.wakeAll({ kind: "broken", error: new BrokenBarrierError() });
  }
}

/** The object behind a server-side proxy of the same manager. */
function localReferent(proxy: unknown): unknown {
  if (typeof proxy !== "object" || proxy === null || !("_token" in proxy)) return undefined;
  const typed = proxy as BaseProxy;
  return channelOf(typed)?.referent?.(typed._token.id);
}
