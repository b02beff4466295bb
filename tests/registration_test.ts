import assert from "node:assert/strict";
import { BaseManager, BaseProxy, type Factory, shared } from "../mod.ts";
import { type Counter, TestManager } from "./_fixtures/counter.ts";
import { COUNTER_MODULE, denoRun } from "./_helpers.ts";

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
  assert.ok(
    !Child.registrations().has("Later"),
    "a subclass with registrations of its own copied its parent's at its first (as CPython does)",
  );
  class Plain extends Parent {}
  assert.ok(Plain.registrations().has("Later"), "one without uses its parent's table as it is");
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

Deno.test("two different classes under one typeid on one manager class are refused, naming both", () => {
  class M extends BaseManager {}
  @shared({ manager: M })
  class Counter {
    up(): number {
      return 1;
    }
  }
  void Counter;
  assert.throws(
    () => {
      // A second Counter, as from another file.
      @shared({ manager: M })
      class Counter {
        down(): number {
          return -1;
        }
      }
      void Counter;
    },
    {
      name: "TypeError",
      message:
        `Cannot register class Counter as 'Counter' on M: another class Counter is already registered under that typeid; give one of them its own typeid, such as @shared({ typeid: "Counter2" }) or register("Counter2", Counter)`,
    },
  );
  assert.deepEqual(M.registrations().get("Counter")?.exposed, ["up"], "the first one is kept");
  class Other {}
  assert.throws(() => M.register("Counter", Other), /class Other as 'Counter' on M: class Counter/);
  // The same class again, or under a second typeid, is fine.
  M.register("Counter", Counter);
  M.register("Tally", Counter);
});

Deno.test("a SyncManager starts in a module that also declares a @shared() class", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mpt-" });
  try {
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      `import { shared, SyncManager } from "${new URL("../mod.ts", import.meta.url).href}";
@shared()
export class Scheduler {
  plan(): string { return "planned"; }
}
if (import.meta.main) {
  // The second imports nothing: it must not need to know Scheduler.
  for (const options of [{}, { modules: [] }]) {
    await using manager = await new SyncManager(options).start();
    const queue = await manager.Queue();
    await queue.put("job");
    console.log(await queue.get());
  }
}
`,
    );
    const run = await denoRun(["-A", `${dir}/main.ts`]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), "job\njob");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("@shared under experimentalDecorators says it needs standard decorators", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mpt-" });
  try {
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({ compilerOptions: { experimentalDecorators: true } }),
    );
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      `import { shared } from "${new URL("../mod.ts", import.meta.url).href}";
@shared()
export class Counter {
  up(): number { return 1; }
}
`,
    );
    const run = await denoRun(["-A", `${dir}/main.ts`]);
    assert.notEqual(run.code, 0);
    assert.match(
      run.stderr,
      /TypeError: @shared\(\) on Counter was called as a legacy decorator: @shared needs standard \(TC39\) decorators, so remove "experimentalDecorators": true from compilerOptions in deno.json/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a class registered on two manager classes is created under each one's own typeid", async () => {
  const { Counter } = await import("./_fixtures/counter.ts");
  class First extends BaseManager {}
  class Second extends BaseManager {}
  First.register("FirstCounter", Counter);
  Second.register("SecondCounter", Counter);
  // The lookup is per manager class: the last registration does not win for both.
  const seen: string[] = [];
  for (const Manager of [First, Second]) {
    const manager = new Manager();
    const created = manager.create(Counter).catch((error: Error) => error.message);
    seen.push(await created as string);
  }
  assert.match(seen[0]!, /Cannot create\('FirstCounter'\): the manager is not started/);
  assert.match(seen[1]!, /Cannot create\('SecondCounter'\): the manager is not started/);
});

Deno.test("@shared reads static _exposed_ and _methodToTypeid_ once the class is defined", () => {
  class M extends BaseManager {}
  @shared({ manager: M })
  class Account {
    static readonly _exposed_ = ["balance", "sub"] as const;
    static readonly _methodToTypeid_ = { sub: "Account" } as const;
    balance(): number {
      return 0;
    }
    sub(): Account {
      return new Account();
    }
    wipe(): void {}
  }
  void Account;
  const registration = M.registrations().get("Account");
  assert.deepEqual(registration?.exposed, ["balance", "sub"]);
  assert.deepEqual(registration?.methodToTypeid, { sub: "Account" });
});
