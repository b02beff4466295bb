"""One benchmark workload on CPython's own multiprocessing.managers:

    python3 bench/cpython_side.py <workload> <unix|tcp> <milliseconds> [server-json]

With a server (`{"address": ..., "authkey": hex}`, from `deno_side.ts serve`),
the same CPython client code runs against that Deno server instead of a
CPython one: the pickle path, CPython client on both sides.

Prints one JSON line, as bench/deno_side.ts does for this library. Part of
the benchmark only: it measures CPython, it is not part of the package.
"""
import json
import multiprocessing as mp
import sys
import time
from multiprocessing.managers import SyncManager


class Counter:
    def __init__(self):
        self.value = 0

    def increment(self):
        self.value += 1
        return self.value

    def echo(self, value):
        return value


class BenchManager(SyncManager):
    pass


BenchManager.register("Counter", Counter)

KIB_OBJECT = {
    "name": "x" * 200,
    "tags": [f"tag-{i}" for i in range(20)],
    "values": [i * 1.5 for i in range(60)],
    "nested": {"a": 1, "b": [True, False, None], "c": "y" * 100},
}
MIB = bytes([7]) * (1024 * 1024)



# Calls each of the 8 worker processes makes before it reports ready, on both sides:
# enough for V8 to have compiled the Deno worker's hot path.
WORKER_WARMUP = 3000

def timed(batch, step, duration):
    warm_until = time.perf_counter() + min(0.2, duration / 5)
    while time.perf_counter() < warm_until:
        step()
    ops = 0
    started = time.perf_counter()
    while time.perf_counter() - started < duration:
        step()
        ops += batch
    return {"ops": ops, "seconds": time.perf_counter() - started}


def hammer(counter, ready, go, results, duration):
    """Workload 6's client process, as in bench/deno_side.ts: ready, wait, then count."""
    for _ in range(WORKER_WARMUP):  # steady state: as many calls as the Deno workers warm up with
        counter.increment()
    ready.put(1)
    go.wait()
    calls = 0
    started = time.perf_counter()
    while time.perf_counter() - started < duration:
        counter.increment()
        calls += 1
    results.put((calls, time.perf_counter() - started))


def rss(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class RemoteBench(BenchManager):
    """The same registrations, reached with connect(): a server already running."""

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        return None


def main(workload, transport, duration, server=None):
    address = ("127.0.0.1", 0) if transport == "tcp" else None
    if server is not None:
        found = server["address"]
        address = (found["hostname"], found["port"]) if isinstance(found, dict) else found
    if workload in ("start", "start-fork"):
        mp.set_start_method("fork" if workload == "start-fork" else "spawn")
        started = time.perf_counter()
        manager = SyncManager(address=address)
        manager.start()
        manager.Queue().qsize()
        result = {"ms": (time.perf_counter() - started) * 1000}
        manager.shutdown()
        return result
    mp.set_start_method("spawn")
    manager_class = BenchManager if server is None else RemoteBench
    authkey = None if server is None else bytes.fromhex(server["authkey"])
    with manager_class(address=address, authkey=authkey) as manager:
        counter = manager.Counter()
        if workload == "sequential":
            return timed(1, counter.increment, duration)
        if workload == "inflight64":
            # CPython cannot have two calls in flight on one connection: 64 in a row.
            return timed(64, lambda: [counter.increment() for _ in range(64)], duration)
        if workload == "echo1k":
            return timed(1, lambda: counter.echo(KIB_OBJECT), duration)
        if workload == "echo1m":
            return timed(1, lambda: counter.echo(MIB), duration)
        if workload == "dict":
            d = manager.dict()
            state = {"i": 0}

            def step():
                state["i"] += 1
                key = f"k{state['i'] % 1000}"
                d[key] = state["i"]
                d[key]

            return timed(1, step, duration)
        if workload == "create":
            def step():
                proxy = manager.Counter()
                del proxy

            return timed(1, step, duration)
        if workload == "clients8":
            # Steady state: all 8 processes are up and connected before the clock starts.
            ready, go, results = manager.Queue(), manager.Event(), manager.Queue()
            args = (counter, ready, go, results, duration)
            workers = [mp.Process(target=hammer, args=args) for _ in range(8)]
            for worker in workers:
                worker.start()
            for _ in workers:
                ready.get()
            go.set()
            rate = 0.0
            for _ in workers:
                calls, seconds = results.get()
                rate += calls / seconds
            for worker in workers:
                worker.join()
            return {"ops": rate, "seconds": 1}
        if workload == "memory":
            pid = manager._process.pid
            manager._number_of_objects()
            idle = rss(pid)
            count = 5000  # CPython creates ~400 objects/s: 100,000 would take minutes
            held = [manager.Value("i", 0) for _ in range(count)]
            full = rss(pid)
            del held
            return {"idle": idle, "perObject": (full - idle) / count}
        raise SystemExit(f"unknown workload {workload}")


if __name__ == "__main__":
    server = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) / 1000, server)), flush=True)
