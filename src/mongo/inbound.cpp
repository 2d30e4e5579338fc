// Inbound: one database change stream -> server store, with the resume token in the same transaction.
//
// The stream is driven with aggregate/getMore commands on one explicit session (rather than
// mongoc_change_stream_t) so that batch boundaries and every postBatchResumeToken are visible: a batch
// is applied in one server transaction, and a MongoDB transaction is never split, because its events
// are all in the oplog when it commits and a server ends a getMore batch early only when no event is
// ready or the batch is full (then the trailing transaction is held for the next batch); the first
// batch, which a server cuts by count, is asked to be empty.
#include <algorithm>
#include <cstdlib>
#include <deque>
#include <memory>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "mongo/change_event.hpp"
#include "mongo/connector_impl.hpp"
#include "mongo/inbound_pending.hpp"

namespace outpost::mongo {

using detail::Bson;
using detail::Event;
using detail::Mapped;
using detail::View;
using detail::event_token;
using detail::parse_event;
using detail::sub_doc;
using detail::sub_json;

namespace {

constexpr uint32_t kFullBatchBytes = 8u * 1024 * 1024;

// A batch read and mapped on the reading thread, waiting for its commit on the committing thread.
struct Prepared {
    std::unique_ptr<Bson> reply;  // the getMore reply the events point into (held events own copies)
    std::vector<Event> events;
    std::vector<std::vector<Mapped>> groups;  // whole MongoDB transactions, in stream order
    std::vector<DeadLetter> dead;             // added when the batch is committed
    Bson commit_token;
    uint64_t applied_events = 0;
    uint64_t echoes = 0;
    uint64_t own_seen = 0;  // the newest marker position the stream passed up to the batch's end
};

// Batches from the reading thread to the committing thread, in stream order. At most kDepth wait, so
// reading and mapping run at most that far ahead of the commits (each batch holds its reply).
class CommitQueue {
  public:
    static constexpr size_t kDepth = 2;
    // Waits for room. False (BATCH dropped) once the committer has failed or the queue is closed.
    bool push(Prepared&& batch) {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return queue_.size() < kDepth || !failed_.is_ok() || closed_; });
        if (!failed_.is_ok() || closed_) return false;
        queue_.push_back(std::move(batch));
        cv_.notify_all();
        return true;
    }
    // Waits until every batch pushed so far is committed (or the committer failed).
    void wait_idle() {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return (queue_.empty() && !busy_) || !failed_.is_ok(); });
    }
    // No more batches: the committer ends once the queued ones are done.
    void close() {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = true;
        cv_.notify_all();
    }
    // The committer's next batch; nullopt when closed and empty.
    std::optional<Prepared> pop() {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return !queue_.empty() || closed_; });
        if (queue_.empty()) return std::nullopt;
        Prepared b = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
        cv_.notify_all();
        return b;
    }
    // The committer finished a batch. An error drops the queued batches and refuses new ones.
    void done(const Status& s) {
        std::lock_guard<std::mutex> lock(mutex_);
        busy_ = false;
        if (!s.is_ok() && failed_.is_ok()) {
            failed_ = s;
            queue_.clear();
        }
        cv_.notify_all();
    }
    Status status() {
        std::lock_guard<std::mutex> lock(mutex_);
        return failed_;
    }
    bool failed() { return !status().is_ok(); }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Prepared> queue_;    // GUARDED_BY(mutex_)
    bool busy_ = false;             // GUARDED_BY(mutex_): the committer holds a popped batch
    bool closed_ = false;           // GUARDED_BY(mutex_)
    Status failed_ = Status::ok();  // GUARDED_BY(mutex_)
};

}  // namespace

// One change stream from the stored token until an error, the end of the cursor, stop() or an import
// request. kMongoHistoryLost when the stored point cannot be resumed (286, 280, 260).
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
            if (bson_init_static(&view, reinterpret_cast<const uint8_t*>(raw->data()), raw->size())) {
                token = Bson::copy_of(&view);
                set_resume_token(token->get());
            }
        }
    }
    if (!own_seen_known) {
        // No stream has passed one of this server's transactions yet: every position MongoDB holds
        // was written before the stored point.
        OUTPOST_ASSIGN_OR_RETURN(own_seen, read_marker(c));
    }
    bson_error_t err;
    detail::SessionPtr session(mongoc_client_start_session(c, nullptr, &err));
    if (!session) return detail::status_from(err, "starting a session for the change stream");
    detail::DatabasePtr db(mongoc_client_get_database(c, options.database.c_str()));
    Bson opts;
    if (!mongoc_client_session_append(session.get(), opts.get(), &err)) return detail::status_from(err, "session");

    Bson cmd;
    {
        BSON_APPEND_INT32(cmd.get(), "aggregate", 1);
        bson_t pipeline, stage, cs, cursor;
        BSON_APPEND_ARRAY_BEGIN(cmd.get(), "pipeline", &pipeline);
        BSON_APPEND_DOCUMENT_BEGIN(&pipeline, "0", &stage);
        BSON_APPEND_DOCUMENT_BEGIN(&stage, "$changeStream", &cs);
        BSON_APPEND_UTF8(&cs, "fullDocument", "default");
        if (token) BSON_APPEND_DOCUMENT(&cs, "startAfter", token->get());
        bson_append_document_end(&stage, &cs);
        bson_append_document_end(&pipeline, &stage);
        bson_append_array_end(cmd.get(), &pipeline);
        // An empty first batch: a first batch is cut at 101 events by default, which can split a
        // MongoDB transaction when the stream resumes behind a backlog; getMore batches are cut by
        // size only.
        BSON_APPEND_DOCUMENT_BEGIN(cmd.get(), "cursor", &cursor);
        BSON_APPEND_INT32(&cursor, "batchSize", 0);
        bson_append_document_end(cmd.get(), &cursor);
    }
    Bson reply;
    bson_destroy(reply.get());
    if (!mongoc_database_read_command_with_opts(db.get(), cmd.get(), nullptr, opts.get(), reply.get(), &err)) {
        if (err.code == 286 || err.code == 280 || err.code == 260 || err.code == 40647) {
            return Status(ErrorCode::kMongoHistoryLost,
                          std::string("the change stream cannot resume from the stored point: ") + err.message,
                          static_cast<int>(err.code));
        }
        return detail::status_from(err, "opening the change stream", reply.get());
    }

    std::vector<Event> held;  // a transaction that may continue in the next batch
    Bson last_queued;         // the newest token handed to the committer
    if (token) last_queued = *token;
    int64_t cursor_id = 0;

    // Reading and mapping run on this thread, committing on a second one, at most CommitQueue::kDepth
    // batches behind: the reply of batch N+1 is read and mapped while batch N is committed. Batches
    // commit in stream order, each with its resume token in the same store transaction, so a crash
    // loses nothing and repeats nothing (uncommitted batches are read again after the stored token).
    // own_seen: this thread advances it past the markers it reads, the committer past the records it
    // writes; the committer raises each change's own_seen to its own before applying, as a serial
    // stream would have had it. committed_seen is the committer's, for the drop path's reads.
    CommitQueue queue;
    std::atomic<uint64_t> committed_seen{own_seen};

    // Reads and maps one batch (events under BATCH_KEY of REPLY's cursor) and its post-batch token,
    // and hands it to the committer.
    auto process = [&](std::unique_ptr<Bson> reply_doc, const char* batch_key) -> Status {
        const bson_t* r = reply_doc->get();
        bson_t cursor_doc;
        if (!sub_doc(r, "cursor", &cursor_doc)) return Status(ErrorCode::kMongoCommand, "change stream reply without a cursor");
        bson_iter_t it, arr;
        cursor_id = 0;
        if (bson_iter_init_find(&it, &cursor_doc, "id") && BSON_ITER_HOLDS_NUMBER(&it)) cursor_id = bson_iter_as_int64(&it);
        Bson pbrt;
        bson_t pb;
        if (sub_doc(&cursor_doc, "postBatchResumeToken", &pb)) bson_concat(pbrt.get(), &pb);
        std::vector<Event> events = std::move(held);
        held.clear();
        uint32_t batch_bytes = 0;
        bool batch_empty = true;
        if (bson_iter_init_find(&it, &cursor_doc, batch_key) && BSON_ITER_HOLDS_ARRAY(&it) &&
            bson_iter_recurse(&it, &arr)) {
            while (bson_iter_next(&arr)) {
                bson_t ev;
                uint32_t len;
                const uint8_t* data;
                if (!BSON_ITER_HOLDS_DOCUMENT(&arr)) continue;
                bson_iter_document(&arr, &len, &data);
                if (!bson_init_static(&ev, data, len)) continue;
                batch_bytes += len;
                batch_empty = false;
                events.push_back(parse_event(&ev, marker_id));
            }
        }
        // The commit point: the post-batch token, or before a trailing transaction of a full batch.
        Bson commit_token = pbrt;
        size_t end = events.size();
        if (!batch_empty && batch_bytes >= kFullBatchBytes && !events.back().txn_key.empty()) {
            size_t start = end;
            while (start > 0 && events[start - 1].txn_key == events.back().txn_key) --start;
            if (start > 0) {
                commit_token = event_token(View(events[start - 1]).get());
                for (size_t h = start; h < events.size(); ++h) events[h].own();
                held.assign(std::make_move_iterator(events.begin() + static_cast<long>(start)),
                            std::make_move_iterator(events.end()));
                events.resize(start);
                end = start;
            } else {
                for (auto& h : events) h.own();
                held = std::move(events);
                events.clear();
                return Status::ok();
            }
        }
        if (events.empty() && commit_token.empty()) return Status::ok();
        if (events.empty() && bson_equal(commit_token.get(), last_queued.get())) return Status::ok();

        // A drop reads the store's objects: it needs every earlier batch committed.
        for (const auto& e : events) {
            if (e.op == "drop" || e.op == "rename" || e.op == "dropDatabase") {
                queue.wait_idle();
                break;
            }
        }
        own_seen = std::max(own_seen, committed_seen.load());

        // Map the events, group by transaction, skip this server's own.
        std::vector<std::vector<Mapped>> groups;
        std::vector<DeadLetter> dead_letters;
        uint64_t applied_events = 0, echoes = 0;
        std::vector<std::string> own_keys;
        for (const auto& e : events) {
            if (e.own_marker) own_keys.push_back(e.txn_key);
        }
        std::string current_key = "\x01";  // no group yet
        for (size_t i = 0; i < events.size(); ++i) {
            const Event& e = events[i];
            if (e.txn_key.empty() || e.txn_key != current_key) {
                groups.emplace_back();
                current_key = e.txn_key.empty() ? "\x01" : e.txn_key;
            }
            if (!e.txn_key.empty() && std::find(own_keys.begin(), own_keys.end(), e.txn_key) != own_keys.end()) {
                if (e.marker_position >= 0) own_seen = std::max(own_seen, static_cast<uint64_t>(e.marker_position));
                if (!e.own_marker && e.coll != kMetaCollection) ++echoes;
                continue;
            }
            if (e.coll == kMetaCollection) continue;
            View view(e);
            const bson_t* d = view.get();
            auto dead = [&](const Status& why) -> Status {
                if (options.strict_from_mongo) {
                    return Status(ErrorCode::kMongoMapping, "strict conversions from MongoDB: " + e.coll + " " +
                                                  sub_json(d, "documentKey") + ": " + why.message());
                }
                dead_letters.push_back(
                    {"inbound", e.coll, sub_json(d, "documentKey"), why.message(), detail::to_json(d), 0});
                return Status::ok();
            };
            if (e.op == "drop" || e.op == "rename" || e.op == "dropDatabase") {
                std::vector<const CollectionMap*> affected;
                if (e.op == "dropDatabase") {
                    for (const auto& cm : mapping.collections()) affected.push_back(&cm);
                } else if (const CollectionMap* cm = mapping.by_collection(e.coll)) {
                    affected.push_back(cm);
                }
                if (affected.empty()) continue;
                set_error(Status(ErrorCode::kMongoCommand,
                                 "MongoDB reports " + e.op + " of " + (e.op == "dropDatabase" ? options.database : e.coll) +
                                     (options.remove_objects_of_dropped_collections
                                          ? ": removing the objects of the mapped entities"
                                          : ": the server keeps its objects (remove_objects_of_dropped_collections is off)")));
                if (!options.remove_objects_of_dropped_collections) continue;
                auto txn = store->begin_read();
                if (!txn) return txn.status();
                for (const CollectionMap* cm : affected) {
                    OUTPOST_ASSIGN_OR_RETURN(auto box, store->box(cm->entity->name));
                    OUTPOST_ASSIGN_OR_RETURN(auto ids, box.ids(*txn));
                    for (uint64_t id : ids) {
                        OUTPOST_ASSIGN_OR_RETURN(auto g, gid_of(*txn, box, id));
                        if (!g) continue;
                        ObjectChange rm;
                        rm.kind = ObjectChange::kRemove;
                        rm.entity_uid = cm->entity->id.uid;
                        rm.gid = *g;
                        groups.back().push_back({std::move(rm), i, own_seen});
                    }
                }
                ++applied_events;
                continue;
            }
            if (e.op == "invalidate") continue;
            const CollectionMap* cm = mapping.by_collection(e.coll);
            if (!cm) continue;
            bson_t key_doc;
            bson_iter_t idit;
            if (!e.doc(e.key, &key_doc) || !bson_iter_init_find(&idit, &key_doc, "_id")) {
                OUTPOST_RETURN_IF_ERROR(dead(Status(ErrorCode::kMongoMapping, e.op + " event without documentKey._id")));
                continue;
            }
            auto gid = gid_from_bson(idit);
            if (!gid) {
                OUTPOST_RETURN_IF_ERROR(dead(gid.status()));
                continue;
            }
            if (e.op == "insert" || e.op == "replace") {
                bson_t full;
                if (!e.doc(e.full, &full)) {
                    OUTPOST_RETURN_IF_ERROR(dead(Status(ErrorCode::kMongoMapping, e.op + " event without fullDocument")));
                    continue;
                }
                auto ch = mapping.change_from_document(*cm, &full);
                if (!ch) {
                    OUTPOST_RETURN_IF_ERROR(dead(ch.status()));
                    continue;
                }
                groups.back().push_back({std::move(ch).value(), i, own_seen});
            } else if (e.op == "update") {
                bson_t desc;
                if (!e.doc(e.desc, &desc)) {
                    OUTPOST_RETURN_IF_ERROR(dead(Status(ErrorCode::kMongoMapping, "update event without updateDescription")));
                    continue;
                }
                std::vector<std::string> lookup;
                auto ch = mapping.change_from_update(*cm, *gid, &desc, &lookup);
                if (!ch) {
                    OUTPOST_RETURN_IF_ERROR(dead(ch.status()));
                    continue;
                }
                if (!lookup.empty()) {
                    count(&ConnectorStatus::lookups);
                    detail::CollectionPtr coll(mongoc_client_get_collection(c, options.database.c_str(), e.coll.c_str()));
                    Bson filter, fopts;
                    (void)append_gid(filter.get(), "_id", *gid);
                    BSON_APPEND_INT64(fopts.get(), "limit", 1);
                    detail::CursorPtr cur(mongoc_collection_find_with_opts(coll.get(), filter.get(), fopts.get(), nullptr));
                    const bson_t* found = nullptr;
                    bool have = mongoc_cursor_next(cur.get(), &found);
                    const bson_t* ereply;
                    if (mongoc_cursor_error_document(cur.get(), &err, &ereply)) {
                        return detail::status_from(err, "reading " + e.coll + " for an update", ereply);
                    }
                    if (have) {
                        Status s = mapping.add_fields_from_document(*cm, found, lookup, ch.value());
                        if (!s) {
                            OUTPOST_RETURN_IF_ERROR(dead(s));
                            continue;
                        }
                    }
                    // Else the document is gone: its delete event follows and removes the object.
                }
                if (ch->properties.empty() && ch->to_many.empty()) {  // only unmapped fields changed
                    ++applied_events;
                    continue;
                }
                groups.back().push_back({std::move(ch).value(), i, own_seen});
            } else if (e.op == "delete") {
                ObjectChange rm;
                rm.kind = ObjectChange::kRemove;
                rm.entity_uid = cm->entity->id.uid;
                rm.gid = *gid;
                groups.back().push_back({std::move(rm), i, own_seen});
            } else {
                continue;
            }
            ++applied_events;
        }

        Prepared batch;
        batch.reply = std::move(reply_doc);
        batch.events = std::move(events);
        batch.groups = std::move(groups);
        batch.dead = std::move(dead_letters);
        batch.commit_token = commit_token;
        batch.applied_events = applied_events;
        batch.echoes = echoes;
        batch.own_seen = own_seen;
        if (!queue.push(std::move(batch))) return Status::ok();  // the committer failed: its status ends the stream
        last_queued = std::move(commit_token);
        return Status::ok();
    };

    // Commits one batch: its changes, its resume token and own_seen in one store transaction.
    // Runs on the committing thread; SEEN is that thread's own_seen.
    auto commit_batch = [&](Prepared& b, uint64_t& seen) -> Status {
        for (auto& d : b.dead) add_dead_letter(std::move(d));
        const auto& events = b.events;
        const Bson& commit_token = b.commit_token;
        // The batch's groups (whole MongoDB transactions) commit together.
        std::vector<Mapped> all;
        for (auto& g : b.groups) {
            for (auto& m : g) all.push_back(std::move(m));
        }
        b.groups.clear();
        bool changed = false;
        uint64_t superseded = 0;
        // Applies CHANGES and stores the stream's position with them; SEEN moves on only when the
        // transaction commits.
        auto apply_with_token = [&](std::vector<Mapped>& changes) {
            uint64_t next_seen = seen;
            Status s = store->write([&](WriteTxn& txn) -> Status {
                next_seen = seen;
                bool applied = false;
                OUTPOST_RETURN_IF_ERROR(detail::apply_stream_batch(txn, changes, b.own_seen, next_seen,
                                                                   &superseded, &applied));
                changed |= applied;
                OUTPOST_RETURN_IF_ERROR(put_meta(txn, kMetaOwnSeen, std::to_string(next_seen)));
                return put_meta(txn, kMetaResumeToken,
                                std::string_view(reinterpret_cast<const char*>(bson_get_data(commit_token.get())),
                                                 commit_token.get()->len));
            });
            if (s) seen = next_seen;
            return s;
        };
        Status s = apply_with_token(all);
        if (!s && s.code() != ErrorCode::kStorage && s.code() != ErrorCode::kStorageFull) {
            // A change the store refuses (a unique value taken, ...): apply the others one by one.
            if (options.strict_from_mongo) {
                return Status(ErrorCode::kMongoMapping, "strict conversions from MongoDB: " + s.message());
            }
            changed = false;
            for (const Mapped& m : all) {
                std::vector<Mapped> single = {m};
                uint64_t next_seen = seen;
                Status one = store->write([&](WriteTxn& txn) -> Status {
                    next_seen = seen;
                    return detail::apply_stream_batch(txn, single, 0, next_seen, &superseded);
                });
                if (one) {
                    seen = next_seen;
                    changed = true;
                } else {
                    const Event& e = events[m.event];
                    View v(e);
                    add_dead_letter({"inbound", e.coll, sub_json(v.get(), "documentKey"), one.message(),
                                     detail::to_json(v.get()), 0});
                }
            }
            std::vector<Mapped> none;
            s = apply_with_token(none);
        }
        if (!s) return s;
        set_resume_token(commit_token.get());
        {
            std::lock_guard<std::mutex> lock(status_mutex);
            if (changed) st.inbound_txns++;
            st.inbound_events += b.applied_events;
            st.echoes_skipped += b.echoes;
        }
        if (changed && on_inbound_commit) on_inbound_commit();
        return Status::ok();
    };

    std::thread committer([&] {
        uint64_t seen = committed_seen.load();
        while (auto b = queue.pop()) {
            // When stopping, batches not yet committed are dropped: the stream reads them again.
            Status s = stopping.load() ? Status::ok() : commit_batch(*b, seen);
            if (s) committed_seen.store(seen);
            queue.done(s);
        }
    });

    Status result = process(std::make_unique<Bson>(std::move(reply)), "firstBatch");
    int32_t code = 0;
    while (result && cursor_id != 0 && !stopping.load() && !queue.failed()) {
        {
            std::lock_guard<std::mutex> lock(import_mutex);
            if (import_requested && !import_result) break;
        }
        Bson more;
        BSON_APPEND_INT64(more.get(), "getMore", cursor_id);
        BSON_APPEND_UTF8(more.get(), "collection", "$cmd.aggregate");
        BSON_APPEND_INT64(more.get(), "maxTimeMS", options.max_await_ms);
        auto r = std::make_unique<Bson>();
        bson_destroy(r->get());
        if (!mongoc_database_read_command_with_opts(db.get(), more.get(), nullptr, opts.get(), r->get(), &err)) {
            code = static_cast<int32_t>(err.code);
            if (code == 286 || code == 280 || code == 260) {
                result = Status(ErrorCode::kMongoHistoryLost,
                                std::string("the change stream cannot continue: ") + err.message, code);
            } else {
                result = detail::status_from(err, "reading the change stream", r->get());
            }
            cursor_id = 0;  // a failed getMore leaves no cursor worth killing
            break;
        }
        result = process(std::move(r), "nextBatch");
    }
    queue.close();
    committer.join();
    if (Status committed = queue.status(); !committed) result = committed;
    if (cursor_id != 0) detail::kill_aggregate_cursor(db.get(), cursor_id, opts.get());
    return result;
}

void Connector::Impl::inbound_loop() {
    std::optional<detail::PooledClient> c;
    int backoff = 50;
    bool first = true;
    while (!stopping.load()) {
        if (!c) {
            auto r = client();
            if (!r) {
                set_error(r.status());
                if (sleep_for(backoff)) return;
                continue;
            }
            c.emplace(std::move(r).value());
        }
        if (Status w = wait_for_primary(c->get()); !w) {
            if (stopping.load()) return;
            set_error(w);
            count(&ConnectorStatus::retries);
            if (sleep_for(backoff)) return;
            backoff = std::min(backoff * 2, 5000);
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
            std::lock_guard<std::mutex> run(import_run_mutex);
            auto r = import_now(c->get(), true, import_reason, nullptr);
            if (!r) {
                count(&ConnectorStatus::retries);
                if (sleep_for(backoff)) return;
                backoff = std::min(backoff * 2, 5000);
                continue;
            }
        }
        serve_import_request(c->get());
        Status s = stream_once(c->get());
        if (stopping.load()) return;
        if (s) {
            backoff = 50;
            continue;  // cursor ended (invalidate) or an import was requested
        }
        if (s.code() == ErrorCode::kMongoHistoryLost) {
            set_error(s);
            std::lock_guard<std::mutex> run(import_run_mutex);
            auto r = import_now(c->get(), true, "change-stream history lost, error " + std::to_string(s.cause()), nullptr);
            if (!r && sleep_for(backoff)) return;
            continue;
        }
        if (s.code() == ErrorCode::kMongoMapping) {  // only strict conversions stop the stream
            set_error(s);
            std::lock_guard<std::mutex> lock(status_mutex);
            st.inbound_stopped = s.message();
            return;
        }
        set_error(s);
        count(&ConnectorStatus::retries);
        if (sleep_for(backoff)) return;
        backoff = std::min(backoff * 2, 5000);
    }
}

}  // namespace outpost::mongo
