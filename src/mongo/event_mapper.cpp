#include "mongo/event_mapper.hpp"

#include <algorithm>

namespace outpost::mongo::detail {

namespace {

bool is_drop(const std::string& op) {
    return op == "drop" || op == "rename" || op == "dropDatabase";
}

ObjectChange removal(const CollectionMap& cm, Gid gid) {
    ObjectChange rm;
    rm.kind = ObjectChange::kRemove;
    rm.entity_uid = cm.entity->id.uid;
    rm.gid = std::move(gid);
    return rm;
}

}  // namespace

bool EventMapper::has_drop(const std::vector<Event>& events) {
    return std::any_of(events.begin(), events.end(), [](const Event& e) { return is_drop(e.op); });
}

Result<MappedBatch> EventMapper::map(const std::vector<Event>& events, uint64_t& own_seen,
                                     MapperEnv& env) const {
    MappedBatch out;
    // The transactions of this server: those with one of its marker events.
    std::vector<std::string> own_keys;
    for (const auto& e : events) {
        if (e.own_marker) own_keys.push_back(e.txn_key);
    }
    std::string current_key = "\x01";  // no group yet
    for (size_t i = 0; i < events.size(); ++i) {
        const Event& e = events[i];
        if (e.txn_key.empty() || e.txn_key != current_key) {
            out.groups.emplace_back();
            current_key = e.txn_key.empty() ? "\x01" : e.txn_key;
        }
        if (!e.txn_key.empty() &&
            std::find(own_keys.begin(), own_keys.end(), e.txn_key) != own_keys.end()) {
            if (e.marker_position >= 0)
                own_seen = std::max(own_seen, static_cast<uint64_t>(e.marker_position));
            if (!e.own_marker && e.coll != kMetaCollection) ++out.echoes;
            continue;
        }
        if (e.coll == kMetaCollection) continue;
        OUTPOST_RETURN_IF_ERROR(map_event(events, i, own_seen, env, out));
    }
    return out;
}

Status EventMapper::map_event(const std::vector<Event>& events, size_t i, uint64_t own_seen,
                              MapperEnv& env, MappedBatch& out) const {
    const Event& e = events[i];
    if (is_drop(e.op)) return map_drop(e, i, own_seen, env, out);
    if (e.op == "invalidate") return Status::ok();
    const CollectionMap* cm = mapping_.by_collection(e.coll);
    if (!cm) return Status::ok();
    bson_t key_doc;
    bson_iter_t idit;
    if (!e.doc(e.key, &key_doc) || !bson_iter_init_find(&idit, &key_doc, "_id")) {
        return dead_letter(
            e, Status(ErrorCode::kMongoMapping, e.op + " event without documentKey._id"), out);
    }
    auto gid = gid_from_bson(idit);
    if (!gid) return dead_letter(e, gid.status(), out);
    if (e.op == "insert" || e.op == "replace") {
        bson_t full;
        if (!e.doc(e.full, &full)) {
            return dead_letter(
                e, Status(ErrorCode::kMongoMapping, e.op + " event without fullDocument"), out);
        }
        auto ch = mapping_.change_from_document(*cm, &full);
        if (!ch) return dead_letter(e, ch.status(), out);
        out.groups.back().push_back({std::move(ch).value(), i, own_seen});
    } else if (e.op == "update") {
        return map_update(e, *cm, *gid, i, own_seen, env, out);
    } else if (e.op == "delete") {
        out.groups.back().push_back({removal(*cm, *gid), i, own_seen});
    } else {
        return Status::ok();
    }
    ++out.applied_events;
    return Status::ok();
}

Status EventMapper::map_drop(const Event& e, size_t i, uint64_t own_seen, MapperEnv& env,
                             MappedBatch& out) const {
    std::vector<const CollectionMap*> affected;
    if (e.op == "dropDatabase") {
        for (const auto& cm : mapping_.collections()) affected.push_back(&cm);
    } else if (const CollectionMap* cm = mapping_.by_collection(e.coll)) {
        affected.push_back(cm);
    }
    if (affected.empty()) return Status::ok();
    env.report(Status(ErrorCode::kMongoCommand,
                      "MongoDB reports " + e.op + " of " +
                          (e.op == "dropDatabase" ? options_.database : e.coll) +
                          (options_.remove_objects_of_dropped_collections
                               ? ": removing the objects of the mapped entities"
                               : ": the server keeps its objects "
                                 "(remove_objects_of_dropped_collections is off)")));
    if (!options_.remove_objects_of_dropped_collections) return Status::ok();
    for (const CollectionMap* cm : affected) {
        OUTPOST_ASSIGN_OR_RETURN(auto gids, env.object_gids(*cm));
        for (auto& g : gids) out.groups.back().push_back({removal(*cm, std::move(g)), i, own_seen});
    }
    ++out.applied_events;
    return Status::ok();
}

Status EventMapper::map_update(const Event& e, const CollectionMap& cm, const Gid& gid, size_t i,
                               uint64_t own_seen, MapperEnv& env, MappedBatch& out) const {
    bson_t desc;
    if (!e.doc(e.desc, &desc)) {
        return dead_letter(
            e, Status(ErrorCode::kMongoMapping, "update event without updateDescription"), out);
    }
    std::vector<std::string> lookup;
    auto ch = mapping_.change_from_update(cm, gid, &desc, &lookup);
    if (!ch) return dead_letter(e, ch.status(), out);
    if (!lookup.empty()) {
        OUTPOST_ASSIGN_OR_RETURN(auto found, env.find_by_id(e.coll, gid));
        // When the document is gone, its delete event follows and removes the object.
        if (found) {
            Status s = mapping_.add_fields_from_document(cm, found->get(), lookup, ch.value());
            if (!s) return dead_letter(e, s, out);
        }
    }
    if (!ch->properties.empty() || !ch->to_many.empty()) {  // else only unmapped fields changed
        out.groups.back().push_back({std::move(ch).value(), i, own_seen});
    }
    ++out.applied_events;
    return Status::ok();
}

Status EventMapper::dead_letter(const Event& e, const Status& why, MappedBatch& out) const {
    View view(e);
    const bson_t* d = view.get();
    if (options_.strict_from_mongo) {
        return Status(ErrorCode::kMongoMapping, "strict conversions from MongoDB: " + e.coll + " " +
                                                    sub_json(d, "documentKey") + ": " +
                                                    why.message());
    }
    out.dead.push_back(
        {"inbound", e.coll, sub_json(d, "documentKey"), why.message(), to_json(d), 0});
    return Status::ok();
}

}  // namespace outpost::mongo::detail
