/**
 * Streams (issue 11, part 4): a shared method that returns an async
 * iterable (an async generator, a ReadableStream) reaches its caller as an
 * async iterable that receives items as the server produces them, a batch
 * ahead at most; `break` runs the generator's `finally` on the server, and
 * an error mid-stream reaches the loop.
 */
import assert from "node:assert/strict";
import { CancelManager, Numbers } from "./_fixtures/cancellable.ts";

const modules = [new URL("./_fixtures/cancellable.ts", import.meta.url).href];

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 3 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("a streamed result arrives whole, in order, and its generator finishes", async () => {
  await using manager = await new CancelManager({ modules }).start();
  await using numbers = await manager.create(Numbers);
  const seen: number[] = [];
  for await (const n of await numbers.count(1000)) seen.push(n);
  assert.deepStrictEqual(seen, Array.from({ length: 1000 }, (_, i) => i));
  assert.deepStrictEqual(await numbers.stats(), { produced: 1000, finished: 1 });
});

Deno.test("break stops the server's generator (its finally runs); it never ran far ahead", async () => {
  await using manager = await new CancelManager({ modules }).start();
  await using numbers = await manager.create(Numbers);
  let taken = 0;
  for await (const _ of await numbers.count(1_000_000)) {
    if (++taken === 10) break;
  }
  await until(async () => (await numbers.stats()).finished === 1, "the generator's finally");
  const { produced } = await numbers.stats();
  assert.ok(produced <= 10 + 2 * 64, `the server produced ${produced} for 10 taken: a batch ahead`);
});

Deno.test("an error mid-stream reaches the loop; a ReadableStream streams too", async () => {
  await using manager = await new CancelManager({ modules }).start();
  await using numbers = await manager.create(Numbers);
  const seen: number[] = [];
  await assert.rejects(
    (async () => {
      for await (const n of await numbers.count(100, 50)) seen.push(n);
    })(),
    { name: "RangeError", message: "failed at 50" },
  );
  assert.deepStrictEqual(seen, Array.from({ length: 50 }, (_, i) => i));
  const slow: string[] = [];
  for await (const item of await numbers.slowly(3, 20)) slow.push(item as string);
  assert.deepStrictEqual(slow, ["item 0", "item 1", "item 2"]);
});

Deno.test("closing the connection mid-stream ends the server's generator", async () => {
  await using manager = await new CancelManager({ modules }).start();
  await using numbers = await manager.create(Numbers);
  const before = await numbers.finishedInServer();
  const client = await new CancelManager({ address: manager.address, modules }).connect();
  const theirs = await client.create(Numbers);
  const stream = await theirs.count(1_000_000);
  const iterator = stream[Symbol.asyncIterator]();
  assert.deepStrictEqual(await iterator.next(), { done: false, value: 0 });
  await client.disconnect();
  await until(
    async () => (await numbers.finishedInServer()) === before + 1,
    "the generator's finally when its client's connection closed",
  );
});

Deno.test("for await over a dict, list or set streams it: no iterator object on the server", async () => {
  const { SyncManager } = await import("../mod.ts");
  await using manager = await new SyncManager({ modules: [] }).start();
  await using dict = await manager.dict<number, number>(
    new Map(Array.from({ length: 5000 }, (_, i) => [i, i * i])),
  );
  await using list = await manager.list<number>(Array.from({ length: 5000 }, (_, i) => i));
  await using set = await manager.set<number>(new Set([1, 2, 3]));
  const objects = await manager.numberOfObjects();
  let entries = 0;
  for await (const [key, value] of dict) {
    assert.equal(value, key * key);
    if (++entries === 2500) {
      // Mid-way: the iteration holds no shared object (one per item was CPython's way, and ours).
      assert.equal(await manager.numberOfObjects(), objects);
    }
  }
  assert.equal(entries, 5000);
  let sum = 0;
  for await (const n of list) sum += n;
  assert.equal(sum, (4999 * 5000) / 2);
  const seen: number[] = [];
  for await (const n of set) seen.push(n);
  assert.deepStrictEqual(seen, [1, 2, 3]);
});

Deno.test("an upload: an async iterable passed as an argument, read as the server consumes it", async () => {
  const { Sink } = await import("./_fixtures/cancellable.ts");
  await using manager = await new CancelManager({ modules }).start();
  await using sink = await manager.create(Sink);
  async function* numbers(count: number): AsyncGenerator<number> {
    for (let i = 0; i < count; i++) yield i;
  }
  assert.equal(await sink.sum(numbers(10_000)), (9999 * 10_000) / 2);
  const stream = ReadableStream.from([1, 2, 3]);
  assert.equal(await sink.sum(stream), 6, "a ReadableStream uploads too");
  // A slow server: the client produces at most a batch or two ahead; a break ends the producer.
  let produced = 0;
  let finished = false;
  async function* counted(): AsyncGenerator<number> {
    try {
      for (let i = 0; i < 1_000_000; i++) {
        produced++;
        yield i;
      }
    } finally {
      finished = true;
    }
  }
  assert.deepStrictEqual(await sink.first(counted(), 5), [0, 1, 2, 3, 4]);
  await until(() => Promise.resolve(finished), "the client's producer ends when the server stops");
  assert.ok(produced <= 5 + 2 * 64, `produced ${produced} for 5 taken`);
});
