#include "mongo/connector_state.hpp"

#include <cstdio>

#include "mongo/dead_letters.hpp"

namespace outpost::mongo::detail {

ConnectorStatus ConnectorState::snapshot() const {
    MutexLock lock(mutex_);
    ConnectorStatus s = status_;
    using State = ConnectorStatus::State;
    if (s.running_import) {
        s.state = State::kImporting;
    } else if (!s.running) {
        s.state = State::kStopped;
    } else if (failing_ || !s.inbound_stopped.empty()) {
        s.state = State::kFailing;
    } else {
        s.state = streaming_ ? State::kStreaming : State::kConnecting;
    }
    if (s.last_event_ms > 0) {
        int64_t until = s.pending_events > 0 ? now_ms() : s.last_applied_ms;
        s.lag_s =
            until > s.last_event_ms ? static_cast<double>(until - s.last_event_ms) / 1000.0 : 0;
    }
    return s;
}

void ConnectorState::count(uint64_t ConnectorStatus::*field, uint64_t n) {
    MutexLock lock(mutex_);
    status_.*field += n;
}

void ConnectorState::count_inbound_batch(bool changed, uint64_t events, uint64_t echoes) {
    MutexLock lock(mutex_);
    if (changed) status_.inbound_txns++;
    status_.inbound_events += events;
    status_.echoes_skipped += echoes;
    failing_ = false;
}

void ConnectorState::count_outbound_txn(uint64_t records, uint64_t docs) {
    MutexLock lock(mutex_);
    status_.outbound_txns++;
    status_.outbound_records += records;
    status_.outbound_docs += docs;
    failing_ = false;
}

void ConnectorState::set_error(const Status& s) {
    MutexLock lock(mutex_);
    status_.last_error = s.to_string();
    failing_ = true;
    warn("MongoDB connector: " + status_.last_error);
}

void ConnectorState::set_last_error(std::string text) {
    MutexLock lock(mutex_);
    status_.last_error = std::move(text);
    failing_ = true;
}

void ConnectorState::note_ok() {
    MutexLock lock(mutex_);
    failing_ = false;
}

void ConnectorState::set_streaming(bool streaming) {
    MutexLock lock(mutex_);
    streaming_ = streaming;
    if (streaming) failing_ = false;
}

void ConnectorState::add_dead_letter(DeadLetter d) {
    std::vector<DeadLetter> one;
    one.push_back(std::move(d));
    uint64_t kept = 0;
    if (store_) {
        Status s = store_->write(
            [&](WriteTxn& txn) -> Status { return keep_dead_letters(txn, one, &kept); });
        if (!s) {
            warn("MongoDB connector: cannot keep a dead letter in the store: " + s.to_string());
            MutexLock lock(mutex_);
            kept = status_.dead_letters_kept;
        }
    }
    note_dead_letters(one, kept);
}

Status ConnectorState::keep_dead_letters(WriteTxn& txn, std::vector<DeadLetter>& letters,
                                         uint64_t* kept) const {
    if (!store_ || letters.empty()) return Status::ok();
    OUTPOST_ASSIGN_OR_RETURN(*kept, DeadLetters::add(txn, letters));
    return Status::ok();
}

void ConnectorState::note_dead_letters(const std::vector<DeadLetter>& letters, uint64_t kept) {
    if (letters.empty()) return;
    for (const DeadLetter& d : letters) {
        warn("MongoDB connector: dead letter " + std::to_string(d.id) + " (" + d.direction + " " +
             d.collection + " " + d.document_key + "): " + d.reason);
    }
    MutexLock lock(mutex_);
    status_.dead_letters_total += letters.size();
    if (store_) status_.dead_letters_kept = kept;
}

void ConnectorState::set_dead_letters_kept(uint64_t kept) {
    MutexLock lock(mutex_);
    status_.dead_letters_kept = kept;
}

void ConnectorState::note_read(uint64_t events) {
    MutexLock lock(mutex_);
    status_.pending_events += events;
}

void ConnectorState::note_committed(uint64_t events, int64_t event_ms) {
    MutexLock lock(mutex_);
    status_.pending_events -= std::min(status_.pending_events, events);
    if (event_ms > 0) {
        status_.last_event_ms = event_ms;
        status_.last_applied_ms = now_ms();
    }
}

void ConnectorState::clear_pending() {
    MutexLock lock(mutex_);
    status_.pending_events = 0;
}

void ConnectorState::set_resume_token(const bson_t* token) {
    std::string json = to_json(token);
    MutexLock lock(mutex_);
    status_.resume_token = std::move(json);
}

void ConnectorState::import_started(RunningImport run) {
    MutexLock lock(mutex_);
    status_.running_import = std::move(run);
}

void ConnectorState::import_progress(const ImportProgress& p) {
    MutexLock lock(mutex_);
    if (status_.running_import) status_.running_import->progress = p;
}

void ConnectorState::add_import_run(ImportRun run) {
    MutexLock lock(mutex_);
    status_.running_import.reset();
    status_.import_runs.push_back(std::move(run));
    if (status_.import_runs.size() > kMaxImportRuns)
        status_.import_runs.erase(status_.import_runs.begin());
}

bool ConnectorState::import_running() const {
    MutexLock lock(mutex_);
    return status_.running_import.has_value();
}

void ConnectorState::set_server_id(std::string id) {
    MutexLock lock(mutex_);
    status_.server_id = std::move(id);
}

void ConnectorState::set_running(bool running) {
    MutexLock lock(mutex_);
    status_.running = running;
    streaming_ = false;
    if (running) {
        status_.inbound_stopped.clear();
        failing_ = false;
    }
}

void ConnectorState::set_inbound_stopped(std::string why) {
    MutexLock lock(mutex_);
    status_.inbound_stopped = std::move(why);
}

void ConnectorState::warn(const std::string& text) const {
    if (log_) {
        log_(true, text);
    } else {
        std::fprintf(stderr, "%s\n", text.c_str());
    }
}

void ConnectorState::info(const std::string& text) const {
    if (log_) {
        log_(false, text);
    } else {
        std::fprintf(stderr, "%s\n", text.c_str());
    }
}

}  // namespace outpost::mongo::detail
