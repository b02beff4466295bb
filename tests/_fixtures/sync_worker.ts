/**
 * Worker processes for the SyncManager tests: the child functions of
 * CPython's manager tests, one scenario each. The worker reads one JSON
 * command on stdin ({ scenario, address, authkey, proxies, args }), claims
 * the proxies it was handed as strings, runs the scenario and exits; a
 * failed assertion exits with code 1, as CPython's children do.
 */
import assert from "node:assert/strict";
import {
  type AcquirerProxy,
  type ArrayProxy,
  type BarrierProxy,
  type BaseProxy,
  type ConditionProxy,
  type DictProxy,
  type EventProxy,
  type ListProxy,
  proxyFromString,
  type QueueProxy,
  type SemaphoreProxy,
  SyncManager,
  type ValueProxy,
} from "../../mod.ts";
import { REMOTE_VALUES } from "./values.ts";

interface Command {
  scenario: string;
  address: SyncManager["address"];
  authkey: string;
  proxies: Record<string, string>;
  args?: Record<string, number>;
}

const command = JSON.parse(await new Response(Deno.stdin.readable).text()) as Command;
const authkey = Uint8Array.from(atob(command.authkey), (c) => c.charCodeAt(0));
const args = command.args ?? {};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

await using manager = await new SyncManager({ address: command.address, authkey, modules: [] })
  .connect();
const proxies: Record<string, BaseProxy> = {};
for (const [name, text] of Object.entries(command.proxies)) {
  proxies[name] = await proxyFromString(text, { authkey, manager });
}
// deno-lint-ignore no-explicit-any
const p = proxies as Record<string, any>;

const scenarios: Record<string, () => Promise<void>> = {
  // _TestQueue.test_put's child: six get()s once allowed.
  async queueConsume(): Promise<void> {
    await (p.childCanStart as EventProxy).wait();
    for (let i = 0; i < 6; i++) await (p.queue as QueueProxy).get();
    await (p.parentCanContinue as EventProxy).set();
  },
  // _TestQueue.test_get's child: puts 2, 3, 4, 5 once allowed.
  async queueProduce(): Promise<void> {
    await (p.childCanStart as EventProxy).wait();
    for (const item of [2, 3, 4, 5]) await (p.queue as QueueProxy).put(item);
    await (p.parentCanContinue as EventProxy).set();
  },
  // _TestRemoteManager.test_remote's child: one put of many kinds of value.
  async queuePutValues(): Promise<void> {
    await (p.queue as QueueProxy).put(REMOTE_VALUES);
  },
  // _TestQueue.test_fork's child.
  async queuePutRange(): Promise<void> {
    for (let i = args.from!; i < args.to!; i++) await (p.queue as QueueProxy).put(i);
  },
  // _TestQueue.test_task_done's child: iter(q.get, None) with task_done.
  async joinableConsumer(): Promise<void> {
    const queue = p.queue as QueueProxy<number | null>;
    while (true) {
      const item = await queue.get();
      if (item === null) break;
      await sleep(args.sleep ?? 0);
      if (p.results) await (p.results as DictProxy<number, number>).set(item, item * item);
      await queue.taskDone();
    }
  },
  // _TestEvent.test_event's child.
  async eventSetLater(): Promise<void> {
    await sleep(100);
    await (p.event as EventProxy).set();
  },
  // _TestCondition's f(cond, sleeping, woken, timeout).
  async conditionSleeper(): Promise<void> {
    const cond = p.cond as ConditionProxy;
    await cond.acquire();
    await (p.sleeping as SemaphoreProxy).release();
    await cond.wait(args.timeout === undefined ? undefined : { timeout: args.timeout });
    await (p.woken as SemaphoreProxy).release();
    await cond.release();
  },
  // _TestCondition.test_waitfor's child.
  async conditionWaitFor(): Promise<void> {
    const cond = p.cond as ConditionProxy;
    const state = p.state as ValueProxy<number>;
    await cond.acquire();
    await state.set(0);
    await cond.notify();
    const result = await cond.waitFor(async () => (await state.get()) === 4);
    assert.ok(result);
    assert.equal(await state.get(), 4);
    await cond.release();
  },
  // _TestCondition.test_wait_result's child: notify, then linger.
  async conditionNotify(): Promise<void> {
    const cond = p.cond as ConditionProxy;
    await cond.acquire();
    await cond.notify();
    await cond.release();
    await sleep(1000);
  },
  // _TestBarrier's multipass(barrier, results, n).
  async barrierMultipass(): Promise<void> {
    const barrier = p.barrier as BarrierProxy;
    const [first, second] = [p.results0 as ListProxy, p.results1 as ListProxy];
    for (let i = 0; i < args.passes!; i++) {
      await first.append(true);
      assert.equal(await second.length(), i * args.parties!);
      await barrier.wait();
      await second.append(true);
      assert.equal(await first.length(), (i + 1) * args.parties!);
      await barrier.wait();
    }
  },
  // _TestBarrier.test_wait_return's child.
  async barrierWaitReturn(): Promise<void> {
    await (p.queue as QueueProxy).put(await (p.barrier as BarrierProxy).wait());
  },
  // Takes items and dies processing the last (it is killed after saying "held").
  async takeAndHold(): Promise<void> {
    for (let i = 0; i < (args.times ?? 1); i++) await (p.queue as QueueProxy).get();
    console.log("held");
    await new Promise(() => setInterval(() => {}, 1000));
  },
  // Waits in get(), says so, and waits to be killed.
  async getForever(): Promise<void> {
    const pending = (p.queue as QueueProxy).get();
    await sleep(50); // the request is on the wire well before this
    console.log("held");
    await pending;
    throw new Error("this worker should have been killed before an item came");
  },
  // Takes a lock or a permit (several times for an RLock), says so, then waits to be killed.
  async holdForever(): Promise<void> {
    for (let i = 0; i < (args.times ?? 1); i++) {
      assert.ok(await (p.acquirer as AcquirerProxy).acquire());
    }
    console.log("held");
    await new Promise(() => setInterval(() => {}, 1000));
  },
  // Waits on a Condition, says so, and waits to be killed (notified or not).
  async conditionWaitForever(): Promise<void> {
    const cond = p.cond as ConditionProxy;
    await cond.acquire();
    const waiting = cond.wait();
    await sleep(50); // the wait is parked on the server well before this
    console.log("held");
    await waiting;
    await new Promise(() => setInterval(() => {}, 1000));
  },
  // 1,000 mixed operations on shared objects; every item names its worker.
  async mixed(): Promise<void> {
    const lock = p.lock as AcquirerProxy;
    const dict = p.dict as DictProxy<string, number>;
    const list = p.list as ListProxy<string>;
    const queue = p.queue as QueueProxy<string>;
    const me = args.worker!;
    for (let i = 0; i < 1000; i++) {
      const item = `${me}-${i}`;
      switch (i % 4) {
        case 0: {
          await using _held = await lock.hold();
          await dict.set("counter", (await dict.get("counter", 0)) + 1);
          break;
        }
        case 1:
          await list.append(item);
          break;
        case 2:
          await queue.put(item);
          break;
        default:
          await dict.set(item, i);
      }
    }
  },
  // Increments a dict entry under a lock.
  async incrementUnderLock(): Promise<void> {
    const lock = p.lock as AcquirerProxy;
    const counts = p.counts as DictProxy<string, number>;
    for (let i = 0; i < args.times!; i++) {
      await using _held = await lock.hold();
      await counts.set("n", (await counts.get("n", 0)) + 1);
    }
  },
  // TestSyncManagerTypes: the child's checks for each type.
  async typesEvent(): Promise<void> {
    const o = p.obj as EventProxy;
    assert.ok(await o.isSet());
    assert.ok(await o.wait());
    await o.clear();
    assert.equal(await o.wait({ timeout: 1 }), false);
  },
  async typesLock(): Promise<void> {
    await (p.obj as AcquirerProxy).acquire(); // and exit while holding it
  },
  async typesAcquireRelease(): Promise<void> {
    await (p.obj as AcquirerProxy).acquire();
    await (p.obj as AcquirerProxy).release();
  },
  async typesSemaphore(): Promise<void> {
    await (p.obj as SemaphoreProxy).acquire();
  },
  async typesBarrier(): Promise<void> {
    assert.equal(await (p.obj as BarrierProxy).parties(), 5);
    await (p.obj as BarrierProxy).reset();
  },
  async typesQueue(): Promise<void> {
    const o = p.obj as QueueProxy<number>;
    assert.equal(await o.qsize(), 2);
    assert.ok(await o.full());
    assert.ok(!(await o.empty()));
    assert.equal(await o.get(), 5);
    assert.ok(!(await o.empty()));
    assert.equal(await o.get(), 6);
    assert.ok(await o.empty());
  },
  async typesList(): Promise<void> {
    const o = p.obj as ListProxy<number>;
    assert.equal(await o.get(0), 5);
    assert.equal(await o.count(5), 1);
    assert.equal(await o.index(5), 0);
    await o.sort();
    await o.reverse();
    for await (const _ of o) { /* iterates */ }
    assert.equal(await o.length(), 1);
    assert.equal(await o.pop(0), 5);
  },
  async typesDict(): Promise<void> {
    const o = p.obj as DictProxy<string, number>;
    assert.equal(await o.size(), 1);
    assert.equal(await o.get("foo"), 5);
    assert.deepEqual(await o.entries(), [["foo", 5]]);
    assert.deepEqual(await o.keys(), ["foo"]);
    assert.deepEqual(await o.values(), [5]);
    assert.deepEqual(await o.copy(), new Map([["foo", 5]]));
    assert.deepEqual(await o.popitem(), ["foo", 5]);
  },
  async typesValue(): Promise<void> {
    const o = p.obj as ValueProxy<number>;
    assert.equal(await o.get(), 1);
    await o.set(2);
  },
  async typesArray(): Promise<void> {
    const o = p.obj as ArrayProxy<number>;
    assert.equal(await o.get(0), 0);
    assert.equal(await o.get(1), 1);
    assert.equal(await o.length(), 2);
    assert.deepEqual(await o.toArray(), [0, 1]);
  },
};

const scenario = scenarios[command.scenario];
if (scenario === undefined) throw new Error(`Unknown scenario ${command.scenario}`);
await scenario();
for (const proxy of Object.values(proxies)) await proxy[Symbol.asyncDispose]();
