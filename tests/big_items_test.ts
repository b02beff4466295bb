/**
 * Big items stream (issue 21, point 4): a batch of a stream or an upload
 * stops short of a byte budget below `maxFrameSize`, as well as at its item
 * count, so items that each travel alone also travel many in a row: 64 × 8
 * MiB streamed, 16 × 8 MiB uploaded, `for await` over a dict of 12 × 8 MiB
 * values. The server's peak resident memory (VmHWM) stays bounded.
 */
import assert from "node:assert/strict";
import { Feed, StopsManager } from "./_fixtures/stops.ts";

const modules = [new URL("./_fixtures/stops.ts", import.meta.url).href];
const MiB = 1024 * 1024;

/** A process's peak resident memory, in MiB (Linux's VmHWM). */
function peakMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Math.round(Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024);
}

/** "length:first byte", and ":mixed" when not every byte is the first. */
function describe(item: Uint8Array): string {
  let same = true;
  for (let i = 0; i < item.length; i++) same &&= item[i] === item[0];
  return `${item.length}:${item[0]}${same ? "" : ":mixed"}`;
}

function expected(count: number, size: number): string[] {
  return Array.from({ length: count }, (_, i) => `${size}:${i % 256}`);
}

Deno.test("64 items of 8 MiB stream in order; the server's peak memory stays bounded", async () => {
  await using manager = await new StopsManager({ modules }).start();
  await using feed = await manager.create(Feed);
  const seen: string[] = [];
  for await (const item of await feed.big(64, 8 * MiB)) seen.push(describe(item));
  assert.deepStrictEqual(seen, expected(64, 8 * MiB));
  const peak = peakMiB(manager.pid!);
  assert.ok(peak < 400, `the server's peak resident memory: ${peak} MiB for 512 MiB streamed`);
});

Deno.test("16 items of 8 MiB upload in order", async () => {
  await using manager = await new StopsManager({ modules }).start();
  await using feed = await manager.create(Feed);
  async function* items(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < 16; i++) yield new Uint8Array(8 * MiB).fill(i);
  }
  assert.deepStrictEqual(await feed.receive(items()), expected(16, 8 * MiB));
});

Deno.test("for await over a dict of 12 values of 8 MiB", async () => {
  await using manager = await new StopsManager({ modules }).start();
  await using dict = await manager.dict<number, Uint8Array>();
  for (let i = 0; i < 12; i++) await dict.set(i, new Uint8Array(8 * MiB).fill(i));
  const seen: string[] = [];
  for await (const [key, value] of dict) seen.push(`${key}=${describe(value)}`);
  assert.deepStrictEqual(seen, expected(12, 8 * MiB).map((item, i) => `${i}=${item}`));
});

Deno.test("batches stay under a small maxFrameSize; an item over it alone fails after the rest", async () => {
  await using manager = await new StopsManager({
    modules,
    limits: { maxFrameSize: 4 * MiB },
  }).start();
  await using feed = await manager.create(Feed);
  // Eight items of 1 MiB: four of them would already make a batch over the limit.
  const seen: string[] = [];
  for await (const item of await feed.big(8, MiB)) seen.push(describe(item));
  assert.deepStrictEqual(seen, expected(8, MiB));
  // An item that is over the limit on its own fails, and says so.
  const over: string[] = [];
  await assert.rejects(
    (async () => {
      for await (const item of await feed.big(2, 5 * MiB)) over.push(describe(item));
    })(),
    { name: "RemoteError", message: /over the limit of 4194304 bytes per message/ },
  );
  assert.deepStrictEqual(over, []);
});
