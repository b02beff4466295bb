/**
 * Handing a proxy to a process you start yourself. The sender turns its
 * proxy into a string; the server holds a reference for that string until
 * a receiver claims it or it expires, so the receiver never finds the
 * object gone even if the sender drops its proxy at once (CPython's spawn
 * children hit `KeyError` there). The string carries no secret: the
 * receiver supplies the authkey.
 *
 * @module
 */

import { equalBytes, fromBase64Url, toBase64Url } from "../_bytes.ts";
import { type Address, checkAddress, formatAddress, sameAddress } from "../wire/address.ts";
import { ControlMethod } from "../wire/protocol.ts";
import { type BaseManager, sessionOf } from "./manager.ts";
import { type BaseProxy, channelOf } from "../objects/proxy.ts";
import { Session } from "./session.ts";
import type { TlsOptions } from "../wire/transport.ts";

const PREFIX = "mpproxy1.";

/**
 * Options of {@linkcode proxyToString}.
 *
 * @example
 * ```ts
 * import type { ProxyToStringOptions } from "@multiprocess/managers";
 *
 * const options: ProxyToStringOptions = { ttl: 30_000 };
 * console.log(options.ttl); // 30000
 * ```
 */
export interface ProxyToStringOptions {
  /** Milliseconds the server keeps the object alive for the string if nobody claims it (default 60000). */
  readonly ttl?: number;
}

/**
 * Options of {@linkcode proxyFromString}.
 *
 * @example
 * ```ts
 * import { defaultAuthkey, type ProxyFromStringOptions } from "@multiprocess/managers";
 *
 * const options: ProxyFromStringOptions = { authkey: defaultAuthkey() };
 * console.log(options.authkey.length); // 32
 * ```
 */
export interface ProxyFromStringOptions {
  /** The authkey of the manager that owns the object. */
  readonly authkey: Uint8Array;
  /**
   * A started or connected manager to call through; its registrations give
   * the proxy class. Without it, one connection per address is opened and
   * closed again once its last proxy is released.
   */
  readonly manager?: BaseManager;
  /** TLS for a TCP manager: the certificates to trust (`caCerts`). */
  readonly tls?: TlsOptions;
}

/**
 * A string that another process turns back into a working proxy with
 * {@linkcode proxyFromString}. Each string can be claimed once; make one per
 * receiver. Until then the server keeps a reference for it (up to `ttl`).
 *
 * @example
 * ```ts
 * import { BaseManager, proxyToString, shared } from "@multiprocess/managers";
 *
 * @shared()
 * export class Box {
 *   value = 0;
 *   get(): number {
 *     return this.value;
 *   }
 * }
 *
 * if (import.meta.main) {
 *   await using manager = await new BaseManager({ modules: [import.meta.url] }).start();
 *   const box = await manager.create(Box);
 *   const text = await proxyToString(box);
 *   // hand `text` (and the authkey, separately) to a worker process
 *   console.log(text.startsWith("mpproxy1.")); // true
 * }
 * ```
 */
export async function proxyToString(
  proxy: BaseProxy,
  options: ProxyToStringOptions = {},
): Promise<string> {
  const ttl = options.ttl ?? 60_000;
  if (typeof ttl !== "number" || !(ttl > 0)) {
    throw new RangeError("ttl must be a positive number of milliseconds");
  }
  const channel = channelOf(proxy);
  if (!(channel instanceof Session)) {
    throw new TypeError("Only proxies held by a client process can be turned into strings");
  }
  if (proxy._released) throw new TypeError(`${proxy} was released; it cannot be shared`);
  const ticket = await channel.share(proxy._token.id, ttl);
  const body = JSON.stringify({
    a: proxy._token.address,
    t: proxy._token.typeid,
    k: ticket,
  });
  return PREFIX + toBase64Url(new TextEncoder().encode(body));
}

/**
 * The proxy for a string made by {@linkcode proxyToString}, holding its own
 * reference. Pass the proxy type you expect as `T`.
 *
 * @example
 * ```ts ignore
 * import { proxyFromString, type Remote } from "@multiprocess/managers";
 * import type { Box } from "./box.ts";
 *
 * const authkey = new Uint8Array(32); // received from the parent
 * await using box = await proxyFromString<Remote<Box>>(Deno.args[0]!, { authkey });
 * console.log(await box.get());
 * ```
 */
export async function proxyFromString<T extends BaseProxy = BaseProxy>(
  text: string,
  options: ProxyFromStringOptions,
): Promise<T> {
  const { address, ticket } = parse(text);
  if (!(options?.authkey instanceof Uint8Array)) {
    throw new TypeError("proxyFromString needs the manager's authkey as a Uint8Array");
  }
  let session: Session;
  if (options.manager !== undefined) {
    const own = sessionOf(options.manager);
    if (own === undefined || own.closed) {
      throw new TypeError("The manager given to proxyFromString is not started or connected");
    }
    if (!sameAddress(own.address, address)) {
      throw new TypeError(
        `The proxy belongs to the manager at ${formatAddress(address)}, not ${
          formatAddress(own.address)
        }`,
      );
    }
    session = own;
  } else {
    session = await sharedSession(address, options.authkey, options.tls);
  }
  return await session.control(ControlMethod.claim, [ticket]) as T;
}

function parse(text: string): { address: Address; ticket: string } {
  const invalid = new TypeError("Not a proxy string made by proxyToString()");
  if (typeof text !== "string" || !text.startsWith(PREFIX)) throw invalid;
  try {
    const body = JSON.parse(new TextDecoder().decode(fromBase64Url(text.slice(PREFIX.length))));
    if (typeof body?.k !== "string" || typeof body?.t !== "string") throw invalid;
    return { address: checkAddress(body.a), ticket: body.k };
  } catch (error) {
    throw error === invalid ? invalid : new TypeError(invalid.message, { cause: error });
  }
}

/** Sessions opened for strings, one per address and key; each closes when idle. */
const sessions = new Map<string, { authkey: Uint8Array; session: Promise<Session> }[]>();

function sharedSession(
  address: Address,
  authkey: Uint8Array,
  tls: TlsOptions | undefined,
): Promise<Session> {
  const key = formatAddress(address);
  const entries = sessions.get(key) ?? [];
  const found = entries.find((entry) => equalBytes(entry.authkey, authkey));
  if (found !== undefined) {
    return found.session.then((session) => session.closed ? openShared() : session);
  }
  return openShared();

  function openShared(): Promise<Session> {
    const forget = (): void => {
      const list = sessions.get(key)?.filter((e) => e !== entry) ?? [];
      if (list.length > 0) sessions.set(key, list);
      else sessions.delete(key);
    };
    const session = Session.open({
      address,
      authkey,
      closeWhenIdle: true,
      ...(tls === undefined ? {} : { tls }),
    });
    const entry = { authkey: authkey.slice(), session };
    const list = (sessions.get(key) ?? []).filter((e) => !equalBytes(e.authkey, authkey));
    sessions.set(key, [...list, entry]);
    session.then((s) => s.whenClosed.then(forget), forget);
    return session;
  }
}
