// The inbound stream over recorded change streams, without a server: a ChangeStreamSource that
// replays replies (and errors) as a MongoDB server would send them, into a real server store.
#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "common/models.hpp"
#include "common/status_macros.hpp"
#include "mongo/connector_meta.hpp"
#include "mongo/event_mapper.hpp"
#include "mongo/inbound_stream.hpp"
#include "mongo/mongo_env.hpp"
#include "mongo/stream_reader.hpp"

namespace outpost::mongo {
namespace {

using detail::Bson;
using detail::ChangeStreamSource;
using detail::StreamReply;
using testing::bson;

constexpr const char* kMarkerId = "server:replay";

// A change stream replayed from recorded replies: open() returns the first step, next() the
// following ones; a step may be an error, as MongoDB returned it.
class ReplayedStream final : public ChangeStreamSource {
  public:
    explicit ReplayedStream(std::vector<Result<Bson>> steps) : steps_(std::move(steps)) {}

    Result<StreamReply> open(const bson_t* start_after) override {
        opened_after = start_after ? Bson::copy_of(start_after).json() : "";
        return step("firstBatch");
    }
    Result<StreamReply> next() override { return step("nextBatch"); }
    bool has_more() const override { return cursor_ != 0; }
    void close() override {
        cursor_ = 0;
        closed = true;
    }
    Result<std::optional<Bson>> find_by_id(const std::string& collection, const Gid& gid) override {
        auto it = documents.find(collection + "/" + gid);
        if (it == documents.end()) return std::optional<Bson>();
        return std::optional<Bson>(it->second);
    }

    std::map<std::string, Bson> documents;  // "collection/gid" -> the document
    std::string opened_after;
    bool closed = false;

  private:
    Result<StreamReply> step(const char* key) {
        if (next_ >= steps_.size())
            return Status(ErrorCode::kMongoCommand, "replay: no more replies");
        Result<Bson>& s = steps_[next_++];
        if (!s) {
            cursor_ = 0;
            return s.status();
        }
        cursor_ = detail::reply_cursor_id(s->get());
        return StreamReply{std::make_unique<Bson>(*s), key};
    }

    std::vector<Result<Bson>> steps_;
    size_t next_ = 0;
    int64_t cursor_ = 0;
};

std::string oid(int n) {
    char buf[25];
    std::snprintf(buf, sizeof buf, "%024x", n);
    return buf;
}

Bson token(int n) { return bson("{\"_data\": \"" + oid(n) + "\"}"); }

// An event of the collection COLL with resume token TOK; TXN > 0: in that MongoDB transaction.
Bson event(int tok, const std::string& op, const std::string& coll, int txn,
           const std::string& rest) {
    std::string json = "{\"_id\": {\"_data\": \"" + oid(tok) + "\"}, \"operationType\": \"" + op +
                       "\", \"ns\": {\"db\": \"db\", \"coll\": \"" + coll + "\"}";
    if (txn > 0) {
        json +=
            ", \"lsid\": {\"id\": {\"$binary\": {\"base64\": \"AAAAAAAAAAAAAAAAAAAAAA==\", "
            "\"subType\": \"04\"}}}";
        json += ", \"txnNumber\": {\"$numberLong\": \"" + std::to_string(txn) + "\"}";
    }
    return bson(json + rest + "}");
}

// An insert of an Item with _id OBJ and label LABEL; PAD bytes of an unmapped field make it large.
Bson insert(int tok, int obj, const std::string& label, int txn = 0, size_t pad = 0) {
    std::string id = "{\"_id\": {\"$oid\": \"" + oid(obj) + "\"}}";
    Bson e = event(tok, "insert", "items", txn, ", \"documentKey\": " + id);
    Bson full = bson("{\"_id\": {\"$oid\": \"" + oid(obj) + "\"}, \"label\": \"" + label + "\"}");
    if (pad > 0) BSON_APPEND_UTF8(full.get(), "pad", std::string(pad, 'p').c_str());
    BSON_APPEND_DOCUMENT(e.get(), "fullDocument", full.get());
    return e;
}

// This server's marker write at POSITION, in transaction TXN (every outbound transaction has one).
Bson marker(int tok, int64_t position, int txn) {
    return event(tok, "update", kMetaCollection, txn,
                 std::string(", \"documentKey\": {\"_id\": \"") + kMarkerId +
                     "\"}, \"updateDescription\": {\"updatedFields\": {\"position\": " +
                     std::to_string(position) + "}, \"removedFields\": []}");
}

// A reply with EVENTS under KEY, the post-batch token PBRT, and CURSOR (0: the stream ended).
Bson reply(const std::vector<Bson>& events, int pbrt, int64_t cursor = 42,
           const char* key = "nextBatch") {
    Bson r;
    bson_t cursor_doc, arr;
    BSON_APPEND_DOCUMENT_BEGIN(r.get(), "cursor", &cursor_doc);
    BSON_APPEND_INT64(&cursor_doc, "id", cursor);
    BSON_APPEND_ARRAY_BEGIN(&cursor_doc, key, &arr);
    for (size_t i = 0; i < events.size(); ++i) {
        BSON_APPEND_DOCUMENT(&arr, std::to_string(i).c_str(), events[i].get());
    }
    bson_append_array_end(&cursor_doc, &arr);
    BSON_APPEND_DOCUMENT(&cursor_doc, "postBatchResumeToken", token(pbrt).get());
    bson_append_document_end(r.get(), &cursor_doc);
    BSON_APPEND_DOUBLE(r.get(), "ok", 1);
    return r;
}

Bson first_reply(int pbrt) { return reply({}, pbrt, 42, "firstBatch"); }

class InboundReplay : public ::testing::Test {
  protected:
    void SetUp() override {
        model_ = testing::mongo_mapping_model();
        store_ = testing::open_store(dir_.sub("store"), model_);
        ASSERT_TRUE(store_);
        auto m = Mapping::create(model_);
        ASSERT_OK(m);
        mapping_.emplace(std::move(m).value());
        options_.database = "db";
    }

    // Runs the stream of SOURCE from START; at each commit that changed objects, records what the
    // store holds: the number of Items and the stored resume token.
    Status run(ReplayedStream& source, std::optional<Bson> start = std::nullopt,
               uint64_t own_seen = 0) {
        detail::InboundContext ctx{*store_,
                                   *mapping_,
                                   options_,
                                   kMarkerId,
                                   state_,
                                   [this] { commits_.push_back(snapshot()); },
                                   [] { return false; },
                                   [] { return false; }};
        return detail::run_change_stream(ctx, source, std::move(start), own_seen);
    }

    struct Snapshot {
        size_t items = 0;
        std::string token;  // the stored resume token as JSON ("" when none)
        std::string own_seen;
    };
    Snapshot snapshot() {
        Snapshot s;
        auto txn = store_->begin_read().value();
        s.items = store_->box("Item").value().ids(txn).value().size();
        if (auto raw = get_meta(txn, kMetaResumeToken).value()) {
            bson_t view;
            if (bson_init_static(&view, reinterpret_cast<const uint8_t*>(raw->data()),
                                 raw->size())) {
                s.token = Bson::copy_of(&view).json();
            }
        }
        s.own_seen = get_meta(txn, kMetaOwnSeen).value().value_or("");
        return s;
    }

    testing::TempDir dir_;
    Model model_;
    std::shared_ptr<Store> store_;
    std::optional<Mapping> mapping_;
    ConnectorOptions options_;
    detail::ConnectorState state_{[](bool, const std::string&) {}};
    std::vector<Snapshot> commits_;  // written on the committing thread, read after run() returned
};

TEST_F(InboundReplay, ResumeTokenIsCommittedWithTheData) {
    ReplayedStream source(
        {first_reply(1), reply({insert(2, 1, "a")}, 3), reply({insert(4, 2, "b")}, 5, 0)});
    ASSERT_OK(run(source, token(1)));
    EXPECT_EQ(source.opened_after, token(1).json());
    ASSERT_EQ(commits_.size(), 2u);
    EXPECT_EQ(commits_[0].items, 1u);
    EXPECT_EQ(commits_[0].token, token(3).json());
    EXPECT_EQ(commits_[1].items, 2u);
    EXPECT_EQ(commits_[1].token, token(5).json());
    EXPECT_TRUE(source.closed);
    auto status = state_.snapshot();
    EXPECT_EQ(status.inbound_events, 2u);
    EXPECT_EQ(status.resume_token, token(5).json());
}

TEST_F(InboundReplay, TransactionSplitOverTwoRepliesIsNeverCommittedHalf) {
    // A full reply (over StreamReader::kFullBatchBytes) that ends inside transaction 7; the rest of
    // the transaction comes in the next reply.
    const size_t pad = detail::StreamReader::kFullBatchBytes;
    ReplayedStream source(
        {first_reply(1),
         reply({insert(2, 1, "alone", 0, pad), insert(3, 2, "t1", 7), insert(4, 3, "t2", 7)}, 5),
         reply({insert(6, 4, "t3", 7)}, 8, 0)});
    ASSERT_OK(run(source, token(1)));
    ASSERT_EQ(commits_.size(), 2u);
    // The first commit stops before the transaction, at its event's token.
    EXPECT_EQ(commits_[0].items, 1u);
    EXPECT_EQ(commits_[0].token, token(2).json());
    // The transaction commits whole, with the next reply's token.
    EXPECT_EQ(commits_[1].items, 4u);
    EXPECT_EQ(commits_[1].token, token(8).json());
}

TEST_F(InboundReplay, OwnWritesAreSkipped) {
    // Transaction 3 is this server's (its marker at position 9): its write of item 1 is an echo.
    ReplayedStream source(
        {first_reply(1),
         reply({marker(2, 9, 3), insert(3, 1, "echo", 3), insert(4, 2, "theirs", 4)}, 5, 0)});
    ASSERT_OK(run(source, token(1)));
    ASSERT_EQ(commits_.size(), 1u);
    EXPECT_EQ(commits_[0].items, 1u);
    EXPECT_EQ(commits_[0].own_seen, "9");
    auto status = state_.snapshot();
    EXPECT_EQ(status.echoes_skipped, 1u);
    EXPECT_EQ(status.inbound_events, 1u);
}

TEST_F(InboundReplay, DropRemovesTheObjectsAndInvalidateEndsTheStream) {
    options_.remove_objects_of_dropped_collections = true;
    ReplayedStream source(
        {first_reply(1), reply({insert(2, 1, "a"), insert(3, 2, "b")}, 4),
         reply({event(5, "drop", "items", 0, ""), event(6, "invalidate", "items", 0, "")}, 7, 0)});
    ASSERT_OK(run(source, token(1)));
    ASSERT_EQ(commits_.size(), 2u);
    EXPECT_EQ(commits_[0].items, 2u);
    EXPECT_EQ(commits_[1].items, 0u);
    EXPECT_EQ(commits_[1].token, token(7).json());
    EXPECT_NE(state_.snapshot().last_error.find("MongoDB reports drop of items"),
              std::string::npos);
}

TEST_F(InboundReplay, DropKeepsTheObjectsUnlessAskedToRemoveThem) {
    ReplayedStream source({first_reply(1), reply({insert(2, 1, "a")}, 3),
                           reply({event(4, "drop", "items", 0, "")}, 5, 0)});
    ASSERT_OK(run(source, token(1)));
    EXPECT_EQ(snapshot().items, 1u);
    EXPECT_EQ(snapshot().token, token(5).json());
    EXPECT_NE(state_.snapshot().last_error.find("the server keeps its objects"), std::string::npos);
}

TEST_F(InboundReplay, HistoryLostWhenOpeningEndsTheStreamForAnImport) {
    ReplayedStream source(
        {Status(ErrorCode::kMongoHistoryLost, "the change stream cannot resume", 286)});
    Status s = run(source, token(1));
    EXPECT_EQ(s.code(), ErrorCode::kMongoHistoryLost);
    EXPECT_EQ(s.cause(), 286);
    EXPECT_TRUE(commits_.empty());
    EXPECT_EQ(snapshot().token, "");
}

TEST_F(InboundReplay, HistoryLostWhileReadingKeepsWhatWasCommitted) {
    ReplayedStream source(
        {first_reply(1), reply({insert(2, 1, "a")}, 3),
         Status(ErrorCode::kMongoHistoryLost, "the change stream cannot continue", 286)});
    Status s = run(source, token(1));
    EXPECT_EQ(s.code(), ErrorCode::kMongoHistoryLost);
    EXPECT_EQ(s.cause(), 286);
    ASSERT_EQ(commits_.size(), 1u);
    EXPECT_EQ(snapshot().items, 1u);
    EXPECT_EQ(snapshot().token, token(3).json());
}

TEST_F(InboundReplay, UnmappableDocumentIsADeadLetterOrWithStrictConversionsAnError) {
    Bson bad = event(2, "insert", "items", 0,
                     ", \"documentKey\": {\"_id\": {\"$oid\": \"" + oid(1) +
                         "\"}}, \"fullDocument\": {\"_id\": {\"$oid\": \"" + oid(1) +
                         "\"}, \"label\": 5}");
    ReplayedStream lenient({first_reply(1), reply({bad, insert(3, 2, "ok")}, 4, 0)});
    ASSERT_OK(run(lenient, token(1)));
    EXPECT_EQ(snapshot().items, 1u);
    EXPECT_EQ(state_.snapshot().dead_letters_total, 1u);

    options_.strict_from_mongo = true;
    ReplayedStream strict({first_reply(4), reply({bad}, 5, 0)});
    Status s = run(strict, token(4));
    EXPECT_EQ(s.code(), ErrorCode::kMongoMapping);
    EXPECT_EQ(snapshot().token, token(4).json());  // the batch was not committed
}

// The mapper alone: events in, changes out, with the store and MongoDB behind a fake MapperEnv.
class FakeMapperEnv final : public detail::MapperEnv {
  public:
    Result<std::vector<Gid>> object_gids(const CollectionMap&) override { return gids; }
    Result<std::optional<Bson>> find_by_id(const std::string& collection, const Gid&) override {
        lookups.push_back(collection);
        return document;
    }
    void report(const Status& s) override { reports.push_back(s.message()); }

    std::vector<Gid> gids;
    std::optional<Bson> document;
    std::vector<std::string> lookups;
    std::vector<std::string> reports;
};

class EventMapperTest : public ::testing::Test {
  protected:
    void SetUp() override {
        model_ = testing::mongo_mapping_model();
        auto m = Mapping::create(model_);
        ASSERT_OK(m);
        mapping_.emplace(std::move(m).value());
    }
    // Maps EVENTS (views into them) with own_seen starting at OWN_SEEN.
    Result<detail::MappedBatch> map(const std::vector<Bson>& events, uint64_t& own_seen) {
        std::vector<detail::Event> parsed;
        for (const auto& e : events) parsed.push_back(detail::parse_event(e.get(), kMarkerId));
        detail::EventMapper mapper(*mapping_, options_);
        return mapper.map(parsed, own_seen, env_);
    }

    Model model_;
    std::optional<Mapping> mapping_;
    ConnectorOptions options_;
    FakeMapperEnv env_;
};

TEST_F(EventMapperTest, GroupsChangesByMongoDbTransaction) {
    uint64_t own_seen = 0;
    auto r =
        map({insert(1, 1, "a", 5), insert(2, 2, "b", 5), insert(3, 3, "c"), insert(4, 4, "d", 6)},
            own_seen);
    ASSERT_OK(r);
    ASSERT_EQ(r->groups.size(), 3u);
    EXPECT_EQ(r->groups[0].size(), 2u);
    EXPECT_EQ(r->groups[1].size(), 1u);
    EXPECT_EQ(r->groups[2].size(), 1u);
    EXPECT_EQ(r->applied_events, 4u);
}

TEST_F(EventMapperTest, MarkerMovesOwnSeenAndItsTransactionIsAnEcho) {
    uint64_t own_seen = 3;
    auto r = map(
        {insert(1, 1, "before"), marker(2, 9, 4), insert(3, 2, "echo", 4), insert(4, 3, "after")},
        own_seen);
    ASSERT_OK(r);
    EXPECT_EQ(own_seen, 9u);
    EXPECT_EQ(r->echoes, 1u);
    size_t changes = 0;
    for (const auto& g : r->groups) {
        for (const auto& m : g) {
            ++changes;
            // Each change carries own_seen as it was at its event.
            EXPECT_EQ(m.own_seen, m.event == 0 ? 3u : 9u);
        }
    }
    EXPECT_EQ(changes, 2u);
}

TEST_F(EventMapperTest, UpdateOfPartOfAFieldReadsTheDocument) {
    Bson update = event(1, "update", "items", 0,
                        ", \"documentKey\": {\"_id\": {\"$oid\": \"" + oid(1) +
                            "\"}}, \"updateDescription\": {\"updatedFields\": {\"tags.1\": \"x\"}, "
                            "\"removedFields\": []}");
    env_.document = bson("{\"_id\": {\"$oid\": \"" + oid(1) + "\"}, \"tags\": [\"a\", \"x\"]}");
    uint64_t own_seen = 0;
    auto r = map({update}, own_seen);
    ASSERT_OK(r);
    EXPECT_EQ(env_.lookups, std::vector<std::string>{"items"});
    ASSERT_EQ(r->groups.size(), 1u);
    ASSERT_EQ(r->groups[0].size(), 1u);
    EXPECT_EQ(r->groups[0][0].change.properties.size(), 1u);
}

TEST_F(EventMapperTest, UnmappedCollectionsAndTheMetadataCollectionAreIgnored) {
    Bson other = event(1, "insert", "not_mapped", 0,
                       ", \"documentKey\": {\"_id\": 1}, \"fullDocument\": {\"_id\": 1}");
    Bson meta = event(2, "update", kMetaCollection, 0,
                      ", \"documentKey\": {\"_id\": \"server:other\"}, \"updateDescription\": "
                      "{\"updatedFields\": {\"position\": 4}}");
    uint64_t own_seen = 0;
    auto r = map({other, meta}, own_seen);
    ASSERT_OK(r);
    for (const auto& g : r->groups) EXPECT_TRUE(g.empty());
    EXPECT_EQ(r->applied_events, 0u);
    EXPECT_TRUE(r->dead.empty());
    EXPECT_EQ(own_seen, 0u);
}

TEST_F(EventMapperTest, DropReportsAndRemovesOnlyWhenAsked) {
    env_.gids = {"g1", "g2"};
    uint64_t own_seen = 0;
    auto kept = map({event(1, "drop", "items", 0, "")}, own_seen);
    ASSERT_OK(kept);
    EXPECT_TRUE(kept->groups[0].empty());
    options_.remove_objects_of_dropped_collections = true;
    auto removed = map({event(1, "drop", "items", 0, "")}, own_seen);
    ASSERT_OK(removed);
    ASSERT_EQ(removed->groups[0].size(), 2u);
    EXPECT_EQ(removed->groups[0][0].change.kind, ObjectChange::kRemove);
    EXPECT_EQ(env_.reports.size(), 2u);
}

}  // namespace
}  // namespace outpost::mongo
