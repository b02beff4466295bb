/**
 * A CPython manager server (the Python docs' remote-manager example,
 * `server.py`) and a Deno client: `serializer: "pickle"` speaks CPython's
 * own protocol, so the Deno side puts and gets items of a Python
 * `queue.Queue`, with Python's keyword arguments, and stops the server.
 *
 *     deno run --allow-run --allow-read --allow-net examples/python_interop/python_hosts.ts
 */
import { BaseManager, type BaseProxy, kwargs } from "../../mod.ts";

if (import.meta.main) {
  const authkey = crypto.getRandomValues(new Uint8Array(32));
  const server = new Deno.Command("python3", {
    args: [
      new URL("./server.py", import.meta.url).pathname,
      Array.from(authkey, (b) => b.toString(16).padStart(2, "0")).join(""),
    ],
    stdout: "piped",
  }).spawn();
  const lines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let banner = "";
  while (!banner.includes("\n")) banner += (await lines.read()).value ?? "";
  const [hostname, port] = banner.trim().replace("serving on ", "").split(":");
  console.log(`CPython is ${banner.trim()}`);

  const manager = await new BaseManager({
    address: { hostname: hostname!, port: Number(port) },
    authkey,
    serializer: "pickle",
    legacyAuth: true, // python3 3.8-3.11 answer with HMAC-MD5; 3.12+ need not
  }).connect();
  const queue = await manager.create("get_queue") as BaseProxy;
  await queue._callmethod("put", [{ from: "Deno", items: [1, 2n ** 64n, new Date(0)] }]);
  console.log("qsize:", await queue._callmethod("qsize"));
  console.log("got back:", await queue._callmethod("get", [kwargs({ timeout: 1 })]));
  try {
    await queue._callmethod("get", [kwargs({ timeout: 0.1 })]);
  } catch (error) {
    console.log(`an empty queue raises ${(error as Error).name}, as queue.Empty in Python`);
  }
  await queue[Symbol.asyncDispose]();
  await manager.shutdown(); // asks the CPython server to stop
  console.log("CPython server exited:", (await server.status).success);
  await lines.cancel();
}
