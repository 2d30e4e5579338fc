// Change streams: the bounded event log, resume tokens, opening a stream (resumeAfter,
// startAfter, startAtOperationTime) and awaitData getMore with a post-batch resume token.
#include <cstring>

#include "commands.hpp"
#include "crud_util.hpp"
#include "log.hpp"
#include "persistence.hpp"
#include "pipeline.hpp"
#include "storage.hpp"

namespace standin {

namespace {

Error non_resumable(int code, std::string msg) {
    return Error{code, std::move(msg), {"NonResumableChangeStreamError"}};
}

// sha256("") as the uid of an unauthenticated session.
const uint8_t kEmptyUid[32] = {0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
                               0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
                               0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};

bool is_system(const std::string& db, const std::string& coll) {
    return coll.rfind("system.", 0) == 0 || db == "admin" || db == "config" || db == "local";
}

bool in_scope(const Event& ev, const StreamSpec& s) {
    switch (s.scope) {
        case StreamSpec::kCluster:
            return !is_system(ev.db, ev.coll);
        case StreamSpec::kDatabase:
            return ev.db == s.db && ev.coll.rfind("system.", 0) != 0;
        case StreamSpec::kCollection:
            return ev.db == s.db && ev.coll == s.coll && ev.op != "dropDatabase";
    }
    return false;
}

bool invalidates(const Event& ev, const StreamSpec& s) {
    if (s.scope == StreamSpec::kCollection)
        return (ev.op == "drop" || ev.op == "rename") && ev.db == s.db && ev.coll == s.coll;
    if (s.scope == StreamSpec::kDatabase) return ev.op == "dropDatabase" && ev.db == s.db;
    return false;
}

ResumeToken token_of(const Engine& e, const Event& ev, ResumeToken::Kind kind, uint64_t epoch) {
    (void)e;
    ResumeToken t;
    t.ts = ev.ts;
    t.seq = ev.seq;
    t.txn_index = ev.txn_index;
    t.epoch = epoch;
    t.kind = kind;
    return t;
}

void append_ns(bson_t* b, const char* key, const std::string& db, const std::string& coll) {
    bson_t ns;
    bson_append_document_begin(b, key, -1, &ns);
    append_str(&ns, "db", db);
    if (!coll.empty()) append_str(&ns, "coll", coll);
    bson_append_document_end(b, &ns);
}

void append_token(bson_t* b, const ResumeToken& t) {
    bson_t id;
    BSON_APPEND_DOCUMENT_BEGIN(b, "_id", &id);
    append_str(&id, "_data", t.encode());
    bson_append_document_end(b, &id);
}

void append_docptr(bson_t* b, const char* key, const DocPtr& d) {
    if (!d) {
        bson_append_null(b, key, -1);
        return;
    }
    bson_t v;
    view_of(*d, &v);
    bson_append_document(b, key, -1, &v);
}

DocPtr invalidate_event(const ResumeToken& inv, const Event& ev) {
    Doc d;
    append_token(d.get(), inv);
    BSON_APPEND_UTF8(d.get(), "operationType", "invalidate");
    append_ts(d.get(), "clusterTime", ev.ts);
    BSON_APPEND_DATE_TIME(d.get(), "wallTime", ev.wall_ms);
    return std::make_shared<const std::string>(d.bytes());
}

}  // namespace

// Serialized event as a stream delivers it.
static Doc event_document(Engine& e, const Event& ev, const StreamSpec& s, const ResumeToken& tok) {
    Doc d;
    bson_t* b = d.get();
    append_token(b, tok);
    append_str(b, "operationType", ev.op);
    append_ts(b, "clusterTime", ev.ts);
    BSON_APPEND_DATE_TIME(b, "wallTime", ev.wall_ms);
    bool doc_op = ev.op == "insert" || ev.op == "update" || ev.op == "replace" || ev.op == "delete";
    Doc key = doc_op ? event_document_key(ev) : Doc();
    if (ev.op == "insert" || ev.op == "replace") {
        append_docptr(b, "fullDocument", ev.full_document);
    } else if (ev.op == "update") {
        if (s.full_document == "updateLookup") {
            DocPtr cur;
            if (Collection* c = e.find_collection(ev.db, ev.coll)) {
                bson_iter_t id;
                if (bson_iter_init_find(&id, key.get(), "_id"))
                    cur = c->current(canonical_key(&id));
            }
            append_docptr(b, "fullDocument", cur);
        } else if (s.full_document == "whenAvailable" || s.full_document == "required") {
            append_docptr(b, "fullDocument", ev.full_document);
        }
    }
    append_ns(b, "ns", ev.db, ev.op == "dropDatabase" ? std::string() : ev.coll);
    if (ev.op == "rename") append_ns(b, "to", ev.to_db, ev.to_coll);
    if (doc_op) BSON_APPEND_DOCUMENT(b, "documentKey", key.get());
    if (ev.op == "update")
        BSON_APPEND_DOCUMENT(b, "updateDescription", ev.update_description.get());
    if (doc_op && ev.op != "insert" && s.before_change != "off")
        append_docptr(b, "fullDocumentBeforeChange", ev.before);
    if (!ev.lsid.empty()) {
        bson_t l;
        BSON_APPEND_DOCUMENT_BEGIN(b, "lsid", &l);
        bson_iter_t id;
        if (bson_iter_init_find(&id, ev.lsid.get(), "id")) bson_append_iter(&l, "id", 2, &id);
        BSON_APPEND_BINARY(&l, "uid", BSON_SUBTYPE_BINARY, kEmptyUid, 32);
        bson_append_document_end(b, &l);
        BSON_APPEND_INT64(b, "txnNumber", ev.txn_number);
    }
    return d;
}

void Commands::append_event(Engine& e, Event ev) {
    if (ev.ts == 0) ev.ts = e.next_ts();
    if (ev.wall_ms == 0) ev.wall_ms = e.now_ms();
    ev.seq = e.next_event_seq_++;
    if (e.persistence_) e.persistence_->log_event(ev);
    e.events_.push_back(std::move(ev));
    while (e.events_.size() > std::max<size_t>(1, e.options().oplog_size)) e.events_.pop_front();
    e.first_retained_seq_ = e.events_.front().seq;
    e.wake_waiters();
}

namespace {

// The stream's scope from the aggregate's target (a collection name, or 1 for a database or, on
// admin with allChangesForCluster, the cluster), and the cursor's namespace.
Status set_stream_scope(Engine& e, const CommandCtx& c, bool all_cluster, Cursor& cur) {
    StreamSpec& s = cur.stream;
    bson_iter_t target;
    bson_iter_init_find(&target, c.cmd, "aggregate");
    s.db = c.db;
    if (!BSON_ITER_HOLDS_UTF8(&target)) {
        if (c.db == "admin") {
            if (!all_cluster)
                return Error{
                    73, "$changeStream may not be opened on the internal admin database", {}};
            s.scope = StreamSpec::kCluster;
        } else {
            if (all_cluster)
                return Error{40415, "allChangesForCluster is only valid on the admin database", {}};
            if (c.db == "config" || c.db == "local")
                return Error{
                    73,
                    "$changeStream may not be opened on the internal " + c.db + " database",
                    {}};
            s.scope = StreamSpec::kDatabase;
        }
        cur.ns = c.db + ".$cmd.aggregate";
        return ok_status();
    }
    s.scope = StreamSpec::kCollection;
    s.coll = bson_iter_utf8(&target, nullptr);
    if (Collection* v = e.find_collection(c.db, s.coll); v && detail::is_view(*v))
        return Error{166, "Namespace " + ns_of(c.db, s.coll) + " is a view, not a collection", {}};
    if (s.coll.rfind("system.", 0) == 0 || c.db == "admin" || c.db == "config" || c.db == "local")
        return Error{73,
                     "$changeStream may not be opened on the internal " + c.db + "." + s.coll +
                         " collection",
                     {}};
    if (all_cluster)
        return Error{40415,
                     "allChangesForCluster is only valid on the admin database with aggregate: 1",
                     {}};
    cur.ns = ns_of(c.db, s.coll);
    return ok_status();
}

// fullDocument, fullDocumentBeforeChange and showExpandedEvents of the $changeStream stage OPTS.
Status set_stream_options(const bson_t* opts, StreamSpec& s) {
    s.full_document = get_string(opts, "fullDocument").value_or("default");
    if (s.full_document != "default" && s.full_document != "updateLookup" &&
        s.full_document != "whenAvailable" && s.full_document != "required")
        return Error{2, "unknown fullDocument mode " + s.full_document, {}};
    s.before_change = get_string(opts, "fullDocumentBeforeChange").value_or("off");
    if (s.before_change != "off" && s.before_change != "whenAvailable" &&
        s.before_change != "required")
        return Error{2, "unknown fullDocumentBeforeChange mode " + s.before_change, {}};
    s.show_expanded = get_bool(opts, "showExpandedEvents").value_or(false);
    if (s.show_expanded)
        // The expanded events (create, createIndexes, ...) are not implemented: answered as a
        // server without the option would, never with a stream that waits for them forever.
        return Error{
            40415, "BSON field '$changeStream.showExpandedEvents' is an unknown field.", {}};
    return ok_status();
}

// The stages after $changeStream, applied to each event.
void copy_later_stages(const bson_t* pipeline, StreamSpec& s) {
    bson_iter_t st;
    bson_iter_init(&st, pipeline);
    bson_iter_next(&st);
    size_t i = 0;
    while (bson_iter_next(&st)) {
        std::string k = std::to_string(i++);
        bson_append_iter(s.stages.get(), k.c_str(), -1, &st);
    }
}

// resumeAfter (RESUME_AFTER true) or startAfter with the token TOK_IT: the stream starts after it.
Status resume_from_token(Engine& e, bson_iter_t* tok_it, bool resume_after, Cursor& cur) {
    std::optional<ResumeToken> tok;
    if (BSON_ITER_HOLDS_DOCUMENT(tok_it)) {
        Doc td = iter_subdoc(tok_it);
        if (auto data = get_string(td.get(), "_data")) tok = ResumeToken::decode(*data);
    }
    if (!tok) return Error{40647, "Bad resume token: _data of missing or of wrong type", {}};
    if (tok->epoch != e.epoch_)
        return non_resumable(
            280,
            "cannot resume stream; the resume token was not found (the data directory changed)");
    if (tok->kind == ResumeToken::kInvalidate && resume_after)
        return Error{260,
                     "Attempting to resume a change stream using 'resumeAfter' is not allowed "
                     "from an invalidate notification.",
                     {}};
    if (tok->seq >= e.next_event_seq_)
        return non_resumable(280, "cannot resume stream; the resume token was not found.");
    if (tok->seq + 1 < e.first_retained_seq_)
        return non_resumable(286,
                             "Resume of change stream was not possible, as the resume point may no "
                             "longer be in the oplog.");
    if (tok->kind != ResumeToken::kHighWater && tok->seq >= e.first_retained_seq_) {
        const Event& ev = e.events_[tok->seq - e.first_retained_seq_];
        if (ev.ts != tok->ts)
            return non_resumable(280, "cannot resume stream; the resume token was not found.");
    }
    cur.next_seq = tok->seq + 1;
    cur.pbrt = *tok;
    return ok_status();
}

// startAtOperationTime SAT: the stream starts at the first event at or after it.
Status start_at_time(Engine& e, const bson_iter_t* sat, Cursor& cur) {
    if (!BSON_ITER_HOLDS_TIMESTAMP(sat))
        return Error{14, "startAtOperationTime must be a timestamp", {}};
    uint32_t secs, inc;
    bson_iter_timestamp(sat, &secs, &inc);
    uint64_t t = (static_cast<uint64_t>(secs) << 32) | inc;
    if (e.first_retained_seq_ > 1 && (e.events_.empty() || e.events_.front().ts > t))
        return non_resumable(286,
                             "Resume of change stream was not possible, as the resume point may no "
                             "longer be in the oplog.");
    uint64_t seq = e.next_event_seq_;
    for (const Event& ev : e.events_) {
        if (ev.ts >= t) {
            seq = ev.seq;
            break;
        }
    }
    cur.next_seq = seq;
    cur.min_ts = t;
    cur.pbrt.ts = t > 0 ? t - 1 : 0;
    cur.pbrt.seq = seq - 1;
    return ok_status();
}

// Where the stream starts: now, after a resume token, or at an operation time (OPTS).
Status set_stream_start(Engine& e, const bson_t* opts, Cursor& cur) {
    bson_iter_t ra, sa, sat;
    bool has_ra = bson_iter_init_find(&ra, opts, "resumeAfter");
    bool has_sa = bson_iter_init_find(&sa, opts, "startAfter");
    bool has_sat = bson_iter_init_find(&sat, opts, "startAtOperationTime");
    if ((has_ra || has_sa) && has_sat)
        return Error{
            40674, "Only one type of resume option is allowed, but multiple were found.", {}};
    if (has_ra && has_sa)
        return Error{50865,
                     "Do not specify both 'resumeAfter' and 'startAfter' in a $changeStream stage.",
                     {}};
    cur.pbrt.epoch = e.epoch_;
    cur.pbrt.kind = ResumeToken::kHighWater;
    cur.pbrt.ts = e.cluster_ts_;
    cur.pbrt.seq = e.next_event_seq_ - 1;
    cur.next_seq = e.next_event_seq_;
    if (has_ra || has_sa) return resume_from_token(e, has_ra ? &ra : &sa, has_ra, cur);
    if (has_sat) return start_at_time(e, &sat, cur);
    return ok_status();
}

// A getMore reply as the aggregate's: its cursor's nextBatch renamed to firstBatch.
Doc as_first_batch(const bson_t* reply) {
    Doc fixed;
    bson_iter_t top;
    bson_iter_init(&top, reply);
    while (bson_iter_next(&top)) {
        if (std::strcmp(bson_iter_key(&top), "cursor") != 0) {
            bson_append_iter(fixed.get(), bson_iter_key(&top), -1, &top);
            continue;
        }
        bson_t curdoc;
        BSON_APPEND_DOCUMENT_BEGIN(fixed.get(), "cursor", &curdoc);
        bson_iter_t f;
        bson_iter_recurse(&top, &f);
        while (bson_iter_next(&f)) {
            const char* k = bson_iter_key(&f);
            bson_append_iter(&curdoc, std::strcmp(k, "nextBatch") ? k : "firstBatch", -1, &f);
        }
        bson_append_document_end(fixed.get(), &curdoc);
    }
    return fixed;
}

}  // namespace

Outcome Commands::open_change_stream(Engine& e, CommandCtx& c, const bson_t* pipeline) {
    if (e.options().replset.empty())
        return reply_error(
            Error{40573, "The $changeStream stage is only supported on replica sets", {}});
    bson_iter_t it, stage;
    bson_iter_init(&it, pipeline);
    bson_iter_next(&it);
    bson_iter_recurse(&it, &stage);
    bson_iter_next(&stage);
    if (!BSON_ITER_HOLDS_DOCUMENT(&stage))
        return reply_error(Error{50808, "$changeStream stage expects a document as argument", {}});
    Doc opts = iter_subdoc(&stage);
    auto vs = validate_stages(pipeline, true);
    if (!vs.ok()) return reply_error(vs.error());
    bson_iter_t cur_it;
    if (!bson_iter_init_find(&cur_it, c.cmd, "cursor") || !BSON_ITER_HOLDS_DOCUMENT(&cur_it))
        return reply_error(
            Error{9,
                  "The 'cursor' option is required, except for aggregate with the explain argument",
                  {}});
    Cursor cur;
    cur.is_stream = true;
    bool all_cluster = get_bool(opts.get(), "allChangesForCluster").value_or(false);
    if (auto st = set_stream_scope(e, c, all_cluster, cur); !st.ok())
        return reply_error(st.error());
    if (auto st = set_stream_options(opts.get(), cur.stream); !st.ok())
        return reply_error(st.error());
    copy_later_stages(pipeline, cur.stream);
    if (auto st = set_stream_start(e, opts.get(), cur); !st.ok()) return reply_error(st.error());
    cur.id = new_cursor_id(e);
    cur.last_use = Clock::now();
    if (c.session) cur.session_key = c.session->key;
    int64_t id = cur.id;
    Cursor& stored = e.cursors_[id] = std::move(cur);
    // The first batch holds what is already there (no waiting).
    Doc cursor_opts;
    bson_iter_t co;
    if (bson_iter_init_find(&co, c.cmd, "cursor") && BSON_ITER_HOLDS_DOCUMENT(&co))
        cursor_opts = iter_subdoc(&co);
    int64_t batch = get_int(cursor_opts.get(), "batchSize").value_or(101);
    if (batch == 0) return reply_ok(cursor_reply(stored.ns, id, "firstBatch", {}, &stored.pbrt));
    CommandCtx first = c;
    first.rerun_after_deadline = true;  // never park on aggregate
    Outcome o = stream_get_more(e, first, stored, batch);
    if (is_error_reply(o.reply.get())) {
        e.cursors_.erase(id);
        return o;
    }
    o.reply = as_first_batch(o.reply.get());
    return o;
}

namespace {

// What one getMore on a change stream has read.
struct StreamBatch {
    std::vector<DocPtr> docs;
    size_t bytes = 0;
    bool invalidated = false;  // the batch ends with an invalidate event
    bool cut = false;          // stopped at the batch size or the reply size limit
};

// Ends the batch with the invalidate event that follows EV.
void add_invalidate(const Engine& e, const Event& ev, Cursor& cur, StreamBatch& b) {
    ResumeToken inv = token_of(e, ev, ResumeToken::kInvalidate, e.epoch_);
    b.docs.push_back(invalidate_event(inv, ev));
    cur.pbrt = inv;
    b.invalidated = true;
}

// True when OUT's _id is still exactly the event's resume token TOK.
bool keeps_resume_token(const DocPtr& out, const ResumeToken& tok) {
    bson_t v;
    view_of(*out, &v);
    bson_iter_t id;
    if (!bson_iter_init_find(&id, &v, "_id") || !BSON_ITER_HOLDS_DOCUMENT(&id)) return false;
    Doc idd = iter_subdoc(&id);
    auto data = get_string(idd.get(), "_data");
    return data && *data == tok.encode() && bson_count_keys(idd.get()) == 1;
}

// Runs the change document ONE through the stream's later stages and adds what comes out. A
// stage that modifies the resume token (_id) ends the stream: the cursor is closed.
Status add_stage_output(Engine& e, Cursor& cur, DocPtr one, const ResumeToken& tok,
                        StreamBatch& b) {
    auto r = run_stages(std::vector<DocPtr>{std::move(one)}, cur.stream.stages.get());
    if (!r.ok()) return r.error();
    for (const DocPtr& out : r.value()) {
        if (!keeps_resume_token(out, tok)) {
            e.cursors_.erase(cur.id);
            return Error{280,
                         "Encountered an event whose _id field, which contains the resume token, "
                         "was modified by the pipeline. Modifying the _id field of an event makes "
                         "it impossible to resume the stream from that point. Only "
                         "transformations that retain the unmodified _id field are allowed.",
                         {}};
        }
        b.bytes += out->size();
        b.docs.push_back(out);
    }
    return ok_status();
}

// Adds EV's change document (through the stream's later stages, if any) to the batch, then the
// invalidate event when EV ends the stream.
Status add_event(Engine& e, const Event& ev, Cursor& cur, StreamBatch& b) {
    ResumeToken tok = token_of(e, ev, ResumeToken::kEvent, e.epoch_);
    Doc doc = event_document(e, ev, cur.stream, tok);
    auto one = std::make_shared<const std::string>(doc.bytes());
    if (bson_empty(cur.stream.stages.get())) {
        b.bytes += one->size();
        b.docs.push_back(std::move(one));
    } else if (Status st = add_stage_output(e, cur, std::move(one), tok, b); !st.ok()) {
        return st;
    }
    cur.pbrt = tok;
    if (invalidates(ev, cur.stream)) add_invalidate(e, ev, cur, b);
    return ok_status();
}

// Reads the cursor's next events in scope into B, up to MAX documents or the reply size limit,
// or an invalidate event. An error closes the cursor when the stream cannot go on.
Status read_stream_events(Engine& e, Cursor& cur, size_t max, StreamBatch& b) {
    while (cur.next_seq < e.next_event_seq_) {
        if (b.docs.size() >= max || b.bytes >= 16 * 1024 * 1024 - 64 * 1024) {
            b.cut = true;
            return ok_status();
        }
        uint64_t seq = cur.next_seq;
        if (seq < e.first_retained_seq_) {
            int64_t id = cur.id;
            e.cursors_.erase(id);
            return non_resumable(286,
                                 "Resume of change stream was not possible, as the resume point "
                                 "may no longer be in the oplog.");
        }
        const Event& ev = e.events_[seq - e.first_retained_seq_];
        cur.next_seq = seq + 1;
        if (cur.min_ts && ev.ts < *cur.min_ts) continue;
        if (!in_scope(ev, cur.stream)) continue;
        if (Status st = add_event(e, ev, cur, b); !st.ok()) return st;
        if (b.invalidated) return ok_status();
    }
    return ok_status();
}

// Moves the cursor's postBatchResumeToken up to the high-water mark of the event log.
void advance_to_high_water(const Engine& e, Cursor& cur) {
    ResumeToken hwm;
    hwm.ts = e.cluster_ts_;
    hwm.seq = e.next_event_seq_ - 1;
    hwm.epoch = e.epoch_;
    hwm.kind = ResumeToken::kHighWater;
    if (hwm.encode() > cur.pbrt.encode()) cur.pbrt = hwm;
}

// An empty getMore waits for events until its deadline (maxTimeMS, 1 s by default).
Outcome park_until_deadline(const CommandCtx& c) {
    Outcome o;
    o.park = true;
    int64_t wait = c.max_time_ms > 0 ? c.max_time_ms : 1000;
    o.park_until = c.deadline != Clock::time_point{}
                       ? c.deadline
                       : Clock::now() + std::chrono::milliseconds(wait);
    return o;
}

}  // namespace

Outcome Commands::stream_get_more(Engine& e, CommandCtx& c, Cursor& cur, int64_t batch_size) {
    size_t max = batch_size > 0 ? static_cast<size_t>(batch_size) : SIZE_MAX;
    StreamBatch b;
    if (Status st = read_stream_events(e, cur, max, b); !st.ok()) return reply_error(st.error());
    if (!b.cut && !b.invalidated) advance_to_high_water(e, cur);
    if (b.docs.empty() && !b.invalidated && !c.rerun_after_deadline) return park_until_deadline(c);
    ResumeToken pbrt = cur.pbrt;
    std::string ns = cur.ns;
    int64_t id = cur.id;
    if (b.invalidated) {
        e.cursors_.erase(id);
        id = 0;
    }
    return reply_ok(cursor_reply(ns, id, "nextBatch", b.docs, &pbrt));
}

}  // namespace standin
