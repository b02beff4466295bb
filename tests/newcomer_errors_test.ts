/**
 * The errors a newcomer meets first, each with the message asserted: it
 * must say what went wrong and what to do about it.
 */
import assert from "node:assert/strict";
import { BaseManager } from "../mod.ts";
import { Probe, Store, TestManager } from "./_fixtures/counter.ts";
import {
  COUNTER_MODULE,
  type DenoRun,
  denoRun,
  processGone,
  tempDir,
  waitUntil,
} from "./_helpers.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;
const modules = [COUNTER_MODULE];

function run(script: string, flags: string[]): Promise<DenoRun> {
  return denoRun([...flags, script]);
}

Deno.test("a denial in the server process names the permissions option that grants it", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using probe = await manager.create(Probe);
  await assert.rejects(probe.env("HOME"), {
    name: "NotCapable",
    message:
      `Requires env access to "HOME" in the manager's server process, which runs with only the permissions it needs: grant it with the manager's permissions option, { permissions: { env: ["HOME"] } }`,
  });
  await assert.rejects(probe.read("/etc/hostname"), {
    name: "NotCapable",
    message:
      /grant it with the manager's permissions option, \{ permissions: \{ read: \["\/etc\/hostname"\] \} \}$/,
  });
});

Deno.test("start() reached while the server imports the module says to add the import.meta.main guard", async () => {
  await using dir = await tempDir();
  const script = `${dir.path}/unguarded.ts`;
  await Deno.writeTextFile(
    script,
    `import { BaseManager, shared } from "${MOD}";
@shared()
export class Counter {
  up(): number { return 1; }
}
await using manager = await new BaseManager({ modules: [import.meta.url] }).start();
console.log(await (await manager.create(Counter)).up());
`,
  );
  const result = await run(script, ["-A"]);
  assert.notEqual(result.code, 0);
  assert.match(
    result.stderr,
    /start\(\) was called while the manager's server process was importing file:\/\/.*unguarded\.ts: start the manager inside `if \(import\.meta\.main\) \{ \.\.\. \}` so that it runs only in your program/,
  );
  assert.doesNotMatch(result.stderr, /write access/);
});

Deno.test("an address written as host:port says what shape is expected; Python's pair is accepted", async () => {
  assert.throws(() => new BaseManager({ address: "127.0.0.1:50124" }), {
    name: "TypeError",
    message:
      'Invalid address "127.0.0.1:50124": a string is a Unix socket path; for TCP pass { hostname: "127.0.0.1", port: 50124 } (or ["127.0.0.1", 50124]), and for a socket file whose name has a colon write "./127.0.0.1:50124"',
  });
  assert.throws(
    () => new BaseManager({ address: ["127.0.0.1"] as unknown as [string, number] }),
    /an array address must be \[hostname, port\]/,
  );
  await using manager = await new TestManager({ address: ["127.0.0.1", 0], modules }).start();
  const address = manager.address;
  assert.ok(typeof address === "object" && address.hostname === "127.0.0.1" && address.port > 0);
  await using store = await manager.create(Store);
  assert.equal(await store.size(), 0);
});

Deno.test("a cyclic value is refused with a short message naming the cycle", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using store = await manager.create(Store);
  const node: Record<string, unknown> = { name: "root" };
  node.self = node;
  const error = await store.set("loop", node).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof TypeError);
  assert.equal(
    error.message,
    "Cannot send a cycle (an object that contains itself; send a copy without the back reference) in args[1].self of a call to 'set': only data (JSON values, undefined, bigint, Date, Map, Set, typed arrays, Errors) and proxies can be sent",
  );
  // Deep but acyclic nesting keeps a short path too.
  let deep: unknown = 1;
  for (let i = 0; i < 600; i++) deep = [deep];
  const deepError = await store.set("deep", deep).then(() => undefined, (e: unknown) => e);
  assert.ok(deepError instanceof TypeError);
  assert.match(
    deepError.message,
    /^Cannot send a value nested deeper than 512 levels \(limits.maxDepth\) in args\[1\]/,
  );
  assert.ok(deepError.message.length < 300, deepError.message);
  assert.equal(await store.size(), 0, "nothing was stored");
});

Deno.test("a URL, RegExp, Blob or other instance with no own data is a TypeError at the sender", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using store = await manager.create(Store);
  const cases: [unknown, string][] = [
    [
      new URL("https://example.com/a"),
      "a URL (class instances travel as their own enumerable properties, and it has none: send url.href)",
    ],
    [
      /ab+c/g,
      "a RegExp (class instances travel as their own enumerable properties, and it has none: send its source and flags)",
    ],
    [
      new Blob(["x"]),
      "a Blob (class instances travel as their own enumerable properties, and it has none: send await blob.bytes())",
    ],
    [
      new Headers(),
      "a Headers (class instances travel as their own enumerable properties, and it has none: send Object.fromEntries(headers))",
    ],
    [
      new (class Marker {})(),
      "a Marker (class instances travel as their own enumerable properties, and it has none)",
    ],
  ];
  for (const [value, what] of cases) {
    await assert.rejects(store.set("k", value), {
      name: "TypeError",
      message:
        `Cannot send ${what} in args[1] of a call to 'set': only data (JSON values, undefined, bigint, Date, Map, Set, typed arrays, Errors) and proxies can be sent`,
    });
  }
  // Instances with own data still travel as plain objects; empty plain objects as {}.
  await store.set(
    "point",
    new (class Point {
      x = 1;
      y = 2;
    })(),
  );
  assert.deepEqual(await store.get("point"), { x: 1, y: 2 });
  await store.set("empty", {});
  assert.deepEqual(await store.get("empty"), {});
});

Deno.test("start() without the permission flags names every flag it needs in one message", async () => {
  await using dir = await tempDir();
  const script = `${dir.path}/bare.ts`;
  await Deno.writeTextFile(
    script,
    `import { BaseManager } from "${MOD}";
await new BaseManager({ modules: [] }).start();
`,
  );
  const result = await run(script, []);
  assert.notEqual(result.code, 0);
  assert.match(
    result.stderr,
    /NotCapable: start\(\) needs permissions this process does not have: --allow-run \(to start the server process\), --allow-write \(for the private socket directory in \/tmp\), --allow-read \(for the private socket directory in \/tmp\), --allow-net \(to connect to the socket\)\. Run it with: deno run --allow-run --allow-write --allow-read --allow-net <your script>/,
  );
  // One flag missing: only that one is named.
  const partial = await run(script, ["--allow-run", "--allow-read", "--allow-write"]);
  assert.match(
    partial.stderr,
    /start\(\) needs permissions this process does not have: --allow-net \(to connect to the socket\)\. Run it with: deno run --allow-net <your script>/,
  );
});

/** A script that starts a manager, prints its server's pid, then ends as told. */
const OWNER = `import { BaseManager } from "${MOD}";
const manager = await new BaseManager({ modules: [] }).start();
console.log(manager.pid);
if (Deno.args[0] === "exit") Deno.exit(0);
await new Promise(() => setInterval(() => {}, 1000));
`;

Deno.test("the private socket directory is removed however the owner ends", async (t) => {
  await using dir = await tempDir();
  const script = `${dir.path}/owner.ts`;
  await Deno.writeTextFile(script, OWNER);
  for (const ending of ["SIGINT", "SIGTERM", "exit", "SIGKILL"] as const) {
    await t.step(ending, async () => {
      const tmp = await Deno.makeTempDir({ dir: dir.path, prefix: "tmp-" });
      const owner = new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "--no-lock", "-A", script, ending === "exit" ? "exit" : "wait"],
        env: { TMPDIR: tmp },
        stdin: "null",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = owner.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const first = await reader.read();
      const serverPid = Number(first.value?.trim());
      assert.ok(serverPid > 0, `the owner printed its server's pid: ${first.value}`);
      const entries = async (): Promise<string[]> =>
        (await Array.fromAsync(Deno.readDir(tmp))).map((e) => e.name);
      if (ending !== "exit") {
        assert.equal((await entries()).filter((n) => n.startsWith("mp-")).length, 1);
        owner.kill(ending);
      }
      await owner.status;
      await reader.cancel();
      assert.ok(await waitUntil(() => processGone(serverPid), 3000), "the server process ended");
      assert.ok(
        await waitUntil(async () => (await entries()).length === 0, 3000),
        `nothing left in TMPDIR: ${await entries()}`,
      );
    });
  }
});
