/**
 * Bounded load on loopback: many clients at once, many processes
 * contending, many create/release cycles. Totals must be exact; memory and
 * object counts must come back.
 */
import assert from "node:assert/strict";
import { SyncManager } from "../mod.ts";
import { Counter, Store, TestManager } from "./_fixtures/counter.ts";
import { COUNTER_MODULE, startSyncWorker, workerOk } from "./_helpers.ts";

function rssOf(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+) kB/)![1]) * 1024;
}

for (const transport of ["unix", "tcp"] as const) {
  Deno.test(`256 clients connecting at once over ${transport} all succeed`, async () => {
    await using manager = await new TestManager({
      modules: [COUNTER_MODULE],
      ...(transport === "tcp" ? { address: { hostname: "127.0.0.1", port: 0 } } : {}),
    }).start();
    const clients = await Promise.all(
      Array.from({ length: 256 }, () => new TestManager({ address: manager.address }).connect()),
    );
    const counts = await Promise.all(clients.map((client) => client.numberOfObjects()));
    assert.deepEqual(new Set(counts), new Set([0]));
    await Promise.all(clients.map((client) => client.disconnect()));
  });
}

Deno.test("100,000 proxy create/release cycles: objects back to baseline, server memory flat", async () => {
  await using manager = await new TestManager({ modules: [COUNTER_MODULE] }).start();
  const cycle = async (count: number): Promise<void> => {
    for (let done = 0; done < count; done += 100) {
      const proxies = await Promise.all(
        Array.from({ length: 100 }, (_, i) => manager.create(Counter, i)),
      );
      await Promise.all(proxies.map((proxy) => proxy[Symbol.asyncDispose]()));
    }
  };
  const initial = rssOf(manager.pid!);
  // Warm up: after the first forced collection (numberOfObjects() collects)
  // V8 grows its heap to fit the burst, over one or two rounds (later under
  // load), then stays there. A leak would instead grow every round.
  for (let round = 0; round < 2; round++) {
    await cycle(100_000);
    assert.equal(await manager.numberOfObjects(), 0);
  }
  const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
  const readings = [rssOf(manager.pid!)];
  let seconds = 0;
  for (let round = 0; round < 4; round++) {
    const started = performance.now();
    await cycle(100_000);
    seconds = (performance.now() - started) / 1000;
    assert.equal(await manager.numberOfObjects(), 0, "every object released");
    readings.push(rssOf(manager.pid!));
    if (readings.at(-1)! - readings.at(-2)! < 16 * 1024 * 1024) break;
  }
  console.log(
    `100,000 cycles in ${seconds.toFixed(1)} s; server RSS ${mib(initial)} MiB at start, then ` +
      `${readings.map(mib).join(", ")} MiB after each further 100,000 once warm`,
  );
  const growth = readings.at(-1)! - readings.at(-2)!;
  assert.ok(growth < 16 * 1024 * 1024, `RSS grew in every round, last by ${mib(growth)} MiB`);
});

Deno.test("16 processes × 1,000 mixed operations: exact totals, nothing lost or doubled", async () => {
  await using manager = await new SyncManager({ modules: [] }).start();
  await using lock = await manager.Lock();
  await using dict = await manager.dict<string, number>();
  await using list = await manager.list<string>();
  await using queue = await manager.Queue<string>();
  const workers = await Promise.all(
    Array.from(
      { length: 16 },
      (_, worker) => startSyncWorker(manager, "mixed", { lock, dict, list, queue }, { worker }),
    ),
  );
  for (const worker of workers) await workerOk(worker);
  assert.equal(await dict.get("counter"), 16 * 250, "increments under the lock");
  assert.equal(await dict.size(), 16 * 250 + 1);
  const appended = await list.copy();
  assert.equal(appended.length, 16 * 250);
  assert.equal(new Set(appended).size, appended.length, "no item appended twice");
  const queued: string[] = [];
  while (!(await queue.empty())) queued.push(await queue.get());
  assert.equal(queued.length, 16 * 250);
  assert.equal(new Set(queued).size, queued.length, "no item queued twice");
  for (let worker = 0; worker < 16; worker++) {
    const mine: number[] = queued.filter((item) => item.startsWith(`${worker}-`)).map((item) =>
      Number(item.split("-")[1])
    );
    assert.deepEqual(mine, [...mine].sort((a, b) => a - b), "each worker's items in its order");
  }
});

Deno.test("large and small calls in flight together all arrive intact, both ways", async () => {
  // Frames over 64 KiB are written on their own and their buffers reused once
  // written; nothing may be overwritten while it is still in flight or stored.
  await using manager = await new TestManager({ modules: [COUNTER_MODULE] }).start();
  const store = await manager.create(Store);
  const sizes = [300_000, 70_000, 2_000_000, 65_536, 1_048_576, 500_000];
  const payload = (i: number): Uint8Array => {
    const bytes = new Uint8Array(sizes[i % sizes.length]!);
    for (let j = 0; j < bytes.length; j += 997) bytes[j] = (i * 31 + j) & 255;
    bytes[bytes.length - 1] = i;
    return bytes;
  };
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < 24; i++) {
    writes.push(store.set(`big${i}`, payload(i)), store.set(`small${i}`, i));
  }
  await Promise.all(writes);
  const reads = await Promise.all(
    Array.from(
      { length: 24 },
      (_, i) => Promise.all([store.get(`big${i}`), store.get(`small${i}`)]),
    ),
  );
  reads.forEach(([big, small], i) => {
    assert.deepStrictEqual(big, payload(i), `payload ${i}`);
    assert.equal(small, i);
  });
});
