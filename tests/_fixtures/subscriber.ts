/** A process that subscribes to a shared Events object with a callback, then waits to be killed. */
import { callback, proxyFromString, type Remote } from "../../mod.ts";
import type { Events } from "./cancellable.ts";

if (import.meta.main) {
  const [ticket, keyHex] = Deno.args;
  const authkey = Uint8Array.from(keyHex!.match(/../g)!, (b) => parseInt(b, 16));
  const events = await proxyFromString<Remote<Events>>(ticket!, { authkey });
  await events.subscribe(callback((event: string) => `seen ${event}`));
  console.log("subscribed");
  await new Promise(() => {}); // until killed
}
