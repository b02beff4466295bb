/**
 * Stray errors in shared code never stop the server: a promise rejected
 * with nobody listening, or an exception thrown from a timer, is reported
 * on the server's stderr with the most recent call, and every client's
 * objects stay.
 */
import assert from "node:assert/strict";
import { denoRun, tempDir } from "./_helpers.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;

const SCRIPT = `import { BaseManager, shared } from "${MOD}";

@shared()
export class Sloppy {
  #n = 0;
  bump(): number {
    return ++this.#n;
  }
  leak(): string {
    Promise.reject(new Error("a stray rejection"));
    return "leaked";
  }
  throwLater(): string {
    setTimeout(() => {
      throw new RangeError("thrown from a timer");
    }, 0);
    return "scheduled";
  }
}

if (import.meta.main) {
  await using manager = await new BaseManager({ modules: [import.meta.url] }).start();
  const kept = await manager.create(Sloppy);
  await kept.bump();
  const sloppy = await manager.create(Sloppy);
  console.log(await sloppy.leak(), await sloppy.throwLater());
  await new Promise((resolve) => setTimeout(resolve, 200));
  console.log("after:", await kept.bump(), await manager.numberOfObjects());
}
`;

Deno.test("stray rejections and timer exceptions are reported and the server keeps serving", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/sloppy.ts`, SCRIPT);
  const { code, stdout, stderr } = await denoRun(["-A", `${dir.path}/sloppy.ts`]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /leaked scheduled\nafter: 2 2\n/);
  assert.match(
    stderr,
    /The manager's server process \(pid \d+\) kept serving after an unhandled promise rejection in shared code \(the most recent call was Sloppy\.leak\(\)\): Error: a stray rejection\n\s+at Sloppy\.leak/,
  );
  assert.match(
    stderr,
    /kept serving after an uncaught exception in shared code \(the most recent call was Sloppy\.throwLater\(\)\): RangeError: thrown from a timer/,
  );
});
