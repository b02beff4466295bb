/**
 * Promise pipelining: a call on a proxy that has not arrived yet goes out
 * at once. The round trips are counted on the wire by a relay between the
 * client and the server: a chain costs one, errors travel down it (and a
 * call on a result known to have failed costs none), and a pipelined
 * proxy's reference is released like any other.
 */
import assert from "node:assert/strict";
import { Node, TreeManager } from "./_fixtures/tree.ts";
import { tempDir, waitUntil } from "./_helpers.ts";

const modules = [new URL("./_fixtures/tree.ts", import.meta.url).href];

/**
 * A byte relay in front of `target` that records the direction of each
 * burst: "c" for client to server, "s" back. Round trips are the "c"
 * bursts, each answered by the server before the client sent the next.
 */
interface Relay {
  readonly path: string;
  roundTrips(): number;
  reset(): void;
  close(): Promise<void>;
}

function relay(target: string, dir: string): Relay {
  const path = `${dir}/relay.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const bursts: string[] = [];
  const note = (side: string): void => {
    if (bursts.at(-1) !== side) bursts.push(side);
  };
  const pumps: Promise<void>[] = [];
  const pump = async (from: Deno.Conn, to: Deno.Conn, side: string): Promise<void> => {
    const buffer = new Uint8Array(65536);
    try {
      for (let n = await from.read(buffer); n !== null; n = await from.read(buffer)) {
        note(side);
        await to.write(buffer.subarray(0, n));
      }
    } catch { /* closed */ }
    try {
      to.close();
    } catch { /* closed */ }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ transport: "unix", path: target });
      pumps.push(pump(client, server, "c"), pump(server, client, "s"));
    }
  })();
  return {
    path,
    /** Client bursts since the last reset, each a round trip. */
    roundTrips: (): number => bursts.filter((b) => b === "c").length,
    reset: (): void => {
      bursts.length = 0;
    },
    async close(): Promise<void> {
      listener.close();
      await accepting.catch(() => {});
      await Promise.all(pumps);
    },
  };
}

Deno.test("a chain of create and methodToTypeid calls costs one round trip", async () => {
  await using dir = await tempDir();
  await using owner = await new TreeManager({ modules }).start();
  const wire = relay(owner.address as string, dir.path);
  try {
    // Disconnected however the block ends, so that closing the relay never waits on it.
    await using client = await new TreeManager({ address: wire.path }).connect();
    wire.reset();
    const leaf = client.create(Node, "root").child("a").child("b");
    assert.equal(await leaf.path(), "root/a/b");
    assert.equal(wire.roundTrips(), 1, "create, child, child and path went out together");
    // Awaited one by one, the same chain takes four.
    wire.reset();
    const root = await client.create(Node, "root2");
    const a = await root.child("a");
    const b = await a.child("b");
    assert.equal(await b.path(), "root2/a/b");
    // At least four: the messages that need no reply (forgets of kept results) can make a
    // burst of their own, depending on when they are flushed.
    assert.ok(wire.roundTrips() >= 4, `${wire.roundTrips()} round trips`);
    for (const proxy of [root, a, b]) await proxy[Symbol.asyncDispose]();
    await leaf[Symbol.asyncDispose]();
  } finally {
    await wire.close();
  }
  assert.ok(await waitUntil(async () => (await owner.numberOfObjects()) === 0, 2000));
});

Deno.test("an error anywhere in a chain rejects every call chained to it with that error", async () => {
  await using manager = await new TreeManager({ modules }).start();
  const refused = manager.create(Node, "refuse");
  await assert.rejects(refused.path(), /this node cannot be made/);
  await assert.rejects(refused.child("x").path(), /this node cannot be made/);
  await assert.rejects(refused, /this node cannot be made/);
  const root = manager.create(Node, "root");
  const missing = root.child("missing");
  await assert.rejects(missing.child("deeper").path(), {
    name: "RangeError",
    message: "root has no child 'missing'",
  });
  await assert.rejects(missing, { name: "RangeError" });
  // A method that returns plain data cannot be chained to.
  const path = (await root)._callmethod("path");
  assert.equal(await path, "root");
  await root[Symbol.asyncDispose]();
  assert.ok(await waitUntil(async () => (await manager.numberOfObjects()) === 0, 2000));
});

Deno.test("a call on a pipelined result known to have failed rejects with its error, with no round trip", async () => {
  await using dir = await tempDir();
  await using owner = await new TreeManager({ modules }).start();
  const wire = relay(owner.address as string, dir.path);
  try {
    // Disconnected on the way out, failed or not: the relay's close waits for its sockets.
    await using client = await new TreeManager({ address: wire.path }).connect();
    const refused = client.create(Node, "refuse");
    const creationFailed = {
      name: "RemoteError",
      message: "Creating 'Node' failed: RangeError: this node cannot be made",
    };
    await assert.rejects(refused, creationFailed);
    const root = client.create(Node, "root");
    const missing = root.child("missing");
    const noChild = { name: "RangeError", message: "root has no child 'missing'" };
    await assert.rejects(missing, noChild);
    // The failures are known here; one round trip lets the client's forgets reach the relay.
    assert.equal(await root.path(), "root");
    wire.reset();
    await assert.rejects(refused.path(), creationFailed);
    await assert.rejects(refused._callmethod("size"), creationFailed);
    await assert.rejects(refused.child("x").path(), creationFailed);
    await assert.rejects(missing.path(), noChild);
    await assert.rejects(missing.child("deeper").size(), noChild);
    assert.equal(await root.size(), 0, "a call on the live root, to count against");
    assert.equal(wire.roundTrips(), 1, "only the call on root went to the server");
    await root[Symbol.asyncDispose]();
  } finally {
    await wire.close();
  }
  assert.ok(await waitUntil(async () => (await owner.numberOfObjects()) === 0, 2000));
});

Deno.test("a pipelined proxy is a Remote<T> you can await, and disposing it releases its object", async () => {
  await using manager = await new TreeManager({ modules }).start();
  {
    await using node = manager.create(Node, "held");
    assert.equal(await node.size(), 0);
    const proxy = await node;
    assert.equal(await proxy.path(), "held");
    assert.equal(await manager.numberOfObjects(), 1);
  }
  assert.equal(await manager.numberOfObjects(), 0, "released at the end of the block");
  // Calls after the proxy arrived use it directly; the server forgot the chain.
  const later = manager.create(Node, "later");
  await later;
  assert.equal(await later.path(), "later");
  await later[Symbol.asyncDispose]();
  assert.equal(await manager.numberOfObjects(), 0);
});
