/**
 * SyncManager types behave as CPython's do where the two used to differ.
 * The expected values come from the real CPython on this machine, run
 * beside the test, not from a table written by hand.
 */
import assert from "node:assert/strict";
import { SyncManager } from "../mod.ts";

/** Evaluates a Python expression and returns its JSON (or repr, with `repr: true`). */
async function python(expression: string, repr = false): Promise<unknown> {
  const output = await new Deno.Command("python3", {
    args: [
      "-c",
      `import json, sys; v = (${expression}); sys.stdout.write(${
        repr ? "repr(v)" : "json.dumps(v)"
      })`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const text = new TextDecoder().decode(output.stdout);
  return repr ? text : JSON.parse(text);
}

Deno.test("SyncManager matches CPython: Event, list.sort, list.index, list.remove, Namespace repr", async (t) => {
  await using manager = await new SyncManager({ modules: [] }).start();

  await t.step(
    "Event.wait() is true when set() woke it, even if clear() follows at once",
    async () => {
      await using event = await manager.Event();
      // One connection: the server parks the wait before it runs set() and clear().
      const waiting = event.wait({ timeout: 5000 });
      await Promise.all([event.set(), event.clear()]);
      assert.equal(await waiting, true);
      assert.equal(await event.isSet(), false);
      assert.equal(await event.wait({ timeout: 10 }), false, "a timeout is still false");
    },
  );

  await t.step("list.sort() orders strings by code point", async () => {
    const items = ["\uff5e", "\u{1F600}", "a", "\u00e9"];
    await using list = await manager.list(items);
    await list.sort();
    assert.deepEqual(await list.copy(), await python(`sorted(${JSON.stringify(items)})`));
    await list.sort({ reverse: true });
    assert.deepEqual(
      await list.copy(),
      await python(`sorted(${JSON.stringify(items)}, reverse=True)`),
    );
  });

  await t.step("list.sort({ reverse: true }) is stable, as Python's", async () => {
    await using list = await manager.list([1, true, 0, false]);
    await list.sort({ reverse: true });
    const expected = await python("sorted([1, True, 0, False], reverse=True)");
    assert.deepEqual(expected, [1, true, 0, false]);
    assert.deepEqual(await list.copy(), expected);
    await using pairs = await manager.list([[1, "a"], [0, "b"], [1, "c"]]);
    await pairs.sort({ reverse: true });
    assert.deepEqual(await pairs.copy(), [[1, "c"], [1, "a"], [0, "b"]]);
  });

  await t.step("list.index(x, start, end) counts negative bounds from the end", async () => {
    const items = [5, 6, 5, 7, 5, 8];
    await using list = await manager.list(items);
    for (const [start, end] of [[-2, undefined], [-4, -1], [1, -2], [-100, 3], [2, 100]] as const) {
      const bounds = [start, ...(end === undefined ? [] : [end])];
      assert.equal(
        await list.index(5, ...bounds),
        await python(`${JSON.stringify(items)}.index(5, ${bounds.join(", ")})`),
        `index(5, ${bounds})`,
      );
    }
    await assert.rejects(list.index(5, -1), { name: "RangeError", message: "5 is not in list" });
  });

  await t.step("list.remove of a missing item says list.remove(x): x not in list", async () => {
    await using list = await manager.list([1, 2]);
    await assert.rejects(list.remove(3), {
      name: "RangeError",
      message: "list.remove(x): x not in list",
    });
    assert.deepEqual(await list.copy(), [1, 2]);
  });

  await t.step("Namespace.repr() quotes as Python's repr", async () => {
    const values = { a: "it's", b: 'say "hi"', c: "both ' and \"", d: "tab\there\nnewline\\" };
    await using ns = await manager.Namespace(values);
    const expected = await python(
      `"Namespace(" + ", ".join(sorted(k + "=" + repr(v) for k, v in ${
        JSON.stringify(values)
      }.items())) + ")"`,
    );
    assert.equal(await ns.repr(), expected);
  });
});
