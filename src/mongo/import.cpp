// Import: every mapped collection -> server store differences, then the stream continues from the
// point taken before reading.
//
// The start point is the post-batch token of a change stream opened (and closed) before the first
// read. Documents changed while the import reads are read in a state at or after that point, and their
// events are replayed from it afterwards: inserts and replaces carry whole documents and updates the
// fields they set, so replaying them converges on MongoDB's state. While the import runs,
// `mongo:import_pending` holds the start point, so an interrupted import runs again at the next start.
#include <chrono>
#include <cstdio>
#include <unordered_map>
#include <unordered_set>

#include "mongo/change_stream.hpp"
#include "mongo/connector_impl.hpp"

namespace outpost::mongo {

using detail::Bson;

namespace {

using SteadyClock = std::chrono::steady_clock;

// Progress lines in the log at most this often (the PROGRESS callback gets them twice a second).
constexpr double kLogProgressSeconds = 5.0;

double seconds_since(SteadyClock::time_point t) {
    return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

}  // namespace

Result<Bson> Connector::Impl::current_point(mongoc_client_t* c) {
    bson_error_t err;
    detail::DatabasePtr db(mongoc_client_get_database(c, options.database.c_str()));
    Bson cmd = detail::change_stream_command({});
    Bson reply, start;
    bson_destroy(reply.get());
    if (!mongoc_database_read_command_with_opts(db.get(), cmd.get(), nullptr, nullptr, reply.get(), &err)) {
        return detail::status_from(err, "opening a change stream to take the current point", reply.get());
    }
    bson_iter_t it, tok;
    int64_t cursor_id = 0;
    if (bson_iter_init(&it, reply.get()) && bson_iter_find_descendant(&it, "cursor.postBatchResumeToken", &tok) &&
        BSON_ITER_HOLDS_DOCUMENT(&tok)) {
        uint32_t len;
        const uint8_t* data;
        bson_iter_document(&tok, &len, &data);
        bson_t view;
        if (bson_init_static(&view, data, len)) start = Bson::copy_of(&view);
    }
    if (bson_iter_init(&it, reply.get()) && bson_iter_find_descendant(&it, "cursor.id", &tok) &&
        BSON_ITER_HOLDS_NUMBER(&tok)) {
        cursor_id = bson_iter_as_int64(&tok);
    }
    if (cursor_id != 0) detail::kill_aggregate_cursor(db.get(), cursor_id, nullptr);
    if (start.empty()) {
        return Status(ErrorCode::kMongoDeployment, "the server gave no postBatchResumeToken (MongoDB 4.0.7 or newer needed)");
    }
    return start;
}

void Connector::Impl::serve_import_request(mongoc_client_t* c) {
    auto progress = import_requests.take();
    if (!progress) return;
    Result<ImportStats> r = Status(ErrorCode::kInternal, "not run");
    {
        MutexLock run(import_run_mutex);
        r = import_now(c, false, "requested", *progress);
    }
    import_requests.complete(std::move(r));
}

Result<ImportStats> Connector::Impl::import_now(mongoc_client_t* c, bool automatic, const std::string& reason,
                                                const std::function<void(const ImportProgress&)>& progress) {
    ImportRun run;
    run.started_ms = now_ms();
    run.automatic = automatic;
    run.reason = reason;
    auto started = SteadyClock::now();
    ImportStats stats;
    const size_t ncollections = mapping.collections().size();
    state.info("MongoDB import started (" + reason + "): reading " + std::to_string(ncollections) +
         " mapped collection" + (ncollections == 1 ? "" : "s"));
    auto counts = [](uint64_t read, uint64_t added, uint64_t updated, uint64_t removed, uint64_t dead) {
        return std::to_string(read) + " documents read; objects " + std::to_string(added) + " added, " +
               std::to_string(updated) + " updated, " + std::to_string(removed) + " removed; " +
               std::to_string(dead) + " dead letters";
    };
    auto finish = [&](Status s) -> Result<ImportStats> {
        run.finished_ms = now_ms();
        stats.seconds = seconds_since(started);
        stats.docs_per_s = stats.seconds > 0 ? static_cast<double>(stats.docs_read) / stats.seconds : 0;
        run.stats = stats;
        char took[64];
        std::snprintf(took, sizeof took, "%.1f s", stats.seconds);
        std::string summary = std::to_string(stats.collections) + " collections, " +
                              counts(stats.docs_read, stats.added, stats.updated, stats.removed, stats.dead_letters);
        if (s) {
            char rate[64];
            std::snprintf(rate, sizeof rate, "%.0f docs/s", stats.docs_per_s);
            state.info("MongoDB import finished (" + reason + ") in " + took + ", " + rate + ": " + summary);
        } else {
            run.error = s.to_string();
            state.set_last_error(run.error);
            state.warn("MongoDB import failed (" + reason + ") after " + took + ": " + run.error + "; until then " +
                   summary);
        }
        state.add_import_run(run);
        if (!s) return s;
        return stats;
    };
    bson_error_t err;
    detail::DatabasePtr db(mongoc_client_get_database(c, options.database.c_str()));

    // 1. The start point, after this server's marker: outbound transactions up to the marker are
    // before the point.
    auto marker_before = read_marker(c);
    if (!marker_before) return finish(marker_before.status());
    auto point = current_point(c);
    if (!point) return finish(point.status());
    Bson start = std::move(point).value();
    std::string start_raw(reinterpret_cast<const char*>(bson_get_data(start.get())), start.get()->len);
    Status s = store->write([&](WriteTxn& txn) { return put_meta(txn, kMetaImportPending, start_raw); });
    if (!s) return finish(s);

    // Objects with server changes that MongoDB has not received yet are not removed.
    std::unordered_set<std::string> pending_gids;
    uint64_t marker_at_start = *marker_before;
    {
        auto marker = read_marker(c);
        if (!marker) return finish(marker.status());
        auto txn = store->begin_read();
        if (!txn) return finish(txn.status());
        uint64_t after = *marker;
        for (;;) {
            auto recs = ChangeLog::read(*txn, after, 1000, kOrigin);
            if (!recs) return finish(recs.status());
            if (recs->empty()) break;
            for (const auto& rec : *recs) {
                after = rec.position;
                if (rec.origin == kOrigin) continue;
                for (const auto& oc : rec.changes.objects) pending_gids.insert(std::to_string(oc.entity_uid) + ":" + oc.gid);
            }
        }
    }

    // 2. Estimated totals for the progress lines, per collection and in all.
    std::vector<uint64_t> estimates;
    for (const auto& cm : mapping.collections()) {
        detail::CollectionPtr coll(mongoc_client_get_collection(c, options.database.c_str(), cm.collection.c_str()));
        int64_t n = mongoc_collection_estimated_document_count(coll.get(), nullptr, nullptr, nullptr, &err);
        estimates.push_back(n > 0 ? static_cast<uint64_t>(n) : 0);
    }
    // The collection being read (an index into mapping.collections() and estimates) and its counts.
    size_t current = 0;
    CollectionImportStats* coll_stats = nullptr;
    auto progress_of = [&](bool collection_finished, bool finished) {
        ImportProgress p;
        p.collections = ncollections;
        p.collection_finished = collection_finished;
        p.finished = finished;
        // Collections read count what they had; the one being read its estimate (or more); the
        // others their estimates.
        uint64_t total = stats.docs_read;
        size_t next = 0;
        if (coll_stats) {
            p.collection = coll_stats->collection;
            p.collection_index = current + 1;
            p.collection_docs_done = coll_stats->docs_read;
            p.collection_docs_total = collection_finished || finished
                                          ? coll_stats->docs_read
                                          : std::max(estimates[current], coll_stats->docs_read);
            total += p.collection_docs_total - p.collection_docs_done;
            next = current + 1;
        }
        if (!finished) {
            for (size_t i = next; i < estimates.size(); ++i) total += estimates[i];
        }
        p.docs_done = stats.docs_read;
        p.docs_total = total;
        double secs = seconds_since(started);
        p.docs_per_s = secs > 0 ? static_cast<double>(stats.docs_read) / secs : 0;
        p.eta_seconds = p.docs_per_s > 0 ? static_cast<double>(p.docs_total - p.docs_done) / p.docs_per_s : 0;
        return p;
    };
    // PROGRESS about twice a second, the log at most every kLogProgressSeconds; both at the end of
    // each collection and at the end.
    auto last_callback = SteadyClock::now();
    auto last_log = SteadyClock::now();
    auto report_progress = [&](bool collection_finished, bool finished) {
        bool always = collection_finished || finished;
        if (progress && (always || seconds_since(last_callback) >= 0.5)) {
            last_callback = SteadyClock::now();
            progress(progress_of(collection_finished, finished));
        }
        if (!always && seconds_since(last_log) >= kLogProgressSeconds) {
            last_log = SteadyClock::now();
            state.info("MongoDB " + format_progress(progress_of(false, false)));
        }
    };

    // Applies CHANGES in one server transaction and counts what the resulting record says changed.
    auto apply = [&](ChangeSet& changes) -> Status {
        if (changes.empty()) return Status::ok();
        uint64_t before = 0;
        Status w = store->write([&](WriteTxn& txn) -> Status {
            OUTPOST_ASSIGN_OR_RETURN(before, ChangeLog::last_position(txn));
            return ChangeLog::apply(txn, changes, kOrigin, ApplyMode::kRecord);
        });
        if (!w) {
            if (options.strict_from_mongo) return w;
            // Apply one by one; the ones the store refuses become dead letters.
            for (auto& oc : changes.objects) {
                ChangeSet one;
                one.objects.push_back(oc);
                uint64_t b1 = 0;
                Status w1 = store->write([&](WriteTxn& txn) -> Status {
                    OUTPOST_ASSIGN_OR_RETURN(b1, ChangeLog::last_position(txn));
                    return ChangeLog::apply(txn, one, kOrigin, ApplyMode::kRecord);
                });
                if (!w1) {
                    Bson key;
                    (void)append_gid(key.get(), "_id", oc.gid);
                    const CollectionMap* cm = mapping.by_entity_uid(oc.entity_uid);
                    state.add_dead_letter({"inbound", cm ? cm->collection : "?", key.json(), w1.message(), "{\"import\": true}", 0});
                    stats.dead_letters++;
                    coll_stats->dead_letters++;
                }
            }
            changes.objects.clear();
            return Status::ok();
        }
        changes.objects.clear();
        if (on_inbound_commit) on_inbound_commit();
        auto txn = store->begin_read();
        if (!txn) return txn.status();
        OUTPOST_ASSIGN_OR_RETURN(auto recs, ChangeLog::read(*txn, before, 1));
        if (!recs.empty()) {
            for (const auto& oc : recs.front().changes.objects) {
                if (oc.kind == ObjectChange::kRemove) {
                    stats.removed++;
                    coll_stats->removed++;
                } else if (oc.is_new) {
                    stats.added++;
                    coll_stats->added++;
                } else {
                    stats.updated++;
                    coll_stats->updated++;
                }
            }
            state.count(&ConnectorStatus::inbound_txns);
        }
        return Status::ok();
    };

    // 3. Read every collection; apply in batches.
    stats.by_collection.reserve(ncollections);
    for (current = 0; current < ncollections; ++current) {
        const CollectionMap& cm = mapping.collections()[current];
        if (wakeup.stopping()) return finish(Status(ErrorCode::kIllegalState, "stopped during the import"));
        stats.collections++;
        stats.by_collection.push_back({cm.collection, 0, 0, 0, 0, 0});
        coll_stats = &stats.by_collection.back();
        std::unordered_set<std::string> seen;
        detail::CollectionPtr coll(mongoc_client_get_collection(c, options.database.c_str(), cm.collection.c_str()));
        Bson filter, fopts;
        BSON_APPEND_INT32(fopts.get(), "batchSize", static_cast<int32_t>(std::max<size_t>(options.import_batch, 100)));
        detail::CursorPtr cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), fopts.get(), nullptr));
        ChangeSet batch;
        const bson_t* doc;
        while (mongoc_cursor_next(cursor.get(), &doc)) {
            stats.docs_read++;
            coll_stats->docs_read++;
            auto ch = mapping.change_from_document(cm, doc);
            if (!ch) {
                bson_iter_t it;
                std::string key = "null";
                if (bson_iter_init_find(&it, doc, "_id")) {
                    Bson k;
                    bson_append_iter(k.get(), "_id", 3, &it);
                    key = k.json();
                }
                if (options.strict_from_mongo) {
                    return finish(Status(ErrorCode::kMongoMapping, "strict conversions from MongoDB: " + cm.collection +
                                                                      " " + key + ": " + ch.status().message()));
                }
                state.add_dead_letter({"inbound", cm.collection, key, ch.status().message(), detail::to_json(doc), 0});
                stats.dead_letters++;
                coll_stats->dead_letters++;
                // Keep the object: a document that exists but cannot be mapped is not a removal.
                if (bson_iter_init_find(&it, doc, "_id")) {
                    auto g = gid_from_bson(it);
                    if (g) seen.insert(*g);
                }
                continue;
            }
            seen.insert(ch->gid);
            batch.objects.push_back(std::move(ch).value());
            if (batch.objects.size() >= options.import_batch) {
                s = apply(batch);
                if (!s) return finish(s);
                report_progress(false, false);
                if (wakeup.stopping()) return finish(Status(ErrorCode::kIllegalState, "stopped during the import"));
            }
        }
        const bson_t* ereply;
        if (mongoc_cursor_error_document(cursor.get(), &err, &ereply)) {
            return finish(detail::status_from(err, "reading " + cm.collection, ereply));
        }
        s = apply(batch);
        if (!s) return finish(s);
        // Removals: objects the collection no longer has.
        std::vector<Gid> gone;
        {
            auto txn = store->begin_read();
            if (!txn) return finish(txn.status());
            auto box = store->box(cm.entity->name);
            if (!box) return finish(box.status());
            auto ids = box->ids(*txn);
            if (!ids) return finish(ids.status());
            std::string prefix = std::to_string(cm.entity->id.uid) + ":";
            for (uint64_t id : *ids) {
                auto g = gid_of(*txn, *box, id);
                if (!g) return finish(g.status());
                if (!*g || seen.count(**g) || pending_gids.count(prefix + **g)) continue;
                gone.push_back(std::move(**g));
            }
        }
        for (auto& g : gone) {
            ObjectChange rm;
            rm.kind = ObjectChange::kRemove;
            rm.entity_uid = cm.entity->id.uid;
            rm.gid = std::move(g);
            batch.objects.push_back(std::move(rm));
            if (batch.objects.size() >= options.import_batch) {
                s = apply(batch);
                if (!s) return finish(s);
            }
        }
        s = apply(batch);
        if (!s) return finish(s);
        state.info("MongoDB import: " + cm.collection + " (" + std::to_string(current + 1) + "/" +
             std::to_string(ncollections) + ") read: " +
             counts(coll_stats->docs_read, coll_stats->added, coll_stats->updated, coll_stats->removed,
                    coll_stats->dead_letters));
        report_progress(true, false);
    }
    current = ncollections == 0 ? 0 : ncollections - 1;

    // 4. Stream from the start point from now on.
    s = store->write([&](WriteTxn& txn) -> Status {
        OUTPOST_RETURN_IF_ERROR(put_meta(txn, kMetaResumeToken, start_raw));
        OUTPOST_RETURN_IF_ERROR(put_meta(txn, kMetaOwnSeen, std::to_string(marker_at_start)));
        return remove_meta(txn, kMetaImportPending);
    });
    if (!s) return finish(s);
    state.set_resume_token(start.get());
    report_progress(ncollections != 0, true);
    return finish(Status::ok());
}

}  // namespace outpost::mongo
