/**
 * Per-connection quotas: objects held, calls in progress, and replies
 * buffered for a client that does not read them. Going over a quota fails
 * that call with an error that names the limit, and the connection goes
 * on; a client that floods requests without reading is throttled while
 * other clients are served as usual.
 */
import assert from "node:assert/strict";
import { Counter, TestManager } from "./_fixtures/counter.ts";
import { COUNTER_MODULE, waitUntil, within } from "./_helpers.ts";
import { clientHandshake, importAuthkey } from "../src/wire/handshake.ts";
import { Codec, type CodecPeer } from "../src/wire/codec.ts";
import { FrameReader } from "../src/wire/framing.ts";
import { connect } from "../src/wire/transport.ts";
import { defaultAuthkey } from "../mod.ts";

const modules = [COUNTER_MODULE];

Deno.test("maxObjectsPerConnection: a create past it fails naming the limit; releasing makes room", async () => {
  await using manager = await new TestManager({
    modules,
    limits: { maxObjectsPerConnection: 3 },
  }).start();
  const held = [];
  for (let i = 0; i < 3; i++) held.push(await manager.create(Counter, i));
  await assert.rejects(manager.create(Counter, 9), {
    name: "RemoteError",
    message: /already holds 3 shared objects, the limit \(limits\.maxObjectsPerConnection\)/,
  });
  assert.equal(await held[0]!.increment(), 1, "the connection goes on");
  await held[2]![Symbol.asyncDispose]();
  await using again = await manager.create(Counter, 5);
  assert.equal(await again.increment(), 6);
  assert.equal(await manager.numberOfObjects(), 3);
});

Deno.test("maxPendingCallsPerConnection: a call past it fails at once; finished calls make room", async () => {
  await using manager = await new TestManager({
    modules,
    limits: { maxPendingCallsPerConnection: 4 },
  }).start();
  await using counter = await manager.create(Counter, 0);
  const slow = Array.from({ length: 4 }, (_, i) => counter.later(300, i));
  for (const call of slow) call.catch(() => {}); // awaited below; not left unhandled if a check fails
  await assert.rejects(counter.later(0, "one too many"), {
    name: "RemoteError",
    message: /already has 4 calls in progress, the limit \(limits\.maxPendingCallsPerConnection\)/,
  });
  await assert.rejects(counter.increment(), /limits\.maxPendingCallsPerConnection/);
  assert.deepStrictEqual(await Promise.all(slow), [0, 1, 2, 3]);
  assert.equal(await counter.later(0, "room again"), "room again");
  assert.equal(await counter.increment(), 1, "nothing refused ran");
  assert.match(
    await manager.debugInfo(),
    /connection \d+: 1 objects, 0 calls in progress, 0 bytes buffered/,
  );
});

Deno.test("a client that sends without reading is throttled at maxBufferedBytesPerConnection; others are served", async () => {
  const limit = 1 << 20;
  await using manager = await new TestManager({
    modules,
    address: { hostname: "127.0.0.1", port: 0 },
    limits: { maxBufferedBytesPerConnection: limit },
  }).start();
  await using counter = await manager.create(Counter, 0);
  // A raw client: authenticates, then sends echo requests of 64 KiB and never reads a reply.
  const socket = await connect(manager.address);
  const reader = new FrameReader(socket);
  await clientHandshake({ socket, reader }, await importAuthkey(defaultAuthkey()));
  const peer: CodecPeer = {
    encodeToken: () => {
      throw new TypeError("no proxies here");
    },
    decodeToken: ([, id]) => id,
  };
  const codec = new Codec(peer);
  // A counter of its own, then echo requests of 64 KiB on it: each reply is as large.
  await socket.write(codec.encode([1, 0, "create", ["Counter", 0]]));
  const reply = codec.decode((await reader.read(1 << 20))!) as [number, number, number];
  const own = reply[2];
  assert.equal(typeof own, "number", "the raw client made its own counter");
  const request = (id: number): Uint8Array =>
    codec.encode([id, own, "echo", ["x".repeat(64 * 1024)]]);
  let sent = 0;
  const flood = (async () => {
    try {
      for (let id = 2; id <= 2000; id++) {
        const frame = request(id);
        let offset = 0;
        while (offset < frame.length) offset += await socket.write(frame.subarray(offset));
        sent += frame.length;
      }
    } catch { /* closed at the end of the test */ }
  })();
  // The flood stalls: the server stopped reading it once its replies piled up.
  let last = -1;
  assert.ok(
    await waitUntil(async () => {
      const stalled = sent === last;
      last = sent;
      await new Promise((resolve) => setTimeout(resolve, 200));
      return stalled && sent > 0;
    }, 10_000),
    "the flooding client's writes stall",
  );
  assert.ok(sent < 2000 * 64 * 1024, `the server stopped reading (${sent} bytes taken)`);
  const info = await manager.debugInfo();
  const buffered = Math.max(
    ...[...info.matchAll(/(\d+) bytes buffered/g)].map((m) => Number(m[1])),
  );
  assert.ok(
    buffered <= limit + 128 * 1024,
    `at most the limit plus a reply is buffered: ${buffered}`,
  );
  // Everyone else is served as usual.
  const started = performance.now();
  for (let i = 0; i < 50; i++) await within(counter.increment(), 2000, "a call beside the flood");
  assert.ok(performance.now() - started < 2000, "50 calls of another client took under 2 s");
  socket.close();
  await flood;
});

Deno.test("open streams count against maxObjectsPerConnection; finishing one or its return() makes room", async () => {
  const { CancelManager, Numbers } = await import("./_fixtures/cancellable.ts");
  await using manager = await new CancelManager({
    modules: [new URL("./_fixtures/cancellable.ts", import.meta.url).href],
    limits: { maxObjectsPerConnection: 3 },
  }).start();
  await using numbers = await manager.create(Numbers);
  const open = [await numbers.count(100), await numbers.count(100), await numbers.count(100)];
  await assert.rejects(numbers.count(100), /the limit \(limits\.maxObjectsPerConnection\)/);
  const seen: number[] = [];
  for await (const n of open[0]!) seen.push(n);
  assert.equal(seen.length, 100, "the stream read to its end");
  let total = 0;
  for await (const n of await numbers.count(10)) total += n;
  assert.equal(total, 45, "a new stream fits once one ended");
  // At the limit again; a stream left early with return() makes room too.
  const long = await numbers.count(100_000);
  await assert.rejects(numbers.count(100), /the limit \(limits\.maxObjectsPerConnection\)/);
  assert.deepStrictEqual(await long.next(), { value: 0, done: false });
  await long.return(undefined);
  const after = await numbers.count(3);
  assert.deepStrictEqual(
    await Array.fromAsync(after),
    [0, 1, 2],
    "a new stream fits after return()",
  );
  for (const stream of open.slice(1)) {
    await stream.next(); // started: a generator that never ran has no finally to run
    await stream.return(undefined);
  }
  assert.ok(
    await waitUntil(async () => (await numbers.stats()).finished === 6, 3000),
    "every stream's generator ran its finally",
  );
});

Deno.test("return() or await using on a stream never read frees its slot", async () => {
  const { CancelManager, Numbers } = await import("./_fixtures/cancellable.ts");
  await using manager = await new CancelManager({
    modules: [new URL("./_fixtures/cancellable.ts", import.meta.url).href],
    limits: { maxObjectsPerConnection: 1 },
  }).start();
  await using numbers = await manager.create(Numbers);
  const unread = await numbers.count(100);
  await assert.rejects(numbers.count(100), /the limit \(limits\.maxObjectsPerConnection\)/);
  await unread.return(undefined);
  const next = await numbers.count(3);
  assert.deepStrictEqual(await Array.fromAsync(next), [0, 1, 2], "it fits after return()");
  {
    await using _disposed = await numbers.count(100);
    await assert.rejects(numbers.count(100), /the limit \(limits\.maxObjectsPerConnection\)/);
  }
  const after = await numbers.count(2);
  assert.deepStrictEqual(await Array.fromAsync(after), [0, 1], "it fits after await using");
});
