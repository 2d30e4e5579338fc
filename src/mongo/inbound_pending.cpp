#include "mongo/inbound_pending.hpp"

#include <algorithm>

#include "mongo/connector.hpp"
#include "sync/tombstones.hpp"

namespace outpost::mongo::detail {

// The server records after FROM that did not come from MongoDB, per object (SKIPPABLE as below).
Result<PendingObjects> read_pending(Txn& txn, uint64_t from, uint64_t* skippable) {
    PendingObjects pending;
    bool only_mongo = true;
    for (uint64_t after = from;;) {
        OUTPOST_ASSIGN_OR_RETURN(auto recs, ChangeLog::read(txn, after, 1000, kOrigin));
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
    return pending;
}

// Drops from CHANGES what PENDING supersedes.
void drop_superseded(const PendingObjects& pending, std::vector<Mapped>& changes,
                     uint64_t* dropped) {
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
            // A delete beats an update. The pending server puts of the object are not written to
            // MongoDB: the outbound writer skips puts of objects the server no longer holds, and
            // never upserts an object it did not make (outbound_rules.hpp).
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
}

Status apply_stream_batch(WriteTxn& txn, std::vector<Mapped>& changes, uint64_t batch_seen,
                          uint64_t& seen, uint64_t* dropped, bool* applied) {
    // Each change gets the own_seen a serial stream would have given it: the committed one, or a
    // marker passed before it in the stream.
    uint64_t from = UINT64_MAX;
    for (auto& m : changes) {
        m.own_seen = std::max(m.own_seen, seen);
        from = std::min(from, m.own_seen);
    }
    OUTPOST_ASSIGN_OR_RETURN(const uint64_t before, ChangeLog::last_position(txn));
    PendingObjects pending;
    if (!changes.empty()) {
        uint64_t skippable = 0;
        OUTPOST_ASSIGN_OR_RETURN(pending, read_pending(txn, from, &skippable));
        seen = std::max(seen, skippable);
    }
    // With nothing pending (the usual case) the changes are moved, not copied, and moved back when
    // the apply fails.
    std::vector<Mapped> filtered;
    std::vector<Mapped>* kept = &changes;
    if (!pending.empty()) {
        filtered = changes;
        drop_superseded(pending, filtered, dropped);
        kept = &filtered;
    }
    ChangeSet cs;
    cs.objects.reserve(kept->size());
    for (auto& m : *kept) cs.objects.push_back(std::move(m.change));
    Status st = cs.empty() ? Status::ok() : sync::apply_from_database(txn, cs, kOrigin);
    if (!st) {
        if (kept == &changes) {
            for (size_t i = 0; i < changes.size(); ++i)
                changes[i].change = std::move(cs.objects[i]);
        }
        return st;
    }
    if (applied) *applied = !cs.empty();
    if (seen >= before) {
        // Nothing was pending: this transaction's own record never goes to MongoDB either.
        OUTPOST_ASSIGN_OR_RETURN(seen, ChangeLog::last_position(txn));
    }
    seen = std::max(seen, batch_seen);
    return Status::ok();
}

}  // namespace outpost::mongo::detail
