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

#include "mongo/connector_impl.hpp"

namespace outpost::mongo {

using detail::Bson;

namespace {

constexpr uint32_t kFullBatchBytes = 8u * 1024 * 1024;
// Origin of removals that came from MongoDB but must be written there again (see filter_pending).
constexpr const char* kOriginRedeliver = "mongo-delete";

// A change event: a view into the getMore reply while that batch is processed; events kept for the
// next batch own a copy.
struct Event {
    const uint8_t* data = nullptr;
    uint32_t len = 0;
    std::shared_ptr<std::vector<uint8_t>> owned;
    void own() {
        owned = std::make_shared<std::vector<uint8_t>>(data, data + len);
        data = owned->data();
    }
    std::string txn_key;  // lsid.id bytes + txnNumber; empty outside transactions
    int64_t marker_position = -1;  // this server's marker event: the outbound position it wrote
    std::string op;
    std::string coll;
    bool own_marker = false;
};

struct View {
    bson_t b;
    explicit View(const Event& e) { bson_init_static(&b, e.data, e.len); }
    const bson_t* get() const { return &b; }
};

struct Mapped {
    ObjectChange change;
    size_t event = 0;
    uint64_t own_seen = 0;  // the outbound position the stream had passed at this event
};

// Server changes that have not reached MongoDB before the events of a batch, per object: a MongoDB
// change of the same field (or of an object the server removed) is older in MongoDB's order than the
// server's, which the outbound writer writes after it, so the server's value stays (MongoDB's order
// decides, and both sides end equal). A MongoDB delete always applies (a delete beats an update).
struct PendingObject {
    uint64_t removed = 0;  // newest position of a removal, 0 when none
    std::unordered_map<uint64_t, uint64_t> properties;  // property uid -> newest position
    std::unordered_map<uint64_t, uint64_t> relations;   // relation uid -> newest position
};

// SKIPPABLE becomes the end of the run of records after the earliest own_seen that all came from
// MongoDB: they never reach MongoDB, so the stream may count them as passed.
// REDELIVER (may be null) gets the MongoDB deletes of objects with pending server puts: the outbound
// upsert would bring the document back after the delete, so the removal must go to MongoDB again.
Status filter_pending(Txn& txn, std::vector<Mapped>& changes, uint64_t* dropped, uint64_t* skippable,
                      std::vector<ObjectChange>* redeliver = nullptr) {
    if (changes.empty()) return Status::ok();
    uint64_t from = changes.front().own_seen;
    for (const auto& m : changes) from = std::min(from, m.own_seen);
    std::unordered_map<std::string, PendingObject> pending;
    bool only_mongo = true;
    for (uint64_t after = from;;) {
        OUTPOST_ASSIGN_OR_RETURN(auto recs, ChangeLog::read(txn, after, 1000));
        if (recs.empty()) break;
        for (const auto& rec : recs) {
            after = rec.position;
            if (rec.origin == kOrigin) {
                if (only_mongo) *skippable = std::max(*skippable, rec.position);
                continue;
            }
            only_mongo = false;
            for (const auto& oc : rec.changes.objects) {
                PendingObject& p = pending[std::to_string(oc.entity_uid) + ":" + oc.gid];
                if (oc.kind == ObjectChange::kRemove) {
                    p.removed = rec.position;
                    continue;
                }
                for (const auto& pc : oc.properties) p.properties[pc.property_uid] = rec.position;
                for (const auto& tc : oc.to_many) p.relations[tc.relation_uid] = rec.position;
            }
        }
    }
    if (pending.empty()) return Status::ok();
    std::vector<Mapped> kept;
    kept.reserve(changes.size());
    for (auto& m : changes) {
        auto it = pending.find(std::to_string(m.change.entity_uid) + ":" + m.change.gid);
        if (it == pending.end()) {
            kept.push_back(std::move(m));
            continue;
        }
        const PendingObject& p = it->second;
        if (m.change.kind == ObjectChange::kRemove) {
            bool puts_pending = false;
            for (const auto& [uid, pos] : p.properties) puts_pending |= pos > m.own_seen;
            for (const auto& [uid, pos] : p.relations) puts_pending |= pos > m.own_seen;
            if (puts_pending && p.removed <= m.own_seen && redeliver) redeliver->push_back(m.change);
            kept.push_back(std::move(m));
            continue;
        }
        if (p.removed > m.own_seen) {
            ++*dropped;
            continue;
        }
        std::erase_if(m.change.properties, [&](const PropertyChange& pc) {
            auto f = p.properties.find(pc.property_uid);
            return f != p.properties.end() && f->second > m.own_seen;
        });
        std::erase_if(m.change.to_many, [&](const ToManyChange& tc) {
            auto f = p.relations.find(tc.relation_uid);
            return f != p.relations.end() && f->second > m.own_seen;
        });
        if (m.change.properties.empty() && m.change.to_many.empty()) {
            ++*dropped;
            continue;
        }
        kept.push_back(std::move(m));
    }
    changes = std::move(kept);
    return Status::ok();
}

std::string utf8_at(const bson_t* doc, const char* path) {
    bson_iter_t it, d;
    if (bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, path, &d) && BSON_ITER_HOLDS_UTF8(&d)) {
        return bson_iter_utf8(&d, nullptr);
    }
    return {};
}

std::string sub_json(const bson_t* doc, const char* key) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key)) return "null";
    if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
        uint32_t len;
        const uint8_t* data;
        bson_iter_document(&it, &len, &data);
        if (BSON_ITER_HOLDS_ARRAY(&it)) bson_iter_array(&it, &len, &data);
        bson_t sub;
        if (bson_init_static(&sub, data, len)) return detail::to_json(&sub);
    }
    Bson one;
    bson_append_iter(one.get(), key, -1, &it);
    return one.json();
}

bool sub_doc(const bson_t* doc, const char* key, bson_t* out) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_DOCUMENT(&it)) return false;
    uint32_t len;
    const uint8_t* data;
    bson_iter_document(&it, &len, &data);
    return bson_init_static(out, data, len);
}

Event parse_event(const bson_t* raw, const std::string& marker_id) {
    Event e;
    e.data = bson_get_data(raw);
    e.len = raw->len;
    const bson_t* d = raw;
    e.op = utf8_at(d, "operationType");
    e.coll = utf8_at(d, "ns.coll");
    bson_iter_t it, id;
    if (bson_iter_init(&it, d) && bson_iter_find_descendant(&it, "lsid.id", &id) && BSON_ITER_HOLDS_BINARY(&id)) {
        bson_subtype_t st;
        uint32_t len;
        const uint8_t* data;
        bson_iter_binary(&id, &st, &len, &data);
        e.txn_key.assign(reinterpret_cast<const char*>(data), len);
        bson_iter_t tn;
        if (bson_iter_init_find(&tn, d, "txnNumber") && BSON_ITER_HOLDS_NUMBER(&tn)) {
            int64_t n = bson_iter_as_int64(&tn);
            e.txn_key.append(reinterpret_cast<const char*>(&n), 8);
        }
    }
    if (!e.txn_key.empty() && e.coll == kMetaCollection && utf8_at(d, "documentKey._id") == marker_id) {
        e.own_marker = true;
        bson_iter_t p;
        if ((bson_iter_init(&p, d) && bson_iter_find_descendant(&p, "fullDocument.position", &id) &&
             BSON_ITER_HOLDS_NUMBER(&id)) ||
            (bson_iter_init(&p, d) && bson_iter_find_descendant(&p, "updateDescription.updatedFields.position", &id) &&
             BSON_ITER_HOLDS_NUMBER(&id))) {
            e.marker_position = bson_iter_as_int64(&id);
        }
    }
    return e;
}

// The _id of a change event (its resume token).
Bson event_token(const bson_t* ev) {
    Bson t;
    bson_t sub;
    if (sub_doc(ev, "_id", &sub)) bson_concat(t.get(), &sub);
    return t;
}

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
    Bson last_saved;
    if (token) last_saved = *token;
    int64_t cursor_id = 0;

    // Applies one batch (events under BATCH_KEY of REPLY's cursor) and its post-batch token.
    auto process = [&](const bson_t* r, const char* batch_key) -> Status {
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
        if (events.empty() && bson_equal(commit_token.get(), last_saved.get())) return Status::ok();

        // Map the events, group by transaction, skip this server's own.
        std::vector<std::vector<Mapped>> groups;
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
                add_dead_letter({"inbound", e.coll, sub_json(d, "documentKey"), why.message(), detail::to_json(d), 0});
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
            bson_iter_t kit, idit;
            if (!bson_iter_init(&kit, d) || !bson_iter_find_descendant(&kit, "documentKey._id", &idit)) {
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
                if (!sub_doc(d, "fullDocument", &full)) {
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
                if (!sub_doc(d, "updateDescription", &desc)) {
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

        bool changed = false;
        uint64_t superseded = 0, skippable = 0;
        auto apply_all = [&](WriteTxn& txn) -> Status {
            // Groups are whole MongoDB transactions; the batch's groups commit together.
            std::vector<Mapped> all;
            for (const auto& g : groups) {
                for (const auto& m : g) all.push_back(m);
            }
            superseded = 0;
            OUTPOST_ASSIGN_OR_RETURN(uint64_t before, ChangeLog::last_position(txn));
            OUTPOST_RETURN_IF_ERROR(filter_pending(txn, all, &superseded, &skippable));
            own_seen = std::max(own_seen, skippable);
            ChangeSet cs;
            for (auto& m : all) cs.objects.push_back(std::move(m.change));
            if (!cs.empty()) {
                OUTPOST_RETURN_IF_ERROR(ChangeLog::apply(txn, cs, kOrigin, ApplyMode::kRecord));
                changed = true;
            }
            if (own_seen >= before) {
                // Nothing pending: this transaction's own record never goes to MongoDB either.
                OUTPOST_ASSIGN_OR_RETURN(own_seen, ChangeLog::last_position(txn));
            }
            OUTPOST_RETURN_IF_ERROR(put_meta(txn, kMetaOwnSeen, std::to_string(own_seen)));
            return put_meta(txn, kMetaResumeToken,
                            std::string_view(reinterpret_cast<const char*>(bson_get_data(commit_token.get())),
                                             commit_token.get()->len));
        };
        // MongoDB deletes that a pending outbound upsert would undo are recorded first under an origin
        // the outbound writer does not skip, so the delete reaches MongoDB after the upsert.
        Status s = store->write([&](WriteTxn& txn) -> Status {
            std::vector<Mapped> all;
            for (const auto& g : groups) {
                for (const auto& m : g) {
                    if (m.change.kind == ObjectChange::kRemove) all.push_back(m);
                }
            }
            std::vector<ObjectChange> redeliver;
            uint64_t ignored = 0, ignored2 = 0;
            OUTPOST_RETURN_IF_ERROR(filter_pending(txn, all, &ignored, &ignored2, &redeliver));
            if (redeliver.empty()) return Status::ok();
            ChangeSet cs;
            cs.objects = std::move(redeliver);
            return ChangeLog::apply(txn, cs, kOriginRedeliver, ApplyMode::kRecord);
        });
        if (s) s = store->write(apply_all);
        if (!s && s.code() != ErrorCode::kStorage && s.code() != ErrorCode::kStorageFull) {
            // A change the store refuses (a unique value taken, ...): apply the others one by one.
            if (options.strict_from_mongo) {
                return Status(ErrorCode::kMongoMapping, "strict conversions from MongoDB: " + s.message());
            }
            changed = false;
            for (const auto& g : groups) {
                for (const auto& m : g) {
                    Status one = store->write([&](WriteTxn& txn) -> Status {
                        std::vector<Mapped> single = {m};
                        OUTPOST_RETURN_IF_ERROR(filter_pending(txn, single, &superseded, &skippable));
                        if (single.empty()) return Status::ok();
                        ChangeSet cs;
                        cs.objects.push_back(std::move(single.front().change));
                        return ChangeLog::apply(txn, cs, kOrigin, ApplyMode::kRecord);
                    });
                    if (one) {
                        changed = true;
                    } else {
                        const Event& e = events[m.event];
                        View v(e);
                        add_dead_letter({"inbound", e.coll, sub_json(v.get(), "documentKey"), one.message(),
                                         detail::to_json(v.get()), 0});
                    }
                }
            }
            groups.clear();
            s = store->write(apply_all);
        }
        if (!s) return s;
        last_saved = commit_token;
        set_resume_token(commit_token.get());
        {
            std::lock_guard<std::mutex> lock(status_mutex);
            if (changed) st.inbound_txns++;
            st.inbound_events += applied_events;
            st.echoes_skipped += echoes;
        }
        if (changed && on_inbound_commit) on_inbound_commit();
        return Status::ok();
    };

    Status result = process(reply.get(), "firstBatch");
    int32_t code = 0;
    while (result && cursor_id != 0 && !stopping.load()) {
        {
            std::lock_guard<std::mutex> lock(import_mutex);
            if (import_requested && !import_result) break;
        }
        Bson more;
        BSON_APPEND_INT64(more.get(), "getMore", cursor_id);
        BSON_APPEND_UTF8(more.get(), "collection", "$cmd.aggregate");
        BSON_APPEND_INT64(more.get(), "maxTimeMS", options.max_await_ms);
        Bson r;
        bson_destroy(r.get());
        if (!mongoc_database_read_command_with_opts(db.get(), more.get(), nullptr, opts.get(), r.get(), &err)) {
            code = static_cast<int32_t>(err.code);
            if (code == 286 || code == 280 || code == 260) {
                result = Status(ErrorCode::kMongoHistoryLost,
                                std::string("the change stream cannot continue: ") + err.message, code);
            } else {
                result = detail::status_from(err, "reading the change stream", r.get());
            }
            cursor_id = 0;  // a failed getMore leaves no cursor worth killing
            break;
        }
        result = process(r.get(), "nextBatch");
    }
    if (cursor_id != 0) {
        Bson kill, r;
        BSON_APPEND_UTF8(kill.get(), "killCursors", "$cmd.aggregate");
        bson_t ids;
        BSON_APPEND_ARRAY_BEGIN(kill.get(), "cursors", &ids);
        BSON_APPEND_INT64(&ids, "0", cursor_id);
        bson_append_array_end(kill.get(), &ids);
        bson_destroy(r.get());
        (void)mongoc_database_command_with_opts(db.get(), kill.get(), nullptr, opts.get(), r.get(), &err);
    }
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
        bool need_import = false;
        {
            auto txn = store->begin_read();
            if (txn) {
                auto pending = get_meta(*txn, kMetaImportPending);
                auto tok = get_meta(*txn, kMetaResumeToken);
                if (pending && *pending) need_import = true;  // an import was interrupted
                if (first && options.automatic_initial_import && tok && !*tok) need_import = true;
            }
        }
        first = false;
        if (need_import) {
            std::lock_guard<std::mutex> run(import_run_mutex);
            auto r = import_now(c->get(), true, nullptr);
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
            auto r = import_now(c->get(), true, nullptr);
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
