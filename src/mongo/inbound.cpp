// Inbound: the connector's side of the change stream (inbound_stream.hpp): where it starts, and the
// loop that reconnects, imports when needed and restarts it.
#include <cstdlib>

#include "mongo/connector_impl.hpp"
#include "mongo/inbound_stream.hpp"

namespace outpost::mongo {

using detail::Bson;

// One change stream from the stored token until an error, the end of the cursor, stop() or an
// import request. kMongoHistoryLost when the stored point cannot be resumed (286, 280, 260).
Status Connector::Impl::stream_once(mongoc_client_t* c) {
    std::optional<Bson> token;
    uint64_t own_seen = 0;
    bool own_seen_known = false;
    {
        auto txn = store->begin_read();
        if (!txn) return txn.status();
        OUTPOST_ASSIGN_OR_RETURN(auto seen, get_meta(*txn, kMetaOwnSeen));
        if (seen) {
            own_seen = std::strtoull(seen->c_str(), nullptr, 10);
            own_seen_known = true;
        }
        OUTPOST_ASSIGN_OR_RETURN(auto raw, get_meta(*txn, kMetaResumeToken));
        if (raw) {
            bson_t view;
            if (bson_init_static(&view, reinterpret_cast<const uint8_t*>(raw->data()),
                                 raw->size())) {
                token = Bson::copy_of(&view);
                state.set_resume_token(token->get());
            }
        }
    }
    if (!own_seen_known) {
        // No stream has passed one of this server's transactions yet: every position MongoDB holds
        // was written before the stored point.
        OUTPOST_ASSIGN_OR_RETURN(own_seen, read_marker(c));
    }
    detail::MongocChangeStream source(c, options.database, options.max_await_ms);
    detail::InboundContext ctx{*store,
                               mapping,
                               options,
                               marker_id,
                               state,
                               on_inbound_commit,
                               [this] { return wakeup.stopping(); },
                               [this] { return import_requests.waiting(); }};
    return detail::run_change_stream(ctx, source, std::move(token), own_seen);
}

void Connector::Impl::inbound_loop() {
    std::optional<detail::PooledClient> c;
    detail::RetryBackoff backoff;
    bool first = true;
    while (!wakeup.stopping()) {
        if (!c) {
            auto r = client();
            if (!r) {
                state.set_error(r.status());
                if (wakeup.sleep_for(backoff.delay_ms())) return;
                continue;
            }
            c.emplace(std::move(r).value());
        }
        if (Status w = wait_for_primary(c->get()); !w) {
            if (wakeup.stopping()) return;
            state.set_error(w);
            state.count(&ConnectorStatus::retries);
            if (wakeup.back_off(backoff)) return;
            continue;
        }
        std::string import_reason;  // empty: no import needed
        {
            auto txn = store->begin_read();
            if (txn) {
                auto pending = get_meta(*txn, kMetaImportPending);
                auto tok = get_meta(*txn, kMetaResumeToken);
                if (first && options.automatic_initial_import && tok && !*tok) {
                    import_reason = "automaticInitialImport: no change-stream position stored yet";
                }
                if (pending && *pending) import_reason = "an earlier import did not finish";
            }
        }
        first = false;
        if (!import_reason.empty()) {
            MutexLock run(import_run_mutex);
            auto r = import_now(c->get(), true, import_reason, nullptr);
            if (!r) {
                state.count(&ConnectorStatus::retries);
                if (wakeup.back_off(backoff)) return;
                continue;
            }
        }
        serve_import_request(c->get());
        Status s = stream_once(c->get());
        if (wakeup.stopping()) return;
        if (s) {
            backoff.reset();
            continue;  // cursor ended (invalidate) or an import was requested
        }
        if (s.code() == ErrorCode::kMongoHistoryLost) {
            state.set_error(s);
            MutexLock run(import_run_mutex);
            auto r = import_now(c->get(), true,
                                "change-stream history lost, error " + std::to_string(s.cause()),
                                nullptr);
            if (!r && wakeup.sleep_for(backoff.delay_ms())) return;
            continue;
        }
        if (s.code() == ErrorCode::kMongoMapping) {  // only strict conversions stop the stream
            state.set_error(s);
            state.set_inbound_stopped(s.message());
            return;
        }
        state.set_error(s);
        state.count(&ConnectorStatus::retries);
        if (wakeup.back_off(backoff)) return;
    }
}

}  // namespace outpost::mongo
