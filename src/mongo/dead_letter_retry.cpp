// Dead letters: listing, discarding and retrying them (Connector's public methods).
//
// A retry runs on the caller's thread beside the connector's threads: the inbound one reads the
// document now and applies it as the stream would (apply_stream_batch: server changes that have
// not reached MongoDB yet win over it), with the letter's removal in the same server transaction;
// the outbound one writes the object's whole current state with upsert, outside the outbound
// writer's transactions (so its change event comes back as an ordinary inbound update of equal
// values).
#include "mongo/connector_impl.hpp"
#include "mongo/dead_letters.hpp"
#include "mongo/inbound_pending.hpp"

namespace outpost::mongo {

using detail::Bson;

namespace {

constexpr size_t kMaxDocumentBytes = 16u * 1024 * 1024;

Status still_fails(const std::string& why) { return Status(ErrorCode::kMongoMapping, why); }

// The _id of a letter's document key (relaxed extended JSON of {_id: ...}) as a GID.
Result<Gid> gid_of_key(const DeadLetter& d) {
    auto key = Bson::from_json(d.document_key);
    if (!key) return still_fails("the document key " + d.document_key + " is not extended JSON");
    bson_iter_t it;
    if (!bson_iter_init_find(&it, key->get(), "_id"))
        return still_fails("the document key " + d.document_key + " has no _id");
    return gid_from_bson(it);
}

// Object ID's state as a new object's put (every non-null property; relations by target GID;
// to-many lists), so that build_update sets every mapped field.
Result<ObjectChange> object_state(Store& store, Txn& txn, const Entity& e, DynamicBox& box,
                                  uint64_t id, const Gid& gid) {
    OUTPOST_ASSIGN_OR_RETURN(auto obj, box.get(txn, id));
    ObjectChange c;
    c.kind = ObjectChange::kPut;
    c.entity_uid = e.id.uid;
    c.gid = gid;
    c.is_new = true;
    if (!obj) return c;
    for (size_t i = 0; i < e.properties.size(); ++i) {
        const Property& p = e.properties[i];
        const Value& v = obj->values()[i];
        if (p.has(kFlagId) || v.is_null()) continue;
        PropertyChange pc{p.id.uid, v};
        if (p.type == PropertyType::kRelation) {
            if (!v.is<int64_t>() || v.as<int64_t>() == 0) continue;
            OUTPOST_ASSIGN_OR_RETURN(DynamicBox target, store.box(p.target));
            OUTPOST_ASSIGN_OR_RETURN(auto tgid,
                                     gid_of(txn, target, static_cast<uint64_t>(v.as<int64_t>())));
            if (!tgid) continue;
            pc.value = Value(Bytes(tgid->begin(), tgid->end()));
        }
        c.properties.push_back(std::move(pc));
    }
    for (size_t r = 0; r < e.relations.size(); ++r) {
        const Relation& rel = e.relations[r];
        OUTPOST_ASSIGN_OR_RETURN(auto targets, box.get_to_many(txn, static_cast<int>(r), id));
        OUTPOST_ASSIGN_OR_RETURN(DynamicBox target, store.box(rel.target));
        ToManyChange tc;
        tc.relation_uid = rel.id.uid;
        for (uint64_t t : targets) {
            OUTPOST_ASSIGN_OR_RETURN(auto tgid, gid_of(txn, target, t));
            if (tgid) tc.targets.push_back(std::move(*tgid));
        }
        c.to_many.push_back(std::move(tc));
    }
    return c;
}

}  // namespace

Result<std::optional<Bson>> Connector::Impl::find_document(const std::string& collection,
                                                           const Gid& gid) {
    OUTPOST_ASSIGN_OR_RETURN(auto c, client());
    detail::CollectionPtr coll(
        mongoc_client_get_collection(c.get(), options.database.c_str(), collection.c_str()));
    Bson filter, fopts;
    OUTPOST_RETURN_IF_ERROR(append_gid(filter.get(), "_id", gid));
    BSON_APPEND_INT64(fopts.get(), "limit", 1);
    detail::CursorPtr cur(
        mongoc_collection_find_with_opts(coll.get(), filter.get(), fopts.get(), nullptr));
    const bson_t* found = nullptr;
    bool have = mongoc_cursor_next(cur.get(), &found);
    bson_error_t err;
    const bson_t* ereply;
    if (mongoc_cursor_error_document(cur.get(), &err, &ereply))
        return detail::status_from(err, "reading " + collection, ereply);
    if (!have) return std::optional<Bson>();
    return std::optional<Bson>(Bson::copy_of(found));
}

Status Connector::Impl::retry_inbound(const DeadLetter& d) {
    const CollectionMap* cm = mapping.by_collection(d.collection);
    if (!cm) return still_fails("collection " + d.collection + " is not mapped");
    OUTPOST_ASSIGN_OR_RETURN(Gid gid, gid_of_key(d));
    OUTPOST_ASSIGN_OR_RETURN(auto doc, find_document(d.collection, gid));
    ObjectChange change;
    if (doc) {
        OUTPOST_ASSIGN_OR_RETURN(change, mapping.change_from_document(*cm, doc->get()));
    } else {  // gone from MongoDB: the object goes too, as a delete event would remove it
        change.kind = ObjectChange::kRemove;
        change.entity_uid = cm->entity->id.uid;
        change.gid = gid;
    }
    bool applied = false;
    uint64_t kept = 0;
    Status s = store->write([&](WriteTxn& txn) -> Status {
        OUTPOST_ASSIGN_OR_RETURN(bool had, detail::DeadLetters::remove(txn, d.id));
        if (!had) return Status(ErrorCode::kNotFound, "no dead letter " + std::to_string(d.id));
        // Server changes after the outbound position have not reached MongoDB: they win.
        uint64_t seen = outbound_position.load();
        uint64_t dropped = 0;
        std::vector<detail::Mapped> changes = {{change, 0, seen}};
        OUTPOST_RETURN_IF_ERROR(
            detail::apply_stream_batch(txn, changes, 0, seen, &dropped, &applied));
        OUTPOST_ASSIGN_OR_RETURN(kept, detail::DeadLetters::count(txn));
        return Status::ok();
    });
    if (!s) {
        if (s.code() == ErrorCode::kNotFound || s.code() == ErrorCode::kStorage ||
            s.code() == ErrorCode::kStorageFull) {
            return s;
        }
        return still_fails(s.message());  // the store refuses it (a unique value taken, ...)
    }
    state.set_dead_letters_kept(kept);
    state.info("MongoDB connector: dead letter " + std::to_string(d.id) + " (" + d.collection +
               " " + d.document_key + ") applied on retry");
    if (applied) {
        std::function<void()> on_commit;
        {
            MutexLock life(lifecycle_mutex);
            on_commit = on_inbound_commit;
        }
        if (on_commit) on_commit();
    }
    return Status::ok();
}

Status Connector::Impl::retry_outbound(const DeadLetter& d) {
    const CollectionMap* cm = mapping.by_collection(d.collection);
    if (!cm) return still_fails("collection " + d.collection + " is not mapped");
    OUTPOST_ASSIGN_OR_RETURN(Gid gid, gid_of_key(d));
    std::optional<ObjectChange> current;
    {
        OUTPOST_ASSIGN_OR_RETURN(auto txn, store->begin_read());
        OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store->box(cm->entity->name));
        OUTPOST_ASSIGN_OR_RETURN(auto id, local_id_of(txn, box, gid));
        if (id) {
            OUTPOST_ASSIGN_OR_RETURN(current,
                                     object_state(*store, txn, *cm->entity, box, *id, gid));
        }
    }
    Bson filter, update, reply;
    OUTPOST_RETURN_IF_ERROR(append_gid(filter.get(), "_id", gid));
    if (current) {
        UpdateSpec spec;
        std::vector<std::string> skipped;
        OUTPOST_RETURN_IF_ERROR(mapping.build_update(*cm, *current, spec, &skipped));
        if (!skipped.empty()) {
            std::string why;
            for (const auto& s : skipped) why += (why.empty() ? "" : "; ") + s;
            return still_fails(why);
        }
        spec.build(update.get());
        if (update.get()->len > kMaxDocumentBytes) {
            return Status(ErrorCode::kMongoTooLarge,
                          "update of " + std::to_string(update.get()->len) +
                              " bytes is over MongoDB's 16 MiB document limit");
        }
    }
    OUTPOST_ASSIGN_OR_RETURN(auto c, client());
    detail::CollectionPtr coll(
        mongoc_client_get_collection(c.get(), options.database.c_str(), cm->collection.c_str()));
    bson_error_t err;
    bson_destroy(reply.get());
    bool ok;
    if (!current) {
        ok = mongoc_collection_delete_one(coll.get(), filter.get(), nullptr, reply.get(), &err);
    } else if (update.empty()) {
        ok = true;  // nothing mapped to write
    } else {
        Bson opts;
        BSON_APPEND_BOOL(opts.get(), "upsert", true);
        ok = mongoc_collection_update_one(coll.get(), filter.get(), update.get(), opts.get(),
                                          reply.get(), &err);
    }
    if (!ok) return detail::status_from(err, "writing to " + cm->collection, reply.get());
    uint64_t kept = 0;
    Status removed = store->write([&](WriteTxn& txn) -> Status {
        OUTPOST_RETURN_IF_ERROR(detail::DeadLetters::remove(txn, d.id).status());
        OUTPOST_ASSIGN_OR_RETURN(kept, detail::DeadLetters::count(txn));
        return Status::ok();
    });
    OUTPOST_RETURN_IF_ERROR(removed);
    state.set_dead_letters_kept(kept);
    state.info("MongoDB connector: dead letter " + std::to_string(d.id) + " (" + d.collection +
               " " + d.document_key + ") written on retry");
    return Status::ok();
}

// ---- Connector

Result<DeadLetterPage> Connector::dead_letters(size_t offset, size_t limit) const {
    OUTPOST_ASSIGN_OR_RETURN(auto txn, impl_->store->begin_read());
    return detail::DeadLetters::list(txn, offset, limit);
}

Status Connector::retry_dead_letter(uint64_t id) {
    Impl& m = *impl_;
    std::optional<DeadLetter> d;
    {
        OUTPOST_ASSIGN_OR_RETURN(auto txn, m.store->begin_read());
        OUTPOST_ASSIGN_OR_RETURN(d, detail::DeadLetters::get(txn, id));
    }
    if (!d) return Status(ErrorCode::kNotFound, "no dead letter " + std::to_string(id));
    MutexLock one(m.retry_mutex);
    Status s = d->direction == "outbound" ? m.retry_outbound(*d) : m.retry_inbound(*d);
    if (!s && s.code() != ErrorCode::kNotFound) {
        m.state.warn("MongoDB connector: dead letter " + std::to_string(id) +
                     " still fails: " + s.to_string());
    }
    return s;
}

Status Connector::discard_dead_letter(uint64_t id) {
    Impl& m = *impl_;
    uint64_t kept = 0;
    Status s = m.store->write([&](WriteTxn& txn) -> Status {
        OUTPOST_ASSIGN_OR_RETURN(bool had, detail::DeadLetters::remove(txn, id));
        if (!had) return Status(ErrorCode::kNotFound, "no dead letter " + std::to_string(id));
        OUTPOST_ASSIGN_OR_RETURN(kept, detail::DeadLetters::count(txn));
        return Status::ok();
    });
    OUTPOST_RETURN_IF_ERROR(s);
    m.state.set_dead_letters_kept(kept);
    return Status::ok();
}

}  // namespace outpost::mongo
