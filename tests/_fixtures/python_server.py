"""A CPython manager server, as the Python docs' remote-manager example
writes one, for Deno clients with serializer: "pickle".

    python3 python_server.py unix|tcp AUTHKEY [pickle|xmlrpclib] [docs|sync]

"docs" (the default) serves the Python docs' QueueManager; "sync" a plain
SyncManager, with CPython's standard types.

Prints its address as JSON, then serves until a client asks it to shut
down (or stdin closes: the test that started it ended).
"""
import json
import os
import queue
import sys
import tempfile
import threading
from multiprocessing.managers import BaseManager, SyncManager

shared_queue = queue.Queue()


class Store:
    def __init__(self, **initial):
        self.items = dict(initial)

    def put(self, key, value):
        self.items[key] = value

    def get(self, key):
        return self.items[key]

    def keys(self):
        return sorted(self.items)

    def child(self):
        return Store(parent=True)

    def kinds(self, *args, **kwds):
        return [type(a).__name__ for a in args] + sorted(kwds)


class QueueManager(BaseManager):
    pass


QueueManager.register("get_queue", callable=lambda: shared_queue)
QueueManager.register("Store", Store, method_to_typeid={"child": "StoreRef"})
QueueManager.register("StoreRef", None, exposed=("put", "get", "keys"), create_method=False)

transport, authkey = sys.argv[1], sys.argv[2].encode()
serializer = sys.argv[3] if len(sys.argv) > 3 else "pickle"
kind = sys.argv[4] if len(sys.argv) > 4 else "docs"
if transport == "tcp":
    address = ("127.0.0.1", 0)
else:
    address = os.path.join(tempfile.mkdtemp(prefix="mp-py-"), "manager.sock")
manager_class = SyncManager if kind == "sync" else QueueManager
server = manager_class(address=address, authkey=authkey, serializer=serializer).get_server()
shown = server.address
print(json.dumps({"hostname": shown[0], "port": shown[1]} if transport == "tcp" else shown), flush=True)


def remove_socket():
    if transport == "unix":
        for remove in (lambda: os.unlink(address), lambda: os.rmdir(os.path.dirname(address))):
            try:
                remove()
            except OSError:
                pass


def watch_stdin():
    sys.stdin.read()
    remove_socket()
    os._exit(0)


threading.Thread(target=watch_stdin, daemon=True).start()
try:
    server.serve_forever()
finally:
    remove_socket()
