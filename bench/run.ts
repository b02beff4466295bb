/**
 * The side-by-side benchmark: each workload on this library and on
 * CPython's own managers, alternating several rounds in one run, plus the
 * floors: the fastest request/reply this machine can do over the same
 * socket (`c_floor.c`, compiled here when a C compiler exists; else the
 * raw Deno loop, and the report says so), a raw length-prefixed
 * request/reply between two Deno processes, and a bare `deno run`. Prints
 * a Markdown table of medians and ratios.
 *
 *     deno task bench                (rounds=3, 1000 ms per measurement)
 *     deno run -A bench/run.ts --rounds=5 --ms=2000
 */

const args = Object.fromEntries(
  Deno.args.filter((a) => a.startsWith("--")).map((a) => a.slice(2).split("=") as [string, string]),
);
const ROUNDS = Number(args.rounds ?? 3);
const MS = Number(args.ms ?? 1000);
const here = (file: string): string => new URL(file, import.meta.url).pathname;
const PYTHON_ENV = { PYENV_VERSION: Deno.env.get("BENCH_PYTHON") ?? "3.13.0" };

type Result = Record<string, number>;

/**
 * Whether `taskset` can pin a process (and the processes it starts) to
 * core 0: the one-core placement, where a round trip costs CPU rather than
 * a cross-core wakeup.
 */
async function canPin(): Promise<boolean> {
  try {
    return (await new Deno.Command("taskset", { args: ["-c", "0", "true"] }).output()).success;
  } catch {
    return false;
  }
}
const PINNABLE = await canPin();
/** The placements measured: free on every core, then (with taskset) all on core 0. */
const PLACEMENTS: boolean[] = PINNABLE ? [false, true] : [false];

async function run(
  command: string,
  commandArgs: string[],
  env: Record<string, string> = {},
  pinned = false,
): Promise<Result> {
  const [program, programArgs] = pinned
    ? ["taskset", ["-c", "0", command, ...commandArgs]]
    : [command, commandArgs];
  const output = await new Deno.Command(program, {
    args: programArgs,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim().split("\n").at(-1) ?? "";
  if (!output.success) {
    throw new Error(
      `${command} ${commandArgs.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  return JSON.parse(text);
}

const ours = (workload: string, transport: string, pinned = false): Promise<Result> =>
  run(
    Deno.execPath(),
    ["run", "-A", "--quiet", here("deno_side.ts"), workload, transport, String(MS)],
    {},
    pinned,
  );
const cpython = (workload: string, transport: string, pinned = false): Promise<Result> =>
  run("python3", [here("cpython_side.py"), workload, transport, String(MS)], PYTHON_ENV, pinned);
/** The raw Deno loop; with `clients` above 1, that many client processes on one echo process. */
const rawDeno = (transport: string, pinned = false, clients = 1): Promise<Result> =>
  run(
    Deno.execPath(),
    ["run", "-A", "--quiet", here("raw_floor.ts"), transport, String(MS), String(clients)],
    {},
    pinned,
  );

/**
 * The pickle path: CPython's own client code (`cpython_side.py`) against a
 * Deno server (`deno_side.ts serve`), to set beside the same client against
 * a CPython server.
 */
async function pythonOnOurs(workload: string, transport: string, pinned = false): Promise<Result> {
  const [program, programArgs] = pinned
    ? ["taskset", ["-c", "0", Deno.execPath()]]
    : [Deno.execPath(), []];
  const server = new Deno.Command(program, {
    args: [...programArgs, "run", "-A", "--quiet", here("deno_side.ts"), "serve", transport],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const lines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let first = "";
  while (!first.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) throw new Error("deno_side.ts serve ended before printing its address");
    first += value;
  }
  try {
    return await run(
      "python3",
      [here("cpython_side.py"), workload, transport, String(MS), first.trim()],
      PYTHON_ENV,
      pinned,
    );
  } finally {
    await server.stdin.close();
    await server.status;
    await lines.cancel();
  }
}

/** The C floor's binary, compiled for this run, or undefined without a C compiler. */
async function compileFloor(): Promise<string | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "bench-floor-" });
  const binary = `${dir}/c_floor`;
  for (const compiler of ["cc", "gcc", "clang"]) {
    try {
      const { success } = await new Deno.Command(compiler, {
        args: ["-O2", "-o", binary, here("c_floor.c")],
        stdout: "null",
        stderr: "null",
      }).output();
      if (success) return binary;
    } catch { /* not installed */ }
  }
  await Deno.remove(dir, { recursive: true });
  return undefined;
}
const cFloor = await compileFloor();
const FLOOR_NAME = cFloor === undefined
  ? "floor: raw request/reply Deno↔Deno (no C compiler here)"
  : "floor: C request/reply, blocking, preallocated (c_floor.c)";
const floor = (transport: string, pinned = false): Promise<Result> =>
  cFloor === undefined
    ? rawDeno(transport, pinned)
    : run(cFloor, [transport, String(MS)], {}, pinned);

const rate = (r: Result): number => r.ops! / r.seconds!;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number): string => n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1);

interface Row {
  workload: string;
  transport: string;
  pinned: boolean;
  target: string;
  ours: number[];
  theirs: number[];
  floor?: number[];
  raw?: number[];
  unit: string;
}

const WORKLOADS: [string, string, string][] = [
  ["sequential", "1: sequential trivial calls", "≥ 1.0× CPython, ≥ 0.8× floor"],
  ["inflight64", "2: 64 in flight (CPython: in a row)", "≥ 10×"],
  ["echo1k", "3: echo ~1 KiB object", ""],
  ["echo1m", "3: echo 1 MiB of bytes", "≥ 2×"],
  ["dict", "4: dict set+get", ""],
  ["create", "5: proxy create+release", "≥ 20×"],
  ["clients8", "6: 8 client processes, one counter (steady state)", "≥ 2×"],
];

const rows: Row[] = [];
for (const pinned of PLACEMENTS) {
  for (const transport of ["unix", "tcp"]) {
    for (const [workload, name, target] of WORKLOADS) {
      rows.push(
        {
          workload,
          transport,
          pinned,
          target,
          ours: [],
          theirs: [],
          unit: "ops/s",
          ...(workload === "sequential" ? { floor: [], raw: [] } : {}),
          ...(workload === "clients8" ? { raw: [] } : {}),
        } as Row & { name?: string },
      );
      (rows.at(-1) as Row & { name: string }).name = name;
    }
  }
}
/** The transport column: the socket type, and "one core" when pinned. */
const where = (row: { transport: string; pinned: boolean }): string =>
  row.pinned ? `${row.transport}, one core` : row.transport;
/** Workload 9, ours only: a chain of 3 dependent calls, pipelined against awaited one by one. */
const chainRows = PLACEMENTS.flatMap((pinned) =>
  ["unix", "tcp"].map((transport) => ({
    transport,
    pinned,
    pipelined: [] as number[],
    awaited: [] as number[],
  }))
);
/** Workload 10, the pickle path: a CPython client on our server against on CPython's. */
const PICKLE_WORKLOADS: [string, string][] = [
  ["sequential", "10: CPython client (pickle), sequential calls"],
  ["echo1k", "10: CPython client (pickle), echo ~1 KiB object"],
  ["create", "10: CPython client (pickle), proxy create+release"],
];
const pickleRows = PLACEMENTS.flatMap((pinned) =>
  ["unix", "tcp"].flatMap((transport) =>
    PICKLE_WORKLOADS.map(([workload, name]) => ({
      workload,
      name,
      transport,
      pinned,
      ours: [] as number[],
      theirs: [] as number[],
    }))
  )
);
/** Workload 11: streamed items against the same items by queue.get() one at a time (ours both). */
const streamRows = PLACEMENTS.map((pinned) => ({
  pinned,
  transport: "unix",
  stream: [] as number[],
  loop: [] as number[],
}));
const startRow = {
  ours: [] as number[],
  /** start() resolving, then the first create + call, then the server process alone. */
  resolved: [] as number[],
  firstCall: [] as number[],
  serverAlone: [] as number[],
  spawn: [] as number[],
  fork: [] as number[],
  bare: [] as number[],
};

const started = performance.now();
for (let round = 0; round < ROUNDS; round++) {
  for (const row of rows) {
    // Alternate who goes first, so drift on a noisy machine hits both sides.
    const pair = round % 2 === 0
      ? [
        () => ours(row.workload, row.transport, row.pinned),
        () => cpython(row.workload, row.transport, row.pinned),
      ]
      : [
        () => cpython(row.workload, row.transport, row.pinned),
        () => ours(row.workload, row.transport, row.pinned),
      ];
    const first = await pair[0]!();
    const second = await pair[1]!();
    const [mine, theirs] = round % 2 === 0 ? [first, second] : [second, first];
    row.ours.push(rate(mine));
    row.theirs.push(rate(theirs));
    if (row.floor) row.floor.push(rate(await floor(row.transport, row.pinned)));
    if (row.raw && (cFloor !== undefined || row.workload === "clients8")) {
      const clients = row.workload === "clients8" ? 8 : 1;
      row.raw.push(rate(await rawDeno(row.transport, row.pinned, clients)));
    }
  }
  for (const row of streamRows) {
    row.stream.push(rate(await ours("stream", row.transport, row.pinned)));
    row.loop.push(rate(await ours("queue-loop", row.transport, row.pinned)));
  }
  for (const row of pickleRows) {
    const mine = () => pythonOnOurs(row.workload, row.transport, row.pinned);
    const theirs = () => cpython(row.workload, row.transport, row.pinned);
    if (round % 2 === 0) {
      row.ours.push(rate(await mine()));
      row.theirs.push(rate(await theirs()));
    } else {
      row.theirs.push(rate(await theirs()));
      row.ours.push(rate(await mine()));
    }
  }
  for (const row of chainRows) {
    row.pipelined.push(rate(await ours("chain-pipelined", row.transport, row.pinned)));
    row.awaited.push(rate(await ours("chain-awaited", row.transport, row.pinned)));
  }
  const start = await ours("start", "unix");
  startRow.ours.push(start.ms!);
  startRow.resolved.push(start.startMs!);
  startRow.firstCall.push(start.firstCallMs!);
  // The server entry loading and exiting at once (its stdin is empty): process start plus modules.
  const alone = performance.now();
  await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", here("../src/main/server_main.ts")],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  startRow.serverAlone.push(performance.now() - alone);
  startRow.spawn.push((await cpython("start", "unix")).ms!);
  startRow.fork.push((await cpython("start-fork", "unix")).ms!);
  const bare = performance.now();
  for (let i = 0; i < 2; i++) {
    await new Deno.Command(Deno.execPath(), { args: ["run", "--quiet", here("empty.ts")] })
      .output();
  }
  startRow.bare.push((performance.now() - bare) / 2);
}
const memory = await ours("memory", "unix");
const cpythonMemory = await cpython("memory", "unix");

const lines = [
  `Rounds: ${ROUNDS}, ${MS} ms per measurement, CPython ${PYTHON_ENV.PYENV_VERSION}, ${Deno.build.target}, Deno ${Deno.version.deno}; took ${
    ((performance.now() - started) / 1000).toFixed(0)
  } s. ${
    PINNABLE
      ? 'Two placements: free on both cores, and "one core" (every process pinned to core 0 with taskset).'
      : "One placement: taskset is missing here, so nothing was pinned to one core."
  }`,
  "",
  "| workload | transport | ours (median) | CPython (median) | ours / CPython: median (min – max) | target |",
  "| --- | --- | ---: | ---: | ---: | --- |",
];
for (const row of rows as (Row & { name: string })[]) {
  const ratios = row.ours.map((x, i) => x / row.theirs[i]!);
  lines.push(
    `| ${row.name} | ${where(row)} | ${fmt(median(row.ours))} ${row.unit} | ${
      fmt(median(row.theirs))
    } ${row.unit} | ${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)} – ${
      Math.max(...ratios).toFixed(2)
    }) | ${row.target} |`,
  );
  if (row.floor) {
    const toFloor = row.ours.map((x, i) => x / row.floor![i]!);
    lines.push(
      `| 1: ${FLOOR_NAME} | ${where(row)} | ${
        fmt(median(row.floor))
      } ${row.unit} | | ours / floor: ${median(toFloor).toFixed(2)}× (${
        Math.min(...toFloor).toFixed(2)
      } – ${Math.max(...toFloor).toFixed(2)}) | |`,
    );
  }
  if (row.raw && row.raw.length > 0) {
    const toRaw = row.ours.map((x, i) => x / row.raw![i]!);
    lines.push(
      `| ${
        row.workload === "clients8"
          ? "6: 8 raw Deno client processes, one echo process (no manager code)"
          : "1: raw request/reply Deno↔Deno (no manager code)"
      } | ${where(row)} | ${fmt(median(row.raw))} ${row.unit} | | ours / raw Deno: ${
        median(toRaw).toFixed(2)
      }× (${Math.min(...toRaw).toFixed(2)} – ${Math.max(...toRaw).toFixed(2)}) | |`,
    );
  }
}
for (const row of streamRows) {
  const ratios = row.stream.map((x, i) => x / row.loop[i]!);
  lines.push(
    `| 11: items through a stream (CPython column: ours, queue.get() one at a time) | ${
      where(row)
    } | ${fmt(median(row.stream))} items/s | ${fmt(median(row.loop))} items/s | ${
      median(ratios).toFixed(2)
    }× (${Math.min(...ratios).toFixed(2)} – ${Math.max(...ratios).toFixed(2)}) | ≥ 10× |`,
  );
}
for (const row of pickleRows) {
  const ratios = row.ours.map((x, i) => x / row.theirs[i]!);
  lines.push(
    `| ${row.name} (CPython column: the same client on CPython's server) | ${where(row)} | ${
      fmt(median(row.ours))
    } ops/s | ${fmt(median(row.theirs))} ops/s | ${median(ratios).toFixed(2)}× (${
      Math.min(...ratios).toFixed(2)
    } – ${Math.max(...ratios).toFixed(2)}) | ≥ 1.0× |`,
  );
}
for (const row of chainRows) {
  const ratios = row.pipelined.map((x, i) => x / row.awaited[i]!);
  lines.push(
    `| 9: chain of 3 dependent calls, pipelined (CPython column: ours awaited one by one) | ${
      where(row)
    } | ${fmt(median(row.pipelined))} chains/s | ${fmt(median(row.awaited))} chains/s | ${
      median(ratios).toFixed(2)
    }× (${Math.min(...ratios).toFixed(2)} – ${Math.max(...ratios).toFixed(2)}) | ≥ 2.5× |`,
  );
}
const startRatio = startRow.ours.map((x, i) => x / startRow.spawn[i]!);
const bareRatio = startRow.ours.map((x, i) => x / startRow.bare[i]!);
lines.push(
  `| 7: start() until the first call returns | unix | ${fmt(median(startRow.ours))} ms | spawn ${
    fmt(median(startRow.spawn))
  } ms, fork ${fmt(median(startRow.fork))} ms | vs spawn ${median(startRatio).toFixed(2)}× (${
    Math.min(...startRatio).toFixed(2)
  } – ${Math.max(...startRatio).toFixed(2)}); vs bare \`deno run\` (${
    fmt(median(startRow.bare))
  } ms) ${median(bareRatio).toFixed(2)}× | ≤ 1.0× spawn, ≤ 2× bare run |`,
  `| 7: start() by phase | unix | start() resolves in ${
    fmt(median(startRow.resolved))
  } ms, then create + call ${fmt(median(startRow.firstCall))} ms | | the server process alone (${
    fmt(median(startRow.serverAlone))
  } ms: start, load its modules, exit) is ${
    (median(startRow.serverAlone) / median(startRow.bare)).toFixed(2)
  }× a bare run | |`,
  `| 8: server RSS growth per shared object (100,000 Values) | unix | ${
    fmt(memory.perObject!)
  } B | ${fmt(cpythonMemory.perObject!)} B (5,000 Values) | | |`,
  `| 8: server heap per shared object after GC, less the bare object (${
    fmt(memory.bareObject!)
  } B) | unix | ${
    fmt(memory.heapPerObject! - memory.bareObject!)
  } B | | | ≤ 300 B beyond the object |`,
  `| 8: idle server RSS (a bare Deno listener: ${
    fmt(memory.runtimeIdle! / 1048576)
  } MiB) | unix | ${fmt(memory.idle! / 1048576)} MiB | ${
    fmt(cpythonMemory.idle! / 1048576)
  } MiB | | ≤ 30 MiB |`,
  `| 8: server RSS per idle connection (100 connections) | unix | ${
    fmt(memory.perConnection! / 1024)
  } KiB | | | |`,
);
if (cFloor !== undefined) await Deno.remove(cFloor.replace(/\/c_floor$/, ""), { recursive: true });
console.log(lines.join("\n"));
