"""The Python docs' remote-manager server, unchanged but for the port (0:
any free one, printed) and an address on loopback. Deno clients reach it
with serializer: "pickle" (examples/python_interop/python_hosts.ts).

    python3 server.py AUTHKEY_HEX
"""
import queue
import sys
from multiprocessing.managers import BaseManager


class QueueManager(BaseManager):
    pass


shared = queue.Queue()
QueueManager.register("get_queue", callable=lambda: shared)
manager = QueueManager(address=("127.0.0.1", 0), authkey=bytes.fromhex(sys.argv[1]))
server = manager.get_server()
print(f"serving on {server.address[0]}:{server.address[1]}", flush=True)
server.serve_forever()
