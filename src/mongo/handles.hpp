#pragma once
// RAII owners of libbson and libmongoc handles, and helpers to turn their errors into Status
// values. Internal to src/mongo: no libmongoc type leaves this module.

#include <bson/bson.h>
#include <mongoc/mongoc.h>

#include <memory>
#include <string>
#include <string_view>

#include "outpost/status.hpp"

namespace outpost::mongo {
enum class DriverLogLevel;  // connector.hpp
}  // namespace outpost::mongo

namespace outpost::mongo::detail {

// An owned bson_t (heap or stack layouts both end with bson_destroy).
class Bson {
  public:
    Bson() { bson_init(&b_); }
    // Takes the contents of a heap bson_t made by libbson (bson_new, bson_copy, ...).
    static Bson adopt(bson_t* heap) {
        Bson b;
        if (heap) {
            bson_destroy(&b.b_);
            bson_steal(&b.b_, heap);  // frees HEAP
        }
        return b;
    }
    static Bson copy_of(const bson_t* src) {
        Bson b;
        bson_destroy(&b.b_);
        bson_copy_to(src, &b.b_);
        return b;
    }
    // Parses canonical or relaxed extended JSON (tests, tools). Errors: kInvalidArgument.
    static Result<Bson> from_json(std::string_view json);
    Bson(Bson&& o) noexcept {
        bson_steal(&b_, &o.b_);  // leaves o.b_ destroyed
        bson_init(&o.b_);
    }
    Bson& operator=(Bson&& o) noexcept {
        if (this != &o) {
            bson_destroy(&b_);
            bson_steal(&b_, &o.b_);
            bson_init(&o.b_);
        }
        return *this;
    }
    Bson(const Bson& o) { bson_copy_to(&o.b_, &b_); }
    Bson& operator=(const Bson& o) {
        if (this != &o) {
            bson_destroy(&b_);
            bson_copy_to(&o.b_, &b_);
        }
        return *this;
    }
    ~Bson() { bson_destroy(&b_); }

    bson_t* get() { return &b_; }
    const bson_t* get() const { return &b_; }
    // Relaxed extended JSON (for logs and dead letters).
    std::string json() const;
    bool empty() const { return b_.len <= 5; }

  private:
    bson_t b_;
};

// A bson_t view over a document that someone else owns (a change-stream event, a cursor's
// document).
std::string to_json(const bson_t* doc);

struct ClientPoolDeleter {
    void operator()(mongoc_client_pool_t* p) const { mongoc_client_pool_destroy(p); }
};
struct UriDeleter {
    void operator()(mongoc_uri_t* u) const { mongoc_uri_destroy(u); }
};
struct CollectionDeleter {
    void operator()(mongoc_collection_t* c) const { mongoc_collection_destroy(c); }
};
struct DatabaseDeleter {
    void operator()(mongoc_database_t* d) const { mongoc_database_destroy(d); }
};
struct SessionDeleter {
    void operator()(mongoc_client_session_t* s) const { mongoc_client_session_destroy(s); }
};
struct StreamDeleter {
    void operator()(mongoc_change_stream_t* s) const { mongoc_change_stream_destroy(s); }
};
struct CursorDeleter {
    void operator()(mongoc_cursor_t* c) const { mongoc_cursor_destroy(c); }
};
struct BulkDeleter {
    void operator()(mongoc_bulk_operation_t* b) const { mongoc_bulk_operation_destroy(b); }
};
struct SessionOptDeleter {
    void operator()(mongoc_session_opt_t* o) const { mongoc_session_opts_destroy(o); }
};
struct TxnOptDeleter {
    void operator()(mongoc_transaction_opt_t* o) const { mongoc_transaction_opts_destroy(o); }
};
using ClientPoolPtr = std::unique_ptr<mongoc_client_pool_t, ClientPoolDeleter>;
using UriPtr = std::unique_ptr<mongoc_uri_t, UriDeleter>;
using CollectionPtr = std::unique_ptr<mongoc_collection_t, CollectionDeleter>;
using DatabasePtr = std::unique_ptr<mongoc_database_t, DatabaseDeleter>;
using SessionPtr = std::unique_ptr<mongoc_client_session_t, SessionDeleter>;
using StreamPtr = std::unique_ptr<mongoc_change_stream_t, StreamDeleter>;
using CursorPtr = std::unique_ptr<mongoc_cursor_t, CursorDeleter>;
using BulkPtr = std::unique_ptr<mongoc_bulk_operation_t, BulkDeleter>;
using SessionOptPtr = std::unique_ptr<mongoc_session_opt_t, SessionOptDeleter>;
using TxnOptPtr = std::unique_ptr<mongoc_transaction_opt_t, TxnOptDeleter>;

// A client popped from a pool, pushed back when this goes away. Not shared between threads.
class PooledClient {
  public:
    PooledClient(mongoc_client_pool_t* pool, mongoc_client_t* client)
        : pool_(pool), client_(client) {}
    PooledClient(PooledClient&& o) noexcept : pool_(o.pool_), client_(o.client_) {
        o.client_ = nullptr;
    }
    PooledClient(const PooledClient&) = delete;
    PooledClient& operator=(const PooledClient&) = delete;
    PooledClient& operator=(PooledClient&&) = delete;
    ~PooledClient() {
        if (client_) mongoc_client_pool_push(pool_, client_);
    }
    mongoc_client_t* get() const { return client_; }

  private:
    mongoc_client_pool_t* pool_;
    mongoc_client_t* client_;
};

// Calls mongoc_init once per process (and mongoc_cleanup at exit), and routes libmongoc's log
// lines to the sink of set_driver_log (connector.hpp).
void ensure_mongoc_init();

// The level a libmongoc log line is reported at: errors and critical errors kError, warnings kWarn,
// messages and info kInfo, debug kDebug, trace kTrace.
mongo::DriverLogLevel driver_log_level(mongoc_log_level_t level);

// Status for a libmongoc error: network and server-selection errors are kMongoConnection, server
// errors kMongoCommand; cause() is bson_error_t::code. REPLY (may be null) adds the error labels.
Status status_from(const bson_error_t& error, std::string_view context,
                   const bson_t* reply = nullptr);
// True when ERROR/REPLY describe a network error or a server-selection failure.
bool is_network_error(const bson_error_t& error);
// True when REPLY carries the error label LABEL.
bool has_label(const bson_t* reply, const char* label);

// Kills the cursor ID of a database-level aggregate (a change stream) on DB; OPTS (may be null)
// carries the session. Errors are ignored: the server times an abandoned cursor out anyway.
void kill_aggregate_cursor(mongoc_database_t* db, int64_t id, const bson_t* opts);

}  // namespace outpost::mongo::detail
