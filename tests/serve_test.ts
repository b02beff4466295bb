/**
 * The `serve` entry (`jsr:@multiprocess/managers/serve`): a manager server
 * for Python programs with no TypeScript written, run with only the
 * permissions it needs. CPython's own clients use it as they would use
 * CPython's server: the Python docs' remote-queue client unchanged but
 * for its address, and SyncManager's standard types.
 */
import assert from "node:assert/strict";
import { BaseManager } from "../mod.ts";
import { firstLine, within } from "./_helpers.ts";
import { pythonTest, runPython } from "./_python.ts";

const SERVE = new URL("../src/main/serve.ts", import.meta.url).pathname;
const KEY = "abracadabra";

/** `deno run <flags> serve.ts <args>` with MP_AUTHKEY set (unless `env` says otherwise). */
function serve(
  flags: string[],
  args: string[],
  env: Record<string, string> = { MP_AUTHKEY: KEY },
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...flags, SERVE, ...args],
    env: { NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

const NARROW = ["--allow-net=127.0.0.1", "--allow-env=MP_AUTHKEY"];

/** The Python docs' remote-manager client, with our address. */
const docsClient = (port: string, body: string): string => `
from multiprocessing.managers import BaseManager
class QueueManager(BaseManager): pass
QueueManager.register('get_queue')
m = QueueManager(address=('127.0.0.1', ${port}), authkey=b'${KEY}')
m.connect()
queue = m.get_queue()
${body}
`;

await pythonTest(
  ["3.13.0"],
  "serve with narrow flags: the Python docs' queue client, SyncManager's types, a Deno client, SIGTERM",
  async () => {
    const child = serve(NARROW, [
      "--address=127.0.0.1:0",
      "--queue=get_queue",
      "--dict=get_dict",
      "--lock=get_lock",
      "--event=get_event",
    ]);
    const stderr = new Response(child.stderr).text();
    const { line, rest } = await firstLine(child.stdout, "serve's banner");
    try {
      const port = line.match(
        /^serving on 127\.0\.0\.1:(\d+); shared: get_queue \(queue\), get_dict \(dict\), get_lock \(lock\), get_event \(event\)$/,
      )
        ?.[1];
      assert.ok(port, line);
      // One Python process puts, another gets: the same queue.
      await runPython("3.13.0", docsClient(port, "queue.put('hello')"));
      const got = await runPython("3.13.0", docsClient(port, "print(repr(queue.get(timeout=5)))"));
      assert.equal(new TextDecoder().decode(got).trim(), "'hello'");
      // CPython's SyncManager: the standard types, and a named dict.
      const standard = await runPython(
        "3.13.0",
        `
from multiprocessing.managers import SyncManager, AcquirerProxy, EventProxy
SyncManager.register('get_dict')
SyncManager.register('get_lock', proxytype=AcquirerProxy)
SyncManager.register('get_event', proxytype=EventProxy)
m = SyncManager(address=('127.0.0.1', ${port}), authkey=b'${KEY}')
m.connect()
d = m.get_dict()
d['answer'] = 42
lock = m.Lock()
with m.get_lock():
    pass
m.get_event().set()
print(lock.acquire(), m.list([1, 2]).__len__(), m.Event().is_set(), d['answer'], m.get_event().is_set())
`,
      );
      assert.equal(new TextDecoder().decode(standard).trim(), "True 2 False 42 True");
      // A Deno client sees the same objects.
      await using deno = await new BaseManager({
        address: { hostname: "127.0.0.1", port: Number(port) },
        authkey: new TextEncoder().encode(KEY),
      }).connect();
      await using dict = await deno.create("get_dict");
      assert.equal(await dict._callmethod("get", ["answer"]), 42);
    } finally {
      child.kill("SIGTERM");
    }
    const status = await within(child.status, 10_000, "serve to end after SIGTERM");
    await rest.cancel();
    assert.equal(status.code, 0, await stderr);
  },
);

Deno.test("serve refuses to start without an authkey, or with one on the command line", async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [["--address=127.0.0.1:0"], {}, /No authkey: set the environment variable MP_AUTHKEY/],
    [
      ["--address=127.0.0.1:0", "--authkey=secret"],
      { MP_AUTHKEY: KEY },
      /not taken from the command line/,
    ],
    [["--queue=q"], { MP_AUTHKEY: KEY }, /--address is required/],
    [["--address=localhost"], { MP_AUTHKEY: KEY }, /neither HOST:PORT, :PORT nor a socket path/],
    [["--address=:1", "--queue=q", "--dict=q"], { MP_AUTHKEY: KEY }, /The name q is shared twice/],
    [["--address=:1", "--pool=p"], { MP_AUTHKEY: KEY }, /Unknown option --pool/],
    [["--address=:1", "--address=:2"], { MP_AUTHKEY: KEY }, /--address is given twice/],
  ];
  for (const [args, env, message] of cases) {
    const child = serve(NARROW, args, env);
    const output = await within(child.output(), 10_000, `serve ${args.join(" ")}`);
    const text = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 2, text);
    assert.match(text, message);
    assert.match(text, /Usage: deno run/);
  }
});

Deno.test("serve reads the authkey from a file and serves on a Unix socket", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/key`, `${KEY}\n`);
    const path = `${dir}/manager.sock`;
    const child = serve(
      [`--allow-read=${dir}`, `--allow-write=${dir}`, `--allow-net=unix:${path}`],
      [`--address=${path}`, `--authkey-file=${dir}/key`, "--list=get_list"],
      {},
    );
    const { line, rest } = await firstLine(child.stdout, "serve's banner");
    try {
      assert.equal(line, `serving on ${JSON.stringify(path)}; shared: get_list (list)`);
      await using client = await new BaseManager({
        address: path,
        authkey: new TextEncoder().encode(KEY),
      }).connect();
      await using list = await client.create("get_list");
      await list._callmethod("append", ["x"]);
      assert.deepEqual(await list._callmethod("slice"), ["x"]);
    } finally {
      child.kill("SIGINT");
    }
    const status = await within(child.status, 10_000, "serve to end after SIGINT");
    await rest.cancel();
    assert.equal(status.code, 0);
    await child.stderr.cancel();
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound, "the socket file is removed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve says why it cannot listen, without a stack trace", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const child = serve(NARROW, [`--address=127.0.0.1:${taken.addr.port}`]);
    const output = await within(child.output(), 10_000, "serve on a taken port");
    const text = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 1, text);
    assert.match(text, /^serve could not start: .*(in use|AddrInUse)/i);
    assert.doesNotMatch(text, /^\s+at /m);
  } finally {
    taken.close();
  }
});

await pythonTest(
  ["3.13.0"],
  "serve --module serves a module's @shared() classes to Python, keywords bound by name",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const module = `${dir}/svc.ts`;
      await Deno.writeTextFile(
        module,
        `import { shared } from "${new URL("../mod.ts", import.meta.url).href}";
@shared()
export class Svc {
  constructor(readonly start = 0, readonly step = 1) {}
  next(): number {
    return this.start + this.step;
  }
}
`,
      );
      const child = serve(
        [...NARROW, `--allow-read=${dir},${new URL("../", import.meta.url).pathname}`],
        ["--address=127.0.0.1:0", `--module=${module}`],
      );
      const { line, rest } = await firstLine(child.stdout, "serve's banner");
      try {
        const port = line.match(/:(\d+)$/)?.[1];
        assert.ok(port, line);
        const got = await runPython(
          "3.13.0",
          `
from multiprocessing.managers import BaseManager
class M(BaseManager): pass
M.register('Svc')
m = M(address=('127.0.0.1', ${port}), authkey=b'${KEY}')
m.connect()
print(m.Svc(step=5).next())
`,
        );
        assert.equal(new TextDecoder().decode(got).trim(), "5");
      } finally {
        child.kill("SIGTERM");
        await within(child.status, 10_000, "serve to end");
        await rest.cancel();
        await child.stderr.cancel();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
