#include "engine.hpp"

#include <cstring>
#include <random>

#include "command_fields.hpp"
#include "commands.hpp"
#include "log.hpp"
#include "persistence.hpp"
#include "storage.hpp"

namespace standin {

// ---- resume tokens ----

std::string ResumeToken::encode() const {
    uint8_t b[30];
    b[0] = 1;
    for (int i = 0; i < 8; ++i) b[1 + i] = static_cast<uint8_t>(ts >> (56 - 8 * i));
    for (int i = 0; i < 8; ++i) b[9 + i] = static_cast<uint8_t>(seq >> (56 - 8 * i));
    for (int i = 0; i < 4; ++i) b[17 + i] = static_cast<uint8_t>(txn_index >> (24 - 8 * i));
    for (int i = 0; i < 8; ++i) b[21 + i] = static_cast<uint8_t>(epoch >> (56 - 8 * i));
    b[29] = kind;
    return hex_upper(b, sizeof b);
}

std::optional<ResumeToken> ResumeToken::decode(std::string_view hex) {
    auto bytes = from_hex(hex);
    if (!bytes || bytes->size() != 30 || (*bytes)[0] != 1) return std::nullopt;
    const auto& b = *bytes;
    ResumeToken t;
    for (int i = 0; i < 8; ++i) t.ts = (t.ts << 8) | b[1 + i];
    for (int i = 0; i < 8; ++i) t.seq = (t.seq << 8) | b[9 + i];
    for (int i = 0; i < 4; ++i) t.txn_index = (t.txn_index << 8) | b[17 + i];
    for (int i = 0; i < 8; ++i) t.epoch = (t.epoch << 8) | b[21 + i];
    if (b[29] < kEvent || b[29] > kHighWater) return std::nullopt;
    t.kind = static_cast<Kind>(b[29]);
    return t;
}

Doc event_document_key(const Event& ev) {
    if (!ev.document_key.empty()) return Doc::copy_of(ev.document_key.get());
    Doc out;
    const DocPtr& src = ev.full_document ? ev.full_document : ev.before;
    bson_t v;
    bson_iter_t it;
    if (src && view_of(*src, &v) && bson_iter_init_find(&it, &v, "_id"))
        bson_append_iter(out.get(), "_id", 3, &it);
    return out;
}

// ---- replies ----

Outcome reply_ok(Doc body) {
    Outcome o;
    o.reply = std::move(body);
    return o;
}

Doc error_doc(const Error& e) {
    Doc d;
    BSON_APPEND_DOUBLE(d.get(), "ok", 0.0);
    append_str(d.get(), "errmsg", e.msg);
    BSON_APPEND_INT32(d.get(), "code", e.code);
    append_str(d.get(), "codeName", code_name(e.code));
    append_error_info(d.get(), e);
    if (!e.labels.empty()) {
        bson_t arr;
        BSON_APPEND_ARRAY_BEGIN(d.get(), "errorLabels", &arr);
        for (size_t i = 0; i < e.labels.size(); ++i)
            append_str(&arr, std::to_string(i), e.labels[i]);
        bson_append_array_end(d.get(), &arr);
    }
    return d;
}

Outcome reply_error(const Error& e) {
    Outcome o;
    o.reply = error_doc(e);
    return o;
}

bool is_error_reply(const bson_t* reply) {
    bson_iter_t it;
    return bson_iter_init_find(&it, reply, "ok") && !iter_truthy(&it);
}

// ---- engine ----

Engine::Engine(Options opts) : options_(std::move(opts)) {
    std::random_device rd;
    epoch_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    if (epoch_ == 0) epoch_ = 1;
}

Engine::~Engine() = default;

Status Engine::open() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (options_.dbpath.empty()) return ok_status();
    auto p = Persistence::open(options_.dbpath, *this);
    if (!p.ok()) return p.error();
    persistence_ = std::move(p.value());
    return ok_status();
}

void Engine::set_advertised(const std::string& host_port) {
    std::lock_guard<std::mutex> lock(mutex_);
    advertised_ = options_.advertised.empty() ? host_port : options_.advertised;
}

int64_t Engine::now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

uint64_t Engine::next_ts() {
    uint64_t secs = static_cast<uint64_t>(now_ms() / 1000);
    uint64_t candidate = (secs << 32) | 1u;
    cluster_ts_ = candidate > cluster_ts_ ? candidate : cluster_ts_ + 1;
    last_write_ts_ = cluster_ts_;
    return cluster_ts_;
}

void Engine::append_cluster_time(bson_t* reply, uint64_t op_ts) const {
    uint64_t ct = cluster_ts_ ? cluster_ts_ : (static_cast<uint64_t>(now_ms() / 1000) << 32);
    bson_t ctd, sig;
    BSON_APPEND_DOCUMENT_BEGIN(reply, "$clusterTime", &ctd);
    append_ts(&ctd, "clusterTime", ct);
    BSON_APPEND_DOCUMENT_BEGIN(&ctd, "signature", &sig);
    uint8_t zeros[20] = {};
    BSON_APPEND_BINARY(&sig, "hash", BSON_SUBTYPE_BINARY, zeros, 20);
    BSON_APPEND_INT64(&sig, "keyId", 0);
    bson_append_document_end(&ctd, &sig);
    bson_append_document_end(reply, &ctd);
    append_ts(reply, "operationTime", op_ts ? op_ts : ct);
}

Collection* Engine::find_collection(const std::string& db, const std::string& coll) {
    auto d = dbs_.find(db);
    if (d == dbs_.end()) return nullptr;
    auto c = d->second.find(coll);
    return c == d->second.end() ? nullptr : c->second.get();
}

Collection* Engine::find_collection(const std::string& db, const std::string& coll,
                                    const Txn* txn) {
    if (txn && !txn->new_collections.empty()) {
        auto it = txn->new_collections.find(db + "." + coll);
        if (it != txn->new_collections.end()) return it->second.get();
    }
    return find_collection(db, coll);
}

Result<std::unique_ptr<Collection>> Engine::new_collection(const std::string& db,
                                                           const std::string& coll,
                                                           const bson_t* opts) {
    if (db.empty() || coll.empty() || db.find_first_of("/\\. \"$") != std::string::npos ||
        coll.find('$') != std::string::npos || coll[0] == '.' || coll.size() + db.size() > 250)
        return Error{73, "Invalid namespace specified '" + db + "." + coll + "'", {}};
    auto c = std::make_unique<Collection>();
    c->db = db;
    c->name = coll;
    std::random_device rd;
    for (auto& b : c->uuid) b = static_cast<uint8_t>(rd());
    c->uuid[6] = static_cast<uint8_t>((c->uuid[6] & 0x0f) | 0x40);
    c->uuid[8] = static_cast<uint8_t>((c->uuid[8] & 0x3f) | 0x80);
    if (opts)
        bson_copy_to_excluding_noinit(
            opts, c->options.get(), "create", "$db", "lsid", "$clusterTime", "txnNumber",
            "autocommit", "startTransaction", "writeConcern", "$readPreference", "apiVersion",
            "apiStrict", "apiDeprecationErrors", "comment", "readConcern", "maxTimeMS", NULL);
    IndexSpec id;
    id.name = "_id_";
    BSON_APPEND_INT32(id.key.get(), "_id", 1);
    BSON_APPEND_INT32(id.spec.get(), "v", 2);
    BSON_APPEND_DOCUMENT(id.spec.get(), "key", id.key.get());
    BSON_APPEND_UTF8(id.spec.get(), "name", "_id_");
    c->indexes.push_back(std::move(id));
    return c;
}

Collection* Engine::add_collection(std::unique_ptr<Collection> c, bool log_event) {
    Collection* raw = c.get();
    std::string db = c->db, name = c->name;
    dbs_[db][name] = std::move(c);
    if (log_event && persistence_) {
        persistence_->log_create(*raw);
        for (size_t i = 1; i < raw->indexes.size(); ++i)
            persistence_->log_index(db, name, raw->indexes[i]);
    }
    return raw;
}

Result<Collection*> Engine::create_collection(const std::string& db, const std::string& coll,
                                              const bson_t* opts, bool log_event) {
    auto c = new_collection(db, coll, opts);
    if (!c.ok()) return c.error();
    if (find_collection(db, coll))
        return Error{48, "Collection " + db + "." + coll + " already exists.", {}};
    return add_collection(std::move(c.value()), log_event);
}

bool Engine::log_pending() {
    std::lock_guard<std::mutex> lock(mutex_);
    return persistence_ && persistence_->pending();
}

Status Engine::flush_log() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!persistence_) return ok_status();
    auto st = persistence_->flush();
    if (!st.ok()) log_error("write-ahead log: " + st.error().msg);
    return st;
}

uint64_t Engine::add_waiter(std::function<void()> wake) {
    std::lock_guard<std::mutex> lock(mutex_);
    uint64_t id = next_waiter_++;
    waiters_.emplace(id, std::move(wake));
    return id;
}

void Engine::remove_waiter(uint64_t id) {
    std::lock_guard<std::mutex> lock(mutex_);
    waiters_.erase(id);
}

void Engine::wake_waiters() {
    if (waiters_.empty()) return;
    auto w = std::move(waiters_);
    waiters_.clear();
    for (auto& [id, f] : w) f();
}

void Engine::tick() {
    std::lock_guard<std::mutex> lock(mutex_);
    auto now = Clock::now();
    for (auto it = cursors_.begin(); it != cursors_.end();) {
        if (now - it->second.last_use > std::chrono::minutes(10))
            it = cursors_.erase(it);
        else
            ++it;
    }
    for (auto it = sessions_.begin(); it != sessions_.end();) {
        Session& s = it->second;
        if (s.state == TxnState::kInProgress && s.txn &&
            now - s.txn->started > std::chrono::seconds(60)) {
            log_info(
                "aborting a transaction open for more than 60 s (transactionLifetimeLimitSeconds)");
            Commands::abort_txn(*this, s);
        }
        if (s.state != TxnState::kInProgress && now - s.last_use > std::chrono::minutes(30))
            it = sessions_.erase(it);
        else
            ++it;
    }
    if (persistence_) {
        auto st = persistence_->flush();
        if (!st.ok()) log_error("write-ahead log: " + st.error().msg);
    }
}

}  // namespace standin
