// ServerCore, conflicts a push can lose: sync clocks and unique values (docs/sync-protocol.md).
#include <algorithm>

#include "sync/server_core_internal.hpp"
#include "sync/unique_values.hpp"

namespace outpost::sync {

using namespace server_internal;

namespace {

// The sync-clock value of a property value (int64, date or dateNano), if it has one.
std::optional<int64_t> clock_of(const Value& v) {
    if (v.is<int64_t>()) return v.as<int64_t>();
    return std::nullopt;
}

}  // namespace

Result<bool> ServerCore::loses_on_clock(Txn& txn, const ObjectChange& c, ChangeSet& corrections) {
    const Entity* e = store_->model().entity_by_uid(c.entity_uid);
    if (!e) return false;
    const Property* clock = nullptr;
    size_t clock_index = 0;
    for (size_t i = 0; i < e->properties.size(); ++i) {
        if (e->properties[i].has(kFlagSyncClock)) {
            clock = &e->properties[i];
            clock_index = i;
        }
    }
    if (!clock) return false;
    std::optional<int64_t> incoming;
    for (const auto& p : c.properties) {
        if (p.property_uid == clock->id.uid) incoming = clock_of(p.value);
    }
    if (!incoming) return false;  // the clock did not move: arrival order decides
    OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store_->box(e->name));
    OUTPOST_ASSIGN_OR_RETURN(auto id, local_id_of(txn, box, c.gid));
    if (!id) return false;
    OUTPOST_ASSIGN_OR_RETURN(auto stored, box.get(txn, *id));
    if (!stored) return false;
    std::optional<int64_t> current = clock_of(stored->values()[clock_index]);
    if (!current || *incoming >= *current) return false;
    OUTPOST_ASSIGN_OR_RETURN(ObjectChange state, full_state(txn, *e, box, *id, c.gid));
    corrections.objects.push_back(std::move(state));
    return true;
}

Result<ObjectChange> ServerCore::full_state(Txn& txn, const Entity& e, DynamicBox& box, uint64_t id,
                                            const Gid& gid) {
    size_t bytes = 0;
    OUTPOST_ASSIGN_OR_RETURN(ObjectChange state,
                             describe_object(txn, e, box, id, gid, nullptr, bytes));
    state.is_new = false;
    for (const auto& p : e.properties) {  // nulls too: the client must drop its losing values
        if (p.has(kFlagId)) continue;
        bool present =
            std::any_of(state.properties.begin(), state.properties.end(),
                        [&](const PropertyChange& pc) { return pc.property_uid == p.id.uid; });
        if (!present) state.properties.push_back(PropertyChange{p.id.uid, Value()});
    }
    return state;
}

Result<bool> ServerCore::loses_on_unique(WriteTxn& txn, const Session& s, const ChangeSet& changes,
                                         const ObjectChange& c, ChangeSet& corrections) {
    if (!entities_with_unique_.count(c.entity_uid)) return false;
    const Entity* e = store_->model().entity_by_uid(c.entity_uid);
    if (!e) return false;
    // Clashes that fail first: a put that loses replaces nothing.
    for (bool replacing : {false, true}) {
        for (const auto& pc : c.properties) {
            if (pc.value.is_null()) continue;
            auto p = std::find_if(e->properties.begin(), e->properties.end(),
                                  [&](const Property& x) { return x.id.uid == pc.property_uid; });
            if (p == e->properties.end() || !is_unique(*p) ||
                p->has(kFlagUniqueReplace) != replacing)
                continue;
            OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store_->box(e->name));
            OUTPOST_ASSIGN_OR_RETURN(auto holder, unique_holder(txn, box, *p, pc.value));
            if (!holder) continue;
            OUTPOST_ASSIGN_OR_RETURN(auto holder_gid, gid_of(txn, box, *holder));
            if (!holder_gid || *holder_gid == c.gid) continue;
            if (frees_value(changes, e->id.uid, *holder_gid, p->id.uid, pc.value)) continue;
            if (p->has(kFlagUniqueReplace)) {
                // The put wins and the store removes the holder: the history record carries the
                // removal to the other clients, the correction to this one; later puts of it are
                // dropped.
                ObjectChange rm;
                rm.kind = ObjectChange::kRemove;
                rm.entity_uid = e->id.uid;
                rm.gid = *holder_gid;
                corrections.objects.push_back(std::move(rm));
                OUTPOST_RETURN_IF_ERROR(put_meta(txn, tombstone_key(e->id.uid, *holder_gid), ""));
                continue;
            }
            // The value was taken first by HOLDER: this put loses whole. The client gets the
            // object's state here (or its removal, when the server never had it) and the holder's
            // state.
            OUTPOST_ASSIGN_OR_RETURN(auto own, local_id_of(txn, box, c.gid));
            std::optional<Object> stored;
            if (own) {
                OUTPOST_ASSIGN_OR_RETURN(stored, box.get(txn, *own));
            }
            if (stored) {
                OUTPOST_ASSIGN_OR_RETURN(ObjectChange state, full_state(txn, *e, box, *own, c.gid));
                corrections.objects.push_back(std::move(state));
            } else {
                ObjectChange rm;
                rm.kind = ObjectChange::kRemove;
                rm.entity_uid = e->id.uid;
                rm.gid = c.gid;
                corrections.objects.push_back(std::move(rm));
                // Later pushes of this object (sent before the client saw the correction) are
                // dropped.
                OUTPOST_RETURN_IF_ERROR(put_meta(txn, tombstone_key(c.entity_uid, c.gid), ""));
            }
            OUTPOST_ASSIGN_OR_RETURN(ObjectChange winner,
                                     full_state(txn, *e, box, *holder, *holder_gid));
            corrections.objects.push_back(std::move(winner));
            log(LogLevel::kInfo, "client " + s.client + ": the value of " + e->name + "." +
                                     p->name + " is already used by " + gid_to_string(*holder_gid) +
                                     "; the put of " + gid_to_string(c.gid) +
                                     (stored ? " loses" : " loses and the object is removed"));
            return true;
        }
    }
    return false;
}

}  // namespace outpost::sync
