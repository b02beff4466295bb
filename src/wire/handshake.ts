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
 * CPython's older HMAC-MD5 form (3.11 and before: a bare 16-byte digest,
 * and 20-byte challenges without a digest name) is refused unless the key
 * was imported with `legacy`: then it is accepted and answered in kind.
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
/** An HMAC-MD5 digest, sent bare (CPython 3.11 and older). */
const LEGACY_MAC_LENGTH = 16;
/** CPython reads handshake messages with `recv_bytes(256)`. */
const HANDSHAKE_MAX_FRAME = 256;

/**
 * An authkey prepared for the handshake: HMAC-SHA256, and with `legacy`
 * also CPython 3.11's HMAC-MD5.
 */
export interface AuthKey {
  /** The key for HMAC-SHA256. */
  readonly sha256: CryptoKey;
  /** The raw bytes (for HMAC-MD5). */
  readonly raw: Uint8Array;
  /** Whether the HMAC-MD5 form (CPython 3.11 and older) is accepted and answered. */
  readonly legacy: boolean;
}

/**
 * Imports raw authkey bytes once, for every handshake that follows.
 * `legacy` accepts and answers CPython 3.11's HMAC-MD5 form as well.
 */
export async function importAuthkey(authkey: Uint8Array, legacy = false): Promise<AuthKey> {
  // WebCrypto refuses zero-length HMAC keys; HMAC pads keys with zeros, so
  // one zero byte gives the same MACs as CPython's empty key.
  const raw = authkey.length === 0 ? new Uint8Array(1) : authkey;
  const sha256 = await crypto.subtle.importKey(
    "raw",
    raw as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return { sha256, raw: authkey.slice(), legacy };
}

/** HMAC-MD5 (CPython 3.11 and older): WebCrypto has no MD5, Deno's node:crypto has. */
async function md5Mac(key: AuthKey, message: Uint8Array): Promise<Uint8Array> {
  const { createHmac } = await import("node:crypto");
  return new Uint8Array(createHmac("md5", key.raw).update(message).digest());
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

/** Why a peer that answered a challenge with HMAC-MD5 was refused (no `legacyAuth`). */
export const LEGACY_REFUSED =
  "Digest received was wrong: the peer answered with HMAC-MD5 (CPython 3.11 or older), which is accepted only with legacyAuth: true";

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
  const md5 = response.length === LEGACY_MAC_LENGTH;
  const expected = md5 && key.legacy
    ? await md5Mac(key, message)
    : concat(DIGEST_PREFIX, await mac(key, message));
  if (!constantTimeEqual(response, expected)) {
    await writeFrame(conn, FAILURE).catch(() => {});
    throw new AuthenticationError(
      md5 && !key.legacy ? LEGACY_REFUSED : "Digest received was wrong",
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
  const legacy = message.length === 20 || message.length === 16;
  if (legacy && !key.legacy) {
    throw new AuthenticationError(
      "The peer uses the HMAC-MD5 handshake of CPython 3.11 or older: pass legacyAuth: true to accept it",
    );
  }
  if (!legacy && !startsWith(message, DIGEST_PREFIX)) {
    throw new AuthenticationError(
      "The peer asked for an unsupported digest; only {sha256} is supported",
    );
  }
  if (!legacy && message.length < DIGEST_PREFIX.length + 20) {
    throw new AuthenticationError(`Challenge too short: ${message.length} bytes`);
  }
  await writeFrame(
    conn,
    legacy ? await md5Mac(key, message) : concat(DIGEST_PREFIX, await mac(key, message)),
  );
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
  const signature = await crypto.subtle.sign(
    "HMAC",
    key.sha256,
    message as Uint8Array<ArrayBuffer>,
  );
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
