#include "engine.hpp"

#include <cstring>
#include <random>

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

Result<Collection*> Engine::create_collection(const std::string& db, const std::string& coll,
                                              const bson_t* opts, bool log_event) {
    if (db.empty() || coll.empty() || db.find_first_of("/\\. \"$") != std::string::npos ||
        coll.find('$') != std::string::npos || coll[0] == '.' || coll.size() + db.size() > 250)
        return Error{73, "Invalid namespace specified '" + db + "." + coll + "'", {}};
    if (find_collection(db, coll))
        return Error{48, "Collection " + db + "." + coll + " already exists.", {}};
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
                                      "comment", NULL);
    IndexSpec id;
    id.name = "_id_";
    BSON_APPEND_INT32(id.key.get(), "_id", 1);
    BSON_APPEND_INT32(id.spec.get(), "v", 2);
    BSON_APPEND_DOCUMENT(id.spec.get(), "key", id.key.get());
    BSON_APPEND_UTF8(id.spec.get(), "name", "_id_");
    c->indexes.push_back(std::move(id));
    Collection* raw = c.get();
    dbs_[db][coll] = std::move(c);
    if (log_event && persistence_) persistence_->log_create(*raw);
    return raw;
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

// Codes after which a write may be retried and a change stream resumed (the drivers' lists).
bool is_retryable_code(int code) {
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

bool is_resumable_code(int code) {
    switch (code) {
        case 63:
        case 150:
        case 13388:
        case 234:
        case 133:
        case 216:
        case 43:
            return true;
        default:
            return is_retryable_code(code);
    }
}

}  // namespace

// The labels mongod attaches to a failCommand error when the fail point names none: as it does
// for real errors of the same code.
std::vector<std::string> Engine::automatic_labels(const CommandCtx& ctx, int code) const {
    std::vector<std::string> labels;
    bool has_txn_number = bson_has_field(ctx.cmd, "txnNumber");
    bool in_txn = bson_has_field(ctx.cmd, "autocommit");
    bool terminal = ctx.name == "commitTransaction" || ctx.name == "abortTransaction";
    if (in_txn && !terminal && (is_retryable_code(code) || code == 112 || code == 251))
        labels.emplace_back("TransientTransactionError");
    if (is_retryable_code(code) &&
        ((has_txn_number && !in_txn && is_retryable_write(ctx.name)) || terminal))
        labels.emplace_back("RetryableWriteError");
    if (ctx.name == "getMore" && is_resumable_code(code)) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, ctx.cmd, "getMore") && BSON_ITER_HOLDS_INT64(&it)) {
            auto cur = cursors_.find(bson_iter_int64(&it));
            if (cur != cursors_.end() && cur->second.is_stream)
                labels.emplace_back("ResumableChangeStreamError");
        }
    }
    return labels;
}

namespace {}  // namespace

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

    // Fail points (test commands only). Hello is never failed unless named.
    if (fail_command_.active && fail_command_.commands.count(ctx.name) && !rerun) {
        FailPoint& fp = fail_command_;
        if (fp.times > 0 && --fp.times == 0) fp.active = false;
        Outcome o;
        if (fp.close_connection) {
            o.close = true;
            return o;
        }
        if (fp.has_error_code) {
            Error err{fp.error_code, "Failing command via 'failCommand' failpoint",
                      fp.error_labels};
            if (!fp.has_error_labels) err.labels = automatic_labels(ctx, fp.error_code);
            o = reply_error(err);
            append_cluster_time(o.reply.get(), 0);
            o.delay_ms = fp.block_ms;
            return o;
        }
        o.delay_ms = fp.block_ms;
        // blockConnection only: run the command normally, then delay the reply.
        Outcome r = dispatch(ctx);
        r.delay_ms = fp.block_ms;
        return r;
    }
    Outcome out = dispatch(ctx);
    // The write-ahead log is flushed by the caller (flush_log) before the reply goes out, so that
    // one sync covers every command handled in the same event-loop turn.
    return out;
}

Outcome Engine::dispatch(CommandCtx& ctx) {
    uint64_t ts_before = cluster_ts_;
    auto hit = handlers().find(ctx.name);
    if (hit == handlers().end()) {
        Outcome o = reply_error(Error{59, "no such command: '" + ctx.name + "'", {}});
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
    if (ctx.in_txn && ctx.session && ctx.name != "commitTransaction" &&
        ctx.name != "abortTransaction") {
        bson_iter_t we;
        bool write_errors = bson_iter_init_find(&we, out.reply.get(), "writeErrors");
        if (failed || write_errors) {
            auto code = get_int(out.reply.get(), "code");
            if (failed && code && (*code == 112 || *code == 251)) {
                // Label transient errors so drivers retry the whole transaction.
                Doc relabeled;
                bson_copy_to_excluding_noinit(out.reply.get(), relabeled.get(), "errorLabels",
                                              NULL);
                bson_t arr;
                BSON_APPEND_ARRAY_BEGIN(relabeled.get(), "errorLabels", &arr);
                BSON_APPEND_UTF8(&arr, "0", "TransientTransactionError");
                bson_append_array_end(relabeled.get(), &arr);
                out.reply = std::move(relabeled);
            }
            if (ctx.session->state == TxnState::kInProgress)
                Commands::abort_txn(*this, *ctx.session);
        }
    }
    if (!failed) {
        bson_iter_t okit;
        if (!bson_iter_init_find(&okit, out.reply.get(), "ok"))
            BSON_APPEND_DOUBLE(out.reply.get(), "ok", 1.0);
    }
    uint64_t op_ts = cluster_ts_ != ts_before ? cluster_ts_ : 0;
    append_cluster_time(out.reply.get(), op_ts);
    if (retryable && !failed) {
        auto& rr = ctx.session->retry_results;
        rr[*ctx.txn_number] = out.reply;
        while (rr.size() > 8) rr.erase(rr.begin());
    }
    return out;
}

}  // namespace standin
