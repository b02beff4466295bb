import assert from "node:assert/strict";
import { Probe, TestManager } from "./_fixtures/counter.ts";
import { COUNTER_MODULE, tempDir } from "./_helpers.ts";

const modules = [COUNTER_MODULE];

Deno.test("the server process cannot read outside its grant until the path is granted", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/secret.txt`;
  await Deno.writeTextFile(file, "top secret");
  {
    await using manager = await new TestManager({ modules }).start();
    await using probe = await manager.create(Probe);
    await assert.rejects(probe.read(file), {
      name: "NotCapable",
      message: new RegExp(`Requires read access to "${file}"`),
    });
    await assert.rejects(probe.read("/etc/hostname"), Deno.errors.NotCapable);
  }
  {
    await using manager = await new TestManager({ modules, permissions: { read: [dir.path] } })
      .start();
    await using probe = await manager.create(Probe);
    assert.equal(await probe.read(file), "top secret");
    await assert.rejects(probe.read("/etc/hostname"), Deno.errors.NotCapable);
  }
});

Deno.test("the server process has no env, run or outbound net access by default", async () => {
  await using other = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (other.addr as Deno.NetAddr).port;
  {
    await using manager = await new TestManager({
      address: { hostname: "127.0.0.1", port: 0 },
      modules,
    }).start();
    await using probe = await manager.create(Probe);
    await assert.rejects(probe.env("HOME"), Deno.errors.NotCapable);
    await assert.rejects(probe.run(), Deno.errors.NotCapable);
    await assert.rejects(probe.connect(port), Deno.errors.NotCapable);
  }
  {
    await using manager = await new TestManager({
      modules,
      permissions: { env: ["HOME"], net: [`127.0.0.1:${port}`] },
    }).start();
    await using probe = await manager.create(Probe);
    assert.equal(await probe.env("HOME"), Deno.env.get("HOME"));
    const connecting = probe.connect(port);
    (await other.accept()).close();
    assert.equal(await connecting, "connected");
    await assert.rejects(probe.run(), Deno.errors.NotCapable);
  }
});
