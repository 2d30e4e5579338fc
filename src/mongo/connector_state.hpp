// The connector's status as the admin API reads it: running, last error, counters, dead letters,
// import runs and the stored resume token. Every part of the connector reports here; a snapshot is
// taken under one lock, so it is consistent. Thread-safe.
#pragma once

#include <functional>
#include <string>

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
    // Log lines go to LOG (warn, text), or to stderr when it is empty.
    explicit ConnectorState(std::function<void(bool warn, const std::string&)> log)
        : log_(std::move(log)) {}

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
    // The newest error; logged as a warning.
    void set_error(const Status& s) OUTPOST_EXCLUDES(mutex_);
    // The newest error, as given (already logged by the caller).
    void set_last_error(std::string text) OUTPOST_EXCLUDES(mutex_);
    // A change that could not be written on the other side (the newest 1000 are kept); logged.
    void add_dead_letter(DeadLetter d) OUTPOST_EXCLUDES(mutex_);
    // The stream's stored point, kept as relaxed extended JSON.
    void set_resume_token(const bson_t* token) OUTPOST_EXCLUDES(mutex_);
    // A finished import run (the newest 20 are kept).
    void add_import_run(ImportRun run) OUTPOST_EXCLUDES(mutex_);
    void set_server_id(std::string id) OUTPOST_EXCLUDES(mutex_);
    // Started (clears inbound_stopped) or stopped.
    void set_running(bool running) OUTPOST_EXCLUDES(mutex_);
    // The inbound stream stopped for good (strict conversions): why.
    void set_inbound_stopped(std::string why) OUTPOST_EXCLUDES(mutex_);

    // Log lines: WARN, or INFO.
    void warn(const std::string& text) const;
    void info(const std::string& text) const;

  private:
    static constexpr size_t kMaxDeadLetters = 1000;
    static constexpr size_t kMaxImportRuns = 20;

    const std::function<void(bool warn, const std::string&)> log_;
    mutable Mutex mutex_;
    ConnectorStatus status_ OUTPOST_GUARDED_BY(mutex_);
};

}  // namespace outpost::mongo::detail
