#include "admin/sync_api.hpp"

#include <charconv>
#include <nlohmann/json.hpp>

#include "admin/sync_api_internal.hpp"
#include "outpost/box.hpp"
#include "outpost/changelog.hpp"
#include "sync/sync_server.hpp"

namespace outpost::admin {

namespace sync_api {

std::optional<uint64_t> parse_u64(std::string_view text) {
    uint64_t v = 0;
    const char* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, v);
    if (text.empty() || ec != std::errc() || p != end) return std::nullopt;
    return v;
}

std::optional<uint64_t> u64_param(const Request& request, const std::string& name,
                                  uint64_t fallback, Response& error) {
    auto it = request.query.find(name);
    if (it == request.query.end() || it->second.empty()) return fallback;
    auto v = parse_u64(it->second);
    if (!v) error = error_response(400, name + ": not a non-negative integer: " + it->second);
    return v;
}

std::optional<uint64_t> limit_param(const Request& request, Response& error) {
    auto limit = u64_param(request, "limit", SyncApi::kDefaultLimit, error);
    if (limit && *limit > SyncApi::kMaxLimit) limit = SyncApi::kMaxLimit;
    return limit;
}

Response store_error(const Status& status) {
    switch (status.code()) {
        case ErrorCode::kUnknownEntity:
            return error_response(404, status.message());
        case ErrorCode::kInvalidArgument: {
            // The query parser's "query syntax: column 9: ..." carries the column.
            const std::string& msg = status.message();
            if (size_t at = msg.find("column "); at != std::string::npos) {
                const size_t from = at + 7;
                size_t to = from;
                while (to < msg.size() && msg[to] >= '0' && msg[to] <= '9') ++to;
                if (auto col = parse_u64(std::string_view(msg).substr(from, to - from))) {
                    return error_response(400, msg, {{"column", *col}});
                }
            }
            return error_response(400, msg);
        }
        case ErrorCode::kTypeMismatch:
        case ErrorCode::kUnknownProperty:
        case ErrorCode::kValueOutOfRange:
        case ErrorCode::kRelationTarget:
        case ErrorCode::kPutMode:
        case ErrorCode::kIllegalState:
        case ErrorCode::kOutOfRange:
        case ErrorCode::kNotFound:
            return error_response(400, status.message());
        case ErrorCode::kUniqueViolation:
            return error_response(409, status.message());
        default:
            return error_response(500, status.to_string());
    }
}

}  // namespace sync_api

using namespace sync_api;

namespace {

nlohmann::json property_json(const Property& p) {
    nlohmann::json j = {{"name", p.name},
                        {"uid", p.id.to_string()},
                        {"type", std::string(property_type_name(p.type))}};
    nlohmann::json flags = nlohmann::json::array();
    for (std::string_view name : property_flag_names(p.flags)) flags.push_back(name);
    j["flags"] = std::move(flags);
    if (p.has_index()) j["index_uid"] = p.index_id.to_string();
    if (!p.target.empty()) j["target"] = p.target;
    if (!p.external_name.empty()) j["external_name"] = p.external_name;
    if (p.external_type != ExternalType::kNone) {
        j["external_type"] = std::string(external_type_name(p.external_type));
    }
    return j;
}

nlohmann::json entity_json(const Entity& e, uint64_t count) {
    nlohmann::json j = {{"name", e.name}, {"uid", e.id.to_string()}, {"sync", e.sync}};
    if (e.sync) j["mongo_collection"] = e.external_name.empty() ? e.name : e.external_name;
    nlohmann::json props = nlohmann::json::array();
    for (const auto& p : e.properties) props.push_back(property_json(p));
    j["properties"] = std::move(props);
    nlohmann::json rels = nlohmann::json::array();
    for (const auto& r : e.relations) {
        rels.push_back({{"name", r.name}, {"uid", r.id.to_string()}, {"target", r.target}});
    }
    j["relations"] = std::move(rels);
    j["count"] = count;
    return j;
}

struct HistoryFigures {
    uint64_t first_seq = 0, last_seq = 0, records = 0;
};

Result<HistoryFigures> history_figures(Store& store) {
    HistoryFigures h;
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, store.begin_read());
    OUTPOST_ASSIGN_OR_RETURN(h.last_seq, ChangeLog::last_position(txn));
    OUTPOST_ASSIGN_OR_RETURN(h.records, ChangeLog::size(txn));
    // Trimming removes the oldest records: the kept ones are a run that ends at the newest.
    if (h.records != 0 && h.records <= h.last_seq) h.first_seq = h.last_seq - h.records + 1;
    return h;
}

}  // namespace

SyncApi::SyncApi(std::shared_ptr<Store> store, sync::SyncServer* server)
    : store_(std::move(store)), server_(server) {}

std::optional<Response> SyncApi::handle(const Request& request) {
    const auto& seg = request.segments;
    if (seg.size() < 2 || seg[0] != "api") return std::nullopt;
    const std::string& what = seg[1];
    auto only = [&](const char* method) -> std::optional<Response> {
        if (request.method == method) return std::nullopt;
        Response r = error_response(405, request.method + " is not allowed on " + request.path);
        r.headers.emplace_back("Allow", method);
        return r;
    };
    if (what == "model" && seg.size() == 2) {
        if (auto refused = only("GET")) return refused;
        return model();
    }
    if (what == "entities") return objects(request);
    if (what == "clients" && seg.size() == 2) {
        if (auto refused = only("GET")) return refused;
        return clients();
    }
    if (what == "clients" && seg.size() == 4 && seg[3] == "disconnect") {
        if (auto refused = only("POST")) return refused;
        return disconnect(seg[2]);
    }
    if (what == "history" && seg.size() == 2) {
        if (auto refused = only("GET")) return refused;
        return history(request);
    }
    if (what == "clients" || what == "history") return error_response(404, "no such path");
    return std::nullopt;
}

Response SyncApi::model() {
    auto txn = store_->begin_read();
    if (!txn) return store_error(txn.status());
    nlohmann::json entities = nlohmann::json::array();
    for (const auto& e : store_->model().entities) {
        auto box = store_->box(e.name);
        if (!box) return store_error(box.status());
        auto count = box->count(*txn);
        if (!count) return store_error(count.status());
        entities.push_back(entity_json(e, *count));
    }
    return json_response(200, {{"entities", std::move(entities)}});
}

void SyncApi::add_status(nlohmann::json& status) {
    nlohmann::json sync = nlohmann::json::object();
    if (auto stats = store_->stats()) {
        sync["store"] = {{"path", store_->dir()},
                         {"size_bytes", stats->file_bytes},
                         {"map_size_bytes", stats->map_bytes},
                         {"map_used_bytes", stats->used_bytes}};
        sync["history"] = {{"bytes", stats->history_bytes}};
    } else {
        sync["store"] = {{"path", store_->dir()}, {"error", stats.status().to_string()}};
        sync["history"] = nlohmann::json::object();
    }
    if (auto h = history_figures(*store_)) {
        sync["history"]["first_seq"] = h->first_seq;
        sync["history"]["last_seq"] = h->last_seq;
        sync["history"]["records"] = h->records;
    } else {
        sync["history"]["error"] = h.status().to_string();
    }
    sync::ServerSnapshot snap;
    if (server_) snap = *server_->snapshot();
    const sync::ServerStats& s = snap.stats;
    sync["clients_connected"] = snap.clients.size();
    sync["push_txns_per_s"] = snap.push_txns_per_s;
    sync["applied_changes_per_s"] = snap.applied_changes_per_s;
    sync["fanout_changes_per_s"] = snap.fanout_changes_per_s;
    sync["push_txns_total"] = s.pushes_applied;
    sync["logins_total"] = s.logins_ok + s.logins_rejected + s.auth_expired + s.auth_unknown_key +
                           s.logins_throttled + s.logins_failed;
    sync["full_syncs_total"] = s.full_syncs;
    sync["snapshot_ms"] = snap.taken_ms;
    status["sync"] = std::move(sync);
}

void SyncApi::write_metrics(MetricsWriter& out) {
    if (auto h = history_figures(*store_)) {
        out.gauge("outpost_history_seq", "The sequence number of the newest history record.",
                  static_cast<double>(h->last_seq));
        out.gauge("outpost_history_records", "History records kept.",
                  static_cast<double>(h->records));
    }
    if (auto stats = store_->stats()) {
        out.gauge("outpost_history_bytes",
                  "Bytes of store pages the kept history (records and origins) uses.",
                  static_cast<double>(stats->history_bytes));
        out.gauge("outpost_store_used_bytes", "Bytes of the store's memory map in use.",
                  static_cast<double>(stats->used_bytes));
        out.gauge("outpost_store_map_bytes", "The size of the store's memory map (its limit).",
                  static_cast<double>(stats->map_bytes));
    }
    if (server_) write_server_metrics(out);
}

void SyncApi::write_server_metrics(MetricsWriter& out) {
    const auto snap = server_->snapshot();
    const sync::ServerStats& s = snap->stats;
    auto d = [](uint64_t v) { return static_cast<double>(v); };
    out.gauge("outpost_clients_connected", "Sync clients connected and logged in.",
              d(snap->clients.size()));
    out.begin("outpost_logins_total", MetricsWriter::Type::kCounter,
              "Sync logins by result: ok; rejected (wrong credentials, or a client id bound to "
              "another key or user); expired (token); unknown_key (token signed by an unknown "
              "key); throttled (too many failed logins from the address); failed (protocol "
              "version, model, malformed login, server error).");
    const std::pair<const char*, uint64_t> logins[] = {
        {"ok", s.logins_ok},
        {"rejected", s.logins_rejected},
        {"expired", s.auth_expired},
        {"unknown_key", s.auth_unknown_key},
        {"throttled", s.logins_throttled},
        {"failed", s.logins_failed},
    };
    for (const auto& [result, n] : logins) {
        out.sample("outpost_logins_total", d(n), {{"result", result}});
    }
    out.counter("outpost_push_txns_total", "Client transactions (pushes) applied to the history.",
                d(s.pushes_applied));
    out.counter("outpost_push_changes_total", "Object changes of the pushes applied.",
                d(s.changes_applied));
    out.histogram("outpost_push_apply_seconds",
                  "Time to apply and commit one group commit of pushes (the pushes of one client "
                  "queued together: one store transaction, one history record).",
                  sync::kApplySecondsBounds, s.apply_seconds_counts, s.apply_seconds_sum);
    out.counter("outpost_fanout_changes_total",
                "Object changes sent live to other clients (Apply), counted per client.",
                d(s.fanout_changes));
    out.counter("outpost_full_syncs_total",
                "Full syncs started (new clients, or behind the kept "
                "history).",
                d(s.full_syncs));
    out.counter("outpost_catch_ups_total", "Logins that caught up from the history.",
                d(s.catch_ups));
    out.counter("outpost_protocol_errors_total",
                "Sessions closed for an error (refused logins, bad frames, server errors).",
                d(s.protocol_errors));
    out.counter("outpost_connections_refused_total", "Connections refused at the connection limit.",
                d(s.connections_refused));
}

}  // namespace outpost::admin
