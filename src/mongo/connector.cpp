// Connector: options, the client pool, the deployment check, threads and status.
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "mongo/connector_impl.hpp"

namespace outpost::mongo {

using detail::Bson;

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

namespace {

constexpr int32_t kDefaultSelectionTimeoutMs = 30000;  // libmongoc's serverSelectionTimeoutMS default

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

Status Connector::Impl::ensure_pool() {
    std::lock_guard<std::mutex> lock(pool_mutex);
    if (pool) return Status::ok();
    detail::ensure_mongoc_init();
    bson_error_t err;
    detail::UriPtr uri(mongoc_uri_new_with_error(options.url.c_str(), &err));
    if (!uri) return Status(ErrorCode::kInvalidArgument, "mongoDb.url: " + std::string(err.message));
    // A pooled call waiting for a server cannot be interrupted: each selection is kept short and
    // wait_for_primary repeats them up to the URL's timeout.
    selection_timeout_ms = mongoc_uri_get_option_as_int32(uri.get(), MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                                          kDefaultSelectionTimeoutMs);
    if (selection_timeout_ms <= 0) selection_timeout_ms = kDefaultSelectionTimeoutMs;
    mongoc_uri_set_option_as_int32(uri.get(), MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                   std::min(selection_timeout_ms, kSelectionSliceMs));
    pool.reset(mongoc_client_pool_new(uri.get()));
    if (!pool) return Status(ErrorCode::kMongoConnection, "cannot make a client pool for " + options.url);
    mongoc_client_pool_set_error_api(pool.get(), MONGOC_ERROR_API_VERSION_2);
    mongoc_client_pool_set_appname(pool.get(), "outpost-server");
    return Status::ok();
}

Result<detail::PooledClient> Connector::Impl::client() {
    OUTPOST_RETURN_IF_ERROR(ensure_pool());
    mongoc_client_t* c = mongoc_client_pool_pop(pool.get());
    if (!c) return Status(ErrorCode::kMongoConnection, "no client available from the pool");
    return detail::PooledClient(pool.get(), c);
}

Status Connector::Impl::stopping_status() const {
    return Status(ErrorCode::kIllegalState, "the MongoDB connector is stopping");
}

Status Connector::Impl::wait_for_primary(mongoc_client_t* c) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(selection_timeout_ms);
    for (;;) {
        if (stopping.load()) return stopping_status();
        bson_error_t err;
        auto started = std::chrono::steady_clock::now();
        mongoc_server_description_t* sd = mongoc_client_select_server(c, true, nullptr, &err);
        if (sd) {
            mongoc_server_description_destroy(sd);
            return Status::ok();
        }
        if (stopping.load()) return stopping_status();
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return detail::status_from(err, "cannot reach MongoDB at " + options.url);
        // A selection that failed at once (not after waiting its slice) is not repeated in a spin.
        if (now - started < std::chrono::milliseconds(kSelectionSliceMs / 2) && sleep_for(kSelectionSliceMs / 2)) {
            return stopping_status();
        }
    }
}

bool Connector::Impl::sleep_for(int ms) {
    std::unique_lock<std::mutex> lock(wake_mutex);
    uint64_t seen = wake_seq;
    wake.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping.load() || wake_seq != seen; });
    return stopping.load();
}

uint64_t Connector::Impl::wakes() {
    std::lock_guard<std::mutex> lock(wake_mutex);
    return wake_seq;
}

bool Connector::Impl::wait_for_wake(uint64_t seen, int ms) {
    std::unique_lock<std::mutex> lock(wake_mutex);
    wake.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping.load() || wake_seq != seen; });
    return stopping.load();
}

void Connector::Impl::count(uint64_t ConnectorStatus::*field, uint64_t n) {
    std::lock_guard<std::mutex> lock(status_mutex);
    st.*field += n;
}

void Connector::Impl::set_error(const Status& s) {
    std::lock_guard<std::mutex> lock(status_mutex);
    st.last_error = s.to_string();
    report("MongoDB connector: " + st.last_error);
}

void Connector::Impl::report(const std::string& text) const {
    if (options.log) {
        options.log(true, text);
    } else {
        std::fprintf(stderr, "%s\n", text.c_str());
    }
}

void Connector::Impl::note(const std::string& text) const {
    if (options.log) {
        options.log(false, text);
    } else {
        std::fprintf(stderr, "%s\n", text.c_str());
    }
}

void Connector::Impl::add_dead_letter(DeadLetter d) {
    d.time_ms = now_ms();
    report("MongoDB connector: dead letter (" + d.direction + " " + d.collection + " " + d.document_key +
           "): " + d.reason);
    std::lock_guard<std::mutex> lock(status_mutex);
    st.dead_letters_total++;
    st.dead_letters.push_back(std::move(d));
    if (st.dead_letters.size() > 1000) st.dead_letters.erase(st.dead_letters.begin());
}

void Connector::Impl::set_resume_token(const bson_t* token) {
    std::string j = detail::to_json(token);
    std::lock_guard<std::mutex> lock(status_mutex);
    st.resume_token = std::move(j);
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
        return Status(ErrorCode::kMongoDeployment,
                      "MongoDB at " + options.url +
                          " is a standalone server: change streams and transactions need a replica set "
                          "(start mongod with --replSet NAME and run rs.initiate(); one member is enough)");
    }
    int32_t wire = 0;
    if (bson_iter_init_find(&it, reply.get(), "maxWireVersion") && BSON_ITER_HOLDS_INT32(&it)) {
        wire = bson_iter_int32(&it);
    }
    if (wire < 8) {
        return Status(ErrorCode::kMongoDeployment, "MongoDB at " + options.url + " speaks wire version " +
                                                       std::to_string(wire) +
                                                       "; the connector needs MongoDB 4.2 or newer (wire version 8)");
    }
    // Privileges: only meaningful when authenticated.
    Bson cs, csr;
    BSON_APPEND_INT32(cs.get(), "connectionStatus", 1);
    BSON_APPEND_BOOL(cs.get(), "showPrivileges", true);
    bson_destroy(csr.get());
    if (!mongoc_client_command_simple(c, options.database.c_str(), cs.get(), nullptr, csr.get(), &err)) {
        return Status::ok();  // old servers or proxies without connectionStatus: the first write will tell
    }
    bson_iter_t users, u;
    if (!bson_iter_init(&it, csr.get()) || !bson_iter_find_descendant(&it, "authInfo.authenticatedUsers", &users) ||
        !BSON_ITER_HOLDS_ARRAY(&users) || !bson_iter_recurse(&users, &u) || !bson_iter_next(&u)) {
        return Status::ok();  // not authenticated: no access control
    }
    std::vector<std::string> needed = {"find", "insert", "update", "remove", "changeStream", "createCollection"};
    std::vector<bool> have(needed.size(), false);
    bson_iter_t privs, p;
    if (bson_iter_init(&it, csr.get()) && bson_iter_find_descendant(&it, "authInfo.authenticatedUserPrivileges", &privs) &&
        BSON_ITER_HOLDS_ARRAY(&privs) && bson_iter_recurse(&privs, &p)) {
        while (bson_iter_next(&p)) {
            bson_iter_t res, acts, a;
            std::string db = "?", coll = "?";
            bool any = false;
            bson_iter_t pd;
            if (!bson_iter_recurse(&p, &pd)) continue;
            if (bson_iter_find_descendant(&pd, "resource.db", &res) && BSON_ITER_HOLDS_UTF8(&res)) {
                db = bson_iter_utf8(&res, nullptr);
            }
            bson_iter_recurse(&p, &pd);
            if (bson_iter_find_descendant(&pd, "resource.collection", &res) && BSON_ITER_HOLDS_UTF8(&res)) {
                coll = bson_iter_utf8(&res, nullptr);
            }
            bson_iter_recurse(&p, &pd);
            if (bson_iter_find_descendant(&pd, "resource.anyResource", &res)) any = true;
            bool applies = any || ((db == options.database || db.empty()) && coll.empty());
            if (!applies) continue;
            bson_iter_recurse(&p, &pd);
            if (bson_iter_find(&pd, "actions") && BSON_ITER_HOLDS_ARRAY(&pd) && bson_iter_recurse(&pd, &acts)) {
                while (bson_iter_next(&acts)) {
                    if (!BSON_ITER_HOLDS_UTF8(&acts)) continue;
                    std::string act = bson_iter_utf8(&acts, nullptr);
                    for (size_t i = 0; i < needed.size(); ++i) {
                        if (needed[i] == act) have[i] = true;
                    }
                }
            }
            (void)a;
        }
    }
    std::string missing;
    for (size_t i = 0; i < needed.size(); ++i) {
        if (!have[i]) missing += (missing.empty() ? "" : ", ") + needed[i];
    }
    if (!missing.empty()) {
        return Status(ErrorCode::kMongoDeployment, "the MongoDB user lacks privileges on database " +
                                                       options.database + ": " + missing +
                                                       " (the readWrite role grants them)");
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
        mongoc_collection_t* coll = mongoc_database_create_collection(db.get(), w.c_str(), nullptr, &err);
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
    set_resume_token(point.get());
    return store->write([&](WriteTxn& txn) {
        OUTPOST_RETURN_IF_ERROR(put_meta(txn, kMetaOwnSeen, std::to_string(marker)));
        return put_meta(txn, kMetaResumeToken,
                        std::string_view(reinterpret_cast<const char*>(bson_get_data(point.get())), point.get()->len));
    });
}

// ---- Connector

Connector::Connector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Connector::~Connector() { stop(); }

Result<std::unique_ptr<Connector>> Connector::create(std::shared_ptr<Store> store, ConnectorOptions options) {
    if (!store) return Status(ErrorCode::kInvalidArgument, "the connector needs the server store");
    if (options.url.empty()) return Status(ErrorCode::kInvalidArgument, "mongoDb.url (--mongo-url) is empty");
    if (options.database.empty() || options.database.find_first_of("/\\. \"$") != std::string::npos ||
        options.database.size() > 63) {
        return Status(ErrorCode::kInvalidArgument,
                      "mongoDb.database (--mongo-db) \"" + options.database + "\" is not a MongoDB database name");
    }
    {
        detail::ensure_mongoc_init();
        bson_error_t err;
        detail::UriPtr uri(mongoc_uri_new_with_error(options.url.c_str(), &err));
        if (!uri) return Status(ErrorCode::kInvalidArgument, "mongoDb.url: " + std::string(err.message));
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
    impl->marker_id = "server:" + impl->server_id;
    impl->st.server_id = impl->server_id;
    return std::unique_ptr<Connector>(new Connector(std::move(impl)));
}

Status Connector::check_deployment() {
    OUTPOST_ASSIGN_OR_RETURN(auto c, impl_->client());
    OUTPOST_RETURN_IF_ERROR(impl_->wait_for_primary(c.get()));
    return impl_->check_deployment(c.get());
}

Status Connector::start(std::function<void()> on_inbound_commit) {
    Impl& m = *impl_;
    if (m.running.load()) return Status(ErrorCode::kIllegalState, "the connector is already started");
    m.stopping = false;
    {
        OUTPOST_ASSIGN_OR_RETURN(auto c, m.client());
        OUTPOST_RETURN_IF_ERROR(m.wait_for_primary(c.get()));
        OUTPOST_RETURN_IF_ERROR(m.check_deployment(c.get()));
        OUTPOST_RETURN_IF_ERROR(m.create_collections(c.get()));
        OUTPOST_RETURN_IF_ERROR(m.ensure_start_point(c.get()));
    }
    std::lock_guard<std::mutex> life(m.lifecycle_mutex);
    if (m.stopping.load()) return m.stopping_status();  // stop() came while the checks ran
    if (m.running.load()) return Status(ErrorCode::kIllegalState, "the connector is already started");
    m.on_inbound_commit = std::move(on_inbound_commit);
    m.observer = m.store->add_observer([&m](const Changes&) {
        {
            std::lock_guard<std::mutex> lock(m.wake_mutex);
            m.wake_seq++;
        }
        m.wake.notify_all();
    });
    m.observing = true;
    m.running = true;
    {
        std::lock_guard<std::mutex> lock(m.status_mutex);
        m.st.running = true;
        m.st.inbound_stopped.clear();
    }
    m.outbound_thread = std::thread([&m] { m.outbound_loop(); });
    m.inbound_thread = std::thread([&m] { m.inbound_loop(); });
    return Status::ok();
}

void Connector::request_stop() {
    Impl& m = *impl_;
    {
        std::lock_guard<std::mutex> lock(m.wake_mutex);
        m.stopping = true;
        m.wake_seq++;
    }
    m.wake.notify_all();
    {
        std::lock_guard<std::mutex> lock(m.import_mutex);  // a waiter between its check and its wait
    }
    m.import_done.notify_all();
}

void Connector::stop() {
    Impl& m = *impl_;
    request_stop();
    std::lock_guard<std::mutex> life(m.lifecycle_mutex);
    if (m.outbound_thread.joinable()) m.outbound_thread.join();
    if (m.inbound_thread.joinable()) m.inbound_thread.join();
    if (m.observing) {
        m.store->remove_observer(m.observer);
        m.observing = false;
    }
    m.running = false;
    std::lock_guard<std::mutex> lock(m.status_mutex);
    m.st.running = false;
}

Result<ImportStats> Connector::run_import(std::function<void(const ImportProgress&)> progress) {
    Impl& m = *impl_;
    if (!m.running.load()) {
        std::lock_guard<std::mutex> run(m.import_run_mutex);
        OUTPOST_ASSIGN_OR_RETURN(auto c, m.client());
        OUTPOST_RETURN_IF_ERROR(m.wait_for_primary(c.get()));
        OUTPOST_RETURN_IF_ERROR(m.check_deployment(c.get()));
        OUTPOST_RETURN_IF_ERROR(m.create_collections(c.get()));
        return m.import_now(c.get(), false, "requested", progress);
    }
    std::unique_lock<std::mutex> lock(m.import_mutex);
    if (m.import_requested) return Status(ErrorCode::kIllegalState, "an import is already running");
    m.import_requested = true;
    m.import_progress = std::move(progress);
    m.import_result.reset();
    {
        std::lock_guard<std::mutex> w(m.wake_mutex);
        m.wake_seq++;
    }
    m.wake.notify_all();
    m.import_done.wait(lock, [&] { return m.import_result.has_value() || m.stopping.load(); });
    m.import_requested = false;
    if (!m.import_result) return Status(ErrorCode::kIllegalState, "the connector stopped before the import ran");
    Result<ImportStats> r = std::move(*m.import_result);
    m.import_result.reset();
    return r;
}

ConnectorStatus Connector::status() const {
    Impl& m = *impl_;
    ConnectorStatus s;
    {
        std::lock_guard<std::mutex> lock(m.status_mutex);
        s = m.st;
    }
    s.outbound_position = m.outbound_position.load();
    auto txn = m.store->begin_read();
    if (txn) {
        auto head = ChangeLog::last_position(*txn);
        if (head) s.server_head = *head;
    }
    s.outbound_lag = s.server_head > s.outbound_position ? s.server_head - s.outbound_position : 0;
    return s;
}

uint64_t Connector::outbound_position() const { return impl_->outbound_position.load(); }

std::string format_progress(const ImportProgress& p) {
    auto percent = [](uint64_t done, uint64_t total) {
        double pct = total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0;
        return pct > 100 ? 100.0 : pct;
    };
    char buf[512];
    std::snprintf(buf, sizeof buf,
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
