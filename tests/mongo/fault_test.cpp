// Faults: kill -9 of the server process during outbound writes and during the inbound stream, and a
// stand-in killed and restarted under a running connector. Nothing acknowledged is lost, nothing is
// written twice.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>

#include "common/models.hpp"
#include "common/process.hpp"
#include "common/status_macros.hpp"
#include "mongo/connector.hpp"
#include "mongo/mapping.hpp"
#include "mongo/mongo_env.hpp"

namespace outpost::mongo {
namespace {

using detail::Bson;
using testing::bson;
using testing::field_json;
using testing::wait_until;

// Runs the child program; calls ON_LINE for each line of its stdout until it returns false, then
// kills it with SIGKILL. Returns the exit status (or -SIGKILL; -1 when it died of a signal or did
// not finish within the deadline).
int run_child(const std::vector<std::string>& args,
              const std::function<bool(const std::string&)>& on_line) {
    constexpr auto kChildDeadline = std::chrono::seconds(120);
    outpost::test::Process child;
    std::vector<std::string> all = {CONNECTOR_CHILD_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    if (!child.spawn(all)) return -1;
    while (auto line = child.read_line(kChildDeadline)) {
        if (!on_line(*line)) {
            child.kill_now();
            return -SIGKILL;
        }
    }
    auto code = child.wait(kChildDeadline);
    if (!code) child.kill_now();
    return code && *code < 128 ? *code : -1;
}

// Positions the marker of server "child" took, in stream order, from a change stream opened before.
std::vector<int64_t> marker_positions(mongoc_change_stream_t* stream) {
    std::vector<int64_t> out;
    const bson_t* ev;
    int empty = 0;
    while (empty < 3) {
        if (!mongoc_change_stream_next(stream, &ev)) {
            ++empty;
            continue;
        }
        bson_iter_t it, d;
        if (!bson_iter_init(&it, ev) || !bson_iter_find_descendant(&it, "ns.coll", &d) ||
            std::string(bson_iter_utf8(&d, nullptr)) != kMetaCollection) {
            continue;
        }
        bson_iter_init(&it, ev);
        if (bson_iter_find_descendant(&it, "fullDocument.position", &d) ||
            (bson_iter_init(&it, ev) &&
             bson_iter_find_descendant(&it, "updateDescription.updatedFields.position", &d))) {
            out.push_back(bson_iter_as_int64(&d));
        }
    }
    return out;
}

TEST(ConnectorFaults, KillNineDuringOutboundNeitherLosesNorRepeats) {
    testing::MongoServer mongo;
    testing::TempDir dir;
    detail::DatabasePtr db(mongoc_client_get_database(mongo.client(), mongo.database().c_str()));
    Bson wopts = bson(R"({"maxAwaitTimeMS": 100})");
    Bson pipeline;
    detail::StreamPtr stream(mongoc_database_watch(db.get(), pipeline.get(), wopts.get()));
    ASSERT_TRUE(stream);

    int last_committed = -1;
    int rc = run_child({dir.sub("store"), mongo.uri(), mongo.database(), "write", "3000"},
                       [&](const std::string& l) {
                           if (l.rfind("committed ", 0) == 0)
                               last_committed = std::atoi(l.c_str() + 10);
                           return last_committed < 400;
                       });
    ASSERT_EQ(rc, -SIGKILL);
    ASSERT_GE(last_committed, 400);
    // The restarted server drains what it had not written.
    std::string drained;
    rc = run_child({dir.sub("store"), mongo.uri(), mongo.database(), "drain"},
                   [&](const std::string& l) {
                       if (l.rfind("drained ", 0) == 0) drained = l;
                       return true;
                   });
    ASSERT_EQ(rc, 0);
    ASSERT_FALSE(drained.empty());

    // Every object the store committed is in MongoDB with its value, and nothing else is.
    auto store = testing::open_store(dir.sub("store"), testing::mongo_mapping_model());
    auto box = store->box("Item").value();
    auto txn = store->begin_read().value();
    auto all = box.get_all(txn).value();
    EXPECT_GT(all.size(), static_cast<size_t>(last_committed));  // at least every acknowledged one
    EXPECT_EQ(mongo.count("items"), static_cast<int64_t>(all.size()));
    std::set<int64_t> values;
    for (const auto& o : all) {
        Gid g = gid_of(txn, box, o.id).value().value();
        Bson key;
        ASSERT_OK(append_gid(key.get(), "_id", g));
        auto doc = mongo.find_one("items", key.json());
        ASSERT_TRUE(doc.has_value());
        EXPECT_EQ(field_json(*doc, "i32"),
                  "{ \"v\" : " + std::to_string(o.get("i32").as<int64_t>()) + " }");
        values.insert(o.get("i32").as<int64_t>());
    }
    EXPECT_EQ(values.size(), all.size());
    // No outbound transaction was written twice: the marker's positions only grow.
    auto positions = marker_positions(stream.get());
    ASSERT_FALSE(positions.empty());
    for (size_t i = 1; i < positions.size(); ++i) {
        EXPECT_LT(positions[i - 1], positions[i])
            << "position " << positions[i] << " written again at " << i;
    }
    EXPECT_EQ(positions.back(), static_cast<int64_t>(ChangeLog::last_position(txn).value()));
}

// The inbound side reads and maps batches ahead of their commits: a kill -9 while batches are read,
// mapped and committed loses no event and applies none twice, each MongoDB transaction lands whole
// in one server transaction, and the server's records follow MongoDB's order. (An insert applied
// again after the update that follows it in a later batch would change the object back and forth,
// which the records show; an insert and its update in one batch make one record.)
TEST(ConnectorFaults, KillNineDuringInboundNeitherLosesNorRepeats) {
    testing::MongoServer mongo;
    testing::TempDir dir;
    constexpr int kGroups =
        300;  // each: a transaction of three inserts, then an update of the first
    auto doc_id = [](int g, int j) { return "t" + std::to_string(g) + "-" + std::to_string(j); };
    int written = 0;
    auto write_group = [&] {
        int g = written++;
        mongo.transaction([&](Bson& opts) {
            bson_error_t err;
            for (int j = 0; j < 3; ++j) {
                Bson d = bson(R"({"_id": ")" + doc_id(g, j) + R"(", "i32": )" +
                              std::to_string(g * 3 + j) + "}");
                ASSERT_TRUE(mongoc_collection_insert_one(mongo.collection("items").get(), d.get(),
                                                         opts.get(), nullptr, &err))
                    << err.message;
            }
        });
        mongo.update("items", R"({"_id": ")" + doc_id(g, 0) + R"("})",
                     R"({"$set": {"i32": )" + std::to_string(100000 + g) + "}}");
    };
    uint64_t applied = 0;
    int rc = run_child(
        {dir.sub("store"), mongo.uri(), mongo.database(), "inbound"}, [&](const std::string& l) {
            if (l.rfind("applied ", 0) == 0) applied = std::strtoull(l.c_str() + 8, nullptr, 10);
            // Keep about 50 groups (200 events) ahead of what the server committed.
            while (written < kGroups && static_cast<uint64_t>(written) * 4 < applied + 200)
                write_group();
            return applied < 400;
        });
    ASSERT_EQ(rc, -SIGKILL);
    ASSERT_LT(written, kGroups) << "the kill came after the last write";
    while (written < kGroups) write_group();  // while the server is down
    rc = run_child(
        {dir.sub("store"), mongo.uri(), mongo.database(), "wait", std::to_string(kGroups * 3)},
        [](const std::string&) { return true; });
    ASSERT_EQ(rc, 0);

    auto store = testing::open_store(dir.sub("store"), testing::mongo_mapping_model());
    auto box = store->box("Item").value();
    auto txn = store->begin_read().value();
    EXPECT_EQ(box.count().value(), static_cast<uint64_t>(kGroups * 3));
    std::map<std::string, std::vector<uint64_t>>
        records_of;  // GID -> positions of the records naming it
    for (uint64_t after = 0;;) {
        auto recs = ChangeLog::read(txn, after, 1000).value();
        if (recs.empty()) break;
        for (const auto& r : recs) {
            after = r.position;
            if (r.origin != kOrigin) continue;
            for (const auto& oc : r.changes.objects) records_of[oc.gid].push_back(r.position);
        }
    }
    ASSERT_EQ(records_of.size(), static_cast<size_t>(kGroups * 3));
    uint64_t previous = 0;
    for (int g = 0; g < kGroups; ++g) {
        auto& first = records_of["\x02" + doc_id(g, 0)];
        // The insert and the update: one record when both were in one batch, else two.
        ASSERT_TRUE(first.size() == 1 || first.size() == 2)
            << doc_id(g, 0) << " in " << first.size() << " records";
        EXPECT_GE(first[0], previous) << "group " << g << " applied before an earlier event";
        if (first.size() == 2) {
            EXPECT_GT(first[1], first[0]);
        }
        for (int j = 1; j < 3; ++j) {
            auto& other = records_of["\x02" + doc_id(g, j)];
            ASSERT_EQ(other.size(), 1u) << doc_id(g, j) << " applied " << other.size() << " times";
            EXPECT_EQ(other[0], first[0]) << "transaction " << g << " split";
        }
        previous = first.back();
        Gid gid = "\x02" + doc_id(g, 0);
        auto id = local_id_of(txn, box, gid).value();
        ASSERT_TRUE(id.has_value());
        EXPECT_EQ(box.get(txn, *id).value().value().get("i32").as<int64_t>(), 100000 + g);
    }
}

TEST(ConnectorFaults, StandInRestartUnderARunningConnector) {
    testing::TempDir dir;
    // Against a real deployment (OUTPOST_TEST_MONGO_URI) the test cannot restart the server; it
    // drops the connections of the connector's commands with a fail point instead.
    testing::MongoServer mongo(
        {}, std::getenv("OUTPOST_TEST_MONGO_URI") ? "" : dir.sub("standin-data"));
    auto store = testing::open_store(dir.sub("store"), testing::mongo_mapping_model());
    ConnectorOptions o;
    o.url = mongo.uri();
    o.database = mongo.database();
    o.max_await_ms = 100;
    auto c = Connector::create(store, o).value();
    ASSERT_OK(c->start(nullptr));
    auto box = store->box("Item").value();
    auto put = [&](int i) {
        Object obj = box.new_object();
        (void)obj.set("i32", Value(int64_t{i}));
        ASSERT_OK(box.put(obj));
    };
    for (int i = 0; i < 20; ++i) put(i);
    mongo.insert("Tag", R"({"_id": "before"})");
    ASSERT_TRUE(wait_until([&] {
        return mongo.count("items") == 20 && store->box("Tag").value().count().value() == 1;
    }));
    if (auto* s = mongo.standin()) {
        s->kill_now();
        for (int i = 20; i < 40; ++i) put(i);  // written while MongoDB is down
        ASSERT_TRUE(s->start());
    } else {
        mongo.fail_point(
            R"({"failCommands": ["update", "getMore", "commitTransaction"], "closeConnection": true})",
            R"({"times": 6})");
        for (int i = 20; i < 40; ++i) put(i);
    }
    mongo.insert("Tag", R"({"_id": "after"})");
    ASSERT_TRUE(wait_until([&] { return mongo.count("items") == 40; }, std::chrono::seconds(30)));
    ASSERT_TRUE(wait_until([&] { return store->box("Tag").value().count().value() == 2; },
                           std::chrono::seconds(30)));
    // The outbound side passes the record the inbound side made too (it came from MongoDB).
    EXPECT_TRUE(wait_until([&] {
        auto st = c->status();
        return st.outbound_position == st.server_head;
    }));
    c->stop();
}

}  // namespace
}  // namespace outpost::mongo
