/**
 * Big items stream (issue 21, point 4): a batch of a stream or an upload
 * stops short of a byte budget below `maxFrameSize`, as well as at its item
 * count, so items that each travel alone also travel many in a row: 64 × 8
 * MiB streamed, 16 × 8 MiB uploaded, `for await` over a dict of 12 × 8 MiB
 * values. The server's peak resident memory (VmHWM) stays bounded.
 */
import assert from "node:assert/strict";
import { Feed, StopsManager } from "./_fixtures/stops.ts";
import { within } from "./_helpers.ts";

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

/** What `describe` says of each item of `stream`, read within `ms`. */
async function read(stream: Promise<AsyncIterable<unknown>>, ms: number): Promise<string[]> {
  const reading = (async () => {
    const seen: string[] = [];
    for await (const item of await stream) seen.push(describe(item as Uint8Array));
    return seen;
  })();
  return await within(reading, ms, "reading the stream");
}

Deno.test("64 items of 8 MiB stream in order; the server's peak memory stays bounded", async () => {
  await using manager = await new StopsManager({ modules }).start();
  await using feed = await manager.create(Feed);
  assert.deepStrictEqual(await read(feed.big(64, 8 * MiB), 120_000), expected(64, 8 * MiB));
  const peak = peakMiB(manager.pid!);
  assert.ok(peak < 400, `the server's peak resident memory: ${peak} MiB for 512 MiB streamed`);
});

Deno.test("16 items of 8 MiB upload in order", async () => {
  await using manager = await new StopsManager({ modules }).start();
  await using feed = await manager.create(Feed);
  async function* items(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < 16; i++) yield new Uint8Array(8 * MiB).fill(i);
  }
  assert.deepStrictEqual(
    await within(feed.receive(items()), 60_000, "the upload"),
    expected(16, 8 * MiB),
  );
});

Deno.test("for await over a dict of 12 values of 8 MiB", async () => {
  await using manager = await new StopsManager({ modules }).start();
  await using dict = await manager.dict<number, Uint8Array>();
  for (let i = 0; i < 12; i++) await dict.set(i, new Uint8Array(8 * MiB).fill(i));
  const reading = (async () => {
    const seen: string[] = [];
    for await (const [key, value] of dict) seen.push(`${key}=${describe(value)}`);
    return seen;
  })();
  assert.deepStrictEqual(
    await within(reading, 60_000, "for await over the dict"),
    expected(12, 8 * MiB).map((item, i) => `${i}=${item}`),
  );
});

Deno.test("batches stay under a small maxFrameSize; an item over it on its own fails, saying so", async () => {
  await using manager = await new StopsManager({
    modules,
    limits: { maxFrameSize: 4 * MiB },
  }).start();
  await using feed = await manager.create(Feed);
  // Eight items of 1 MiB: four of them would already make a batch over the limit.
  assert.deepStrictEqual(await read(feed.big(8, MiB), 30_000), expected(8, MiB));
  // An item that is over the limit on its own fails, and says so.
  await assert.rejects(read(feed.big(2, 5 * MiB), 30_000), {
    name: "RemoteError",
    message: /over the limit of 4194304 bytes per message/,
  });
});
