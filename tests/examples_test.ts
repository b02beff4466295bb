/** The examples run as a user would run them, and leave nothing behind. */
import assert from "node:assert/strict";

const example = (name: string): string => new URL(`../examples/${name}`, import.meta.url).pathname;

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: output.code,
    stdout: text.decode(output.stdout),
    stderr: text.decode(output.stderr),
  };
}

Deno.test("examples/quickstart.ts: four workers count to 1000 and nothing is left", async () => {
  const { code, stdout, stderr } = await run([
    "--allow-run",
    "--allow-read",
    "--allow-write",
    "--allow-net",
    example("quickstart.ts"),
  ]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /total: 1000 \(expected 1000\)/);
  assert.match(stdout, /objects left on the server: 0/);
  assert.equal(stdout.match(/worker \d done/g)?.length, 4);
});

Deno.test("examples/custom_proxy.ts prints the mean through its hand-written proxy", async () => {
  const { code, stdout, stderr } = await run(["-A", example("custom_proxy.ts")]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /<AccumulatorProxy object, typeid 'Accumulator' at 0x[0-9a-f]+>/);
  assert.match(stdout, /count 4, mean 7\.25/);
});

Deno.test("examples/remote_manager.ts: serve, get (waiting), put, stop", async () => {
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-net", example("remote_manager.ts"), "serve", "--port=0"],
    stdout: "piped",
  }).spawn();
  const lines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let banner = "";
  while (!banner.includes("\n")) banner += (await lines.read()).value ?? "";
  const port = banner.match(/serving on 127\.0\.0\.1:(\d+)/)?.[1];
  assert.ok(port, banner);
  const client = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    run(["--allow-net", example("remote_manager.ts"), ...args, `--port=${port}`]);
  const getting = client("get");
  await new Promise((resolve) => setTimeout(resolve, 300));
  const put = await client("put", "hello", "there");
  assert.equal(put.code, 0, put.stderr);
  const got = await getting;
  assert.equal(got.stdout.trim(), "hello there", got.stderr);
  const stop = await client("stop");
  assert.equal(stop.code, 0, stop.stderr);
  let rest = "";
  for (let r = await lines.read(); !r.done; r = await lines.read()) rest += r.value;
  assert.match(rest, /server stopped/);
  assert.ok((await server.status).success);
});

Deno.test("examples/work_queue.ts: four worker processes drain 40 jobs into a results dict", async () => {
  const { code, stdout, stderr } = await run([
    "--allow-run",
    "--allow-read",
    "--allow-write",
    "--allow-net",
    example("work_queue.ts"),
  ]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^40 jobs done; per worker: \d+, \d+, \d+, \d+$/m);
  const counts = stdout.match(/per worker: ([\d, ]+)/)![1]!.split(", ").map(Number);
  assert.equal(counts.reduce((a, b) => a + b, 0), 40);
  assert.match(stdout, /primes below 1,000,000: 78498/);
  assert.match(stdout, /objects left on the server: 0/);
});
