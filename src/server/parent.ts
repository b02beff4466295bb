/**
 * A child process started by this library ends when its parent does: the
 * parent holds the child's stdin open, and its end of file (the parent
 * closed it, exited or was killed, even by SIGKILL) is the signal.
 *
 * @module
 */

/** Resolves when stdin reaches end of file: the parent closed it or died. */
export async function watchParent(): Promise<void> {
  const buffer = new Uint8Array(64);
  try {
    while ((await Deno.stdin.read(buffer)) !== null) { /* nothing else is sent */ }
  } catch { /* a broken pipe means the same */ }
}
