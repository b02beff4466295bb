/**
 * CPython clients of our server (issue 10, Deno hosts and Python calls): a
 * CPython `BaseManager.connect()` reaches a manager started here, over
 * Unix and TCP sockets, with CPython 3.12 and 3.13, while Deno clients use
 * the same server at the same time.
 */
import assert from "node:assert/strict";
import { TestManager } from "./_fixtures/counter.ts";
import { TreeManager } from "./_fixtures/tree.ts";
import { COUNTER_MODULE, within } from "./_helpers.ts";
import { pythonTest } from "./_python.ts";

const CLIENT = new URL("./_fixtures/python_client.py", import.meta.url).pathname;
const TREE_MODULE = new URL("./_fixtures/tree.ts", import.meta.url).href;
const AUTHKEY = "interop-secret";

/** Runs the Python client's `scenario` against `address` in CPython `version`; returns what it saw. */
async function pythonClient(
  version: string,
  address: unknown,
  scenario: string,
): Promise<Record<string, unknown>> {
  const output = await within(
    new Deno.Command("python3", {
      args: [CLIENT, JSON.stringify(address), AUTHKEY, scenario],
      env: { PYENV_VERSION: version },
      stdout: "piped",
      stderr: "piped",
    }).output(),
    20_000,
    `the CPython ${version} client (${scenario})`,
  );
  const text = new TextDecoder().decode(output.stdout).trim();
  assert.ok(output.success, `${text}\n${new TextDecoder().decode(output.stderr)}`);
  return JSON.parse(text.split("\n").at(-1)!);
}

for (const version of ["3.13.0", "3.12.1"]) {
  for (const transport of ["unix", "tcp"] as const) {
    await pythonTest(
      [version],
      `CPython ${version} creates and calls a @shared class over ${transport}, beside a Deno client`,
      async () => {
        await using manager = await new TestManager({
          modules: [COUNTER_MODULE],
          authkey: new TextEncoder().encode(AUTHKEY),
          ...(transport === "tcp" ? { address: { hostname: "127.0.0.1", port: 0 } } : {}),
        }).start();
        const { Counter } = await import("./_fixtures/counter.ts");
        await using ours = await manager.create(Counter, 100);
        const seen = await pythonClient(version, manager.address, "counter");
        assert.equal(seen.created, 1);
        assert.deepStrictEqual(seen.increment, [6, 16, 16]);
        assert.deepStrictEqual(
          seen.keywords,
          [1, "two", { flag: true, n: null }],
          "keyword arguments arrive as a trailing options object",
        );
        assert.equal(
          seen.echo,
          "{'a': [1, 2.5, None, b'x', [1, 2]], 'n': 1180591620717411303424, 's': {3}}",
        );
        assert.deepStrictEqual(
          seen.error,
          ["ValueError", "it broke"],
          "a RangeError is a ValueError",
        );
        assert.equal((seen.not_exposed as string[])[0], "RemoteError");
        assert.match(
          (seen.not_exposed as string[])[1]!,
          /AttributeError: Method '_secret' of 'Counter' is not exposed/,
        );
        assert.match(
          (seen.missing_method as string[])[1]!,
          /Method 'nothing' of 'Counter' is not exposed/,
        );
        assert.equal((seen.unknown_type as string[])[0], "RemoteError");
        assert.match((seen.unknown_type as string[])[1]!, /Nope/);
        assert.match(seen.str as string, /Counter object/);
        assert.equal(seen.second, 0);
        assert.equal(seen.released, 0, "every reference CPython held was released");
        assert.equal(await ours.increment(), 101, "the Deno client's object is untouched");
        assert.equal(await manager.numberOfObjects(), 1);
      },
    );
  }
}

await pythonTest(
  ["3.13.0"],
  "a methodToTypeid result reaches CPython as a working proxy (#PROXY)",
  async () => {
    await using manager = await new TreeManager({
      modules: [TREE_MODULE],
      authkey: new TextEncoder().encode(AUTHKEY),
    }).start();
    const seen = await pythonClient("3.13.0", manager.address, "tree");
    assert.deepStrictEqual(seen.child, ["AutoProxy[Node]", "top/a", 1]);
    assert.equal(seen.grandchild, "top/a/b");
    assert.deepStrictEqual(seen.missing, ["ValueError", "top has no child 'missing'"]);
    assert.equal(seen.released, 0);
    assert.equal(await manager.numberOfObjects(), 0);
  },
);
