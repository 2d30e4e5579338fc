// The stand-in through libmongoc: change streams (collection and database), transactions with
// mongoc_client_session_with_transaction, and a client pool used from 8 threads.
#include <gtest/gtest.h>
#include <mongoc/mongoc.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "standin/standin_process.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// A stand-in for one test; its destructor checks the clean SIGTERM exit.
class StandIn {
  public:
    explicit StandIn(std::vector<std::string> extra = {})
        : proc_({std::string(), std::move(extra)}) {}
    ~StandIn() { EXPECT_TRUE(proc_.stop()) << "stand-in did not exit cleanly"; }
    int port() const { return proc_.port(); }
    std::string uri(const std::string& extra = "") const { return proc_.uri(extra); }

  private:
    outpost::testing::StandInProcess proc_;
};

// Owning bson_t handle (unique_ptr<bson_t> trips -Wignored-attributes on its alignment).
class BsonPtr {
  public:
    explicit BsonPtr(bson_t* b) : b_(b) {}
    BsonPtr(BsonPtr&& o) noexcept : b_(o.b_) { o.b_ = nullptr; }
    BsonPtr(const BsonPtr&) = delete;
    BsonPtr& operator=(const BsonPtr&) = delete;
    BsonPtr& operator=(BsonPtr&&) = delete;
    ~BsonPtr() {
        if (b_) bson_destroy(b_);
    }
    bson_t* get() const { return b_; }

  private:
    bson_t* b_;
};
BsonPtr json(const char* s) {
    bson_error_t err;
    bson_t* b = bson_new_from_json(reinterpret_cast<const uint8_t*>(s), -1, &err);
    EXPECT_NE(b, nullptr) << err.message;
    return BsonPtr(b);
}

struct ClientDeleter {
    void operator()(mongoc_client_t* c) const { mongoc_client_destroy(c); }
};
struct CollDeleter {
    void operator()(mongoc_collection_t* c) const { mongoc_collection_destroy(c); }
};
struct StreamDeleter {
    void operator()(mongoc_change_stream_t* s) const { mongoc_change_stream_destroy(s); }
};
using ClientPtr = std::unique_ptr<mongoc_client_t, ClientDeleter>;
using CollPtr = std::unique_ptr<mongoc_collection_t, CollDeleter>;
using StreamPtr = std::unique_ptr<mongoc_change_stream_t, StreamDeleter>;

class MongocEnv : public ::testing::Environment {
  public:
    void SetUp() override { mongoc_init(); }
    void TearDown() override { mongoc_cleanup(); }
};
[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new MongocEnv);

ClientPtr connect(const StandIn& s) {
    ClientPtr c(mongoc_client_new(s.uri().c_str()));
    EXPECT_TRUE(c);
    return c;
}

std::string field_string(const bson_t* doc, const char* path) {
    bson_iter_t it, f;
    if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &f) &&
        BSON_ITER_HOLDS_UTF8(&f))
        return bson_iter_utf8(&f, nullptr);
    return "";
}

// Waits (with a deadline) for the next event of a change stream.
bool next_event(mongoc_change_stream_t* s, const bson_t** out,
                std::chrono::seconds limit = std::chrono::seconds(10)) {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
        if (mongoc_change_stream_next(s, out)) return true;
        bson_error_t err;
        const bson_t* reply;
        if (mongoc_change_stream_error_document(s, &err, &reply)) {
            ADD_FAILURE() << "change stream error: " << err.message;
            return false;
        }
    }
    return false;
}

TEST(StandinLibmongoc, SeesWritablePrimary) {
    StandIn s;
    ASSERT_GT(s.port(), 0);
    auto c = connect(s);
    bson_t reply;
    bson_error_t err;
    auto cmd = json(R"({"ping": 1})");
    ASSERT_TRUE(mongoc_client_command_simple(c.get(), "admin", cmd.get(), nullptr, &reply, &err))
        << err.message;
    bson_destroy(&reply);
    mongoc_server_description_t* sd = mongoc_client_select_server(c.get(), true, nullptr, &err);
    ASSERT_NE(sd, nullptr) << err.message;
    EXPECT_STREQ(mongoc_server_description_type(sd), "RSPrimary");
    mongoc_server_description_destroy(sd);
}

// --standalone answers as a standalone mongod: libmongoc sees a Standalone server, plain writes
// work, and change streams and transactions fail with mongod's errors.
TEST(StandinLibmongoc, StandaloneHasNoChangeStreamsOrTransactions) {
    StandIn s({"--standalone"});
    std::string uri =
        "mongodb://127.0.0.1:" + std::to_string(s.port()) + "/?serverSelectionTimeoutMS=3000";
    ClientPtr c(mongoc_client_new(uri.c_str()));
    ASSERT_TRUE(c);
    bson_error_t err;
    mongoc_server_description_t* sd = mongoc_client_select_server(c.get(), true, nullptr, &err);
    ASSERT_NE(sd, nullptr) << err.message;
    EXPECT_STREQ(mongoc_server_description_type(sd), "Standalone");
    mongoc_server_description_destroy(sd);

    CollPtr coll(mongoc_client_get_collection(c.get(), "test", "sa"));
    auto doc = json(R"({"_id": 1, "a": 1})");
    ASSERT_TRUE(mongoc_collection_insert_one(coll.get(), doc.get(), nullptr, nullptr, &err))
        << err.message;

    auto pipeline = json("{}");
    StreamPtr stream(mongoc_collection_watch(coll.get(), pipeline.get(), nullptr));
    const bson_t* ev = nullptr;
    EXPECT_FALSE(mongoc_change_stream_next(stream.get(), &ev));
    const bson_t* reply = nullptr;
    ASSERT_TRUE(mongoc_change_stream_error_document(stream.get(), &err, &reply));
    EXPECT_EQ(err.code, 40573u) << err.message;

    // A transaction's first write carries a txnNumber, which a standalone refuses
    // (IllegalOperation).
    mongoc_client_session_t* session = mongoc_client_start_session(c.get(), nullptr, &err);
    ASSERT_NE(session, nullptr) << err.message;
    ASSERT_TRUE(mongoc_client_session_start_transaction(session, nullptr, &err)) << err.message;
    BsonPtr opts(bson_new());
    ASSERT_TRUE(mongoc_client_session_append(session, opts.get(), &err)) << err.message;
    auto doc2 = json(R"({"_id": 2})");
    EXPECT_FALSE(mongoc_collection_insert_one(coll.get(), doc2.get(), opts.get(), nullptr, &err));
    EXPECT_EQ(err.code, 20u) << err.message;
    mongoc_client_session_destroy(session);
    // Nothing of the refused transaction was written.
    auto filter = json(R"({"_id": 2})");
    EXPECT_EQ(mongoc_collection_count_documents(coll.get(), filter.get(), nullptr, nullptr, nullptr,
                                                &err),
              0);
}

TEST(StandinLibmongoc, CollectionWatchDeliversEvents) {
    StandIn s;
    auto c = connect(s);
    CollPtr coll(mongoc_client_get_collection(c.get(), "test", "cw"));
    auto opts = json(R"({"maxAwaitTimeMS": 50, "fullDocument": "updateLookup"})");
    auto pipeline = json("{}");
    StreamPtr stream(mongoc_collection_watch(coll.get(), pipeline.get(), opts.get()));
    auto writer = connect(s);
    CollPtr wcoll(mongoc_client_get_collection(writer.get(), "test", "cw"));
    bson_error_t err;
    auto doc = json(R"({"_id": 1, "a": 1})");
    ASSERT_TRUE(mongoc_collection_insert_one(wcoll.get(), doc.get(), nullptr, nullptr, &err))
        << err.message;
    auto sel = json(R"({"_id": 1})");
    auto upd = json(R"({"$set": {"a": 2}})");
    ASSERT_TRUE(
        mongoc_collection_update_one(wcoll.get(), sel.get(), upd.get(), nullptr, nullptr, &err))
        << err.message;
    const bson_t* ev = nullptr;
    ASSERT_TRUE(next_event(stream.get(), &ev));
    EXPECT_EQ(field_string(ev, "operationType"), "insert");
    ASSERT_TRUE(next_event(stream.get(), &ev));
    EXPECT_EQ(field_string(ev, "operationType"), "update");
    bson_iter_t it, f;
    ASSERT_TRUE(bson_iter_init(&it, ev) &&
                bson_iter_find_descendant(&it, "updateDescription.updatedFields.a", &f));
    EXPECT_EQ(bson_iter_int32(&f), 2);
    const bson_t* token = mongoc_change_stream_get_resume_token(stream.get());
    ASSERT_NE(token, nullptr);
    EXPECT_FALSE(field_string(token, "_data").empty());
}

TEST(StandinLibmongoc, DatabaseWatchSeesAllCollections) {
    StandIn s;
    auto c = connect(s);
    mongoc_database_t* db = mongoc_client_get_database(c.get(), "test");
    auto pipeline = json("{}");
    auto opts = json(R"({"maxAwaitTimeMS": 50})");
    StreamPtr stream(mongoc_database_watch(db, pipeline.get(), opts.get()));
    bson_error_t err;
    for (const char* name : {"one", "two"}) {
        CollPtr coll(mongoc_client_get_collection(c.get(), "test", name));
        auto doc = json(R"({"x": 1})");
        ASSERT_TRUE(mongoc_collection_insert_one(coll.get(), doc.get(), nullptr, nullptr, &err))
            << err.message;
    }
    const bson_t* ev = nullptr;
    ASSERT_TRUE(next_event(stream.get(), &ev));
    EXPECT_EQ(field_string(ev, "ns.coll"), "one");
    ASSERT_TRUE(next_event(stream.get(), &ev));
    EXPECT_EQ(field_string(ev, "ns.coll"), "two");
    mongoc_database_destroy(db);
}

struct TxnCtx {
    mongoc_collection_t* coll;
    mongoc_client_session_t* holder;
    std::atomic<int> attempts{0};
};

bool txn_body(mongoc_client_session_t* session, void* raw, bson_t** reply, bson_error_t* error) {
    auto* ctx = static_cast<TxnCtx*>(raw);
    int attempt = ++ctx->attempts;
    if (attempt == 2) {
        // The competing transaction goes away, so this attempt can succeed.
        bson_error_t e2;
        mongoc_client_session_abort_transaction(ctx->holder, &e2);
    }
    bson_t opts = BSON_INITIALIZER;
    if (!mongoc_client_session_append(session, &opts, error)) return false;
    auto sel = json(R"({"_id": 1})");
    auto upd = json(R"({"$inc": {"n": 1}})");
    bson_t local_reply;
    bool ok =
        mongoc_collection_update_one(ctx->coll, sel.get(), upd.get(), &opts, &local_reply, error);
    *reply = bson_copy(&local_reply);
    bson_destroy(&local_reply);
    bson_destroy(&opts);
    return ok;
}

TEST(StandinLibmongoc, WithTransactionRetriesWriteConflict) {
    StandIn s;
    auto c = connect(s);
    auto c2 = connect(s);
    CollPtr coll(mongoc_client_get_collection(c.get(), "test", "txn"));
    CollPtr coll2(mongoc_client_get_collection(c2.get(), "test", "txn"));
    bson_error_t err;
    auto doc = json(R"({"_id": 1, "n": 0})");
    ASSERT_TRUE(mongoc_collection_insert_one(coll.get(), doc.get(), nullptr, nullptr, &err))
        << err.message;
    // A competing open transaction holds the document.
    mongoc_client_session_t* holder = mongoc_client_start_session(c2.get(), nullptr, &err);
    ASSERT_NE(holder, nullptr) << err.message;
    ASSERT_TRUE(mongoc_client_session_start_transaction(holder, nullptr, &err)) << err.message;
    bson_t hopts = BSON_INITIALIZER;
    ASSERT_TRUE(mongoc_client_session_append(holder, &hopts, &err));
    auto sel = json(R"({"_id": 1})");
    auto hold = json(R"({"$set": {"held": true}})");
    ASSERT_TRUE(
        mongoc_collection_update_one(coll2.get(), sel.get(), hold.get(), &hopts, nullptr, &err))
        << err.message;
    bson_destroy(&hopts);

    mongoc_client_session_t* session = mongoc_client_start_session(c.get(), nullptr, &err);
    ASSERT_NE(session, nullptr) << err.message;
    TxnCtx ctx{coll.get(), holder};
    bson_t reply;
    bool ok =
        mongoc_client_session_with_transaction(session, txn_body, nullptr, &ctx, &reply, &err);
    EXPECT_TRUE(ok) << err.message;
    bson_destroy(&reply);
    EXPECT_GE(ctx.attempts.load(), 2);
    mongoc_client_session_destroy(session);
    mongoc_client_session_destroy(holder);

    auto filter = json(R"({"_id": 1})");
    mongoc_cursor_t* cur =
        mongoc_collection_find_with_opts(coll.get(), filter.get(), nullptr, nullptr);
    const bson_t* found;
    ASSERT_TRUE(mongoc_cursor_next(cur, &found));
    bson_iter_t it;
    ASSERT_TRUE(bson_iter_init_find(&it, found, "n"));
    EXPECT_EQ(bson_iter_int32(&it), 1);
    EXPECT_FALSE(bson_iter_init_find(&it, found, "held"));
    mongoc_cursor_destroy(cur);
}

TEST(StandinLibmongoc, TransactionCommitIsAtomic) {
    StandIn s;
    auto c = connect(s);
    auto other = connect(s);
    CollPtr a(mongoc_client_get_collection(c.get(), "test", "ta"));
    CollPtr oa(mongoc_client_get_collection(other.get(), "test", "ta"));
    bson_error_t err;
    mongoc_client_session_t* session = mongoc_client_start_session(c.get(), nullptr, &err);
    ASSERT_TRUE(mongoc_client_session_start_transaction(session, nullptr, &err)) << err.message;
    bson_t opts = BSON_INITIALIZER;
    ASSERT_TRUE(mongoc_client_session_append(session, &opts, &err));
    for (int i = 0; i < 3; ++i) {
        bson_t* d = BCON_NEW("_id", BCON_INT32(i));
        ASSERT_TRUE(mongoc_collection_insert_one(a.get(), d, &opts, nullptr, &err)) << err.message;
        bson_destroy(d);
    }
    auto empty = json("{}");
    EXPECT_EQ(
        mongoc_collection_count_documents(oa.get(), empty.get(), nullptr, nullptr, nullptr, &err),
        0);
    ASSERT_TRUE(mongoc_client_session_commit_transaction(session, nullptr, &err)) << err.message;
    EXPECT_EQ(
        mongoc_collection_count_documents(oa.get(), empty.get(), nullptr, nullptr, nullptr, &err),
        3);
    bson_destroy(&opts);
    mongoc_client_session_destroy(session);
}

TEST(StandinLibmongoc, ClientPoolFromEightThreads) {
    StandIn s;
    mongoc_uri_t* uri = mongoc_uri_new(s.uri().c_str());
    ASSERT_NE(uri, nullptr);
    mongoc_client_pool_t* pool = mongoc_client_pool_new(uri);
    mongoc_client_pool_max_size(pool, 8);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    constexpr int kPerThread = 250;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                mongoc_client_t* client = mongoc_client_pool_pop(pool);
                mongoc_collection_t* coll = mongoc_client_get_collection(client, "test", "pool");
                bson_t* d = BCON_NEW("_id", BCON_INT32(t * 10000 + i), "t", BCON_INT32(t));
                bson_error_t err;
                if (!mongoc_collection_insert_one(coll, d, nullptr, nullptr, &err)) ++failures;
                bson_t* q = BCON_NEW("_id", BCON_INT32(t * 10000 + i));
                mongoc_cursor_t* cur = mongoc_collection_find_with_opts(coll, q, nullptr, nullptr);
                const bson_t* found;
                if (!mongoc_cursor_next(cur, &found)) ++failures;
                mongoc_cursor_destroy(cur);
                bson_destroy(q);
                bson_destroy(d);
                mongoc_collection_destroy(coll);
                mongoc_client_pool_push(pool, client);
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0);
    mongoc_client_t* client = mongoc_client_pool_pop(pool);
    mongoc_collection_t* coll = mongoc_client_get_collection(client, "test", "pool");
    bson_error_t err;
    auto empty = json("{}");
    EXPECT_EQ(mongoc_collection_count_documents(coll, empty.get(), nullptr, nullptr, nullptr, &err),
              8 * kPerThread);
    mongoc_collection_destroy(coll);
    mongoc_client_pool_push(pool, client);
    mongoc_client_pool_destroy(pool);
    mongoc_uri_destroy(uri);
}

TEST(StandinLibmongoc, ManyConnectionsAndBlockedGetMoreDoNotStall) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 4096);
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    StandIn s;
    // 1,000 idle connections plus a getMore blocked for 5 s; a ping on a fresh client stays fast.
    std::vector<ClientPtr> clients;
    bson_error_t err;
    auto ping = json(R"({"ping": 1})");
    for (int i = 0; i < 1000; ++i) {
        ClientPtr c(mongoc_client_new(
            ("mongodb://127.0.0.1:" + std::to_string(s.port()) + "/?directConnection=true")
                .c_str()));
        ASSERT_TRUE(
            mongoc_client_command_simple(c.get(), "admin", ping.get(), nullptr, nullptr, &err))
            << i << ": " << err.message;
        clients.push_back(std::move(c));
    }
    auto watcher = connect(s);
    CollPtr coll(mongoc_client_get_collection(watcher.get(), "test", "blocked"));
    auto opts = json(R"({"maxAwaitTimeMS": 5000})");
    auto pipeline = json("{}");
    StreamPtr stream(mongoc_collection_watch(coll.get(), pipeline.get(), opts.get()));
    std::thread blocked([&] {
        const bson_t* ev;
        mongoc_change_stream_next(stream.get(), &ev);
    });
    // Wait (with a deadline) until the server reports the getMore parked.
    auto fresh = connect(s);
    auto status_cmd = json(R"({"serverStatus": 1})");
    auto deadline = Clock::now() + std::chrono::seconds(10);
    int64_t parked = 0;
    while (parked < 1 && Clock::now() < deadline) {
        bson_t status;
        ASSERT_TRUE(mongoc_client_command_simple(fresh.get(), "admin", status_cmd.get(), nullptr,
                                                 &status, &err));
        bson_iter_t it, f;
        if (bson_iter_init(&it, &status) &&
            bson_iter_find_descendant(&it, "standin.parkedCommands", &f))
            parked = bson_iter_int64(&f);
        bson_destroy(&status);
    }
    ASSERT_GE(parked, 1);
    // Served while the getMore is still parked (it waits 5 s for an event that never comes).
    ASSERT_TRUE(
        mongoc_client_command_simple(fresh.get(), "admin", ping.get(), nullptr, nullptr, &err))
        << err.message;
    bson_t status;
    ASSERT_TRUE(mongoc_client_command_simple(fresh.get(), "admin", status_cmd.get(), nullptr,
                                             &status, &err));
    bson_iter_t it, f;
    ASSERT_TRUE(bson_iter_init(&it, &status) &&
                bson_iter_find_descendant(&it, "standin.parkedCommands", &f));
    EXPECT_GE(bson_iter_int64(&f), 1) << "the ping had to wait for the blocked getMore";
    bson_destroy(&status);
    blocked.join();
}

TEST(StandinLibmongoc, PooledClientsSurviveRestartAndKill) {
    char dir_template[] = "/tmp/standin-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    outpost::testing::StandInProcess proc({dir_template, {}});
    ASSERT_GT(proc.port(), 0);
    mongoc_uri_t* uri = mongoc_uri_new(proc.uri().c_str());
    mongoc_client_pool_t* pool = mongoc_client_pool_new(uri);
    auto insert = [&](int id) {
        mongoc_client_t* client = mongoc_client_pool_pop(pool);
        mongoc_collection_t* coll = mongoc_client_get_collection(client, "test", "restart");
        bson_t* d = BCON_NEW("_id", BCON_INT32(id));
        bson_error_t err;
        bool ok = mongoc_collection_insert_one(coll, d, nullptr, nullptr, &err);
        bson_destroy(d);
        mongoc_collection_destroy(coll);
        mongoc_client_pool_push(pool, client);
        return ok;
    };
    auto count = [&] {
        mongoc_client_t* client = mongoc_client_pool_pop(pool);
        mongoc_collection_t* coll = mongoc_client_get_collection(client, "test", "restart");
        auto empty = json("{}");
        bson_error_t err;
        int64_t n =
            mongoc_collection_count_documents(coll, empty.get(), nullptr, nullptr, nullptr, &err);
        mongoc_collection_destroy(coll);
        mongoc_client_pool_push(pool, client);
        return n;
    };
    // Retries until the server is back (libmongoc rediscovers it), with a deadline.
    auto insert_eventually = [&](int id) {
        auto deadline = Clock::now() + std::chrono::seconds(30);
        while (Clock::now() < deadline)
            if (insert(id)) return true;
        return false;
    };
    ASSERT_TRUE(insert(1));
    ASSERT_TRUE(proc.restart());
    ASSERT_TRUE(insert_eventually(2));
    proc.kill_now();
    ASSERT_TRUE(proc.start());
    ASSERT_TRUE(insert_eventually(3));
    EXPECT_EQ(count(), 3);
    mongoc_client_pool_destroy(pool);
    mongoc_uri_destroy(uri);
    EXPECT_TRUE(proc.stop());
    std::error_code ec;
    std::filesystem::remove_all(dir_template, ec);
    EXPECT_FALSE(ec) << ec.message();
}

}  // namespace
