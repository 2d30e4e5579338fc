// The outbound pipeline: batches are read and mapped on one thread while another writes them, and
// still reach MongoDB in history order and exactly once, across transient errors, dropped
// connections and unknown commit results.
#include <gtest/gtest.h>

#include <map>

#include "common/models.hpp"
#include "common/status_macros.hpp"
#include "mongo/connector.hpp"
#include "mongo/mongo_env.hpp"

namespace outpost::mongo {
namespace {

using detail::Bson;
using testing::wait_until;

std::string id_key(const bson_t* ev) {
    bson_iter_t it, d;
    if (!bson_iter_init(&it, ev) || !bson_iter_find_descendant(&it, "documentKey._id", &d))
        return "";
    Bson one;
    bson_append_iter(one.get(), "_id", 3, &d);
    return one.json();
}

std::optional<int64_t> int_at(const bson_t* ev, const char* path) {
    bson_iter_t it, d;
    if (!bson_iter_init(&it, ev) || !bson_iter_find_descendant(&it, path, &d) ||
        !BSON_ITER_HOLDS_NUMBER(&d)) {
        return std::nullopt;
    }
    return bson_iter_as_int64(&d);
}

std::string string_at(const bson_t* ev, const char* path) {
    bson_iter_t it, d;
    if (!bson_iter_init(&it, ev) || !bson_iter_find_descendant(&it, path, &d) ||
        !BSON_ITER_HOLDS_UTF8(&d))
        return "";
    return bson_iter_utf8(&d, nullptr);
}

TEST(OutboundPipeline, OrderAndExactlyOnceHoldAcrossRetries) {
    testing::MongoServer mongo;
    testing::TempDir dir;
    auto store = testing::open_store(dir.sub("store"), testing::mongo_mapping_model());
    ASSERT_TRUE(store);
    // Every event of the database, from before the first outbound write.
    detail::DatabasePtr db(mongoc_client_get_database(mongo.client(), mongo.database().c_str()));
    Bson pipeline, watch_opts = testing::bson(R"({"maxAwaitTimeMS": 100})");
    detail::StreamPtr stream(mongoc_database_watch(db.get(), pipeline.get(), watch_opts.get()));
    const bson_t* ev;
    (void)mongoc_change_stream_next(stream.get(), &ev);

    // Each store transaction k sets X's i32 to k and makes a new object Y with i32 k.
    auto box = store->box("Item").value();
    uint64_t x = 0;
    auto write = [&](int from, int to) {
        for (int k = from; k <= to; ++k) {
            Status s = store->write([&](WriteTxn& w) -> Status {
                Object o = x ? box.get(w, x).value().value() : box.new_object();
                (void)o.set("i32", Value(int64_t{k}));
                auto id = box.put(w, o);
                if (!id) return id.status();
                x = *id;
                Object y = box.new_object();
                (void)y.set("i32", Value(int64_t{k}));
                (void)y.set("name", Value("y"));
                return box.put(w, y).status();
            });
            ASSERT_OK(s);
        }
    };
    constexpr int kPerPhase = 40;
    write(1, kPerPhase);

    ConnectorOptions o;
    o.url = mongo.uri();
    o.database = mongo.database();
    o.max_await_ms = 100;
    o.outbound_max_ops = 3;  // two store transactions a batch: many batches, prepared ahead
    o.outbound_max_records = 2;
    auto c = Connector::create(store, o);
    ASSERT_OK(c);
    auto connector = std::move(c).value();
    auto caught_up = [&] {
        auto st = connector->status();
        return st.outbound_position == st.server_head;
    };

    // Phase 1: the backlog, with commits that fail as write conflicts (the whole transaction
    // again).
    mongo.fail_point(
        R"({"failCommands": ["commitTransaction"], "errorCode": 112, "errorLabels": ["TransientTransactionError"]})",
        R"({"times": 3})");
    ASSERT_OK(connector->start(nullptr));
    ASSERT_TRUE(wait_until(caught_up, std::chrono::seconds(30)));
    // Phase 2: connections dropped on writes.
    mongo.fail_point(R"({"failCommands": ["update"], "closeConnection": true})", R"({"times": 2})");
    write(kPerPhase + 1, 2 * kPerPhase);
    ASSERT_TRUE(wait_until(caught_up, std::chrono::seconds(30)));
    // Phase 3: commits whose outcome is unknown (committed again).
    mongo.fail_point(
        R"({"failCommands": ["commitTransaction"], "errorCode": 91, "errorLabels": ["UnknownTransactionCommitResult"]})",
        R"({"times": 2})");
    write(2 * kPerPhase + 1, 3 * kPerPhase);
    ASSERT_TRUE(wait_until(caught_up, std::chrono::seconds(30)));
    auto st = connector->status();
    connector->stop();

    constexpr int kTotal = 3 * kPerPhase;
    EXPECT_EQ(mongo.count("items"), kTotal + 1);
    EXPECT_EQ(st.outbound_docs,
              2u * kTotal);  // each write counted once, when its transaction committed
    EXPECT_GE(st.retries, 7u);

    // In stream order: X took the values 1..kTotal once each, every Y arrived once, and the
    // marker's position only grew.
    std::map<std::string, std::vector<int64_t>> values;  // document key -> i32 values in order
    std::vector<int64_t> positions;
    int empty = 0;
    while (empty < 3) {
        if (!mongoc_change_stream_next(stream.get(), &ev)) {
            ++empty;
            continue;
        }
        empty = 0;
        std::string coll = string_at(ev, "ns.coll");
        std::string op = string_at(ev, "operationType");
        if (coll == kMetaCollection) {
            auto p = int_at(ev, "fullDocument.position");
            if (!p) p = int_at(ev, "updateDescription.updatedFields.position");
            if (p) positions.push_back(*p);
            continue;
        }
        ASSERT_EQ(coll, "items");
        EXPECT_TRUE(op == "insert" || op == "update") << op;
        auto v = op == "insert" ? int_at(ev, "fullDocument.i32")
                                : int_at(ev, "updateDescription.updatedFields.i32");
        ASSERT_TRUE(v.has_value());
        values[id_key(ev)].push_back(*v);
    }
    bson_error_t err;
    const bson_t* reply;
    ASSERT_FALSE(mongoc_change_stream_error_document(stream.get(), &err, &reply)) << err.message;

    ASSERT_EQ(values.size(), static_cast<size_t>(kTotal + 1));
    size_t singles = 0;
    bool saw_x = false;
    for (const auto& [key, seq] : values) {
        if (seq.size() == 1) {
            ++singles;
            continue;
        }
        saw_x = true;
        ASSERT_EQ(seq.size(), static_cast<size_t>(kTotal)) << key;
        for (int k = 1; k <= kTotal; ++k) EXPECT_EQ(seq[static_cast<size_t>(k - 1)], k) << key;
    }
    EXPECT_TRUE(saw_x);
    EXPECT_EQ(singles, static_cast<size_t>(kTotal));
    ASSERT_FALSE(positions.empty());
    for (size_t i = 1; i < positions.size(); ++i)
        EXPECT_LT(positions[i - 1], positions[i]) << "at " << i;
    EXPECT_EQ(static_cast<uint64_t>(positions.back()), st.server_head);
}

}  // namespace
}  // namespace outpost::mongo
