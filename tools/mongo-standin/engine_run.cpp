// Running a command: parsing its envelope, fail points, the dispatcher and what every reply gets
// (error labels, cluster time, write concern errors, retryable write replies).
#include <cstring>

#include "command_fields.hpp"
#include "commands.hpp"
#include "engine.hpp"
#include "log.hpp"
#include "storage.hpp"

namespace standin {

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
        case 239:    // SnapshotTooOld
        case 246:    // SnapshotUnavailable
        case 250:    // StaleChunkHistory
        case 272:    // MigrationConflict
        case 63:     // StaleShardVersion
        case 150:    // StaleEpoch
        case 13388:  // StaleConfig
        case 249:    // StaleDbVersion
            return true;
        default:
            return false;
    }
}

bool is_transient_transaction_error(int code, bool has_wc_error, bool commit_or_abort) {
    bool transient =
        code == 112 || code == 24 || code == 267 || is_snapshot_or_retargeting_error(code);
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

// The database the command runs in: the OP_QUERY namespace's (only for the handshake commands)
// or $db. An error reply when there is none.
std::optional<Outcome> Engine::resolve_db(const Request& req, CommandCtx& ctx) const {
    if (req.opcode == kOpQuery) {
        ctx.db = req.query_db;
        if (!is_hello(ctx.name) && ctx.name != "buildInfo" && ctx.name != "buildinfo" &&
            ctx.name != "ping") {
            return reply_error(Error{352,
                                     "Unsupported OP_QUERY command: " + ctx.name +
                                         ". The client driver may require an upgrade.",
                                     {}});
        }
        return std::nullopt;
    }
    auto db = get_string(ctx.cmd, "$db");
    if (!db) return error_reply(Error{40571, "OP_MSG requests require a $db argument", {}});
    ctx.db = *db;
    return std::nullopt;
}

// Gossiped cluster time advances the clock (as a real node's logical clock does), by at most an
// hour.
void Engine::gossip_cluster_time(const bson_t* cmd) {
    bson_iter_t ct;
    if (!bson_iter_init_find(&ct, cmd, "$clusterTime") || !BSON_ITER_HOLDS_DOCUMENT(&ct)) return;
    bson_iter_t t;
    if (bson_iter_recurse(&ct, &t) && bson_iter_find(&t, "clusterTime") &&
        BSON_ITER_HOLDS_TIMESTAMP(&t)) {
        uint32_t s, i;
        bson_iter_timestamp(&t, &s, &i);
        uint64_t v = (static_cast<uint64_t>(s) << 32) | i;
        if (v > cluster_ts_ && v < cluster_ts_ + (uint64_t{3600} << 32)) cluster_ts_ = v;
    }
}

// failCommand fired for the command (test commands only): close the connection, answer with the
// error, or run the command and then delay the reply or add a write concern error to it.
Outcome Engine::run_failed_command(CommandCtx& ctx) {
    FailPoint& fp = fail_command_;
    Outcome o;
    if (fp.close_connection) {
        o.close = true;
        return o;
    }
    if (fp.has_error_code) {
        Error err{fp.error_code, "Failing command via 'failCommand' failpoint", fp.error_labels};
        if (!fp.has_error_labels) err.labels = automatic_labels(ctx, fp.error_code, 0, false);
        o = error_reply(err);
        o.delay_ms = fp.block_ms;
        return o;
    }
    Outcome r = dispatch(ctx);
    r.delay_ms = fp.block_ms;
    if (!bson_empty(fp.write_concern_error.get()) && !r.park && !r.close)
        add_write_concern_error(ctx, r, fp.write_concern_error.get(), fp.has_error_labels,
                                fp.error_labels);
    return r;
}

Outcome Engine::run(const Request& req, ConnInfo& conn, bool rerun, Clock::time_point deadline) {
    std::lock_guard<std::mutex> lock(mutex_);
    CommandCtx ctx;
    ctx.cmd = req.body.get();
    ctx.conn = &conn;
    ctx.deadline = deadline;
    ctx.rerun_after_deadline = rerun && Clock::now() >= deadline;
    bson_iter_t it;
    if (!bson_iter_init(&it, ctx.cmd) || !bson_iter_next(&it))
        return error_reply(Error{59, "no such command: ''", {}});
    ctx.name = bson_iter_key(&it);
    if (auto refused = resolve_db(req, ctx)) return std::move(*refused);
    if (!rerun) gossip_cluster_time(ctx.cmd);
    if (auto mt = get_int(ctx.cmd, "maxTimeMS")) ctx.max_time_ms = *mt;
    // failCommand (test commands only). Hello is never failed unless named.
    if (fail_command_.active && fail_command_.commands.count(ctx.name) && !rerun &&
        fail_command_.fire())
        return run_failed_command(ctx);
    // The write-ahead log is flushed by the caller (flush_log) before the reply goes out, so that
    // one sync covers every command handled in the same event-loop turn.
    return dispatch(ctx);
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

Outcome Engine::error_reply(const Error& e) const {
    Outcome o = reply_error(e);
    append_cluster_time(o.reply.get(), 0);
    return o;
}

// onPrimaryTransactionalWrite (test commands only) for a retryable write: fail it before it is
// applied (the reply, or with closeConnection the connection, is dropped), or apply it and then
// drop the connection before the reply (*CLOSE_AFTER_WRITE; the retry replays it).
std::optional<Outcome> Engine::fire_on_primary_txn_write(CommandCtx& ctx, bool* close_after_write) {
    if (!on_primary_txn_write_.fire()) return std::nullopt;
    if (!on_primary_txn_write_.fail_before_commit_code) {
        *close_after_write = on_primary_txn_write_.close_connection;
        return std::nullopt;
    }
    // As mongod: the connection is dropped first (unless closeConnection is false), and the write
    // is not applied either way.
    if (on_primary_txn_write_.close_connection) {
        Outcome o;
        o.close = true;
        return o;
    }
    int code = on_primary_txn_write_.fail_before_commit_code;
    return error_reply(Error{code, "Failing write via 'onPrimaryTransactionalWrite' failpoint",
                             automatic_labels(ctx, code, 0, false)});
}

// A parked command waits until its maxTimeMS, its deadline, or 60 s.
void Engine::set_park_deadline(const CommandCtx& ctx, Outcome& out) {
    if (!out.park || out.park_until != Clock::time_point{}) return;
    if (ctx.deadline == Clock::time_point{} && ctx.max_time_ms > 0) {
        out.park_until = Clock::now() + std::chrono::milliseconds(ctx.max_time_ms);
        return;
    }
    out.park_until = ctx.deadline != Clock::time_point{} ? ctx.deadline
                                                         : Clock::now() + std::chrono::seconds(60);
}

// What every reply gets after its handler: error labels, a failed statement aborting its
// transaction, ok, atClusterTime, a write concern error, the cluster time, and the reply kept for
// a retry of a retryable write.
void Engine::finish_reply(CommandCtx& ctx, Outcome& out, std::optional<uint64_t> snapshot,
                          uint64_t ts_before, bool retryable) {
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
        if (snapshot) add_at_cluster_time(out.reply, *snapshot);
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
}

Outcome Engine::dispatch(CommandCtx& ctx) {
    uint64_t ts_before = cluster_ts_;
    auto hit = handlers().find(ctx.name);
    if (hit == handlers().end())
        return error_reply(Error{59, "no such command: '" + ctx.name + "'", {}});
    // Fields the command does not know, options the stand-in does not implement.
    if (auto fields = check_command_fields(ctx.name, ctx.cmd); !fields.ok())
        return error_reply(fields.error());
    // Sessions, transactions and retryable writes.
    if (auto begun = Commands::begin_command(*this, ctx); !begun.ok())
        return error_reply(begun.error());
    bool retryable = ctx.session && ctx.txn_number && !ctx.in_txn && is_retryable_write(ctx.name);
    if (retryable) {
        auto prev = ctx.session->retry_results.find(*ctx.txn_number);
        if (prev != ctx.session->retry_results.end()) {
            Outcome o;
            o.reply = prev->second;
            return o;
        }
    }
    auto snapshot = snapshot_read(ctx);
    if (!snapshot.ok()) return error_reply(snapshot.error());
    bool close_after_write = false;
    if (retryable) {
        if (auto failed = fire_on_primary_txn_write(ctx, &close_after_write))
            return std::move(*failed);
    }
    Outcome out = hit->second(*this, ctx);
    // Still blocked (by a transaction holding a document) when its time ran out.
    if (out.park && ctx.rerun_after_deadline)
        return error_reply(Error{50, "operation exceeded time limit", {}});
    if (out.park || out.close) {
        set_park_deadline(ctx, out);
        return out;
    }
    finish_reply(ctx, out, snapshot.value(), ts_before, retryable);
    if (close_after_write) out.close = true;
    return out;
}

}  // namespace standin
