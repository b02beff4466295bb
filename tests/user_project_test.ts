/**
 * The package in someone else's project, as a new user gets it: a
 * throw-away project in a temp directory runs `deno add
 * jsr:@multiprocess/managers` against a loopback registry that serves this
 * checkout as jsr.io serves a published version, so its import map names
 * the package by its bare name and its lockfile pins it. Its shared class
 * imports an npm package through the same import map. The README
 * quickstart then runs from the project directory and from its parent,
 * with a frozen lockfile, and after `deno cache` with no network at all.
 */
import assert from "node:assert/strict";
import { serveAsJsr } from "./_jsr_registry.ts";
import { CHECKS, denoRunner, EXAMPLES } from "./_examples.ts";
import { tempDir } from "./_helpers.ts";

const README = new URL("../README.md", import.meta.url);
const ROOT = new URL("../", import.meta.url);

/** The README, then the guides it links to: every Markdown file in docs/, by name. */
async function documents(): Promise<string[]> {
  const docs: string[] = [];
  for await (const entry of Deno.readDir(new URL("docs/", ROOT))) {
    if (entry.isFile && entry.name.endsWith(".md")) docs.push(`docs/${entry.name}`);
  }
  return ["README.md", ...docs.sort()];
}

/** Every TypeScript block of a document, in order. */
async function snippetsOf(document: string): Promise<string[]> {
  const text = await Deno.readTextFile(new URL(document, ROOT));
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

/** The first TypeScript block under "## Quickstart" in the README. */
async function readmeQuickstart(): Promise<string> {
  const readme = await Deno.readTextFile(README);
  const section = readme.slice(readme.indexOf("## Quickstart"));
  const match = section.match(/```ts\n([\s\S]*?)```/);
  assert.ok(match, "the README has a Quickstart with a ts block");
  return match[1]!;
}

const EXAMPLES_DIR = new URL("../examples/", import.meta.url);

/** A shared class that imports an npm package through the project's import map. */
const PARITY = `import { BaseManager, shared } from "@multiprocess/managers";
import isNumber from "is-number";

@shared()
export class Checker {
  #seen = 0;
  check(value: unknown): boolean {
    this.#seen++;
    return isNumber(value);
  }
  seen(): number {
    return this.#seen;
  }
}

if (import.meta.main) {
  await using manager = await new BaseManager({ modules: [import.meta.url] }).start();
  const checker = await manager.create(Checker);
  const results = [await checker.check(5), await checker.check("7"), await checker.check("x")];
  console.log(JSON.stringify({ results, seen: await checker.seen() }));
}
`;

const PERMISSIONS = ["--allow-run", "--allow-read", "--allow-write", "--allow-net"];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function deno(
  args: string[],
  options: { cwd: string; env: Record<string, string>; offline?: boolean },
): Promise<Run> {
  const [program, programArgs] = options.offline
    ? ["unshare", ["-rn", Deno.execPath(), ...args]]
    : [Deno.execPath(), args];
  return new Deno.Command(program, {
    args: programArgs,
    cwd: options.cwd,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output().then((output) => ({
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  }));
}

function assertRan(run: Run, what: string): void {
  assert.equal(run.code, 0, `${what} failed:\n${run.stderr}${run.stdout}`);
}

async function unshareWorks(): Promise<boolean> {
  try {
    const output = await new Deno.Command("unshare", {
      args: ["-rn", "true"],
      stdout: "null",
      stderr: "null",
    }).output();
    return output.success;
  } catch {
    return false;
  }
}

Deno.test("a project that installed the package from JSR runs the README quickstart", async (t) => {
  await using registry = await serveAsJsr();
  await using root = await tempDir();
  const app = `${root.path}/app`;
  await Deno.mkdir(app);
  const env = { JSR_URL: registry.url, DENO_DIR: `${root.path}/deno_dir` };
  await Deno.writeTextFile(`${app}/deno.json`, "{}\n");
  assertRan(
    await deno(["add", `jsr:${registry.name}`, "npm:is-number@^7.0.0"], { cwd: app, env }),
    "deno add",
  );
  const config = JSON.parse(await Deno.readTextFile(`${app}/deno.json`));
  assert.equal(config.imports[registry.name], `jsr:${registry.name}@^${registry.version}`);
  await Deno.writeTextFile(`${app}/quickstart.ts`, await readmeQuickstart());
  await Deno.writeTextFile(`${app}/parity.ts`, PARITY);
  const parity = { results: [true, true, false], seen: 3 };

  await t.step("from the project directory", async () => {
    const run = await deno(["run", ...PERMISSIONS, "quickstart.ts"], { cwd: app, env });
    assertRan(run, "the quickstart");
    assert.equal(run.stdout.trim(), "4");
    const npm = await deno(["run", ...PERMISSIONS, "parity.ts"], { cwd: app, env });
    assertRan(npm, "the npm-importing class");
    assert.deepEqual(JSON.parse(npm.stdout), parity);
  });

  await t.step("every snippet of the README and of docs/", async () => {
    for (const document of await documents()) {
      const snippets = await snippetsOf(document);
      if (document === "README.md") {
        assert.ok(snippets.length >= 5, `the README has its snippets (${snippets.length})`);
      }
      for (const [i, snippet] of snippets.entries()) {
        const file = `${document.replace(/\W/g, "_")}_${i}.ts`;
        await Deno.writeTextFile(`${app}/${file}`, snippet);
        const run = await deno(["run", ...PERMISSIONS, file], { cwd: app, env });
        assertRan(run, `${document} snippet ${i}:\n${snippet}\n`);
      }
    }
  });

  await t.step("every example, copied into the project", async () => {
    await Deno.mkdir(`${app}/examples`);
    for (const example of EXAMPLES) {
      const source = await Deno.readTextFile(new URL(example, EXAMPLES_DIR));
      const rewritten = source
        .replaceAll(`from "../mod.ts"`, `from "${registry.name}"`)
        .replaceAll(`from "../../mod.ts"`, `from "${registry.name}"`)
        .replaceAll(`from "../../src/sync/standard.ts"`, `from "${registry.name}/standard"`)
        .replaceAll(`from "../src/sync/standard.ts"`, `from "${registry.name}/standard"`);
      assert.notEqual(rewritten, source, `${example} imports the package`);
      const target = `${app}/examples/${example}`;
      await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
      await Deno.writeTextFile(target, rewritten);
      // The Python side of an example, beside it.
      const dir = new URL(example.slice(0, example.lastIndexOf("/") + 1), EXAMPLES_DIR);
      for await (const entry of Deno.readDir(dir)) {
        if (entry.name.endsWith(".py")) {
          await Deno.copyFile(new URL(entry.name, dir), target.replace(/[^/]+$/, entry.name));
        }
      }
    }
    const runner = denoRunner(`${app}/examples`, { cwd: app, env });
    for (const example of EXAMPLES) await CHECKS[example](runner);
  });

  await t.step("from the project's parent directory", async () => {
    const run = await deno(["run", ...PERMISSIONS, "app/quickstart.ts"], {
      cwd: root.path,
      env,
    });
    assertRan(run, "the quickstart run from the parent");
    assert.equal(run.stdout.trim(), "4");
  });

  await t.step("with a frozen lockfile", async () => {
    const lockfile = await Deno.readTextFile(`${app}/deno.lock`);
    assert.match(lockfile, /"jsr"/);
    for (const script of ["quickstart.ts", "parity.ts"]) {
      const run = await deno(["run", "--frozen", ...PERMISSIONS, script], { cwd: app, env });
      assertRan(run, `${script} with --frozen`);
    }
    assert.equal(
      await Deno.readTextFile(`${app}/deno.lock`),
      lockfile,
      "the lockfile is unchanged",
    );
  });

  await t.step('with "nodeModulesDir": "auto"', async () => {
    const original = await Deno.readTextFile(`${app}/deno.json`);
    const lockfile = await Deno.readTextFile(`${app}/deno.lock`);
    try {
      await Deno.writeTextFile(
        `${app}/deno.json`,
        JSON.stringify({ ...JSON.parse(original), nodeModulesDir: "auto" }),
      );
      const run = await deno(["run", ...PERMISSIONS, "parity.ts"], { cwd: app, env });
      assertRan(run, "the npm-importing class with a node_modules directory");
      assert.deepEqual(JSON.parse(run.stdout), parity);
      const installed = await Deno.stat(`${app}/node_modules/is-number`).catch(() => undefined);
      assert.ok(installed?.isDirectory, "the package was installed into node_modules");
    } finally {
      await Deno.writeTextFile(`${app}/deno.json`, original);
      await Deno.writeTextFile(`${app}/deno.lock`, lockfile);
      await Deno.remove(`${app}/node_modules`, { recursive: true }).catch(() => {});
    }
  });

  await t.step("offline after deno cache, or deno install --entrypoint", async () => {
    // Each preparation fills an empty cache of its own.
    const cached = { ...env, DENO_DIR: `${root.path}/deno_dir_cache` };
    const installed = { ...env, DENO_DIR: `${root.path}/deno_dir_install` };
    assertRan(await deno(["cache", "quickstart.ts"], { cwd: app, env: cached }), "deno cache");
    assertRan(
      await deno(["install", "--entrypoint", "parity.ts"], { cwd: app, env: installed }),
      "deno install --entrypoint",
    );
    await registry.close();
    const offline = await unshareWorks();
    if (!offline) {
      console.log("unshare -rn is unavailable: the offline runs only have the registry stopped");
    }
    const flags = offline ? [] : ["--cached-only"];
    const run = await deno(["run", ...flags, ...PERMISSIONS, "quickstart.ts"], {
      cwd: app,
      env: cached,
      offline,
    });
    assertRan(run, "the quickstart offline");
    assert.equal(run.stdout.trim(), "4");
    const npm = await deno(["run", ...flags, ...PERMISSIONS, "parity.ts"], {
      cwd: app,
      env: installed,
      offline,
    });
    assertRan(npm, "the npm-importing class offline");
    assert.deepEqual(JSON.parse(npm.stdout), parity);
  });
});
