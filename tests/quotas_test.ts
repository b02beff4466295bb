/**
 * Per-connection quotas: objects held, calls in progress, and replies
 * buffered for a client that does not read them. Going over a quota fails
 * that call with an error that names the limit, and the connection goes
 * on; a client that floods requests without reading is throttled while
 * other clients are served as usual.
 */
import assert from "node:assert/strict";
import { Counter, TestManager } from "./_fixtures/counter.ts";
import { COUNTER_MODULE, firstLine, waitUntil, within } from "./_helpers.ts";
import { pythonTest } from "./_python.ts";
import { clientHandshake, importAuthkey } from "../src/wire/handshake.ts";
import { Codec, type CodecPeer } from "../src/wire/codec.ts";
import { FrameReader } from "../src/wire/framing.ts";
import { connect } from "../src/wire/transport.ts";
import { Reply } from "../src/wire/protocol.ts";
import { defaultAuthkey, proxyFromString, proxyToString, SyncManager } from "../mod.ts";

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

// ---------------------------------------------------------------------------------------------
// Every way of obtaining what a quota counts is counted, from the moment its request is admitted:
// requests sent together in one write, tickets claimed, calls chained to a pipelined result, kept
// results, and CPython's connections (whose references belong to no connection).

const QUOTA_MODULE = new URL("./_fixtures/quota.ts", import.meta.url).href;
const MIB = 1024 * 1024;

/** A client that speaks raw frames after authenticating for real: proxies travel as bare ids. */
async function rawClient(address: TestManager["address"]): Promise<{
  /** Sends every request in one write. */
  send(requests: unknown[][]): Promise<void>;
  /** The next `count` replies (not notices), by request id, within `ms`. */
  replies(count: number, ms: number): Promise<Map<number, [number, unknown]>>;
  /** One request and its reply. */
  call(request: unknown[]): Promise<[number, unknown]>;
  [Symbol.dispose](): void;
}> {
  const socket = await connect(address);
  const reader = new FrameReader(socket);
  await clientHandshake({ socket, reader }, await importAuthkey(defaultAuthkey()));
  const codec = new Codec({
    encodeToken: () => {
      throw new TypeError("no proxies here");
    },
    decodeToken: ([, id]) => id,
  });
  const send = async (requests: unknown[][]): Promise<void> => {
    for (const request of requests) codec.append(request);
    const chunk = codec.take()!;
    const bytes = chunk.slice();
    codec.giveBack(chunk);
    let offset = 0;
    while (offset < bytes.length) offset += await socket.write(bytes.subarray(offset));
  };
  const replies = async (count: number, ms: number): Promise<Map<number, [number, unknown]>> => {
    const got = new Map<number, [number, unknown]>();
    const reading = (async () => {
      while (got.size < count) {
        const data = await reader.read(1 << 26);
        if (data === null) throw new Error(`the server closed the connection after ${got.size}`);
        const [id, kind, value] = codec.decode(data) as [number, number, unknown];
        if (id !== 0) got.set(id, [kind, value]);
      }
    })();
    await within(reading, ms, `${count} replies (${got.size} came)`);
    return got;
  };
  return {
    send,
    replies,
    async call(request: unknown[]): Promise<[number, unknown]> {
      await send([request]);
      return (await replies(1, 10_000)).get(request[0] as number)!;
    },
    [Symbol.dispose](): void {
      try {
        socket.close();
      } catch { /* closed by the server */ }
    },
  };
}

/** The replies of kind `kind`. */
function ofKind(replies: Map<number, [number, unknown]>, kind: number): unknown[] {
  return [...replies.values()].filter(([k]) => k === kind).map(([, value]) => value);
}

Deno.test("maxObjectsPerConnection holds for 1,000 creates sent in one write: exactly the limit succeed", async () => {
  const { QuotaManager } = await import("./_fixtures/quota.ts");
  await using manager = await new QuotaManager({
    modules: [QUOTA_MODULE],
    limits: { maxObjectsPerConnection: 10 },
  }).start();
  using raw = await rawClient(manager.address);
  const creates = Array.from({ length: 1000 }, (_, i) => [i + 1, 0, "create", ["Tally"]]);
  await raw.send(creates);
  const replies = await raw.replies(1000, 20_000);
  const made = ofKind(replies, Reply.Return);
  assert.equal(made.length, 10, `${made.length} of 1,000 creates succeeded`);
  const failures = ofKind(replies, Reply.Failure) as [string, unknown][];
  assert.equal(failures.length, 990);
  for (const [message] of failures) {
    assert.match(
      message,
      /^This connection already holds 10 shared objects, the limit \(limits\.maxObjectsPerConnection\)(, counting \d+ on their way to it)?: release some first$/,
    );
  }
  const [, info] = await raw.call([2000, 0, "debugInfo", []]);
  assert.match(info as string, /connection \d+: 10 objects, 0 calls in progress/);
  assert.equal(await manager.numberOfObjects(), 10, "no object past the limit was made");
});

Deno.test("maxObjectsPerConnection holds for 100 create() calls made in one tick", async () => {
  const { QuotaManager, Tally } = await import("./_fixtures/quota.ts");
  await using manager = await new QuotaManager({
    modules: [QUOTA_MODULE],
    limits: { maxObjectsPerConnection: 10 },
  }).start();
  const outcomes = await within(
    Promise.allSettled(Array.from({ length: 100 }, () => manager.create(Tally))),
    20_000,
    "100 creates",
  );
  const made = outcomes.filter((o) => o.status === "fulfilled");
  assert.equal(made.length, 10, `${made.length} of 100 creates succeeded`);
  for (const outcome of outcomes) {
    if (outcome.status === "rejected") {
      assert.equal(outcome.reason.name, "RemoteError");
      assert.match(outcome.reason.message, /the limit \(limits\.maxObjectsPerConnection\)/);
    }
  }
  assert.equal(await manager.numberOfObjects(), 10);
  for (const o of made) {
    await (o as PromiseFulfilledResult<AsyncDisposable>).value[Symbol.asyncDispose]();
  }
});

Deno.test("a connection at maxObjectsPerConnection cannot claim tickets; a refused ticket stays claimable", async () => {
  const { QuotaManager, Tally } = await import("./_fixtures/quota.ts");
  await using manager = await new QuotaManager({
    modules: [QUOTA_MODULE],
    limits: { maxObjectsPerConnection: 2 },
  }).start();
  await using shared = await manager.create(Tally);
  const tickets: string[] = [];
  for (let i = 0; i < 50; i++) tickets.push(await proxyToString(shared));
  await using other = await new QuotaManager({ address: manager.address }).connect();
  const full = [await other.create(Tally), await other.create(Tally)];
  const authkey = defaultAuthkey();
  for (const ticket of tickets) {
    await assert.rejects(proxyFromString(ticket, { authkey, manager: other }), {
      name: "RemoteError",
      message:
        /^This connection already holds 2 shared objects, the limit \(limits\.maxObjectsPerConnection\): release some first$/,
    });
  }
  await full[0]![Symbol.asyncDispose]();
  await using claimed = await proxyFromString<typeof shared>(tickets[0]!, {
    authkey,
    manager: other,
  });
  assert.equal(await claimed.increment(), 1, "the ticket refused before was claimed now");
  assert.equal(await shared.get(), 1, "and it is the shared object");
  await full[1]![Symbol.asyncDispose]();
});

Deno.test("a methodToTypeid call past maxObjectsPerConnection is refused before it runs", async () => {
  const { QuotaManager, Tally } = await import("./_fixtures/quota.ts");
  await using manager = await new QuotaManager({
    modules: [QUOTA_MODULE],
    limits: { maxObjectsPerConnection: 2 },
  }).start();
  await using tally = await manager.create(Tally);
  await using first = await tally.spawn() as unknown as typeof tally;
  // Sent together: neither may pass the limit, and the one refused must not run.
  const outcomes = await within(
    Promise.allSettled([tally.spawn(), tally.spawn(), manager.create(Tally)]),
    10_000,
    "three calls at the limit",
  );
  for (const outcome of outcomes) {
    assert.equal(outcome.status, "rejected");
    assert.match(
      (outcome as PromiseRejectedResult).reason.message,
      /^This connection already holds 2 shared objects, the limit \(limits\.maxObjectsPerConnection\): release some first$/,
    );
  }
  assert.equal(await tally.get(), 1, "spawn() ran once: the refused calls did not run");
  assert.equal(await first.get(), 0);
});

Deno.test("calls chained to a kept request that never settles count against maxPendingCallsPerConnection", async () => {
  const { QuotaManager, Tally } = await import("./_fixtures/quota.ts");
  await using manager = await new QuotaManager({
    modules: [QUOTA_MODULE],
    limits: { maxPendingCallsPerConnection: 100 },
  }).start();
  await using gauge = await manager.create(Tally);
  using raw = await rawClient(manager.address);
  const [, id] = await raw.call([1, 0, "create", ["Tally"]]);
  const before = await gauge.memoryAfterGc();
  // One kept call that never settles, then 20,000 calls of 2 KiB chained to it, in one write.
  const chained = Array.from(
    { length: 20_000 },
    (_, i) => [i + 3, -2, "echo", [`${i}`.padEnd(2048, ".")]],
  );
  await raw.send([[2, id, "hang", [], 1], ...chained]);
  // The kept call and 99 chained to it are in progress; the rest fail at once, naming the limit.
  const replies = await raw.replies(20_000 - 99, 30_000);
  for (const [message] of ofKind(replies, Reply.Failure) as [string, unknown][]) {
    assert.match(
      message,
      /^This connection already has 100 calls in progress, the limit \(limits\.maxPendingCallsPerConnection\): wait for some to finish$/,
    );
  }
  assert.equal(ofKind(replies, Reply.Failure).length, 20_000 - 99);
  assert.match(await manager.debugInfo(), /connection \d+: 1 objects, 100 calls in progress/);
  const grown = (await gauge.memoryAfterGc()) - before;
  console.log(
    `20,000 chained calls of 2 KiB past a limit of 100: server memory +${
      (grown / MIB).toFixed(1)
    } MiB`,
  );
  // What is left: 99 waiting calls, and the write buffer that held 19,901 replies at once.
  // (Before chained calls counted, all 20,000 waited: +43 MiB.)
  assert.ok(grown < 8 * MIB, `the server's memory grew by ${(grown / MIB).toFixed(1)} MiB`);
});

Deno.test("kept results count against maxPendingCallsPerConnection until the client forgets them", async () => {
  const { QuotaManager, Tally } = await import("./_fixtures/quota.ts");
  await using manager = await new QuotaManager({
    modules: [QUOTA_MODULE],
    limits: { maxPendingCallsPerConnection: 1000 },
  }).start();
  await using gauge = await manager.create(Tally);
  using raw = await rawClient(manager.address);
  const [, id] = await raw.call([1, 0, "create", ["Tally"]]);
  const before = await gauge.memoryAfterGc();
  // 100,000 kept calls, never forgotten: the first 1,000 run and are kept, the rest do not run.
  const count = 100_000;
  for (let sent = 0; sent < count; sent += 10_000) {
    await raw.send(
      Array.from({ length: 10_000 }, (_, i) => [sent + i + 2, id, "increment", [], 1]),
    );
  }
  const replies = await raw.replies(count, 60_000);
  const grown = (await gauge.memoryAfterGc()) - before;
  const results = ofKind(replies, Reply.Return);
  console.log(
    `100,000 kept calls past a limit of 1,000: server memory +${(grown / MIB).toFixed(1)} MiB`,
  );
  assert.equal(results.length, 1000, `${results.length} of ${count} kept calls ran`);
  assert.deepStrictEqual(results, Array.from({ length: 1000 }, (_, i) => i + 1), "in order");
  for (const [message] of ofKind(replies, Reply.Failure) as [string, unknown][]) {
    assert.match(
      message,
      /^This connection already has 1000 calls in progress, the limit \(limits\.maxPendingCallsPerConnection\), counting 1000 pipelined results not yet forgotten: wait for some to finish$/,
    );
  }
  assert.ok(grown < 4 * MIB, `the server's memory grew by ${(grown / MIB).toFixed(1)} MiB`);
  // Forgetting them makes room; nothing refused had run.
  await raw.send([[0, 0, "forget", Array.from({ length: 1000 }, (_, i) => i + 2)]]);
  assert.deepStrictEqual(await raw.call([count + 2, id, "increment", []]), [Reply.Return, 1001]);
});

/** Starts `code` in CPython `version` with these arguments; it prints one JSON line, then waits for stdin to close. */
async function pythonHolding(
  version: string,
  code: string,
  args: string[],
  what: string,
): Promise<{ seen: Record<string, unknown>; done(): Promise<void> }> {
  const child = new Deno.Command("python3", {
    args: ["-c", code, ...args],
    env: { PYENV_VERSION: version },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const deadline = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    const { line, rest } = await firstLine(child.stdout, what);
    return {
      seen: JSON.parse(line),
      async done(): Promise<void> {
        await child.stdin.close();
        await rest.cancel();
        const status = await within(child.status, 20_000, `${what} exiting`);
        clearTimeout(deadline);
        assert.ok(status.success, `${what} failed`);
      },
    };
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    clearTimeout(deadline);
    throw error;
  }
}

const PYTHON_PRELUDE = `
import json, sys, threading
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.managers import BaseManager, SyncManager
from multiprocessing.connection import Client
address = json.loads(sys.argv[1])
if isinstance(address, dict):
    address = (address["hostname"], address["port"])
authkey = sys.argv[2].encode()
`;

await pythonTest(
  ["3.13.0"],
  "CPython clients share one server-wide maxObjectsPerConnection: 50 dicts made at once, exactly 10 exist",
  async () => {
    const authkey = "quota-secret";
    await using manager = await new SyncManager({
      modules: [],
      authkey: new TextEncoder().encode(authkey),
      limits: { maxObjectsPerConnection: 10 },
    }).start();
    const python = await pythonHolding(
      "3.13.0",
      PYTHON_PRELUDE + `
manager = SyncManager(address=address, authkey=authkey)
manager.connect()
barrier = threading.Barrier(50)
def make(i):
    barrier.wait(10)
    try:
        return manager.dict({"i": i})
    except Exception as error:
        return error
with ThreadPoolExecutor(50) as pool:
    results = list(pool.map(make, range(50)))
made = [r for r in results if not isinstance(r, Exception)]
def last_line(error):
    lines = [line for line in str(error).splitlines() if line.strip("- ")]
    return f"{type(error).__name__}: {lines[-1]}"
errors = [last_line(r) for r in results if isinstance(r, Exception)]
print(json.dumps({"made": len(made), "values": sorted(d["i"] for d in made), "errors": errors}), flush=True)
sys.stdin.read()
`,
      [JSON.stringify(manager.address), authkey],
      "the CPython client making 50 dicts",
    );
    try {
      assert.equal(python.seen.made, 10, `${python.seen.made} of 50 dicts were made`);
      assert.equal((python.seen.values as number[]).length, 10, "each one answers");
      const errors = python.seen.errors as string[];
      assert.equal(errors.length, 40);
      for (const error of errors) {
        assert.match(
          error,
          /^RemoteError: RemoteError: CPython clients already hold 10 shared objects, the limit \(limits\.maxObjectsPerConnection, server-wide for CPython clients\)(, counting \d+ on their way to it)?: release some first$/,
        );
      }
      assert.equal(await manager.numberOfObjects(), 10);
    } finally {
      await python.done();
    }
    assert.ok(
      await waitUntil(async () => (await manager.numberOfObjects()) === 0, 5000),
      "the CPython client released its 10 dicts on exit",
    );
  },
);

await pythonTest(
  ["3.13.0"],
  "a CPython connection that pipelines requests is closed, telling why; the server's memory stays flat",
  async () => {
    const { QuotaManager, Tally } = await import("./_fixtures/quota.ts");
    const authkey = "quota-secret";
    await using manager = await new QuotaManager({
      modules: [QUOTA_MODULE],
      authkey: new TextEncoder().encode(authkey),
    }).start();
    await using gauge = await manager.create(Tally);
    const before = await gauge.memoryAfterGc();
    // After a call that never returns, 1,200 calls of 256 KiB each, without reading a reply.
    const python = await pythonHolding(
      "3.13.0",
      PYTHON_PRELUDE + `
class M(BaseManager):
    pass
M.register("Tally")
manager = M(address=address, authkey=authkey)
manager.connect()
tally = manager.Tally()
conn = Client(address, authkey=authkey)
conn.send((None, "accept_connection", ("pipeliner",), {}))
assert conn.recv() == ("#RETURN", None)
conn.send((tally._id, "hang", (), {}))
blob = b"x" * 262144
sent, error = 0, None
try:
    for _ in range(1200):
        conn.send((tally._id, "echo", (blob,), {}))
        sent += 1
except OSError as e:
    error = type(e).__name__
reply = None
try:
    if conn.poll(2):
        reply = list(conn.recv())
except (OSError, EOFError) as e:
    reply = [type(e).__name__]
print(json.dumps({"sent": sent, "error": error, "reply": reply}), flush=True)
sys.stdin.read()
`,
      [JSON.stringify(manager.address), authkey],
      "the CPython peer pipelining 1,200 requests",
    );
    try {
      const grown = (await gauge.memoryAfterGc()) - before;
      console.log(
        `a CPython peer sent ${python.seen.sent} of 1,200 requests of 256 KiB: server memory +${
          (grown / MIB).toFixed(1)
        } MiB`,
      );
      assert.ok((python.seen.sent as number) < 1200, "its writes failed once it was closed");
      assert.ok(python.seen.error !== null, "with an OSError");
      const [kind, text] = python.seen.reply as [string, string];
      assert.equal(kind, "#TRACEBACK");
      assert.match(
        text,
        /RemoteError: The Deno manager server closed this connection: it sent \d+ requests without waiting for the replies, and a CPython client sends one at a time/,
      );
      assert.ok(grown < 16 * MIB, `the server's memory grew by ${(grown / MIB).toFixed(1)} MiB`);
      assert.equal(await gauge.increment(), 1, "the server serves on");
    } finally {
      await python.done();
    }
  },
);

Deno.test("numberOfObjects() waiting for a forced collection counts against maxPendingCallsPerConnection", async () => {
  await using manager = await new TestManager({
    modules,
    limits: { maxPendingCallsPerConnection: 10 },
  }).start();
  // A proxy held inside the server: counting objects then waits for a forced collection.
  const { Store } = await import("./_fixtures/counter.ts");
  await using store = await manager.create(Store);
  await using counter = await manager.create(Counter, 0);
  await store.set("held", counter);
  using raw = await rawClient(manager.address);
  await raw.send(Array.from({ length: 1000 }, (_, i) => [i + 1, 0, "numberOfObjects", []]));
  const replies = await raw.replies(1000, 20_000);
  const counted = ofKind(replies, Reply.Return);
  assert.ok(counted.length >= 10 && counted.length < 1000, `${counted.length} were answered`);
  assert.deepStrictEqual(new Set(counted), new Set([2]));
  for (const [message] of ofKind(replies, Reply.Failure) as [string, unknown][]) {
    assert.match(message, /the limit \(limits\.maxPendingCallsPerConnection\)/);
  }
});

await pythonTest(
  ["3.13.0"],
  "a CPython methodToTypeid call past the server-wide object quota is refused before it runs",
  async () => {
    const { QuotaManager } = await import("./_fixtures/quota.ts");
    const authkey = "quota-secret";
    await using manager = await new QuotaManager({
      modules: [QUOTA_MODULE],
      authkey: new TextEncoder().encode(authkey),
      limits: { maxObjectsPerConnection: 1 },
    }).start();
    const python = await pythonHolding(
      "3.13.0",
      PYTHON_PRELUDE + `
class M(BaseManager):
    pass
M.register("Tally")
manager = M(address=address, authkey=authkey)
manager.connect()
tally = manager.Tally()
try:
    tally.spawn()
    refused = None
except Exception as error:
    lines = [line for line in str(error).splitlines() if line.strip("- ")]
    refused = f"{type(error).__name__}: {lines[-1]}"
print(json.dumps({"refused": refused, "spawned": tally.get()}), flush=True)
sys.stdin.read()
`,
      [JSON.stringify(manager.address), authkey],
      "the CPython client calling spawn()",
    );
    try {
      assert.equal(
        python.seen.refused,
        "RemoteError: RemoteError: CPython clients already hold 1 shared objects, the limit (limits.maxObjectsPerConnection, server-wide for CPython clients): release some first",
      );
      assert.equal(python.seen.spawned, 0, "spawn() did not run");
      assert.equal(await manager.numberOfObjects(), 1);
    } finally {
      await python.done();
    }
  },
);
