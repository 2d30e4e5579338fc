// SyncApi, the clients connected (from the sync server's snapshot) and the history records.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "admin/sync_api.hpp"
#include "admin/sync_api_internal.hpp"
#include "outpost/changelog.hpp"
#include "sync/sync_server.hpp"

namespace outpost::admin {

using namespace sync_api;

namespace {

nlohmann::json client_json(const sync::ClientInfo& c) {
    const sync::SessionInfo& s = c.session;
    return {{"session", s.session},
            {"client_id", s.client},
            {"user", s.user.empty() ? nlohmann::json() : nlohmann::json(s.user)},
            {"address", s.remote},
            {"connected_ms", s.connected_ms},
            {"protocol_version", s.protocol_version},
            {"last_acked_seq", s.acked_seq},
            {"lag_records", c.lag_records},
            {"queued_bytes", c.queued_bytes},
            {"bytes_in", c.bytes_in},
            {"bytes_out", c.bytes_out},
            {"full_sync", s.full_sync}};
}

}  // namespace

Response SyncApi::clients() {
    nlohmann::json items = nlohmann::json::array();
    int64_t taken_ms = 0;
    if (server_) {
        const auto snap = server_->snapshot();
        taken_ms = snap->taken_ms;
        for (const auto& c : snap->clients) items.push_back(client_json(c));
    }
    return json_response(200, {{"items", std::move(items)}, {"snapshot_ms", taken_ms}});
}

Response SyncApi::disconnect(const std::string& client) {
    if (server_) {
        const auto snap = server_->snapshot();
        const bool connected =
            std::any_of(snap->clients.begin(), snap->clients.end(),
                        [&](const sync::ClientInfo& c) { return c.session.client == client; });
        if (connected) {
            server_->disconnect_client(client, "disconnected by the admin");
            Response r;
            r.status = 204;
            return r;
        }
    }
    return error_response(404, "client " + client + " is not connected");
}

Response SyncApi::history(const Request& request) {
    Response bad;
    auto limit = limit_param(request, bad);
    if (!limit) return bad;
    const bool forward = request.query.count("from") && !request.query.at("from").empty();
    auto from = u64_param(request, "from", 0, bad);
    if (!from) return bad;
    auto txn = store_->begin_read();
    if (!txn) return store_error(txn.status());
    auto last = ChangeLog::last_position(*txn);
    if (!last) return store_error(last.status());
    auto size = ChangeLog::size(*txn);
    if (!size) return store_error(size.status());
    const uint64_t first = *size != 0 && *size <= *last ? *last - *size + 1 : 0;
    // Forward from FROM, or the newest LIMIT records, newest first.
    uint64_t after = 0;
    if (forward) {
        after = *from == 0 ? 0 : *from - 1;
    } else if (*last > *limit) {
        after = *last - *limit;
    }
    auto records = ChangeLog::read(*txn, after, *limit);
    if (!records) return store_error(records.status());
    txn->close();
    if (!forward) std::reverse(records->begin(), records->end());
    const Model& model = store_->model();
    nlohmann::json items = nlohmann::json::array();
    for (const ChangeLogRecord& rec : *records) {
        std::map<std::string, uint64_t> touched;
        for (const ObjectChange& c : rec.changes.objects) {
            const Entity* e = model.entity_by_uid(c.entity_uid);
            ++touched[e ? e->name : "uid " + std::to_string(c.entity_uid)];
        }
        std::optional<int64_t> time;
        if (server_) time = server_->record_time_ms(rec.position);
        items.push_back({{"seq", rec.position},
                         {"origin", rec.origin},
                         {"time_ms", time ? nlohmann::json(*time) : nlohmann::json()},
                         {"bytes", rec.bytes},
                         {"changes", rec.changes.objects.size()},
                         {"entities", touched}});
    }
    return json_response(200, {{"first_seq", first},
                               {"last_seq", *last},
                               {"limit", *limit},
                               {"items", std::move(items)}});
}

}  // namespace outpost::admin
