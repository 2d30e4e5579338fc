// Import: every mapped collection -> server store differences, then the stream continues from the
// point taken before reading.
//
// The start point is the post-batch token of a change stream opened (and closed) before the first
// read. Documents changed while the import reads are read in a state at or after that point, and
// their events are replayed from it afterwards: inserts and replaces carry whole documents and
// updates the fields they set, so replaying them converges on MongoDB's state. While the import
// runs, `mongo:import_pending` holds the start point, so an interrupted import runs again at the
// next start.
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

std::string counts(uint64_t read, uint64_t added, uint64_t updated, uint64_t removed,
                   uint64_t dead) {
    return std::to_string(read) + " documents read; objects " + std::to_string(added) + " added, " +
           std::to_string(updated) + " updated, " + std::to_string(removed) + " removed; " +
           std::to_string(dead) + " dead letters";
}

// The _id of DOC as relaxed extended JSON ("null" when it has none).
std::string id_json(const bson_t* doc) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "_id")) return "null";
    Bson k;
    bson_append_iter(k.get(), "_id", 3, &it);
    return k.json();
}

}  // namespace

// One run of the import, on the calling thread: its counts, progress and log lines.
class Connector::Impl::Importer {
  public:
    using Progress = std::function<void(const ImportProgress&)>;
    Importer(Impl& m, mongoc_client_t* c, bool automatic, std::string reason,
             const Progress& progress)
        : m_(m),
          c_(c),
          reason_(std::move(reason)),
          progress_(progress),
          ncollections_(m.mapping.collections().size()) {
        run_.started_ms = now_ms();
        run_.automatic = automatic;
        run_.reason = reason_;
    }

    Result<ImportStats> run();

  private:
    // The start point, stored as mongo:import_pending while the import runs.
    Status take_start_point();
    // The objects with server changes that MongoDB has not received yet (they are not removed).
    Status read_pending_gids();
    // Estimated totals per collection, for the progress lines.
    void estimate_totals();
    Status import_collection(const CollectionMap& cm);
    // Reads CM's documents into the server store; SEEN gets the global ids MongoDB has.
    Status read_documents(const CollectionMap& cm, std::unordered_set<std::string>& seen);
    // Removes the objects of CM's entity that the collection no longer has.
    Status remove_missing(const CollectionMap& cm, const std::unordered_set<std::string>& seen);
    // Applies CHANGES in one server transaction and counts what the resulting record says changed.
    Status apply(ChangeSet& changes);
    // After the store refused CHANGES as a whole: each by itself, the refused ones as dead letters.
    void apply_one_by_one(const ChangeSet& changes);
    void count_record(const ChangeLogRecord& rec);
    // Stream from the start point from now on.
    Status store_stream_point();
    ImportProgress progress_of(bool collection_finished, bool finished) const;
    // PROGRESS about twice a second, the log at most every kLogProgressSeconds; both at the end of
    // each collection and at the end.
    void report_progress(bool collection_finished, bool finished);
    Result<ImportStats> finish(Status s);
    Status stopped() const { return Status(ErrorCode::kIllegalState, "stopped during the import"); }

    Impl& m_;
    mongoc_client_t* c_;
    const std::string reason_;
    const Progress& progress_;
    const size_t ncollections_;
    ImportRun run_;
    ImportStats stats_;
    SteadyClock::time_point started_ = SteadyClock::now();
    SteadyClock::time_point last_callback_ = started_;
    SteadyClock::time_point last_log_ = started_;
    Bson start_;
    std::string start_raw_;
    uint64_t marker_at_start_ = 0;
    std::unordered_set<std::string> pending_gids_;  // "<entity uid>:<gid>"
    std::vector<uint64_t> estimates_;
    // The collection being read (an index into mapping.collections() and estimates_) and its
    // counts.
    size_t current_ = 0;
    CollectionImportStats* coll_stats_ = nullptr;
};

Result<Bson> Connector::Impl::current_point(mongoc_client_t* c) {
    bson_error_t err;
    detail::DatabasePtr db(mongoc_client_get_database(c, options.database.c_str()));
    Bson cmd = detail::change_stream_command({});
    Bson reply, start;
    bson_destroy(reply.get());
    if (!mongoc_database_read_command_with_opts(db.get(), cmd.get(), nullptr, nullptr, reply.get(),
                                                &err)) {
        return detail::status_from(err, "opening a change stream to take the current point",
                                   reply.get());
    }
    bson_iter_t it, tok;
    int64_t cursor_id = 0;
    if (bson_iter_init(&it, reply.get()) &&
        bson_iter_find_descendant(&it, "cursor.postBatchResumeToken", &tok) &&
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
        return Status(ErrorCode::kMongoDeployment,
                      "the server gave no postBatchResumeToken (MongoDB 4.0.7 or newer needed)");
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

Result<ImportStats> Connector::Impl::import_now(
    mongoc_client_t* c, bool automatic, const std::string& reason,
    const std::function<void(const ImportProgress&)>& progress) {
    return Importer(*this, c, automatic, reason, progress).run();
}

Result<ImportStats> Connector::Impl::Importer::run() {
    m_.state.info("MongoDB import started (" + reason_ + "): reading " +
                  std::to_string(ncollections_) + " mapped collection" +
                  (ncollections_ == 1 ? "" : "s"));
    m_.state.import_started({run_.started_ms, run_.automatic, reason_, ImportProgress{}});
    if (Status s = take_start_point(); !s) return finish(s);
    if (Status s = read_pending_gids(); !s) return finish(s);
    estimate_totals();
    m_.state.import_progress(progress_of(false, false));
    stats_.by_collection.reserve(ncollections_);
    for (current_ = 0; current_ < ncollections_; ++current_) {
        if (m_.wakeup.stopping()) return finish(stopped());
        if (Status s = import_collection(m_.mapping.collections()[current_]); !s) return finish(s);
    }
    current_ = ncollections_ == 0 ? 0 : ncollections_ - 1;
    if (Status s = store_stream_point(); !s) return finish(s);
    report_progress(ncollections_ != 0, true);
    return finish(Status::ok());
}

Status Connector::Impl::Importer::take_start_point() {
    // After this server's marker: outbound transactions up to the marker are before the point.
    OUTPOST_ASSIGN_OR_RETURN(marker_at_start_, m_.read_marker(c_));
    OUTPOST_ASSIGN_OR_RETURN(start_, m_.current_point(c_));
    start_raw_.assign(reinterpret_cast<const char*>(bson_get_data(start_.get())),
                      start_.get()->len);
    return m_.store->write(
        [&](WriteTxn& txn) { return put_meta(txn, kMetaImportPending, start_raw_); });
}

Status Connector::Impl::Importer::read_pending_gids() {
    OUTPOST_ASSIGN_OR_RETURN(uint64_t after, m_.read_marker(c_));
    OUTPOST_ASSIGN_OR_RETURN(auto txn, m_.store->begin_read());
    for (;;) {
        OUTPOST_ASSIGN_OR_RETURN(auto recs, ChangeLog::read(txn, after, 1000, kOrigin));
        if (recs.empty()) return Status::ok();
        for (const auto& rec : recs) {
            after = rec.position;
            if (rec.origin == kOrigin) continue;
            for (const auto& oc : rec.changes.objects) {
                pending_gids_.insert(std::to_string(oc.entity_uid) + ":" + oc.gid);
            }
        }
    }
}

void Connector::Impl::Importer::estimate_totals() {
    for (const auto& cm : m_.mapping.collections()) {
        detail::CollectionPtr coll(
            mongoc_client_get_collection(c_, m_.options.database.c_str(), cm.collection.c_str()));
        bson_error_t err;
        int64_t n =
            mongoc_collection_estimated_document_count(coll.get(), nullptr, nullptr, nullptr, &err);
        estimates_.push_back(n > 0 ? static_cast<uint64_t>(n) : 0);
    }
}

Status Connector::Impl::Importer::import_collection(const CollectionMap& cm) {
    stats_.collections++;
    stats_.by_collection.push_back({cm.collection, 0, 0, 0, 0, 0});
    coll_stats_ = &stats_.by_collection.back();
    m_.state.import_progress(progress_of(false, false));
    std::unordered_set<std::string> seen;
    OUTPOST_RETURN_IF_ERROR(read_documents(cm, seen));
    OUTPOST_RETURN_IF_ERROR(remove_missing(cm, seen));
    m_.state.info("MongoDB import: " + cm.collection + " (" + std::to_string(current_ + 1) + "/" +
                  std::to_string(ncollections_) + ") read: " +
                  counts(coll_stats_->docs_read, coll_stats_->added, coll_stats_->updated,
                         coll_stats_->removed, coll_stats_->dead_letters));
    report_progress(true, false);
    return Status::ok();
}

Status Connector::Impl::Importer::read_documents(const CollectionMap& cm,
                                                 std::unordered_set<std::string>& seen) {
    const ConnectorOptions& options = m_.options;
    detail::CollectionPtr coll(
        mongoc_client_get_collection(c_, options.database.c_str(), cm.collection.c_str()));
    Bson filter, fopts;
    BSON_APPEND_INT32(fopts.get(), "batchSize",
                      static_cast<int32_t>(std::max<size_t>(options.import_batch, 100)));
    detail::CursorPtr cursor(
        mongoc_collection_find_with_opts(coll.get(), filter.get(), fopts.get(), nullptr));
    ChangeSet batch;
    const bson_t* doc;
    while (mongoc_cursor_next(cursor.get(), &doc)) {
        stats_.docs_read++;
        coll_stats_->docs_read++;
        m_.state.count(&ConnectorStatus::import_docs);
        auto ch = m_.mapping.change_from_document(cm, doc);
        if (!ch) {
            std::string key = id_json(doc);
            if (options.strict_from_mongo) {
                return Status(ErrorCode::kMongoMapping,
                              "strict conversions from MongoDB: " + cm.collection + " " + key +
                                  ": " + ch.status().message());
            }
            m_.state.add_dead_letter(
                {"inbound", cm.collection, key, ch.status().message(), detail::to_json(doc), 0});
            stats_.dead_letters++;
            coll_stats_->dead_letters++;
            // Keep the object: a document that exists but cannot be mapped is not a removal.
            bson_iter_t it;
            if (bson_iter_init_find(&it, doc, "_id")) {
                auto g = gid_from_bson(it);
                if (g) seen.insert(*g);
            }
            continue;
        }
        seen.insert(ch->gid);
        batch.objects.push_back(std::move(ch).value());
        if (batch.objects.size() >= options.import_batch) {
            OUTPOST_RETURN_IF_ERROR(apply(batch));
            report_progress(false, false);
            if (m_.wakeup.stopping()) return stopped();
        }
    }
    bson_error_t err;
    const bson_t* ereply;
    if (mongoc_cursor_error_document(cursor.get(), &err, &ereply)) {
        return detail::status_from(err, "reading " + cm.collection, ereply);
    }
    return apply(batch);
}

Status Connector::Impl::Importer::remove_missing(const CollectionMap& cm,
                                                 const std::unordered_set<std::string>& seen) {
    std::vector<Gid> gone;
    {
        OUTPOST_ASSIGN_OR_RETURN(auto txn, m_.store->begin_read());
        OUTPOST_ASSIGN_OR_RETURN(auto box, m_.store->box(cm.entity->name));
        OUTPOST_ASSIGN_OR_RETURN(auto ids, box.ids(txn));
        std::string prefix = std::to_string(cm.entity->id.uid) + ":";
        for (uint64_t id : ids) {
            OUTPOST_ASSIGN_OR_RETURN(auto g, gid_of(txn, box, id));
            if (!g || seen.count(*g) || pending_gids_.count(prefix + *g)) continue;
            gone.push_back(std::move(*g));
        }
    }
    ChangeSet batch;
    for (auto& g : gone) {
        ObjectChange rm;
        rm.kind = ObjectChange::kRemove;
        rm.entity_uid = cm.entity->id.uid;
        rm.gid = std::move(g);
        batch.objects.push_back(std::move(rm));
        if (batch.objects.size() >= m_.options.import_batch) OUTPOST_RETURN_IF_ERROR(apply(batch));
    }
    return apply(batch);
}

Status Connector::Impl::Importer::apply(ChangeSet& changes) {
    if (changes.empty()) return Status::ok();
    uint64_t before = 0;
    Status w = m_.store->write([&](WriteTxn& txn) -> Status {
        OUTPOST_ASSIGN_OR_RETURN(before, ChangeLog::last_position(txn));
        return ChangeLog::apply(txn, changes, kOrigin, ApplyMode::kRecord);
    });
    if (!w) {
        if (m_.options.strict_from_mongo) return w;
        apply_one_by_one(changes);
        changes.objects.clear();
        return Status::ok();
    }
    changes.objects.clear();
    if (m_.on_inbound_commit) m_.on_inbound_commit();
    OUTPOST_ASSIGN_OR_RETURN(auto txn, m_.store->begin_read());
    OUTPOST_ASSIGN_OR_RETURN(auto recs, ChangeLog::read(txn, before, 1));
    if (!recs.empty()) count_record(recs.front());
    return Status::ok();
}

void Connector::Impl::Importer::apply_one_by_one(const ChangeSet& changes) {
    for (const auto& oc : changes.objects) {
        ChangeSet one;
        one.objects.push_back(oc);
        Status w1 = m_.store->write([&](WriteTxn& txn) -> Status {
            return ChangeLog::apply(txn, one, kOrigin, ApplyMode::kRecord);
        });
        if (w1) continue;
        Bson key;
        (void)append_gid(key.get(), "_id", oc.gid);
        const CollectionMap* cm = m_.mapping.by_entity_uid(oc.entity_uid);
        m_.state.add_dead_letter({"inbound", cm ? cm->collection : "?", key.json(), w1.message(),
                                  "{\"import\": true}", 0});
        stats_.dead_letters++;
        coll_stats_->dead_letters++;
    }
}

void Connector::Impl::Importer::count_record(const ChangeLogRecord& rec) {
    for (const auto& oc : rec.changes.objects) {
        if (oc.kind == ObjectChange::kRemove) {
            stats_.removed++;
            coll_stats_->removed++;
        } else if (oc.is_new) {
            stats_.added++;
            coll_stats_->added++;
        } else {
            stats_.updated++;
            coll_stats_->updated++;
        }
    }
    m_.state.count(&ConnectorStatus::inbound_txns);
}

Status Connector::Impl::Importer::store_stream_point() {
    Status s = m_.store->write([&](WriteTxn& txn) -> Status {
        OUTPOST_RETURN_IF_ERROR(put_meta(txn, kMetaResumeToken, start_raw_));
        OUTPOST_RETURN_IF_ERROR(put_meta(txn, kMetaOwnSeen, std::to_string(marker_at_start_)));
        return remove_meta(txn, kMetaImportPending);
    });
    if (s) m_.state.set_resume_token(start_.get());
    return s;
}

ImportProgress Connector::Impl::Importer::progress_of(bool collection_finished,
                                                      bool finished) const {
    ImportProgress p;
    p.collections = ncollections_;
    p.collection_finished = collection_finished;
    p.finished = finished;
    // Collections read count what they had; the one being read its estimate (or more); the others
    // their estimates.
    uint64_t total = stats_.docs_read;
    size_t next = 0;
    if (coll_stats_) {
        p.collection = coll_stats_->collection;
        p.collection_index = current_ + 1;
        p.collection_docs_done = coll_stats_->docs_read;
        p.collection_docs_total = collection_finished || finished
                                      ? coll_stats_->docs_read
                                      : std::max(estimates_[current_], coll_stats_->docs_read);
        total += p.collection_docs_total - p.collection_docs_done;
        next = current_ + 1;
    }
    if (!finished) {
        for (size_t i = next; i < estimates_.size(); ++i) total += estimates_[i];
    }
    p.docs_done = stats_.docs_read;
    p.docs_total = total;
    double secs = seconds_since(started_);
    p.docs_per_s = secs > 0 ? static_cast<double>(stats_.docs_read) / secs : 0;
    p.eta_seconds =
        p.docs_per_s > 0 ? static_cast<double>(p.docs_total - p.docs_done) / p.docs_per_s : 0;
    return p;
}

void Connector::Impl::Importer::report_progress(bool collection_finished, bool finished) {
    bool always = collection_finished || finished;
    m_.state.import_progress(progress_of(collection_finished, finished));
    if (progress_ && (always || seconds_since(last_callback_) >= 0.5)) {
        last_callback_ = SteadyClock::now();
        progress_(progress_of(collection_finished, finished));
    }
    if (!always && seconds_since(last_log_) >= kLogProgressSeconds) {
        last_log_ = SteadyClock::now();
        m_.state.info("MongoDB " + format_progress(progress_of(false, false)));
    }
}

Result<ImportStats> Connector::Impl::Importer::finish(Status s) {
    run_.finished_ms = now_ms();
    stats_.seconds = seconds_since(started_);
    stats_.docs_per_s =
        stats_.seconds > 0 ? static_cast<double>(stats_.docs_read) / stats_.seconds : 0;
    run_.stats = stats_;
    char took[64];
    std::snprintf(took, sizeof took, "%.1f s", stats_.seconds);
    std::string summary =
        std::to_string(stats_.collections) + " collections, " +
        counts(stats_.docs_read, stats_.added, stats_.updated, stats_.removed, stats_.dead_letters);
    if (s) {
        char rate[64];
        std::snprintf(rate, sizeof rate, "%.0f docs/s", stats_.docs_per_s);
        m_.state.info("MongoDB import finished (" + reason_ + ") in " + took + ", " + rate + ": " +
                      summary);
    } else {
        run_.error = s.to_string();
        m_.state.set_last_error(run_.error);
        m_.state.warn("MongoDB import failed (" + reason_ + ") after " + took + ": " + run_.error +
                      "; until then " + summary);
    }
    m_.state.add_import_run(run_);
    if (!s) return s;
    return stats_;
}

}  // namespace outpost::mongo
