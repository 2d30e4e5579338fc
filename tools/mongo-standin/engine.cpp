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
        bson_copy_to_excluding_noinit(opts, c->options.get(), "create", "$db", "lsid",
                                      "$clusterTime", "txnNumber", "autocommit", "startTransaction",
                                      "writeConcern", "$readPreference", "apiVersion", "apiStrict",
                                      "apiDeprecationErrors", "comment", "readConcern", "maxTimeMS",
                                      NULL);
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
            log_info("aborting a transaction open for more than 60 s (transactionLifetimeLimitSeconds)");
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

Outcome Engine::error_outcome(const Error& e, CommandCtx*) { return reply_error(e); }

namespace {

using Handler = Outcome (*)(Engine&, CommandCtx&);

const std::map<std::string, Handler>& handlers() {
    static const std::map<std::string, Handler> h = {
        {"hello", &Commands::hello},
        {"isMaster", &Commands::hello},
        {"ismaster", &Commands::hello},
        {"ping", &Commands::ping},
        {"buildInfo", &Commands::build_info},
        {"buildinfo", &Commands::build_info},
        {"endSessions", &Commands::end_sessions},
        {"killAllSessions", &Commands::end_sessions},
        {"killSessions", &Commands::end_sessions},
        {"refreshSessions", &Commands::misc},
        {"getParameter", &Commands::misc},
        {"serverStatus", &Commands::misc},
        {"replSetGetStatus", &Commands::misc},
        {"getCmdLineOpts", &Commands::misc},
        {"hostInfo", &Commands::misc},
        {"whatsmyuri", &Commands::misc},
        {"connectionStatus", &Commands::misc},
        {"getLog", &Commands::misc},
        {"getFreeMonitoringStatus", &Commands::misc},
        {"dbStats", &Commands::misc},
        {"collStats", &Commands::misc},
        {"listCommands", &Commands::misc},
        {"configureFailPoint", &Commands::configure_fail_point},
        {"insert", &Commands::insert},
        {"update", &Commands::update},
        {"delete", &Commands::remove},
        {"find", &Commands::find},
        {"findAndModify", &Commands::find_and_modify},
        {"findandmodify", &Commands::find_and_modify},
        {"count", &Commands::count},
        {"distinct", &Commands::distinct},
        {"aggregate", &Commands::aggregate},
        {"getMore", &Commands::get_more},
        {"killCursors", &Commands::kill_cursors},
        {"listDatabases", &Commands::list_databases},
        {"listCollections", &Commands::list_collections},
        {"listIndexes", &Commands::list_indexes},
        {"create", &Commands::create},
        {"drop", &Commands::drop},
        {"dropDatabase", &Commands::drop_database},
        {"renameCollection", &Commands::rename_collection},
        {"createIndexes", &Commands::create_indexes},
        {"dropIndexes", &Commands::drop_indexes},
        {"collMod", &Commands::coll_mod},
        {"commitTransaction", &Commands::commit_transaction},
        {"abortTransaction", &Commands::abort_transaction},
    };
    return h;
}

bool is_retryable_write(const std::string& name) {
    return name == "insert" || name == "update" || name == "delete" || name == "findAndModify" ||
           name == "findandmodify";
}

bool is_hello(const std::string& name) {
    return name == "hello" || name == "isMaster" || name == "ismaster";
}

// Error categories of the server's error_codes.yml that decide the labels it adds.
bool is_retriable_error(int code) {  // RetriableError (and the network errors)
    switch (code) {
        case 6:
        case 7:
        case 89:
        case 91:
        case 189:
        case 262:
        case 9001:
        case 10107:
        case 11600:
        case 11602:
        case 13435:
        case 13436:
            return true;
        default:
            return false;
    }
}

bool is_snapshot_or_retargeting_error(int code) {
    switch (code) {
        case 239:  // SnapshotTooOld
        case 246:  // SnapshotUnavailable
        case 250:  // StaleChunkHistory
        case 272:  // MigrationConflict
        case 63:   // StaleShardVersion
        case 150:  // StaleEpoch
        case 13388:  // StaleConfig
        case 249:  // StaleDbVersion
            return true;
        default:
            return false;
    }
}

bool is_transient_transaction_error(int code, bool has_wc_error, bool commit_or_abort) {
    bool transient = code == 112 || code == 24 || code == 267 || is_snapshot_or_retargeting_error(code);
    if (commit_or_abort) return transient || (code == 251 && !has_wc_error);
    return transient || is_retriable_error(code) || code == 251;
}

bool is_non_resumable_change_stream_error(int code) { return code == 280 || code == 286; }

}  // namespace

// The labels mongod attaches to an error reply (error_labels.cpp): TransientTransactionError for a
// command of a transaction, RetryableWriteError for a retryable write or a commit/abort,
// NonResumableChangeStreamError, and ResumableChangeStreamError for an error raised while a
// change stream's getMore runs (IN_STREAM_GET_MORE; never for a failCommand error).
std::vector<std::string> Engine::automatic_labels(const CommandCtx& ctx, int code, int wc_code,
                                                  bool in_stream_get_more) const {
    std::vector<std::string> labels;
    bool has_txn_number = bson_has_field(ctx.cmd, "txnNumber");
    bool in_txn = has_txn_number && bson_has_field(ctx.cmd, "autocommit");
    bool terminal = ctx.name == "commitTransaction" || ctx.name == "abortTransaction";
    if (code && in_txn && is_transient_transaction_error(code, wc_code != 0, terminal))
        labels.emplace_back("TransientTransactionError");
    if (((has_txn_number && !in_txn) || (in_txn && terminal)) &&
        ((code && is_retriable_error(code)) || (wc_code && is_retriable_error(wc_code))))
        labels.emplace_back("RetryableWriteError");
    if (in_stream_get_more && (is_retriable_error(code) || code == 63 || code == 150 ||
                               code == 13388 || code == 234 || code == 133))
        labels.emplace_back("ResumableChangeStreamError");
    if (is_non_resumable_change_stream_error(code))
        labels.emplace_back("NonResumableChangeStreamError");
    return labels;
}

namespace {

// Adds LABELS to an error reply as errorLabels (nothing when empty).
void add_labels(Doc& reply, const std::vector<std::string>& labels) {
    if (labels.empty()) return;
    Doc relabeled;
    bson_copy_to_excluding_noinit(reply.get(), relabeled.get(), "errorLabels", NULL);
    bson_t arr;
    BSON_APPEND_ARRAY_BEGIN(relabeled.get(), "errorLabels", &arr);
    for (size_t i = 0; i < labels.size(); ++i) append_str(&arr, std::to_string(i), labels[i]);
    bson_append_array_end(relabeled.get(), &arr);
    reply = std::move(relabeled);
}

}  // namespace

Outcome Engine::run(const Request& req, ConnInfo& conn, bool rerun, Clock::time_point deadline) {
    std::lock_guard<std::mutex> lock(mutex_);
    CommandCtx ctx;
    ctx.cmd = req.body.get();
    ctx.conn = &conn;
    ctx.deadline = deadline;
    ctx.rerun_after_deadline = rerun && Clock::now() >= deadline;
    bson_iter_t it;
    if (!bson_iter_init(&it, ctx.cmd) || !bson_iter_next(&it)) {
        Outcome o = reply_error(Error{59, "no such command: ''", {}});
        append_cluster_time(o.reply.get(), 0);
        return o;
    }
    ctx.name = bson_iter_key(&it);
    if (req.opcode == kOpQuery) {
        ctx.db = req.query_db;
        if (!is_hello(ctx.name) && ctx.name != "buildInfo" && ctx.name != "buildinfo" &&
            ctx.name != "ping") {
            Outcome o = reply_error(Error{352,
                                          "Unsupported OP_QUERY command: " + ctx.name +
                                              ". The client driver may require an upgrade.",
                                          {}});
            return o;
        }
    } else {
        auto db = get_string(ctx.cmd, "$db");
        if (!db) {
            Outcome o = reply_error(Error{40571, "OP_MSG requests require a $db argument", {}});
            append_cluster_time(o.reply.get(), 0);
            return o;
        }
        ctx.db = *db;
    }
    if (!rerun) {
        // Gossiped cluster time advances the clock (as a real node's logical clock does).
        bson_iter_t ct;
        if (bson_iter_init_find(&ct, ctx.cmd, "$clusterTime") && BSON_ITER_HOLDS_DOCUMENT(&ct)) {
            bson_iter_t t;
            if (bson_iter_recurse(&ct, &t) && bson_iter_find(&t, "clusterTime") &&
                BSON_ITER_HOLDS_TIMESTAMP(&t)) {
                uint32_t s, i;
                bson_iter_timestamp(&t, &s, &i);
                uint64_t v = (static_cast<uint64_t>(s) << 32) | i;
                if (v > cluster_ts_ && v < cluster_ts_ + (uint64_t{3600} << 32)) cluster_ts_ = v;
            }
        }
    }
    if (auto mt = get_int(ctx.cmd, "maxTimeMS")) ctx.max_time_ms = *mt;

    // failCommand (test commands only). Hello is never failed unless named.
    if (fail_command_.active && fail_command_.commands.count(ctx.name) && !rerun &&
        fail_command_.fire()) {
        FailPoint& fp = fail_command_;
        Outcome o;
        if (fp.close_connection) {
            o.close = true;
            return o;
        }
        if (fp.has_error_code) {
            Error err{fp.error_code, "Failing command via 'failCommand' failpoint", fp.error_labels};
            if (!fp.has_error_labels) err.labels = automatic_labels(ctx, fp.error_code, 0, false);
            o = reply_error(err);
            append_cluster_time(o.reply.get(), 0);
            o.delay_ms = fp.block_ms;
            return o;
        }
        // blockConnection or writeConcernError only: run the command normally, then delay the
        // reply or add the write concern error to it.
        Outcome r = dispatch(ctx);
        r.delay_ms = fp.block_ms;
        if (!bson_empty(fp.write_concern_error.get()) && !r.park && !r.close)
            add_write_concern_error(ctx, r, fp.write_concern_error.get(), fp.has_error_labels,
                                    fp.error_labels);
        return r;
    }
    Outcome out = dispatch(ctx);
    // The write-ahead log is flushed by the caller (flush_log) before the reply goes out, so that
    // one sync covers every command handled in the same event-loop turn.
    return out;
}

// Adds WCE (a failCommand writeConcernError, or one the write concern itself causes) to a reply,
// with the labels the server adds for it (RetryableWriteError for a retryable code on a retryable
// write or a commit) unless the fail point names the labels.
void Engine::add_write_concern_error(const CommandCtx& ctx, Outcome& out, const bson_t* wce,
                                     bool explicit_labels, const std::vector<std::string>& labels) {
    Doc reply;
    bson_copy_to_excluding_noinit(out.reply.get(), reply.get(), "writeConcernError", "errorLabels",
                                  NULL);
    BSON_APPEND_DOCUMENT(reply.get(), "writeConcernError", wce);
    out.reply = std::move(reply);
    std::vector<std::string> all;
    if (explicit_labels) {
        all = labels;
    } else {
        bson_iter_t l;
        if (bson_iter_init_find(&l, wce, "errorLabels") && BSON_ITER_HOLDS_ARRAY(&l)) {
            bson_iter_t a;
            bson_iter_recurse(&l, &a);
            while (bson_iter_next(&a))
                if (BSON_ITER_HOLDS_UTF8(&a)) all.emplace_back(bson_iter_utf8(&a, nullptr));
        } else {
            int code = static_cast<int>(get_int(out.reply.get(), "code").value_or(0));
            int wc_code = static_cast<int>(get_int(wce, "code").value_or(0));
            all = automatic_labels(ctx, is_error_reply(out.reply.get()) ? code : 0, wc_code, false);
        }
    }
    add_labels(out.reply, all);
}

// readConcern {level: "snapshot"} outside a transaction (find, aggregate, distinct): the read
// sees one point in time (a cursor holds its documents), reported as atClusterTime. An
// atClusterTime older than the last write is history the stand-in does not keep: 239. The time
// the read is at, or nothing for another read concern.
Result<std::optional<uint64_t>> Engine::snapshot_read(const CommandCtx& ctx) const {
    bson_iter_t rc;
    if (ctx.in_txn || ctx.autocommit_false || !bson_iter_init_find(&rc, ctx.cmd, "readConcern") ||
        !BSON_ITER_HOLDS_DOCUMENT(&rc))
        return std::optional<uint64_t>();
    bson_t rcd;
    iter_view(&rc, &rcd);
    bool snapshot = get_string(&rcd, "level").value_or("") == "snapshot";
    bson_iter_t at;
    bool has_at = bson_iter_init_find(&at, &rcd, "atClusterTime");
    if (!snapshot) {
        if (has_at)
            return Error{72, "readConcern atClusterTime is only valid with level 'snapshot'", {}};
        return std::optional<uint64_t>();
    }
    if (ctx.name != "find" && ctx.name != "aggregate" && ctx.name != "distinct")
        return Error{72,
                     "readConcern level 'snapshot' is only valid in a transaction or for find, "
                     "aggregate and distinct",
                     {}};
    uint64_t ts = cluster_ts_;
    if (has_at) {
        if (!BSON_ITER_HOLDS_TIMESTAMP(&at))
            return Error{14, "readConcern atClusterTime must be a Timestamp", {}};
        uint32_t secs, inc;
        bson_iter_timestamp(&at, &secs, &inc);
        ts = (static_cast<uint64_t>(secs) << 32) | inc;
        if (ts < last_write_ts_)
            return Error{239,
                         "Read timestamp " + std::to_string(secs) + "," + std::to_string(inc) +
                             " is older than the oldest available timestamp: mongo-standin keeps "
                             "no history for snapshot reads",
                         {}};
    }
    return std::optional<uint64_t>(ts);
}

// atClusterTime in the cursor of a find/aggregate reply, or at the top of a distinct reply.
void Engine::add_at_cluster_time(Doc& reply, uint64_t ts) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, reply.get(), "cursor")) {
        append_ts(reply.get(), "atClusterTime", ts);
        return;
    }
    Doc fixed;
    bson_iter_t top;
    bson_iter_init(&top, reply.get());
    while (bson_iter_next(&top)) {
        if (std::strcmp(bson_iter_key(&top), "cursor") != 0 || !BSON_ITER_HOLDS_DOCUMENT(&top)) {
            bson_append_iter(fixed.get(), bson_iter_key(&top), -1, &top);
            continue;
        }
        bson_t cur, inner;
        iter_view(&top, &inner);
        BSON_APPEND_DOCUMENT_BEGIN(fixed.get(), "cursor", &cur);
        bson_concat(&cur, &inner);
        append_ts(&cur, "atClusterTime", ts);
        bson_append_document_end(fixed.get(), &cur);
    }
    reply = std::move(fixed);
}

// The write concern error a one-member replica set gives: w above 1 cannot be satisfied (100),
// a tag other than "majority" is unknown (79). Empty when there is none.
Doc Engine::write_concern_error(const CommandCtx& ctx) const {
    Doc wce;
    bson_iter_t wc, w;
    if (!bson_iter_init_find(&wc, ctx.cmd, "writeConcern") || !BSON_ITER_HOLDS_DOCUMENT(&wc) ||
        !bson_iter_recurse(&wc, &w) || !bson_iter_find(&w, "w"))
        return wce;
    if (iter_is_number(&w) && iter_as_int64(&w) > 1) {
        BSON_APPEND_INT32(wce.get(), "code", 100);
        BSON_APPEND_UTF8(wce.get(), "codeName", "UnsatisfiableWriteConcern");
        BSON_APPEND_UTF8(wce.get(), "errmsg", "Not enough data-bearing nodes");
    } else if (BSON_ITER_HOLDS_UTF8(&w) && std::strcmp(bson_iter_utf8(&w, nullptr), "majority")) {
        BSON_APPEND_INT32(wce.get(), "code", 79);
        BSON_APPEND_UTF8(wce.get(), "codeName", "UnknownReplWriteConcern");
        append_str(wce.get(), "errmsg",
                   std::string("unrecognized getLastError mode: ") + bson_iter_utf8(&w, nullptr));
    }
    return wce;
}

Outcome Engine::dispatch(CommandCtx& ctx) {
    uint64_t ts_before = cluster_ts_;
    auto hit = handlers().find(ctx.name);
    if (hit == handlers().end()) {
        Outcome o = reply_error(Error{59, "no such command: '" + ctx.name + "'", {}});
        append_cluster_time(o.reply.get(), 0);
        return o;
    }
    // Fields the command does not know, options the stand-in does not implement.
    auto fields = check_command_fields(ctx.name, ctx.cmd);
    if (!fields.ok()) {
        Outcome o = reply_error(fields.error());
        append_cluster_time(o.reply.get(), 0);
        return o;
    }
    // Sessions, transactions and retryable writes.
    auto begun = Commands::begin_command(*this, ctx);
    if (!begun.ok()) {
        Outcome o = reply_error(begun.error());
        append_cluster_time(o.reply.get(), 0);
        return o;
    }
    bool retryable = ctx.session && ctx.txn_number && !ctx.in_txn && is_retryable_write(ctx.name);
    if (retryable) {
        auto prev = ctx.session->retry_results.find(*ctx.txn_number);
        if (prev != ctx.session->retry_results.end()) {
            Outcome o;
            o.reply = prev->second;
            return o;
        }
    }
    // onPrimaryTransactionalWrite (test commands only): fail a retryable write before it is
    // applied, or apply it and then drop the connection before the reply (the retry replays it).
    auto snapshot = snapshot_read(ctx);
    if (!snapshot.ok()) {
        Outcome o = reply_error(snapshot.error());
        append_cluster_time(o.reply.get(), 0);
        return o;
    }
    bool close_after_write = false;
    if (retryable && on_primary_txn_write_.fire()) {
        if (on_primary_txn_write_.fail_before_commit_code) {
            // As mongod: the connection is dropped first (unless closeConnection is false), and
            // the write is not applied either way.
            if (on_primary_txn_write_.close_connection) {
                Outcome o;
                o.close = true;
                return o;
            }
            int code = on_primary_txn_write_.fail_before_commit_code;
            Outcome o = reply_error(Error{code, "Failing write via 'onPrimaryTransactionalWrite' failpoint",
                                          automatic_labels(ctx, code, 0, false)});
            append_cluster_time(o.reply.get(), 0);
            return o;
        }
        close_after_write = on_primary_txn_write_.close_connection;
    }
    Outcome out = hit->second(*this, ctx);
    if (out.park && ctx.rerun_after_deadline) {
        // Still blocked (by a transaction holding a document) when its time ran out.
        out = reply_error(Error{50, "operation exceeded time limit", {}});
        append_cluster_time(out.reply.get(), 0);
        return out;
    }
    if (out.park && out.park_until == Clock::time_point{} && ctx.deadline == Clock::time_point{} &&
        ctx.max_time_ms > 0)
        out.park_until = Clock::now() + std::chrono::milliseconds(ctx.max_time_ms);
    if (out.park || out.close) {
        if (out.park && out.park_until == Clock::time_point{})
            out.park_until = ctx.deadline != Clock::time_point{}
                                 ? ctx.deadline
                                 : Clock::now() + std::chrono::seconds(60);
        return out;
    }
    bool failed = is_error_reply(out.reply.get());
    if (failed && !bson_has_field(out.reply.get(), "errorLabels")) {
        int code = static_cast<int>(get_int(out.reply.get(), "code").value_or(0));
        add_labels(out.reply, automatic_labels(ctx, code, 0, false));
    }
    if (ctx.in_txn && ctx.session && ctx.name != "commitTransaction" &&
        ctx.name != "abortTransaction") {
        // A failed statement (or one with write errors) aborts the transaction.
        if ((failed || bson_has_field(out.reply.get(), "writeErrors")) &&
            ctx.session->state == TxnState::kInProgress)
            Commands::abort_txn(*this, *ctx.session);
    }
    if (!failed) {
        bson_iter_t okit;
        if (!bson_iter_init_find(&okit, out.reply.get(), "ok"))
            BSON_APPEND_DOUBLE(out.reply.get(), "ok", 1.0);
        if (snapshot.value()) add_at_cluster_time(out.reply, *snapshot.value());
        Doc wce = write_concern_error(ctx);
        if (!bson_empty(wce.get())) add_write_concern_error(ctx, out, wce.get(), false, {});
    }
    uint64_t op_ts = cluster_ts_ != ts_before ? cluster_ts_ : 0;
    append_cluster_time(out.reply.get(), op_ts);
    if (retryable && !failed) {
        auto& rr = ctx.session->retry_results;
        rr[*ctx.txn_number] = out.reply;
        while (rr.size() > 8) rr.erase(rr.begin());
    }
    if (close_after_write) out.close = true;
    return out;
}

}  // namespace standin
