#!/usr/bin/env python3
"""End to end: MongoDB (the stand-in, or OUTPOST_TEST_MONGO_URI) <-> outpost-server with the connector
<-> devices (`outpost sync`). MongoDB is driven with pymongo, as a user of it would.

Usage: mongo_e2e_test.py CASE   (run by ctest, one case each; see CASES at the bottom)
Environment: OUTPOST_SERVER, OUTPOST_CLI, MONGO_STANDIN (binaries), OUTPOST_MODEL (examples/tasks model).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pymongo
from bson import ObjectId

SERVER = os.environ["OUTPOST_SERVER"]
CLI = os.environ["OUTPOST_CLI"]
STANDIN = os.environ["MONGO_STANDIN"]
MODEL = os.environ["OUTPOST_MODEL"]
SECRET = "e2e-secret"
DEADLINE = 30.0


def wait_for(cond, what, timeout=DEADLINE):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def listening_port(proc, log_path):
    def port():
        if proc.poll() is not None:
            raise AssertionError(open(log_path).read())
        m = re.search(r"listening on \S*:(\d+)", open(log_path).read())
        return m and int(m.group(1))
    return wait_for(port, "listening on " + log_path)


class Env:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="outpost-e2e-")
        self.procs = []
        self.db_name = "e2e_" + uuid.uuid4().hex[:8]
        uri = os.environ.get("OUTPOST_TEST_MONGO_URI")
        if uri:
            self.mongo_url = uri
        else:
            log = os.path.join(self.dir, "standin.log")
            p = subprocess.Popen([STANDIN, "--port", "0"], stdout=open(log, "w"), stderr=subprocess.STDOUT)
            self.procs.append(p)
            self.mongo_url = "mongodb://127.0.0.1:%d/?replicaSet=rs0" % listening_port(p, log)
        self.mongo = pymongo.MongoClient(self.mongo_url, serverSelectionTimeoutMS=5000)
        self.db = self.mongo[self.db_name]
        self.server = None
        self.url = None

    def start_server(self, *extra, db="server"):
        out = os.path.join(self.dir, db + ".out")
        err = open(os.path.join(self.dir, "server.log"), "a")
        bind = self.url or "ws://127.0.0.1:0"
        self.server = subprocess.Popen(
            [SERVER, "--model", MODEL, "--bind", bind, "--db-directory", os.path.join(self.dir, db),
             "--auth-shared-secret", SECRET, "--mongo-url", self.mongo_url, "--mongo-db", self.db_name,
             "--admin-bind", "off", *extra],
            stdout=open(out, "w"), stderr=err)
        self.procs.append(self.server)
        self.url = "ws://127.0.0.1:%d" % listening_port(self.server, out)

    def cli(self, *args, check=True):
        r = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=DEADLINE + 10)
        if check and r.returncode != 0:
            raise AssertionError("outpost %s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr))
        return r

    def device(self, name):
        return os.path.join(self.dir, name)

    def sync(self, device):
        self.cli("sync", "--db", self.device(device), "--model", MODEL, "--url", self.url,
                 "--secret", SECRET, "--until-synced", "--timeout", str(int(DEADLINE)))

    def objects(self, device, entity):
        out = self.cli("list", "--db", self.device(device), entity).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def put(self, device, entity, obj):
        return int(self.cli("put", "--db", self.device(device), "--model", MODEL, entity, json.dumps(obj)).stdout)

    def eventually_on_device(self, device, entity, cond, what):
        """Syncs DEVICE until COND(objects) holds: MongoDB -> server is asynchronous."""
        def check():
            self.sync(device)
            objs = self.objects(device, entity)
            return [objs] if cond(objs) else None
        return wait_for(check, what)[0]

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if os.environ.get("OUTPOST_TEST_MONGO_URI"):
            self.mongo.drop_database(self.db_name)  # a shared real MongoDB: leave nothing behind
        shutil.rmtree(self.dir, ignore_errors=True)


def by_text(objs, text):
    found = [o for o in objs if o.get("text") == text]
    assert len(found) <= 1, "duplicate objects: %r" % found
    return found[0] if found else None


def case_device_put_becomes_document(env):
    env.start_server()
    uid = env.put("a", "User", {"name": "Ada", "email": "ada@example.org"})
    env.put("a", "Task", {"text": "Write docs", "done": False, "tags": ["docs", "e2e"], "owner": uid,
                          "dateCreated": 1700000000123})
    env.sync("a")
    doc = wait_for(lambda: env.db.Task.find_one({"text": "Write docs"}), "the task in MongoDB")
    user = wait_for(lambda: env.db.User.find_one({"name": "Ada"}), "the user in MongoDB")
    assert isinstance(doc["_id"], ObjectId), doc
    assert doc["done"] is False and doc["tags"] == ["docs", "e2e"], doc
    assert doc["owner"] == user["_id"], (doc, user)            # to-one: the target's _id
    assert doc["dateCreated"].year == 2023, doc                # date <-> Date
    assert "id" not in doc, "local ids never reach MongoDB: %r" % doc
    # An update from the device changes only that field; a field MongoDB users added survives.
    env.db.Task.update_one({"_id": doc["_id"]}, {"$set": {"notInModel": 42}})
    objs = env.objects("a", "Task")
    t = by_text(objs, "Write docs")
    env.cli("put", "--db", env.device("a"), "Task", json.dumps({"id": t["id"], "done": True}))
    env.sync("a")
    wait_for(lambda: env.db.Task.find_one({"_id": doc["_id"], "done": True}), "done=true in MongoDB")
    after = env.db.Task.find_one({"_id": doc["_id"]})
    assert after["notInModel"] == 42 and after["text"] == "Write docs", after
    # A device remove deletes the document.
    env.cli("remove", "--db", env.device("a"), "Task", str(t["id"]))
    env.sync("a")
    wait_for(lambda: env.db.Task.count_documents({"_id": doc["_id"]}) == 0, "the delete in MongoDB")
    assert env.db.Task.count_documents({}) == 0


def case_mongo_writes_reach_devices(env):
    env.start_server()
    env.sync("b")  # a device that is up to date before MongoDB changes
    user_id = env.db.User.insert_one({"name": "Mo", "email": "mo@example.org", "extra": "kept"}).inserted_id
    task_id = env.db.Task.insert_one({"text": "From Mongo", "done": False, "owner": user_id,
                                      "tags": ["m"]}).inserted_id
    objs = env.eventually_on_device("b", "Task", lambda o: by_text(o, "From Mongo"), "the insert on device b")
    task = by_text(objs, "From Mongo")
    users = env.objects("b", "User")
    assert len(users) == 1 and users[0]["name"] == "Mo", users
    assert task["owner"] == users[0]["id"] and task["tags"] == ["m"] and task["done"] is False, task
    # update
    env.db.Task.update_one({"_id": task_id}, {"$set": {"done": True}, "$push": {"tags": "n"}})
    env.eventually_on_device("b", "Task", lambda o: by_text(o, "From Mongo")["done"] is True, "the update")
    assert by_text(env.objects("b", "Task"), "From Mongo")["tags"] == ["m", "n"]
    # replace: fields the replacement lacks read as null
    env.db.Task.replace_one({"_id": task_id}, {"text": "Replaced", "done": False})
    objs = env.eventually_on_device("b", "Task", lambda o: by_text(o, "Replaced"), "the replace")
    r = by_text(objs, "Replaced")
    assert r["id"] == task["id"] and r["owner"] is None, r
    # delete
    env.db.Task.delete_one({"_id": task_id})
    env.eventually_on_device("b", "Task", lambda o: not o, "the delete")
    # a device that joins later gets MongoDB's state by full sync
    env.sync("c")
    assert [u["name"] for u in env.objects("c", "User")] == ["Mo"]


def case_mongo_transaction_arrives_as_one(env):
    env.start_server()
    env.sync("w")
    watch_out = os.path.join(env.dir, "watch.out")
    watch = subprocess.Popen([CLI, "sync", "--db", env.device("w"), "--url", env.url, "--secret", SECRET,
                              "--watch"], stdout=open(watch_out, "w"), stderr=subprocess.DEVNULL)
    env.procs.append(watch)
    # Whether the watcher is logged in before the commit or catches up after it, the transaction is one
    # server history record and arrives as one incoming transaction.
    with env.mongo.start_session() as s:
        with s.start_transaction():
            env.db.Task.insert_one({"text": "t1", "done": False}, session=s)
            env.db.Task.insert_one({"text": "t2", "done": False}, session=s)
            env.db.User.insert_one({"name": "u1", "email": "u1@x"}, session=s)
    lines = wait_for(lambda: [json.loads(l) for l in open(watch_out).read().splitlines()
                              if l.startswith("{")] if len(open(watch_out).read().splitlines()) >= 3 else None,
                     "three watch lines")
    assert len(lines) == 3, lines
    assert len({l["txn"] for l in lines}) == 1, "one transaction on the device: %r" % lines
    assert sorted(l["entity"] for l in lines) == ["Task", "Task", "User"], lines
    watch.send_signal(signal.SIGTERM)
    assert watch.wait(timeout=10) == 0


def case_initial_import_and_restart(env):
    # Documents in MongoDB before the server ever ran: --mongo-initial-import brings them in.
    env.db.User.insert_many([{"name": "n%d" % i, "email": "e%d@x" % i} for i in range(500)])
    env.start_server("--mongo-initial-import")
    log = open(os.path.join(env.dir, "server.log")).read()
    assert "MongoDB import started (requested)" in log, log
    # Each collection with its own counts, then the whole.
    assert re.search(r"MongoDB import: User \(\d+/\d+\) read: 500 documents read; objects 500 added", log), log
    assert re.search(r"MongoDB import: Task \(\d+/\d+\) read: 0 documents read; objects 0 added", log), log
    assert re.search(r"MongoDB import finished \(requested\) in .*: \d+ collections, 500 documents read; "
                     r"objects 500 added, 0 updated, 0 removed; 0 dead letters", log), log
    env.sync("d")
    assert len(env.objects("d", "User")) == 500
    # kill -9 and restart on the same data: nothing repeats, changes made meanwhile arrive.
    env.server.kill()
    env.server.wait()
    env.db.User.insert_one({"name": "while down", "email": "wd@x"})
    env.start_server()
    objs = env.eventually_on_device("d", "User", lambda o: any(u["name"] == "while down" for u in o),
                                    "the insert made while the server was down")
    assert len(objs) == 501, len(objs)
    assert env.db.User.count_documents({}) == 501


def case_two_servers_share_one_database(env):
    # Server A and server B on one MongoDB database: MongoDB carries changes between them.
    env.start_server()
    url_a, server_a = env.url, env.server
    env.url = None
    env.start_server(db="server-b")
    url_b = env.url
    assert url_a != url_b
    env.url = url_a
    env.put("a", "Task", {"text": "via A", "done": False})
    env.sync("a")
    env.url = url_b
    objs = env.eventually_on_device("b", "Task", lambda o: by_text(o, "via A"), "A's task on B's device")
    t = by_text(objs, "via A")
    env.cli("put", "--db", env.device("b"), "Task", json.dumps({"id": t["id"], "done": True}))
    env.sync("b")
    env.url = url_a
    env.eventually_on_device("a", "Task", lambda o: by_text(o, "via A")["done"] is True, "B's edit on A's device")
    # Each server skipped only its own writes: exactly one document, no duplicates anywhere.
    assert env.db.Task.count_documents({}) == 1
    assert len(env.objects("a", "Task")) == 1 and len(env.objects("b", "Task")) == 1
    assert server_a.poll() is None


def case_standalone_mongodb_refused(env):
    # A standalone mongod (always a stand-in here, whatever OUTPOST_TEST_MONGO_URI says): the server
    # refuses to start, says what to do, and listens nowhere.
    log = os.path.join(env.dir, "standalone.log")
    p = subprocess.Popen([STANDIN, "--port", "0", "--standalone"], stdout=open(log, "w"), stderr=subprocess.STDOUT)
    env.procs.append(p)
    url = "mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=3000" % listening_port(p, log)
    r = subprocess.run([SERVER, "--model", MODEL, "--bind", "ws://127.0.0.1:0", "--db-directory",
                        os.path.join(env.dir, "server"), "--auth-shared-secret", SECRET, "--mongo-url", url,
                        "--mongo-db", env.db_name, "--admin-bind", "off"], capture_output=True, text=True,
                       timeout=DEADLINE)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "is a standalone server" in r.stderr and "--replSet" in r.stderr, r.stderr
    assert "listening on" not in r.stdout, r.stdout


def case_sync_rules_refused_write_never_reaches_mongo(env):
    """Sync rules (examples/tasks/tasks-sync-rules.json) with JWT devices: alice's tasks reach MongoDB, a task she
    shares reaches bob's device, and bob's writes outside his write scope never reach MongoDB."""
    key = os.path.join(env.dir, "key.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", key], check=True, capture_output=True, timeout=DEADLINE)
    jwks = os.path.join(env.dir, "jwks.json")
    with open(jwks, "w") as f:
        f.write(env.cli("token", "--key", key, "--kid", "k1", "--print-jwks").stdout)
    tokens = {}
    for user in ("alice", "bob"):
        tokens[user] = os.path.join(env.dir, user + ".token")
        with open(tokens[user], "w") as f:
            f.write(env.cli("token", "--key", key, "--kid", "k1", "--sub", user).stdout)
    env.start_server("--jwt-jwks", jwks, "--sync-rules", os.path.join(os.path.dirname(MODEL), "tasks-sync-rules.json"))

    def sync(user):
        env.cli("sync", "--db", env.device(user), "--model", MODEL, "--url", env.url, "--token-file",
                tokens[user], "--until-synced", "--timeout", str(int(DEADLINE)))

    env.put("alice", "Task", {"text": "alice private", "ownerId": "alice"})
    shared = env.put("alice", "Task", {"text": "alice shared", "ownerId": "alice", "sharedWith": ["bob"]})
    sync("alice")
    sync("bob")
    assert [o["text"] for o in env.objects("bob", "Task")] == ["alice shared"], env.objects("bob", "Task")
    doc = wait_for(lambda: env.db.Task.find_one({"text": "alice shared"}), "alice's shared task in MongoDB")
    assert doc["ownerId"] == "alice" and doc["sharedWith"] == ["bob"], doc
    wait_for(lambda: env.db.Task.find_one({"text": "alice private"}), "alice's private task in MongoDB")

    # Refused: bob takes himself out of sharedWith while rewriting the text, and forges a task of alice's.
    bob_copy = by_text(env.objects("bob", "Task"), "alice shared")["id"]
    env.put("bob", "Task", {"id": bob_copy, "text": "rewritten by bob", "sharedWith": []})
    env.put("bob", "Task", {"text": "forged by bob", "ownerId": "alice"})
    # Allowed, and pushed after the refused ones: once it is in MongoDB, the refused ones would be too.
    env.put("bob", "Task", {"text": "bob's own", "ownerId": "bob"})
    sync("bob")
    wait_for(lambda: env.db.Task.find_one({"text": "bob's own"}), "bob's own task in MongoDB")
    assert env.db.Task.find_one({"text": {"$in": ["rewritten by bob", "forged by bob"]}}) is None, \
        list(env.db.Task.find())
    doc = env.db.Task.find_one({"text": "alice shared"})
    assert doc is not None and doc["sharedWith"] == ["bob"], doc
    assert env.db.Task.count_documents({}) == 3, list(env.db.Task.find())
    # Bob's device has the server's state back: the shared task as alice left it, no forged task.
    bob = env.objects("bob", "Task")
    assert sorted(o["text"] for o in bob) == ["alice shared", "bob's own"], bob
    assert by_text(bob, "alice shared")["sharedWith"] == ["bob"], bob

    # Alice unshares it: it leaves bob's device; MongoDB and alice keep it.
    env.put("alice", "Task", {"id": shared, "sharedWith": []})
    sync("alice")
    def unshared():
        doc = env.db.Task.find_one({"text": "alice shared"})
        return doc is not None and "bob" not in (doc.get("sharedWith") or [])
    wait_for(unshared, "the unshared task in MongoDB")
    sync("bob")
    assert [o["text"] for o in env.objects("bob", "Task")] == ["bob's own"], env.objects("bob", "Task")
    assert sorted(o["text"] for o in env.objects("alice", "Task")) == ["alice private", "alice shared"]
    assert env.db.Task.count_documents({}) == 3, list(env.db.Task.find())


CASES = {
    "two_servers_share_one_database": case_two_servers_share_one_database,
    "device_put_becomes_document": case_device_put_becomes_document,
    "mongo_writes_reach_devices": case_mongo_writes_reach_devices,
    "mongo_transaction_arrives_as_one": case_mongo_transaction_arrives_as_one,
    "initial_import_and_restart": case_initial_import_and_restart,
    "standalone_mongodb_refused": case_standalone_mongodb_refused,
    "sync_rules_refused_write_never_reaches_mongo": case_sync_rules_refused_write_never_reaches_mongo,
}

if __name__ == "__main__":
    env = Env()
    try:
        CASES[sys.argv[1]](env)
        print("PASS", sys.argv[1])
    finally:
        env.close()
