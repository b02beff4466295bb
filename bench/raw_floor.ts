/**
 * The floor: a raw length-prefixed request/reply between two Deno
 * processes over the same socket type, with no manager code at all.
 *
 *     deno run -A bench/raw_floor.ts <unix|tcp> <milliseconds>
 */
const [transport = "unix", durationText = "1000"] = Deno.args;

async function readExactly(conn: Deno.Conn, buffer: Uint8Array): Promise<boolean> {
  let filled = 0;
  while (filled < buffer.length) {
    const n = await conn.read(buffer.subarray(filled));
    if (n === null) return false;
    filled += n;
  }
  return true;
}

/** The echo side: reads a 4-byte length and a payload, writes them back. */
async function serve(address: string): Promise<void> {
  const listener = address.startsWith("/")
    ? Deno.listen({ transport: "unix", path: address })
    : Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(JSON.stringify(listener.addr));
  const conn = await listener.accept();
  if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
  const header = new Uint8Array(4);
  while (await readExactly(conn, header)) {
    const body = new Uint8Array(new DataView(header.buffer).getInt32(0));
    await readExactly(conn, body);
    const frame = new Uint8Array(4 + body.length);
    frame.set(header);
    frame.set(body, 4);
    await conn.write(frame);
  }
  listener.close();
}

async function main(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mp-floor-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      import.meta.filename!,
      "serve",
      transport === "tcp" ? "tcp" : `${dir}/floor.sock`,
    ],
    stdout: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let first = "";
  while (!first.includes("\n")) first += (await lines.read()).value ?? "";
  const addr = JSON.parse(first);
  const conn = transport === "tcp"
    ? await Deno.connect({ hostname: "127.0.0.1", port: addr.port })
    : await Deno.connect({ transport: "unix", path: addr.path });
  if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
  // About the size of a manager call: [id, object, "increment", []].
  const request = new Uint8Array([0, 0, 0, 16, ...new Uint8Array(16).fill(1)]);
  const reply = new Uint8Array(20);
  const duration = Number(durationText);
  const step = async (): Promise<void> => {
    await conn.write(request);
    await readExactly(conn, reply);
  };
  const warm = performance.now() + 200;
  while (performance.now() < warm) await step();
  let ops = 0;
  const started = performance.now();
  while (performance.now() - started < duration) {
    await step();
    ops++;
  }
  console.log(JSON.stringify({ ops, seconds: (performance.now() - started) / 1000 }));
  conn.close();
  await child.status;
  await lines.cancel().catch(() => {});
  await Deno.remove(dir, { recursive: true });
}

if (Deno.args[0] === "serve") await serve(Deno.args[1]!);
else await main();
