#include "mongo/import_requests.hpp"

namespace outpost::mongo::detail {

Status ImportRequests::request(Wakeup& wakeup) {
    MutexLock lock(mutex_);
    if (requested_) return Status(ErrorCode::kAlreadyExists, "an import is already requested");
    requested_ = true;
    detached_ = true;
    progress_ = nullptr;
    result_.reset();
    wakeup.wake();
    return Status::ok();
}

Result<ImportStats> ImportRequests::request_and_wait(Progress progress, Wakeup& wakeup) {
    MutexLock lock(mutex_);
    if (requested_) return Status(ErrorCode::kIllegalState, "an import is already running");
    requested_ = true;
    progress_ = std::move(progress);
    result_.reset();
    wakeup.wake();
    done_.wait(mutex_,
               [&]() OUTPOST_REQUIRES(mutex_) { return result_.has_value() || wakeup.stopping(); });
    requested_ = false;
    if (!result_)
        return Status(ErrorCode::kIllegalState, "the connector stopped before the import ran");
    Result<ImportStats> r = std::move(*result_);
    result_.reset();
    return r;
}

bool ImportRequests::waiting() const {
    MutexLock lock(mutex_);
    return requested_ && !result_;
}

std::optional<ImportRequests::Progress> ImportRequests::take() const {
    MutexLock lock(mutex_);
    if (!requested_ || result_) return std::nullopt;
    return progress_;
}

void ImportRequests::complete(Result<ImportStats> result) {
    {
        MutexLock lock(mutex_);
        if (detached_) {
            requested_ = false;
            detached_ = false;
            return;
        }
        result_ = std::move(result);
    }
    done_.notify_all();
}

void ImportRequests::wake_requester() {
    {
        MutexLock lock(mutex_);  // a requester between its check and its wait
    }
    done_.notify_all();
}

}  // namespace outpost::mongo::detail
