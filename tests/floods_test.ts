/**
 * Floods cannot lock key holders out. Peers still in the handshake have a
 * small budget of their own (`maxPending`) and the oldest is dropped for a
 * newcomer; `handshakeTimeout` covers the TLS handshake too, and a peer
 * that never sends a ClientHello holds no descriptor past it; proxy
 * tickets are bounded per connection and expire within `ticketTtl`.
 */
import assert from "node:assert/strict";
import { defaultAuthkey, proxyToString, RemoteError } from "../mod.ts";
import { clientHandshake, importAuthkey } from "../src/wire/handshake.ts";
import { Codec } from "../src/wire/codec.ts";
import { FrameReader } from "../src/wire/framing.ts";
import { Reply } from "../src/wire/protocol.ts";
import { connect } from "../src/wire/transport.ts";
import { Counter, TestManager } from "./_fixtures/counter.ts";
import { COUNTER_MODULE, makeCertificate, tempDir, waitUntil, within } from "./_helpers.ts";

const modules = [COUNTER_MODULE];
const codec = new Codec({
  encodeToken: () => {
    throw new TypeError("no proxies here");
  },
  decodeToken: ([, id]) => id,
});

/** Connects, makes one call, disconnects; true if all of it worked. */
async function keyHolderGetsIn(
  address: TestManager["address"],
  tls?: { caCerts: string[] },
): Promise<boolean> {
  try {
    await using client = await new TestManager({
      address,
      modules,
      handshakeTimeout: 2000,
      ...(tls === undefined ? {} : { tls }),
    }).connect();
    await using counter = await client.create(Counter, 1);
    return (await counter.increment()) === 2;
  } catch {
    return false;
  }
}

function closeAll(conns: Deno.Conn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch { /* closed by the server */ }
  }
}

Deno.test("with 1,100 unauthenticated connections held open, a key holder still gets in", async () => {
  await using manager = await new TestManager({
    address: { hostname: "127.0.0.1", port: 0 },
    modules,
  }).start();
  const { port } = manager.address as { port: number };
  const flood: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 1100; i++) flood.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    let admitted = 0;
    for (let i = 0; i < 60; i++) if (await keyHolderGetsIn(manager.address)) admitted++;
    assert.ok(
      admitted >= 54,
      `${admitted} of 60 connects succeeded (CPython's server: it has no such budget)`,
    );
  } finally {
    closeAll(flood);
  }
});

Deno.test("TLS peers that never send a ClientHello are dropped at handshakeTimeout", async () => {
  await using dir = await tempDir();
  const { cert, key } = await makeCertificate(dir.path);
  await using manager = await new TestManager({
    address: { hostname: "127.0.0.1", port: 0 },
    modules,
    handshakeTimeout: 500,
    tls: { cert, key, caCerts: [cert] },
    limits: { maxPending: 1000 },
  }).start();
  const { port } = manager.address as { port: number };
  const stalled: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 300; i++) stalled.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    // Each sees its connection closed: the server let go of its descriptor.
    const buffer = new Uint8Array(16);
    let count = 0;
    const reads = Promise.all(
      stalled.map((conn) => conn.read(buffer).then(() => count++, () => count++)),
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([reads, new Promise((resolve) => timer = setTimeout(resolve, 3000))]);
    clearTimeout(timer);
    assert.ok(count >= 295, `${count} of 300 stalled TLS peers were dropped within 3 s`);
    assert.ok(await keyHolderGetsIn(manager.address, { caCerts: [cert] }));
  } finally {
    closeAll(stalled);
  }
});

/** How many descriptors process `pid` holds. */
function descriptorsOf(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

/** Every TCP port process `pid` listens on (its own sockets, IPv4 and IPv6). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const target = Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`);
      const inode = target.match(/^socket:\[(\d+)\]$/)?.[1];
      if (inode !== undefined) inodes.add(inode);
    } catch { /* closed meanwhile */ }
  }
  const ports = new Set<number>();
  for (const table of ["tcp", "tcp6"]) {
    for (const line of Deno.readTextFileSync(`/proc/${pid}/net/${table}`).split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local address, state (0A: listening), inode
      if (fields[3] === "0A" && inodes.has(fields[9]!)) {
        ports.add(parseInt(fields[1]!.split(":")[1]!, 16));
      }
    }
  }
  return [...ports].sort((a, b) => a - b);
}

Deno.test(
  "strangers on any port a TLS server listens on hold no descriptor past handshakeTimeout",
  async () => {
    await using dir = await tempDir();
    const { cert, key } = await makeCertificate(dir.path);
    const handshakeTimeout = 1000;
    await using manager = await new TestManager({
      address: { hostname: "127.0.0.1", port: 0 },
      modules,
      handshakeTimeout,
      tls: { cert, key, caCerts: [cert] },
      limits: { maxPending: 1000 },
    }).start();
    const pid = manager.pid!;
    const { port } = manager.address as { port: number };
    assert.ok(await keyHolderGetsIn(manager.address, { caCerts: [cert] }), "a first client");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const baseline = descriptorsOf(pid);
    // A server allowed 256 descriptors, as many systems allow a process.
    const limited = await new Deno.Command("prlimit", {
      args: [`--pid=${pid}`, "--nofile=256:256"],
    }).output();
    assert.ok(limited.success, new TextDecoder().decode(limited.stderr));
    const ports = listeningPorts(pid);
    assert.ok(ports.includes(port), `the server listens on ${port} (found ${ports.join(", ")})`);
    const strangers: Deno.Conn[] = [];
    try {
      // Local processes that connect and say nothing: 300 at every other port the server
      // listens on (there should be none), and 100 at its public port.
      for (const other of ports) {
        for (let i = 0; i < (other === port ? 100 : 300); i++) {
          strangers.push(await Deno.connect({ hostname: "127.0.0.1", port: other }));
        }
      }
      let now = baseline;
      const released = await waitUntil(() => {
        now = descriptorsOf(pid);
        return now <= baseline + 4;
      }, handshakeTimeout + 2000);
      assert.ok(
        released,
        `${strangers.length} silent strangers on ports ${
          ports.join(", ")
        } (public: ${port}): the server holds ${now} descriptors, ${baseline} before them, ${
          handshakeTimeout + 2000
        } ms later`,
      );
      assert.ok(
        await keyHolderGetsIn(manager.address, { caCerts: [cert] }),
        "a key holder gets in while the strangers stay connected",
      );
    } finally {
      closeAll(strangers);
    }
  },
);

Deno.test("proxy tickets are bounded per connection and expire within ticketTtl", async () => {
  await using manager = await new TestManager({
    modules,
    limits: { maxTickets: 50, ticketTtl: 300 },
  }).start();
  const client = await new TestManager({ address: manager.address, modules }).connect();
  const counter = await client.create(Counter, 1);
  for (let i = 0; i < 50; i++) await proxyToString(counter, { ttl: 10 * 24 * 3600 * 1000 });
  await assert.rejects(proxyToString(counter), {
    name: "RemoteError",
    message: /already holds 50 unclaimed proxy tickets, the limit \(limits\.maxTickets\)/,
  });
  await assert.rejects(proxyToString(counter), RemoteError);
  // The client leaves: its 50 tickets keep the counter alive no longer than ticketTtl.
  await client.disconnect();
  assert.equal(await manager.numberOfObjects(), 1, "the tickets hold it for now");
  assert.ok(
    await waitUntil(async () => (await manager.numberOfObjects()) === 0, 2000),
    "released once the tickets expired, though 10 days were asked for",
  );
});

/** True once the server has closed `conn` (what it sent before is read and dropped). */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  const buffer = new Uint8Array(256);
  const closed = (async () => {
    try {
      while ((await conn.read(buffer)) !== null) { /* the challenge */ }
    } catch { /* reset */ }
    return true;
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([closed, late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("a burst of 200 key holders slow to answer (a loaded machine) all get in", async () => {
  await using manager = await new TestManager({
    address: { hostname: "127.0.0.1", port: 0 },
    modules,
  }).start();
  const key = await importAuthkey(defaultAuthkey());
  const answer = Promise.withResolvers<void>();
  const peers: Promise<string>[] = [];
  // They come over about half a second, and none answers its challenge until all have come: as
  // from one process starved of CPU, busy opening its connections.
  for (let i = 0; i < 200; i++) {
    const socket = await connect(manager.address);
    const reader = new FrameReader(socket);
    peers.push((async () => {
      try {
        await answer.promise;
        await clientHandshake({ socket, reader }, key);
        await socket.write(codec.encode([1, 0, "ping", []]));
        const reply = codec.decode((await reader.read(1 << 20))!) as unknown[];
        return reply[1] === Reply.Return ? "ok" : `replied ${JSON.stringify(reply)}`;
      } catch (error) {
        return String(error);
      } finally {
        try {
          socket.close();
        } catch { /* closed by the server */ }
      }
    })());
    if (i % 8 === 7) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  answer.resolve();
  const outcomes = await within(Promise.all(peers), 30_000, "200 handshakes");
  const failed = outcomes.filter((outcome) => outcome !== "ok");
  assert.equal(failed.length, 0, `${failed.length} of 200 were cut short: ${failed[0]}`);
});

Deno.test("silent peers: at most 8 × maxPending are held; those a key holder overtook make room", async () => {
  await using manager = await new TestManager({
    address: { hostname: "127.0.0.1", port: 0 },
    modules,
    limits: { maxPending: 8 },
  }).start();
  const silent: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 100; i++) silent.push(await connect(manager.address));
    const closed = await Promise.all(silent.map((conn) => closedWithin(conn, 1000)));
    assert.deepStrictEqual(
      closed,
      [...Array(36).fill(true), ...Array(64).fill(false)],
      "the 36 oldest were dropped, 64 are held",
    );
    // A key holder comes after them (its arrival makes the oldest drop, at 8 × maxPending) and
    // gets in. 100 ms on, they lag behind it: each newcomer makes the oldest of them drop,
    // though fewer than 8 × maxPending are waiting now.
    assert.ok(await keyHolderGetsIn(manager.address));
    await new Promise((resolve) => setTimeout(resolve, 150));
    for (let i = 0; i < 8; i++) silent.push(await connect(manager.address));
    const after = await Promise.all(silent.slice(36, 54).map((conn) => closedWithin(conn, 1000)));
    assert.deepStrictEqual(after, [...Array(9).fill(true), ...Array(9).fill(false)]);
  } finally {
    closeAll(silent);
  }
});
