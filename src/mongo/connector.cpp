// Connector: options, the client pool, the deployment check, threads and status.
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "mongo/connector_impl.hpp"
#include "mongo/dead_letters.hpp"

namespace outpost::mongo {

using detail::Bson;

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

namespace {

std::string random_id() {
    uint8_t b[8];
    if (RAND_bytes(b, sizeof b) != 1) {
        auto t = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
        for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(t >> (8 * i));
    }
    static const char* d = "0123456789abcdef";
    std::string s;
    for (uint8_t x : b) {
        s += d[x >> 4];
        s += d[x & 15];
    }
    return s;
}

}  // namespace

// ---- Impl helpers

Status Connector::Impl::stopping_status() const {
    return Status(ErrorCode::kIllegalState, "the MongoDB connector is stopping");
}

Status Connector::Impl::wait_for_primary(mongoc_client_t* c) {
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(pool.selection_timeout_ms());
    for (;;) {
        if (wakeup.stopping()) return stopping_status();
        bson_error_t err;
        auto started = std::chrono::steady_clock::now();
        mongoc_server_description_t* sd = mongoc_client_select_server(c, true, nullptr, &err);
        if (sd) {
            mongoc_server_description_destroy(sd);
            return Status::ok();
        }
        if (wakeup.stopping()) return stopping_status();
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline)
            return detail::status_from(err, "cannot reach MongoDB at " + options.url);
        // A selection that failed at once (not after waiting its slice) is not repeated in a spin.
        if (now - started < std::chrono::milliseconds(detail::kSelectionSliceMs / 2) &&
            wakeup.sleep_for(detail::kSelectionSliceMs / 2)) {
            return stopping_status();
        }
    }
}

Status Connector::Impl::check_deployment(mongoc_client_t* c) {
    Bson cmd, reply;
    BSON_APPEND_INT32(cmd.get(), "hello", 1);
    bson_error_t err;
    bson_destroy(reply.get());
    if (!mongoc_client_command_simple(c, "admin", cmd.get(), nullptr, reply.get(), &err)) {
        Status s = detail::status_from(err, "cannot reach MongoDB at " + options.url, reply.get());
        return s;
    }
    bson_iter_t it;
    bool replica = bson_iter_init_find(&it, reply.get(), "setName") && BSON_ITER_HOLDS_UTF8(&it);
    bool sharded = bson_iter_init_find(&it, reply.get(), "msg") && BSON_ITER_HOLDS_UTF8(&it) &&
                   std::string(bson_iter_utf8(&it, nullptr)) == "isdbgrid";
    if (!replica && !sharded) {
        return Status(
            ErrorCode::kMongoDeployment,
            "MongoDB at " + options.url +
                " is a standalone server: change streams and transactions need a replica set "
                "(start mongod with --replSet NAME and run rs.initiate(); one member is enough)");
    }
    int32_t wire = 0;
    if (bson_iter_init_find(&it, reply.get(), "maxWireVersion") && BSON_ITER_HOLDS_INT32(&it)) {
        wire = bson_iter_int32(&it);
    }
    if (wire < 8) {
        return Status(ErrorCode::kMongoDeployment,
                      "MongoDB at " + options.url + " speaks wire version " + std::to_string(wire) +
                          "; the connector needs MongoDB 4.2 or newer (wire version 8)");
    }
    return check_privileges(c);
}

namespace {

// Marks in HAVE the actions of NEEDED that the privilege document at P grants on DATABASE.
void mark_granted(const bson_iter_t& p, const std::string& database,
                  const std::vector<std::string>& needed, std::vector<bool>& have) {
    bson_iter_t res, acts, pd;
    std::string db = "?", coll = "?";
    bool any = false;
    if (!bson_iter_recurse(&p, &pd)) return;
    if (bson_iter_find_descendant(&pd, "resource.db", &res) && BSON_ITER_HOLDS_UTF8(&res)) {
        db = bson_iter_utf8(&res, nullptr);
    }
    bson_iter_recurse(&p, &pd);
    if (bson_iter_find_descendant(&pd, "resource.collection", &res) && BSON_ITER_HOLDS_UTF8(&res)) {
        coll = bson_iter_utf8(&res, nullptr);
    }
    bson_iter_recurse(&p, &pd);
    if (bson_iter_find_descendant(&pd, "resource.anyResource", &res)) any = true;
    bool applies = any || ((db == database || db.empty()) && coll.empty());
    if (!applies) return;
    bson_iter_recurse(&p, &pd);
    if (bson_iter_find(&pd, "actions") && BSON_ITER_HOLDS_ARRAY(&pd) &&
        bson_iter_recurse(&pd, &acts)) {
        while (bson_iter_next(&acts)) {
            if (!BSON_ITER_HOLDS_UTF8(&acts)) continue;
            std::string act = bson_iter_utf8(&acts, nullptr);
            for (size_t i = 0; i < needed.size(); ++i) {
                if (needed[i] == act) have[i] = true;
            }
        }
    }
}

}  // namespace

Status Connector::Impl::check_privileges(mongoc_client_t* c) {
    // Only meaningful when authenticated.
    Bson cs, csr;
    BSON_APPEND_INT32(cs.get(), "connectionStatus", 1);
    BSON_APPEND_BOOL(cs.get(), "showPrivileges", true);
    bson_destroy(csr.get());
    bson_error_t err;
    if (!mongoc_client_command_simple(c, options.database.c_str(), cs.get(), nullptr, csr.get(),
                                      &err)) {
        return Status::ok();  // old servers or proxies without connectionStatus: the first write
                              // will tell
    }
    bson_iter_t it, users, u;
    if (!bson_iter_init(&it, csr.get()) ||
        !bson_iter_find_descendant(&it, "authInfo.authenticatedUsers", &users) ||
        !BSON_ITER_HOLDS_ARRAY(&users) || !bson_iter_recurse(&users, &u) || !bson_iter_next(&u)) {
        return Status::ok();  // not authenticated: no access control
    }
    std::vector<std::string> needed = {"find",   "insert",       "update",
                                       "remove", "changeStream", "createCollection"};
    std::vector<bool> have(needed.size(), false);
    bson_iter_t privs, p;
    if (bson_iter_init(&it, csr.get()) &&
        bson_iter_find_descendant(&it, "authInfo.authenticatedUserPrivileges", &privs) &&
        BSON_ITER_HOLDS_ARRAY(&privs) && bson_iter_recurse(&privs, &p)) {
        while (bson_iter_next(&p)) mark_granted(p, options.database, needed, have);
    }
    std::string missing;
    for (size_t i = 0; i < needed.size(); ++i) {
        if (!have[i]) missing += (missing.empty() ? "" : ", ") + needed[i];
    }
    if (!missing.empty()) {
        return Status(ErrorCode::kMongoDeployment,
                      "the MongoDB user lacks privileges on database " + options.database + ": " +
                          missing + " (the readWrite role grants them)");
    }
    return Status::ok();
}

Status Connector::Impl::create_collections(mongoc_client_t* c) {
    detail::DatabasePtr db(mongoc_client_get_database(c, options.database.c_str()));
    bson_error_t err;
    char** names = mongoc_database_get_collection_names_with_opts(db.get(), nullptr, &err);
    if (!names) return detail::status_from(err, "listing collections of " + options.database);
    std::vector<std::string> have;
    for (char** n = names; *n; ++n) have.emplace_back(*n);
    bson_strfreev(names);
    std::vector<std::string> want = {kMetaCollection};
    for (const auto& cm : mapping.collections()) want.push_back(cm.collection);
    for (const auto& w : want) {
        if (std::find(have.begin(), have.end(), w) != have.end()) continue;
        mongoc_collection_t* coll =
            mongoc_database_create_collection(db.get(), w.c_str(), nullptr, &err);
        if (coll) {
            mongoc_collection_destroy(coll);
        } else if (err.code != 48) {  // NamespaceExists: made by someone else meanwhile
            return detail::status_from(err, "creating collection " + w);
        }
    }
    return Status::ok();
}

Status Connector::Impl::ensure_start_point(mongoc_client_t* c) {
    {
        auto txn = store->begin_read();
        if (!txn) return txn.status();
        OUTPOST_ASSIGN_OR_RETURN(auto tok, get_meta(*txn, kMetaResumeToken));
        OUTPOST_ASSIGN_OR_RETURN(auto pending, get_meta(*txn, kMetaImportPending));
        if (tok || pending || options.automatic_initial_import) return Status::ok();
    }
    // The marker first: every outbound transaction up to it is before the point taken next.
    OUTPOST_ASSIGN_OR_RETURN(uint64_t marker, read_marker(c));
    OUTPOST_ASSIGN_OR_RETURN(Bson point, current_point(c));
    state.set_resume_token(point.get());
    return store->write([&](WriteTxn& txn) {
        OUTPOST_RETURN_IF_ERROR(put_meta(txn, kMetaOwnSeen, std::to_string(marker)));
        return put_meta(txn, kMetaResumeToken,
                        std::string_view(reinterpret_cast<const char*>(bson_get_data(point.get())),
                                         point.get()->len));
    });
}

// ---- Connector

Connector::Connector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Connector::~Connector() { stop(); }

Result<std::unique_ptr<Connector>> Connector::create(std::shared_ptr<Store> store,
                                                     ConnectorOptions options) {
    if (!store) return Status(ErrorCode::kInvalidArgument, "the connector needs the server store");
    if (options.url.empty())
        return Status(ErrorCode::kInvalidArgument, "mongoDb.url (--mongo-url) is empty");
    if (options.database.empty() ||
        options.database.find_first_of("/\\. \"$") != std::string::npos ||
        options.database.size() > 63) {
        return Status(ErrorCode::kInvalidArgument, "mongoDb.database (--mongo-db) \"" +
                                                       options.database +
                                                       "\" is not a MongoDB database name");
    }
    {
        detail::ensure_mongoc_init();
        bson_error_t err;
        detail::UriPtr uri(mongoc_uri_new_with_error(options.url.c_str(), &err));
        if (!uri)
            return Status(ErrorCode::kInvalidArgument, "mongoDb.url: " + std::string(err.message));
    }
    MappingOptions mo;
    mo.max_property_size = options.max_property_size;
    mo.strict_from_mongo = options.strict_from_mongo;
    mo.strict_to_mongo = options.strict_to_mongo;
    mo.omit_null_to_mongo = options.omit_null_to_mongo;
    mo.empty_list_for_absent = options.empty_list_for_absent;
    OUTPOST_ASSIGN_OR_RETURN(Mapping mapping, Mapping::create(store->model(), mo));
    auto impl = std::make_unique<Impl>(store, options, std::move(mapping));
    impl->server_id = options.server_id;
    if (impl->server_id.empty()) {
        std::string id;
        Status s = store->write([&](WriteTxn& txn) -> Status {
            OUTPOST_ASSIGN_OR_RETURN(auto have, get_meta(txn, kMetaServerId));
            if (have) {
                id = *have;
                return Status::ok();
            }
            id = random_id();
            return put_meta(txn, kMetaServerId, id);
        });
        OUTPOST_RETURN_IF_ERROR(s);
        impl->server_id = id;
    }
    {
        OUTPOST_ASSIGN_OR_RETURN(auto txn, store->begin_read());
        OUTPOST_ASSIGN_OR_RETURN(uint64_t kept, detail::DeadLetters::count(txn));
        impl->state.set_dead_letters_kept(kept);
    }
    impl->marker_id = "server:" + impl->server_id;
    impl->state.set_server_id(impl->server_id);
    return std::unique_ptr<Connector>(new Connector(std::move(impl)));
}

Status Connector::check_deployment() {
    OUTPOST_ASSIGN_OR_RETURN(auto c, impl_->client());
    OUTPOST_RETURN_IF_ERROR(impl_->wait_for_primary(c.get()));
    return impl_->check_deployment(c.get());
}

Status Connector::start(std::function<void()> on_inbound_commit) {
    Impl& m = *impl_;
    if (m.running.load())
        return Status(ErrorCode::kIllegalState, "the connector is already started");
    m.wakeup.clear_stop();
    {
        OUTPOST_ASSIGN_OR_RETURN(auto c, m.client());
        OUTPOST_RETURN_IF_ERROR(m.wait_for_primary(c.get()));
        OUTPOST_RETURN_IF_ERROR(m.check_deployment(c.get()));
        OUTPOST_RETURN_IF_ERROR(m.create_collections(c.get()));
        OUTPOST_RETURN_IF_ERROR(m.ensure_start_point(c.get()));
    }
    MutexLock life(m.lifecycle_mutex);
    if (m.wakeup.stopping()) return m.stopping_status();  // stop() came while the checks ran
    if (m.running.load())
        return Status(ErrorCode::kIllegalState, "the connector is already started");
    m.on_inbound_commit = std::move(on_inbound_commit);
    m.observer = m.store->add_observer([&m](const Changes&) { m.wakeup.wake(); });
    m.observing = true;
    m.running = true;
    m.state.set_running(true);
    m.outbound_thread = std::thread([&m] { m.outbound_loop(); });
    m.inbound_thread = std::thread([&m] { m.inbound_loop(); });
    return Status::ok();
}

void Connector::request_stop() {
    Impl& m = *impl_;
    m.wakeup.request_stop();
    m.import_requests.wake_requester();
}

void Connector::stop() {
    Impl& m = *impl_;
    request_stop();
    MutexLock life(m.lifecycle_mutex);
    if (m.outbound_thread.joinable()) m.outbound_thread.join();
    if (m.inbound_thread.joinable()) m.inbound_thread.join();
    if (m.observing) {
        m.store->remove_observer(m.observer);
        m.observing = false;
    }
    m.running = false;
    m.state.set_running(false);
}

Result<ImportStats> Connector::run_import(std::function<void(const ImportProgress&)> progress) {
    Impl& m = *impl_;
    if (!m.running.load()) {
        MutexLock run(m.import_run_mutex);
        OUTPOST_ASSIGN_OR_RETURN(auto c, m.client());
        OUTPOST_RETURN_IF_ERROR(m.wait_for_primary(c.get()));
        OUTPOST_RETURN_IF_ERROR(m.check_deployment(c.get()));
        OUTPOST_RETURN_IF_ERROR(m.create_collections(c.get()));
        return m.import_now(c.get(), false, "requested", progress);
    }
    return m.import_requests.request_and_wait(std::move(progress), m.wakeup);
}

const ConnectorOptions& Connector::options() const { return impl_->options; }

Status Connector::request_import() {
    Impl& m = *impl_;
    if (!m.running.load())
        return Status(ErrorCode::kIllegalState, "the MongoDB connector is not running");
    if (m.state.import_running() || m.import_requests.waiting())
        return Status(ErrorCode::kAlreadyExists, "an import is already running");
    return m.import_requests.request(m.wakeup);
}

ConnectorStatus Connector::status() const {
    Impl& m = *impl_;
    ConnectorStatus s = m.state.snapshot();
    s.outbound_position = m.outbound_position.load();
    auto txn = m.store->begin_read();
    if (txn) {
        auto head = ChangeLog::last_position(*txn);
        if (head) s.server_head = *head;
        // As the store has it: the memory's count follows each commit a moment later.
        auto kept = detail::DeadLetters::count(*txn);
        if (kept) s.dead_letters_kept = *kept;
    }
    s.outbound_lag = s.server_head > s.outbound_position ? s.server_head - s.outbound_position : 0;
    return s;
}

uint64_t Connector::outbound_position() const { return impl_->outbound_position.load(); }

const char* state_name(ConnectorStatus::State state) {
    switch (state) {
        case ConnectorStatus::State::kConnecting:
            return "connecting";
        case ConnectorStatus::State::kImporting:
            return "importing";
        case ConnectorStatus::State::kStreaming:
            return "streaming";
        case ConnectorStatus::State::kFailing:
            return "failing";
        case ConnectorStatus::State::kStopped:
            return "stopped";
    }
    return "stopped";
}

std::string url_without_password(const std::string& url) {
    // The user info ends at the last '@' before the options ('?'): a password with a raw '/' or
    // '@' (the URL format wants them percent-encoded) is still cut whole; an '@' in the database
    // name cuts too much, never too little.
    size_t scheme = url.find("://");
    size_t start = scheme == std::string::npos ? 0 : scheme + 3;
    size_t options = url.find('?', start);
    size_t at = url.rfind('@', options == std::string::npos ? std::string::npos : options);
    if (at == std::string::npos || at < start) return url;
    size_t colon = url.find(':', start);
    if (colon == std::string::npos || colon > at) return url;  // a user without a password
    return url.substr(0, colon + 1) + "***" + url.substr(at);
}

std::string format_progress(const ImportProgress& p) {
    auto percent = [](uint64_t done, uint64_t total) {
        double pct = total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0;
        return pct > 100 ? 100.0 : pct;
    };
    char buf[512];
    std::snprintf(
        buf, sizeof buf,
        "import %s (%llu/%llu): docs %llu/%llu (%.0f%%)%s; all collections %llu/%llu (%.0f%%), "
        "%.0f docs/s, %.1f s left%s",
        p.collection.c_str(), static_cast<unsigned long long>(p.collection_index),
        static_cast<unsigned long long>(p.collections),
        static_cast<unsigned long long>(p.collection_docs_done),
        static_cast<unsigned long long>(p.collection_docs_total),
        percent(p.collection_docs_done, p.collection_docs_total),
        p.collection_finished ? ", read" : "", static_cast<unsigned long long>(p.docs_done),
        static_cast<unsigned long long>(p.docs_total), percent(p.docs_done, p.docs_total),
        p.docs_per_s, p.eta_seconds, p.finished ? ", done" : "");
    return buf;
}

}  // namespace outpost::mongo
