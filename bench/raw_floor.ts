/**
 * The floor: a raw length-prefixed request/reply between two Deno
 * processes over the same socket type, with no manager code at all.
 *
 *     deno run -A bench/raw_floor.ts <unix|tcp> <milliseconds> [clients]
 *
 * With `clients` above 1, that many client processes run the loop against
 * one echo process at once (workload 6's floor), each warmed up before the
 * clock starts; the result is the sum of their rates.
 */
const [transport = "unix", durationText = "1000", clientsText = "1"] = Deno.args;
/** Calls each client makes before the clock starts, as workload 6's workers do. */
const WARMUP_CALLS = 3000;
const clients = Number(clientsText);
const duration = Number(Deno.args[0] === "client" ? Deno.args[2] : durationText);

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
async function serve(address: string, clients: number): Promise<void> {
  const listener = address.startsWith("/")
    ? Deno.listen({ transport: "unix", path: address })
    : Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(JSON.stringify(listener.addr));
  const echoes = [];
  for (let i = 0; i < clients; i++) echoes.push(echo(await listener.accept()));
  listener.close();
  await Promise.all(echoes);
}

async function echo(conn: Deno.Conn): Promise<void> {
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
  conn.close();
}

/** One client of many: connects, warms up, says so, waits for a line, then runs the clock. */
async function client(address: string): Promise<void> {
  const conn = await connect(JSON.parse(address));
  const step = stepper(conn);
  for (let i = 0; i < WARMUP_CALLS; i++) await step();
  console.log("ready");
  await Deno.stdin.read(new Uint8Array(1));
  console.log(JSON.stringify(await timedLoop(step)));
  conn.close();
}

async function connect(addr: { path?: string; port?: number }): Promise<Deno.Conn> {
  const conn = addr.path === undefined
    ? await Deno.connect({ hostname: "127.0.0.1", port: addr.port! })
    : await Deno.connect({ transport: "unix", path: addr.path });
  if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
  return conn;
}

/** One request/reply, about the size of a manager call: [id, object, "increment", []]. */
function stepper(conn: Deno.Conn): () => Promise<void> {
  const request = new Uint8Array([0, 0, 0, 16, ...new Uint8Array(16).fill(1)]);
  const reply = new Uint8Array(20);
  return async (): Promise<void> => {
    await conn.write(request);
    await readExactly(conn, reply);
  };
}

async function timedLoop(step: () => Promise<void>): Promise<{ ops: number; seconds: number }> {
  let ops = 0;
  const started = performance.now();
  while (performance.now() - started < duration) {
    await step();
    ops++;
  }
  return { ops, seconds: (performance.now() - started) / 1000 };
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
      String(clients),
    ],
    stdout: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let first = "";
  while (!first.includes("\n")) first += (await lines.read()).value ?? "";
  const addr = JSON.parse(first);
  if (clients === 1) {
    const conn = await connect(addr);
    const step = stepper(conn);
    const warm = performance.now() + 200;
    while (performance.now() < warm) await step();
    console.log(JSON.stringify(await timedLoop(step)));
    conn.close();
  } else {
    console.log(JSON.stringify(await many(first.trim())));
  }
  await child.status;
  await lines.cancel().catch(() => {});
  await Deno.remove(dir, { recursive: true });
}

/** Starts the client processes, waits until all are warm, starts their clocks together. */
async function many(address: string): Promise<{ ops: number; seconds: number }> {
  const children = Array.from({ length: clients }, () =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", import.meta.filename!, "client", address, String(duration)],
      stdin: "piped",
      stdout: "piped",
    }).spawn());
  const outputs = children.map((child) =>
    child.stdout.pipeThrough(new TextDecoderStream()).getReader()
  );
  const nextLine = async (reader: ReadableStreamDefaultReader<string>): Promise<string> => {
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("a raw client ended early");
      text += value;
    }
    return text.trim();
  };
  await Promise.all(outputs.map(nextLine));
  const writers = children.map((child) => child.stdin.getWriter());
  await Promise.all(writers.map((w) => w.write(new Uint8Array([10]))));
  const results = await Promise.all(outputs.map(nextLine));
  await Promise.all(writers.map((w) => w.close()));
  await Promise.all(outputs.map((r) => r.cancel()));
  await Promise.all(children.map((child) => child.status));
  const rate = results.map((r) => JSON.parse(r)).reduce(
    (sum, r: { ops: number; seconds: number }) => sum + r.ops / r.seconds,
    0,
  );
  return { ops: rate, seconds: 1 };
}

if (Deno.args[0] === "serve") await serve(Deno.args[1]!, Number(Deno.args[2] ?? 1));
else if (Deno.args[0] === "client") await client(Deno.args[1]!);
else await main();
