/**
 * Errors that escape shared code: a promise rejected with no handler, an
 * exception thrown from a timer or a callback. In a manager's server
 * process they must not end the process (every client's objects would go
 * with it): each is reported on stderr, with the call that ran most
 * recently, and the server keeps serving.
 *
 * @module
 */

let lastCall = "";

/** Records the call being dispatched, for the report of a stray error. */
export function noteCall(typeid: string, method: string): void {
  lastCall = `${typeid}.${method}()`;
}

/** Reports stray errors in this process instead of letting them end it. */
export function catchStrayErrors(where: string): void {
  const report = (what: string, error: unknown): void => {
    const detail = error instanceof Error
      ? error.stack ?? `${error.name}: ${error.message}`
      : String(error);
    const recent = lastCall === "" ? "" : ` (the most recent call was ${lastCall})`;
    console.error(
      `${where} (pid ${Deno.pid}) kept serving after ${what} in shared code${recent}: ${detail}`,
    );
  };
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    report("an unhandled promise rejection", event.reason);
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    report("an uncaught exception", event.error);
  });
}
