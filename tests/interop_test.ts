/**
 * Wire compatibility with a real CPython: its multiprocessing.connection
 * Client authenticates against our server, and our client authenticates
 * against its Listener. CPython 3.12+ speaks the HMAC-SHA256 handshake;
 * 3.11's HMAC-MD5 one is refused on both sides.
 */
import assert from "node:assert/strict";
import { Codec, type CodecPeer } from "../src/wire/codec.ts";
import { Session } from "../src/client/session.ts";
import { Reply } from "../src/wire/protocol.ts";
import { TestManager } from "./_fixtures/counter.ts";
import { COUNTER_MODULE, firstLine, tempDir } from "./_helpers.ts";
import { pythonTest } from "./_python.ts";

const PEER = new URL("./_fixtures/cpython_peer.py", import.meta.url).pathname;
const KEY = new TextEncoder().encode("interop secret key");
const hex = (bytes: Uint8Array): string =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const fromHex = (text: string): Uint8Array =>
  Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));

const noTokens: CodecPeer = {
  encodeToken: () => {
    throw new TypeError("no tokens here");
  },
  decodeToken: () => {
    throw new TypeError("no tokens here");
  },
};
const codec = new Codec(noTokens);
const payload = (value: unknown): Uint8Array => codec.encode(value).subarray(4);

function python(version: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command("python3", {
    args: [PEER, ...args],
    env: { PYENV_VERSION: version },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

async function output(child: Deno.ChildProcess): Promise<string[]> {
  const { stdout } = await child.output();
  return new TextDecoder().decode(stdout).trim().split("\n");
}

async function tcpManager(): Promise<TestManager> {
  return await new TestManager({
    address: { hostname: "127.0.0.1", port: 0 },
    authkey: KEY,
    modules: [COUNTER_MODULE],
  }).start();
}

await pythonTest(
  ["3.13.0"],
  "CPython 3.13's Client authenticates against our server and exchanges frames",
  async () => {
    await using manager = await tcpManager();
    const { port } = manager.address as { port: number };
    const request = payload([7, 0, "numberOfObjects", []]);
    const [line] = await output(
      python("3.13.0", ["client", "127.0.0.1", String(port), hex(KEY), hex(request)]),
    );
    assert.deepEqual(codec.decode(fromHex(line!)), [7, Reply.Return, 0]);
  },
);

await pythonTest(["3.12.1"], "CPython 3.12's Client authenticates too", async () => {
  await using manager = await tcpManager();
  const { port } = manager.address as { port: number };
  const [line] = await output(
    python("3.12.1", [
      "client",
      "127.0.0.1",
      String(port),
      hex(KEY),
      hex(payload([1, 0, "ping", []])),
    ]),
  );
  assert.deepEqual(codec.decode(fromHex(line!)), [1, Reply.Return, null]);
});

await pythonTest(
  ["3.13.0"],
  "a CPython client with the wrong key is refused and gets nothing but #FAILURE#",
  async () => {
    await using manager = await tcpManager();
    const { port } = manager.address as { port: number };
    const wrong = hex(new TextEncoder().encode("wrong"));
    const [line] = await output(
      python("3.13.0", [
        "client",
        "127.0.0.1",
        String(port),
        wrong,
        hex(payload([1, 0, "ping", []])),
      ]),
    );
    assert.equal(line, "AuthenticationError: digest sent was rejected");
    // What an unauthenticated peer receives, byte for byte: one #FAILURE# frame.
    const [raw] = await output(python("3.13.0", ["raw", "127.0.0.1", String(port)]));
    assert.equal(raw, "00000009" + hex(new TextEncoder().encode("#FAILURE#")));
    assert.equal(await manager.numberOfObjects(), 0, "the server still serves");
  },
);

await pythonTest(["3.11.7"], "CPython 3.11's legacy HMAC-MD5 client is refused", async () => {
  await using manager = await tcpManager();
  const { port } = manager.address as { port: number };
  const [line] = await output(
    python("3.11.7", [
      "client",
      "127.0.0.1",
      String(port),
      hex(KEY),
      hex(payload([1, 0, "ping", []])),
    ]),
  );
  assert.equal(line, "AuthenticationError: digest sent was rejected");
});

await pythonTest(
  ["3.11.7"],
  "a server that refuses CPython 3.11's HMAC-MD5 client says why on its stderr, once a minute",
  async () => {
    await using dir = await tempDir();
    const script = `${dir.path}/serve.ts`;
    await Deno.writeTextFile(
      script,
      `import { BaseManager } from "${new URL("../mod.ts", import.meta.url).href}";
const server = new BaseManager({
  address: { hostname: "127.0.0.1", port: 0 },
  authkey: new TextEncoder().encode("interop secret key"),
}).getServer();
console.log((server.address as { port: number }).port);
await server.serveForever();
`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--allow-net=127.0.0.1", "--allow-read", script],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const { line: port, rest } = await firstLine(child.stdout, "the server's port");
    const stderr = new Response(child.stderr).text();
    try {
      for (let i = 0; i < 2; i++) {
        const [line] = await output(
          python("3.11.7", [
            "client",
            "127.0.0.1",
            port,
            hex(KEY),
            hex(payload([1, 0, "ping", []])),
          ]),
        );
        assert.equal(line, "AuthenticationError: digest sent was rejected");
      }
    } finally {
      child.kill("SIGKILL");
      await child.status;
      await rest.cancel();
    }
    const hints = (await stderr).match(/legacyAuth: true/g) ?? [];
    assert.equal(hints.length, 1, await stderr);
    assert.match(
      await stderr,
      /refused a client that answered its challenge with HMAC-MD5, the handshake of CPython 3\.11 and older: to accept such clients, start the manager with legacyAuth: true \(serve: --legacy-auth\)/,
    );
  },
);

await pythonTest(
  ["3.13.0"],
  "our client authenticates against CPython 3.13's Listener",
  async () => {
    const reply = payload([1, Reply.Return, "hello from CPython"]);
    const child = python("3.13.0", ["listener", hex(KEY), hex(reply)]);
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) text += (await lines.read()).value ?? "";
    const port = Number(text.trim());
    const session = await Session.open({ address: { hostname: "127.0.0.1", port }, authkey: KEY });
    assert.equal(await session.control("ping"), "hello from CPython");
    await session.close();
    while (!(await lines.read()).done) { /* drain */ }
    assert.ok((await child.status).success);
  },
);

await pythonTest(
  ["3.11.7"],
  "our client refuses CPython 3.11's legacy challenge unless legacyAuth",
  async () => {
    const child = python("3.11.7", ["listener", hex(KEY), "00"]);
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) text += (await lines.read()).value ?? "";
    const port = Number(text.trim());
    await assert.rejects(
      Session.open({ address: { hostname: "127.0.0.1", port }, authkey: KEY }),
      {
        name: "AuthenticationError",
        message: /HMAC-MD5 handshake of CPython 3\.11 or older: pass legacyAuth: true/,
      },
    );
    while (!(await lines.read()).done) { /* drain */ }
    await child.status;
  },
);
