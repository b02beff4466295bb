/**
 * Callbacks by reference (issue 11, part 3): `callback(fn)` sends `fn` as
 * a reference; the server gets an async function that calls it in the
 * client's process. Progress reports, fan-out to several clients, a
 * callback whose client was killed rejects (never hangs), and a stub the
 * server collects lets go of the client's function.
 */
import assert from "node:assert/strict";
import { callback, proxyToString } from "../mod.ts";
import { CancelManager, Events, Job } from "./_fixtures/cancellable.ts";
import { firstLine, within } from "./_helpers.ts";

const modules = [new URL("./_fixtures/cancellable.ts", import.meta.url).href];

Deno.test("a long method reports its progress through a callback", async () => {
  await using manager = await new CancelManager({ modules }).start();
  await using job = await manager.create(Job);
  const seen: number[] = [];
  const result = await job.run(
    5,
    callback(async (step: number) => {
      await new Promise((resolve) => setTimeout(resolve, 1)); // a slow callback blocks nobody
      seen.push(step);
    }),
  );
  assert.equal(result, "done");
  assert.deepStrictEqual(seen, [1, 2, 3, 4, 5]);
  // A stub disposed of lets go of the client's function: calling it again fails.
  assert.deepStrictEqual(await job.once(callback((n: number) => n * 10)), [10, "RemoteError"]);
  await assert.rejects(job.run(1, (() => {}) as unknown as (step: number) => Promise<unknown>), {
    name: "TypeError",
    message: /^Cannot send a function/,
  });
});

Deno.test("fan-out to another process; once it is killed its callback rejects, never hangs", async () => {
  const authkey = crypto.getRandomValues(new Uint8Array(32));
  await using manager = await new CancelManager({ modules, authkey }).start();
  await using events = await manager.create(Events);
  await events.subscribe(callback((event: string) => `here ${event}`));
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./_fixtures/subscriber.ts", import.meta.url).pathname,
      await proxyToString(events),
      Array.from(authkey, (b) => b.toString(16).padStart(2, "0")).join(""),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const { line, rest: lines } = await firstLine(child.stdout, "the subscriber's line");
  assert.equal(line, "subscribed");
  assert.deepStrictEqual(await events.publish("a"), ["ok here a", "ok seen a"]);
  child.kill("SIGKILL");
  await child.status;
  await lines.cancel();
  assert.deepStrictEqual(
    await within(events.publish("b"), 5000, "a publish after the subscriber died"),
    ["ok here b", "ConnectionClosedError"],
  );
});

Deno.test("a callback stub the server drops is collected, and the client's function is released", async () => {
  // The client runs with --expose-gc to see its function go (a WeakRef); the server always does.
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      "--v8-flags=--expose-gc",
      new URL("./_fixtures/callback_release.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const finished = child.output();
  const output = await within(finished, 30_000, "the callback client").catch(async (error) => {
    child.kill("SIGKILL");
    await finished;
    throw error;
  });
  assert.ok(output.success, `the callback client exited with ${output.code}`);
  const [released, published] = new TextDecoder().decode(output.stdout).trim().split("\n");
  const seen = JSON.parse(released!);
  assert.equal(seen.dropped, "released", `the dropped callback's function: ${released}`);
  assert.equal(seen.kept, "alive", "a stub the server keeps keeps the function");
  assert.deepStrictEqual(JSON.parse(published!), ["ok still here"]);
});
