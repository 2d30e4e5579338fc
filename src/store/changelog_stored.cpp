// Stored entries of the change log (docs/change-log.md, "Stored entries"): new objects of a
// stored_log entity are logged as their entity and a run of local ids, and reading the record takes
// their values from the objects' records. That record must stay as it was when the log entry was
// written until the log is acknowledged past it, so the first overwrite or removal before then
// keeps the old version aside.
//
// Which objects a record names this way is known from two facts: each record notes, per entity, the
// lowest id it names so (stored_runs), and ids from the sequence grow with every transaction, so an
// object that some unacknowledged record names has an id at or above the lowest id noted for its
// entity (the floor). Objects above the floor that no record names are kept too; acknowledging
// drops what falls below the new floor.
#include <algorithm>
#include <map>

#include "store/changelog_internal.hpp"
#include "store/codec.hpp"
#include "store/object_table.hpp"
#include "store/object_verify.hpp"
#include "store/store_core.hpp"

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
    return Status(ErrorCode::kCorrupt,
                  std::string("change log: a key of ") + table + " is not 16 bytes");
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

// Deletes the keys of DBI for which DROP(uid, id, value) is true, visiting each entity's keys in
// order: the first key DROP keeps ends that entity's visit (its later keys stay).
template <typename Drop>
Status trim_table(MDB_txn* txn, MDB_dbi dbi, const char* name, Drop&& drop) {
    if (dbi == 0) return Status::ok();
    std::vector<Key> doomed;
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(
        lmdb_status(mdb_cursor_open(txn, dbi, &cur), "trimming the change log"));
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

// The pieces of RUN without its dropped ids, as (first, count).
template <typename Piece>
void for_each_piece(const PendingLog::EntitySlots::StoredRun& run, Piece&& piece) {
    uint64_t from = run.first, end = run.first + run.count;
    for (uint64_t d : run.dropped) {
        if (d > from) piece(from, d - from);
        from = d + 1;
    }
    if (end > from) piece(from, end - from);
}

}  // namespace

PendingLog::EntitySlots::StoredRun* PendingLog::EntitySlots::stored_run_of(uint64_t id) {
    auto it = std::upper_bound(stored.begin(), stored.end(), id,
                               [](uint64_t x, const StoredRun& r) { return x < r.first; });
    if (it == stored.begin()) return nullptr;
    --it;
    bool live = id - it->first < it->count &&
                !std::binary_search(it->dropped.begin(), it->dropped.end(), id);
    return live ? &*it : nullptr;
}

void log_stored_put(TxnState& s, const EntityInfo& e, uint64_t id) {
    auto& runs = slots_of(s, e).stored;
    if (!runs.empty() && runs.back().first + runs.back().count == id) {
        ++runs.back().count;
    } else {
        runs.push_back({id, 1, {}});
    }
    ++s.log.stored_objects;
}

bool drop_stored_put(TxnState& s, const EntityInfo& e, uint64_t id) {
    auto* run = slots_of(s, e).stored_run_of(id);
    if (!run) return false;
    run->dropped.insert(std::upper_bound(run->dropped.begin(), run->dropped.end(), id), id);
    --s.log.stored_objects;
    return true;
}

size_t encode_stored_runs(TxnState& s, std::string& out) {
    size_t n = 0;
    for (size_t i = 0; i < s.log.by_entity.size(); ++i) {
        const auto& runs = s.log.by_entity[i].stored;
        if (runs.empty()) continue;
        uint32_t entity = s.log.uids.index(s.store->entities[i]->entity->id.uid);
        for (const auto& run : runs) {
            for_each_piece(run, [&](uint64_t first, uint64_t count) {
                char buf[31];
                char* p = buf;
                *p++ = static_cast<char>(kEntryStored);
                p = put_varint(p, entity);
                p = put_varint(p, first);
                p = put_varint(p, count);
                out.append(buf, static_cast<size_t>(p - buf));
                ++n;
            });
        }
    }
    return n;
}

Result<bool> keep_stored_version(TxnState& s, const EntityInfo& e, uint64_t id,
                                 const MDB_val& old) {
    MDB_dbi kept = s.store->kept_versions;
    if (kept == 0) return false;
    PendingLog::EntitySlots& es = slots_of(s, e);
    if (!es.stored_floor) {
        OUTPOST_ASSIGN_OR_RETURN(es.stored_floor,
                                 read_floor(s.txn, s.store->stored_runs, e.entity->id.uid));
    }
    if (es.stored_run_of(id)) {
        // Made here: its entry reads what the transaction leaves, unless a change from elsewhere
        // (ChangeLog::apply, which logs nothing) is about to overwrite the local put: log that in
        // full.
        if (s.applying_remote) OUTPOST_RETURN_IF_ERROR(log_stored_put_in_full(s, e, id, old));
        return false;
    }
    if (id < *es.stored_floor) return false;
    // Through a cursor kept for the transaction: changes tend to come in id order, and a cursor
    // finds the next key from where it stands.
    if (!s.kept_cursor) {
        OUTPOST_RETURN_IF_ERROR(
            lmdb_status(mdb_cursor_open(s.txn, kept, &s.kept_cursor), "keeping a version"));
    }
    // A copy: the put may spill the page OLD points into.
    s.kept_copy.assign(static_cast<const char*>(old.mv_data), old.mv_size);
    Key key(e.entity->id.uid, id);
    MDB_val k = key.val(), v = mdb_val(s.kept_copy.data(), s.kept_copy.size());
    int rc = mdb_cursor_put(s.kept_cursor, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) return false;  // kept at an earlier change
    OUTPOST_RETURN_IF_ERROR(lmdb_status(
        rc, "keeping " + e.entity->name + " " + std::to_string(id) + " for the change log"));
    return true;
}

Status write_stored_runs(TxnState& s, uint64_t pos) {
    for (size_t i = 0; i < s.log.by_entity.size(); ++i) {
        uint64_t first = 0;
        for (const auto& run : s.log.by_entity[i].stored) {
            for_each_piece(run, [&](uint64_t f, uint64_t) { first = first == 0 ? f : first; });
            if (first != 0) break;
        }
        if (first == 0) continue;
        if (s.store->stored_runs == 0)
            return Status(ErrorCode::kInternal, "stored change-log entries without their table");
        Key key(s.store->entities[i]->entity->id.uid, first);
        MDB_val k = key.val(), v = mdb_val(&pos, 8);
        OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_put(s.txn, s.store->stored_runs, &k, &v, 0),
                                            "appending to the change log"));
    }
    return Status::ok();
}

Status trim_stored(TxnState& s, uint64_t position) {
    for (auto& es : s.log.by_entity) es.stored_floor.reset();
    // Runs of records up to POSITION go; the first run left of each entity is its new floor.
    std::map<uint64_t, uint64_t> floors;
    OUTPOST_RETURN_IF_ERROR(trim_table(s.txn, s.store->stored_runs, "stored_runs",
                                       [&](uint64_t uid, uint64_t id, const MDB_val& v) {
                                           if (v.mv_size == 8 && read_u64(v) <= position)
                                               return true;
                                           floors.emplace(uid, id);
                                           return false;
                                       }));
    return trim_table(s.txn, s.store->kept_versions, "kept_versions",
                      [&](uint64_t uid, uint64_t id, const MDB_val&) {
                          auto it = floors.find(uid);
                          return it == floors.end() || id < it->second;
                      });
}

Status read_stored_objects(MDB_txn* txn, const StoreImpl& store, uint64_t entity_uid,
                           uint64_t first, uint64_t count, std::vector<ObjectChange>& out) {
    const EntityInfo* e = store.entity_by_uid(entity_uid);
    if (!e)
        return Status::ok();  // the model retired the entity, and its objects with it: nothing to
                              // tell
    const auto& props = e->entity->properties;
    for (uint64_t id = first; id - first < count; ++id) {
        std::optional<MDB_val> bytes;
        if (store.kept_versions != 0) {
            Key key(entity_uid, id);
            MDB_val k = key.val(), v;
            int rc = mdb_get(txn, store.kept_versions, &k, &v);
            if (rc == 0)
                bytes = v;
            else if (rc != MDB_NOTFOUND)
                return lmdb_status(rc, "reading the change log");
        }
        if (!bytes) {
            OUTPOST_ASSIGN_OR_RETURN(bytes, get_raw(txn, *e, id, false));  // verified below
        }
        if (!bytes) {
            return Status(ErrorCode::kCorrupt, "change log names " + e->entity->name + " " +
                                                   std::to_string(id) + ", which is not stored");
        }
        const auto* data = static_cast<const uint8_t*>(bytes->mv_data);
        if (e->verify_reads) OUTPOST_RETURN_IF_ERROR(verify_object(*e, id, data, bytes->mv_size));
        auto gid =
            record_gid_at(*e, data, bytes->mv_size);  // also after the entity stopped being synced
        if (!gid) {
            return Status(ErrorCode::kCorrupt, "change log names " + e->entity->name + " " +
                                                   std::to_string(id) +
                                                   ", whose record has no global id");
        }
        ObjectChange& c = out.emplace_back();
        c.kind = ObjectChange::kPut;
        c.entity_uid = entity_uid;
        c.gid.assign(*gid);
        c.is_new = true;
        ObjectReader r = detail::Access::reader(e, data, bytes->mv_size);
        for (size_t i = 0; i < props.size(); ++i) {
            const Property& p = props[i];
            int pos = static_cast<int>(i);
            if (p.has(kFlagId) || r.is_null(pos)) continue;
            PropertyChange& pc = c.properties.emplace_back();
            pc.property_uid = p.id.uid;
            if (p.type == PropertyType::kRelation) {
                OUTPOST_ASSIGN_OR_RETURN(pc.value, relation_value(txn, store, p, r.get_int(pos)));
            } else {
                pc.value = r.get_value(pos);
            }
        }
    }
    return Status::ok();
}

}  // namespace outpost::detail
