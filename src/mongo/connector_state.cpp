#include "mongo/connector_state.hpp"

#include <cstdio>

namespace outpost::mongo::detail {

ConnectorStatus ConnectorState::snapshot() const {
    MutexLock lock(mutex_);
    return status_;
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
}

void ConnectorState::count_outbound_txn(uint64_t records, uint64_t docs) {
    MutexLock lock(mutex_);
    status_.outbound_txns++;
    status_.outbound_records += records;
    status_.outbound_docs += docs;
}

void ConnectorState::set_error(const Status& s) {
    MutexLock lock(mutex_);
    status_.last_error = s.to_string();
    warn("MongoDB connector: " + status_.last_error);
}

void ConnectorState::set_last_error(std::string text) {
    MutexLock lock(mutex_);
    status_.last_error = std::move(text);
}

void ConnectorState::add_dead_letter(DeadLetter d) {
    d.time_ms = now_ms();
    warn("MongoDB connector: dead letter (" + d.direction + " " + d.collection + " " +
         d.document_key + "): " + d.reason);
    MutexLock lock(mutex_);
    status_.dead_letters_total++;
    status_.dead_letters.push_back(std::move(d));
    if (status_.dead_letters.size() > kMaxDeadLetters)
        status_.dead_letters.erase(status_.dead_letters.begin());
}

void ConnectorState::set_resume_token(const bson_t* token) {
    std::string json = to_json(token);
    MutexLock lock(mutex_);
    status_.resume_token = std::move(json);
}

void ConnectorState::add_import_run(ImportRun run) {
    MutexLock lock(mutex_);
    status_.import_runs.push_back(std::move(run));
    if (status_.import_runs.size() > kMaxImportRuns)
        status_.import_runs.erase(status_.import_runs.begin());
}

void ConnectorState::set_server_id(std::string id) {
    MutexLock lock(mutex_);
    status_.server_id = std::move(id);
}

void ConnectorState::set_running(bool running) {
    MutexLock lock(mutex_);
    status_.running = running;
    if (running) status_.inbound_stopped.clear();
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
