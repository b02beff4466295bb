/**
 * The fuzz test's target: a manager server in a process of its own, so the
 * test can watch its stderr and its life. Prints its address, then serves.
 * The authkey (hex) is the first argument: this is a test fixture.
 */
import { TestManager } from "./counter.ts";

const authkey = Uint8Array.from(Deno.args[0]!.match(/../g)!, (pair) => parseInt(pair, 16));
const server = new TestManager({ address: { hostname: "127.0.0.1", port: 0 }, authkey })
  .getServer();
console.log(JSON.stringify(server.address));
await server.serveForever();
