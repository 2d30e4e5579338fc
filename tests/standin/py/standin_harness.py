"""Starts a mongo-standin on a free port for a test and stops it afterwards.

Usage:
    with StandIn(extra_args) as s:
        client = s.client()            # replicaSet=rs0
        s.restart()                    # SIGTERM + start on the same port and dbpath
        s.kill()                       # SIGKILL (then start() again)
The binary comes from the MONGO_STANDIN environment variable (set by ctest).
"""
import os
import signal
import subprocess
import sys
import time

import pymongo

BINARY = os.environ.get("MONGO_STANDIN", "mongo-standin")


def wait_for(predicate, timeout=10.0, what="condition"):
    """Polls predicate() until it returns a truthy value or the deadline passes.

    An exception from predicate() counts as "not yet" (e.g. while a client reconnects)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # retried until the deadline, then reported
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last error: {last!r})")
        time.sleep(0.01)


class StandIn:
    def __init__(self, *args, dbpath=None):
        self.args = list(args)
        self.dbpath = dbpath
        self.port = 0
        self.proc = None

    def start(self):
        cmd = [BINARY, "--port", str(self.port), "--log-level", "quiet"] + self.args
        if self.dbpath:
            cmd += ["--dbpath", self.dbpath]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.proc.kill()
            raise RuntimeError(f"mongo-standin did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            code = self.proc.wait(timeout=10)
            assert code == 0, f"mongo-standin exited with {code} on SIGTERM"
        self.proc = None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def uri(self, direct=False):
        if direct:
            return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        return f"mongodb://127.0.0.1:{self.port}/?replicaSet=rs0"

    def client(self, direct=False, **kw):
        kw.setdefault("serverSelectionTimeoutMS", 5000)
        return pymongo.MongoClient(self.uri(direct), **kw)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.stop()


def run_tests(tests):
    """Runs test functions by name (argv[1:] selects), prints one line each, exits non-zero on failure."""
    selected = sys.argv[1:] or list(tests)
    failed = 0
    for name in selected:
        try:
            tests[name]()
            print(f"PASS {name}")
        except Exception:  # report every failure, then exit non-zero
            import traceback
            traceback.print_exc()
            print(f"FAIL {name}")
            failed += 1
    print(f"{len(selected) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
