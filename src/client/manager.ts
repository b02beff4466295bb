/**
 * `BaseManager`: starts a server process that owns shared objects, or
 * connects to one, and creates proxies to those objects.
 *
 * Longer than most files: `BaseManager` is the public face of the library,
 * and its options, life cycle and each public method are documented here.
 * The parts that stand on their own live beside it (`../objects/registry.ts`,
 * `handoff.ts`, `../server/spawn.ts`).
 *
 * @module
 */

import { type Address, type AddressInput, checkAddress, formatAddress } from "../wire/address.ts";
import { ConnectionClosedError, ManagerStateError } from "../errors.ts";
import {
  checkOwnerPermissions,
  checkPermissions,
  type ServerPermissions,
} from "../server/permissions.ts";
import { checkProjectOptions } from "../server/project.ts";
import { ControlMethod, SERVER_ID } from "../wire/protocol.ts";
import { failedPipeline, type Pipelined, pipelined } from "../objects/pipeline.ts";
import type { BaseProxy } from "../objects/proxy.ts";
import type { RemoteOf } from "../objects/remote.ts";
import {
  allRegistrations,
  type Callable,
  findRegistration,
  registerCallable,
  type RegisterOptions,
  type Registration,
  registryOwner,
  rememberManagerClass,
  typeidOfClass,
} from "../objects/registry.ts";
import { checkLimits, type ServerLimits } from "../server/limits.ts";
import { Server } from "../server/server.ts";
import { checkTls, isSameSocket, type TlsOptions } from "../wire/transport.ts";
import { Session } from "./session.ts";
import { PythonSession } from "../python/python_session.ts";
import { launchServer, type ServerProcess } from "../server/spawn.ts";
import { findExport, handArgs, moduleUrl } from "./handoff.ts";
import { refuseWhileImporting } from "../server/user_module.ts";
import { settlesWithin } from "../_async.ts";

const processAuthkey = crypto.getRandomValues(new Uint8Array(32));

/**
 * The authkey managers use when none is given: 32 random bytes made once
 * per process. Give it to the processes you start (over stdin, say) so they
 * can connect.
 *
 * @example
 * ```ts
 * import { defaultAuthkey } from "@multiprocess/managers";
 *
 * const key = defaultAuthkey();
 * console.log(key.length); // 32
 * ```
 */
export function defaultAuthkey(): Uint8Array {
  return processAuthkey.slice();
}

/**
 * Options of `new BaseManager()`.
 *
 * @example
 * ```ts
 * import type { ManagerOptions } from "@multiprocess/managers";
 *
 * const options: ManagerOptions = {
 *   address: { hostname: "127.0.0.1", port: 0 },
 *   authkey: new TextEncoder().encode("a long shared secret"),
 *   shutdownTimeout: 2000,
 * };
 * console.log(options.shutdownTimeout); // 2000
 * ```
 */
export interface ManagerOptions {
  /**
   * A Unix socket path, or `{ hostname, port }` (or Python's pair
   * `["127.0.0.1", 50000]`) for TCP. Default: a socket in a new private
   * temp dir.
   */
  readonly address?: AddressInput;
  /** The shared secret; default {@linkcode defaultAuthkey}. */
  readonly authkey?: Uint8Array;
  /**
   * `"msgpack"` (the default), or `"pickle"` (or `"xmlrpclib"`) to
   * `connect()` to a CPython manager server started with that serializer
   * (`BaseManager(address, authkey)` in Python). Servers started here speak
   * all three: each connection is told apart by its first request.
   */
  readonly serializer?: "msgpack" | "pickle" | "xmlrpclib";
  /** Milliseconds `shutdown()` waits for the server at each step before SIGTERM, then SIGKILL (default 1000). */
  readonly shutdownTimeout?: number;
  /** Modules the server process imports to find registrations; default `[Deno.mainModule]`. */
  readonly modules?: readonly (string | URL)[];
  /** Permissions the server process gets beyond what it needs to serve. */
  readonly permissions?: ServerPermissions;
  /** Milliseconds a peer has to finish the authentication handshake (default 5000). */
  readonly handshakeTimeout?: number;
  /**
   * Milliseconds after which any call of this manager's proxies that has no
   * `signal` or `timeout` of its own is given up (a `TimeoutError`) and
   * stopped on the server, as `withCall(proxy, { timeout })` does for one
   * proxy. Default: no limit.
   */
  readonly callTimeout?: number;
  /**
   * Accept and answer the HMAC-MD5 handshake of CPython 3.11 and older, as
   * a server and as a client (default false: HMAC-SHA256 only, as CPython
   * 3.12+ speaks it by default). Needed for `python3` 3.8–3.11 peers.
   */
  readonly legacyAuth?: boolean;
  /**
   * More Python types whose values CPython clients may store and read
   * (`"module.name"` of each global their pickles name: a class, or the
   * function that rebuilds its values), beside those that travel by
   * default (`docs/python.md`): `["__main__.Point"]` for a namedtuple,
   * `["numpy.ndarray", "numpy.dtype", "numpy.core.multiarray._reconstruct"]`
   * for numpy arrays. The server never imports or calls them: it keeps the
   * value as it was named and called, and each CPython client that reads
   * it calls that global with those arguments. **At your own risk**: any
   * client with the authkey can then make every CPython client that reads
   * its values call these globals with arguments of its choosing, so list
   * only globals that do nothing but build data from any arguments. Applies
   * to the server this manager starts, and to its pickle connections to a
   * CPython server.
   */
  readonly pickleGlobals?: readonly string[];
  /**
   * Milliseconds `start()` waits for the server process to be ready: its
   * imports, their top-level awaits and the initializer (default 30000).
   * Past it the process is stopped and `start()` says what it was doing.
   */
  readonly startTimeout?: number;
  /** What the server accepts from any peer: frame size, connections, nesting, collection sizes. */
  readonly limits?: ServerLimits;
  /** TLS for a TCP address: `cert` and `key` to serve, `caCerts` to verify the server. */
  readonly tls?: TlsOptions;
  /**
   * The config file (`deno.json`) the server process runs with, or `false`
   * for none. Default: the one this process runs with, so the server
   * resolves your import map, lockfile and `nodeModulesDir` as you do.
   */
  readonly config?: string | URL | false;
  /**
   * Further `deno run` flags for the server process, such as
   * `["--unstable-kv", "--v8-flags=--max-old-space-size=256"]`. Resolution
   * flags this process was started with (`--lock`, `--frozen`,
   * `--import-map`, `--node-modules-dir`, `--cached-only`, `--unstable-*`)
   * are passed on without being listed. Permissions go in `permissions`.
   */
  readonly denoFlags?: readonly string[];
}

/**
 * Where a manager is in its life: `initial` until `start()` or `connect()`,
 * `started` while usable, `shutdown` after `shutdown()` or disposal.
 *
 * @example
 * ```ts
 * import { BaseManager, type ManagerState } from "@multiprocess/managers";
 *
 * const state: ManagerState = new BaseManager().state;
 * console.log(state); // "initial"
 * ```
 */
export type ManagerState = "initial" | "started" | "shutdown";

/**
 * The type of a manager's factory method for a shared class, for declaring
 * the methods that `register()` and `@shared` add:
 * `declare Counter: Factory<typeof Counter>`.
 *
 * @example
 * ```ts
 * import { BaseManager, type Factory, shared } from "@multiprocess/managers";
 *
 * class MyManager extends BaseManager {
 *   declare Counter: Factory<typeof Counter>;
 * }
 *
 * @shared({ manager: MyManager })
 * export class Counter {
 *   constructor(private value = 0) {}
 *   increment(): number {
 *     return ++this.value;
 *   }
 * }
 * ```
 */
export type Factory<C extends new (...args: never[]) => object> = (
  ...args: ConstructorParameters<C>
) => Promise<RemoteOf<C>>;

const sessionAccess = new WeakMap<BaseManager, () => Session | PythonSession | undefined>();

/**
 * A manager: `start()` launches a server process that owns shared objects,
 * `connect()` joins one that is already running, and proxies call the
 * objects through one multiplexed, authenticated socket.
 *
 * @example
 * ```ts
 * import { BaseManager, shared } from "@multiprocess/managers";
 *
 * @shared()
 * export class Counter {
 *   #value = 0;
 *   increment(): number {
 *     return ++this.#value;
 *   }
 * }
 *
 * if (import.meta.main) {
 *   await using manager = await new BaseManager({ modules: [import.meta.url] }).start();
 *   const counter = await manager.create(Counter);
 *   console.log(await counter.increment()); // 1
 * }
 * ```
 */
export class BaseManager {
  /**
   * Registers `typeid` on this manager class: `callable` makes the object
   * on the server (a class is called with `new`). Without a callable the
   * registration only tells clients how to build proxies for it.
   */
  static register(
    typeid: string,
    callable?: Callable | (new (...args: never[]) => unknown),
    options: RegisterOptions = {},
  ): void {
    registerCallable(this, typeid, callable, options);
  }

  /** Every registration visible from this manager class. */
  static registrations(): ReadonlyMap<string, Registration> {
    return allRegistrations(this);
  }

  readonly #options: ManagerOptions;
  readonly #authkey: Uint8Array;
  #address: Address | undefined;
  #state: ManagerState = "initial";
  #busy = false;
  #role: "owner" | "client" | undefined;
  #session: Session | PythonSession | undefined;
  #process: ServerProcess | undefined;
  #socketDir: string | undefined;
  #closing: Promise<void> | undefined;

  /** Checks the options; nothing is started until `start()` or `connect()`. */
  constructor(options: ManagerOptions = {}) {
    const { address, authkey, serializer, shutdownTimeout, handshakeTimeout, startTimeout } =
      options;
    if (
      serializer !== undefined && serializer !== "msgpack" && serializer !== "pickle" &&
      serializer !== "xmlrpclib"
    ) {
      throw new TypeError(
        `Unknown serializer ${
          JSON.stringify(serializer)
        }: "msgpack" (the default), or "pickle" or "xmlrpclib" (a CPython server, with connect())`,
      );
    }
    if (authkey !== undefined && !(authkey instanceof Uint8Array)) {
      throw new TypeError("The authkey must be a Uint8Array (bytes), not a string or other value");
    }
    for (
      const [name, value] of [
        ["shutdownTimeout", shutdownTimeout],
        ["handshakeTimeout", handshakeTimeout],
        ["startTimeout", startTimeout],
        ["callTimeout", options.callTimeout],
      ] as const
    ) {
      if (value !== undefined && (typeof value !== "number" || !(value >= 0))) {
        throw new RangeError(`${name} must be a non-negative number of milliseconds`);
      }
    }
    if (options.legacyAuth !== undefined && typeof options.legacyAuth !== "boolean") {
      throw new TypeError("legacyAuth must be true or false");
    }
    checkPickleGlobals(options.pickleGlobals);
    checkPermissions(options.permissions);
    checkProjectOptions(options);
    checkLimits(options.limits);
    this.#address = address === undefined ? undefined : checkAddress(address);
    checkTls(options.tls, this.#address);
    this.#options = options;
    this.#authkey = authkey?.slice() ?? defaultAuthkey();
    sessionAccess.set(this, () => this.#session);
  }

  /** The server's address; for `port: 0` the real port once started. */
  get address(): Address {
    if (this.#address === undefined) {
      throw new ManagerStateError(
        "The manager has no address yet: the default socket is chosen by start() or getServer()",
      );
    }
    return this.#address;
  }

  /** Where the manager is in its life. */
  get state(): ManagerState {
    return this.#state;
  }

  /** The process id of the server this manager started, if it did. */
  get pid(): number | undefined {
    return this.#process?.pid;
  }

  /**
   * Starts the server process and resolves once it listens. `initializer`,
   * if given, must be a function exported by one of `modules`; the server
   * process calls it with `initargs` before it starts serving.
   */
  async start(
    initializer?: (...args: never[]) => unknown,
    initargs: readonly unknown[] = [],
  ): Promise<this> {
    refuseWhileImporting();
    checkOwnerPermissions(this.#address);
    this.#claim("start");
    try {
      if (initializer !== undefined && typeof initializer !== "function") {
        throw new TypeError("initializer must be a callable");
      }
      const modules = moduleUrls(this.#options.modules);
      const address = this.#address ?? await this.#privateSocket();
      const process = await launchServer({
        config: {
          address,
          socketDir: this.#socketDir ?? null,
          authkey: this.#authkey,
          modules,
          manager: registryOwner(this.constructor, BaseManager).name,
          initializer: initializer === undefined
            ? null
            : await findExport(initializer, modules, "initializer"),
          initargs: await handArgs(initargs, "initargs"),
          handshakeTimeout: this.#options.handshakeTimeout ?? 5000,
          legacyAuth: this.#options.legacyAuth ?? false,
          pickleGlobals: [...(this.#options.pickleGlobals ?? [])],
          limits: this.#options.limits ?? null,
          tls: this.#options.tls ?? null,
        },
        permissions: this.#options.permissions,
        startTimeout: this.#options.startTimeout ?? 30_000,
        project: {
          ...(this.#options.config === undefined ? {} : { config: this.#options.config }),
          ...(this.#options.denoFlags === undefined ? {} : { denoFlags: this.#options.denoFlags }),
        },
      });
      this.#process = process;
      this.#address = process.address;
      this.#checkTypeids(process.typeids, modules);
      this.#session = await this.#openSession();
      this.#role = "owner";
      this.#state = "started";
      return this;
    } catch (error) {
      await this.#process?.stop(this.#shutdownTimeout);
      await this.#removeSocket();
      this.#process = undefined;
      if (this.#socketDir !== undefined) {
        // A retry gets a new private directory.
        this.#socketDir = undefined;
        this.#address = this.#options.address === undefined ? undefined : this.#address;
      }
      throw error;
    } finally {
      this.#busy = false;
    }
  }

  /** Connects to a server that is already running at `address`. */
  async connect(): Promise<this> {
    this.#claim("connect");
    try {
      if (this.#address === undefined) {
        throw new TypeError("connect() needs the address of a running server: pass { address }");
      }
      this.#session = await this.#openSession();
      this.#role = "client";
      this.#state = "started";
      return this;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * A server for this manager's registrations, running in this process
   * (CPython's `get_server()`). It listens at once; call `serveForever()`.
   */
  getServer(): Server {
    this.#requireInitial("getServer()");
    let socketDir: string | undefined;
    if (this.#address === undefined) {
      socketDir = Deno.makeTempDirSync({ prefix: "mp-" });
      Deno.chmodSync(socketDir, 0o700);
      this.#address = `${socketDir}/manager.sock`;
    }
    const server = new Server({
      registry: allRegistrations(this.constructor),
      address: this.#address,
      authkey: this.#authkey,
      handshakeTimeout: this.#options.handshakeTimeout ?? 5000,
      legacyAuth: this.#options.legacyAuth ?? false,
      ...(this.#options.pickleGlobals === undefined
        ? {}
        : { pickleGlobals: this.#options.pickleGlobals }),
      ...(this.#options.limits === undefined ? {} : { limits: this.#options.limits }),
      ...(this.#options.tls === undefined ? {} : { tls: this.#options.tls }),
      ...(socketDir === undefined ? {} : { socketDir }),
    });
    this.#address = server.address;
    return server;
  }

  /**
   * Creates a shared object of a decorated (or registered) class. The
   * result is pipelined: `await` it for the typed proxy, or call its
   * methods at once (they go out before the object exists, and run once
   * it does: creating and calling cost one round trip).
   */
  create<C extends new (...args: never[]) => object>(
    cls: C,
    ...args: ConstructorParameters<C>
  ): Pipelined<RemoteOf<C>>;
  /** Creates a shared object of a registered typeid; pipelined as above. */
  create(typeid: string, ...args: unknown[]): Pipelined<BaseProxy>;
  create(
    typeidOrClass: string | (new (...args: never[]) => object),
    ...args: unknown[]
  ): Pipelined<BaseProxy> {
    let typeid: string;
    if (typeof typeidOrClass === "string") {
      typeid = typeidOrClass;
    } else {
      const found = typeidOfClass(this.constructor, typeidOrClass);
      if (found === undefined) {
        return failedPipeline(
          new TypeError(
            `Class ${typeidOrClass.name} is not registered: decorate it with @shared() or pass it to register()`,
          ),
        );
      }
      typeid = found;
    }
    let session: Session | PythonSession;
    try {
      session = this.#requireSession(`create('${typeid}')`);
    } catch (error) {
      return failedPipeline(error);
    }
    const kept = session.callKept(SERVER_ID, ControlMethod.create, [typeid, ...args]);
    return pipelined(session, kept, typeid);
  }

  /** Number of shared objects alive on the server. */
  async numberOfObjects(): Promise<number> {
    return await this.#requireSession("numberOfObjects()").control(
      ControlMethod.numberOfObjects,
    ) as number;
  }

  /** A text listing every shared object with its reference count, as CPython's `_debug_info()`. */
  async debugInfo(): Promise<string> {
    return await this.#requireSession("debugInfo()").control(ControlMethod.debugInfo) as string;
  }

  /**
   * Stops the server: asks it to shut down, waits `shutdownTimeout`, then
   * SIGTERM, then SIGKILL, and removes its socket file. On a manager that
   * only `connect()`ed, asks the remote server to stop. Idempotent; proxy
   * calls reject afterwards.
   */
  shutdown(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    if (this.#busy) {
      return Promise.reject(
        new ManagerStateError("Cannot shut down while start() or connect() is running"),
      );
    }
    const wasStarted = this.#state === "started";
    this.#state = "shutdown";
    this.#closing = wasStarted ? this.#stop() : Promise.resolve();
    return this.#closing;
  }

  /**
   * Closes this process's connection to a server it `connect()`ed to,
   * leaving the server running. Proxies of this manager stop working.
   */
  async disconnect(): Promise<void> {
    if (this.#role === "owner") {
      throw new ManagerStateError("This manager started its server; call shutdown() to stop it");
    }
    if (this.#state !== "started") return;
    this.#state = "shutdown";
    await this.#session?.close(
      new ConnectionClosedError(`Disconnected from manager at ${formatAddress(this.address)}`),
    );
  }

  /** `await using`: shuts down a started server, or disconnects from a connected one. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#role === "client" ? this.disconnect() : this.shutdown();
  }

  async #stop(): Promise<void> {
    const session = this.#session;
    const reason = new ConnectionClosedError(
      `Manager at ${formatAddress(this.address)} has shut down`,
    );
    if (session !== undefined) {
      session.expectClose(reason);
      if (!session.closed) {
        await settlesWithin(session.control(ControlMethod.shutdown), this.#shutdownTimeout);
      }
      await session.close(reason);
    }
    if (this.#process !== undefined) {
      await this.#process.stop(this.#shutdownTimeout);
      await this.#removeSocket();
    }
  }

  get #shutdownTimeout(): number {
    return this.#options.shutdownTimeout ?? 1000;
  }

  #claim(action: "start" | "connect"): void {
    this.#requireInitial(`${action}()`);
    this.#busy = true;
  }

  /** Refuses `action` unless the manager was never started, connected or shut down. */
  #requireInitial(action: string): void {
    if (this.#busy) {
      throw new ManagerStateError(
        `Cannot ${action}: the manager is already starting or connecting`,
      );
    }
    if (this.#state === "started") {
      throw new ManagerStateError(`Cannot ${action}: the manager is already started`);
    }
    if (this.#state === "shutdown") {
      throw new ManagerStateError(`Cannot ${action}: the manager has shut down`);
    }
  }

  #requireSession(action: string): Session | PythonSession {
    if (this.#state === "shutdown") {
      throw new ManagerStateError(`Cannot ${action}: the manager has shut down`);
    }
    if (this.#session === undefined) {
      throw new ManagerStateError(
        `Cannot ${action}: the manager is not started; call start() or connect() first`,
      );
    }
    return this.#session;
  }

  #openSession(): Promise<Session | PythonSession> {
    const owner = this.constructor;
    if (this.#options.serializer === "pickle" || this.#options.serializer === "xmlrpclib") {
      return PythonSession.open({
        address: this.address,
        authkey: this.#authkey,
        serializer: this.#options.serializer,
        proxyType: (typeid) => findRegistration(owner, typeid)?.proxytype,
        legacyAuth: this.#options.legacyAuth ?? false,
        ...(this.#options.pickleGlobals === undefined
          ? {}
          : { pickleGlobals: this.#options.pickleGlobals }),
        ...(this.#options.handshakeTimeout === undefined
          ? {}
          : { handshakeTimeout: this.#options.handshakeTimeout }),
      });
    }
    return Session.open({
      address: this.address,
      authkey: this.#authkey,
      ...(this.#options.callTimeout === undefined
        ? {}
        : { callTimeout: this.#options.callTimeout }),
      legacyAuth: this.#options.legacyAuth ?? false,
      proxyType: (typeid) => findRegistration(owner, typeid)?.proxytype,
      registration: (typeid) => findRegistration(owner, typeid),
      ...(this.#options.handshakeTimeout === undefined
        ? {}
        : { handshakeTimeout: this.#options.handshakeTimeout }),
      ...(this.#options.tls === undefined ? {} : { tls: this.#options.tls }),
      ...(this.#options.limits === undefined ? {} : { limits: this.#options.limits }),
    });
  }

  async #privateSocket(): Promise<string> {
    this.#socketDir = await Deno.makeTempDir({ prefix: "mp-" });
    await Deno.chmod(this.#socketDir, 0o700);
    return `${this.#socketDir}/manager.sock`;
  }

  /**
   * Removes what this manager's server made: its private directory, or the
   * socket file it bound (a killed server leaves it behind), and only if
   * that file is still the one it bound. A live manager's socket at the
   * same path is never touched.
   */
  async #removeSocket(): Promise<void> {
    if (this.#socketDir !== undefined) {
      await Deno.remove(this.#socketDir, { recursive: true }).catch(() => {});
    } else if (typeof this.#address === "string" && this.#process?.socket) {
      if (isSameSocket(this.#address, this.#process.socket)) {
        await Deno.remove(this.#address).catch(() => {});
      }
    }
  }

  #checkTypeids(typeids: readonly string[], modules: readonly string[]): void {
    const known = new Set(typeids);
    const missing = [...allRegistrations(this.constructor).values()]
      .filter((r) => r.callable !== undefined && !known.has(r.typeid))
      .map((r) => `'${r.typeid}'`);
    if (missing.length > 0) {
      throw new ManagerStateError(
        `The server process does not know ${missing.join(", ")}: register ${
          missing.length > 1 ? "them" : "it"
        } at the top level of a module the server imports (modules: ${modules.join(", ")})`,
      );
    }
  }

  /** Shown by `console.log`. */
  [Symbol.for("Deno.customInspect")](): string {
    const where = this.#address === undefined ? "" : ` at ${formatAddress(this.#address)}`;
    return `${this.constructor.name} { state: "${this.#state}"${where} }`;
  }
}

rememberManagerClass(BaseManager);

/** The session a manager talks through (for `proxyFromString`). */
export function sessionOf(manager: BaseManager): Session | undefined {
  const session = sessionAccess.get(manager)?.();
  if (session instanceof PythonSession) {
    throw new TypeError(
      "Proxies of a CPython server cannot be passed on as strings: CPython's protocol has no tickets",
    );
  }
  return session;
}

function moduleUrls(modules: readonly (string | URL)[] | undefined): string[] {
  if (modules === undefined) return [Deno.mainModule];
  if (!Array.isArray(modules)) throw new TypeError("modules must be an array of module URLs");
  return modules.map((module) => moduleUrl(module, "modules"));
}

/** Checks the `pickleGlobals` option: names of globals, `"module.name"`. */
function checkPickleGlobals(globals: unknown): void {
  if (globals === undefined) return;
  if (!Array.isArray(globals)) {
    throw new TypeError('pickleGlobals must be an array of "module.name" strings');
  }
  for (const name of globals) {
    if (typeof name !== "string" || !/^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$/.test(name)) {
      throw new TypeError(
        `pickleGlobals must name globals as "module.name" (such as "__main__.Point"), not ${
          JSON.stringify(name)
        }`,
      );
    }
  }
}
