/**
 * TLS for TCP managers, with a certificate made for the test by openssl.
 * The server's key reaches its process on stdin, never as a file.
 */
import assert from "node:assert/strict";
import { SyncManager } from "../mod.ts";
import { makeCertificate, tempDir } from "./_helpers.ts";

Deno.test("a TCP manager over TLS serves clients that trust its certificate", async () => {
  await using dir = await tempDir();
  const { cert, key } = await makeCertificate(dir.path);
  await Deno.remove(`${dir.path}/key.pem`); // the server never needs the file
  await using manager = await new SyncManager({
    address: { hostname: "127.0.0.1", port: 0 },
    tls: { cert, key, caCerts: [cert] },
    modules: [],
  }).start();
  await using queue = await manager.Queue<string>();
  await queue.put("over tls");
  {
    await using client = await new SyncManager({
      address: manager.address,
      tls: { caCerts: [cert] },
    }).connect();
    await using same = await client.Queue<string>();
    await same.put("second");
    assert.equal(await same.get(), "second");
  }
  assert.equal(await queue.get(), "over tls");

  // Verification is on by default: without the certificate the client refuses the server.
  const untrusting = new SyncManager({ address: manager.address, tls: {} });
  await assert.rejects(untrusting.connect(), /invalid peer certificate|UnknownIssuer/);
  // A client speaking plain TCP to a TLS server gets nowhere, and the server carries on.
  await assert.rejects(
    new SyncManager({ address: manager.address, handshakeTimeout: 1000 }).connect(),
    // The TLS server waits for a ClientHello that never comes: the client's deadline says so.
    { name: "ConnectionClosedError", message: /within 1000 ms .*TLS on at one side only/ },
  );
  assert.equal(await manager.numberOfObjects(), 1);
});

Deno.test("tls options are checked at construction", () => {
  assert.throws(() => new SyncManager({ tls: { caCerts: [] } }), /needs a TCP address/);
  assert.throws(
    () => new SyncManager({ address: { hostname: "127.0.0.1", port: 0 }, tls: { cert: "x" } }),
    /go together/,
  );
});

Deno.test("a TLS server refuses to start with a key that is not its certificate's", async () => {
  await using dir = await tempDir();
  await Deno.mkdir(`${dir.path}/other`);
  const { cert } = await makeCertificate(dir.path);
  const { key } = await makeCertificate(`${dir.path}/other`);
  for (
    const [tls, message] of [
      [{ cert, key }, /The tls option's key does not belong to its cert/],
      [{ cert, key: "not a key" }, /The tls option's key is not a PEM private key/],
      [{ cert: "not a certificate", key }, /The tls option's cert is not a PEM certificate/],
    ] as const
  ) {
    await assert.rejects(
      new SyncManager({ address: { hostname: "127.0.0.1", port: 0 }, tls, modules: [] }).start(),
      message,
    );
  }
});
