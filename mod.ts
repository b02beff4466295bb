/**
 * Python's `multiprocessing.managers`, rebuilt for Deno: a manager starts
 * a server process that owns shared objects, and other processes call them
 * through proxies over a Unix or TCP socket, authenticated with an authkey.
 *
 * - Classes decorated with {@linkcode shared} are registered on a manager;
 *   `manager.create(Class, ...args)` returns a typed proxy whose methods
 *   return promises.
 * - The server process runs with the fewest Deno permissions it needs.
 * - {@linkcode SyncManager} has CPython's standard types (Queue, Lock,
 *   RLock, Semaphore, Condition, Event, Barrier, Value, Array, dict, list,
 *   set, Namespace), async and typed.
 * - One multiplexed connection per process and manager; a client's
 *   references, locks, permits and waits die with its connection.
 * - `await using` starts and stops it like Python's `with`.
 *
 * @example
 * ```ts
 * import { BaseManager, shared } from "@multiprocess/managers";
 *
 * @shared()
 * export class Counter {
 *   #value = 0;
 *   increment(by = 1): number {
 *     return (this.#value += by);
 *   }
 * }
 *
 * if (import.meta.main) {
 *   await using manager = await new BaseManager({ modules: [import.meta.url] }).start();
 *   const counter = await manager.create(Counter);
 *   await counter.increment(5);
 *   console.log(await counter.increment()); // 6
 * }
 * ```
 *
 * @module
 */

export type { Address, AddressInput, TcpAddress } from "./src/wire/address.ts";
export { type Caller, currentCaller } from "./src/objects/caller.ts";
export {
  AuthenticationError,
  BrokenBarrierError,
  ConnectionClosedError,
  Empty,
  Full,
  ManagerStateError,
  RemoteError,
} from "./src/errors.ts";
export {
  BaseManager,
  defaultAuthkey,
  type Factory,
  type ManagerOptions,
  type ManagerState,
} from "./src/client/manager.ts";
export type { ServerPermissions } from "./src/server/permissions.ts";
export {
  BaseProxy,
  type CallOptions,
  type ProxyClass,
  type ProxyInit,
  type Token,
  withCall,
} from "./src/objects/proxy.ts";
export type { ChainedKeys, ExposedKeys, Remote, RemoteOf, Sendable } from "./src/objects/remote.ts";
export type { Callable, RegisterOptions, Registration } from "./src/objects/registry.ts";
export type { ServerLimits } from "./src/server/limits.ts";
export { Server, type ServerOptions } from "./src/server/server.ts";
export { shared, type SharedOptions } from "./src/client/shared.ts";
export type { TlsOptions } from "./src/wire/transport.ts";
export {
  proxyFromString,
  type ProxyFromStringOptions,
  proxyToString,
  type ProxyToStringOptions,
} from "./src/client/transfer.ts";
export { Manager, SyncManager, type TypedArray } from "./src/client/sync_manager.ts";
export type { Pipelined } from "./src/objects/pipeline.ts";
export { kwargs, PythonKeywords } from "./src/python/python_session.ts";
export {
  isTuple,
  PyByteArray,
  PyDatetime,
  PyFloat,
  PyFrozenSet,
  PythonObject,
  tuple,
} from "./src/wire/python_data.ts";
export { Callback, callback, type CallbackStub } from "./src/wire/callback.ts";
export { Process, type ProcessOptions, type Target } from "./src/client/process.ts";
export type {
  AcquireOptions,
  BarrierAction,
  BarrierOptions,
  WaitOptions,
} from "./src/sync/primitives.ts";
export type { QueueWaitOptions } from "./src/sync/queue.ts";
export {
  AcquirerProxy,
  ArrayProxy,
  BarrierProxy,
  ConditionProxy,
  DictProxy,
  EventProxy,
  IteratorProxy,
  ListProxy,
  NamespaceProxy,
  QueueProxy,
  SemaphoreProxy,
  SetProxy,
  ValueProxy,
} from "./src/sync/proxies.ts";
// Keeps the server process's entry in every program's module graph, so that
// `deno cache`, lockfiles and offline starts include it. Importing it starts nothing.
import "./src/main/server_main.ts";
// Keeps the worker entry of Process in the module graph, as above.
import "./src/main/process_main.ts";
