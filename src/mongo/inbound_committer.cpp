#include "mongo/inbound_committer.hpp"

#include "mongo/connector_meta.hpp"

namespace outpost::mongo::detail {

// ---- CommitQueue

bool CommitQueue::push(InboundBatch&& batch) {
    MutexLock lock(mutex_);
    cv_.wait(mutex_, [&]() OUTPOST_REQUIRES(mutex_) {
        return queue_.size() < kDepth || !failed_.is_ok() || closed_;
    });
    if (!failed_.is_ok() || closed_) return false;
    queue_.push_back(std::move(batch));
    cv_.notify_all();
    return true;
}

void CommitQueue::wait_idle() {
    MutexLock lock(mutex_);
    cv_.wait(mutex_, [&]() OUTPOST_REQUIRES(mutex_) {
        return (queue_.empty() && !busy_) || !failed_.is_ok();
    });
}

void CommitQueue::close() {
    MutexLock lock(mutex_);
    closed_ = true;
    cv_.notify_all();
}

std::optional<InboundBatch> CommitQueue::pop() {
    MutexLock lock(mutex_);
    cv_.wait(mutex_, [&]() OUTPOST_REQUIRES(mutex_) { return !queue_.empty() || closed_; });
    if (queue_.empty()) return std::nullopt;
    InboundBatch b = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    cv_.notify_all();
    return b;
}

void CommitQueue::done(const Status& s) {
    MutexLock lock(mutex_);
    busy_ = false;
    if (!s.is_ok() && failed_.is_ok()) {
        failed_ = s;
        queue_.clear();
    }
    cv_.notify_all();
}

Status CommitQueue::status() const {
    MutexLock lock(mutex_);
    return failed_;
}

// ---- InboundCommitter

InboundCommitter::InboundCommitter(CommitterContext ctx, uint64_t seen)
    : ctx_(std::move(ctx)), committed_seen_(seen), thread_([this] { run(); }) {}

InboundCommitter::~InboundCommitter() { (void)finish(); }

Status InboundCommitter::finish() {
    queue_.close();
    if (thread_.joinable()) thread_.join();
    return queue_.status();
}

void InboundCommitter::run() {
    uint64_t seen = committed_seen_.load();
    while (auto b = queue_.pop()) {
        // When stopping, batches not yet committed are dropped: the stream reads them again.
        Status s = ctx_.stopping() ? Status::ok() : commit(*b, seen);
        if (s) committed_seen_.store(seen);
        queue_.done(s);
    }
}

Status InboundCommitter::commit(InboundBatch& b, uint64_t& seen) {
    for (auto& d : b.mapped.dead) ctx_.state.add_dead_letter(std::move(d));
    // The batch's groups (whole MongoDB transactions) commit together.
    std::vector<Mapped> all;
    for (auto& g : b.mapped.groups) {
        for (auto& m : g) all.push_back(std::move(m));
    }
    b.mapped.groups.clear();
    bool changed = false;
    Status s = apply_with_token(b, all, seen, changed);
    if (!s && s.code() != ErrorCode::kStorage && s.code() != ErrorCode::kStorageFull) {
        // A change the store refuses (a unique value taken, ...): apply the others one by one.
        if (ctx_.strict_from_mongo) {
            return Status(ErrorCode::kMongoMapping,
                          "strict conversions from MongoDB: " + s.message());
        }
        changed = false;
        apply_one_by_one(b, all, seen, changed);
        std::vector<Mapped> none;
        s = apply_with_token(b, none, seen, changed);
    }
    if (!s) return s;
    ctx_.state.set_resume_token(b.read.commit_token.get());
    ctx_.state.count_inbound_batch(changed, b.mapped.applied_events, b.mapped.echoes);
    if (changed && ctx_.on_commit) ctx_.on_commit();
    return Status::ok();
}

Status InboundCommitter::apply_with_token(InboundBatch& b, std::vector<Mapped>& changes,
                                          uint64_t& seen, bool& changed) {
    const Bson& token = b.read.commit_token;
    uint64_t next_seen = seen;
    Status s = ctx_.store.write([&](WriteTxn& txn) -> Status {
        next_seen = seen;
        bool applied = false;
        OUTPOST_RETURN_IF_ERROR(
            apply_stream_batch(txn, changes, b.own_seen, next_seen, &superseded_, &applied));
        changed |= applied;
        OUTPOST_RETURN_IF_ERROR(put_meta(txn, kMetaOwnSeen, std::to_string(next_seen)));
        return put_meta(txn, kMetaResumeToken,
                        std::string_view(reinterpret_cast<const char*>(bson_get_data(token.get())),
                                         token.get()->len));
    });
    if (s) seen = next_seen;
    return s;
}

void InboundCommitter::apply_one_by_one(const InboundBatch& b, const std::vector<Mapped>& all,
                                        uint64_t& seen, bool& changed) {
    for (const Mapped& m : all) {
        std::vector<Mapped> single = {m};
        uint64_t next_seen = seen;
        Status one = ctx_.store.write([&](WriteTxn& txn) -> Status {
            next_seen = seen;
            return apply_stream_batch(txn, single, 0, next_seen, &superseded_);
        });
        if (one) {
            seen = next_seen;
            changed = true;
        } else {
            View v(b.read.events[m.event]);
            ctx_.state.add_dead_letter({"inbound", b.read.events[m.event].coll,
                                        sub_json(v.get(), "documentKey"), one.message(),
                                        to_json(v.get()), 0});
        }
    }
}

}  // namespace outpost::mongo::detail
