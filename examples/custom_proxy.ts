/**
 * A hand-written proxy class, as CPython's AcquirerProxy: typed methods,
 * plus client-side methods built from several remote calls.
 *
 *     deno run --allow-run --allow-read --allow-write --allow-net examples/custom_proxy.ts
 */
import { BaseManager, BaseProxy } from "../mod.ts";

/** Lives in the manager's server process. */
export class Accumulator {
  #values: number[] = [];
  add(value: number): number {
    this.#values.push(value);
    return this.#values.length;
  }
  total(): number {
    return this.#values.reduce((sum, value) => sum + value, 0);
  }
  count(): number {
    return this.#values.length;
  }
}

/** Lives in every client: each method is one remote call, or several. */
export class AccumulatorProxy extends BaseProxy {
  static _exposed_ = ["add", "total", "count"];

  add(value: number): Promise<number> {
    return this._callmethod("add", [value]) as Promise<number>;
  }
  total(): Promise<number> {
    return this._callmethod("total") as Promise<number>;
  }
  count(): Promise<number> {
    return this._callmethod("count") as Promise<number>;
  }
  /** All adds are in flight at once on the one connection. */
  async addAll(values: number[]): Promise<void> {
    await Promise.all(values.map((value) => this.add(value)));
  }
  /** Two remote calls, sent together. */
  async mean(): Promise<number> {
    const [total, count] = await Promise.all([this.total(), this.count()]);
    return count === 0 ? NaN : total / count;
  }
}

/** A manager whose factory method returns the typed proxy. */
export class StatsManager extends BaseManager {
  declare Accumulator: () => Promise<AccumulatorProxy>;
}
StatsManager.register("Accumulator", Accumulator, { proxytype: AccumulatorProxy });

if (import.meta.main) {
  await using manager = await new StatsManager({ modules: [import.meta.url] }).start();
  await using accumulator = await manager.Accumulator();
  await accumulator.addAll([3, 5, 8, 13]);
  console.log(`${accumulator}`);
  console.log(`count ${await accumulator.count()}, mean ${await accumulator.mean()}`);
}
