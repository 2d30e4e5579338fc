#include "sync/client_rebase.hpp"

#include <algorithm>
#include <optional>

#include "outpost/box.hpp"
#include "sync/unique_values.hpp"

namespace outpost::sync::client_internal {

void Pending::add_created(const ChangeSet& changes) {
    for (const auto& c : changes.objects) {
        if (c.kind == ObjectChange::kPut && c.is_new) created.emplace(c.entity_uid, c.gid);
    }
}

void Pending::add(const ChangeSet& changes) {
    for (const auto& c : changes.objects) {
        ObjectKey key{c.entity_uid, c.gid};
        if (c.kind == ObjectChange::kRemove) {
            removed.insert(key);
            continue;
        }
        if (c.is_new) created.insert(key);
        auto& [props, rels] = put[key];
        for (const auto& p : c.properties) props.insert(p.property_uid);
        for (const auto& t : c.to_many) rels.insert(t.relation_uid);
    }
}

ChangeSet Pending::rebase(const ChangeSet& remote, const Model& model) const {
    ChangeSet out;
    for (const auto& c : remote.objects) {
        ObjectKey key{c.entity_uid, c.gid};
        if (c.kind == ObjectChange::kRemove) {
            out.objects.push_back(c);  // a delete beats a concurrent update
            continue;
        }
        if (removed.count(key)) continue;  // removed here: the server drops the put too
        ObjectChange f = c;
        if (auto it = put.find(key); it != put.end()) {
            std::erase_if(f.properties, [&](const PropertyChange& p) {
                return it->second.first.count(p.property_uid);
            });
            std::erase_if(f.to_many, [&](const ToManyChange& t) {
                return it->second.second.count(t.relation_uid);
            });
        }
        drop_references_to_removed(model, f);
        out.objects.push_back(std::move(f));
    }
    return out;
}

void Pending::drop_references_to_removed(const Model& model, ObjectChange& c) const {
    if (removed.empty()) return;
    const Entity* e = model.entity_by_uid(c.entity_uid);
    if (!e) return;
    auto gone = [&](const std::string& target, const Gid& g) {
        const Entity* t = model.entity(target);
        return t && removed.count({t->id.uid, g}) > 0;
    };
    for (auto& pc : c.properties) {
        if (!pc.value.is<Bytes>()) continue;
        auto p = std::find_if(e->properties.begin(), e->properties.end(),
                              [&](const Property& x) { return x.id.uid == pc.property_uid; });
        if (p == e->properties.end() || p->type != PropertyType::kRelation) continue;
        const Bytes& b = pc.value.as<Bytes>();
        if (gone(p->target, Gid(b.begin(), b.end()))) pc.value = Value(nullptr);
    }
    for (auto& tc : c.to_many) {
        auto r = std::find_if(e->relations.begin(), e->relations.end(),
                              [&](const Relation& x) { return x.id.uid == tc.relation_uid; });
        if (r == e->relations.end()) continue;
        std::erase_if(tc.targets, [&](const Gid& g) { return gone(r->target, g); });
    }
}

namespace {

// Remote puts that give a unique property a value which an object with a pending put of that
// property holds here. The server decides when the pending put reaches it (the object that reached
// it first keeps the value, sync/unique_values.hpp), so the remote value stays out until then: the
// server's correction, or a later change, brings it.
Status yield_unique_values(Txn& txn, Store& store, ChangeSet& changes, const Pending& pending) {
    if (pending.put.empty()) return Status::ok();
    const Model& model = store.model();
    for (auto& c : changes.objects) {
        if (c.kind != ObjectChange::kPut) continue;
        const Entity* e = model.entity_by_uid(c.entity_uid);
        if (!e) continue;
        std::optional<DynamicBox> box;
        for (auto pc = c.properties.begin(); pc != c.properties.end();) {
            auto p = std::find_if(e->properties.begin(), e->properties.end(),
                                  [&](const Property& x) { return x.id.uid == pc->property_uid; });
            bool yield = false;
            if (p != e->properties.end() && is_unique(*p) && !pc->value.is_null()) {
                if (!box) {
                    OUTPOST_ASSIGN_OR_RETURN(DynamicBox b, store.box(e->name));
                    box.emplace(std::move(b));
                }
                OUTPOST_ASSIGN_OR_RETURN(auto holder, unique_holder(txn, *box, *p, pc->value));
                if (holder) {
                    OUTPOST_ASSIGN_OR_RETURN(auto holder_gid, gid_of(txn, *box, *holder));
                    if (holder_gid && *holder_gid != c.gid) {
                        auto it = pending.put.find({e->id.uid, *holder_gid});
                        yield = it != pending.put.end() && it->second.first.count(p->id.uid) &&
                                !frees_value(changes, e->id.uid, *holder_gid, p->id.uid, pc->value);
                    }
                }
            }
            pc = yield ? c.properties.erase(pc) : pc + 1;
        }
    }
    return Status::ok();
}

// Applies remote CHANGES, first freeing the unique values they move between their own objects.
Status apply_freeing_unique_values(WriteTxn& txn, Store& store, const ChangeSet& changes) {
    OUTPOST_ASSIGN_OR_RETURN(ChangeSet frees, unique_values_to_free(txn, store, changes));
    if (!frees.empty()) {
        OUTPOST_RETURN_IF_ERROR(ChangeLog::apply(txn, frees, kRemoteOrigin, ApplyMode::kRemote));
    }
    return ChangeLog::apply(txn, changes, kRemoteOrigin, ApplyMode::kRemote);
}

}  // namespace

Status apply_rebased(WriteTxn& txn, Store& store, const ChangeSet& changes, Pending& pending,
                     bool need_created) {
    OUTPOST_ASSIGN_OR_RETURN(uint64_t pending_count, ChangeLog::size(txn));
    if (pending_count == 0 || changes.empty()) {
        if (pending_count != 0 && need_created) {
            OUTPOST_ASSIGN_OR_RETURN(auto recs, ChangeLog::read(txn, 0, pending_count));
            for (const auto& rec : recs) pending.add_created(rec.changes);
        }
        return apply_freeing_unique_values(txn, store, changes);
    }
    OUTPOST_ASSIGN_OR_RETURN(auto recs, ChangeLog::read(txn, 0, pending_count));
    for (const auto& rec : recs) pending.add(rec.changes);
    ChangeSet rebased = pending.rebase(changes, store.model());
    OUTPOST_RETURN_IF_ERROR(yield_unique_values(txn, store, rebased, pending));
    return apply_freeing_unique_values(txn, store, rebased);
}

}  // namespace outpost::sync::client_internal
