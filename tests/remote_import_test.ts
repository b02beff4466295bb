/**
 * The package imported by URL, with no import map: a loopback HTTP server
 * serves this checkout (the library has no bare specifiers), and a user
 * script in a temp dir imports `mod.ts` from it. The manager's server
 * process then runs from the remote `server_main.ts`, while the user's
 * class comes from a local file.
 */
import assert from "node:assert/strict";
import { tempDir } from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url);

Deno.test("a manager works when the package is imported by URL", async () => {
  const requests: string[] = [];
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const path = new URL(request.url).pathname;
      requests.push(path);
      if (!/^\/(mod\.ts|src\/([a-z]+\/)?[a-z_]+\.ts)$/.test(path)) {
        return new Response("", { status: 404 });
      }
      try {
        const source = await Deno.readTextFile(new URL(`.${path}`, ROOT));
        return new Response(source, {
          headers: { "content-type": "application/typescript" },
        });
      } catch {
        return new Response("", { status: 404 });
      }
    },
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  await using dir = await tempDir();
  const script = `${dir.path}/user.ts`;
  await Deno.writeTextFile(
    script,
    `
import { BaseManager, shared } from "${base}/mod.ts";

@shared()
export class Tally {
  #n = 0;
  add(k: number): number { return (this.#n += k); }
}

if (import.meta.main) {
  await using manager = await new BaseManager({ modules: [import.meta.url] }).start();
  const tally = await manager.create(Tally);
  await tally.add(40);
  console.log(JSON.stringify({ total: await tally.add(2), objects: await manager.numberOfObjects() }));
}
`,
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--no-lock", "-A", script],
    cwd: dir.path,
    // Its own module cache: a port an earlier run used must not be served from the cache.
    env: { DENO_DIR: `${dir.path}/deno_dir` },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(output.stdout)), { total: 42, objects: 1 });
  assert.ok(
    requests.includes("/src/main/server_main.ts"),
    `the server process loaded the remote entry (requests: ${requests.join(", ")})`,
  );
});
