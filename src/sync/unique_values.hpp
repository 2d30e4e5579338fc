// Unique properties under sync. A put that gives a unique property a value another object already
// holds fails in the store (or, with kFlagUniqueReplace, removes the other object); two devices can
// do that offline without knowing of each other. The server decides in arrival order: without
// replace the value belongs to the object that reached it first and the later put loses; with
// replace the later put wins and the other object is removed. Either way the pushing client learns
// the outcome from its Ack (docs/sync-protocol.md, "Unique values"), and a client that receives a
// clashing object while its own is still pending leaves that value out until the server has
// decided.
#pragma once

#include <algorithm>
#include <optional>

#include "outpost/box.hpp"
#include "outpost/changelog.hpp"
#include "outpost/model.hpp"
#include "outpost/query.hpp"

namespace outpost::sync {

// Whether P's values must be unique (a clash fails the put, or with kFlagUniqueReplace removes the
// other object).
inline bool is_unique(const Property& p) {
    return p.has(kFlagUnique) && p.type != PropertyType::kRelation;
}

// The local id of an object of BOX whose property P holds VALUE (not null), if there is one.
inline Result<std::optional<uint64_t>> unique_holder(Txn& txn, const DynamicBox& box,
                                                     const Property& p, const Value& value) {
    OUTPOST_ASSIGN_OR_RETURN(Query q, QueryBuilder(box).where(prop(p.name).equal(value)).build());
    OUTPOST_ASSIGN_OR_RETURN(auto ids, q.find_ids(txn));
    if (ids.empty()) return std::optional<uint64_t>();
    return std::optional<uint64_t>(ids.front());
}

// Whether CHANGES removes object GID of entity ENTITY_UID, or puts another value than VALUE into
// its property PROPERTY_UID: then the value it holds now is free once CHANGES is applied.
inline bool frees_value(const ChangeSet& changes, uint64_t entity_uid, const Gid& gid,
                        uint64_t property_uid, const Value& value) {
    for (const auto& c : changes.objects) {
        if (c.entity_uid != entity_uid || c.gid != gid) continue;
        if (c.kind == ObjectChange::kRemove) return true;
        for (const auto& pc : c.properties) {
            if (pc.property_uid == property_uid && !(pc.value == value)) return true;
        }
    }
    return false;
}

// Puts that set to null the unique values CHANGES moves between its own objects (a value another
// put of CHANGES takes from an object whose put gives it another value), to apply before CHANGES:
// applied in order, a put would meet the value still held by an object that CHANGES changes later
// (also when two objects swap values). Several puts of one object in one transaction log one entry,
// so the record holds the final values only. Entities without unique properties cost one look at
// each property.
inline Result<ChangeSet> unique_values_to_free(Txn& txn, Store& store, const ChangeSet& changes) {
    ChangeSet out;
    const Model& model = store.model();
    for (const auto& c : changes.objects) {
        if (c.kind != ObjectChange::kPut) continue;
        const Entity* e = model.entity_by_uid(c.entity_uid);
        if (!e || std::none_of(e->properties.begin(), e->properties.end(), is_unique)) continue;
        for (const auto& pc : c.properties) {
            if (pc.value.is_null()) continue;
            auto p = std::find_if(e->properties.begin(), e->properties.end(),
                                  [&](const Property& x) { return x.id.uid == pc.property_uid; });
            if (p == e->properties.end() || !is_unique(*p)) continue;
            OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store.box(e->name));
            OUTPOST_ASSIGN_OR_RETURN(auto holder, unique_holder(txn, box, *p, pc.value));
            if (!holder) continue;
            OUTPOST_ASSIGN_OR_RETURN(auto holder_gid, gid_of(txn, box, *holder));
            if (!holder_gid || *holder_gid == c.gid) continue;
            if (!frees_value(changes, e->id.uid, *holder_gid, p->id.uid, pc.value)) continue;
            bool removed = false;
            for (const auto& o : changes.objects) {
                removed |= o.kind == ObjectChange::kRemove && o.entity_uid == e->id.uid &&
                           o.gid == *holder_gid;
            }
            if (removed) continue;  // its remove frees the value, wherever it comes
            ObjectChange clear;
            clear.kind = ObjectChange::kPut;
            clear.entity_uid = e->id.uid;
            clear.gid = *holder_gid;
            clear.properties.push_back(PropertyChange{p->id.uid, Value()});
            out.objects.push_back(std::move(clear));
        }
    }
    return out;
}

}  // namespace outpost::sync
