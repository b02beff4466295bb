/**
 * A worker process for the tests. It reads one JSON command from stdin
 * and prints results one per line. The authkey arrives base64-encoded.
 */
import { BaseManager, proxyFromString, type Remote } from "../../mod.ts";
import { type Counter, TestManager } from "./counter.ts";

interface Command {
  action: "increment" | "hold" | "owner" | "connect" | "drop";
  authkey: string;
  address?: BaseManager["address"];
  proxy?: string;
  times?: number;
  modules?: string[];
}

const text = await new Response(Deno.stdin.readable).text();
const command = JSON.parse(text) as Command;
const authkey = Uint8Array.from(atob(command.authkey), (c) => c.charCodeAt(0));

switch (command.action) {
  case "increment": {
    // Receive a proxy as a string, use it, release it.
    await using counter = await proxyFromString<Remote<Counter>>(command.proxy!, { authkey });
    let last = 0;
    for (let i = 0; i < (command.times ?? 1); i++) last = await counter.increment();
    console.log(JSON.stringify({ last }));
    break;
  }
  case "hold": {
    // Connect, take references, report, then wait to be killed.
    const manager = await new TestManager({ address: command.address!, authkey }).connect();
    const held = [];
    for (let i = 0; i < (command.times ?? 3); i++) held.push(await manager.create("Counter", i));
    console.log(JSON.stringify({ held: held.length, objects: await manager.numberOfObjects() }));
    await new Promise(() => {
      setInterval(() => {}, 1000);
    });
    break;
  }
  case "owner": {
    // Start a manager of our own, report its server's pid, wait to be killed.
    const manager = await new TestManager({ authkey, modules: command.modules! }).start();
    console.log(JSON.stringify({ pid: manager.pid, address: manager.address }));
    await new Promise(() => {
      setInterval(() => {}, 1000);
    });
    break;
  }
  case "drop": {
    // Create a proxy, drop it without disposing, and let the GC safety net release it.
    await using manager = await new TestManager({ address: command.address!, authkey }).connect();
    await (async () => {
      await manager.create("Counter", 1);
    })();
    const before = await manager.numberOfObjects();
    const gc = (globalThis as { gc?: () => void }).gc!;
    let after = before;
    for (let round = 0; round < 20 && after === before; round++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 25));
      after = await manager.numberOfObjects();
    }
    console.log(JSON.stringify({ before, after }));
    break;
  }
  case "connect": {
    // Connect with the given key and report what happened.
    try {
      await using manager = await new BaseManager({ address: command.address!, authkey }).connect();
      console.log(JSON.stringify({ ok: true, objects: await manager.numberOfObjects() }));
    } catch (error) {
      console.log(JSON.stringify({ ok: false, name: (error as Error).name }));
    }
    break;
  }
}
