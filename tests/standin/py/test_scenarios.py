"""The 18 conformance scenarios of MONGO-STANDIN.md section 7, with pymongo.

Each scenario is one function; ctest runs them one per test (the name is the argument).
"""
import os
import struct
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bson  # noqa: E402
from bson.int64 import Int64  # noqa: E402
from bson.raw_bson import RawBSONDocument  # noqa: E402
from bson.son import SON  # noqa: E402
from bson.codec_options import CodecOptions  # noqa: E402
from pymongo import monitoring  # noqa: E402
from pymongo.errors import BulkWriteError, OperationFailure, WriteError  # noqa: E402
from pymongo.write_concern import WriteConcern  # noqa: E402

from standin_harness import StandIn, run_tests, wait_for  # noqa: E402


class CommandCounter(monitoring.CommandListener):
    def __init__(self):
        self.started = []

    def started(self, event):  # noqa: F811 (pymongo calls the method)
        pass

    def count(self, name):
        return sum(1 for n in self.started if n == name)


class Recorder(monitoring.CommandListener):
    def __init__(self):
        self.names = []

    def started(self, event):
        self.names.append(event.command_name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def s01_handshake():
    with StandIn() as s:
        for direct in (False, True):
            c = s.client(direct=direct)
            hello = c.admin.command("isMaster")
            assert hello["ismaster"] is True and hello["isWritablePrimary"] is True
            assert hello["setName"] == "rs0" and hello["setVersion"] == 1
            assert hello["hosts"] == [f"127.0.0.1:{s.port}"] and hello["me"] == f"127.0.0.1:{s.port}"
            assert hello["maxWireVersion"] == 17 and hello["logicalSessionTimeoutMinutes"] == 30
            assert isinstance(hello["electionId"], bson.ObjectId)
            assert "topologyVersion" not in hello and "msg" not in hello
            assert c.is_primary
            c.test.hs.insert_one({"direct": direct})
            assert c.test.hs.count_documents({"direct": direct}) == 1
            c.close()


def s02_unacknowledged_write():
    with StandIn() as s:
        c = s.client(maxPoolSize=1)
        coll = c.test.get_collection("w0", write_concern=WriteConcern(w=0))
        r = coll.insert_one({"_id": 1})
        assert r.acknowledged is False
        assert c.admin.command("ping")["ok"] == 1.0
        wait_for(lambda: c.test.w0.find_one({"_id": 1}), what="w:0 insert to land")
        coll.insert_many([{"_id": i} for i in range(2, 50)])
        assert c.admin.command("ping")["ok"] == 1.0
        wait_for(lambda: c.test.w0.count_documents({}) == 49, what="w:0 batch to land")


def all_types_document():
    """A raw BSON document holding every BSON type, with edge values, built byte by byte."""
    def cstr(s):
        return s.encode() + b"\x00"

    def string(s):
        b = s.encode() + b"\x00"
        return struct.pack("<i", len(b)) + b

    def doc(body):
        return struct.pack("<i", len(body) + 5) + body + b"\x00"

    e = b""
    e += b"\x07" + cstr("_id") + bytes(range(12))
    e += b"\x01" + cstr("dbl") + struct.pack("<d", 1.5)
    e += b"\x01" + cstr("negzero") + struct.pack("<d", -0.0)
    e += b"\x01" + cstr("nan") + bytes.fromhex("010000000000f87f")  # NaN with a payload
    e += b"\x02" + cstr("str") + string("h\u00e9llo")
    e += b"\x03" + cstr("doc") + doc(b"\x10" + cstr("b") + struct.pack("<i", 1) + b"\x10" + cstr("a") + struct.pack("<i", 2))
    e += b"\x04" + cstr("arr") + doc(b"\x10" + cstr("0") + struct.pack("<i", 1) + b"\x02" + cstr("1") + string("x"))
    for i, sub in enumerate((0, 3, 4, 5, 0x80)):
        payload = bytes(range(16))
        e += b"\x05" + cstr(f"bin{i}") + struct.pack("<i", len(payload)) + bytes([sub]) + payload
    e += b"\x06" + cstr("undef")
    e += b"\x07" + cstr("oid") + bytes(range(12, 24))
    e += b"\x08" + cstr("t") + b"\x01"
    e += b"\x08" + cstr("f") + b"\x00"
    e += b"\x09" + cstr("date") + struct.pack("<q", -1234567)
    e += b"\x0A" + cstr("null")
    e += b"\x0B" + cstr("re") + cstr("^a.c$") + cstr("im")
    e += b"\x0C" + cstr("dbp") + string("db.coll") + bytes(range(12))
    e += b"\x0D" + cstr("code") + string("function() {}")
    e += b"\x0E" + cstr("sym") + string("symbol")
    scope = doc(b"\x10" + cstr("x") + struct.pack("<i", 1))
    code = string("x + 1")
    e += b"\x0F" + cstr("cws") + struct.pack("<i", 4 + len(code) + len(scope)) + code + scope
    e += b"\x10" + cstr("i32") + struct.pack("<i", -2147483648)
    e += b"\x11" + cstr("ts") + struct.pack("<II", 7, 1234)
    e += b"\x12" + cstr("i64") + struct.pack("<q", 2 ** 62)
    e += b"\x13" + cstr("dec") + bytes.fromhex("01000000000000000000000000403030")
    e += b"\xFF" + cstr("min")
    e += b"\x7F" + cstr("max")
    return doc(e)


def s03_bson_round_trip():
    with StandIn() as s:
        c = s.client()
        raw = all_types_document()
        coll = c.test.get_collection("types", codec_options=CodecOptions(document_class=RawBSONDocument))
        coll.insert_one(RawBSONDocument(raw))
        back = coll.find_one({})
        assert back.raw == raw, "document changed on the way back"
        # Also through a change stream's fullDocument and an aggregate.
        with coll.watch() as stream:
            coll.insert_one(RawBSONDocument(raw.replace(bytes(range(12)), bytes(range(1, 13)), 1)))
            ev = stream.next()
        full = ev["fullDocument"].raw
        assert full == raw.replace(bytes(range(12)), bytes(range(1, 13)), 1)
        agg = list(coll.aggregate([{"$match": {"str": "h\u00e9llo"}}]))
        assert len(agg) == 2 and agg[0].raw == raw


def s04_duplicate_key_batches():
    with StandIn() as s:
        c = s.client()
        try:
            c.test.o.insert_many([{"_id": 1}, {"_id": 1}, {"_id": 2}])
            raise AssertionError("expected BulkWriteError")
        except BulkWriteError as e:
            d = e.details
            assert d["nInserted"] == 1, d
            we = d["writeErrors"][0]
            assert we["index"] == 1 and we["code"] == 11000, we
            assert "E11000 duplicate key error collection: test.o index: _id_ dup key: { _id: 1 }" == we["errmsg"], we
            assert we["keyPattern"] == {"_id": 1} and we["keyValue"] == {"_id": 1}
        try:
            c.test.u.insert_many([{"_id": 1}, {"_id": 1}, {"_id": 2}], ordered=False)
            raise AssertionError("expected BulkWriteError")
        except BulkWriteError as e:
            assert e.details["nInserted"] == 2, e.details
            assert [w["index"] for w in e.details["writeErrors"]] == [1]
        # Equality crosses numeric types.
        try:
            c.test.u.insert_one({"_id": 1.0})
            raise AssertionError("expected duplicate for 1.0")
        except Exception as e:  # DuplicateKeyError
            assert getattr(e, "code", None) == 11000
        # Unique secondary index.
        c.test.ui.create_index("email", unique=True)
        c.test.ui.insert_one({"email": "a"})
        try:
            c.test.ui.insert_one({"email": "a"})
            raise AssertionError("expected duplicate email")
        except Exception as e:
            assert getattr(e, "code", None) == 11000


UPDATE_TABLE = [
    ({"a": 1}, {"$set": {"a": 2, "b.c": 3}}, {"a": 2, "b": {"c": 3}}),
    ({"a": 1, "b": 2}, {"$unset": {"b": ""}}, {"a": 1}),
    ({"n": 1}, {"$inc": {"n": 2, "m": 1}}, {"n": 3, "m": 1}),
    ({"n": 2147483647}, {"$inc": {"n": 1}}, {"n": Int64(2147483648)}),
    ({"n": 1}, {"$inc": {"n": 0.5}}, {"n": 1.5}),
    ({"n": 3}, {"$mul": {"n": 2}}, {"n": 6}),
    ({"n": 3}, {"$min": {"n": 1}, "$max": {"m": 5}}, {"n": 1, "m": 5}),
    ({"a": 1}, {"$rename": {"a": "z"}}, {"z": 1}),
    ({"arr": [1]}, {"$push": {"arr": 2}}, {"arr": [1, 2]}),
    ({"arr": [3, 1]}, {"$push": {"arr": {"$each": [2, 5], "$sort": 1, "$slice": 3}}}, {"arr": [1, 2, 3]}),
    ({"arr": [1, 2]}, {"$push": {"arr": {"$each": [0], "$position": 0}}}, {"arr": [0, 1, 2]}),
    ({"arr": [1]}, {"$addToSet": {"arr": {"$each": [1, 2]}}}, {"arr": [1, 2]}),
    ({"arr": [1, 2, 3, 2]}, {"$pull": {"arr": 2}}, {"arr": [1, 3]}),
    ({"arr": [1, 2, 3]}, {"$pull": {"arr": {"$gte": 2}}}, {"arr": [1]}),
    ({"arr": [1, 2, 3]}, {"$pullAll": {"arr": [1, 3]}}, {"arr": [2]}),
    ({"arr": [1, 2, 3]}, {"$pop": {"arr": 1}}, {"arr": [1, 2]}),
    ({"arr": [1, 2, 3]}, {"$pop": {"arr": -1}}, {"arr": [2, 3]}),
    ({"arr": [{"x": 1}, {"x": 2}]}, {"$set": {"arr.$[].y": 0}}, {"arr": [{"x": 1, "y": 0}, {"x": 2, "y": 0}]}),
    ({"a": {"b": 1}}, {"$set": {"a.c": 2}}, {"a": {"b": 1, "c": 2}}),
]


def s05_updates():
    with StandIn() as s:
        c = s.client()
        coll = c.test.upd
        for i, (before, update, after) in enumerate(UPDATE_TABLE):
            coll.insert_one(dict(before, _id=i))
            coll.update_one({"_id": i}, update)
            got = coll.find_one({"_id": i})
            assert got == dict(after, _id=i), (update, got)
            if isinstance(after.get("n"), Int64):
                assert isinstance(got["n"], Int64)
        # Positional $ and arrayFilters.
        coll.insert_one({"_id": "p", "arr": [{"k": 1, "v": 0}, {"k": 2, "v": 0}]})
        coll.update_one({"_id": "p", "arr.k": 2}, {"$set": {"arr.$.v": 9}})
        coll.update_one({"_id": "p"}, {"$set": {"arr.$[e].v": 7}}, array_filters=[{"e.k": 1}])
        assert coll.find_one({"_id": "p"})["arr"] == [{"k": 1, "v": 7}, {"k": 2, "v": 9}]
        # $currentDate.
        coll.update_one({"_id": "p"}, {"$currentDate": {"when": True}})
        assert "when" in coll.find_one({"_id": "p"})
        # Upsert with $setOnInsert, seeded from the query.
        r = coll.update_one({"_id": "u", "kind": "x"}, {"$set": {"a": 1}, "$setOnInsert": {"created": True}}, upsert=True)
        assert r.upserted_id == "u" and r.matched_count == 0
        assert coll.find_one({"_id": "u"}) == {"_id": "u", "kind": "x", "a": 1, "created": True}
        r = coll.update_one({"_id": "u"}, {"$set": {"a": 2}, "$setOnInsert": {"created": False}}, upsert=True)
        assert r.upserted_id is None and coll.find_one({"_id": "u"})["created"] is True
        # Errors.
        for update, code in (({"$set": {"_id": 5}}, 66), ({"$foo": {"a": 1}}, 9),
                             ({"$set": {"a": 1}, "$inc": {"a": 1}}, 40), ({"$inc": {"kind": 1}}, 14),
                             ({"$push": {"kind": 1}}, 2)):
            try:
                coll.update_one({"_id": "u"}, update)
                raise AssertionError(f"expected error {code} for {update}")
            except WriteError as e:
                assert e.code == code, (update, e.code, e.details)
        # A no-op update: nModified 0 and no change event.
        with coll.watch() as stream:
            r = coll.update_one({"_id": "u"}, {"$set": {"a": 2}})
            assert r.matched_count == 1 and r.modified_count == 0
            coll.insert_one({"_id": "marker"})
            ev = stream.next()
            assert ev["operationType"] == "insert" and ev["documentKey"] == {"_id": "marker"}, ev


def s06_sort_and_cursors():
    with StandIn() as s:
        c = s.client()
        coll = c.test.sort
        values = [bson.MaxKey(), bson.Timestamp(5, 1), bson.datetime.datetime(2020, 1, 1), True,
                  bson.ObjectId(), bson.Binary(b"\x01"), {"a": 1}, "str", 2.5, 1, None, bson.MinKey()]
        expected_types = [bytes if isinstance(v, bson.Binary) else type(v) for v in reversed(values)]
        for i, v in enumerate(values):
            coll.insert_one({"_id": i, "v": v})
        coll.insert_one({"_id": 100})  # missing sorts as null
        got = [d.get("v", "MISSING") for d in coll.find({}, sort=[("v", 1), ("_id", 1)])]
        assert isinstance(got[0], bson.MinKey), got
        assert got[1] is None and got[2] == "MISSING", got  # null, then missing (as null, by _id)
        rest = [type(v) for v in got[3:]]
        assert rest == expected_types[2:], rest
        # Arrays sort by their smallest element ascending, largest descending.
        coll.drop()
        coll.insert_many([{"_id": 1, "v": [5, 1]}, {"_id": 2, "v": 3}, {"_id": 3, "v": [2, 9]}])
        assert [d["_id"] for d in coll.find(sort=[("v", 1)])] == [1, 3, 2]
        assert [d["_id"] for d in coll.find(sort=[("v", -1)])] == [3, 1, 2]
        # Paging across getMore.
        coll.drop()
        coll.insert_many([{"_id": i} for i in range(250)])
        ids = [d["_id"] for d in coll.find(batch_size=7).sort("_id", -1)]
        assert ids == list(range(249, -1, -1))
        assert len(list(coll.find().skip(10).limit(25))) == 25
        # getMore after killCursors: 43.
        r = c.test.command("find", "sort", batchSize=2)
        cid = r["cursor"]["id"]
        assert cid != 0
        k = c.test.command("killCursors", "sort", cursors=[cid])
        assert k["cursorsKilled"] == [cid]
        try:
            c.test.command("getMore", cid, collection="sort")
            raise AssertionError("expected CursorNotFound")
        except OperationFailure as e:
            assert e.code == 43


def s07_counts():
    with StandIn() as s:
        c = s.client()
        coll = c.test.cnt
        assert coll.count_documents({}) == 0 and coll.estimated_document_count() == 0
        coll.insert_many([{"_id": i, "even": i % 2 == 0} for i in range(20)])
        assert coll.count_documents({}) == 20
        assert coll.count_documents({"even": True}) == 10
        assert coll.count_documents({}, skip=5) == 15
        assert coll.count_documents({}, skip=5, limit=3) == 3
        assert coll.count_documents({"even": True}, skip=8, limit=5) == 2
        assert coll.count_documents({"_id": {"$gte": 15}}) == 5
        assert coll.estimated_document_count() == 20
        assert sorted(coll.distinct("even")) == [False, True]


def s08_collection_stream_events():
    with StandIn() as s:
        c = s.client()
        coll = c.test.ev
        with coll.watch() as stream:
            coll.insert_one({"_id": 1, "a": 1, "arr": [1]})
            coll.update_one({"_id": 1}, {"$set": {"a": 2, "x.y": 1}, "$unset": {"zz": 1}, "$push": {"arr": 2}})
            coll.update_one({"_id": 1}, {"$unset": {"a": 1}, "$rename": {"x": "w"}})
            coll.replace_one({"_id": 1}, {"b": 1})
            coll.delete_one({"_id": 1})
            evs = [stream.next() for _ in range(5)]
        ops = [e["operationType"] for e in evs]
        assert ops == ["insert", "update", "update", "replace", "delete"], ops
        for e in evs:
            assert e["ns"] == {"db": "test", "coll": "ev"} and e["documentKey"] == {"_id": 1}
            assert isinstance(e["clusterTime"], bson.Timestamp)
            assert isinstance(e["wallTime"], bson.datetime.datetime)
            assert "_data" in e["_id"]
        assert evs[0]["fullDocument"] == {"_id": 1, "a": 1, "arr": [1]}
        ud = evs[1]["updateDescription"]
        assert ud["updatedFields"] == {"a": 2, "x": {"y": 1}, "arr.1": 2}, ud  # x was created whole
        assert ud["removedFields"] == [] and ud["truncatedArrays"] == []
        assert "fullDocument" not in evs[1]
        ud2 = evs[2]["updateDescription"]
        with coll.watch() as stream2:
            coll.insert_one({"_id": 2, "x": {"y": 1, "z": [1, 2]}})
            coll.update_one({"_id": 2}, {"$set": {"x.y": 5, "x.z.1": 7}})
            stream2.next()
            dotted = stream2.next()["updateDescription"]
            assert dotted["updatedFields"] == {"x.y": 5, "x.z.1": 7}, dotted
        assert ud2["updatedFields"] == {"w": {"y": 1}} and sorted(ud2["removedFields"]) == ["a", "x"], ud2
        assert evs[3]["fullDocument"] == {"_id": 1, "b": 1}
        assert "fullDocument" not in evs[4]
        times = [e["clusterTime"] for e in evs]
        assert times == sorted(times) and len(set(times)) == 5


def s09_pbrt_and_resume():
    with StandIn() as s:
        c = s.client()
        coll = c.test.pb
        tokens = []
        with coll.watch(max_await_time_ms=50) as stream:
            for round_ in range(3):
                assert stream.try_next() is None
                tokens.append(stream.resume_token["_data"])
                coll.insert_one({"_id": round_})
                ev = wait_for(stream.try_next, what="event")
                assert ev["documentKey"] == {"_id": round_}
                tokens.append(stream.resume_token["_data"])
            assert stream.try_next() is None
            tokens.append(stream.resume_token["_data"])
            resume_at = tokens[3]  # the token of the event with _id 1
        assert tokens == sorted(tokens), tokens
        assert all(len(t) == len(tokens[0]) for t in tokens)
        coll.insert_many([{"_id": 10}, {"_id": 11}])
        c2 = s.client()
        with c2.test.pb.watch(resume_after={"_data": resume_at}) as stream:
            got = [stream.next()["documentKey"]["_id"] for _ in range(3)]
            assert got == [2, 10, 11], got
            assert stream.try_next() is None
        # A high-water-mark token from an empty batch resumes too.
        with c2.test.pb.watch(resume_after={"_data": tokens[-1]}) as stream:
            got = [stream.next()["documentKey"]["_id"] for _ in range(2)]
            assert got == [10, 11], got


def s10_resume_after_errors():
    with StandIn("--enable-test-commands") as s:
        for mode in ("code43", "close"):
            rec = Recorder()
            c = s.client(event_listeners=[rec])
            coll = c.test.get_collection("r" + mode)
            got = []
            with coll.watch(max_await_time_ms=100) as stream:
                coll.insert_many([{"_id": i} for i in range(3)])
                got += [stream.next()["documentKey"]["_id"] for _ in range(3)]
                data = {"failCommands": ["getMore"]}
                if mode == "code43":
                    data["errorCode"] = 43
                else:
                    data["closeConnection"] = True
                c.admin.command("configureFailPoint", "failCommand", mode={"times": 1}, data=data)
                coll.insert_many([{"_id": i} for i in range(3, 6)])
                while len(got) < 6:
                    got.append(stream.next()["documentKey"]["_id"])
                assert stream.try_next() is None
            assert got == list(range(6)), (mode, got)
            assert rec.names.count("aggregate") == 2, (mode, rec.names)
            c.close()


def s11_history_lost():
    with StandIn("--oplog-size", "10") as s:
        rec = Recorder()
        c = s.client(event_listeners=[rec])
        coll = c.test.hl
        with coll.watch() as stream:
            coll.insert_one({"_id": 0})
            old = stream.next()["_id"]
        coll.insert_many([{"_id": i} for i in range(1, 21)])
        before = rec.names.count("aggregate")
        try:
            with coll.watch(resume_after=old) as stream:
                stream.try_next()
            raise AssertionError("expected ChangeStreamHistoryLost")
        except OperationFailure as e:
            assert e.code == 286, e.details
            assert "NonResumableChangeStreamError" in e.details.get("errorLabels", [])
            assert "may no longer be in the oplog" in e.details["errmsg"]
        assert rec.names.count("aggregate") == before + 1


def s12_pipeline_errors():
    with StandIn() as s:
        c = s.client()
        coll = c.test.pe
        with coll.watch([{"$project": {"_id": 0}}], max_await_time_ms=100) as stream:
            coll.insert_one({"_id": 1})
            try:
                stream.next()
                raise AssertionError("expected 280")
            except OperationFailure as e:
                assert e.code == 280, e.details
        try:
            coll.watch([{"$foo": {}}])
            raise AssertionError("expected 40324")
        except OperationFailure as e:
            assert e.code == 40324
        try:
            c.test.command("aggregate", "pe", pipeline=[{"$match": {}}, {"$changeStream": {}}], cursor={})
            raise AssertionError("expected 40602")
        except OperationFailure as e:
            assert e.code == 40602
        # $match and $project that keep _id work.
        with coll.watch([{"$match": {"operationType": "delete"}}, {"$project": {"operationType": 1}}]) as stream:
            coll.insert_one({"_id": 2})
            coll.delete_one({"_id": 2})
            ev = stream.next()
            assert set(ev.keys()) == {"_id", "operationType"} and ev["operationType"] == "delete"


def s13_drop_rename_invalidate():
    with StandIn() as s:
        c = s.client()
        db = c.test
        db.a.insert_one({"_id": 1})
        with db.watch() as dbs, db.a.watch() as cs:
            db.a.rename("b")
            ev = cs.next()
            assert ev["operationType"] == "rename" and ev["to"] == {"db": "test", "coll": "b"}, ev
            inv = cs.next()
            assert inv["operationType"] == "invalidate"
            assert not cs.alive
            dev = dbs.next()
            assert dev["operationType"] == "rename"
            db.b.drop()
            dev = dbs.next()
            assert dev["operationType"] == "drop" and dev["ns"] == {"db": "test", "coll": "b"}
            inv_token = inv["_id"]
        try:
            with db.a.watch(resume_after=inv_token) as cs2:
                cs2.try_next()
            raise AssertionError("expected 260")
        except OperationFailure as e:
            assert e.code == 260
        with db.a.watch(start_after=inv_token, max_await_time_ms=100) as cs3:
            db.a.insert_one({"_id": 2})
            ev = cs3.next()
            assert ev["operationType"] == "insert" and ev["documentKey"] == {"_id": 2}
        # Collection drop: drop then invalidate.
        with db.a.watch() as cs4:
            db.a.drop()
            assert cs4.next()["operationType"] == "drop"
            assert cs4.next()["operationType"] == "invalidate"
        # dropDatabase on a database stream.
        db.z.insert_one({})
        with db.watch() as dbs2:
            c.drop_database("test")
            ops = []
            while True:
                ev = dbs2.next()
                ops.append(ev["operationType"])
                if ev["operationType"] == "invalidate":
                    break
            assert ops == ["drop", "dropDatabase", "invalidate"], ops


def s14_update_lookup():
    with StandIn() as s:
        c = s.client()
        coll = c.test.ul
        coll.insert_one({"_id": 1, "a": 1})
        with coll.watch(full_document="updateLookup") as stream:
            coll.update_one({"_id": 1}, {"$set": {"a": 2}})
            coll.update_one({"_id": 1}, {"$set": {"a": 3}})
            ev = stream.next()
            # The lookup happens when the batch is read: the current document.
            assert ev["fullDocument"] == {"_id": 1, "a": 3}, ev
            assert stream.next()["fullDocument"] == {"_id": 1, "a": 3}
            coll.update_one({"_id": 1}, {"$set": {"a": 4}})
            coll.delete_one({"_id": 1})
            ev2 = stream.next()
            assert ev2["operationType"] == "update" and ev2["fullDocument"] is None, ev2
            assert ev2["updateDescription"]["updatedFields"] == {"a": 4}
            assert stream.next()["operationType"] == "delete"
        with coll.watch() as stream:
            coll.insert_one({"_id": 2})
            coll.update_one({"_id": 2}, {"$set": {"a": 1}})
            stream.next()
            assert "fullDocument" not in stream.next()


def s15_transactions():
    with StandIn() as s:
        c = s.client()
        other = s.client()
        db = c.test
        db.t1.insert_one({"_id": 0})
        db.t2.insert_one({"_id": 0})
        with db.watch() as stream:
            with c.start_session() as ses:
                with ses.start_transaction():
                    db.t1.insert_one({"_id": 1}, session=ses)
                    db.t2.update_one({"_id": 0}, {"$set": {"x": 1}}, session=ses)
                    db.t1.delete_one({"_id": 0}, session=ses)
                    assert other.test.t1.find_one({"_id": 1}) is None
                    assert other.test.t2.find_one({"_id": 0}) == {"_id": 0}
                    assert other.test.t1.find_one({"_id": 0}) == {"_id": 0}
                    assert db.t1.find_one({"_id": 1}, session=ses) == {"_id": 1}  # own writes
                    assert db.t1.count_documents({}, session=ses) == 1
                lsid = ses.session_id
            assert other.test.t1.find_one({"_id": 1}) == {"_id": 1}
            assert other.test.t2.find_one({"_id": 0}) == {"_id": 0, "x": 1}
            assert other.test.t1.find_one({"_id": 0}) is None
            evs = [stream.next() for _ in range(3)]
            assert [e["operationType"] for e in evs] == ["insert", "update", "delete"]
            assert len({e["clusterTime"] for e in evs}) == 1
            assert all(getattr(e["lsid"]["id"], "bytes", e["lsid"]["id"]) == bytes(lsid["id"]) for e in evs)
            assert len({e["txnNumber"] for e in evs}) == 1
            # Aborted: nothing.
            with c.start_session() as ses:
                ses.start_transaction()
                db.t1.insert_one({"_id": 99}, session=ses)
                ses.abort_transaction()
            assert other.test.t1.find_one({"_id": 99}) is None
            db.t1.insert_one({"_id": "after"})
            ev = stream.next()
            assert ev["documentKey"] == {"_id": "after"} and "lsid" not in ev


def s16_write_conflicts():
    with StandIn() as s:
        c = s.client()
        db = c.test
        db.wc.insert_one({"_id": 1, "n": 0})
        a = c.start_session()
        b = c.start_session()
        a.start_transaction()
        b.start_transaction()
        db.wc.update_one({"_id": 1}, {"$inc": {"n": 1}}, session=a)
        try:
            db.wc.update_one({"_id": 1}, {"$inc": {"n": 10}}, session=b)
            raise AssertionError("expected WriteConflict")
        except OperationFailure as e:
            assert e.code == 112, e.details
            assert e.has_error_label("TransientTransactionError")
        a.commit_transaction()
        try:
            b.commit_transaction()
            raise AssertionError("expected NoSuchTransaction")
        except OperationFailure as e:
            assert e.code == 251
            assert e.has_error_label("TransientTransactionError")
        assert db.wc.find_one({"_id": 1})["n"] == 1
        # A snapshot older than a committed write conflicts too.
        b.start_transaction()
        db.wc.find_one({"_id": 1}, session=b)
        db.wc.update_one({"_id": 1}, {"$inc": {"n": 1}})
        try:
            db.wc.update_one({"_id": 1}, {"$inc": {"n": 1}}, session=b)
            raise AssertionError("expected WriteConflict after a newer commit")
        except OperationFailure as e:
            assert e.code == 112
        b.abort_transaction()
        # count in a transaction: 263.
        a.start_transaction()
        try:
            db.command("count", "wc", session=a)
            raise AssertionError("expected 263")
        except OperationFailure as e:
            assert e.code == 263
        a.abort_transaction()
        # with_transaction retries a conflict until it succeeds.
        holder = c.start_session()
        holder.start_transaction()
        db.wc.update_one({"_id": 1}, {"$set": {"held": True}}, session=holder)
        attempts = []

        def body(ses):
            attempts.append(1)
            if len(attempts) == 2:
                holder.abort_transaction()
            db.wc.update_one({"_id": 1}, {"$inc": {"n": 100}}, session=ses)

        with c.start_session() as ses:
            ses.with_transaction(body)
        assert len(attempts) >= 2
        assert db.wc.find_one({"_id": 1})["n"] == 102
        # A plain write waits for the transaction holding the document.
        holder2 = c.start_session()
        holder2.start_transaction()
        db.wc.update_one({"_id": 1}, {"$set": {"h2": 1}}, session=holder2)
        done = threading.Event()

        def plain():
            s.client().test.wc.update_one({"_id": 1}, {"$set": {"plain": 1}})
            done.set()

        t = threading.Thread(target=plain)
        t.start()
        wait_for(lambda: c.admin.command("serverStatus")["standin"]["parkedCommands"] >= 1,
                 what="the plain write to wait for the transaction")
        assert not done.is_set(), "plain write did not wait for the transaction"
        holder2.commit_transaction()
        t.join(10)
        assert done.is_set()
        doc = db.wc.find_one({"_id": 1})
        assert doc["h2"] == 1 and doc["plain"] == 1


def s17_retryable_write_replay():
    with StandIn() as s:
        c = s.client()
        db = c.test
        with db.rw.watch(max_await_time_ms=100) as stream:
            with c.start_session() as ses:
                cmd = SON([("insert", "rw"), ("documents", [{"_id": 1}]), ("txnNumber", Int64(7))])
                r1 = db.command(cmd, session=ses)
                r2 = db.command(cmd, session=ses)
                assert r1["n"] == 1 and r2["n"] == 1
                assert "writeErrors" not in r2
                # An older txnNumber is rejected.
                try:
                    db.command(SON([("insert", "rw"), ("documents", [{"_id": 2}]), ("txnNumber", Int64(3))]), session=ses)
                    raise AssertionError("expected TransactionTooOld")
                except OperationFailure as e:
                    assert e.code == 225
                # This server session's txnNumber was set by hand: keep it out of the pool.
                ses._server_session.mark_dirty()
            assert db.rw.count_documents({}) == 1
            db.rw.insert_one({"_id": "marker"})
            assert stream.next()["documentKey"] == {"_id": 1}
            assert stream.next()["documentKey"] == {"_id": "marker"}


def s18_restart():
    with tempfile.TemporaryDirectory() as tmp:
        s = StandIn(dbpath=tmp).start()
        try:
            c = s.client(maxPoolSize=4)
            c.test.rs.insert_many([{"_id": i} for i in range(5)])
            with c.test.rs.watch() as stream:
                c.test.rs.insert_one({"_id": 5})
                token = stream.next()["_id"]
            c.test.rs.create_index("u")
            term1 = c.admin.command("isMaster")["electionId"]
            s.restart()

            def insert_ok():
                try:
                    c.test.rs.insert_one({"_id": 6})
                    return True
                except Exception:
                    return False
            wait_for(insert_ok, timeout=30, what="client to reconnect")
            assert c.is_primary
            term2 = c.admin.command("isMaster")["electionId"]
            assert term2 > term1, (term1, term2)
            assert c.test.rs.count_documents({}) == 7
            assert any(i["name"] == "u_1" for i in c.test.rs.list_indexes())
            with c.test.rs.watch(resume_after=token) as stream:
                assert stream.next()["documentKey"] == {"_id": 6}
            # SIGKILL keeps acknowledged writes.
            c.test.rs.insert_one({"_id": 7})
            s.kill()
            s.start()
            wait_for(lambda: c.test.rs.find_one({"_id": 7}) is not None, timeout=30, what="data after SIGKILL")
            with c.test.rs.watch(resume_after=token) as stream:
                assert [stream.next()["documentKey"]["_id"] for _ in range(2)] == [6, 7]
        finally:
            s.stop()
    # Without persistence an old token is from another epoch: 280.
    with StandIn() as s:
        c = s.client()
        with c.test.m.watch() as stream:
            c.test.m.insert_one({"_id": 1})
            token = stream.next()["_id"]
        s.restart()
        wait_for(lambda: c.admin.command("ping")["ok"] == 1.0, timeout=30, what="reconnect")
        try:
            with c.test.m.watch(resume_after=token) as stream:
                stream.try_next()
            raise AssertionError("expected 280")
        except OperationFailure as e:
            assert e.code == 280
            assert "NonResumableChangeStreamError" in e.details.get("errorLabels", [])


TESTS = {name: fn for name, fn in sorted(globals().items()) if name[:1] == "s" and name[1:3].isdigit()}

if __name__ == "__main__":
    run_tests(TESTS)
