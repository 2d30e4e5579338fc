// Stored entries of the change log (docs/change-log.md, "Stored entries"): a new object of a
// stored_log entity is logged as its entity and local id, and reading the record takes its values from
// the object's record. That record must stay as it was when the log entry was written until the log
// is acknowledged past it, so the first overwrite or removal before then keeps the old version aside.
//
// Which objects a record names this way is known from two facts: each record notes, per entity, the
// lowest id it names so (stored_runs), and ids from the sequence grow with every transaction, so an
// object that some unacknowledged record names has an id at or above the lowest id noted for its
// entity (the floor). Objects above the floor that no record names are kept too; acknowledging drops
// what falls below the new floor.
#include <algorithm>
#include <map>

#include "store/store_impl.hpp"

namespace outpost::detail {
namespace {

constexpr uint64_t kNoFloor = UINT64_MAX;

void put_be(char* p, uint64_t v) {
    for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<char>(v & 0xff);
}

uint64_t get_be(const char* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
    return v;
}

// A key of stored_runs and kept_versions: entity uid, local id, both big-endian (sorted by entity,
// then id).
struct Key {
    char bytes[16];
    Key(uint64_t uid, uint64_t id) {
        put_be(bytes, uid);
        put_be(bytes + 8, id);
    }
    MDB_val val() { return mdb_val(bytes, sizeof bytes); }
};

Status bad_key(const char* table) {
    return Status(ErrorCode::kCorrupt, std::string("change log: a key of ") + table + " is not 16 bytes");
}

// The lowest id that a record still in the log names as a stored object of entity UID, or kNoFloor.
Result<uint64_t> read_floor(MDB_txn* txn, MDB_dbi runs, uint64_t uid) {
    if (runs == 0) return kNoFloor;
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_cursor_open(txn, runs, &cur), "reading stored runs"));
    Key key(uid, 0);
    MDB_val k = key.val(), v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND) return kNoFloor;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(rc, "reading stored runs"));
    if (k.mv_size != 16) return bad_key("stored_runs");
    const char* p = static_cast<const char*>(k.mv_data);
    return get_be(p) == uid ? get_be(p + 8) : kNoFloor;
}

// Deletes the keys of DBI for which DROP(uid, id, value) is true, visiting each entity's keys in order:
// the first key DROP keeps ends that entity's visit (its later keys stay).
template <typename Drop>
Status trim_table(MDB_txn* txn, MDB_dbi dbi, const char* name, Drop&& drop) {
    if (dbi == 0) return Status::ok();
    std::vector<Key> doomed;
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_cursor_open(txn, dbi, &cur), "trimming the change log"));
    MDB_val k, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    Status st;
    while (rc == 0) {
        if (k.mv_size != 16) {
            st = bad_key(name);
            break;
        }
        const char* p = static_cast<const char*>(k.mv_data);
        uint64_t uid = get_be(p), id = get_be(p + 8);
        if (drop(uid, id, v)) {
            doomed.emplace_back(uid, id);
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        } else if (uid == UINT64_MAX) {
            break;
        } else {
            Key next(uid + 1, 0);  // the rest of this entity's keys stay
            k = next.val();
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        }
    }
    mdb_cursor_close(cur);
    if (st && rc != 0 && rc != MDB_NOTFOUND) st = lmdb_status(rc, "trimming the change log");
    for (size_t i = 0; st && i < doomed.size(); ++i) {
        MDB_val dk = doomed[i].val();
        st = lmdb_status(mdb_del(txn, dbi, &dk, nullptr), "trimming the change log");
    }
    return st;
}

}  // namespace

Status keep_stored_version(TxnState& s, const EntityInfo& e, uint64_t id, const MDB_val& old) {
    MDB_dbi kept = s.store->kept_versions;
    if (kept == 0 || !e.gid_in_record) return Status::ok();
    PendingLog::EntitySlots& es = slots_of(s, e);
    if (!es.stored_floor) {
        OUTPOST_ASSIGN_OR_RETURN(es.stored_floor, read_floor(s.txn, s.store->stored_runs, e.entity->id.uid));
    }
    if (id < *es.stored_floor) return Status::ok();
    // Made in this transaction: its entry is read as the transaction leaves it.
    if (const uint32_t* slot = es.find(id); slot && s.log.slots[*slot].edited == PendingLog::kStored) {
        return Status::ok();
    }
    Key key(e.entity->id.uid, id);
    MDB_val k = key.val(), v = old;
    int rc = mdb_put(s.txn, kept, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) return Status::ok();  // kept at an earlier change
    return lmdb_status(rc, "keeping " + e.entity->name + " " + std::to_string(id) + " for the change log");
}

Status write_stored_runs(TxnState& s, uint64_t pos) {
    for (size_t i = 0; i < s.log.by_entity.size(); ++i) {
        uint64_t first = s.log.by_entity[i].first_stored;
        if (first == 0) continue;
        if (s.store->stored_runs == 0) return Status(ErrorCode::kInternal, "stored change-log entries without their table");
        Key key(s.store->entities[i]->entity->id.uid, first);
        MDB_val k = key.val(), v = mdb_val(&pos, 8);
        OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_put(s.txn, s.store->stored_runs, &k, &v, 0), "appending to the change log"));
    }
    return Status::ok();
}

Status trim_stored(TxnState& s, uint64_t position) {
    for (auto& es : s.log.by_entity) es.stored_floor.reset();
    // Runs of records up to POSITION go; the first run left of each entity is its new floor.
    std::map<uint64_t, uint64_t> floors;
    OUTPOST_RETURN_IF_ERROR(trim_table(s.txn, s.store->stored_runs, "stored_runs",
                                       [&](uint64_t uid, uint64_t id, const MDB_val& v) {
                                           if (v.mv_size == 8 && read_u64(v) <= position) return true;
                                           floors.emplace(uid, id);
                                           return false;
                                       }));
    return trim_table(s.txn, s.store->kept_versions, "kept_versions", [&](uint64_t uid, uint64_t id, const MDB_val&) {
        auto it = floors.find(uid);
        return it == floors.end() || id < it->second;
    });
}

Result<std::optional<ObjectChange>> read_stored_object(MDB_txn* txn, const StoreImpl& store, uint64_t entity_uid,
                                                       uint64_t id) {
    const EntityInfo* e = store.entity_by_uid(entity_uid);
    // The model dropped the entity, and its objects with it: nothing to tell.
    if (!e) return std::optional<ObjectChange>();
    std::optional<MDB_val> bytes;
    if (store.kept_versions != 0) {
        Key key(entity_uid, id);
        MDB_val k = key.val(), v;
        int rc = mdb_get(txn, store.kept_versions, &k, &v);
        if (rc == 0) bytes = v;
        else if (rc != MDB_NOTFOUND) return lmdb_status(rc, "reading the change log");
    }
    if (!bytes) {
        OUTPOST_ASSIGN_OR_RETURN(bytes, get_raw(txn, *e, id));
    }
    std::string what = e->entity->name + " " + std::to_string(id);
    if (!bytes) return Status(ErrorCode::kCorrupt, "change log names " + what + ", which is not stored");
    const auto* data = static_cast<const uint8_t*>(bytes->mv_data);
    auto gid = record_gid(*e, data, bytes->mv_size);
    if (!gid) return Status(ErrorCode::kCorrupt, "change log names " + what + ", whose record has no global id");
    ObjectChange c;
    c.kind = ObjectChange::kPut;
    c.entity_uid = entity_uid;
    c.gid.assign(*gid);
    c.is_new = true;
    ObjectReader r(e, data, bytes->mv_size);
    const auto& props = e->entity->properties;
    for (size_t i = 0; i < props.size(); ++i) {
        const Property& p = props[i];
        int pos = static_cast<int>(i);
        if (p.has(kFlagId) || r.is_null(pos)) continue;
        PropertyChange pc;
        pc.property_uid = p.id.uid;
        if (p.type == PropertyType::kRelation) {
            OUTPOST_ASSIGN_OR_RETURN(pc.value, relation_value(txn, store, p, r.get_int(pos)));
        } else {
            pc.value = r.get_value(pos);
        }
        c.properties.push_back(std::move(pc));
    }
    return std::optional<ObjectChange>(std::move(c));
}

}  // namespace outpost::detail
