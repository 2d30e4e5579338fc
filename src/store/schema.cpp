// The schema of an open store: its tables, and the evolution from the model it was last opened
// with.
#include "store/schema.hpp"

#include <map>
#include <set>
#include <unordered_map>
#include <vector>

#include "store/codec.hpp"
#include "store/gid_map.hpp"
#include "store/index.hpp"
#include "store/migrations.hpp"
#include "store/object_verify.hpp"

namespace outpost::detail {

std::string uid_name(char kind, uint64_t uid) {
    return std::string(1, kind) + ":" + std::to_string(uid);
}

Status open_dbi(MDB_txn* txn, const std::string& name, unsigned flags, bool create, MDB_dbi* out) {
    int rc = mdb_dbi_open(txn, name.c_str(), flags | (create ? MDB_CREATE : 0), out);
    if (rc == MDB_NOTFOUND && !create) {
        *out = 0;  // read-only store without this table yet: reads see it empty
        return Status::ok();
    }
    return lmdb_status(rc, "opening table " + name);
}

namespace {

Status drop_dbi(MDB_txn* txn, const std::string& name) {
    MDB_dbi dbi;
    int rc = mdb_dbi_open(txn, name.c_str(), 0, &dbi);
    if (rc == MDB_NOTFOUND) return Status::ok();
    OUTPOST_RETURN_IF_ERROR(lmdb_status(rc, "opening table " + name));
    return lmdb_status(mdb_drop(txn, dbi, 1), "dropping table " + name);
}

// Fills an index that was added to an entity that already has objects.
Status build_index(MDB_txn* txn, const EntityInfo& e, const IndexInfo& idx) {
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_cursor_open(txn, e.objects, &cur), "index build"));
    MDB_val k, v;
    Status st;
    std::map<std::string, std::vector<uint64_t>> seen_unique;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t id = read_u64(k);
        st = verify_object(e, id, static_cast<const uint8_t*>(v.mv_data), v.mv_size);
        if (!st) break;
        ObjectReader r =
            detail::Access::reader(&e, static_cast<const uint8_t*>(v.mv_data), v.mv_size);
        auto key = index_key(idx, r);
        if (!key) continue;
        if (idx.unique) {
            auto& holders = seen_unique[*key];
            // Equal keys: equal values, unless a hash collided or a long string was cut.
            uint64_t same_as = 0;
            for (uint64_t other_id : holders) {
                MDB_val ok = mdb_val(&other_id, 8), ov;
                if (mdb_get(txn, e.objects, &ok, &ov) != 0) continue;  // verified when it was seen
                ObjectReader other =
                    detail::Access::reader(&e, static_cast<const uint8_t*>(ov.mv_data), ov.mv_size);
                if (same_indexed_value(idx, other, r)) same_as = other_id;
            }
            holders.push_back(id);
            if (same_as != 0) {
                st = Status(ErrorCode::kUniqueViolation,
                            "cannot add unique index on " + e.entity->name + "." + idx.prop->name +
                                ": objects " + std::to_string(same_as) + " and " +
                                std::to_string(id) + " share a value");
                break;
            }
        }
        uint64_t be = id;
        MDB_val kk = mdb_val(key->data(), key->size()), vv = mdb_val(&be, 8);
        int prc = mdb_put(txn, idx.dbi, &kk, &vv, 0);
        if (prc != 0) {
            st = lmdb_status(prc, "index build");
            break;
        }
    }
    mdb_cursor_close(cur);
    return st;
}

// Gives every object of an entity that just became synced its global id: the one it had when the
// entity was synced before (in its record, in l:, or only in g: when its record was rewritten while
// the entity was local-only), else a new one.
Status assign_gids(MDB_txn* txn, const EntityInfo& e) {
    std::unordered_map<uint64_t, Gid> mapped;  // g: read backwards
    OUTPOST_RETURN_IF_ERROR(
        for_each_mapping(txn, e, [&](const Gid& gid, uint64_t id) { mapped.emplace(id, gid); }));
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(
        lmdb_status(mdb_cursor_open(txn, e.objects, &cur), "assigning global ids"));
    std::vector<uint64_t> ids;
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        ids.push_back(read_u64(k));
    }
    mdb_cursor_close(cur);
    for (uint64_t id : ids) {
        OUTPOST_ASSIGN_OR_RETURN(auto gid, lookup_gid(txn, e, id));
        if (!gid) {
            auto it = mapped.find(id);
            if (it != mapped.end()) gid = it->second;
        }
        // Map it both ways: the record (written while local-only) need not hold it.
        OUTPOST_RETURN_IF_ERROR(map_gid(txn, e, id, gid ? *gid : new_gid_for(*e.entity)));
    }
    return Status::ok();
}

bool plain_type(PropertyType t) {
    switch (t) {
        case PropertyType::kBool:
        case PropertyType::kInt8:
        case PropertyType::kInt16:
        case PropertyType::kInt32:
        case PropertyType::kInt64:
        case PropertyType::kFloat:
        case PropertyType::kDouble:
        case PropertyType::kString:
        case PropertyType::kDate:
        case PropertyType::kDateNano:
        case PropertyType::kBytes:
            return true;
        default:
            return false;
    }
}

std::set<uint64_t> index_uids(const Model& m) {
    std::set<uint64_t> s;
    for (const auto& e : m.entities) {
        for (const auto& p : e.properties) {
            if (p.index_id.is_set()) s.insert(p.index_id.uid);
        }
    }
    return s;
}

// Opens the tables of index P (at position I of its entity) into INFO.
Status open_index(MDB_txn* txn, const Property& p, size_t i, bool create, EntityInfo& info) {
    IndexInfo idx;
    idx.prop = &p;
    idx.prop_pos = static_cast<int>(i);
    idx.unique = p.has(kFlagUnique);
    idx.replace = p.has(kFlagUniqueReplace);
    idx.hash = p.has(kFlagIndexHash);
    OUTPOST_RETURN_IF_ERROR(
        open_dbi(txn, uid_name('i', p.index_id.uid), MDB_DUPSORT | MDB_DUPFIXED, create, &idx.dbi));
    info.index_of_prop[i] = static_cast<int>(info.indexes.size());
    info.indexes.push_back(idx);
    return Status::ok();
}

// Opens the tables of relation I of INFO's entity.
Status open_relation(MDB_txn* txn, size_t i, bool create, EntityInfo& info) {
    RelationInfo r;
    r.rel = &info.entity->relations[i];
    r.source = &info;
    r.pos = static_cast<int>(i);
    OUTPOST_RETURN_IF_ERROR(
        open_dbi(txn, uid_name('r', r.rel->id.uid), MDB_INTEGERKEY, create, &r.list_dbi));
    OUTPOST_RETURN_IF_ERROR(open_dbi(txn, uid_name('b', r.rel->id.uid),
                                     MDB_INTEGERKEY | MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP,
                                     create, &r.backlink_dbi));
    info.relations.push_back(r);
    return Status::ok();
}

// What S knows of entity ENT: its tables, properties, indexes and relations (targets are linked
// later).
Result<std::unique_ptr<EntityInfo>> open_entity(const StoreImpl& s, MDB_txn* txn, const Entity& ent,
                                                bool create) {
    auto info = std::make_unique<EntityInfo>();
    info->entity = &ent;
    info->pos = s.entities.size();
    info->seq_key = uid_name('s', ent.id.uid);
    OUTPOST_RETURN_IF_ERROR(
        open_dbi(txn, uid_name('o', ent.id.uid), MDB_INTEGERKEY, create, &info->objects));
    if (ent.sync) {
        OUTPOST_RETURN_IF_ERROR(
            open_dbi(txn, uid_name('g', ent.id.uid), 0, create, &info->gid_to_local));
        OUTPOST_RETURN_IF_ERROR(
            open_dbi(txn, uid_name('l', ent.id.uid), MDB_INTEGERKEY, create, &info->local_to_gid));
        std::string runs = gid_runs_key(*info);
        MDB_val rk = mdb_val(runs.data(), runs.size()), rv;
        if (s.meta != 0 && mdb_get(txn, s.meta, &rk, &rv) == 0) info->gid_runs.store(true);
    }
    info->field_checks = field_checks_of(ent);
    info->verify_reads = s.options.verify_objects;
    info->index_of_prop.assign(ent.properties.size(), -1);
    info->plain_log = ent.properties.size() < 128;
    for (size_t i = 0; i < ent.properties.size(); ++i) {
        const Property& p = ent.properties[i];
        info->prop_by_name[p.name] = static_cast<int>(i);
        if (p.has(kFlagId)) {
            info->id_pos = static_cast<int>(i);
            info->id_field = static_cast<uint16_t>(4 + 2 * (p.id.id - 1));
        } else if (!plain_type(p.type)) {
            info->plain_log = false;
        }
        if (p.index_id.is_set()) OUTPOST_RETURN_IF_ERROR(open_index(txn, p, i, create, *info));
    }
    for (size_t i = 0; i < ent.relations.size(); ++i) {
        OUTPOST_RETURN_IF_ERROR(open_relation(txn, i, create, *info));
    }
    return info;
}

// Links relations to their targets and notes on each entity the links that point into it.
void link_entities(StoreImpl& s) {
    for (auto& src : s.entities) {
        for (auto& r : src->relations) {
            auto* t = const_cast<EntityInfo*>(s.entity(r.rel->target));
            r.target = t;
            t->incoming.push_back({src.get(), r.pos, true});
        }
        for (size_t i = 0; i < src->entity->properties.size(); ++i) {
            const Property& p = src->entity->properties[i];
            if (p.type != PropertyType::kRelation) continue;
            auto* t = const_cast<EntityInfo*>(s.entity(p.target));
            t->incoming.push_back({src.get(), static_cast<int>(i), false});
        }
    }
}

// Drops the tables of the entities, relations and indexes that STORED has and MODEL removed.
Status drop_removed(MDB_txn* txn, const Model& stored, const Model& model) {
    for (const auto& oe : stored.entities) {
        const Entity* ne = model.entity_by_uid(oe.id.uid);
        if (!ne) {
            for (char kind : {'o', 'g', 'l'})
                OUTPOST_RETURN_IF_ERROR(drop_dbi(txn, uid_name(kind, oe.id.uid)));
        }
        for (const auto& orl : oe.relations) {
            bool kept = false;
            if (ne) {
                for (const auto& r : ne->relations) kept = kept || r.id.uid == orl.id.uid;
            }
            if (!kept) {
                OUTPOST_RETURN_IF_ERROR(drop_dbi(txn, uid_name('r', orl.id.uid)));
                OUTPOST_RETURN_IF_ERROR(drop_dbi(txn, uid_name('b', orl.id.uid)));
            }
        }
    }
    auto new_idx = index_uids(model);
    for (uint64_t uid : index_uids(stored)) {
        if (!new_idx.count(uid)) OUTPOST_RETURN_IF_ERROR(drop_dbi(txn, uid_name('i', uid)));
    }
    return Status::ok();
}

// Evolves entity E, which BEFORE (its previous version) already had: global ids when it became
// synced, indexes built when new (OLD_IDX: the index uids of the previous model) and rebuilt when
// their kind changed.
Status evolve_entity(MDB_txn* txn, const EntityInfo& e, const Entity& before,
                     const std::set<uint64_t>& old_idx) {
    if (e.entity->sync && !before.sync) OUTPOST_RETURN_IF_ERROR(assign_gids(txn, e));
    for (const auto& idx : e.indexes) {
        if (!old_idx.count(idx.prop->index_id.uid)) {
            OUTPOST_RETURN_IF_ERROR(build_index(txn, e, idx));
            continue;
        }
        // Same index, other kind (value <-> hash) or newly unique: rebuild, checking uniqueness.
        const Property* op = before.property_by_id(idx.prop->id.id);
        constexpr uint32_t kKindFlags = kFlagIndexHash | kFlagUnique;
        if (op && (op->flags & kKindFlags) != (idx.prop->flags & kKindFlags)) {
            OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_drop(txn, idx.dbi, 0), "rebuilding index"));
            OUTPOST_RETURN_IF_ERROR(build_index(txn, e, idx));
        }
    }
    return Status::ok();
}

}  // namespace

Status prepare_schema(StoreImpl& s, MDB_txn* txn, const Model* stored, bool create, int format) {
    const Model& m = *s.model;
    for (const auto& ent : m.entities) {
        OUTPOST_ASSIGN_OR_RETURN(auto info, open_entity(s, txn, ent, create));
        s.entities.push_back(std::move(info));
    }
    link_entities(s);
    if (format == 1 && create) OUTPOST_RETURN_IF_ERROR(migrate_to_format_2(txn, s));
    if (format != 1 || create) {
        for (auto& e : s.entities) {
            e->gid_in_record = e->entity->sync;
            e->stored_log = e->gid_in_record && e->plain_log && e->relations.empty() && create;
        }
    }
    if (!stored || !create) return Status::ok();
    OUTPOST_RETURN_IF_ERROR(drop_removed(txn, *stored, m));
    auto old_idx = index_uids(*stored);
    for (const auto& e : s.entities) {
        const Entity* before = stored->entity_by_uid(e->entity->id.uid);
        if (before) OUTPOST_RETURN_IF_ERROR(evolve_entity(txn, *e, *before, old_idx));
    }
    return Status::ok();
}

}  // namespace outpost::detail
