"""A CPython client of a Deno manager server, as a Python user writes one.

    python3 python_client.py ADDRESS_JSON AUTHKEY SCENARIO

Prints one JSON object of what it saw; the Deno test asserts on it.
"""
import gc
import json
import os
import sys
import time
import queue
import threading
from multiprocessing.managers import BaseManager, SyncManager

address = json.loads(sys.argv[1])
if isinstance(address, dict):
    address = (address["hostname"], address["port"])
authkey = sys.argv[2].encode()
scenario = sys.argv[3]


class DenoManager(BaseManager):
    pass


DenoManager.register("Counter")
DenoManager.register("Node")
DenoManager.register("Nope")
SyncManager.register("get_lock")
SyncManager.register("get_queue")

manager = (SyncManager if scenario.startswith("sync") else DenoManager)(
    address=address, authkey=authkey,
    serializer="xmlrpclib" if scenario.startswith("xmlrpc") else "pickle",
)
manager.connect()
seen = {}


def error_of(fn):
    try:
        fn()
    except Exception as error:  # noqa: BLE001 - the test reads the class and text
        return [type(error).__name__, str(error)]
    return None


if scenario == "counter":
    baseline = manager._number_of_objects()
    counter = manager.Counter(5)
    seen["created"] = manager._number_of_objects() - baseline
    seen["increment"] = [counter.increment(), counter.increment(10), counter.get()]
    seen["keywords"] = counter.argumentsOf(1, "two", flag=True, n=None)
    seen["echo"] = repr(counter.echo({"a": [1, 2.5, None, b"x", (1, 2)], "n": 2**70, "s": {3}}))
    seen["error"] = error_of(lambda: counter.fail("it broke"))
    try:
        counter.fail("with notes")
    except ValueError as error:
        seen["notes"] = getattr(error, "__notes__", None)
    seen["unserializable"] = error_of(counter._getvalue)
    seen["not_exposed"] = error_of(lambda: counter._callmethod("_secret"))
    seen["missing_method"] = error_of(lambda: counter._callmethod("nothing"))
    seen["unknown_type"] = error_of(lambda: manager.Nope())
    seen["str"] = str(counter)
    second = manager.Counter()
    seen["second"] = second.get()
    del counter, second
    gc.collect()
    seen["released"] = manager._number_of_objects() - baseline
elif scenario == "tree":
    baseline = manager._number_of_objects()
    root = manager.Node("top")
    child = root.child("a")
    seen["child"] = [type(child).__name__, child.path(), root.size()]
    seen["grandchild"] = child.child("b").path()
    seen["missing"] = error_of(lambda: root.child("missing"))
    del root, child
    seen["released"] = manager._number_of_objects() - baseline
elif scenario == "sync":
    baseline = manager._number_of_objects()
    d = manager.dict({"a": 1}, b=2)
    d["k"] = [1, 2]
    seen["dict"] = [len(d), d["k"], "k" in d, "zz" in d, d.get("zz", "dflt"), sorted(d.keys()),
                    sorted(d.items()), error_of(lambda: d["missing"]), d.pop("a"), d.copy()]
    seen["dict_iter"] = sorted(iter(d))
    del d["b"]
    seen["dict_after_del"] = d.copy()
    lst = manager.list([3, 1, 2])
    lst += [5]
    lst.append(4)
    lst[0] = 30
    seen["list"] = [len(lst), lst[1:3], lst[-1], lst[:], 2 in lst, lst.index(2), lst.count(1),
                    error_of(lambda: lst[99]), error_of(lambda: lst.remove(77)), list(lst)]
    lst.sort(reverse=True)
    del lst[0]
    seen["list_sorted"] = lst[:]
    lst *= 2
    seen["list_times"] = len(lst)
    q = manager.Queue(2)
    q.put("x")
    q.put_nowait("y")
    seen["queue"] = [q.qsize(), q.full(), error_of(lambda: q.put("z", timeout=0.05)), q.get(),
                     q.get(timeout=0.5), error_of(lambda: q.get(timeout=0.05)), q.empty(),
                     error_of(q.get_nowait)]
    try:
        q.get(block=False)
    except queue.Empty:
        seen["queue_empty_is_queue_Empty"] = True
    jq = manager.JoinableQueue()
    jq.put(1)
    jq.get()
    jq.task_done()
    jq.join()
    lock = manager.Lock()
    seen["lock"] = [lock.acquire(), lock.acquire(timeout=0.05), lock.acquire(False)]
    lock.release()
    with lock:
        seen["lock_with"] = lock.acquire(False)
    seen["lock_after"] = lock.acquire(False)
    lock.release()
    rlock = manager.RLock()
    seen["rlock"] = [rlock.acquire(), rlock.acquire()]
    rlock.release()
    rlock.release()
    sem = manager.Semaphore(2)
    seen["semaphore"] = [sem.acquire(), sem.acquire(), sem.acquire(timeout=0.05)]
    sem.release()
    ev = manager.Event()
    seen["event"] = [ev.is_set(), ev.wait(0.05)]
    ev.set()
    seen["event_set"] = [ev.is_set(), ev.wait(1)]
    ns = manager.Namespace(x=1)
    ns.y = "two"
    seen["namespace"] = [ns.x, ns.y, error_of(lambda: ns.missing)]
    del ns.x
    seen["namespace_del"] = error_of(lambda: ns.x)
    v = manager.Value("i", 7)
    v.value += 1
    seen["value"] = v.value
    arr = manager.Array("i", [1, 2, 3])
    arr[0] = 10
    seen["array"] = [len(arr), arr[0], list(arr[1:]), list(arr)]  # a slice is an array.array, as from CPython
    barrier = manager.Barrier(1)
    seen["barrier"] = [barrier.parties, barrier.n_waiting, barrier.broken, barrier.wait(timeout=1)]
    cond = manager.Condition()
    with cond:
        seen["condition"] = [cond.wait(timeout=0.05), cond.notify(), cond.notify_all()]
    del d, lst, q, jq, lock, rlock, sem, ev, ns, v, arr, barrier, cond
    gc.collect()
    seen["released"] = manager._number_of_objects() - baseline
elif scenario == "sync_hold_lock":
    # Takes the shared lock, says so, and waits to be killed.
    lock = manager.get_lock()
    seen["acquired"] = lock.acquire()
    print(json.dumps(seen), flush=True)
    time.sleep(60)
elif scenario == "xmlrpc":
    baseline = manager._number_of_objects()
    counter = manager.Counter(5)
    seen["increment"] = [counter.increment(), counter.increment(10), counter.get()]
    seen["keywords"] = counter.argumentsOf(1, "two", flag=True)
    seen["echo"] = counter.echo({"a": [1, 2.5, None, True, "é<&>"], "t": (1, 2)})
    big = manager.Counter(2**30)
    seen["big"] = big.increment(2**30)  # 2**31: beyond XML-RPC's int, sent back as <i8>
    del big
    seen["bytes"] = counter.echo(b"\x00\xff").data.hex()
    seen["error"] = error_of(lambda: counter.fail("it broke"))
    del counter
    gc.collect()
    seen["released"] = manager._number_of_objects() - baseline
elif scenario == "hold":
    # Creates a counter and waits to be killed, printing its id first.
    counter = manager.Counter(1)
    print(json.dumps({"id": counter._id}), flush=True)
    time.sleep(60)
print(json.dumps(seen), flush=True)
