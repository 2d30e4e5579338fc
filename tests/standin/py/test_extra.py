"""Behaviour beyond the 18 scenarios: catalog commands, fail points, cluster streams,
startAtOperationTime, findAndModify, aggregation, projections, time limits."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bson.son import SON  # noqa: E402
from pymongo import ReturnDocument  # noqa: E402
from pymongo.errors import OperationFailure  # noqa: E402

from standin_harness import StandIn, run_tests, wait_for  # noqa: E402


def expect_code(fn, code):
    try:
        fn()
    except OperationFailure as e:
        assert e.code == code, (code, e.code, e.details)
        return e
    raise AssertionError(f"expected error {code}")


def x01_catalog():
    with StandIn() as s:
        c = s.client()
        db = c.cat
        db.create_collection("a")
        expect_code(lambda: db.command("create", "a"), 48)
        expect_code(lambda: db.command("drop", "missing"), 26)
        expect_code(lambda: db.command("listIndexes", "missing"), 26)
        db.b.insert_one({"x": 1})
        assert sorted(db.list_collection_names()) == ["a", "b"]
        infos = list(db.list_collections())
        for info in infos:
            assert info["type"] == "collection" and info["info"]["readOnly"] is False
            assert info["idIndex"]["name"] == "_id_"
        assert [i["name"] for i in db.list_collections(filter={"name": "b"})] == ["b"]
        db.b.create_index([("x", 1)], name="x_1")
        expect_code(lambda: db.command("createIndexes", "b", indexes=[{"key": {"y": 1}, "name": "x_1"}]), 86)
        expect_code(lambda: db.command("createIndexes", "b", indexes=[{"key": {"x": 1}, "name": "other"}]), 85)
        assert sorted(i["name"] for i in db.b.list_indexes()) == ["_id_", "x_1"]
        db.b.drop_index("x_1")
        assert [i["name"] for i in db.b.list_indexes()] == ["_id_"]
        assert "cat" in c.list_database_names()
        c.drop_database("cat")
        assert "cat" not in c.list_database_names()


def x02_fail_points():
    with StandIn("--enable-test-commands") as s:
        c = s.client(retryWrites=False)
        c.admin.command("configureFailPoint", "failCommand", mode="alwaysOn",
                        data={"failCommands": ["insert"], "errorCode": 2, "errorLabels": ["SomeLabel"]})
        for _ in range(2):
            e = expect_code(lambda: c.t.c.insert_one({}), 2)
            assert e.has_error_label("SomeLabel")
        c.admin.command("configureFailPoint", "failCommand", mode="off")
        c.t.c.insert_one({"_id": 1})
        # times: 1 with a retryable error: the driver retries once, one document lands.
        c2 = s.client()
        c2.admin.command("configureFailPoint", "failCommand", mode={"times": 1},
                         data={"failCommands": ["insert"], "closeConnection": True})
        c2.t.c.insert_one({"_id": 2})
        assert c2.t.c.count_documents({}) == 2
        # Without errorLabels the server adds the labels it would for a real error of that code:
        # RetryableWriteError on a retryable write (the driver retries it) ...
        c2.admin.command("configureFailPoint", "failCommand", mode={"times": 1},
                         data={"failCommands": ["insert"], "errorCode": 91})
        c2.t.c.insert_one({"_id": 3})
        assert c2.t.c.count_documents({}) == 3
        # ... ResumableChangeStreamError on an error raised inside a change stream's getMore (the
        # driver resumes) ...
        with c2.t.c.watch(max_await_time_ms=50) as stream:
            c2.admin.command("configureFailPoint", "failGetMoreAfterCursorCheckout", mode={"times": 1},
                             data={"errorCode": 11602})
            c2.t.c.insert_one({"_id": 4})
            assert stream.next()["documentKey"] == {"_id": 4}
        # ... but not on a failCommand error of a getMore (as mongod: the driver does not resume;
        # 234 RetryChangeStream is resumable but not a retryable read) ...
        with c2.t.c.watch(max_await_time_ms=50) as stream:
            c2.admin.command("configureFailPoint", "failCommand", mode={"times": 1},
                             data={"failCommands": ["getMore"], "errorCode": 234})
            e = expect_code(lambda: stream.try_next(), 234)
            assert not e.has_error_label("ResumableChangeStreamError"), e.details
        # ... and NonResumableChangeStreamError on 280.
        c2.admin.command("configureFailPoint", "failCommand", mode={"times": 1},
                         data={"failCommands": ["aggregate"], "errorCode": 280})
        e = expect_code(lambda: c2.t.c.watch(), 280)
        assert e.has_error_label("NonResumableChangeStreamError"), e.details
        assert e.details["codeName"] == "ChangeStreamFatalError", e.details
        # An explicit empty list means no labels.
        c2.admin.command("configureFailPoint", "failCommand", mode={"times": 1},
                         data={"failCommands": ["insert"], "errorCode": 91, "errorLabels": []})
        try:
            c2.t.c.insert_one({"_id": 5})
            raise AssertionError("expected the insert to fail without a retry")
        except Exception as e:
            assert (getattr(e, "details", None) or {}).get("code") == 91, e
        assert c2.t.c.count_documents({"_id": 5}) == 0
    with StandIn() as s:
        expect_code(lambda: s.client().admin.command("configureFailPoint", "failCommand", mode="off"), 59)


def x03_cluster_stream_and_start_at():
    with StandIn() as s:
        c = s.client()
        with c.watch() as stream:
            c.one.a.insert_one({"_id": 1})
            c.two.b.insert_one({"_id": 2})
            evs = [stream.next() for _ in range(2)]
        assert [e["ns"] for e in evs] == [{"db": "one", "coll": "a"}, {"db": "two", "coll": "b"}]
        op_time = evs[1]["clusterTime"]
        c.one.a.insert_one({"_id": 3})
        with c.one.watch(start_at_operation_time=op_time) as stream:
            # Database stream on "one": the event at op_time is on "two", so the next is _id 3.
            assert stream.next()["documentKey"] == {"_id": 3}
        expect_code(lambda: c.admin.command("aggregate", 1, pipeline=[{"$changeStream": {}}], cursor={}), 73)
        expect_code(lambda: c.one.command("aggregate", "a", pipeline=[{"$changeStream": {"resumeAfter": {"_data": "zz"}}}], cursor={}), 40647)
        expect_code(lambda: c.one.command("aggregate", "a", pipeline=[{"$changeStream": {
            "resumeAfter": evs[0]["_id"], "startAtOperationTime": op_time}}], cursor={}), 40674)


def x04_find_and_modify_and_aggregate():
    with StandIn() as s:
        c = s.client()
        coll = c.t.fam
        coll.insert_many([{"_id": i, "g": i % 3, "v": i} for i in range(10)])
        doc = coll.find_one_and_update({"g": 1}, {"$inc": {"v": 100}}, sort=[("v", -1)],
                                       return_document=ReturnDocument.AFTER)
        assert doc == {"_id": 7, "g": 1, "v": 107}
        old = coll.find_one_and_delete({"_id": 0})
        assert old == {"_id": 0, "g": 0, "v": 0}
        up = coll.find_one_and_update({"_id": 50}, {"$set": {"g": 9}}, upsert=True,
                                      return_document=ReturnDocument.AFTER)
        assert up == {"_id": 50, "g": 9}
        rep = coll.find_one_and_replace({"_id": 50}, {"r": 1}, projection={"_id": 0})
        assert rep == {"g": 9}
        groups = list(coll.aggregate([{"$match": {"g": {"$lt": 3}}},
                                      {"$group": {"_id": "$g", "n": {"$sum": 1}, "total": {"$sum": "$v"},
                                                  "ids": {"$push": "$_id"}}},
                                      {"$sort": {"_id": 1}}]))
        assert [(g["_id"], g["n"]) for g in groups] == [(0, 3), (1, 3), (2, 3)], groups
        assert groups[1]["total"] == 1 + 4 + 107
        proj = list(coll.aggregate([{"$match": {"_id": 1}}, {"$project": {"_id": 0, "twice": {"$multiply": ["$v", 2]}}}]))
        assert proj == [{"twice": 2}]
        expect_code(lambda: list(coll.find({}, {"a": 1, "b": 0})), 31254)
        expect_code(lambda: c.t.command("aggregate", "fam", pipeline=[{"$bogus": {}}], cursor={}), 40324)
        expect_code(lambda: c.t.command("aggregate", "fam", pipeline=[]), 9)
        assert list(coll.find({"_id": {"$in": [1, 2]}}, {"v": 1}).sort("_id", 1)) == [{"_id": 1, "v": 1}, {"_id": 2, "v": 2}]
        assert sorted(coll.distinct("g")) == [0, 1, 2]  # _id 50 was replaced by {r: 1}


def x05_blocked_write_time_limit():
    with StandIn() as s:
        c = s.client()
        c.t.b.insert_one({"_id": 1})
        ses = c.start_session()
        ses.start_transaction()
        c.t.b.update_one({"_id": 1}, {"$set": {"x": 1}}, session=ses)
        e = expect_code(lambda: c.t.command(SON([("update", "b"), ("updates", [{"q": {"_id": 1}, "u": {"$set": {"y": 1}}}]),
                                                 ("maxTimeMS", 200)])), 50)
        assert "time limit" in e.details["errmsg"]
        ses.abort_transaction()
        c.t.b.update_one({"_id": 1}, {"$set": {"y": 1}})
        assert c.t.b.find_one({"_id": 1}) == {"_id": 1, "y": 1}


def x06_before_change_and_when_available():
    with StandIn() as s:
        c = s.client()
        db = c.t
        db.pre.insert_one({"_id": 1, "a": 1})
        # pymongo 3.11 has no fullDocumentBeforeChange option: run the commands directly.
        r = db.command("aggregate", "pre", pipeline=[{"$changeStream": {
            "fullDocument": "whenAvailable", "fullDocumentBeforeChange": "whenAvailable"}}], cursor={})
        cid = r["cursor"]["id"]
        assert cid != 0 and r["cursor"]["firstBatch"] == []
        assert "postBatchResumeToken" in r["cursor"]
        db.pre.update_one({"_id": 1}, {"$set": {"a": 2}})
        db.pre.delete_one({"_id": 1})
        evs = []
        while len(evs) < 2:
            more = db.command("getMore", cid, collection="pre", maxTimeMS=1000)
            assert "postBatchResumeToken" in more["cursor"]
            evs += more["cursor"]["nextBatch"]
        assert evs[0]["fullDocument"] == {"_id": 1, "a": 2}
        assert evs[0]["fullDocumentBeforeChange"] == {"_id": 1, "a": 1}
        assert evs[1]["fullDocumentBeforeChange"] == {"_id": 1, "a": 2}
        db.command("killCursors", "pre", cursors=[cid])


def x07_session_commands():
    with StandIn() as s:
        c = s.client()
        ses = c.start_session()
        ses.start_transaction()
        c.t.s.insert_one({"_id": 1}, session=ses)
        c.admin.command("endSessions", [ses.session_id])
        wait_for(lambda: c.t.s.count_documents({}) == 0, what="ended session's transaction to be aborted")
        expect_code(lambda: ses.commit_transaction(), 251)
        for cmd in ("replSetGetStatus", "serverStatus", "buildInfo", "hostInfo", "getCmdLineOpts"):
            assert c.admin.command(cmd)["ok"] == 1.0
        assert c.admin.command("buildInfo")["versionArray"] == [6, 0, 0, 0]
        expect_code(lambda: c.admin.command("noSuchCommand"), 59)


def x08_torn_log_tail_and_compaction():
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        s = StandIn(dbpath=tmp).start()
        try:
            c = s.client()
            c.t.w.insert_many([{"_id": i, "pad": "x" * 100} for i in range(200)])
            c.t.w.delete_many({"_id": {"$gte": 100}})
            s.kill()
            wal = os.path.join(tmp, "wal.log")
            with open(wal, "ab") as f:
                f.write(b"\x50\x00\x00\x00garbage: a record cut short by a crash")
            size_before = os.path.getsize(wal)
            s.start()
            wait_for(lambda: c.t.w.count_documents({}) == 100, timeout=30, what="replayed documents")
            assert c.t.w.find_one({"_id": 99}) is not None and c.t.w.find_one({"_id": 100}) is None
            # The log was rewritten as one compact snapshot: smaller than before (the deletes are gone).
            assert os.path.getsize(wal) < size_before
            c.t.w.insert_one({"_id": "after"})
            s.restart()
            wait_for(lambda: c.t.w.find_one({"_id": "after"}) is not None, timeout=30, what="write after replay")
        finally:
            s.stop()


TESTS = {name: fn for name, fn in sorted(globals().items()) if name[:1] == "x" and name[1:3].isdigit()}

if __name__ == "__main__":
    run_tests(TESTS)
