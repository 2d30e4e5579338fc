// The connector's status as the admin API reads it: running, what it does now, last error,
// counters, inbound lag, dead letters (kept in the store, dead_letters.hpp), import runs and the
// stored resume token. Every part of the connector reports here; a snapshot is taken under one
// lock, so it is consistent. Thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/mutex.hpp"
#include "mongo/connector.hpp"
#include "mongo/handles.hpp"

namespace outpost::mongo {

// Milliseconds since the Unix epoch (dead letters, import runs).
int64_t now_ms();

}  // namespace outpost::mongo

namespace outpost::mongo::detail {

class ConnectorState {
  public:
    // Log lines go to LOG (warn, text), or to stderr when it is empty. Dead letters are kept in
    // STORE (which must outlive this), or only counted and logged when it is null.
    explicit ConnectorState(std::function<void(bool warn, const std::string&)> log,
                            Store* store = nullptr)
        : log_(std::move(log)), store_(store) {}

    // A copy of the status as it is now (outbound_position, server_head and outbound_lag are left 0
    // for the caller, who knows them).
    ConnectorStatus snapshot() const OUTPOST_EXCLUDES(mutex_);

    // Adds N to a counter.
    void count(uint64_t ConnectorStatus::*field, uint64_t n = 1) OUTPOST_EXCLUDES(mutex_);
    // Counts one inbound batch committed: a server transaction when CHANGED, its EVENTS and ECHOES.
    void count_inbound_batch(bool changed, uint64_t events, uint64_t echoes)
        OUTPOST_EXCLUDES(mutex_);
    // Counts one outbound MongoDB transaction of RECORDS history records and DOCS document writes.
    void count_outbound_txn(uint64_t records, uint64_t docs) OUTPOST_EXCLUDES(mutex_);
    // The newest error; logged as a warning. The state is failing until the next success.
    void set_error(const Status& s) OUTPOST_EXCLUDES(mutex_);
    // The newest error, as given (already logged by the caller); failing as with set_error.
    void set_last_error(std::string text) OUTPOST_EXCLUDES(mutex_);
    // Something worked (a stream opened, a batch committed, an outbound transaction committed):
    // no longer failing.
    void note_ok() OUTPOST_EXCLUDES(mutex_);
    // A change stream is open (STREAMING, and no longer failing), or is being (re)opened.
    void set_streaming(bool streaming) OUTPOST_EXCLUDES(mutex_);

    // ---- Dead letters: changes that could not be written on the other side.
    // Keeps D in the store in a transaction of its own, then counts and logs it
    // (note_dead_letters).
    void add_dead_letter(DeadLetter d) OUTPOST_EXCLUDES(mutex_);
    // Keeps LETTERS in TXN (ids and times set). KEPT gets the count kept after TXN commits. Nothing
    // to do without a store.
    Status keep_dead_letters(WriteTxn& txn, std::vector<DeadLetter>& letters, uint64_t* kept) const;
    // After the transaction of keep_dead_letters committed: counts and logs LETTERS; KEPT as it
    // returned (ignored without a store).
    void note_dead_letters(const std::vector<DeadLetter>& letters, uint64_t kept)
        OUTPOST_EXCLUDES(mutex_);
    // The count kept now (after a retry or discard, and at start).
    void set_dead_letters_kept(uint64_t kept) OUTPOST_EXCLUDES(mutex_);
    Store* store() const { return store_; }

    // ---- Inbound lag (see ConnectorStatus::lag_s).
    // EVENTS were read from the stream and wait for their commit.
    void note_read(uint64_t events) OUTPOST_EXCLUDES(mutex_);
    // EVENTS were committed; EVENT_MS is MongoDB's time of the newest of them (0: unknown).
    void note_committed(uint64_t events, int64_t event_ms) OUTPOST_EXCLUDES(mutex_);
    // The stream ended: what it had read and not committed is dropped (it is read again).
    void clear_pending() OUTPOST_EXCLUDES(mutex_);

    // The stream's stored point, kept as relaxed extended JSON.
    void set_resume_token(const bson_t* token) OUTPOST_EXCLUDES(mutex_);
    // An import started (RUN), its progress, and its end with the finished run (the newest 20 are
    // kept).
    void import_started(RunningImport run) OUTPOST_EXCLUDES(mutex_);
    void import_progress(const ImportProgress& p) OUTPOST_EXCLUDES(mutex_);
    void add_import_run(ImportRun run) OUTPOST_EXCLUDES(mutex_);
    bool import_running() const OUTPOST_EXCLUDES(mutex_);
    void set_server_id(std::string id) OUTPOST_EXCLUDES(mutex_);
    // Started (clears inbound_stopped) or stopped.
    void set_running(bool running) OUTPOST_EXCLUDES(mutex_);
    // The inbound stream stopped for good (strict conversions): why.
    void set_inbound_stopped(std::string why) OUTPOST_EXCLUDES(mutex_);

    // Log lines: WARN, or INFO.
    void warn(const std::string& text) const;
    void info(const std::string& text) const;

  private:
    static constexpr size_t kMaxImportRuns = 20;

    const std::function<void(bool warn, const std::string&)> log_;
    Store* const store_;
    mutable Mutex mutex_;
    ConnectorStatus status_ OUTPOST_GUARDED_BY(mutex_);
    bool failing_ OUTPOST_GUARDED_BY(mutex_) = false;
    bool streaming_ OUTPOST_GUARDED_BY(mutex_) = false;
};

}  // namespace outpost::mongo::detail
