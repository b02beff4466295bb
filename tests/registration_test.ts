import assert from "node:assert/strict";
import { BaseManager, BaseProxy, type Factory, shared } from "../mod.ts";
import { type Counter, TestManager } from "./_fixtures/counter.ts";
import { COUNTER_MODULE } from "./_helpers.ts";

Deno.test("registrations are inherited by subclasses and never leak upward", () => {
  class Parent extends BaseManager {}
  class Child extends Parent {}
  Parent.register("Shared", () => ({}));
  Child.register("ChildOnly", () => ({}));
  assert.ok(Child.registrations().has("Shared"), "a subclass sees its parent's");
  assert.ok(Child.registrations().has("ChildOnly"));
  assert.ok(!Parent.registrations().has("ChildOnly"), "the parent is unchanged");
  assert.ok(!BaseManager.registrations().has("Shared"));
  Parent.register("Later", () => ({}));
  assert.ok(Child.registrations().has("Later"), "later parent registrations show through");
  assert.equal(
    typeof (Child.prototype as unknown as Record<string, unknown>).ChildOnly,
    "function",
  );
  assert.equal((Parent.prototype as unknown as Record<string, unknown>).ChildOnly, undefined);
});

Deno.test("register() checks its arguments with clear errors", () => {
  class M extends BaseManager {}
  assert.throws(() => M.register(""), { name: "TypeError", message: /non-empty string/ });
  assert.throws(() => M.register("X", 42 as never), /must be a function/);
  assert.throws(() => M.register("X", () => ({}), { exposed: ["toString"] }), {
    name: "TypeError",
    message: /exposed of 'X' lists "toString", which can never be called through a proxy/,
  });
  assert.throws(() => M.register("X", () => ({}), { exposed: ["then"] }), TypeError);
  assert.throws(() => M.register("X", () => ({}), { exposed: ["__proto__"] }), TypeError);
  assert.throws(() => M.register("X", () => ({}), { proxytype: Object as never }), /BaseProxy/);
  assert.throws(() => M.register("start", () => ({})), {
    name: "TypeError",
    message: /would hide M.prototype.start; register it with \{ createMethod: false \}/,
  });
  M.register("start", () => ({}), { createMethod: false });
  assert.equal(M.prototype.start, BaseManager.prototype.start);
});

Deno.test("@shared registers under the class name, or the name given", () => {
  class DecoManager extends BaseManager {}
  @shared({ manager: DecoManager })
  class Widget {
    spin(): number {
      return 1;
    }
    _internal(): void {}
  }
  @shared({ typeid: "Gadget", manager: DecoManager })
  class NamedThing {
    use(): void {}
  }
  assert.deepEqual(DecoManager.registrations().get("Widget")?.exposed, ["spin"]);
  assert.ok(DecoManager.registrations().has("Gadget"));
  assert.ok(Widget && NamedThing);
  // The short form registers on BaseManager itself.
  @shared("ShortFormProbe")
  class Probe {
    go(): void {}
  }
  assert.ok(Probe);
  assert.deepEqual(BaseManager.registrations().get("ShortFormProbe")?.exposed, ["go"]);
  // Leave BaseManager as other tests expect it: no server-side callable.
  BaseManager.register("ShortFormProbe", undefined, { createMethod: false });
});

Deno.test("a create method named after the typeid makes objects: manager.Counter(5)", async () => {
  class WithFactory extends TestManager {
    declare Counter: Factory<typeof Counter>;
  }
  await using manager = await new WithFactory({ modules: [COUNTER_MODULE] }).start();
  const counter = await manager.Counter(5);
  assert.ok(counter instanceof BaseProxy);
  assert.equal(await counter.increment(), 6);
  const byName = await manager.create("Counter", 1);
  assert.equal(await byName._callmethod("get"), 1);
});
