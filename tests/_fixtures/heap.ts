/** A shared class that reports its server's heap after forced collections. */
import { shared } from "../../mod.ts";
import { TestManager } from "./counter.ts";

/** The server's heap, measured. */
@shared({ manager: TestManager })
export class Heap {
  /** Bytes in use on the server's heap after forced collections (the server runs with --expose-gc). */
  async used(): Promise<number> {
    const gc = (globalThis as { gc?: () => void }).gc!;
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    return Deno.memoryUsage().heapUsed;
  }
}

/** Calls that never settle: each waits on a promise the object keeps. */
@shared({ manager: TestManager })
export class Parking {
  readonly #parked: (() => void)[] = [];
  /** Never settles (the object keeps its resolver); `_payload` is not kept. */
  park(_payload: unknown): Promise<void> {
    return new Promise((resolve) => this.#parked.push(resolve));
  }
  /** How many calls are parked. */
  parked(): number {
    return this.#parked.length;
  }
}
