/** Shared classes used by the tests; the server process imports this module. */
import { BaseManager, shared } from "../../mod.ts";

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
  fail(message: string): never {
    throw new RangeError(message, { cause: { code: 42 } });
  }
  _secret(): string {
    return "hidden";
  }
}
