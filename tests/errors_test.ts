import assert from "node:assert/strict";
import { RemoteError } from "../mod.ts";
import { Counter, TestManager, Thrower } from "./_fixtures/counter.ts";
import { COUNTER_MODULE } from "./_helpers.ts";

const modules = [COUNTER_MODULE];

Deno.test("a thrown built-in error keeps its class, message, cause and remote stack", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using counter = await manager.create(Counter);
  const error = await counter.fail("out of range").catch((e) => e);
  assert.ok(error instanceof RangeError);
  assert.equal(error.message, "out of range");
  assert.deepEqual(error.cause, { code: 42 });
  assert.match(String(error.stack), /at Counter\.fail \(.*_fixtures\/counter\.ts:\d+:\d+\)/);
});

Deno.test("other error classes arrive as Error with the same name and own properties", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using thrower = await manager.create(Thrower);
  const custom = await thrower.custom().catch((e) => e);
  assert.equal(Object.getPrototypeOf(custom), Error.prototype);
  assert.equal(custom.name, "ValidationError");
  assert.equal(custom.message, "bad email");
  assert.equal(custom.field, "email");
  const aggregate = await thrower.aggregate().catch((e) => e);
  assert.ok(aggregate instanceof AggregateError);
  assert.ok(aggregate.errors[0] instanceof TypeError);
  assert.ok(aggregate.errors[1] instanceof RangeError);
  await assert.rejects(thrower.rejectLater(), { name: "SyntaxError", message: "late failure" });
  await assert.rejects(thrower.value("a string"), (reason) => reason === "a string");
  await assert.rejects(
    thrower.value({ code: 7 }),
    (reason) => (reason as { code: number }).code === 7,
  );
  const pretend = await thrower.value({ name: "Function", message: "x" }).catch((e) => e);
  assert.deepEqual(pretend, { name: "Function", message: "x" }, "plain objects stay plain");
});

Deno.test("protocol failures are RemoteErrors that say what went wrong", async () => {
  await using manager = await new TestManager({ modules }).start();
  await assert.rejects(manager.create("Nope"), {
    name: "RemoteError",
    message: /^Unknown typeid 'Nope': it is not registered with the server's manager/,
  });
  const failed = await manager.create("Broken").catch((e) => e);
  assert.ok(failed instanceof RemoteError);
  assert.equal(failed.message, "Creating 'Broken' failed: RangeError: cannot build Broken");
  assert.ok(failed.cause instanceof RangeError);
  await assert.rejects(manager.create("Iterator"), {
    name: "RemoteError",
    message: /Typeid 'Iterator' has no callable on the server/,
  });
  await using thrower = await manager.create(Thrower);
  await assert.rejects(thrower.makeFunction(), {
    name: "RemoteError",
    message: "Cannot send the result of Thrower.makeFunction(): Cannot send a function at value",
  });
  assert.equal(await manager.numberOfObjects(), 1, "nothing leaked by the failures");
});

Deno.test("a value that cannot travel is a TypeError on the sending side naming where it was", async () => {
  await using manager = await new TestManager({ modules }).start();
  await using counter = await manager.create(Counter);
  await assert.rejects(counter.echo(() => 1), {
    name: "TypeError",
    message: /^Cannot send a function in args\[0\] of a call to 'echo'/,
  });
  await assert.rejects(counter.echo({ list: [1, { handler: Symbol("x") }] }), {
    name: "TypeError",
    message: /^Cannot send a symbol in args\[0\]\.list\[1\]\.handler of a call to 'echo'/,
  });
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  await assert.rejects(counter.echo(cyclic), { name: "TypeError", message: /cycle/ });
  await assert.rejects(counter.echo(Promise.resolve(1)), { message: /Cannot send a Promise/ });
  assert.equal(await counter.increment(), 1, "the connection still works");
});
