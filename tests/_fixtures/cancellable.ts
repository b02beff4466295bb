/** A shared class that watches its calls being cancelled, and a SyncManager for the races. */
import { currentCaller, shared, SyncManager } from "../../mod.ts";

/** The cancellation tests' manager: SyncManager's types and a Watcher. */
export class CancelManager extends SyncManager {}

/** Counts the calls whose client cancelled them while they ran. */
@shared({ manager: CancelManager })
export class Watcher {
  #cancelled = 0;
  #finished = 0;
  /** Waits `ms`, or until the call is cancelled; says which. */
  async work(ms: number): Promise<string> {
    const signal = currentCaller().signal; // read before any await
    const outcome = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve("finished"), ms);
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve("cancelled");
      }, { once: true });
    });
    if (outcome === "cancelled") this.#cancelled++;
    else this.#finished++;
    return outcome;
  }
  counts(): { cancelled: number; finished: number } {
    return { cancelled: this.#cancelled, finished: this.#finished };
  }
}
