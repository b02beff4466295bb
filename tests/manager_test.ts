import assert from "node:assert/strict";
import {
  AuthenticationError,
  BaseManager,
  ConnectionClosedError,
  defaultAuthkey,
  ManagerStateError,
} from "../mod.ts";
import { Counter, Probe, TestManager } from "./_fixtures/counter.ts";
import {
  COUNTER_MODULE,
  processGone,
  startWorker,
  tempDir,
  toBase64,
  waitUntil,
} from "./_helpers.ts";

const modules = [COUNTER_MODULE];

Deno.test("BaseManager.start() serves over a private Unix socket that shutdown() removes", async () => {
  const manager = await new TestManager({ modules }).start();
  const path = manager.address as string;
  assert.equal(typeof path, "string");
  const dir = path.slice(0, path.lastIndexOf("/"));
  assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
  assert.ok((await Deno.lstat(path)).isSocket);
  assert.equal(manager.state, "started");
  const pid = manager.pid!;
  const counter = await manager.create(Counter, 41);
  assert.equal(await counter.increment(), 42);
  await manager.shutdown();
  assert.equal(manager.state, "shutdown");
  assert.ok(processGone(pid), "server process is gone");
  await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
  await assert.rejects(Deno.lstat(dir), Deno.errors.NotFound);
});

Deno.test("BaseManager over TCP with port 0 reports the real port", async () => {
  await using manager = await new TestManager({
    address: { hostname: "127.0.0.1", port: 0 },
    modules,
  }).start();
  const address = manager.address as { hostname: string; port: number };
  assert.equal(address.hostname, "127.0.0.1");
  assert.ok(address.port > 0);
  const counter = await manager.create(Counter);
  assert.equal(await counter.increment(3), 3);
});

Deno.test("BaseManager refuses a second start and a start after shutdown", async () => {
  const manager = await new TestManager({ modules }).start();
  await assert.rejects(manager.start(), {
    name: "ManagerStateError",
    message: "Cannot start(): the manager is already started",
  });
  await manager.shutdown();
  await manager.shutdown(); // idempotent
  await assert.rejects(manager.start(), {
    name: "ManagerStateError",
    message: "Cannot start(): the manager has shut down",
  });
  await assert.rejects(manager.create(Counter), ManagerStateError);
});

Deno.test("BaseManager: every proxy call rejects at once after shutdown", async () => {
  const manager = await new TestManager({ modules }).start();
  const counter = await manager.create(Counter);
  const pending = assert.rejects(counter.later(5_000, "never"), ConnectionClosedError);
  await manager.shutdown();
  await pending;
  const started = performance.now();
  await assert.rejects(counter.get(), {
    name: "ConnectionClosedError",
    message: /has shut down/,
  });
  assert.ok(performance.now() - started < 1000, "rejected without waiting on the network");
});

Deno.test("BaseManager options are checked at construction", () => {
  assert.throws(
    () => new BaseManager({ serializer: "json" as "msgpack" }),
    {
      name: "TypeError",
      message: /Unknown serializer "json": "msgpack" \(the default\), or "pickle" or "xmlrpclib"/,
    },
  );
  assert.throws(
    () => new BaseManager({ authkey: "secret" as unknown as Uint8Array }),
    TypeError,
  );
  assert.throws(() => new BaseManager({ shutdownTimeout: -1 }), RangeError);
  assert.throws(() => new BaseManager({ address: { hostname: 5 as never, port: 1 } }), TypeError);
  // Python's ("", port) is every interface.
  assert.deepEqual(new BaseManager({ address: ["", 50000] }).address, {
    hostname: "0.0.0.0",
    port: 50000,
  });
  assert.throws(() => new BaseManager({ permissions: { disk: true } as never }), TypeError);
  assert.throws(() => new BaseManager().address, ManagerStateError);
});

Deno.test("await using shuts a started manager down at the end of the block", async () => {
  let pid = 0;
  let path = "";
  {
    await using manager = await new TestManager({ modules }).start();
    pid = manager.pid!;
    path = manager.address as string;
    await manager.create(Counter);
  }
  assert.ok(processGone(pid));
  await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
});

Deno.test("connect() joins a running server; disposing it leaves the server running", async () => {
  await using owner = await new TestManager({ modules }).start();
  const shared = await owner.create(Counter, 10);
  {
    await using client = await new TestManager({ address: owner.address }).connect();
    const counter = await client.create(Counter, 1);
    assert.equal(await counter.increment(), 2);
    assert.equal(await client.numberOfObjects(), 2);
  }
  // The client's connection is gone, and with it (once the server sees the close) its reference.
  assert.ok(await waitUntil(async () => (await owner.numberOfObjects()) === 1, 2000));
  assert.equal(await shared.increment(), 11);
});

Deno.test("connect() with a wrong authkey fails with AuthenticationError", async () => {
  await using owner = await new TestManager({ modules }).start();
  const manager = new TestManager({
    address: owner.address,
    authkey: new TextEncoder().encode("not the key"),
  });
  await assert.rejects(manager.connect(), {
    name: "AuthenticationError",
    message: /authkey does not match/,
  });
  assert.ok(AuthenticationError);
  // The server is unharmed.
  const counter = await owner.create(Counter, 1);
  assert.equal(await counter.get(), 1);
});

Deno.test("start() rejects with the server process's message when a module cannot load", async () => {
  await using dir = await tempDir();
  const broken = `${dir.path}/broken.ts`;
  await Deno.writeTextFile(broken, "throw new Error('this module refuses to load');\n");
  const manager = new TestManager({ modules: [COUNTER_MODULE, `file://${broken}`] });
  await assert.rejects(manager.start(), { message: /this module refuses to load/ });
  assert.equal(manager.pid, undefined);
});

Deno.test("start() rejects when the address is in use, leaving no process behind", async () => {
  await using first = await new TestManager({
    address: { hostname: "127.0.0.1", port: 0 },
    modules,
  }).start();
  const second = new TestManager({ address: first.address, modules });
  await assert.rejects(second.start(), { name: "AddrInUse", message: /address already in use/ });
  assert.equal(second.pid, undefined);
  assert.equal(await (await first.create(Counter, 7)).get(), 7);
});

Deno.test("start() says when registrations exist only in this process", async () => {
  class LocalOnly {
    ping(): string {
      return "pong";
    }
  }
  // A manager class the server process never sees.
  class LocalManager extends TestManager {}
  LocalManager.register("LocalOnly", LocalOnly);
  await assert.rejects(new LocalManager({ modules }).start(), {
    message: /no manager class 'LocalManager'.*define and register it at the top level/,
  });
  // A typeid registered on a known class, but not at a module's top level.
  const { ScopedManager } = await import(COUNTER_MODULE);
  ScopedManager.register("LateOnly", LocalOnly);
  await assert.rejects(new ScopedManager({ modules }).start(), {
    name: "ManagerStateError",
    message: /does not know 'LateOnly'/,
  });
});

Deno.test("start() runs an exported initializer in the server process before serving", async () => {
  const { initializeCounter, Counter: FixtureCounter } = await import(COUNTER_MODULE);
  await using manager = await new TestManager({ modules }).start(initializeCounter, [100]);
  const counter = await manager.create(FixtureCounter as typeof Counter);
  assert.equal(await counter.get(), 100);
  const failing = new TestManager({ modules });
  await assert.rejects(failing.start(initializeCounter, [-1]), {
    message: /initial value must not be negative/,
  });
  // A failed start leaves the manager able to try again.
  await failing.start(initializeCounter, [5]);
  assert.equal(await (await failing.create(Counter))._callmethod("get"), 5);
  await failing.shutdown();
  await assert.rejects(
    new TestManager({ modules }).start(() => {}),
    { name: "TypeError", message: /must be exported from one of the modules/ },
  );
  await assert.rejects(
    new TestManager({ modules }).start(42 as never),
    { name: "TypeError", message: "initializer must be a callable" },
  );
});

Deno.test("getServer() serves in this process until a client asks it to shut down", async () => {
  const manager = new TestManager({ address: { hostname: "127.0.0.1", port: 0 } });
  const server = manager.getServer();
  const serving = server.serveForever();
  assert.equal(manager.state, "initial");
  const client = await new TestManager({ address: server.address }).connect();
  const counter = await client.create(Counter, 2);
  assert.equal(await counter.increment(), 3);
  await client.shutdown(); // a connected manager's shutdown() stops the remote server
  await serving;
  await assert.rejects(counter.get(), ConnectionClosedError);
});

Deno.test("the server process exits within 2 s when its owner is SIGKILLed", async () => {
  const owner = startWorker({ action: "owner", authkey: toBase64(new Uint8Array(32)), modules });
  const { pid } = JSON.parse(await owner.line());
  assert.ok(!processGone(pid), "server is running");
  owner.child.kill("SIGKILL");
  await owner.finish();
  assert.ok(await waitUntil(() => processGone(pid), 2000), "server exited within 2 s");
});

Deno.test("the server process ignores SIGINT and exits cleanly on SIGTERM", async () => {
  const manager = await new TestManager({ modules }).start();
  const pid = manager.pid!;
  const counter = await manager.create(Counter, 1);
  Deno.kill(pid, "SIGINT");
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(await counter.increment(), 2, "still serving after SIGINT");
  Deno.kill(pid, "SIGTERM");
  assert.ok(await waitUntil(() => processGone(pid), 2000));
  await assert.rejects(counter.get(), ConnectionClosedError);
  await manager.shutdown();
});

Deno.test("debugInfo() and numberOfObjects() report live objects", async () => {
  await using manager = await new TestManager({ modules }).start();
  assert.equal(await manager.numberOfObjects(), 0);
  const counter = await manager.create(Counter, 3);
  assert.equal(await manager.numberOfObjects(), 1);
  const info = await manager.debugInfo();
  assert.match(info, /refcount=1/);
  assert.match(info, /typeid=Counter/);
  await counter[Symbol.asyncDispose]();
  assert.equal(await manager.numberOfObjects(), 0);
});

Deno.test("a worker given the address and authkey connects; a wrong key is refused", async () => {
  const authkey = crypto.getRandomValues(new Uint8Array(32));
  await using manager = await new TestManager({
    address: { hostname: "127.0.0.1", port: 0 },
    authkey,
    modules,
  }).start();
  const good = startWorker({
    action: "connect",
    address: manager.address,
    authkey: toBase64(authkey),
  });
  assert.deepEqual(JSON.parse(await good.line()), { ok: true, objects: 0 });
  await good.finish();
  const bad = startWorker({
    action: "connect",
    address: manager.address,
    authkey: toBase64(new Uint8Array(32)),
  });
  assert.deepEqual(JSON.parse(await bad.line()), { ok: false, name: "AuthenticationError" });
  await bad.finish();
});

Deno.test("the authkey reaches the server process on stdin, never in argv or env", async () => {
  const authkey = new TextEncoder().encode("a-very-recognisable-authkey-0123456789");
  await using manager = await new TestManager({ modules, authkey }).start();
  const text = new TextDecoder();
  const argv = text.decode(await Deno.readFile(`/proc/${manager.pid}/cmdline`));
  const env = text.decode(await Deno.readFile(`/proc/${manager.pid}/environ`));
  for (const form of ["a-very-recognisable-authkey", toBase64(authkey), hexOf(authkey)]) {
    assert.ok(!argv.includes(form), "not in argv");
    assert.ok(!env.includes(form), "not in env");
  }
  assert.match(argv, /--no-prompt/);
  assert.doesNotMatch(argv, /--allow-all|--allow-env|--allow-run|-A\b/);
});

Deno.test("shutdown() escalates to SIGTERM and SIGKILL when the server does not stop", async () => {
  const manager = await new TestManager({ modules, shutdownTimeout: 200 }).start();
  const pid = manager.pid!;
  const probe = await manager.create(Probe);
  const stuck = assert.rejects(probe.spin(30_000), ConnectionClosedError); // blocks the event loop
  await new Promise((resolve) => setTimeout(resolve, 100));
  const started = performance.now();
  await manager.shutdown();
  const took = performance.now() - started;
  await stuck;
  assert.ok(processGone(pid));
  assert.ok(
    took >= 350 && took < 3000,
    `took ${took.toFixed(0)} ms: timeout, SIGTERM, timeout, SIGKILL`,
  );
});

Deno.test("a proxy dropped without disposing is released by garbage collection", async () => {
  await using manager = await new TestManager({ modules }).start();
  const worker = startWorker(
    { action: "drop", address: manager.address, authkey: toBase64(defaultAuthkey()) },
    ["--v8-flags=--expose-gc"],
  );
  assert.deepEqual(JSON.parse(await worker.line()), { before: 1, after: 0 });
  await worker.finish();
});

function hexOf(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("a new server starts at once on the address of one just shut down (test_rapid_restart)", async () => {
  const first = await new TestManager({ address: { hostname: "127.0.0.1", port: 0 }, modules })
    .start();
  const address = first.address;
  await first.shutdown();
  await using second = await new TestManager({ address, modules }).start();
  assert.deepEqual(second.address, address);
  await using dir = await tempDir();
  const path = `${dir.path}/fixed.sock`;
  await (await new TestManager({ address: path, modules }).start()).shutdown();
  await using again = await new TestManager({ address: path, modules }).start();
  assert.equal(await (await again.create(Counter, 3)).get(), 3);
});

Deno.test("a stale socket file left by a killed server does not block the next start()", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/stale.sock`;
  const killed = await new TestManager({ address: path, modules }).start();
  Deno.kill(killed.pid!, "SIGKILL");
  await waitUntil(() => processGone(killed.pid!), 2000);
  assert.ok((await Deno.lstat(path)).isSocket, "the dead server's socket file is still there");
  await using next = await new TestManager({ address: path, modules }).start();
  assert.equal(await (await next.create(Counter, 1)).increment(), 2);
  await killed.shutdown();
});
