/**
 * Small promise helpers shared by the manager, the server and the
 * launcher.
 *
 * @module
 */

/** True if `promise` settles within `ms`; the timer never outlives the call. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Calls `onExpire` after `ms` unless the returned function is called first.
 * The timer does not keep the process alive.
 *
 * Built on `AbortSignal.timeout`, not `setTimeout`: in Deno 2.9 a process's
 * first `setTimeout` loads Deno's Node-compatible timers (about 6 ms here),
 * and the handshake deadlines sit on `start()`'s path in both processes.
 */
export function onDeadline(ms: number, onExpire: () => void): () => void {
  const signal = AbortSignal.timeout(ms);
  signal.addEventListener("abort", onExpire, { once: true });
  return () => signal.removeEventListener("abort", onExpire);
}
