// ChangeLog::apply: change sets made elsewhere (a server's Apply, a client's Push, MongoDB changes)
// applied in one write transaction, by GID, logged as a record or not (docs/change-log.md).
#include <algorithm>
#include <cstring>

#include "store/change_set_codec.hpp"
#include "store/codec.hpp"
#include "store/gid_map.hpp"
#include "store/object_table.hpp"
#include "store/store_core.hpp"

namespace outpost {

namespace {

// The local id for GID in E, reserving one (with its GID mapping, before the object exists) when
// new. RESERVED (optional): set to whether the id was reserved here, i.e. no object has it yet.
Result<uint64_t> resolve_or_reserve(detail::TxnState& s, const detail::EntityInfo& e,
                                    const Gid& gid, bool* reserved = nullptr) {
    if (e.gid_to_local != 0 && validate_gid(gid).is_ok() && gid.size() <= 500) {
        // The candidate id goes back to the sequence when GID turns out to be mapped already. A
        // sequence id is above every local id of E, so it is appended to l:, and the GID usually to
        // g: (ObjectIds from one device grow).
        auto fresh = detail::next_id(s, e);
        if (fresh.is_ok()) {
            OUTPOST_ASSIGN_OR_RETURN(uint64_t id, detail::map_gid_unless_mapped(s, e, *fresh, gid));
            if (id != *fresh) detail::give_back_id(s, e, *fresh);
            if (reserved) *reserved = id == *fresh;
            return id;
        }
    }
    // A GID that cannot be mapped, or no ids left: only an existing mapping resolves it.
    OUTPOST_ASSIGN_OR_RETURN(auto id, detail::lookup_local(s.txn, e, gid));
    if (reserved) *reserved = false;
    if (id) return *id;
    OUTPOST_RETURN_IF_ERROR(validate_gid(gid));
    OUTPOST_ASSIGN_OR_RETURN(uint64_t fresh, detail::next_id(s, e));
    OUTPOST_RETURN_IF_ERROR(detail::map_new_gid(s, e, fresh, gid));
    if (reserved) *reserved = true;
    return fresh;
}

// Makes TxnState::known_gid name one object's GID for the scope of a put.
class KnownGid {
  public:
    KnownGid(detail::TxnState& s, const detail::EntityInfo& e, uint64_t id, const Gid& gid)
        : s_(s) {
        s.known_gid = &gid;
        s.known_gid_entity = &e;
        s.known_gid_id = id;
    }
    ~KnownGid() { s_.known_gid = nullptr; }
    KnownGid(const KnownGid&) = delete;
    KnownGid& operator=(const KnownGid&) = delete;

  private:
    detail::TxnState& s_;
};

// The position in E of the property PROPERTY_UID names, or -1 when this model lacks it (or it is
// the id).
int property_pos(const detail::EntityInfo& e, uint64_t property_uid) {
    const auto& props = e.entity->properties;
    for (size_t i = 0; i < props.size(); ++i) {
        if (props[i].id.uid == property_uid)
            return props[i].has(kFlagId) ? -1 : static_cast<int>(i);
    }
    return -1;
}

// The local id a relation change at P of E points to (0 for null), reserving the target when new.
Result<int64_t> relation_target(detail::TxnState& s, const detail::EntityInfo& e, const Property& p,
                                const Value& v) {
    if (v.is_null()) return int64_t{0};
    if (!v.is<Bytes>()) {
        return Status(ErrorCode::kTypeMismatch,
                      e.entity->name + "." + p.name + ": a relation change must carry a global id");
    }
    const auto& b = v.as<Bytes>();
    const detail::EntityInfo* target = s.store->entity(p.target);
    OUTPOST_ASSIGN_OR_RETURN(uint64_t tid, resolve_or_reserve(s, *target, Gid(b.begin(), b.end())));
    return static_cast<int64_t>(tid);
}

// The stored bytes of a new object with C's properties, written straight into the thread's writer;
// nullopt when C names a property twice (the general path then lets the last one win).
Result<std::optional<std::span<const uint8_t>>> encode_new(detail::TxnState& s,
                                                           const detail::EntityInfo& e,
                                                           const ObjectChange& c) {
    using Out = std::optional<std::span<const uint8_t>>;
    const auto& props = e.entity->properties;
    if (props.size() > 64) return Out();
    uint64_t seen = 0;
    for (const auto& pc : c.properties) {
        int pos = property_pos(e, pc.property_uid);
        if (pos < 0) continue;
        uint64_t bit = uint64_t{1} << pos;
        if (seen & bit) return Out();
        seen |= bit;
    }
    auto* ws = detail::writer_begin(e);
    ObjectWriter w = detail::Access::writer(ws);
    for (const auto& pc : c.properties) {
        int pos = property_pos(e, pc.property_uid);
        if (pos < 0) continue;
        const Property& p = props[static_cast<size_t>(pos)];
        if (p.type == PropertyType::kRelation) {
            OUTPOST_ASSIGN_OR_RETURN(int64_t tid, relation_target(s, e, p, pc.value));
            if (tid != 0) w.set_int(pos, tid);
        } else {
            OUTPOST_RETURN_IF_ERROR(w.set_value(pos, pc.value));
        }
    }
    OUTPOST_ASSIGN_OR_RETURN(auto bytes, detail::writer_finish(ws));
    return Out(bytes);
}

Status apply_put(detail::TxnState& s, const detail::EntityInfo& e, const ObjectChange& c) {
    bool reserved = false;
    OUTPOST_ASSIGN_OR_RETURN(uint64_t id, resolve_or_reserve(s, e, c.gid, &reserved));
    // An id reserved just now has no object: skip the lookup.
    std::optional<MDB_val> raw;
    if (!reserved) {
        OUTPOST_ASSIGN_OR_RETURN(raw, detail::get_raw(s.txn, e, id, e.verify_reads));
    }
    std::optional<std::span<const uint8_t>> bytes;
    if (!raw) {
        OUTPOST_ASSIGN_OR_RETURN(bytes, encode_new(s, e, c));
    }
    if (!bytes) {
        // An existing object (or a change naming a property twice): merge into its values.
        Object obj(*e.entity);
        obj.id = id;
        if (raw) {
            detail::read_object(
                detail::Access::reader(&e, static_cast<const uint8_t*>(raw->mv_data), raw->mv_size),
                obj);
        }
        const auto& props = e.entity->properties;
        for (const auto& pc : c.properties) {
            int pos = property_pos(e, pc.property_uid);
            if (pos < 0) continue;  // a property this model does not have
            const Property& p = props[static_cast<size_t>(pos)];
            if (p.type == PropertyType::kRelation && !pc.value.is_null()) {
                OUTPOST_ASSIGN_OR_RETURN(int64_t tid, relation_target(s, e, p, pc.value));
                obj.values()[static_cast<size_t>(pos)] = Value(tid);
            } else {
                obj.values()[static_cast<size_t>(pos)] = pc.value;
            }
        }
        OUTPOST_ASSIGN_OR_RETURN(bytes, detail::encode(e, obj));
    }
    {
        KnownGid known(s, e, id, c.gid);
        OUTPOST_RETURN_IF_ERROR(
            detail::put_bytes(s, e, id, PutMode::kPut, *bytes, reserved).status());
    }
    for (const auto& tc : c.to_many) {
        auto it = std::find_if(
            e.relations.begin(), e.relations.end(),
            [&](const detail::RelationInfo& r) { return r.rel->id.uid == tc.relation_uid; });
        if (it == e.relations.end()) continue;
        std::vector<uint64_t> ids;
        ids.reserve(tc.targets.size());
        for (const auto& g : tc.targets) {
            OUTPOST_ASSIGN_OR_RETURN(uint64_t tid, resolve_or_reserve(s, *it->target, g));
            ids.push_back(tid);
        }
        OUTPOST_RETURN_IF_ERROR(detail::write_to_many(s, *it, id, ids));
        s.record_put(e, id);
    }
    return Status::ok();
}

}  // namespace

Status ChangeLog::apply(WriteTxn& txn, const ChangeSet& changes, const std::string& origin,
                        ApplyMode mode) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    if (!txn.is_write())
        return {ErrorCode::kTxnMisuse, "applying changes needs a write transaction"};
    auto& s = *detail::Access::state(txn);
    txn.set_origin(origin);
    s.applying_remote = mode == ApplyMode::kRemote;
    Status st;
    for (const auto& c : changes.objects) {
        const detail::EntityInfo* e = s.store->entity_by_uid(c.entity_uid);
        if (!e || !e->entity->sync) continue;  // an entity this model does not sync
        if (c.kind == ObjectChange::kPut) {
            st = apply_put(s, *e, c);
        } else {
            auto id = detail::lookup_local(s.txn, *e, c.gid);
            if (!id) {
                st = id.status();
            } else if (*id) {
                auto removed = detail::remove_object(s, *e, **id);
                st = removed ? detail::unmap_gid(s.txn, *e, **id) : removed.status();
            }
        }
        if (!st) break;
    }
    s.applying_remote = false;
    return st;
}

}  // namespace outpost
