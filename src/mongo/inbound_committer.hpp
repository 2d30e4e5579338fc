// The inbound stream's committer: batches of mapped changes from the reading thread, committed on a
// thread of its own in stream order, each with its resume token and own_seen in the same server
// transaction, so that a crash loses nothing and repeats nothing (uncommitted batches are read
// again after the stored token).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <thread>

#include "common/mutex.hpp"
#include "mongo/connector_state.hpp"
#include "mongo/event_mapper.hpp"
#include "mongo/stream_reader.hpp"
#include "outpost/store.hpp"

namespace outpost::mongo::detail {

// A batch read and mapped on the reading thread, waiting for its commit.
struct InboundBatch {
    ReadBatch read;         // the events (and the reply they point into) and the token to store
    MappedBatch mapped;     // their changes, dead letters and counts
    uint64_t own_seen = 0;  // the newest marker position the stream passed up to the batch's end
};

// Batches from the reading thread to the committing thread, in stream order. At most kDepth wait,
// so reading and mapping run at most that far ahead of the commits (each batch holds its reply).
class CommitQueue {
  public:
    static constexpr size_t kDepth = 2;
    // Waits for room. False (BATCH dropped) once the committer has failed or the queue is closed.
    bool push(InboundBatch&& batch) OUTPOST_EXCLUDES(mutex_);
    // Waits until every batch pushed so far is committed (or the committer failed).
    void wait_idle() OUTPOST_EXCLUDES(mutex_);
    // No more batches: the committer ends once the queued ones are done.
    void close() OUTPOST_EXCLUDES(mutex_);
    // The committer's next batch; nullopt when closed and empty.
    std::optional<InboundBatch> pop() OUTPOST_EXCLUDES(mutex_);
    // The committer finished a batch. An error drops the queued batches and refuses new ones.
    void done(const Status& s) OUTPOST_EXCLUDES(mutex_);
    // The committer's first error, or ok.
    Status status() const OUTPOST_EXCLUDES(mutex_);

  private:
    mutable Mutex mutex_;
    CondVar cv_;
    std::deque<InboundBatch> queue_ OUTPOST_GUARDED_BY(mutex_);
    bool busy_ OUTPOST_GUARDED_BY(mutex_) = false;  // the committer holds a popped batch
    bool closed_ OUTPOST_GUARDED_BY(mutex_) = false;
    Status failed_ OUTPOST_GUARDED_BY(mutex_) = Status::ok();
};

// What the committer writes to and reports to; all must outlive it.
struct CommitterContext {
    Store& store;
    bool strict_from_mongo =
        false;  // a change the store refuses stops the stream (else: dead letter)
    ConnectorState& state;
    std::function<void()>
        on_commit;  // after each commit that changed the server's objects (may be empty)
    std::function<bool()> stopping;  // when true, batches not yet committed are dropped
};

// Commits batches on its own thread, started by the constructor. own_seen: the reading thread
// advances it past the markers it reads, the committer past the records it writes; the committer
// raises each change's own_seen to its own before applying, as a serial stream would have had it.
class InboundCommitter {
  public:
    // SEEN is the stream's own_seen as stored.
    InboundCommitter(CommitterContext ctx, uint64_t seen);
    ~InboundCommitter();  // finish()
    InboundCommitter(const InboundCommitter&) = delete;
    InboundCommitter& operator=(const InboundCommitter&) = delete;

    // Queues BATCH (waits for room). False once the committer has failed: its status ends the
    // stream.
    bool push(InboundBatch&& batch) { return queue_.push(std::move(batch)); }
    // Waits until every batch pushed so far is committed.
    void wait_idle() { queue_.wait_idle(); }
    bool failed() const { return !queue_.status().is_ok(); }
    // own_seen as committed (for reads of the store that must follow the commits).
    uint64_t committed_seen() const { return committed_seen_.load(); }
    // Commits the queued batches (or drops them when stopping), ends the thread, and returns the
    // first commit error, or ok.
    Status finish();

  private:
    void run();
    // One batch: its changes, its resume token and own_seen in one store transaction. SEEN is the
    // committing thread's own_seen.
    Status commit(InboundBatch& b, uint64_t& seen);
    // Applies CHANGES and stores the stream's position and DEAD (the batch's dead letters; KEPT
    // gets the count kept) with them; SEEN moves on only when the transaction commits. CHANGED
    // tells whether anything was applied.
    Status apply_with_token(InboundBatch& b, std::vector<Mapped>& changes, uint64_t& seen,
                            bool& changed, std::vector<DeadLetter>& dead, uint64_t& kept);
    // After the store refused the batch as a whole: each change by itself, the refused ones added
    // to DEAD. CHANGED tells whether any applied.
    void apply_one_by_one(const InboundBatch& b, const std::vector<Mapped>& all, uint64_t& seen,
                          bool& changed, std::vector<DeadLetter>& dead);

    CommitterContext ctx_;
    CommitQueue queue_;
    std::atomic<uint64_t> committed_seen_;
    uint64_t superseded_ =
        0;  // the committing thread's: changes dropped for pending server changes
    std::thread thread_;
};

}  // namespace outpost::mongo::detail
