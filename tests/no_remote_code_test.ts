/**
 * Least privilege means no remote code either: the server process may
 * import only from the hosts its user modules' graph names, so a runtime
 * `import()` from Deno's default hosts (jsr.io, esm.sh, deno.land, ...) is
 * refused with a permission error, not attempted over the network.
 */
import assert from "node:assert/strict";
import { Probe, TestManager } from "./_fixtures/counter.ts";
import { COUNTER_MODULE } from "./_helpers.ts";

Deno.test("the server process cannot import() from Deno's default hosts", async () => {
  await using manager = await new TestManager({ modules: [COUNTER_MODULE] }).start();
  await using probe = await manager.create(Probe);
  for (const url of ["https://esm.sh/left-pad", "https://jsr.io/@std/path/1.0.0/mod.ts"]) {
    // Deno reports a refused import() as a TypeError.
    await assert.rejects(probe.importUrl(url), {
      name: "TypeError",
      message:
        /Requires import access to "(esm\.sh|jsr\.io):443" in the manager's server process, .*\{ permissions: \{ import: \["(esm\.sh|jsr\.io):443"\] \} \}$/,
    });
  }
  assert.equal(await manager.numberOfObjects(), 1, "the server keeps serving");
});

Deno.test("import access granted with the permissions option reaches the server process", async () => {
  await using manager = await new TestManager({
    modules: [COUNTER_MODULE],
    permissions: { import: ["esm.sh:443"] },
  }).start();
  await using probe = await manager.create(Probe);
  // Granted: the import is attempted (and fails only because this machine has no internet).
  const error = await probe.importUrl("https://esm.sh/left-pad").then(() => null, (e) => e);
  assert.ok(error instanceof Error && !/Requires import access/.test(error.message), String(error));
  await assert.rejects(
    probe.importUrl("https://jsr.io/@std/path/1.0.0/mod.ts"),
    /Requires import access to "jsr\.io:443"/,
  );
});
