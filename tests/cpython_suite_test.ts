/**
 * CPython's own manager tests against our server: the manager-mode
 * classes of `Lib/test/_test_multiprocessing.py` (`_TestContainers`,
 * `_TestQueue`, `_TestLock`, `_TestEvent`, and more), run by the real
 * CPython with its own `SyncManager` proxies connected to our `SyncManager`
 * server, forking child processes that use them too.
 */
import assert from "node:assert/strict";
import { SyncManager } from "../mod.ts";
import { within } from "./_helpers.ts";
import { pythonTest } from "./_python.ts";

const RUNNER = new URL("./_fixtures/cpython_suite.py", import.meta.url).pathname;
const AUTHKEY = "cpython-suite";
const CLASSES = [
  "_TestContainers",
  "_TestQueue",
  "_TestLock",
  "_TestEvent",
  "_TestSemaphore",
  "_TestCondition",
  "_TestBarrier",
];

interface Summary {
  run: number;
  failures: [string, string][];
  errors: [string, string][];
  skipped: [string, string][];
  leaks: Record<string, number>;
}

for (const version of ["3.13.0", "3.12.1"]) {
  await pythonTest(
    [version],
    `CPython ${version}'s own manager tests pass against our SyncManager server`,
    async () => {
      await using manager = await new SyncManager({
        authkey: new TextEncoder().encode(AUTHKEY),
        modules: [],
      }).start();
      const output = await within(
        new Deno.Command("python3", {
          args: [RUNNER, JSON.stringify(manager.address), AUTHKEY, ...CLASSES],
          env: { PYENV_VERSION: version },
          stdout: "piped",
          stderr: "piped",
        }).output(),
        120_000,
        `CPython ${version}'s manager tests`,
      );
      const stdout = new TextDecoder().decode(output.stdout).trim();
      const stderr = new TextDecoder().decode(output.stderr);
      assert.ok(stdout !== "", stderr);
      const summary: Summary = JSON.parse(stdout.split("\n").at(-1)!);
      // One test cannot pass by design: a Barrier's `action` is Python code (an instance of the
      // test's own class), and a Deno server runs no Python code: it refuses it, naming it.
      const refused = summary.errors.filter(([name, text]) =>
        name.startsWith("test_action ") &&
        /the global test\._test_multiprocessing\.AppendTrue, which is not allowed/.test(text)
      );
      const problems = [...summary.failures, ...summary.errors.filter((e) => !refused.includes(e))];
      assert.deepStrictEqual(
        problems,
        [],
        problems.map(([name, text]) => `${name}\n${text}`).join("\n"),
      );
      assert.equal(refused.length, 1, "the Barrier action is refused with its name");
      assert.ok(summary.run >= 40, `ran ${summary.run} tests`);
      // Only CPython's own "not appropriate for manager" skips.
      for (const [name, reason] of summary.skipped) {
        assert.match(reason, /not appropriate for manager/, name);
      }
      // The one object left is test_list_proxy_in_list's list that contains a proxy of itself: a
      // reference cycle through the server, which CPython keeps alive too (in id_to_local_proxy_obj,
      // where its count does not show it). Every other object was released.
      assert.deepStrictEqual(Object.values(summary.leaks), CLASSES.map(() => 1));
    },
  );
}
