#include "admin/mongo_api.hpp"

#include <charconv>
#include <nlohmann/json.hpp>

namespace outpost::admin {

namespace {

using mongo::ConnectorStatus;
using nlohmann::json;

// A decimal number of TEXT (digits only, no sign), or nullopt.
std::optional<uint64_t> parse_number(const std::string& text) {
    uint64_t v = 0;
    if (text.empty() || text.size() > 19) return std::nullopt;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return v;
}

Response method_not_allowed(const char* allow) {
    Response r = error_response(405, std::string("method not allowed; allowed: ") + allow);
    r.headers.emplace_back("Allow", allow);
    return r;
}

json running_json(const mongo::RunningImport& run) {
    const mongo::ImportProgress& p = run.progress;
    uint64_t done =
        p.collection_index == 0 ? 0 : p.collection_index - (p.collection_finished ? 0 : 1);
    return {{"started_ms", run.started_ms},
            {"automatic", run.automatic},
            {"reason", run.reason},
            {"collection", p.collection},
            {"collection_docs_done", p.collection_docs_done},
            {"collection_docs_total", p.collection_docs_total},
            {"docs_done", p.docs_done},
            {"docs_total", p.docs_total},
            {"collections_done", done},
            {"collections", p.collections},
            {"docs_per_s", p.docs_per_s}};
}

json run_json(const mongo::ImportRun& run) {
    const mongo::ImportStats& s = run.stats;
    return {{"started_ms", run.started_ms},
            {"finished_ms", run.finished_ms},
            {"automatic", run.automatic},
            {"reason", run.reason},
            {"collections", s.collections},
            {"docs_read", s.docs_read},
            {"added", s.added},
            {"updated", s.updated},
            {"removed", s.removed},
            {"dead_letters", s.dead_letters},
            {"seconds", s.seconds},
            {"error", run.error}};
}

json letter_json(const mongo::DeadLetter& d) {
    return {{"id", d.id},
            {"direction", d.direction},
            {"collection", d.collection},
            {"document_key", d.document_key},
            {"reason", d.reason},
            {"raw", d.raw},
            {"time_ms", d.time_ms}};
}

// ERROR as a response: 404 for kNotFound, 409 for what the caller calls a conflict, else 500.
Response status_error(const Status& error, bool conflict) {
    if (error.code() == ErrorCode::kNotFound) return error_response(404, error.message());
    return error_response(conflict ? 409 : 500, error.message());
}

}  // namespace

json MongoApi::status_json(const ConnectorStatus& s, const mongo::ConnectorOptions& options) {
    return {
        {"state", mongo::state_name(s.state)},
        {"last_error", s.last_error},
        {"inbound_stopped", s.inbound_stopped},
        {"url", mongo::url_without_password(options.url)},
        {"database", options.database},
        {"server_id", s.server_id},
        {"inbound",
         {{"events_total", s.inbound_events},
          {"txns_total", s.inbound_txns},
          {"lag_s", s.lag_s},
          {"lag_basis", s.pending_events > 0 ? "now" : "applied"},
          {"pending_events", s.pending_events},
          {"last_event_ms", s.last_event_ms},
          {"last_applied_ms", s.last_applied_ms},
          {"echoes_skipped", s.echoes_skipped},
          {"lookups", s.lookups},
          {"resume_token", s.resume_token}}},
        {"outbound",
         {{"position", s.outbound_position},
          {"server_head", s.server_head},
          {"lag_records", s.outbound_lag},
          {"docs_total", s.outbound_docs},
          {"records_total", s.outbound_records},
          {"txns_total", s.outbound_txns}}},
        {"dead_letters", s.dead_letters_kept},
        {"dead_letters_total", s.dead_letters_total},
        {"import_running", s.running_import.has_value()},
        {"import_docs_total", s.import_docs},
        {"retries", s.retries},
    };
}

std::optional<Response> MongoApi::handle(const Request& r) {
    const auto& seg = r.segments;
    if (seg.size() < 2 || seg[0] != "api" || seg[1] != "mongo") return std::nullopt;
    if (seg.size() == 2) {
        if (r.method != "GET") return method_not_allowed("GET");
        return get_status();
    }
    if (seg[2] == "dead-letters") {
        if (seg.size() == 3) {
            if (r.method != "GET") return method_not_allowed("GET");
            return list_dead_letters(r);
        }
        if (seg.size() == 4) {
            if (r.method != "DELETE") return method_not_allowed("DELETE");
            return discard(seg[3]);
        }
        if (seg.size() == 5 && seg[4] == "retry") {
            if (r.method != "POST") return method_not_allowed("POST");
            return retry(seg[3]);
        }
    } else if (seg[2] == "imports" && seg.size() == 3) {
        if (r.method == "GET") return list_imports();
        if (r.method == "POST") return start_import();
        return method_not_allowed("GET, POST");
    }
    return error_response(404, "no such path: " + r.path);
}

void MongoApi::add_status(json& status) {
    status["mongo"] = status_json(connector_.status(), connector_.options());
}

Response MongoApi::get_status() {
    return json_response(200, status_json(connector_.status(), connector_.options()));
}

Response MongoApi::list_dead_letters(const Request& r) {
    size_t offset = 0, limit = kDefaultLimit;
    if (auto it = r.query.find("offset"); it != r.query.end()) {
        auto v = parse_number(it->second);
        if (!v) return error_response(400, "offset must be a number >= 0");
        offset = static_cast<size_t>(*v);
    }
    if (auto it = r.query.find("limit"); it != r.query.end()) {
        auto v = parse_number(it->second);
        if (!v) return error_response(400, "limit must be a number >= 0");
        limit = static_cast<size_t>(std::min<uint64_t>(*v, kMaxLimit));
    }
    auto page = connector_.dead_letters(offset, limit);
    if (!page) return status_error(page.status(), false);
    json items = json::array();
    for (const auto& d : page->items) items.push_back(letter_json(d));
    return json_response(200, {{"total", page->total},
                               {"offset", offset},
                               {"limit", limit},
                               {"items", std::move(items)}});
}

Response MongoApi::retry(const std::string& id_text) {
    auto id = parse_number(id_text);
    if (!id) return error_response(404, "no dead letter " + id_text);
    Status s = connector_.retry_dead_letter(*id);
    if (!s) {
        bool storage = s.code() == ErrorCode::kStorage || s.code() == ErrorCode::kStorageFull;
        return status_error(s, !storage);
    }
    return json_response(200, {{"result", "applied"}});
}

Response MongoApi::discard(const std::string& id_text) {
    auto id = parse_number(id_text);
    if (!id) return error_response(404, "no dead letter " + id_text);
    Status s = connector_.discard_dead_letter(*id);
    if (!s) return status_error(s, false);
    Response r;
    r.status = 204;
    r.content_type.clear();
    return r;
}

Response MongoApi::list_imports() {
    ConnectorStatus s = connector_.status();
    json items = json::array();
    for (auto it = s.import_runs.rbegin(); it != s.import_runs.rend(); ++it)
        items.push_back(run_json(*it));
    json running = s.running_import ? running_json(*s.running_import) : json(nullptr);
    return json_response(200, {{"running", std::move(running)}, {"items", std::move(items)}});
}

Response MongoApi::start_import() {
    Status s = connector_.request_import();
    if (!s) return status_error(s, true);
    return json_response(202, {{"result", "started"}});
}

void MongoApi::write_metrics(MetricsWriter& out) {
    using Type = MetricsWriter::Type;
    ConnectorStatus s = connector_.status();
    auto n = [](uint64_t v) { return static_cast<double>(v); };
    out.counter("outpost_mongodb_inbound_events_total",
                "Change events from MongoDB applied to the server store.", n(s.inbound_events));
    out.counter("outpost_mongodb_inbound_txns_total",
                "Server transactions the connector committed from MongoDB changes.",
                n(s.inbound_txns));
    out.gauge("outpost_mongodb_inbound_lag_seconds",
              "Age of the newest applied change event: now minus its MongoDB time while events "
              "wait, else how late it was applied.",
              s.lag_s);
    out.gauge("outpost_mongodb_inbound_pending_events",
              "Change events read from the stream and not committed yet.", n(s.pending_events));
    out.counter("outpost_mongodb_echoes_skipped_total",
                "Change events of this server's own writes, skipped.", n(s.echoes_skipped));
    out.counter("outpost_mongodb_outbound_docs_total",
                "Document writes (upserts and deletes) to MongoDB.", n(s.outbound_docs));
    out.counter("outpost_mongodb_outbound_txns_total", "MongoDB transactions committed.",
                n(s.outbound_txns));
    out.gauge("outpost_mongodb_outbound_lag_records",
              "Server history records not yet written to MongoDB.", n(s.outbound_lag));
    out.gauge("outpost_mongodb_dead_letters", "Dead letters kept in the server store now.",
              n(s.dead_letters_kept));
    out.counter("outpost_mongodb_dead_lettered_changes_total",
                "Changes that became dead letters since the server started.",
                n(s.dead_letters_total));
    out.counter("outpost_mongodb_import_docs_total", "Documents read by imports.",
                n(s.import_docs));
    out.gauge("outpost_mongodb_import_running", "1 while an import runs.",
              s.running_import ? 1 : 0);
    out.counter("outpost_mongodb_retries_total",
                "Retried MongoDB transactions, commits and stream restarts.", n(s.retries));
    out.begin("outpost_mongodb_state", Type::kGauge,
              "The connector's state: 1 for the current one.");
    for (auto st : {ConnectorStatus::State::kConnecting, ConnectorStatus::State::kImporting,
                    ConnectorStatus::State::kStreaming, ConnectorStatus::State::kFailing,
                    ConnectorStatus::State::kStopped}) {
        out.sample("outpost_mongodb_state", st == s.state ? 1 : 0,
                   {{"state", mongo::state_name(st)}});
    }
}

}  // namespace outpost::admin
