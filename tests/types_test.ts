/**
 * Type-level tests: `deno check` must accept this file, and each
 * `@ts-expect-error` line must really be an error.
 */
import type { BaseManager, BaseProxy, DictProxy, Remote, RemoteOf } from "../mod.ts";
import type { Counter, Store } from "./_fixtures/counter.ts";

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
function expectType<T extends true>(_ok: T): void {}

Deno.test("Remote<T> maps public methods to promise-returning ones", () => {
  const check = (counter: Remote<Counter>, store: Remote<Store>): void => {
    expectType<Equals<ReturnType<typeof counter.increment>, Promise<number>>>(true);
    expectType<Equals<Parameters<typeof counter.increment>, Parameters<Counter["increment"]>>>(
      true,
    );
    // A method returning a promise is awaited once, not twice.
    expectType<Equals<ReturnType<typeof counter.later>, Promise<unknown>>>(true);
    expectType<Equals<ReturnType<typeof store.size>, Promise<number>>>(true);
    const proxy: BaseProxy = counter;
    void proxy;
    // @ts-expect-error: `_secret` starts with an underscore and is not exposed
    counter._secret();
    // @ts-expect-error: a wrong argument type
    counter.increment("one");
    // @ts-expect-error: not a method of Counter
    counter.decrement();
    // @ts-expect-error: fields are not part of the proxy (Store has no public field; BaseProxy's are read-only)
    counter._token = { typeid: "x", address: "y", id: 1 };
  };
  void check;
});

Deno.test("Remote<T> leaves out fields", () => {
  // deno-lint-ignore no-unused-vars
  class WithField {
    count = 0;
    bump(): number {
      return ++this.count;
    }
  }
  const check = (remote: Remote<WithField>): void => {
    expectType<Equals<ReturnType<typeof remote.bump>, Promise<number>>>(true);
    // @ts-expect-error: a field, not a method
    remote.count;
  };
  void check;
});

Deno.test("create() of a class with static _exposed_ types only the exposed methods", () => {
  class Account {
    static readonly _exposed_ = ["balance", "deposit"] as const;
    #cents = 0;
    balance(): number {
      return this.#cents;
    }
    deposit(cents: number): number {
      return (this.#cents += cents);
    }
    wipe(): void {
      this.#cents = 0;
    }
  }
  const check = async (manager: BaseManager): Promise<void> => {
    const account = await manager.create(Account);
    expectType<Equals<typeof account, RemoteOf<typeof Account>>>(true);
    expectType<Equals<ReturnType<typeof account.deposit>, Promise<number>>>(true);
    // @ts-expect-error: wipe is a public method but not in _exposed_
    account.wipe();
  };
  void check;
});

Deno.test("DictProxy.get does not take its type from the assignment target", () => {
  const check = async (dict: DictProxy<string, number>): Promise<void> => {
    expectType<Equals<Awaited<ReturnType<typeof dict.get<string>>>, number | string>>(true);
    const plain = await dict.get("k");
    expectType<Equals<typeof plain, number | undefined>>(true);
    const withFallback = await dict.get("k", 0);
    expectType<Equals<typeof withFallback, number>>(true);
    // @ts-expect-error: the value may be undefined; the target cannot widen it to string
    const wrong: string = await dict.get("k");
    void wrong;
  };
  void check;
});
