/**
 * Framing over a real loopback socket: frames that arrive together are
 * taken in one turn; anything unfinished or against the rules is left for
 * the asynchronous read, which waits for it or refuses it.
 */
import assert from "node:assert/strict";
import { frame, FrameError, FrameReader } from "../src/wire/framing.ts";

async function pair(): Promise<
  { reader: FrameReader; send(bytes: Uint8Array): Promise<void>; close(): void }
> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [client, server] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  listener.close();
  return {
    reader: new FrameReader(server),
    send: async (bytes) => {
      let offset = 0;
      while (offset < bytes.length) offset += await client.write(bytes.subarray(offset));
    },
    close: () => {
      client.close();
      server.close();
    },
  };
}

const join = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
};

Deno.test("frames that arrived together are taken without waiting, a partial one is not", async () => {
  const { reader, send, close } = await pair();
  try {
    const partial = frame(Uint8Array.of(7, 8, 9));
    await send(join(frame(Uint8Array.of(1)), frame(Uint8Array.of(2, 3)), partial.subarray(0, 5)));
    assert.deepEqual(await reader.read(1024), Uint8Array.of(1));
    assert.deepEqual(reader.takeBuffered(1024), Uint8Array.of(2, 3));
    assert.equal(reader.takeBuffered(1024), undefined, "the third frame is not all here");
    await send(partial.subarray(5));
    assert.deepEqual(await reader.read(1024), Uint8Array.of(7, 8, 9));
    assert.equal(reader.takeBuffered(1024), undefined);
  } finally {
    close();
  }
});

Deno.test("a buffered frame over the limit is left for read() to refuse", async () => {
  const { reader, send, close } = await pair();
  try {
    await send(join(frame(Uint8Array.of(1)), frame(new Uint8Array(100))));
    assert.deepEqual(await reader.read(64), Uint8Array.of(1));
    assert.equal(reader.takeBuffered(64), undefined);
    await assert.rejects(
      reader.read(64),
      (error: Error) =>
        error instanceof FrameError && /100 bytes exceeds the limit of 64/.test(error.message),
    );
  } finally {
    close();
  }
});
