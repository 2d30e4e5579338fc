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

namespace {

// MongoDB's time of the newest of EVENTS (the stream gives them in commit order: the last one with
// a time): its wallTime (ms), else its clusterTime (s); 0 when none has either.
int64_t newest_event_ms(const std::vector<Event>& events) {
    for (auto e = events.rbegin(); e != events.rend(); ++e) {
        View v(*e);
        bson_iter_t it;
        if (bson_iter_init_find(&it, v.get(), "wallTime") && BSON_ITER_HOLDS_DATE_TIME(&it))
            return bson_iter_date_time(&it);
        if (bson_iter_init_find(&it, v.get(), "clusterTime") && BSON_ITER_HOLDS_TIMESTAMP(&it)) {
            uint32_t t = 0, i = 0;
            bson_iter_timestamp(&it, &t, &i);
            return static_cast<int64_t>(t) * 1000;
        }
    }
    return 0;
}

}  // namespace

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
    // The mapper's dead letters are kept in the transaction of the batch that read them.
    std::vector<DeadLetter> dead = std::move(b.mapped.dead);
    uint64_t kept = 0;
    // The batch's groups (whole MongoDB transactions) commit together.
    std::vector<Mapped> all;
    for (auto& g : b.mapped.groups) {
        for (auto& m : g) all.push_back(std::move(m));
    }
    b.mapped.groups.clear();
    bool changed = false;
    Status s = apply_with_token(b, all, seen, changed, dead, kept);
    if (!s && s.code() != ErrorCode::kStorage && s.code() != ErrorCode::kStorageFull) {
        // A change the store refuses (a unique value taken, ...): apply the others one by one.
        if (ctx_.strict_from_mongo) {
            return Status(ErrorCode::kMongoMapping,
                          "strict conversions from MongoDB: " + s.message());
        }
        changed = false;
        apply_one_by_one(b, all, seen, changed, dead);
        std::vector<Mapped> none;
        s = apply_with_token(b, none, seen, changed, dead, kept);
    }
    if (!s) return s;
    ctx_.state.note_dead_letters(dead, kept);
    ctx_.state.set_resume_token(b.read.commit_token.get());
    ctx_.state.note_committed(b.read.events.size(), newest_event_ms(b.read.events));
    ctx_.state.count_inbound_batch(changed, b.mapped.applied_events, b.mapped.echoes);
    if (changed && ctx_.on_commit) ctx_.on_commit();
    return Status::ok();
}

Status InboundCommitter::apply_with_token(InboundBatch& b, std::vector<Mapped>& changes,
                                          uint64_t& seen, bool& changed,
                                          std::vector<DeadLetter>& dead, uint64_t& kept) {
    const Bson& token = b.read.commit_token;
    uint64_t next_seen = seen;
    Status s = ctx_.store.write([&](WriteTxn& txn) -> Status {
        next_seen = seen;
        bool applied = false;
        OUTPOST_RETURN_IF_ERROR(
            apply_stream_batch(txn, changes, b.own_seen, next_seen, &superseded_, &applied));
        changed |= applied;
        OUTPOST_RETURN_IF_ERROR(ctx_.state.keep_dead_letters(txn, dead, &kept));
        OUTPOST_RETURN_IF_ERROR(put_meta(txn, kMetaOwnSeen, std::to_string(next_seen)));
        return put_meta(txn, kMetaResumeToken,
                        std::string_view(reinterpret_cast<const char*>(bson_get_data(token.get())),
                                         token.get()->len));
    });
    if (s) seen = next_seen;
    return s;
}

void InboundCommitter::apply_one_by_one(const InboundBatch& b, const std::vector<Mapped>& all,
                                        uint64_t& seen, bool& changed,
                                        std::vector<DeadLetter>& dead) {
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
            dead.push_back({"inbound", b.read.events[m.event].coll,
                            sub_json(v.get(), "documentKey"), one.message(), to_json(v.get()), 0});
        }
    }
}

}  // namespace outpost::mongo::detail
