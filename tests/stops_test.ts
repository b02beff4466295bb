/**
 * What is cancelled or disconnected stops (issue 21, point 3): every
 * long-lived activity on the server (a call, its waits on the client's
 * callbacks and uploads, a stream's generator) has a signal that aborts
 * when its client cancels it, stops reading it, or goes away; what a
 * client lent or was sent and then dropped is let go of when collected;
 * `callTimeout` covers `create()` and pipelined calls; and callbacks to a
 * client that stopped reading stay within its buffer limit.
 */
import assert from "node:assert/strict";
import { callback, proxyToString, withCall } from "../mod.ts";
import { Broadcast, Feed, Maker, StopsManager, Waiter } from "./_fixtures/stops.ts";
import { firstLine, waitUntil, within } from "./_helpers.ts";

const modules = [new URL("./_fixtures/stops.ts", import.meta.url).href];
const MiB = 1024 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("a call cancelled while its method awaits a callback: that wait rejects and the method ends", async () => {
  await using manager = await new StopsManager({ modules }).start();
  await using waiter = await manager.create(Waiter);
  // The client's function never answers: only the cancel can end the method's wait.
  const never = callback((_n: number) => new Promise<never>(() => {}));
  await assert.rejects(withCall(waiter, { timeout: 200 }).onCallback(never), {
    name: "TimeoutError",
  });
  assert.ok(
    await waitUntil(async () => (await waiter.outcomes()).length === 1, 3000),
    "the method's wait on the callback ended within 3 s of the cancel",
  );
  assert.deepStrictEqual(await waiter.outcomes(), ["AbortError: The client cancelled the call"]);
  // The same callback sent with a call that is not cancelled still works.
  assert.equal(await waiter.onCallback(callback((n: number) => n + 1)), "done");
  assert.deepStrictEqual((await waiter.outcomes())[1], "returned 2");
});

Deno.test("a call cancelled while its method awaits an upload's next item: the read rejects and the method ends", async () => {
  await using manager = await new StopsManager({ modules }).start();
  await using waiter = await manager.create(Waiter);
  async function* stalls(): AsyncGenerator<number> {
    yield 1;
    yield 2;
    await new Promise(() => {}); // the next item never comes
  }
  await assert.rejects(withCall(waiter, { timeout: 300 }).onUpload(stalls()), {
    name: "TimeoutError",
  });
  assert.ok(
    await waitUntil(async () => (await waiter.outcomes()).length === 1, 3000),
    "the method's read of the upload ended within 3 s of the cancel",
  );
  assert.deepStrictEqual(await waiter.outcomes(), ["AbortError: The client cancelled the call"]);
});

Deno.test("a streamed generator runs as its caller; return() while it waits for data ends it at once", async () => {
  await using manager = await new StopsManager({ modules }).start();
  await using feed = await manager.create(Feed);
  const me = await feed.whoAmI();
  assert.ok(me > 0);
  const stream = await feed.follow();
  const iterator = stream[Symbol.asyncIterator]();
  assert.deepStrictEqual(
    await within(iterator.next(), 3000, "the first item"),
    { value: me, done: false },
    "currentCaller() in the generator is the client that called, not the server (id 0)",
  );
  const waiting = iterator.next(); // the generator now waits for data that never comes
  await sleep(50);
  assert.deepStrictEqual(
    await within(iterator.return(undefined), 2000, "return() while a next() waits"),
    { value: undefined, done: true },
  );
  assert.deepStrictEqual(await within(waiting, 2000, "the waiting next()"), {
    value: undefined,
    done: true,
  });
  assert.ok(
    await waitUntil(async () => (await feed.stats()).ended.length === 1, 2000),
    "the generator's finally ran within 2 s",
  );
  assert.deepStrictEqual((await feed.stats()).ended, ["aborted"]);
});

Deno.test("a generator waiting for data, and one polling, stop when their client disconnects", async () => {
  await using manager = await new StopsManager({ modules }).start();
  await using feed = await manager.create(Feed);
  const client = await new StopsManager({ address: manager.address, modules }).connect();
  const theirs = await client.create(Feed);
  const following = (await theirs.follow())[Symbol.asyncIterator]();
  await within(following.next(), 3000, "the first item");
  const waiting = following.next().catch((error) => error.name);
  const polling = (await theirs.poll(20))[Symbol.asyncIterator]().next().catch((error) =>
    error.name
  );
  // Both are waiting on the server now: one for data, one on its timer.
  assert.ok(await waitUntil(async () => (await feed.stats()).polls >= 5, 3000), "it polls");
  await client.disconnect();
  assert.deepStrictEqual(await within(Promise.all([waiting, polling]), 2000, "the reads"), [
    "ConnectionClosedError",
    "ConnectionClosedError",
  ]);
  assert.ok(
    await waitUntil(async () => (await feed.stats()).ended.length === 2, 3000),
    "both generators' finally ran within 3 s of the disconnect",
  );
  assert.deepStrictEqual((await feed.stats()).ended, ["aborted", "aborted"]);
  const { polls } = await feed.stats();
  await sleep(1000);
  assert.equal((await feed.stats()).polls, polls, "no poll in the second after");
});

Deno.test("an upload never read and a stream dropped unread are let go of once collected", async () => {
  // A client of its own, with --expose-gc: its memory after a forced GC, and the server's quota.
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      "--v8-flags=--expose-gc",
      new URL("./_fixtures/dropped_streams.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const finished = child.output();
  const output = await within(finished, 60_000, "the dropping client").catch(async (error) => {
    child.kill("SIGKILL");
    await finished;
    throw error;
  });
  assert.ok(output.success, `the dropping client exited with ${output.code}`);
  const seen = JSON.parse(new TextDecoder().decode(output.stdout));
  assert.equal(
    seen.uploadFreed,
    true,
    `the producer's 200 MiB were let go of: ${JSON.stringify(seen)}`,
  );
  assert.ok(seen.uploadMiB < 64, `resident memory after a forced GC: +${seen.uploadMiB} MiB`);
  assert.equal(seen.streamSlotFreed, true, "a stream dropped unread frees its slot when collected");
});

Deno.test("callTimeout covers create() and pipelined methodToTypeid calls", async () => {
  await using manager = await new StopsManager({ modules, callTimeout: 300 }).start();
  const started = performance.now();
  await assert.rejects(within(manager.create("Stuck"), 3000, "create() of a stuck factory"), {
    name: "TimeoutError",
  });
  assert.ok(performance.now() - started < 2000, "given up at its callTimeout");
  await using waiter = await manager.create(Waiter);
  assert.ok(
    await waitUntil(async () => (await waiter.stuckFactories()).length === 1, 2000),
    "the factory saw its signal abort",
  );
  assert.deepStrictEqual(await waiter.stuckFactories(), ["AbortError"]);
  await using maker = await manager.create(Maker);
  await assert.rejects(within(maker.hang(), 3000, "a pipelined call that hangs"), {
    name: "TimeoutError",
  });
  await assert.rejects(within(maker.hang().stats(), 3000, "a call chained to one that hangs"), {
    name: "TimeoutError",
  });
  await using made = await maker.feed();
  assert.deepStrictEqual(await made.stats(), { ended: [], polls: 0 }, "quick ones still arrive");
});

Deno.test("callbacks to a subscriber that stopped reading stay within maxBufferedBytesPerConnection", async () => {
  const authkey = crypto.getRandomValues(new Uint8Array(32));
  const limit = 8 * MiB;
  await using manager = await new StopsManager({
    modules,
    authkey,
    limits: { maxBufferedBytesPerConnection: limit },
  }).start();
  await using broadcast = await manager.create(Broadcast);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./_fixtures/stopped_subscriber.ts", import.meta.url).pathname,
      await proxyToString(broadcast),
      Array.from(authkey, (b) => b.toString(16).padStart(2, "0")).join(""),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const { line, rest } = await firstLine(child.stdout, "the subscriber's line");
    await rest.cancel();
    assert.equal(line, "subscribed");
    Deno.kill(child.pid, "SIGSTOP");
    const event = new Uint8Array(MiB);
    for (let i = 0; i < 100; i++) assert.equal(await broadcast.send(event), 1);
    await sleep(200);
    const buffered = Math.max(
      ...[...(await manager.debugInfo()).matchAll(/(\d+) bytes buffered/g)].map((m) =>
        Number(m[1])
      ),
    );
    assert.ok(
      buffered <= limit + 2 * MiB,
      `at most the limit and an event wait for the stopped subscriber: ${buffered} bytes`,
    );
    const { failed, failures } = await broadcast.stats(1);
    assert.ok(failed >= 80, `the calls past the limit failed at once: ${failed} of 100`);
    assert.match(
      failures[0]!,
      /^RemoteError: Cannot call the client's callback: .* bytes already wait to be written to that client, over the limit \(limits\.maxBufferedBytesPerConnection\) of 8388608; it has stopped reading or reads too slowly$/,
    );
    // Once it reads again, what was sent reaches it.
    Deno.kill(child.pid, "SIGCONT");
    assert.ok(
      await waitUntil(async () => {
        const { delivered, failed } = await broadcast.stats();
        return delivered + failed === 100;
      }, 5000),
      "every call was delivered or failed",
    );
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
});
