// Unique properties under sync. A put that gives a unique property a value another object already
// holds fails in the store (or, with kFlagUniqueReplace, removes the other object); two devices can
// do that offline without knowing of each other. The server decides in arrival order: without
// replace the value belongs to the object that reached it first and the later put loses; with
// replace the later put wins and the other object is removed. Either way the pushing client learns
// the outcome from its Ack (docs/sync-protocol.md, "Unique values"), and a client that receives a
// clashing object while its own is still pending leaves that value out until the server has
// decided.
#pragma once

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

}  // namespace outpost::sync
