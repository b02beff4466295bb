/**
 * Python's keyword arguments bound to JavaScript parameters by name (what a
 * CPython client's `c.add(by=2)` becomes on our server), for the shapes of
 * parameter lists people write.
 */
import assert from "node:assert/strict";
import { bindKeywords } from "../src/python/keywords.ts";

class Svc {
  constructor(readonly start = 0, readonly step = 1) {}
  add(n = 1, by = 1): number {
    return n * by;
  }
  options(n: number, { scale = 1 }: { scale?: number } = {}): number {
    return n * scale;
  }
  all(...values: unknown[]): unknown[] {
    return values;
  }
  // deno-fmt-ignore
  commented(a = 1, /* the second ) one, */ e = 5, // last
  ): number {
    return a + e;
  }
}
class Sub extends Svc {}

Deno.test("keywords bind to parameters by name, as Python binds them", () => {
  const proto = Svc.prototype;
  assert.deepEqual(bindKeywords(Svc, [], { start: 7 }, "Svc()"), [7]);
  assert.deepEqual(bindKeywords(Svc, [], { step: 3 }, "Svc()"), [undefined, 3]);
  assert.deepEqual(bindKeywords(Sub, [2], { step: 3 }, "Sub()"), [2, 3]);
  assert.deepEqual(bindKeywords(proto.add, [], { by: 2 }, "add()"), [undefined, 2]);
  assert.deepEqual(bindKeywords(proto.options, [4], { scale: 2 }, "options()"), [4, { scale: 2 }]);
  assert.deepEqual(bindKeywords(proto.all, [1], { flag: true }, "all()"), [1, { flag: true }]);
  assert.deepEqual(bindKeywords(proto.commented, [], { e: 9 }, "commented()"), [undefined, 9]);
  assert.deepEqual(bindKeywords((x: number) => x, [], { x: 1 }, "f()"), [1]);
  assert.deepEqual(bindKeywords(Math.max, [1], { x: 2 }, "max()"), [1, { x: 2 }], "native: unread");
});

Deno.test("a keyword that fits no parameter, or repeats a positional one, is Python's TypeError", () => {
  assert.throws(() => bindKeywords(Svc.prototype.add, [], { zz: 1 }, "Svc.add()"), {
    name: "TypeError",
    message: "Svc.add() got an unexpected keyword argument 'zz'",
  });
  assert.throws(() => bindKeywords(Svc.prototype.add, [1], { n: 2 }, "Svc.add()"), {
    name: "TypeError",
    message: "Svc.add() got multiple values for argument 'n'",
  });
  assert.throws(() => bindKeywords(Svc.prototype.commented, [], { d: 1 }, "commented()"), {
    message: "commented() got an unexpected keyword argument 'd'",
  });
});
