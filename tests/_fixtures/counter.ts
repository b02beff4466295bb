/** Shared classes used by the tests; the server process imports this module. */
import { BaseManager, BaseProxy, IteratorProxy, shared } from "../../mod.ts";

/** A manager class of the tests' own, so registrations stay out of BaseManager. */
export class TestManager extends BaseManager {}

/** A manager for tests that register more on it at run time. */
export class ScopedManager extends BaseManager {}
ScopedManager.register("Thing", () => ({ ping: () => "pong" }));

let initialValue = 0;

/** An initializer for `start()`: later counters start at `value`. */
export function initializeCounter(value: number): void {
  if (value < 0) throw new RangeError("initial value must not be negative");
  initialValue = value;
}

@shared({ manager: TestManager })
export class Counter {
  #value: number;
  constructor(start = initialValue) {
    this.#value = start;
  }
  increment(by = 1): number {
    return (this.#value += by);
  }
  get(): number {
    return this.#value;
  }
  async later(ms: number, value: unknown): Promise<unknown> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return value;
  }
  echo<T>(value: T): T {
    return value;
  }
  /** Every argument it was given (a CPython caller's keywords arrive as a trailing object). */
  argumentsOf(...values: unknown[]): unknown[] {
    return values;
  }
  /** Never settles. */
  hang(): Promise<never> {
    return new Promise(() => {});
  }
  /** Blocks the server's event loop for `ms` milliseconds, then answers. */
  block(ms: number): number {
    const until = performance.now() + ms;
    while (performance.now() < until) { /* busy */ }
    return this.#value;
  }
  fail(message: string): never {
    throw new RangeError(message, { cause: { code: 42 } });
  }
  _secret(): string {
    return "hidden";
  }
}

/** CPython's `FooBar` from `_TestMyManager`. */
export class FooBar {
  f(): string {
    return "f()";
  }
  g(): never {
    throw new TypeError("g() always fails");
  }
  _h(): string {
    return "_h()";
  }
}
TestManager.register("Foo", FooBar);
TestManager.register("Bar", FooBar, { exposed: ["f", "_h"] });

/** A hand-written proxy, as CPython's AcquirerProxy. */
export class CounterProxy extends BaseProxy {
  static _exposed_ = ["increment", "get"];
  increment(by = 1): Promise<number> {
    return this._callmethod("increment", [by]) as Promise<number>;
  }
  get(): Promise<number> {
    return this._callmethod("get") as Promise<number>;
  }
  /** A client-side method built from two remote calls. */
  async double(): Promise<number> {
    return await this.increment(await this.get());
  }
}
TestManager.register("TypedCounter", (start: number) => new Counter(start), {
  proxytype: CounterProxy,
});

/** A keyed store that holds anything, proxies included. */
@shared({ manager: TestManager, methodToTypeid: { iterate: "Iterator" } })
export class Store {
  #map = new Map<unknown, unknown>();
  constructor(entries: [unknown, unknown][] = []) {
    for (const [key, value] of entries) this.#map.set(key, value);
  }
  set(key: unknown, value: unknown): void {
    this.#map.set(key, value);
  }
  get(key: unknown): unknown {
    return this.#map.get(key);
  }
  delete(key: unknown): boolean {
    return this.#map.delete(key);
  }
  size(): number {
    return this.#map.size;
  }
  clear(): void {
    this.#map.clear();
  }
  keys(): unknown[] {
    return [...this.#map.keys()];
  }
  iterate(): Iterator<unknown> {
    return this.#map.keys();
  }
  /** Calls a method on a proxy it was given, from inside the server. */
  async callOn(proxy: { increment(by?: number): Promise<number> }, by: number): Promise<number> {
    return await proxy.increment(by);
  }
}
TestManager.register("Iterator", undefined, { exposed: ["next"], createMethod: false });

/** Errors of every shape, thrown on the server. */
@shared({ manager: TestManager })
export class Thrower {
  custom(): never {
    class ValidationError extends Error {
      override name = "ValidationError";
      field = "email";
    }
    throw new ValidationError("bad email");
  }
  aggregate(): never {
    throw new AggregateError([new TypeError("one"), new RangeError("two")], "both failed");
  }
  value(value: unknown): never {
    throw value;
  }
  async rejectLater(): Promise<never> {
    await new Promise((resolve) => setTimeout(resolve, 10));
    throw new SyntaxError("late failure");
  }
  makeFunction(): () => number {
    return () => 1;
  }
}

/** A factory that always fails. */
TestManager.register("Broken", () => {
  throw new RangeError("cannot build Broken");
});

/** Tries things a sandboxed server process should not be able to do. */
@shared({ manager: TestManager })
export class Probe {
  read(path: string): Promise<string> {
    return Deno.readTextFile(path);
  }
  env(name: string): string | undefined {
    return Deno.env.get(name);
  }
  async connect(port: number): Promise<string> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return "connected";
  }
  async run(): Promise<boolean> {
    return (await new Deno.Command("true").output()).success;
  }
  /** Imports a module by URL at run time, as a dependency could. */
  async importUrl(url: string): Promise<string> {
    await import(url);
    return "imported";
  }
  /** Blocks the server's event loop for `ms` milliseconds. */
  spin(ms: number): number {
    const until = performance.now() + ms;
    let n = 0;
    while (performance.now() < until) n++;
    return n;
  }
}

/** CPython's `baz`: a generator shared through an IteratorProxy (_TestMyManager). */
TestManager.register(
  "baz",
  function* (): Generator<number> {
    for (let i = 0; i < 10; i++) yield i * i;
  },
  { proxytype: IteratorProxy },
);
