"""CPython's own manager tests (Lib/test/_test_multiprocessing.py), run
against a Deno manager server instead of a CPython one.

    python3 cpython_suite.py ADDRESS_JSON AUTHKEY CLASS [CLASS ...]

Each CLASS (e.g. _TestContainers) runs in manager mode, with CPython's own
SyncManager proxies connected to the given server; child processes are
forked, as in test_multiprocessing_fork. Prints one JSON summary line.
"""
import gc
import json
import sys
import unittest
import multiprocessing
from multiprocessing.managers import SyncManager

import test._test_multiprocessing as suite

address = json.loads(sys.argv[1])
if isinstance(address, dict):
    address = (address["hostname"], address["port"])
authkey = sys.argv[2].encode()
# As multiprocessing.Manager() does: the process key is the manager's, so
# proxies unpickled here (nested in containers) authenticate with it.
multiprocessing.current_process().authkey = authkey
classes = sys.argv[3:]
leaks = {}


@classmethod
def connect_to_deno(cls):
    cls.manager = SyncManager(address=address, authkey=authkey)
    cls.manager.connect()


@classmethod
def check_and_disconnect(cls):
    for _ in range(50):
        if len(multiprocessing.active_children()) == 0:
            break
        multiprocessing.active_children()
        import time
        time.sleep(0.1)
    gc.collect()
    leaks[cls.__name__] = cls.manager._number_of_objects()
    cls.manager = None


suite.ManagerMixin.setUpClass = connect_to_deno
suite.ManagerMixin.tearDownClass = check_and_disconnect
multiprocessing.set_start_method("fork", force=True)

names = {"__name__": "cpython_suite"}
suite.install_tests_in_module_dict(names, "fork", only_type="manager")
loader = unittest.TestLoader()
tests = unittest.TestSuite()
for name in classes:
    tests.addTests(loader.loadTestsFromTestCase(names["WithManager" + name[1:]]))
result = unittest.TextTestRunner(stream=sys.stderr, verbosity=2).run(tests)
print(json.dumps({
    "run": result.testsRun,
    "failures": [[str(test), text[-1500:]] for test, text in result.failures],
    "errors": [[str(test), text[-1500:]] for test, text in result.errors],
    "skipped": [[str(test), reason] for test, reason in result.skipped],
    "leaks": leaks,
}), flush=True)
