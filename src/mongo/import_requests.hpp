// Imports asked for while the connector runs: run_import() posts a request and waits; the inbound
// thread, which owns the stream, serves it between two streams; request() posts one without
// waiting (the admin's "start a full import"). One request at a time. Thread-safe.
#pragma once

#include <functional>
#include <optional>

#include "common/mutex.hpp"
#include "mongo/connector.hpp"
#include "mongo/wakeup.hpp"

namespace outpost::mongo::detail {

class ImportRequests {
  public:
    using Progress = std::function<void(const ImportProgress&)>;

    // Posts a request with PROGRESS, wakes the connector's threads (WAKEUP) and waits for the
    // result. kIllegalState when a request is already waiting, or when the connector stops before
    // serving it.
    Result<ImportStats> request_and_wait(Progress progress, Wakeup& wakeup)
        OUTPOST_EXCLUDES(mutex_);
    // Posts a request that nobody waits for (its result is only reported: ImportRun) and wakes
    // the connector's threads. kAlreadyExists when a request is already waiting.
    Status request(Wakeup& wakeup) OUTPOST_EXCLUDES(mutex_);
    // True while a request waits to be served (the stream ends for it).
    bool waiting() const OUTPOST_EXCLUDES(mutex_);
    // The waiting request's PROGRESS callback, or nullopt when none waits. The caller serves it and
    // passes its result to complete().
    std::optional<Progress> take() const OUTPOST_EXCLUDES(mutex_);
    void complete(Result<ImportStats> result) OUTPOST_EXCLUDES(mutex_);
    // Wakes a waiting requester after stop (it then returns kIllegalState).
    void wake_requester() OUTPOST_EXCLUDES(mutex_);

  private:
    mutable Mutex mutex_;
    CondVar done_;
    bool requested_ OUTPOST_GUARDED_BY(mutex_) = false;
    bool detached_ OUTPOST_GUARDED_BY(mutex_) = false;  // posted by request(): nobody waits
    Progress progress_ OUTPOST_GUARDED_BY(mutex_);
    std::optional<Result<ImportStats>> result_ OUTPOST_GUARDED_BY(mutex_);
};

}  // namespace outpost::mongo::detail
