/**
 * The server process resolves modules as its owner does: the config file
 * named by `--config` or by the `config` option, the owner's `--unstable-*`
 * flags, and `denoFlags`. Each case runs a user script in a temp dir as its
 * own `deno run`, importing this package by file URL.
 */
import assert from "node:assert/strict";
import { BaseManager } from "../mod.ts";
import { refuseStandalone } from "../src/server/spawn.ts";
import { type DenoRun, denoRun, tempDir } from "./_helpers.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;

async function runScript(
  dir: string,
  flags: string[],
  script: string,
  args: string[] = [],
): Promise<DenoRun> {
  const run = await denoRun(["-A", ...flags, script, ...args], { cwd: dir });
  return { ...run, stdout: run.stdout.trim() };
}

/** A module whose shared class imports the bare specifier "greeting". */
const LIB = `import { shared } from "${MOD}";
import { word } from "greeting";

@shared()
export class Greeter {
  greet(name: string): string {
    return word + ", " + name;
  }
}
`;

Deno.test("--config on the owner's command line reaches the server process", async () => {
  await using dir = await tempDir();
  await Deno.mkdir(`${dir.path}/conf`);
  await Deno.writeTextFile(
    `${dir.path}/conf/custom.json`,
    JSON.stringify({ imports: { greeting: "../greeting.ts" } }),
  );
  await Deno.writeTextFile(`${dir.path}/greeting.ts`, `export const word = "hello";\n`);
  await Deno.writeTextFile(`${dir.path}/lib.ts`, LIB);
  await Deno.writeTextFile(
    `${dir.path}/main.ts`,
    `import { BaseManager } from "${MOD}";
import { Greeter } from "./lib.ts";
await using manager = await new BaseManager({ modules: [new URL("./lib.ts", import.meta.url)] }).start();
const greeter = await manager.create(Greeter);
console.log(await greeter.greet("world"));
`,
  );
  const run = await runScript(dir.path, ["--config", "conf/custom.json"], "main.ts");
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, "hello, world");
});

Deno.test("the config option chooses the server process's config file", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(
    `${dir.path}/server.json`,
    JSON.stringify({ imports: { greeting: "./greeting.ts" } }),
  );
  await Deno.writeTextFile(`${dir.path}/greeting.ts`, `export const word = "hi";\n`);
  await Deno.writeTextFile(`${dir.path}/lib.ts`, LIB);
  // The owner never imports lib.ts, so it needs no import map itself.
  await Deno.writeTextFile(
    `${dir.path}/main.ts`,
    `import { BaseManager } from "${MOD}";
BaseManager.register("Greeter");
await using manager = await new BaseManager({
  modules: [new URL("./lib.ts", import.meta.url)],
  config: "./server.json",
}).start();
const greeter = await manager.create("Greeter");
console.log(await greeter._callmethod("greet", ["you"]));
`,
  );
  const run = await runScript(dir.path, ["--no-config"], "main.ts");
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, "hi, you");
});

const KV = `import { BaseManager, shared } from "${MOD}";

@shared()
export class Store {
  async roundTrip(value: string): Promise<string | null> {
    using kv = await Deno.openKv(":memory:");
    await kv.set(["k"], value);
    return (await kv.get<string>(["k"])).value;
  }
}

if (import.meta.main) {
  await using manager = await new BaseManager({
    modules: [import.meta.url],
    denoFlags: Deno.args.includes("--option") ? ["--unstable-kv"] : [],
  }).start();
  const store = await manager.create(Store);
  console.log(await store.roundTrip("kept"));
}
`;

Deno.test("--unstable-* flags reach the server process, from the command line or denoFlags", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/kv.ts`, KV);
  const forwarded = await runScript(dir.path, ["--unstable-kv"], "kv.ts");
  assert.equal(forwarded.code, 0, forwarded.stderr);
  assert.equal(forwarded.stdout, "kept");
  const option = await runScript(dir.path, [], "kv.ts", ["--option"]);
  assert.equal(option.code, 0, option.stderr);
  assert.equal(option.stdout, "kept");
});

Deno.test("denoFlags refuses permission flags and non-flags", () => {
  assert.throws(
    () => new BaseManager({ denoFlags: ["--allow-env"] }),
    {
      name: "TypeError",
      message:
        'denoFlags lists "--allow-env": grant the server process permissions with the manager\'s permissions option, such as { permissions: { env: ["HOME"] } }',
    },
  );
  assert.throws(
    () => new BaseManager({ denoFlags: ["unstable-kv"] }),
    /each entry must be one flag/,
  );
  assert.throws(
    () => new BaseManager({ config: 42 as unknown as string }),
    /The config option must be a path or URL of a deno.json file, or false for none/,
  );
});

Deno.test("start() in a program built with deno compile says what to do instead", () => {
  // `deno compile` needs the denort download, which this machine cannot
  // reach; the check is the one start() runs on Deno.build.standalone.
  assert.throws(() => refuseStandalone("a server process", true), {
    message:
      "start() cannot launch a server process from a program built with `deno compile`, which has no deno to run it with: run the manager's server with `deno run` (getServer().serveForever()) and connect() to it from the compiled program, or call getServer() in this process",
  });
  assert.throws(() => refuseStandalone("a worker process", true), {
    message:
      /start\(\) cannot launch a worker process .*: start the worker with `deno run` yourself/,
  });
  refuseStandalone("a server process", false);
});
