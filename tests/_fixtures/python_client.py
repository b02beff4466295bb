"""A CPython client of a Deno manager server, as a Python user writes one.

    python3 python_client.py ADDRESS_JSON AUTHKEY SCENARIO

Prints one JSON object of what it saw; the Deno test asserts on it.
"""
import gc
import json
import os
import sys
import time
from multiprocessing.managers import BaseManager

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

manager = DenoManager(address=address, authkey=authkey)
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
elif scenario == "hold":
    # Creates a counter and waits to be killed, printing its id first.
    counter = manager.Counter(1)
    print(json.dumps({"id": counter._id}), flush=True)
    time.sleep(60)
print(json.dumps(seen), flush=True)
