// The connector's libmongoc client pool, made on first use. Thread-safe; a client it hands out is
// used by one thread and goes back when its PooledClient ends.
#pragma once

#include <string>

#include "common/mutex.hpp"
#include "mongo/handles.hpp"

namespace outpost::mongo::detail {

// Every libmongoc call of the pool waits at most this long for a server (serverSelectionTimeoutMS
// of the pool), because a call waiting for one cannot be ended from another thread: stop() would
// wait for it. Connector::Impl::wait_for_primary repeats selections up to the URL's
// serverSelectionTimeoutMS.
inline constexpr int kSelectionSliceMs = 1000;

class ClientPool {
  public:
    explicit ClientPool(std::string url) : url_(std::move(url)) {}

    // A client of the pool (made with the first). Errors: kInvalidArgument (a bad URL),
    // kMongoConnection.
    Result<PooledClient> client() OUTPOST_EXCLUDES(mutex_);
    // The URL's serverSelectionTimeoutMS (30 s by default); known once a client was made.
    int selection_timeout_ms() const OUTPOST_EXCLUDES(mutex_);

  private:
    Status ensure_pool() OUTPOST_REQUIRES(mutex_);

    const std::string url_;
    mutable Mutex mutex_;
    ClientPoolPtr pool_ OUTPOST_GUARDED_BY(mutex_);
    int selection_timeout_ms_ OUTPOST_GUARDED_BY(mutex_) = 30000;
};

}  // namespace outpost::mongo::detail
