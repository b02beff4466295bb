/**
 * The mutual HMAC-SHA256 challenge/response of CPython 3.12+
 * `multiprocessing.connection`. The server challenges first, then answers
 * the client's challenge; nothing else is read until both halves pass.
 *
 * ```
 * S→C  #CHALLENGE# {sha256} <40 random bytes>
 * C→S  {sha256} HMAC-SHA256(key, "{sha256}" + random)
 * S→C  #WELCOME#  |  #FAILURE#
 * (and the same again with the roles swapped)
 * ```
 *
 * CPython's older HMAC-MD5 form (3.11 and before) is refused.
 *
 * @module
 */

import { equalBytes, startsWith } from "../_bytes.ts";
import { AuthenticationError, ConnectionClosedError } from "../errors.ts";
import { type FrameReader, writeFrame } from "./framing.ts";

const encoder = new TextEncoder();
const CHALLENGE = encoder.encode("#CHALLENGE#");
const WELCOME = encoder.encode("#WELCOME#");
const FAILURE = encoder.encode("#FAILURE#");
const DIGEST_PREFIX = encoder.encode("{sha256}");
const NONCE_LENGTH = 40;
const MAC_LENGTH = 32;
/** CPython reads handshake messages with `recv_bytes(256)`. */
const HANDSHAKE_MAX_FRAME = 256;

/** An authkey prepared for HMAC-SHA256. */
export type AuthKey = CryptoKey;

/** Imports raw authkey bytes once, for every handshake that follows. */
export function importAuthkey(authkey: Uint8Array): Promise<AuthKey> {
  // WebCrypto refuses zero-length HMAC keys; HMAC pads keys with zeros, so
  // one zero byte gives the same MACs as CPython's empty key.
  const raw = authkey.length === 0 ? new Uint8Array(1) : authkey;
  return crypto.subtle.importKey(
    "raw",
    raw as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

/**
 * A connection as the handshake needs it: the socket to write frames to,
 * and the reader its frames come from (a `Connection` is one).
 */
export interface FramedSocket {
  readonly socket: Deno.Conn;
  readonly reader: FrameReader;
}

/** Server side: challenge, then answer. */
export async function serverHandshake(
  connection: FramedSocket,
  key: AuthKey,
  admit?: () => boolean,
): Promise<void> {
  await deliverChallenge(connection, key, admit);
  await answerChallenge(connection, key);
}

/** Client side: answer, then challenge. */
export async function clientHandshake(connection: FramedSocket, key: AuthKey): Promise<void> {
  await answerChallenge(connection, key);
  await deliverChallenge(connection, key);
}

/**
 * Sends a challenge and checks the peer's digest of it. A peer that passes
 * but that `admit` refuses (a server at its connection limit) gets no
 * welcome: the caller closes the connection.
 */
export async function deliverChallenge(
  { socket: conn, reader }: FramedSocket,
  key: AuthKey,
  admit?: () => boolean,
): Promise<void> {
  const message = concat(DIGEST_PREFIX, crypto.getRandomValues(new Uint8Array(NONCE_LENGTH)));
  await writeFrame(conn, concat(CHALLENGE, message));
  const response = await readHandshakeFrame(reader);
  const expected = concat(DIGEST_PREFIX, await mac(key, message));
  if (!constantTimeEqual(response, expected)) {
    await writeFrame(conn, FAILURE).catch(() => {});
    throw new AuthenticationError(
      response.length === 16 || response.length === 20
        ? "Digest received was wrong: the peer answered with legacy HMAC-MD5, which is not accepted"
        : "Digest received was wrong",
    );
  }
  if (admit !== undefined && !admit()) throw new Error("The server is at its connection limit");
  await writeFrame(conn, WELCOME);
}

/** Answers the peer's challenge and checks that it accepted the answer. */
export async function answerChallenge(
  { socket: conn, reader }: FramedSocket,
  key: AuthKey,
): Promise<void> {
  const challenge = await readHandshakeFrame(reader);
  if (!startsWith(challenge, CHALLENGE)) {
    throw new AuthenticationError("Protocol error: expected a challenge from the peer");
  }
  const message = challenge.subarray(CHALLENGE.length);
  if (!startsWith(message, DIGEST_PREFIX)) {
    throw new AuthenticationError(
      message.length === 20
        ? "The peer uses the legacy HMAC-MD5 handshake (Python 3.11 or older); only HMAC-SHA256 is supported"
        : "The peer asked for an unsupported digest; only {sha256} is supported",
    );
  }
  if (message.length < DIGEST_PREFIX.length + 20) {
    throw new AuthenticationError(`Challenge too short: ${message.length} bytes`);
  }
  await writeFrame(conn, concat(DIGEST_PREFIX, await mac(key, message)));
  const verdict = await readHandshakeFrame(reader);
  if (!equalBytes(verdict, WELCOME)) {
    throw new AuthenticationError("Digest sent was rejected: the authkey does not match");
  }
}

async function readHandshakeFrame(reader: FrameReader): Promise<Uint8Array> {
  let frame: Uint8Array | null;
  try {
    frame = await reader.read(HANDSHAKE_MAX_FRAME);
  } catch (error) {
    throw new AuthenticationError(
      "Handshake failed: the peer sent a malformed message (is it a manager? with TLS on one side only?)",
      { cause: error },
    );
  }
  if (frame === null) {
    throw new ConnectionClosedError("The peer closed the connection during the handshake");
  }
  return frame;
}

async function mac(key: AuthKey, message: Uint8Array): Promise<Uint8Array> {
  const signature = await crypto.subtle.sign("HMAC", key, message as Uint8Array<ArrayBuffer>);
  const bytes = new Uint8Array(signature);
  if (bytes.length !== MAC_LENGTH) throw new Error("Unexpected HMAC-SHA256 length");
  return bytes;
}

/** Compares in time that depends only on the lengths, never on where bytes differ. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.length ^ b.length;
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
