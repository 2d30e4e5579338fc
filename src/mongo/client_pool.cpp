#include "mongo/client_pool.hpp"

#include <algorithm>

namespace outpost::mongo::detail {

namespace {
constexpr int32_t kDefaultSelectionTimeoutMs =
    30000;  // libmongoc's serverSelectionTimeoutMS default
}  // namespace

Status ClientPool::ensure_pool() {
    if (pool_) return Status::ok();
    ensure_mongoc_init();
    bson_error_t err;
    UriPtr uri(mongoc_uri_new_with_error(url_.c_str(), &err));
    if (!uri)
        return Status(ErrorCode::kInvalidArgument, "mongoDb.url: " + std::string(err.message));
    // A pooled call waiting for a server cannot be interrupted: each selection is kept short and
    // wait_for_primary repeats them up to the URL's timeout.
    selection_timeout_ms_ = mongoc_uri_get_option_as_int32(
        uri.get(), MONGOC_URI_SERVERSELECTIONTIMEOUTMS, kDefaultSelectionTimeoutMs);
    if (selection_timeout_ms_ <= 0) selection_timeout_ms_ = kDefaultSelectionTimeoutMs;
    mongoc_uri_set_option_as_int32(uri.get(), MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                   std::min(selection_timeout_ms_, kSelectionSliceMs));
    pool_.reset(mongoc_client_pool_new(uri.get()));
    if (!pool_) return Status(ErrorCode::kMongoConnection, "cannot make a client pool for " + url_);
    mongoc_client_pool_set_error_api(pool_.get(), MONGOC_ERROR_API_VERSION_2);
    mongoc_client_pool_set_appname(pool_.get(), "outpost-server");
    return Status::ok();
}

Result<PooledClient> ClientPool::client() {
    mongoc_client_pool_t* pool = nullptr;
    {
        MutexLock lock(mutex_);
        OUTPOST_RETURN_IF_ERROR(ensure_pool());
        pool = pool_.get();
    }
    // Outside the lock: popping waits while every client is in use. The pool lives as long as this.
    mongoc_client_t* c = mongoc_client_pool_pop(pool);
    if (!c) return Status(ErrorCode::kMongoConnection, "no client available from the pool");
    return PooledClient(pool, c);
}

int ClientPool::selection_timeout_ms() const {
    MutexLock lock(mutex_);
    return selection_timeout_ms_;
}

}  // namespace outpost::mongo::detail
