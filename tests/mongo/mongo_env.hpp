#pragma once
// Test support for the connector: a MongoDB to talk to (a stand-in on a free port, or the server
// named by OUTPOST_TEST_MONGO_URI), a libmongoc client that acts as a MongoDB user, and temporary
// stores; with tests/common's temporary directories, model and waits.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/models.hpp"
#include "common/status_macros.hpp"
#include "common/temp_dir.hpp"
#include "common/wait.hpp"
#include "mongo/handles.hpp"
#include "outpost/changelog.hpp"
#include "outpost/store.hpp"
#include "standin/standin_process.hpp"

namespace outpost::mongo::testing {

using detail::Bson;

inline Bson bson(const std::string& json) {
    auto b = Bson::from_json(json);
    EXPECT_OK(b) << " in " << json;
    return b.is_ok() ? std::move(b).value() : Bson();
}

using ::outpost::test::mongo_mapping_model;
using ::outpost::test::TempDir;
using ::outpost::test::wait_until;

inline std::string random_suffix() {
    std::random_device rd;
    return std::to_string(rd()) + std::to_string(rd());
}

// A MongoDB for one test: OUTPOST_TEST_MONGO_URI when set (with a fresh database name), else a
// stand-in started with EXTRA arguments (and a data directory when DBPATH is set).
class MongoServer {
  public:
    explicit MongoServer(std::vector<std::string> extra = {}, std::string dbpath = "") {
        const char* env = std::getenv("OUTPOST_TEST_MONGO_URI");
        database_ = "outpost_test_" + random_suffix().substr(0, 12);
        if (env && *env) {
            uri_ = env;
            external_ = true;
        } else {
            outpost::testing::StandInProcess::Options o;
            o.dbpath = std::move(dbpath);
            o.extra = std::move(extra);
            o.extra.emplace_back("--enable-test-commands");
            proc_.emplace(o);
            uri_ = "mongodb://" + proc_->host_port() +
                   "/?replicaSet=rs0&serverSelectionTimeoutMS=3000";
        }
        detail::ensure_mongoc_init();
        bson_error_t err;
        detail::UriPtr uri(mongoc_uri_new_with_error(uri_.c_str(), &err));
        EXPECT_TRUE(uri) << err.message;
        client_ = mongoc_client_new_from_uri(uri.get());
        mongoc_client_set_error_api(client_, MONGOC_ERROR_API_VERSION_2);
    }
    ~MongoServer() {
        if (external_) {
            mongoc_database_t* db = mongoc_client_get_database(client_, database_.c_str());
            bson_error_t err;
            mongoc_database_drop(db, &err);
            mongoc_database_destroy(db);
        }
        mongoc_client_destroy(client_);
    }
    MongoServer(const MongoServer&) = delete;
    MongoServer& operator=(const MongoServer&) = delete;

    const std::string& uri() const { return uri_; }
    const std::string& database() const { return database_; }
    bool external() const { return external_; }
    mongoc_client_t* client() { return client_; }
    outpost::testing::StandInProcess* standin() { return proc_ ? &*proc_ : nullptr; }

    detail::CollectionPtr collection(const std::string& name) {
        return detail::CollectionPtr(
            mongoc_client_get_collection(client_, database_.c_str(), name.c_str()));
    }
    void insert(const std::string& coll, const std::string& doc_json) {
        Bson d = bson(doc_json);
        bson_error_t err;
        EXPECT_TRUE(
            mongoc_collection_insert_one(collection(coll).get(), d.get(), nullptr, nullptr, &err))
            << err.message << " inserting " << doc_json;
    }
    void update(const std::string& coll, const std::string& filter, const std::string& update) {
        Bson f = bson(filter), u = bson(update);
        bson_error_t err;
        EXPECT_TRUE(mongoc_collection_update_one(collection(coll).get(), f.get(), u.get(), nullptr,
                                                 nullptr, &err))
            << err.message;
    }
    void replace(const std::string& coll, const std::string& filter, const std::string& doc) {
        Bson f = bson(filter), d = bson(doc);
        bson_error_t err;
        EXPECT_TRUE(mongoc_collection_replace_one(collection(coll).get(), f.get(), d.get(), nullptr,
                                                  nullptr, &err))
            << err.message;
    }
    void remove(const std::string& coll, const std::string& filter) {
        Bson f = bson(filter);
        bson_error_t err;
        EXPECT_TRUE(
            mongoc_collection_delete_one(collection(coll).get(), f.get(), nullptr, nullptr, &err))
            << err.message;
    }
    // Documents matching FILTER, as parsed copies.
    std::vector<Bson> find(const std::string& coll, const std::string& filter = "{}") {
        Bson f = bson(filter);
        detail::CursorPtr cur(
            mongoc_collection_find_with_opts(collection(coll).get(), f.get(), nullptr, nullptr));
        std::vector<Bson> out;
        const bson_t* doc;
        while (mongoc_cursor_next(cur.get(), &doc)) out.push_back(Bson::copy_of(doc));
        bson_error_t err;
        EXPECT_FALSE(mongoc_cursor_error(cur.get(), &err)) << err.message;
        return out;
    }
    std::optional<Bson> find_one(const std::string& coll, const std::string& filter) {
        auto v = find(coll, filter);
        if (v.empty()) return std::nullopt;
        return std::move(v.front());
    }
    int64_t count(const std::string& coll, const std::string& filter = "{}") {
        Bson f = bson(filter);
        bson_error_t err;
        int64_t n = mongoc_collection_count_documents(collection(coll).get(), f.get(), nullptr,
                                                      nullptr, nullptr, &err);
        EXPECT_GE(n, 0) << err.message;
        return n;
    }
    // Runs FN's statements in one transaction (with the session's options appended to OPTS).
    // FN gets the options to pass to each statement.
    void transaction(const std::function<void(Bson& opts)>& fn) {
        bson_error_t err;
        detail::SessionPtr s(mongoc_client_start_session(client_, nullptr, &err));
        ASSERT_TRUE(s) << err.message;
        ASSERT_TRUE(mongoc_client_session_start_transaction(s.get(), nullptr, &err)) << err.message;
        Bson opts;
        ASSERT_TRUE(mongoc_client_session_append(s.get(), opts.get(), &err)) << err.message;
        fn(opts);
        Bson reply;
        bson_destroy(reply.get());
        ASSERT_TRUE(mongoc_client_session_commit_transaction(s.get(), reply.get(), &err))
            << err.message;
    }
    // configureFailPoint failCommand (stand-in with --enable-test-commands, or a server with
    // enableTestCommands=1).
    void fail_point(const std::string& data_json,
                    const std::string& mode_json = R"({"times": 1})") {
        Bson cmd = bson(R"({"configureFailPoint": "failCommand", "mode": )" + mode_json +
                        R"(, "data": )" + data_json + "}");
        Bson reply;
        bson_destroy(reply.get());
        bson_error_t err;
        EXPECT_TRUE(
            mongoc_client_command_simple(client_, "admin", cmd.get(), nullptr, reply.get(), &err))
            << err.message;
    }

  private:
    std::optional<outpost::testing::StandInProcess> proc_;
    std::string uri_;
    std::string database_;
    bool external_ = false;
    mongoc_client_t* client_ = nullptr;
};

inline std::shared_ptr<Store> open_store(const std::string& dir, const Model& m) {
    StoreOptions o;
    o.no_sync = true;
    auto s = Store::open(dir, m, o);
    EXPECT_OK(s);
    return s.is_ok() ? s.value() : nullptr;
}

// The value at PATH (dotted) of DOC as relaxed extended JSON of {v: value}, or "missing".
inline std::string field_json(const Bson& doc, const char* path) {
    bson_iter_t it, d;
    if (!bson_iter_init(&it, doc.get()) || !bson_iter_find_descendant(&it, path, &d))
        return "missing";
    Bson one;
    bson_append_iter(one.get(), "v", 1, &d);
    return one.json();
}

}  // namespace outpost::mongo::testing
