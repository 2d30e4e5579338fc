#include "sync/tombstones.hpp"

#include <algorithm>

namespace outpost::sync {

std::string tombstone_key(uint64_t entity_uid, const Gid& gid) {
    static const char* kHex = "0123456789abcdef";
    std::string key = "sync.tomb." + std::to_string(entity_uid) + ".";
    for (unsigned char ch : gid) {
        key.push_back(kHex[ch >> 4]);
        key.push_back(kHex[ch & 15]);
    }
    return key;
}

Status put_tombstone(WriteTxn& txn, uint64_t entity_uid, const Gid& gid) {
    return put_meta(txn, tombstone_key(entity_uid, gid), "");
}

Result<bool> has_tombstone(Txn& txn, uint64_t entity_uid, const Gid& gid) {
    OUTPOST_ASSIGN_OR_RETURN(auto tomb, get_meta(txn, tombstone_key(entity_uid, gid)));
    return tomb.has_value();
}

// Kept, such a reference would point at nothing on the server and on the other replicas, and at
// nothing (cleared) on the sender.
Status drop_references_to_removed(Txn& txn, const Model& model, ObjectChange& c) {
    const Entity* e = model.entity_by_uid(c.entity_uid);
    if (!e) return Status::ok();
    auto removed = [&](const std::string& target, const Gid& g) -> Result<bool> {
        const Entity* t = model.entity(target);
        if (!t) return false;
        return has_tombstone(txn, t->id.uid, g);
    };
    for (auto& pc : c.properties) {
        if (!pc.value.is<Bytes>()) continue;
        auto p = std::find_if(e->properties.begin(), e->properties.end(),
                              [&](const Property& x) { return x.id.uid == pc.property_uid; });
        if (p == e->properties.end() || p->type != PropertyType::kRelation) continue;
        const Bytes& b = pc.value.as<Bytes>();
        OUTPOST_ASSIGN_OR_RETURN(bool gone, removed(p->target, Gid(b.begin(), b.end())));
        if (gone) pc.value = Value(nullptr);
    }
    for (auto& tc : c.to_many) {
        auto r = std::find_if(e->relations.begin(), e->relations.end(),
                              [&](const Relation& x) { return x.id.uid == tc.relation_uid; });
        if (r == e->relations.end()) continue;
        std::vector<Gid> kept;
        kept.reserve(tc.targets.size());
        for (auto& g : tc.targets) {
            OUTPOST_ASSIGN_OR_RETURN(bool gone, removed(r->target, g));
            if (!gone) kept.push_back(std::move(g));
        }
        tc.targets = std::move(kept);
    }
    return Status::ok();
}

Status apply_from_database(WriteTxn& txn, const ChangeSet& changes, const std::string& origin) {
    for (const auto& c : changes.objects) {
        const std::string key = tombstone_key(c.entity_uid, c.gid);
        if (c.kind == ObjectChange::kRemove) {
            OUTPOST_RETURN_IF_ERROR(put_meta(txn, key, ""));
        } else {
            OUTPOST_RETURN_IF_ERROR(remove_meta(txn, key));
        }
    }
    return ChangeLog::apply(txn, changes, origin, ApplyMode::kRecord);
}

}  // namespace outpost::sync
