/**
 * A process that subscribes to a shared Broadcast with a callback, prints
 * "subscribed", then waits: the test stops it (SIGSTOP) so that it reads
 * nothing, and later kills it.
 */
import { callback, proxyFromString, type Remote } from "../../mod.ts";
import type { Broadcast } from "./stops.ts";

if (import.meta.main) {
  const [ticket, keyHex] = Deno.args;
  const authkey = Uint8Array.from(keyHex!.match(/../g)!, (b) => parseInt(b, 16));
  const broadcast = await proxyFromString<Remote<Broadcast>>(ticket!, { authkey });
  await broadcast.subscribe(callback((event: unknown) => (event as Uint8Array).length));
  console.log("subscribed");
  await new Promise(() => {}); // until killed
}
