// The GID -> local id map of a synced entity (g:<entity uid>, docs/change-log.md "Global ids").
//
// An entry maps its key GID to a local id (an 8-byte value), or starts a run (a 16-byte value:
// first local id, count): ObjectIds this process makes one after another differ only in their
// counter (the last 3 bytes) and get consecutive local ids, so a transaction that makes a million
// objects in one second maps them all with one entry. The key's GID with its counter raised by i (i
// < count) maps to first + i. Every read of g: goes through find_mapping, which knows both kinds.
#include "store/gid_map.hpp"

#include <cstring>

#include "store/store_core.hpp"

namespace outpost::detail {
namespace {

constexpr uint8_t kObjectIdType = 0x07;
constexpr size_t kRunShared =
    10;  // type byte, seconds, process bytes: what the GIDs of a run share
constexpr char kRunsKeyPrefix[] = "gidruns:";

bool is_object_id(std::string_view g) {
    return g.size() == 13 && static_cast<uint8_t>(g[0]) == kObjectIdType;
}

uint32_t counter_of(std::string_view g) {
    return (uint32_t{static_cast<uint8_t>(g[10])} << 16) |
           (uint32_t{static_cast<uint8_t>(g[11])} << 8) | uint32_t{static_cast<uint8_t>(g[12])};
}

Gid with_counter(std::string_view g, uint32_t c) {
    Gid out(g);
    out[10] = static_cast<char>((c >> 16) & 0xff);
    out[11] = static_cast<char>((c >> 8) & 0xff);
    out[12] = static_cast<char>(c & 0xff);
    return out;
}

// A g: entry: KEY maps to ID; a run maps COUNT GIDs from KEY on to FIRST on.
struct Mapping {
    Gid key;
    uint64_t id = 0;
    bool run = false;
    uint64_t first = 0, count = 1;
};

Result<Mapping> mapping_of(std::string_view key, const MDB_val& v) {
    Mapping m;
    m.key = Gid(key);
    if (v.mv_size == 8) {
        m.id = m.first = read_u64(v);
        return m;
    }
    if (v.mv_size == 16 && is_object_id(key)) {
        std::memcpy(&m.first, v.mv_data, 8);
        std::memcpy(&m.count, static_cast<const char*>(v.mv_data) + 8, 8);
        if (m.count != 0 && m.count <= (uint64_t{1} << 24) - counter_of(key)) {
            m.run = true;
            m.id = m.first;
            return m;
        }
    }
    return Status(ErrorCode::kCorrupt, "global id map: entry of bad size");
}

// The entry of g: that maps GID, if any: its own key, or a run that holds it.
Result<std::optional<Mapping>> find_mapping(MDB_txn* txn, const EntityInfo& e,
                                            std::string_view gid) {
    MDB_val k = mdb_val(gid.data(), gid.size()), v;
    int rc = mdb_get(txn, e.gid_to_local, &k, &v);
    if (rc == 0) {
        OUTPOST_ASSIGN_OR_RETURN(Mapping m, mapping_of(gid, v));
        return std::optional<Mapping>(std::move(m));
    }
    if (rc != MDB_NOTFOUND) return lmdb_status(rc, "reading global id");
    if (!is_object_id(gid) || !e.gid_runs.load()) return std::optional<Mapping>();
    // The greatest key below GID: a run that starts there may reach it.
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(
        lmdb_status(mdb_cursor_open(txn, e.gid_to_local, &cur), "reading global id"));
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    rc = mdb_cursor_get(cur, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND) return std::optional<Mapping>();
    OUTPOST_RETURN_IF_ERROR(lmdb_status(rc, "reading global id"));
    std::string_view key = as_view(k);
    if (v.mv_size != 16 || !is_object_id(key) ||
        std::memcmp(key.data(), gid.data(), kRunShared) != 0) {
        return std::optional<Mapping>();
    }
    OUTPOST_ASSIGN_OR_RETURN(Mapping m, mapping_of(key, v));
    uint64_t offset = counter_of(gid) - counter_of(key);  // the key is below GID: a smaller counter
    if (offset >= m.count) return std::optional<Mapping>();
    m.id = m.first + offset;
    return std::optional<Mapping>(std::move(m));
}

Status put_run(MDB_txn* txn, const EntityInfo& e, const Gid& key, uint64_t first, uint64_t count) {
    uint64_t val[2] = {first, count};
    MDB_val k = mdb_val(key.data(), key.size()), v = mdb_val(val, sizeof val);
    return lmdb_status(mdb_put(txn, e.gid_to_local, &k, &v, 0), "writing global id");
}

// Takes GID out of M, the entry that maps it: a single entry goes, a run keeps its parts before and
// after GID.
Status remove_mapping(MDB_txn* txn, const EntityInfo& e, const Mapping& m, std::string_view gid) {
    MDB_val k = mdb_val(m.key.data(), m.key.size());
    int rc = mdb_del(txn, e.gid_to_local, &k, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_status(rc, "removing global id");
    if (!m.run) return Status::ok();
    uint64_t before = m.id - m.first, after = m.count - before - 1;
    if (before > 0) OUTPOST_RETURN_IF_ERROR(put_run(txn, e, m.key, m.first, before));
    if (after > 0)
        OUTPOST_RETURN_IF_ERROR(
            put_run(txn, e, with_counter(gid, counter_of(gid) + 1), m.id + 1, after));
    return Status::ok();
}

// Notes in meta that E's g: may hold runs (read at open into EntityInfo::gid_runs); until then
// lookups skip the search for a run.
Status note_runs(MDB_txn* txn, const StoreImpl& store, const EntityInfo& e) {
    if (e.gid_runs.load()) return Status::ok();
    std::string key = gid_runs_key(e);
    MDB_val k = mdb_val(key.data(), key.size()), v = mdb_val("1", 1);
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_put(txn, store.meta, &k, &v, 0), "writing global id"));
    e.gid_runs.store(
        true);  // at once: a transaction that aborts leaves it set, which only costs searches
    return Status::ok();
}

MDB_cursor* cursor_of(TxnState& s, const EntityInfo& e, bool local, Status& st) {
    if (s.gid_cursors.size() < 2 * s.store->entities.size())
        s.gid_cursors.resize(2 * s.store->entities.size());
    MDB_cursor*& c = s.gid_cursors[2 * e.pos + (local ? 1 : 0)];
    if (!c)
        st = lmdb_status(mdb_cursor_open(s.txn, local ? e.local_to_gid : e.gid_to_local, &c),
                         "writing global id");
    return c;
}

// Appends ID -> GID to l: (ID is the highest local id) through the transaction's cursor.
Status append_local(TxnState& s, const EntityInfo& e, uint64_t id, const Gid& gid) {
    Status st;
    MDB_cursor* l = cursor_of(s, e, true, st);
    OUTPOST_RETURN_IF_ERROR(st);
    MDB_val k = mdb_val(&id, 8), v = mdb_val(gid.data(), gid.size());
    int rc = mdb_cursor_put(l, &k, &v, MDB_APPEND);
    if (rc == MDB_KEYEXIST) rc = mdb_cursor_put(l, &k, &v, 0);
    return lmdb_status(rc, "writing global id");
}

// When the run this transaction last wrote for E ends just before GID and ID, makes it one longer
// and returns true.
Result<bool> extend_run(TxnState& s, const EntityInfo& e, MDB_cursor* g, uint64_t id,
                        const Gid& gid) {
    if (s.gid_tails.size() <= e.pos) return false;
    TxnState::GidTail& tail = s.gid_tails[e.pos];
    if (tail.count == 0 || tail.first + tail.count != id ||
        std::memcmp(tail.key.data(), gid.data(), kRunShared) != 0 ||
        counter_of(tail.key) + tail.count != counter_of(gid)) {
        return false;
    }
    // The cursor stays on the run unless other writes to g: moved it; the entry must still be the
    // run.
    MDB_val k, v;
    int rc = mdb_cursor_get(g, &k, &v, MDB_GET_CURRENT);
    if (rc != 0 || as_view(k) != tail.key) {
        k = mdb_val(tail.key.data(), tail.key.size());
        rc = mdb_cursor_get(g, &k, &v, MDB_SET_KEY);
    }
    uint64_t val[2] = {tail.first, tail.count};
    if (rc != 0 || v.mv_size != 16 || std::memcmp(v.mv_data, val, 16) != 0) {
        tail.count = 0;
        return false;
    }
    val[1] = tail.count + 1;
    MDB_val nk = mdb_val(tail.key.data(), tail.key.size()), nv = mdb_val(val, sizeof val);
    OUTPOST_RETURN_IF_LMDB_ERROR(mdb_cursor_put(g, &nk, &nv, MDB_CURRENT), "writing global id");
    ++tail.count;
    return true;
}

}  // namespace

std::string gid_runs_key(const EntityInfo& e) {
    return kRunsKeyPrefix + std::to_string(e.entity->id.uid);
}

Result<std::optional<uint64_t>> lookup_local(MDB_txn* txn, const EntityInfo& e, const Gid& gid) {
    if (e.gid_to_local == 0 || gid.empty() || gid.size() > 500) return std::optional<uint64_t>();
    OUTPOST_ASSIGN_OR_RETURN(auto m, find_mapping(txn, e, gid));
    if (!m) return std::optional<uint64_t>();
    return std::optional<uint64_t>(m->id);
}

Status map_gid(MDB_txn* txn, const EntityInfo& e, uint64_t id, const Gid& gid, bool fresh,
               bool local_too) {
    if (gid.size() > 500) return {ErrorCode::kInvalidArgument, "global id longer than 500 bytes"};
    // Mapped by a run: take it out, so that it maps to ID alone.
    OUTPOST_ASSIGN_OR_RETURN(auto m, find_mapping(txn, e, gid));
    if (m && m->run) OUTPOST_RETURN_IF_ERROR(remove_mapping(txn, e, *m, gid));
    // ObjectIds made here grow (time, then counter), so a new one usually sorts last: try
    // appending, which skips the search, and fall back to a normal put when it does not.
    MDB_val k = mdb_val(gid.data(), gid.size()), v = mdb_val(&id, 8);
    int grc = fresh ? mdb_put(txn, e.gid_to_local, &k, &v, MDB_APPEND) : MDB_KEYEXIST;
    if (grc == MDB_KEYEXIST) grc = mdb_put(txn, e.gid_to_local, &k, &v, 0);
    OUTPOST_RETURN_IF_LMDB_ERROR(grc, "writing global id");
    if (!local_too) return Status::ok();
    // A fresh id is the highest local id: appending skips the search.
    MDB_val k2 = mdb_val(&id, 8), v2 = mdb_val(gid.data(), gid.size());
    int rc = mdb_put(txn, e.local_to_gid, &k2, &v2, fresh ? MDB_APPEND : 0);
    if (rc == MDB_KEYEXIST && fresh) rc = mdb_put(txn, e.local_to_gid, &k2, &v2, 0);
    OUTPOST_RETURN_IF_LMDB_ERROR(rc, "writing global id");
    return Status::ok();
}

Status map_new_gid(TxnState& s, const EntityInfo& e, uint64_t id, const Gid& gid, bool local_too) {
    if (gid.size() > 500) return {ErrorCode::kInvalidArgument, "global id longer than 500 bytes"};
    Status st;
    MDB_cursor* g = cursor_of(s, e, false, st);
    OUTPOST_RETURN_IF_ERROR(st);
    if (is_object_id(gid)) {
        OUTPOST_ASSIGN_OR_RETURN(bool extended, extend_run(s, e, g, id, gid));
        if (!extended) {
            // A run of one, which the next ObjectIds of this transaction extend.
            OUTPOST_RETURN_IF_ERROR(note_runs(s.txn, *s.store, e));
            uint64_t val[2] = {id, 1};
            MDB_val k = mdb_val(gid.data(), gid.size()), v = mdb_val(val, sizeof val);
            int rc = mdb_cursor_put(g, &k, &v, MDB_APPEND);
            if (rc == MDB_KEYEXIST) rc = mdb_cursor_put(g, &k, &v, 0);
            OUTPOST_RETURN_IF_LMDB_ERROR(rc, "writing global id");
            if (s.gid_tails.size() <= e.pos) s.gid_tails.resize(s.store->entities.size());
            s.gid_tails[e.pos] = TxnState::GidTail{gid, id, 1};
        }
    } else {
        // As map_gid: GIDs made here usually sort last, a fresh id always does.
        MDB_val k = mdb_val(gid.data(), gid.size()), v = mdb_val(&id, 8);
        int rc = mdb_cursor_put(g, &k, &v, MDB_APPEND);
        if (rc == MDB_KEYEXIST) rc = mdb_cursor_put(g, &k, &v, 0);
        OUTPOST_RETURN_IF_LMDB_ERROR(rc, "writing global id");
    }
    if (!local_too) return Status::ok();
    return append_local(s, e, id, gid);
}

Result<uint64_t> map_gid_unless_mapped(TxnState& s, const EntityInfo& e, uint64_t id,
                                       const Gid& gid) {
    if (gid.size() > 500)
        return Status(ErrorCode::kInvalidArgument, "global id longer than 500 bytes");
    if (e.gid_runs.load() && is_object_id(gid)) {
        OUTPOST_ASSIGN_OR_RETURN(auto m, find_mapping(s.txn, e, gid));
        if (m) return m->id;
    }
    Status st;
    MDB_cursor* g = cursor_of(s, e, false, st);
    OUTPOST_RETURN_IF_ERROR(st);
    // A GID that sorts after every mapped one cannot be mapped: append it. Otherwise one search
    // both finds an existing mapping (LMDB hands back its value) and places a new one.
    MDB_val k = mdb_val(gid.data(), gid.size()), v = mdb_val(&id, 8);
    int rc = mdb_cursor_put(g, &k, &v, MDB_APPEND);
    if (rc == MDB_KEYEXIST) {
        v = mdb_val(&id, 8);
        rc = mdb_cursor_put(g, &k, &v, MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST) {
            OUTPOST_ASSIGN_OR_RETURN(Mapping m, mapping_of(gid, v));
            return m.id;
        }
    }
    OUTPOST_RETURN_IF_LMDB_ERROR(rc, "writing global id");
    OUTPOST_RETURN_IF_ERROR(append_local(s, e, id, gid));
    return id;
}

Status unmap_gid(MDB_txn* txn, const EntityInfo& e, uint64_t id) {
    OUTPOST_ASSIGN_OR_RETURN(auto gid, lookup_gid(txn, e, id));
    if (!gid) return Status::ok();
    OUTPOST_ASSIGN_OR_RETURN(auto m, find_mapping(txn, e, *gid));
    if (m) OUTPOST_RETURN_IF_ERROR(remove_mapping(txn, e, *m, *gid));
    MDB_val k2 = mdb_val(&id, 8);
    int rc = mdb_del(txn, e.local_to_gid, &k2, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_status(rc, "removing global id");
    return Status::ok();
}

Status for_each_mapping(MDB_txn* txn, const EntityInfo& e,
                        const std::function<void(const Gid&, uint64_t)>& fn) {
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(
        lmdb_status(mdb_cursor_open(txn, e.gid_to_local, &cur), "reading global ids"));
    MDB_val k, v;
    Status st;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        auto m = mapping_of(as_view(k), v);
        if (!m) {
            st = m.status();
            break;
        }
        for (uint64_t i = 0; i < m->count; ++i) {
            fn(m->run ? with_counter(m->key, counter_of(m->key) + static_cast<uint32_t>(i))
                      : m->key,
               m->first + i);
        }
    }
    mdb_cursor_close(cur);
    return st;
}

}  // namespace outpost::detail
