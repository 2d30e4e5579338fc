// The change log: the entries a write transaction logs as it puts and removes objects (the record
// they make is appended at commit by changelog_record.cpp; stored entries are in
// changelog_stored.cpp).
#include <algorithm>
#include <bit>
#include <cstring>

#include "store/change_set_codec.hpp"
#include "store/changelog_internal.hpp"
#include "store/codec.hpp"
#include "store/gid_map.hpp"
#include "store/plain_entry.hpp"
#include "store/store_core.hpp"

namespace outpost {
namespace detail {

uint32_t* PendingLog::EntitySlots::find(uint64_t id) {
    if (id - run_first < run.size()) return &run[id - run_first];  // id < run_first wraps around
    auto it = other.find(id);
    return it == other.end() ? nullptr : &it->second;
}

void PendingLog::EntitySlots::set(uint64_t id, uint32_t slot, bool fresh) {
    if (id - run_first < run.size()) {
        run[id - run_first] = slot;
    } else if (run.empty() || id == run_first + run.size()) {
        if (run.empty()) run_first = id;
        run.push_back(slot);
    } else if (fresh) {
        // A fresh id lies above every id of the run and the map: start a new run there. Each slot
        // moves to the map at most once.
        // The run's slot of an id is newer than one the map may still hold for it (a dropped
        // entry).
        for (size_t i = 0; i < run.size(); ++i) other.insert_or_assign(run_first + i, run[i]);
        run.assign(1, slot);
        run_first = id;
    } else {
        other[id] = slot;
    }
}

PendingLog::EntitySlots& slots_of(TxnState& s, const EntityInfo& e) {
    if (s.log.by_entity.size() <= e.pos) s.log.by_entity.resize(s.store->entities.size());
    return s.log.by_entity[e.pos];
}

Result<Value> relation_value(MDB_txn* txn, const StoreImpl& store, const Property& p, int64_t id) {
    if (id == 0) return Value();
    const EntityInfo* target = store.entity(p.target);
    OUTPOST_ASSIGN_OR_RETURN(auto gid, lookup_gid(txn, *target, static_cast<uint64_t>(id)));
    if (!gid) return Value();
    return Value(Bytes(gid->begin(), gid->end()));
}

namespace {

// A chunk takes entries until it holds this much; an entry never spans chunks.
constexpr size_t kChunkBytes = size_t{1} << 20;

// The live entry of object ID of E, or null.
PendingLog::Slot* live_slot(TxnState& s, const EntityInfo& e, uint64_t id) {
    uint32_t* slot = slots_of(s, e).find(id);
    if (!slot) return nullptr;
    PendingLog::Slot& sl = s.log.slots[*slot];
    return sl.edited == PendingLog::kDropped ? nullptr : &sl;
}

// The chunk the next entry goes into.
std::string& entry_chunk(PendingLog& log) {
    if (log.chunks.empty() || log.chunks.back().size() >= kChunkBytes) {
        log.chunks.emplace_back();
        log.chunks.back().reserve(kChunkBytes + kChunkBytes / 8);
    }
    return log.chunks.back();
}

// Adds the slot of the entry just written to the end of the last chunk from START.
Status add_encoded_slot(TxnState& s, const EntityInfo& e, uint64_t id, size_t start, bool fresh) {
    PendingLog& log = s.log;
    size_t size = log.chunks.back().size() - start;
    if (size > UINT32_MAX || log.slots.size() >= UINT32_MAX) {
        log.chunks.back().resize(start);
        return Status(ErrorCode::kInvalidArgument,
                      "change-log entry of " + e.entity->name + " too large");
    }
    PendingLog::Slot sl;
    sl.chunk = static_cast<uint32_t>(log.chunks.size() - 1);
    sl.offset = static_cast<uint32_t>(start);
    sl.size = static_cast<uint32_t>(size);
    slots_of(s, e).set(id, static_cast<uint32_t>(log.slots.size()), fresh);
    log.slots.push_back(sl);
    ++log.live;
    return Status::ok();
}

// Adds an entry that starts out as an ObjectChange (rare kinds of first touch).
ObjectChange& add_edited_slot(TxnState& s, const EntityInfo& e, uint64_t id, ObjectChange c) {
    PendingLog& log = s.log;
    PendingLog::Slot sl;
    sl.edited = static_cast<int32_t>(log.edited.size());
    log.edited.push_back(std::move(c));
    slots_of(s, e).set(id, static_cast<uint32_t>(log.slots.size()), false);
    log.slots.push_back(sl);
    ++log.live;
    return log.edited.back();
}

// The entry of SLOT as an ObjectChange that can be edited.
Result<ObjectChange*> edit(PendingLog& log, PendingLog::Slot& slot) {
    if (slot.edited == PendingLog::kEncoded) {
        const auto* p =
            reinterpret_cast<const uint8_t*>(log.chunks[slot.chunk].data()) + slot.offset;
        auto c = decode_object_change({p, slot.size}, &log.uids.uids());
        if (!c) return Status(ErrorCode::kInternal, "change-log entry: " + c.status().message());
        if (log.edited.size() >= INT32_MAX)
            return Status(ErrorCode::kInternal, "too many edited change-log entries");
        slot.edited = static_cast<int32_t>(log.edited.size());
        log.edited.push_back(std::move(c).value());
    }
    return &log.edited[static_cast<size_t>(slot.edited)];
}

// Writes the value of property P at POS of R, as ChangeSetWriter::value(r.get_value(pos)) would,
// without making a Value for the common types. REQUIRES: P is not a relation.
void write_property(ChangeSetWriter& w, const Property& p, const ObjectReader& r, int pos) {
    if (r.is_null(pos)) {
        w.u8(kTagNull);
        return;
    }
    switch (p.type) {
        case PropertyType::kBool:
            w.u8(r.get_bool(pos) ? kTagTrue : kTagFalse);
            return;
        case PropertyType::kInt8:
        case PropertyType::kInt16:
        case PropertyType::kInt32:
        case PropertyType::kInt64:
        case PropertyType::kDate:
        case PropertyType::kDateNano:
            w.u8(kTagInt);
            w.zigzag(r.get_int(pos));
            return;
        case PropertyType::kFloat:
        case PropertyType::kDouble:
            w.u8(kTagDouble);
            w.f64(r.get_double(pos));
            return;
        case PropertyType::kString: {
            std::string_view v = r.get_string(pos);
            w.u8(kTagString);
            w.bytes(v.data(), v.size());
            return;
        }
        case PropertyType::kBytes: {
            auto v = r.get_bytes(pos);
            w.u8(kTagBytes);
            w.bytes(v.data(), v.size());
            return;
        }
        default:
            w.value(r.get_value(pos));
            return;
    }
}

// The most bytes write_property writes for P at POS of R, or 0 when it goes through Value (vectors,
// flex, relations: the general path).
size_t plain_value_bound(const Property& p, const ObjectReader& r, int pos) {
    switch (p.type) {
        case PropertyType::kBool:
        case PropertyType::kInt8:
        case PropertyType::kInt16:
        case PropertyType::kInt32:
        case PropertyType::kInt64:
        case PropertyType::kDate:
        case PropertyType::kDateNano:
        case PropertyType::kFloat:
        case PropertyType::kDouble:
            return 11;
        case PropertyType::kString:
            return 11 + r.get_string(pos).size();
        case PropertyType::kBytes:
            return 11 + r.get_bytes(pos).size();
        default:
            return 0;
    }
}

// write_property for a type plain_value_bound accepts, at P with enough room; returns the end.
char* put_plain_value(char* p, const Property& prop, const ObjectReader& r, int pos) {
    if (r.is_null(pos)) {
        *p++ = static_cast<char>(kTagNull);
        return p;
    }
    switch (prop.type) {
        case PropertyType::kBool:
            *p++ = static_cast<char>(r.get_bool(pos) ? kTagTrue : kTagFalse);
            return p;
        case PropertyType::kFloat:
        case PropertyType::kDouble: {
            *p++ = static_cast<char>(kTagDouble);
            uint64_t b = std::bit_cast<uint64_t>(r.get_double(pos));
            for (int i = 0; i < 8; ++i) *p++ = static_cast<char>((b >> (8 * i)) & 0xff);
            return p;
        }
        case PropertyType::kString: {
            std::string_view v = r.get_string(pos);
            *p++ = static_cast<char>(kTagString);
            p = put_varint(p, v.size());
            if (!v.empty()) std::memcpy(p, v.data(), v.size());
            return p + v.size();
        }
        case PropertyType::kBytes: {
            auto v = r.get_bytes(pos);
            *p++ = static_cast<char>(kTagBytes);
            p = put_varint(p, v.size());
            if (!v.empty()) std::memcpy(p, v.data(), v.size());
            return p + v.size();
        }
        default: {
            int64_t v = r.get_int(pos);
            *p++ = static_cast<char>(kTagInt);
            return put_varint(p, (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
        }
    }
}

// The entries of E, with the entity's uid in the record's table.
PendingLog::EntitySlots& entity_slots(TxnState& s, const EntityInfo& e) {
    PendingLog::EntitySlots& es = slots_of(s, e);
    if (es.entity_index == UINT32_MAX) {
        es.entity_index = s.log.uids.index(e.entity->id.uid);
        es.prop_index.assign(e.entity->properties.size(), UINT32_MAX);
    }
    return es;
}

// Writes a put entry for object ID of E with the properties at POSITIONS of NOW.
Status write_put_entry(TxnState& s, const EntityInfo& e, uint64_t id, const Gid& gid, bool is_new,
                       const ObjectReader& now, const std::vector<int>& positions, bool fresh) {
    PendingLog::EntitySlots& es = entity_slots(s, e);
    const auto& props = e.entity->properties;
    std::string& out = entry_chunk(s.log);
    size_t start = out.size();
    // Scalars, strings and bytes (most entries): written through a pointer into room made first.
    size_t bound = 1 + 10 + 10 + gid.size() + 1 + 10 + 1;
    for (int pos : positions) {
        size_t b = plain_value_bound(props[static_cast<size_t>(pos)], now, pos);
        if (b == 0) {
            bound = 0;
            break;
        }
        bound += 10 + b;
    }
    if (bound != 0) {
        out.resize(start + bound);
        char* p = out.data() + start;
        *p++ = static_cast<char>(ObjectChange::kPut);
        p = put_varint(p, es.entity_index);
        p = put_varint(p, gid.size());
        std::memcpy(p, gid.data(), gid.size());
        p += gid.size();
        *p++ = static_cast<char>(is_new ? 1 : 0);
        p = put_varint(p, positions.size());
        for (int pos : positions) {
            const Property& prop = props[static_cast<size_t>(pos)];
            uint32_t& index = es.prop_index[static_cast<size_t>(pos)];
            if (index == UINT32_MAX) index = s.log.uids.index(prop.id.uid);
            p = put_varint(p, index);
            p = put_plain_value(p, prop, now, pos);
        }
        *p++ = 0;  // to-many lists: log_to_many adds them
        out.resize(static_cast<size_t>(p - out.data()));
        return add_encoded_slot(s, e, id, start, fresh);
    }
    ChangeSetWriter w(out);
    w.u8(ObjectChange::kPut);
    w.varint(es.entity_index);
    w.str(gid);
    w.u8(is_new ? 1 : 0);
    w.varint(positions.size());
    for (int pos : positions) {
        const Property& p = props[static_cast<size_t>(pos)];
        uint32_t& index = es.prop_index[static_cast<size_t>(pos)];
        if (index == UINT32_MAX) index = s.log.uids.index(p.id.uid);
        w.varint(index);
        if (p.type == PropertyType::kRelation) {
            auto v = relation_value(s.txn, *s.store, p, now.get_int(pos));
            if (!v) {
                out.resize(start);
                return v.status();
            }
            w.value(*v);
        } else {
            write_property(w, p, now, pos);
        }
    }
    w.varint(0);  // to-many lists: log_to_many adds them
    return add_encoded_slot(s, e, id, start, fresh);
}

// The put entry of a new object of an entity whose properties are all plain
// (EntityInfo::plain_log), read straight from the object's table NOW: the bytes write_put_entry
// writes for its non-null properties, without a pass to list them and a call per value.
Status write_new_plain_entry(TxnState& s, const EntityInfo& e, uint64_t id, const Gid& gid,
                             const ObjectReader& now, bool fresh) {
    PendingLog::EntitySlots& es = entity_slots(s, e);
    std::span<const uint8_t> raw = now.raw();
    std::string& out = entry_chunk(s.log);
    size_t start = out.size();
    out.resize(start + 30 + gid.size() + plain_values_bound(e, raw));
    char* p = out.data() + start;
    *p++ = static_cast<char>(ObjectChange::kPut);
    p = put_varint(p, es.entity_index);
    p = put_varint(p, gid.size());
    std::memcpy(p, gid.data(), gid.size());
    p += gid.size();
    *p++ = 1;  // new
    p = put_plain_values(p, e, raw, [&](char* at, size_t i) {
        uint32_t& index = es.prop_index[i];
        if (index == UINT32_MAX) index = s.log.uids.index(e.entity->properties[i].id.uid);
        return put_varint(at, index);
    });
    out.resize(static_cast<size_t>(p - out.data()));
    return add_encoded_slot(s, e, id, start, fresh);
}

}  // namespace

Status log_stored_put_in_full(TxnState& s, const EntityInfo& e, uint64_t id, const MDB_val& old) {
    const auto* data = static_cast<const uint8_t*>(old.mv_data);
    auto gid = record_gid(e, data, old.mv_size);
    if (!gid)
        return Status(ErrorCode::kInternal,
                      e.entity->name + " " + std::to_string(id) + " has no global id");
    Gid g(*gid);  // before the object's entry is written: OLD stays valid (no LMDB write here)
    drop_stored_put(s, e, id);
    return write_new_plain_entry(s, e, id, g, detail::Access::reader(&e, data, old.mv_size), false);
}

Status gid_for_put(TxnState& s, const EntityInfo& e, uint64_t id, const MDB_val* old, bool fresh,
                   bool in_record, Gid& out) {
    if (s.known_gid && s.known_gid_id == id && s.known_gid_entity == &e) {
        out = *s.known_gid;  // mapped both ways when ChangeLog::apply resolved it
        return Status::ok();
    }
    if (!fresh) {
        std::optional<std::string_view> held;
        if (old) held = record_gid(e, static_cast<const uint8_t*>(old->mv_data), old->mv_size);
        if (held) {
            out.assign(*held);
            if (in_record) return Status::ok();
            // The new record cannot hold it (bytes not made by the writer): keep it in l:.
            MDB_val k = mdb_val(&id, 8), v = mdb_val(out.data(), out.size());
            return lmdb_status(mdb_put(s.txn, e.local_to_gid, &k, &v, 0), "writing global id");
        }
        // Objects written before format 2 and ids reserved for a GID have it in l:.
        if (e.local_to_gid != 0) {
            MDB_val k = mdb_val(&id, 8), v;
            int rc = mdb_get(s.txn, e.local_to_gid, &k, &v);
            if (rc == 0) {
                out.assign(as_view(v));
                return Status::ok();
            }
            if (rc != MDB_NOTFOUND) return lmdb_status(rc, "reading global id");
        }
    }
    out = new_gid_for(*e.entity);
    if (fresh) return map_new_gid(s, e, id, out, !in_record);
    return map_gid(s.txn, e, id, out, false, !in_record);
}

Status log_put(TxnState& s, const EntityInfo& e, uint64_t id, const ObjectReader* old,
               const ObjectReader& now, bool fresh, const Gid& gid) {
    if (s.applying_remote) return Status::ok();
    if (e.stored_log) {
        if (fresh && !s.known_gid) {
            log_stored_put(s, e, id);
            return Status::ok();
        }
        // A stored entry reads the object as the transaction leaves it: later puts change nothing
        // in it.
        if (!fresh && slots_of(s, e).stored_run_of(id)) return Status::ok();
    }
    PendingLog::Slot* slot = fresh ? nullptr : live_slot(s, e, id);
    if (!old && !slot && e.plain_log) return write_new_plain_entry(s, e, id, gid, now, fresh);
    std::vector<int>& changed = s.log.scratch;
    changed.clear();
    const auto& props = e.entity->properties;
    for (size_t i = 0; i < props.size(); ++i) {
        const Property& p = props[i];
        if (p.has(kFlagId)) continue;
        int pos = static_cast<int>(i);
        if (old) {
            bool was_null = old->is_null(pos), is_null = now.is_null(pos);
            if (was_null && is_null) continue;
            if (!was_null && !is_null) {
                // Same stored value: unchanged (compares the encoded field, so NaN equals NaN).
                Value a = old->get_value(pos), b = now.get_value(pos);
                if (a == b) continue;
                if (a.is<double>() && b.is<double>() &&
                    std::memcmp(&a.as<double>(), &b.as<double>(), 8) == 0) {
                    continue;
                }
            }
        } else if (now.is_null(pos)) {
            continue;
        }
        changed.push_back(pos);
    }
    if (changed.empty() && old) return Status::ok();
    if (!slot) return write_put_entry(s, e, id, gid, old == nullptr, now, changed, fresh);
    // The object already has an entry in this transaction: merge into it.
    std::vector<PropertyChange> values;
    values.reserve(changed.size());
    for (int pos : changed) {
        const Property& p = props[static_cast<size_t>(pos)];
        PropertyChange pc;
        pc.property_uid = p.id.uid;
        if (p.type == PropertyType::kRelation) {
            OUTPOST_ASSIGN_OR_RETURN(pc.value,
                                     relation_value(s.txn, *s.store, p, now.get_int(pos)));
        } else {
            pc.value = now.get_value(pos);
        }
        values.push_back(std::move(pc));
    }
    OUTPOST_ASSIGN_OR_RETURN(ObjectChange * c, edit(s.log, *slot));
    for (auto& pc : values) {
        auto it = std::find_if(
            c->properties.begin(), c->properties.end(),
            [&](const PropertyChange& x) { return x.property_uid == pc.property_uid; });
        if (it != c->properties.end()) {
            it->value = std::move(pc.value);
        } else {
            c->properties.push_back(std::move(pc));
        }
    }
    return Status::ok();
}

Status log_to_many(TxnState& s, const RelationInfo& r, uint64_t src,
                   std::span<const uint64_t> targets) {
    if (s.applying_remote) return Status::ok();
    OUTPOST_ASSIGN_OR_RETURN(auto gid, lookup_gid(s.txn, *r.source, src));
    if (!gid) return Status::ok();  // the source is being removed
    ToManyChange tc;
    tc.relation_uid = r.rel->id.uid;
    for (uint64_t t : targets) {
        OUTPOST_ASSIGN_OR_RETURN(auto tg, lookup_gid(s.txn, *r.target, t));
        if (tg) tc.targets.push_back(std::move(*tg));
    }
    ObjectChange* c = nullptr;
    if (PendingLog::Slot* slot = live_slot(s, *r.source, src)) {
        OUTPOST_ASSIGN_OR_RETURN(c, edit(s.log, *slot));
    } else {
        ObjectChange put;
        put.kind = ObjectChange::kPut;
        put.entity_uid = r.source->entity->id.uid;
        put.gid = std::move(*gid);
        c = &add_edited_slot(s, *r.source, src, std::move(put));
    }
    auto it = std::find_if(c->to_many.begin(), c->to_many.end(), [&](const ToManyChange& x) {
        return x.relation_uid == tc.relation_uid;
    });
    if (it != c->to_many.end()) {
        *it = std::move(tc);
    } else {
        c->to_many.push_back(std::move(tc));
    }
    return Status::ok();
}

Status log_remove(TxnState& s, const EntityInfo& e, uint64_t id) {
    OUTPOST_ASSIGN_OR_RETURN(auto gid, lookup_gid(s.txn, e, id));
    if (!gid) return Status::ok();
    OUTPOST_RETURN_IF_ERROR(unmap_gid(s.txn, e, id));
    if (s.applying_remote) return Status::ok();
    if (e.stored_log && drop_stored_put(s, e, id)) return Status::ok();  // made and removed here
    if (PendingLog::Slot* slot = live_slot(s, e, id)) {
        OUTPOST_ASSIGN_OR_RETURN(ObjectChange * c, edit(s.log, *slot));
        if (c->kind == ObjectChange::kPut && c->is_new) {
            slot->edited =
                PendingLog::kDropped;  // made and removed in one transaction: nothing to tell
            --s.log.live;
            return Status::ok();
        }
        c->kind = ObjectChange::kRemove;
        c->is_new = false;
        c->properties.clear();
        c->to_many.clear();
        return Status::ok();
    }
    std::string& out = entry_chunk(s.log);
    size_t start = out.size();
    ChangeSetWriter w(out);
    w.u8(ObjectChange::kRemove);
    w.varint(s.log.uids.index(e.entity->id.uid));
    w.str(*gid);
    return add_encoded_slot(s, e, id, start, false);
}

}  // namespace detail
}  // namespace outpost
