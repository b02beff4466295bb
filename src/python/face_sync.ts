/**
 * The queue and the synchronisation primitives as CPython's proxies call
 * them: timeouts in seconds, `acquire(blocking, timeout)`, `queue.Empty`
 * and `queue.Full`, Barrier's `BrokenBarrierError`.
 *
 * @module
 */

import type { Barrier, Condition, Event, Lock, RLock, Semaphore } from "../sync/primitives.ts";
import type { Queue } from "../sync/queue.ts";
import { arg, type Keywords, ms, notExposed, pythonError, type PythonFace } from "./face.ts";

export const QUEUE: PythonFace = {
  proxyType: "AutoProxy",
  exposed: [
    "put",
    "get",
    "put_nowait",
    "get_nowait",
    "qsize",
    "empty",
    "full",
    "task_done",
    "join",
  ],
  call(object: Queue, method, args, kwds): unknown {
    switch (method) {
      case "put":
        return object.put(args[0], {
          block: Boolean(arg(args, kwds, 1, "block", true)),
          timeout: ms(arg(args, kwds, 2, "timeout")),
        });
      case "get":
        return object.get({
          block: Boolean(arg(args, kwds, 0, "block", true)),
          timeout: ms(arg(args, kwds, 1, "timeout")),
        });
      case "put_nowait":
        return object.putNowait(args[0]);
      case "get_nowait":
        return object.getNowait();
      case "qsize":
        return object.qsize();
      case "empty":
        return object.empty();
      case "full":
        return object.full();
      case "task_done":
        try {
          return object.taskDone();
        } catch (error) {
          throw pythonError("ValueError", (error as Error).message);
        }
      case "join":
        return object.join();
    }
    return notExposed("Queue", method);
  },
};

/** What Lock, RLock, Semaphore and Condition share: CPython's AcquirerProxy. */
function acquire(
  object: { acquire(o: { blocking: boolean; timeout?: number | undefined }): unknown },
  args: unknown[],
  kwds: Keywords,
): unknown {
  return object.acquire({
    blocking: Boolean(arg(args, kwds, 0, "blocking", true)),
    timeout: ms(arg(args, kwds, 1, "timeout")),
  });
}

function release(release: () => unknown): unknown {
  try {
    return release();
  } catch (error) {
    throw pythonError("RuntimeError", (error as Error).message);
  }
}

export const LOCK: PythonFace = {
  proxyType: "AcquirerProxy",
  exposed: ["acquire", "release", "locked"],
  call(object: Lock | RLock, method, args, kwds): unknown {
    switch (method) {
      case "acquire":
        return acquire(object, args, kwds);
      case "release":
        return release(() => object.release());
      case "locked":
        return object.locked();
    }
    return notExposed("Lock", method);
  },
};

export const SEMAPHORE: PythonFace = {
  proxyType: "AcquirerProxy",
  exposed: ["acquire", "release", "get_value"],
  call(object: Semaphore, method, args, kwds): unknown {
    switch (method) {
      case "acquire":
        return acquire(object, args, kwds);
      case "release":
        try {
          return object.release(Number(arg(args, kwds, 0, "n", 1)));
        } catch (error) {
          throw pythonError("ValueError", (error as Error).message);
        }
      case "get_value":
        return object.value();
    }
    return notExposed("Semaphore", method);
  },
};

export const CONDITION: PythonFace = {
  proxyType: "ConditionProxy",
  exposed: ["acquire", "release", "wait", "notify", "notify_all"],
  call(object: Condition, method, args, kwds): unknown {
    switch (method) {
      case "acquire":
        return acquire(object, args, kwds);
      case "release":
        return release(() => object.release());
      case "wait":
        return object.wait({ timeout: ms(arg(args, kwds, 0, "timeout")) }).catch((error: Error) => {
          throw pythonError("RuntimeError", error.message);
        });
      case "notify":
        return release(() => object.notify(Number(arg(args, kwds, 0, "n", 1))));
      case "notify_all":
        return release(() => object.notifyAll());
    }
    return notExposed("Condition", method);
  },
};

export const EVENT: PythonFace = {
  proxyType: "EventProxy",
  exposed: ["is_set", "set", "clear", "wait"],
  call(object: Event, method, args, kwds): unknown {
    switch (method) {
      case "is_set":
        return object.isSet();
      case "set":
        return object.set();
      case "clear":
        return object.clear();
      case "wait":
        return object.wait({ timeout: ms(arg(args, kwds, 0, "timeout")) });
    }
    return notExposed("Event", method);
  },
};

export const BARRIER: PythonFace = {
  proxyType: "BarrierProxy",
  exposed: ["__getattribute__", "wait", "abort", "reset"],
  call(object: Barrier, method, args, kwds): unknown {
    switch (method) {
      case "wait":
        return object.wait({ timeout: ms(arg(args, kwds, 0, "timeout")) });
      case "abort":
        return object.abort();
      case "reset":
        return object.reset();
      case "__getattribute__":
        switch (args[0]) {
          case "parties":
            return object.parties();
          case "n_waiting":
            return object.nWaiting();
          case "broken":
            return object.broken();
        }
        throw pythonError(
          "AttributeError",
          `'Barrier' object has no attribute '${String(args[0])}'`,
        );
    }
    return notExposed("Barrier", method);
  },
};
