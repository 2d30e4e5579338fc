// Outbound: server history -> MongoDB, one MongoDB transaction per batch of history transactions.
//
// Invariant: the marker {_id: "server:<id>", position} in __outpost_meta is written by the first
// statement of every outbound transaction, so MongoDB holds exactly the writes of the records up to
// `position` (those not from MongoDB itself), and the inbound side recognises the transaction's
// events as this server's own by that marker.
#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <optional>

#include "mongo/connector_impl.hpp"
#include "mongo/outbound_rules.hpp"

namespace outpost::mongo {

using detail::Bson;

namespace {

constexpr size_t kMaxDocumentBytes = 16u * 1024 * 1024;
// History records read from the store at a time.
constexpr size_t kReadChunk = 64;
// Batches prepared ahead of the one being written.
constexpr size_t kPreparedBatches = 2;

// The batches between the preparing and the writing thread, in history order. Guarded by the
// connector's wake-up mutex and waiting on its condition, so that stop() ends every wait.
template <class Batch>
class BatchQueue {
  public:
    explicit BatchQueue(detail::Wakeup& wakeup)
        : wakeup_(wakeup), mutex_(wakeup.mutex()), cv_(wakeup.cv()) {}

    // Waits for room; false when stopping or closed (the batch is dropped).
    bool push(Batch&& b) OUTPOST_EXCLUDES(mutex_) {
        MutexLock lock(mutex_);
        cv_.wait(mutex_, [&]() OUTPOST_REQUIRES(mutex_) {
            return wakeup_.stopping() || closed_ || queue_.size() < kPreparedBatches;
        });
        if (wakeup_.stopping() || closed_) return false;
        queue_.push_back(std::move(b));
        cv_.notify_all();
        return true;
    }
    // Waits for the next batch; nullopt when stopping.
    std::optional<Batch> pop() OUTPOST_EXCLUDES(mutex_) {
        MutexLock lock(mutex_);
        cv_.wait(mutex_,
                 [&]() OUTPOST_REQUIRES(mutex_) { return wakeup_.stopping() || !queue_.empty(); });
        if (wakeup_.stopping()) return std::nullopt;
        Batch b = std::move(queue_.front());
        queue_.pop_front();
        cv_.notify_all();
        return b;
    }
    void close() OUTPOST_EXCLUDES(mutex_) {
        MutexLock lock(mutex_);
        closed_ = true;
        cv_.notify_all();
    }

  private:
    detail::Wakeup& wakeup_;
    Mutex& mutex_;
    CondVar& cv_;
    std::deque<Batch> queue_ OUTPOST_GUARDED_BY(mutex_);
    bool closed_ OUTPOST_GUARDED_BY(mutex_) = false;
};

std::string gid_json(const Gid& gid) {
    Bson b;
    if (!append_gid(b.get(), "_id", gid)) return "\"" + gid_to_string(gid) + "\"";
    return b.json();
}

Status append_session(mongoc_client_session_t* session, bson_t* opts) {
    bson_error_t err;
    if (!mongoc_client_session_append(session, opts, &err))
        return detail::status_from(err, "session");
    return Status::ok();
}

// The index of the failed operation from a bulk write's reply, or -1.
int failed_index(const bson_t* reply, int32_t* code) {
    bson_iter_t it, arr, doc;
    if (!bson_iter_init_find(&it, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr) || !bson_iter_next(&arr) || !BSON_ITER_HOLDS_DOCUMENT(&arr)) {
        return -1;
    }
    int index = -1;
    bson_iter_recurse(&arr, &doc);
    while (bson_iter_next(&doc)) {
        if (std::string_view(bson_iter_key(&doc)) == "index" && BSON_ITER_HOLDS_INT32(&doc)) {
            index = bson_iter_int32(&doc);
        }
        if (std::string_view(bson_iter_key(&doc)) == "code" && BSON_ITER_HOLDS_INT32(&doc)) {
            *code = bson_iter_int32(&doc);
        }
    }
    return index;
}

// Starts a transaction on SESSION, made first when empty (its lsid is stored, so that a restart can
// end a transaction a crash left open). TRANSIENT when a retry may succeed.
Status start_transaction(mongoc_client_t* c, detail::SessionPtr& session, Store& store,
                         bool& transient) {
    bson_error_t err;
    if (!session) {
        session.reset(mongoc_client_start_session(c, nullptr, &err));
        if (!session) {
            transient = true;
            return detail::status_from(err, "starting a session");
        }
        const bson_t* lsid = mongoc_client_session_get_lsid(session.get());
        OUTPOST_RETURN_IF_ERROR(store.write([&](WriteTxn& txn) {
            return put_meta(
                txn, kMetaOutboundLsid,
                std::string_view(reinterpret_cast<const char*>(bson_get_data(lsid)), lsid->len));
        }));
    }
    if (mongoc_client_session_in_transaction(session.get())) {
        bson_error_t ignored;
        mongoc_client_session_abort_transaction(session.get(), &ignored);
    }
    detail::TxnOptPtr topts(mongoc_transaction_opts_new());
    mongoc_write_concern_t* wc = mongoc_write_concern_new();
    mongoc_write_concern_set_wmajority(wc, 0);
    mongoc_transaction_opts_set_write_concern(topts.get(), wc);
    mongoc_write_concern_destroy(wc);
    if (!mongoc_client_session_start_transaction(session.get(), topts.get(), &err)) {
        session.reset();  // a fresh session next time
        transient = true;
        return detail::status_from(err, "starting a transaction");
    }
    return Status::ok();
}

// A statement of the transaction failed: the error (TRANSIENT when a retry may succeed), with the
// transaction aborted.
Status failed_statement(mongoc_client_session_t* session, const bson_error_t& e,
                        const bson_t* reply, const std::string& what, bool& transient) {
    transient =
        detail::is_network_error(e) || detail::has_label(reply, "TransientTransactionError");
    Status s = detail::status_from(e, what, reply);
    bson_error_t ignored;
    mongoc_client_session_abort_transaction(session, &ignored);
    return s;
}

// The transaction's first statement: {_id: MARKER_ID} gets POSITION in the metadata collection.
Status write_marker(mongoc_client_t* c, mongoc_client_session_t* session,
                    const std::string& database, const std::string& marker_id, uint64_t position,
                    bool& transient) {
    detail::CollectionPtr meta(mongoc_client_get_collection(c, database.c_str(), kMetaCollection));
    Bson sel, upd, opts, reply;
    BSON_APPEND_UTF8(sel.get(), "_id", marker_id.c_str());
    bson_t set;
    BSON_APPEND_DOCUMENT_BEGIN(upd.get(), "$set", &set);
    BSON_APPEND_INT64(&set, "position", static_cast<int64_t>(position));
    BSON_APPEND_DATE_TIME(&set, "updatedAt", now_ms());
    bson_append_document_end(upd.get(), &set);
    BSON_APPEND_BOOL(opts.get(), "upsert", true);
    OUTPOST_RETURN_IF_ERROR(append_session(session, opts.get()));
    bson_destroy(reply.get());
    bson_error_t err;
    if (!mongoc_collection_update_one(meta.get(), sel.get(), upd.get(), opts.get(), reply.get(),
                                      &err)) {
        return failed_statement(session, err, reply.get(), "writing the outbound marker",
                                transient);
    }
    return Status::ok();
}

}  // namespace

Result<uint64_t> Connector::Impl::read_marker(mongoc_client_t* c) {
    detail::CollectionPtr coll(
        mongoc_client_get_collection(c, options.database.c_str(), kMetaCollection));
    Bson filter, opts;
    BSON_APPEND_UTF8(filter.get(), "_id", marker_id.c_str());
    BSON_APPEND_INT64(opts.get(), "limit", 1);
    detail::CursorPtr cursor(
        mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
    const bson_t* doc;
    uint64_t position = 0;
    while (mongoc_cursor_next(cursor.get(), &doc)) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, doc, "position") && BSON_ITER_HOLDS_NUMBER(&it)) {
            position = static_cast<uint64_t>(bson_iter_as_int64(&it));
        }
    }
    bson_error_t err;
    const bson_t* reply;
    if (mongoc_cursor_error_document(cursor.get(), &err, &reply)) {
        return detail::status_from(
            err, "reading this server's position in " + std::string(kMetaCollection), reply);
    }
    return position;
}

Status Connector::Impl::group_writes(std::vector<Op>& ops, std::vector<CollectionWrites>& out) {
    out.clear();
    std::map<const CollectionMap*, size_t> slot;
    bson_error_t err;
    Bson upsert;
    BSON_APPEND_BOOL(upsert.get(), "upsert", true);
    for (size_t i = 0; i < ops.size(); ++i) {
        Op& op = ops[i];
        if (op.excluded) continue;
        auto [it, fresh] = slot.try_emplace(op.coll, out.size());
        if (fresh) {
            CollectionWrites w;
            w.coll = op.coll;
            w.bulk.reset(mongoc_bulk_operation_new(true));
            out.push_back(std::move(w));
        }
        CollectionWrites& w = out[it->second];
        Bson sel;
        (void)append_gid(sel.get(), "_id", op.gid);
        bool ok = op.remove ? mongoc_bulk_operation_remove_one_with_opts(w.bulk.get(), sel.get(),
                                                                         nullptr, &err)
                            : mongoc_bulk_operation_update_one_with_opts(
                                  w.bulk.get(), sel.get(), op.update.get(),
                                  op.upsert ? upsert.get() : nullptr, &err);
        if (!ok) {
            out.clear();
            return detail::status_from(err, "adding a write to " + op.coll->collection);
        }
        w.ops.push_back(i);
    }
    return Status::ok();
}

Status Connector::Impl::run_transaction(mongoc_client_t* c, detail::SessionPtr& session,
                                        std::vector<Op>& ops, std::vector<CollectionWrites>& made,
                                        uint64_t position, bool& transient) {
    transient = false;
    // A bulk write runs once: this attempt takes the writes made ahead, a retry makes them again.
    std::vector<CollectionWrites> writes = std::move(made);
    made.clear();
    OUTPOST_RETURN_IF_ERROR(start_transaction(c, session, *store, transient));
    // First statement: this server's marker and position.
    OUTPOST_RETURN_IF_ERROR(
        write_marker(c, session.get(), options.database, marker_id, position, transient));
    // Then one ordered bulk write per collection.
    if (writes.empty()) {
        Status s = group_writes(ops, writes);
        if (!s) {
            bson_error_t ignored;
            mongoc_client_session_abort_transaction(session.get(), &ignored);
            return s;
        }
    }
    bson_error_t err;
    for (CollectionWrites& w : writes) {
        mongoc_bulk_operation_set_client(w.bulk.get(), c);
        mongoc_bulk_operation_set_database(w.bulk.get(), options.database.c_str());
        mongoc_bulk_operation_set_collection(w.bulk.get(), w.coll->collection.c_str());
        mongoc_bulk_operation_set_client_session(w.bulk.get(), session.get());
        Bson reply;
        bson_destroy(reply.get());
        if (!mongoc_bulk_operation_execute(w.bulk.get(), reply.get(), &err)) {
            int32_t code = 0;
            int index = failed_index(reply.get(), &code);
            Status s = failed_statement(session.get(), err, reply.get(),
                                        "writing to " + w.coll->collection, transient);
            if (!transient && index >= 0 && static_cast<size_t>(index) < w.ops.size()) {
                // Name the failed write so the caller can dead-letter it.
                return Status(ErrorCode::kMongoCommand, s.message(),
                              static_cast<int>(w.ops[static_cast<size_t>(index)]) + 1);
            }
            return s;
        }
    }
    for (int attempt = 0;; ++attempt) {
        Bson reply;
        bson_destroy(reply.get());
        if (mongoc_client_session_commit_transaction(session.get(), reply.get(), &err))
            return Status::ok();
        if (detail::has_label(reply.get(), "UnknownTransactionCommitResult") && attempt < 5 &&
            !wakeup.stopping()) {
            state.count(&ConnectorStatus::retries);
            continue;  // committing again is safe: the server answers for the same transaction
        }
        transient = detail::is_network_error(err) ||
                    detail::has_label(reply.get(), "TransientTransactionError");
        return detail::status_from(err, "committing", reply.get());
    }
}

Status Connector::Impl::write_batch(mongoc_client_t* c, detail::SessionPtr& session,
                                    std::vector<Op>& ops, std::vector<CollectionWrites>& writes,
                                    uint64_t position) {
    detail::RetryBackoff backoff(20);
    for (;;) {
        if (wakeup.stopping()) return stopping_status();
        bool transient = false;
        Status s = run_transaction(c, session, ops, writes, position, transient);
        if (s) return s;
        if (!transient && s.code() == ErrorCode::kMongoCommand && s.cause() > 0 &&
            static_cast<size_t>(s.cause()) <= ops.size() && !options.strict_to_mongo) {
            // A write that MongoDB refuses (document too large, validation, duplicate key on a
            // unique index): report it and write the rest.
            Op& op = ops[static_cast<size_t>(s.cause() - 1)];
            state.add_dead_letter({"outbound", op.coll->collection, gid_json(op.gid), s.message(),
                                   op.remove ? "{\"delete\": true}" : op.update.json(), 0});
            op.excluded = true;
            continue;
        }
        state.count(&ConnectorStatus::retries);
        state.set_error(s);
        if (wakeup.back_off(backoff)) return stopping_status();
        if (s.code() == ErrorCode::kMongoConnection) {
            // No primary (an election, MongoDB unreachable): wait for one before the next attempt.
            if (Status w = wait_for_primary(c); !w && wakeup.stopping()) return stopping_status();
        }
    }
}

// Ends the session of a transaction that a crash left open: it holds the marker's lock.
void Connector::Impl::end_previous_session(mongoc_client_t* c) {
    std::optional<std::string> old_lsid;
    {
        auto txn = store->begin_read();
        if (txn) {
            auto m = get_meta(*txn, kMetaOutboundLsid);
            if (m) old_lsid = *m;
        }
    }
    bson_t view;
    if (!old_lsid || !bson_init_static(&view, reinterpret_cast<const uint8_t*>(old_lsid->data()),
                                       old_lsid->size())) {
        return;
    }
    Bson cmd, reply;
    bson_t arr;
    BSON_APPEND_ARRAY_BEGIN(cmd.get(), "killSessions", &arr);
    BSON_APPEND_DOCUMENT(&arr, "0", &view);
    bson_append_array_end(cmd.get(), &arr);
    bson_error_t err;
    bson_destroy(reply.get());
    if (!mongoc_client_command_simple(c, "admin", cmd.get(), nullptr, reply.get(), &err)) {
        state.set_error(
            detail::status_from(err, "ending the previous outbound session", reply.get()));
    }
}

std::optional<uint64_t> Connector::Impl::connect_outbound(std::optional<detail::PooledClient>& c) {
    detail::RetryBackoff backoff;
    for (;;) {
        if (wakeup.stopping()) return std::nullopt;
        if (!c) {
            auto r = client();
            if (!r) {
                state.set_error(r.status());
                if (wakeup.sleep_for(backoff.delay_ms())) return std::nullopt;
                continue;
            }
            c.emplace(std::move(r).value());
        }
        if (Status w = wait_for_primary(c->get()); !w) {
            if (wakeup.stopping()) return std::nullopt;
            state.set_error(w);
            state.count(&ConnectorStatus::retries);
            if (wakeup.back_off(backoff)) return std::nullopt;
            continue;
        }
        end_previous_session(c->get());
        auto marker = read_marker(c->get());
        if (marker) return checked_start(*marker);
        state.set_error(marker.status());
        state.count(&ConnectorStatus::retries);
        if (wakeup.back_off(backoff)) return std::nullopt;
    }
}

uint64_t Connector::Impl::checked_start(uint64_t pos) {
    auto txn = store->begin_read();
    if (!txn) return pos;
    auto head = ChangeLog::last_position(*txn);
    if (head && pos > *head) {
        state.set_error(
            Status(ErrorCode::kIllegalState,
                   "MongoDB holds position " + std::to_string(pos) + " for server " + server_id +
                       " but the server history ends at " + std::to_string(*head) +
                       " (a new store with an old server id): writing its whole history"));
        return 0;
    }
    return pos;
}

void Connector::Impl::outbound_loop() {
    std::optional<detail::PooledClient> c;
    detail::SessionPtr
        session;  // declared after C: destroyed before the client goes back to the pool
    auto start = connect_outbound(c);
    if (!start) return;  // stopping
    uint64_t pos = *start;
    outbound_position = pos;

    // The next batches are read and mapped on a second thread while this one writes: the queue
    // keeps them in history order, and only this thread writes, one MongoDB transaction at a time,
    // each retried until it commits, so order and exactly-once are as without the queue.
    BatchQueue<Batch> queue(wakeup);
    std::thread preparer(
        [&] { prepare_outbound(pos, [&](Batch&& b) { return queue.push(std::move(b)); }); });
    while (auto batch = queue.pop()) {
        if (!batch->ops.empty() || (batch->last > pos && batch->nrecords > 0)) {
            Status s = write_batch(c->get(), session, batch->ops, batch->writes, batch->last);
            if (!s) break;  // stopping
            size_t written = static_cast<size_t>(std::count_if(
                batch->ops.begin(), batch->ops.end(), [](const Op& o) { return !o.excluded; }));
            state.count_outbound_txn(batch->nrecords, written);
        }
        pos = batch->last;
        outbound_position = pos;
    }
    queue.close();
    preparer.join();
}

// Records of the server history after a position, read in chunks: a history transaction of many
// objects fills several batches, and records are decoded once, not once per batch.
class Connector::Impl::HistoryReader {
  public:
    HistoryReader(uint64_t after, size_t chunk, detail::ConnectorState& state)
        : read_to_(after), chunk_(chunk), state_(state) {}

    // The oldest record not yet taken, read from TXN when none is pending; null when there is none
    // (or on an error, reported).
    const ChangeLogRecord* front(Txn& txn) {
        if (pending_.empty() && !read_more(txn)) return nullptr;
        return &pending_.front();
    }
    void pop() { pending_.pop_front(); }
    // Forgets what was read: the next read starts after AFTER.
    void restart(uint64_t after) {
        pending_.clear();
        read_to_ = after;
    }

  private:
    bool read_more(Txn& txn) {
        auto r = ChangeLog::read(txn, read_to_, chunk_,
                                 kOrigin);  // MongoDB's own changes are not written back
        if (!r) {
            state_.set_error(r.status());
            return false;
        }
        if (r->empty()) return false;
        if (read_to_ != 0 && r->front().position > read_to_ + 1) {
            state_.set_error(Status(
                ErrorCode::kIllegalState,
                "server history records " + std::to_string(read_to_ + 1) + ".." +
                    std::to_string(r->front().position - 1) +
                    " were trimmed before they reached MongoDB; their changes are missing there"));
        }
        read_to_ = r->back().position;
        for (auto& rec : *r) pending_.push_back(std::move(rec));
        return true;
    }

    std::deque<ChangeLogRecord> pending_;  // read, not yet in a batch
    uint64_t read_to_;                     // the newest record read
    const size_t chunk_;
    detail::ConnectorState& state_;
};

void Connector::Impl::prepare_outbound(uint64_t pos, const std::function<bool(Batch&&)>& push) {
    const size_t chunk =
        std::max<size_t>(1, std::min<size_t>(options.outbound_max_records, kReadChunk));
    HistoryReader history(pos, chunk, state);
    while (!wakeup.stopping()) {
        uint64_t seen = wakeup.wakes();
        // One snapshot for reading records and checking their objects: an object is looked up in a
        // snapshot that holds the record that made it (a newer record read with an older snapshot
        // would find its new object missing and skip it as removed).
        auto check = store->begin_read();
        if (!check) {
            state.set_error(check.status());
            if (wakeup.sleep_for(1000)) return;
            continue;
        }
        if (!history.front(*check)) {
            check->close();
            if (wakeup.wait_for_wake(seen, 1000)) return;
            continue;
        }
        Batch batch;
        batch.last = pos;
        bool blocked = !fill_batch(*check, history, batch);
        check->close();
        // The bulk writes too are made here, beside the transaction being written (when making them
        // fails, the writing thread makes them again and reports it).
        if (!group_writes(batch.ops, batch.writes)) batch.writes.clear();
        pos = batch.last;
        if (!push(std::move(batch))) return;
        if (blocked) {
            // Read the refused record again after a pause.
            history.restart(pos);
            if (wakeup.sleep_for(2000)) return;
        }
    }
}

bool Connector::Impl::fill_batch(ReadTxn& check, HistoryReader& history, Batch& batch) {
    // What each change becomes (outbound_rules.hpp): a put of an object the store no longer has is
    // skipped (a later record removed it), and only a new object is upserted, so neither brings
    // back a document that a MongoDB user deleted.
    std::map<const CollectionMap*, std::optional<DynamicBox>> boxes;
    auto action_for = [&](const CollectionMap& cm,
                          const ObjectChange& oc) -> Result<OutboundAction> {
        auto& box = boxes[&cm];
        if (!box) {
            OUTPOST_ASSIGN_OR_RETURN(DynamicBox b, store->box(cm.entity->name));
            box.emplace(std::move(b));
        }
        return outbound_action(check, *box, oc);
    };
    size_t covered = 0;
    while (covered < options.outbound_max_records && batch.ops.size() < options.outbound_max_ops) {
        const ChangeLogRecord* rec = history.front(check);
        if (!rec) break;
        if (rec->origin != kOrigin) {
            size_t mark = batch.ops.size();
            for (const auto& oc : rec->changes.objects) {
                if (!add_op(*rec, oc, action_for, batch.ops)) {
                    batch.ops.resize(mark);
                    return false;
                }
            }
            ++batch.nrecords;
        }
        batch.last = rec->position;
        ++covered;
        history.pop();
    }
    return true;
}

bool Connector::Impl::add_op(const ChangeLogRecord& rec, const ObjectChange& oc,
                             const ActionFor& action_for, std::vector<Op>& ops) {
    const CollectionMap* cm = mapping.by_entity_uid(oc.entity_uid);
    if (!cm) return true;
    Op op;
    op.coll = cm;
    op.gid = oc.gid;
    auto action = action_for(*cm, oc);
    if (!action) {
        state.set_error(action.status());
        return false;
    }
    if (*action == OutboundAction::kSkip) return true;
    if (*action == OutboundAction::kDelete) {
        op.remove = true;
        ops.push_back(std::move(op));
        return true;
    }
    op.upsert = *action == OutboundAction::kUpsert;
    UpdateSpec spec;
    std::vector<std::string> skipped;
    Status s = mapping.build_update(*cm, oc, spec, &skipped);
    if (!s) {  // strict conversions: block here until the operator fixes the data or the option
        state.set_error(Status(s.code(), "outbound blocked at server position " +
                                             std::to_string(rec.position) + ", " + cm->collection +
                                             " " + gid_json(oc.gid) + ": " + s.message()));
        return false;
    }
    spec.build(op.update.get());
    for (const auto& why : skipped) {
        state.add_dead_letter(
            {"outbound", cm->collection, gid_json(oc.gid), why, op.update.json(), 0});
    }
    if (op.update.get()->len > kMaxDocumentBytes) {
        Status big(ErrorCode::kMongoTooLarge, "update of " + std::to_string(op.update.get()->len) +
                                                  " bytes is over MongoDB's 16 MiB document limit");
        if (options.strict_to_mongo) {
            state.set_error(big);
            return false;
        }
        state.add_dead_letter(
            {"outbound", cm->collection, gid_json(oc.gid), big.message(), "{}", 0});
        return true;
    }
    if (!op.update.empty()) ops.push_back(std::move(op));
    return true;
}

}  // namespace outpost::mongo
