#!/usr/bin/env python3
"""Convergence end to end: devices (`outpost sync`), outpost-server with the connector, and MongoDB (the
stand-in, driven with pymongo) end in the same state under the conflict rules of docs/sync-protocol.md,
also when MongoDB deletes what a device changes, when the server is killed, and when an Ack is lost.

Usage: convergence_e2e_test.py CASE   (run by ctest, one case each; see CASES at the bottom)
Environment: as mongo_e2e_test.py.
"""
import json
import os
import socket
import struct
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mongo_e2e_test import CLI, MODEL, SECRET, Env, by_text, wait_for  # noqa: E402


def task_state(env, device):
    """DEVICE's tasks as {text: (done, tags, owner name)}."""
    users = {u["id"]: u["name"] for u in env.objects(device, "User")}
    return {t["text"]: (t["done"], t["tags"], users.get(t["owner"]) if t["owner"] else None)
            for t in env.objects(device, "Task")}


def mongo_task_state(env):
    users = {u["_id"]: u.get("name") for u in env.db.User.find()}
    return {t.get("text"): (t.get("done"), t.get("tags"), users.get(t.get("owner")) if t.get("owner") else None)
            for t in env.db.Task.find()}


def converged(env, devices, what):
    """Syncs DEVICES until each of them, a device that joins now and MongoDB hold the same tasks and
    users; returns that state. Fails with the differences when they stay apart."""
    fresh = "fresh-%d" % converged.count
    converged.count += 1
    last = {}

    def same():
        for d in devices:
            env.sync(d)
        env.sync(fresh)
        states = {d: task_state(env, d) for d in devices + [fresh]}
        states["mongodb"] = mongo_task_state(env)
        users = {d: sorted(u["name"] for u in env.objects(d, "User")) for d in devices + [fresh]}
        users["mongodb"] = sorted(u.get("name") for u in env.db.User.find())
        last.clear()
        last.update(tasks=states, users=users)
        first = next(iter(states.values()))
        first_users = next(iter(users.values()))
        if all(s == first for s in states.values()) and all(u == first_users for u in users.values()):
            return [first]
        return None
    try:
        return wait_for(same, what, timeout=20)[0]
    except AssertionError:
        raise AssertionError("replicas disagree after %s:\n%s" % (what, json.dumps(last, indent=1, default=str)))


converged.count = 0


def case_offline_update_after_mongo_delete(env):
    # A delete beats a concurrent update wherever it comes from: here from MongoDB.
    env.start_server()
    env.put("a", "Task", {"text": "X", "done": False, "tags": ["t"]})
    env.sync("a")
    doc = wait_for(lambda: env.db.Task.find_one({"text": "X"}), "X in MongoDB")
    x = by_text(env.objects("a", "Task"), "X")
    env.cli("put", "--db", env.device("a"), "Task", json.dumps({"id": x["id"], "tags": ["offline"]}))
    env.db.Task.delete_one({"_id": doc["_id"]})
    env.eventually_on_device("b", "Task", lambda o: not o, "the delete on the server")
    env.sync("a")
    state = converged(env, ["a", "b"], "an offline update of an object MongoDB deleted")
    assert state == {}, state


def case_reference_to_mongo_deleted_object(env):
    # A reference made to an object that MongoDB deleted meanwhile is cleared everywhere.
    env.start_server()
    uid = env.put("a", "User", {"name": "U", "email": "u@x"})
    env.sync("a")
    user = wait_for(lambda: env.db.User.find_one({"name": "U"}), "U in MongoDB")
    env.db.User.delete_one({"_id": user["_id"]})
    env.eventually_on_device("b", "User", lambda o: not o, "the delete on the server")
    env.put("a", "Task", {"text": "T", "done": False, "owner": uid})
    env.sync("a")
    state = converged(env, ["a", "b"], "a reference to an object MongoDB deleted")
    assert state == {"T": (False, None, None)}, state
    # Cleared, not left pointing at nothing: in MongoDB and on the devices.
    assert env.db.Task.find_one({"text": "T"}).get("owner") is None, env.db.Task.find_one({"text": "T"})
    for d in ["a", "b", "fresh-0"]:
        assert by_text(env.objects(d, "Task"), "T")["owner"] is None, (d, env.objects(d, "Task"))


def case_device_remove_during_server_outage(env):
    # The server is killed; MongoDB deletes T; a device removes T's owner; the server restarts. No
    # outbound change to T may bring the deleted document back.
    env.start_server()
    uid = env.put("a", "User", {"name": "U", "email": "u@x"})
    env.put("a", "Task", {"text": "T", "done": False, "owner": uid, "tags": ["x"]})
    env.sync("a")
    converged(env, ["a"], "the first sync")
    doc = env.db.Task.find_one({"text": "T"})
    env.server.kill()
    env.server.wait()
    env.db.Task.delete_one({"_id": doc["_id"]})
    env.cli("remove", "--db", env.device("a"), "User", str(uid))
    env.start_server()
    env.sync("a")
    state = converged(env, ["a"], "a removal made during a server outage")
    assert state == {}, state
    assert env.db.Task.count_documents({}) == 0 and env.db.User.count_documents({}) == 0


class AckDroppingProxy:
    """A TCP proxy between one WebSocket client and the server. It passes the client's frames, but of the
    server's frames only the first (LoginResult): the server applies what the client pushes, and the
    client never hears of it (a connection lost before the Ack)."""

    def __init__(self, server_port):
        self.server_port = server_port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        server = socket.create_connection(("127.0.0.1", self.server_port))
        self.conns += [client, server]
        threading.Thread(target=self._pipe, args=(client, server, None), daemon=True).start()
        threading.Thread(target=self._pipe, args=(server, client, 1), daemon=True).start()

    @staticmethod
    def _frame_end(buf):
        """The length of the first complete WebSocket frame in BUF, or None."""
        if len(buf) < 2:
            return None
        n = buf[1] & 0x7F
        at = 2
        if n == 126:
            if len(buf) < 4:
                return None
            n, at = struct.unpack(">H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n, at = struct.unpack(">Q", buf[2:10])[0], 10
        if buf[1] & 0x80:
            at += 4  # masking key
        return at + n if len(buf) >= at + n else None

    def _pipe(self, src, dst, frames_to_pass):
        buf = b""
        header_done = False
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if frames_to_pass is None:
                    dst.sendall(data)
                    continue
                buf += data
                if not header_done:  # the HTTP 101 answer passes whole
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        continue
                    dst.sendall(buf[:end + 4])
                    buf, header_done = buf[end + 4:], True
                while frames_to_pass > 0:
                    end = self._frame_end(buf)
                    if end is None:
                        break
                    dst.sendall(buf[:end])
                    buf, frames_to_pass = buf[end:], frames_to_pass - 1
                if frames_to_pass == 0:
                    buf = b""  # everything after it is lost
        except OSError:
            pass

    def close(self):
        for s in [self.listener] + self.conns:
            try:
                s.close()
            except OSError:
                pass


def case_lost_ack_keeps_the_server_value(env):
    # D0 and D2 change one property of one task offline, D0 first. The server applies D2's push, but
    # D2 never hears the Ack. D2 must end with the value everyone else has: its own.
    env.start_server()
    env.put("d0", "Task", {"text": "T", "done": False, "tags": ["start"]})
    env.sync("d0")
    env.sync("d2")
    t0 = by_text(env.objects("d0", "Task"), "T")
    t2 = by_text(env.objects("d2", "Task"), "T")
    env.cli("put", "--db", env.device("d0"), "Task", json.dumps({"id": t0["id"], "tags": ["from d0"]}))
    env.cli("put", "--db", env.device("d2"), "Task", json.dumps({"id": t2["id"], "tags": ["from d2"]}))
    env.sync("d0")
    proxy = AckDroppingProxy(int(env.url.rsplit(":", 1)[1]))
    try:
        r = subprocess.run([CLI, "sync", "--db", env.device("d2"), "--model", MODEL,
                            "--url", "ws://127.0.0.1:%d" % proxy.port, "--secret", SECRET,
                            "--until-synced", "--timeout", "3"], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, "the sync through the proxy cannot finish: %r" % r.stdout
        # The server applied D2's push: MongoDB gets it.
        wait_for(lambda: env.db.Task.find_one({"text": "T", "tags": ["from d2"]}), "D2's push in MongoDB")
    finally:
        proxy.close()
    state = converged(env, ["d0", "d2"], "a push applied without its Ack")
    assert state == {"T": (False, ["from d2"], None)}, state


CASES = {
    "offline_update_after_mongo_delete": case_offline_update_after_mongo_delete,
    "reference_to_mongo_deleted_object": case_reference_to_mongo_deleted_object,
    "device_remove_during_server_outage": case_device_remove_during_server_outage,
    "lost_ack_keeps_the_server_value": case_lost_ack_keeps_the_server_value,
}

if __name__ == "__main__":
    env = Env()
    try:
        CASES[sys.argv[1]](env)
        print("PASS", sys.argv[1])
    finally:
        env.close()
