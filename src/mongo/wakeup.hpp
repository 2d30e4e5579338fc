// What the connector's threads sleep on: stop() ends every sleep and wait, a wake (new server
// history, an import request) ends the current ones. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "common/mutex.hpp"
#include "mongo/retry_backoff.hpp"

namespace outpost::mongo::detail {

class Wakeup {
  public:
    // Cleared by start(), set by request_stop().
    bool stopping() const { return stopping_.load(); }
    void clear_stop() { stopping_ = false; }
    // Sets stopping and wakes every sleeper and every waiter on cv().
    void request_stop() OUTPOST_EXCLUDES(mutex_) {
        {
            MutexLock lock(mutex_);
            stopping_ = true;
            seq_++;
        }
        cv_.notify_all();
    }
    // Ends the current sleeps.
    void wake() OUTPOST_EXCLUDES(mutex_) {
        {
            MutexLock lock(mutex_);
            seq_++;
        }
        cv_.notify_all();
    }
    // The number of wakes so far, for wait_for_wake().
    uint64_t wakes() const OUTPOST_EXCLUDES(mutex_) {
        MutexLock lock(mutex_);
        return seq_;
    }
    // Sleeps up to MS or until a wake after SEEN was taken (so that a wake between the look and the
    // sleep is not missed) or stop. True when stopping.
    bool wait_for_wake(uint64_t seen, int ms) OUTPOST_EXCLUDES(mutex_) {
        MutexLock lock(mutex_);
        cv_.wait_for(mutex_, std::chrono::milliseconds(ms),
                     [&]() OUTPOST_REQUIRES(mutex_) { return stopping_.load() || seq_ != seen; });
        return stopping_.load();
    }
    // Sleeps up to MS or until a wake or stop. True when stopping.
    bool sleep_for(int ms) OUTPOST_EXCLUDES(mutex_) {
        MutexLock lock(mutex_);
        const uint64_t seen = seq_;
        cv_.wait_for(mutex_, std::chrono::milliseconds(ms),
                     [&]() OUTPOST_REQUIRES(mutex_) { return stopping_.load() || seq_ != seen; });
        return stopping_.load();
    }
    // After a failed try: sleeps BACKOFF's delay (as sleep_for), then makes the next delay longer.
    // True when stopping.
    bool back_off(RetryBackoff& backoff) {
        if (sleep_for(backoff.delay_ms())) return true;
        backoff.grow();
        return false;
    }

    // For queues between the connector's threads that stop() must end: their state is guarded by
    // mutex() and their waits are on cv().
    Mutex& mutex() OUTPOST_RETURN_CAPABILITY(mutex_) { return mutex_; }
    CondVar& cv() { return cv_; }

  private:
    std::atomic<bool> stopping_{false};
    mutable Mutex mutex_;
    CondVar cv_;
    uint64_t seq_ OUTPOST_GUARDED_BY(mutex_) = 0;
};

}  // namespace outpost::mongo::detail
