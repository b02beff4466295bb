"""A CPython worker of examples/python_interop/deno_hosts.ts: plain
multiprocessing.managers code, as for a CPython server.

    python3 worker.py ADDRESS_JSON AUTHKEY_HEX NAME
"""
import json
import sys
from multiprocessing.managers import DictProxy, SyncManager

address, authkey, name = json.loads(sys.argv[1]), bytes.fromhex(sys.argv[2]), sys.argv[3]
if isinstance(address, dict):
    address = (address["hostname"], address["port"])

SyncManager.register("get_jobs")
SyncManager.register("get_results", proxytype=DictProxy)
manager = SyncManager(address=address, authkey=authkey)
manager.connect()
jobs, results = manager.get_jobs(), manager.get_results()
count = 0
for job in iter(jobs.get, None):
    results[job] = job * job
    jobs.task_done()
    count += 1
jobs.task_done()  # the stop sign
print(f"{name} squared {count} numbers", flush=True)
