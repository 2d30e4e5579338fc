#pragma once
// std::mutex with the thread-safety annotations (thread_annotations.hpp), so that clang checks who
// holds it. Mutex is a BasicLockable: std::condition_variable_any waits on a MutexLock's mutex.
//   Mutex mutex_;
//   std::deque<Job> jobs_ OUTPOST_GUARDED_BY(mutex_);
//   { MutexLock lock(mutex_); jobs_.push_back(job); }

#include <condition_variable>
#include <mutex>

#include "common/thread_annotations.hpp"

namespace outpost {

class OUTPOST_CAPABILITY("mutex") Mutex {
  public:
    Mutex() = default;
    Mutex(const Mutex&) = delete;
    Mutex& operator=(const Mutex&) = delete;

    void lock() OUTPOST_ACQUIRE() { m_.lock(); }
    void unlock() OUTPOST_RELEASE() { m_.unlock(); }
    bool try_lock() OUTPOST_TRY_ACQUIRE(true) { return m_.try_lock(); }
    // For the analysis only: tells it that the calling thread holds the mutex.
    void assert_held() const OUTPOST_ASSERT_CAPABILITY(this) {}

  private:
    std::mutex m_;
};

// Holds MUTEX for its scope.
class OUTPOST_SCOPED_CAPABILITY MutexLock {
  public:
    explicit MutexLock(Mutex& mutex) OUTPOST_ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
    ~MutexLock() OUTPOST_RELEASE() { mutex_.unlock(); }
    MutexLock(const MutexLock&) = delete;
    MutexLock& operator=(const MutexLock&) = delete;

  private:
    Mutex& mutex_;
};

// A condition variable for Mutex: wait(lock, pred) with the mutex held, as with std::mutex.
// Waiting releases and re-acquires the mutex inside; to the analysis the caller holds it
// throughout.
class CondVar {
  public:
    template <typename Pred>
    void wait(Mutex& mutex, Pred pred) OUTPOST_REQUIRES(mutex) {
        cv_.wait(mutex, std::move(pred));
    }
    template <typename Duration, typename Pred>
    bool wait_for(Mutex& mutex, Duration timeout, Pred pred) OUTPOST_REQUIRES(mutex) {
        return cv_.wait_for(mutex, timeout, std::move(pred));
    }
    void notify_one() { cv_.notify_one(); }
    void notify_all() { cv_.notify_all(); }

  private:
    std::condition_variable_any cv_;
};

}  // namespace outpost
