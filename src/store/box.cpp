// Box operations: put (with index and unique maintenance), get, remove (with relation cleanup).
#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "store/changelog_internal.hpp"
#include "store/codec.hpp"
#include "store/gid_map.hpp"
#include "store/index.hpp"
#include "store/index_key.hpp"
#include "store/object_table.hpp"
#include "store/object_verify.hpp"
#include "store/store_core.hpp"

namespace outpost {

using detail::EntityInfo;
using detail::IndexInfo;
using detail::lmdb_status;
using detail::mdb_val;
using detail::RelationInfo;
using detail::TxnState;

namespace detail {

Status require_write(Txn& txn) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    if (!txn.is_write()) return {ErrorCode::kTxnMisuse, "this operation needs a write transaction"};
    return Status::ok();
}

Result<std::optional<MDB_val>> get_raw(MDB_txn* txn, const EntityInfo& e, uint64_t id,
                                       bool verify) {
    if (e.objects == 0 || id == 0) return std::optional<MDB_val>();
    MDB_val k = mdb_val(&id, 8), v;
    int rc = mdb_get(txn, e.objects, &k, &v);
    if (rc == MDB_NOTFOUND) return std::optional<MDB_val>();
    OUTPOST_RETURN_IF_LMDB_ERROR(rc, "reading " + e.entity->name + " " + std::to_string(id));
    if (verify)
        OUTPOST_RETURN_IF_ERROR(
            verify_object(e, id, static_cast<const uint8_t*>(v.mv_data), v.mv_size));
    return std::optional<MDB_val>(v);
}

ObjectReader reader_of(const EntityInfo& e, const MDB_val& v) {
    return detail::Access::reader(&e, static_cast<const uint8_t*>(v.mv_data), v.mv_size);
}

Result<uint64_t> next_id(TxnState& s, const EntityInfo& e) {
    auto it = s.next_ids.find(&e);
    if (it == s.next_ids.end()) {
        MDB_val k = mdb_val(e.seq_key.data(), e.seq_key.size()), v;
        int rc = mdb_get(s.txn, s.store->meta, &k, &v);
        uint64_t last = 0;
        if (rc == 0) {
            last = detail::read_u64(v);
        } else if (rc != MDB_NOTFOUND) {
            return lmdb_status(rc, "reading id sequence");
        }
        it = s.next_ids.emplace(&e, last + 1).first;
    }
    if (it->second == UINT64_MAX) {
        return Status(ErrorCode::kOutOfRange, e.entity->name + ": no ids left");
    }
    return it->second++;
}

void give_back_id(TxnState& s, const EntityInfo& e, uint64_t id) {
    auto it = s.next_ids.find(&e);
    if (it != s.next_ids.end() && it->second == id + 1) it->second = id;
}

// Makes sure later automatic ids stay above an id chosen by the caller.
Status bump_sequence(TxnState& s, const EntityInfo& e, uint64_t id) {
    auto it = s.next_ids.find(&e);
    if (it == s.next_ids.end()) {
        OUTPOST_ASSIGN_OR_RETURN(uint64_t n, next_id(s, e));
        it = s.next_ids.find(&e);
        it->second = n;  // not consumed
    }
    if (id >= it->second) it->second = id + 1;
    return Status::ok();
}

// Ids stored under KEY in a dupsort index.
Result<std::vector<uint64_t>> index_ids(MDB_txn* txn, MDB_dbi dbi, const std::string& key) {
    std::vector<uint64_t> out;
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_cursor_open(txn, dbi, &cur), "index lookup"));
    MDB_val k = mdb_val(key.data(), key.size()), v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
        out.push_back(detail::read_u64(v));
    }
    mdb_cursor_close(cur);
    return out;
}

Status index_del(MDB_txn* txn, const IndexInfo& idx, const std::string& key, uint64_t id) {
    MDB_val k = mdb_val(key.data(), key.size()), v = mdb_val(&id, 8);
    int rc = mdb_del(txn, idx.dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return Status::ok();
    OUTPOST_RETURN_IF_LMDB_ERROR(rc, "updating index " + idx.prop->name);
    return Status::ok();
}

Status index_put(MDB_txn* txn, const IndexInfo& idx, const std::string& key, uint64_t id) {
    MDB_val k = mdb_val(key.data(), key.size()), v = mdb_val(&id, 8);
    int rc = mdb_put(txn, idx.dbi, &k, &v, MDB_NODUPDATA);
    if (rc == MDB_KEYEXIST) return Status::ok();
    OUTPOST_RETURN_IF_LMDB_ERROR(rc, "updating index " + idx.prop->name);
    return Status::ok();
}

std::vector<uint64_t> unpack_ids(const MDB_val& v) {
    std::vector<uint64_t> out(v.mv_size / 8);
    if (!out.empty()) std::memcpy(out.data(), v.mv_data, out.size() * 8);
    return out;
}

Status write_to_many(TxnState& s, const RelationInfo& r, uint64_t src,
                     std::span<const uint64_t> targets) {
    MDB_val k = mdb_val(&src, 8), v;
    std::vector<uint64_t> old;
    int rc = mdb_get(s.txn, r.list_dbi, &k, &v);
    if (rc == 0) {
        old = unpack_ids(v);
    } else if (rc != MDB_NOTFOUND) {
        OUTPOST_RETURN_IF_LMDB_ERROR(rc, "reading relation " + r.rel->name);
    }
    if (old.size() == targets.size() && std::equal(old.begin(), old.end(), targets.begin())) {
        return Status::ok();
    }
    if (r.source->entity->sync) OUTPOST_RETURN_IF_ERROR(log_to_many(s, r, src, targets));
    std::unordered_set<uint64_t> now(targets.begin(), targets.end());
    std::unordered_set<uint64_t> before(old.begin(), old.end());
    for (uint64_t t : before) {
        if (now.count(t)) continue;
        MDB_val bk = mdb_val(&t, 8), bv = mdb_val(&src, 8);
        int drc = mdb_del(s.txn, r.backlink_dbi, &bk, &bv);
        if (drc != 0 && drc != MDB_NOTFOUND)
            return lmdb_status(drc, "updating relation " + r.rel->name);
    }
    for (uint64_t t : now) {
        if (before.count(t) || t == 0) continue;
        MDB_val bk = mdb_val(&t, 8), bv = mdb_val(&src, 8);
        int prc = mdb_put(s.txn, r.backlink_dbi, &bk, &bv, MDB_NODUPDATA);
        if (prc != 0 && prc != MDB_KEYEXIST)
            return lmdb_status(prc, "updating relation " + r.rel->name);
    }
    if (targets.empty()) {
        int drc = mdb_del(s.txn, r.list_dbi, &k, nullptr);
        if (drc != 0 && drc != MDB_NOTFOUND)
            return lmdb_status(drc, "updating relation " + r.rel->name);
        return Status::ok();
    }
    MDB_val nv = mdb_val(targets.data(), targets.size() * 8);
    OUTPOST_RETURN_IF_LMDB_ERROR(mdb_put(s.txn, r.list_dbi, &k, &nv, 0),
                                 "updating relation " + r.rel->name);
    return Status::ok();
}

namespace {

// The id that a put of ID in MODE writes (a new one for 0), and OLD, the stored version it
// replaces. ABSENT: the caller knows ID is new.
Status resolve_put(TxnState& s, const EntityInfo& e, uint64_t& id, PutMode mode, bool absent,
                   std::optional<MDB_val>& old) {
    if (id == 0) {
        if (mode == PutMode::kUpdate) {
            return Status(ErrorCode::kPutMode,
                          e.entity->name + ": update needs an existing id, not 0");
        }
        // A fresh id is above every id ever used: there is no old version to look up.
        OUTPOST_ASSIGN_OR_RETURN(id, next_id(s, e));
    } else if (!absent) {
        if (id == UINT64_MAX) {
            return Status(ErrorCode::kOutOfRange, e.entity->name + ": ids go up to 2^64-2");
        }
        OUTPOST_RETURN_IF_ERROR(bump_sequence(s, e, id));
        OUTPOST_ASSIGN_OR_RETURN(old, get_raw(s.txn, e, id, e.verify_reads));
    }
    if (old && mode == PutMode::kInsert) {
        return Status(ErrorCode::kPutMode,
                      e.entity->name + " " + std::to_string(id) + " already exists (insert mode)");
    }
    if (!old && mode == PutMode::kUpdate) {
        return Status(ErrorCode::kPutMode,
                      e.entity->name + " " + std::to_string(id) + " does not exist (update mode)");
    }
    return Status::ok();
}

// The unique checks of a put of NOW as object ID: kUniqueViolation when another object holds one of
// its unique values, else the other objects that a replacing unique index removes, into REPLACED.
Status check_unique(MDB_txn* txn, const EntityInfo& e, uint64_t id, const ObjectReader& now,
                    std::vector<uint64_t>& replaced) {
    for (const auto& idx : e.indexes) {
        if (!idx.unique) continue;
        auto key = detail::index_key(idx, now);
        if (!key) continue;
        OUTPOST_ASSIGN_OR_RETURN(auto holders, index_ids(txn, idx.dbi, *key));
        for (uint64_t other : holders) {
            if (other == id) continue;
            OUTPOST_ASSIGN_OR_RETURN(auto ov, get_raw(txn, e, other, e.verify_reads));
            if (!ov || !detail::same_indexed_value(idx, reader_of(e, *ov), now)) continue;
            if (!idx.replace) {
                return Status(ErrorCode::kUniqueViolation,
                              e.entity->name + "." + idx.prop->name + ": value " +
                                  detail::format_value(now.get_value(idx.prop_pos)) +
                                  " is already used by object " + std::to_string(other));
            }
            replaced.push_back(other);
        }
    }
    return Status::ok();
}

// Moves object ID's index entries from its OLD version (if any) to NOW.
Status update_indexes(MDB_txn* txn, const EntityInfo& e, uint64_t id,
                      const std::optional<MDB_val>& old, const ObjectReader& now) {
    for (const auto& idx : e.indexes) {
        std::optional<std::string> old_key;
        if (old) old_key = detail::index_key(idx, reader_of(e, *old));
        auto new_key = detail::index_key(idx, now);
        if (old_key == new_key) continue;
        if (old_key) OUTPOST_RETURN_IF_ERROR(index_del(txn, idx, *old_key, id));
        if (new_key) OUTPOST_RETURN_IF_ERROR(index_put(txn, idx, *new_key, id));
    }
    return Status::ok();
}

}  // namespace

// Writes BYTES as object ID of entity E, keeping indexes right. Checks everything that can fail on
// the caller's input (mode, unique values) before it changes anything.
Result<uint64_t> put_bytes(TxnState& s, const EntityInfo& e, uint64_t id, PutMode mode,
                           std::span<const uint8_t> bytes, bool absent) {
    MDB_txn* txn = s.txn;
    std::optional<MDB_val> old;
    bool fresh = id == 0;
    OUTPOST_RETURN_IF_ERROR(resolve_put(s, e, id, mode, absent, old));
    ObjectReader now = detail::Access::reader(&e, bytes.data(), bytes.size());

    // Unique checks first: a failing put leaves the transaction untouched.
    std::vector<uint64_t> replaced;
    OUTPOST_RETURN_IF_ERROR(check_unique(txn, e, id, now, replaced));
    // The stored bytes may live in the thread's writer buffer, which removing other objects can
    // reuse: keep a copy when replacing.
    std::vector<uint8_t> keep;
    if (!replaced.empty()) {
        keep.assign(bytes.begin(), bytes.end());
        bytes = keep;
        for (uint64_t other : replaced)
            OUTPOST_RETURN_IF_ERROR(remove_object(s, e, other).status());
        // The old version may have moved; its bytes are the ones read above.
        OUTPOST_ASSIGN_OR_RETURN(old, get_raw(txn, e, id, false));
        now = detail::Access::reader(&e, bytes.data(), bytes.size());
    }

    OUTPOST_RETURN_IF_ERROR(update_indexes(txn, e, id, old, now));
    MDB_val k = mdb_val(&id, 8), v = mdb_val(bytes.data(), bytes.size());
    unsigned flags = absent ? MDB_APPEND : 0;
    Gid gid;
    size_t gid_field = 0;
    if (old) {
        OUTPOST_ASSIGN_OR_RETURN(bool wrote, keep_stored_version(s, e, id, *old));
        if (wrote) {
            OUTPOST_ASSIGN_OR_RETURN(old,
                                     get_raw(txn, e, id, false));  // moved; the bytes read above
        }
    }
    if (e.entity->sync) {
        // Before the write: OLD points into a page that the write may reuse (GID is a copy).
        gid_field = e.gid_in_record ? record_gid_field(e, bytes.data(), bytes.size()) : 0;
        OUTPOST_RETURN_IF_ERROR(
            gid_for_put(s, e, id, old ? &*old : nullptr, fresh, gid_field != 0, gid));
        ObjectReader old_reader = old ? reader_of(e, *old) : now;
        OUTPOST_RETURN_IF_ERROR(log_put(s, e, id, old ? &old_reader : nullptr, now, fresh, gid));
        if (gid_field != 0) {
            v.mv_size = record_size_with_gid(bytes.size(), gid.size());
            flags |= MDB_RESERVE;
        }
    }
    // An id just taken from the sequence is above every stored id: appending skips the search.
    int rc = mdb_put(txn, e.objects, &k, &v, flags);
    if (rc == MDB_KEYEXIST && absent)
        rc = mdb_put(txn, e.objects, &k, &v, flags & ~unsigned{MDB_APPEND});
    OUTPOST_RETURN_IF_LMDB_ERROR(rc, "writing " + e.entity->name + " " + std::to_string(id));
    if (gid_field != 0)
        write_record_with_gid(static_cast<uint8_t*>(v.mv_data), bytes, gid_field, gid);
    s.record_put(e, id);
    return id;
}

Result<std::span<const uint8_t>> encode(const EntityInfo& e, const Object& obj) {
    auto* ws = detail::writer_begin(e);
    ObjectWriter w = detail::Access::writer(ws);
    OUTPOST_RETURN_IF_ERROR(detail::write_object(obj, w));
    return detail::writer_finish(ws);
}

Result<std::vector<uint64_t>> dup_ids(MDB_txn* txn, MDB_dbi dbi, uint64_t key) {
    std::vector<uint64_t> out;
    if (dbi == 0) return out;
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_cursor_open(txn, dbi, &cur), "reading backlinks"));
    MDB_val k = mdb_val(&key, 8), v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
        out.push_back(detail::read_u64(v));
    }
    mdb_cursor_close(cur);
    return out;
}

Result<std::vector<uint64_t>> read_to_many(MDB_txn* txn, const RelationInfo& r, uint64_t src) {
    if (r.list_dbi == 0) return std::vector<uint64_t>();
    MDB_val k = mdb_val(&src, 8), v;
    int rc = mdb_get(txn, r.list_dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return std::vector<uint64_t>();
    OUTPOST_RETURN_IF_LMDB_ERROR(rc, "reading relation " + r.rel->name);
    return unpack_ids(v);
}

// Rewrites object SRC_ID of SRC without its to-one pointer at property POS.
Status clear_to_one(TxnState& s, const EntityInfo& src, uint64_t src_id, int pos) {
    OUTPOST_ASSIGN_OR_RETURN(auto raw, get_raw(s.txn, src, src_id, src.verify_reads));
    if (!raw) return Status::ok();
    Object obj(*src.entity);
    obj.id = src_id;
    detail::read_object(reader_of(src, *raw), obj);
    obj.values()[pos] = Value();
    OUTPOST_ASSIGN_OR_RETURN(auto bytes, encode(src, obj));
    return put_bytes(s, src, src_id, PutMode::kUpdate, bytes).status();
}

Result<bool> remove_object(TxnState& s, const EntityInfo& e, uint64_t id) {
    MDB_txn* txn = s.txn;
    OUTPOST_ASSIGN_OR_RETURN(auto raw, get_raw(txn, e, id, e.verify_reads));
    if (!raw) return false;
    OUTPOST_ASSIGN_OR_RETURN(bool wrote, keep_stored_version(s, e, id, *raw));
    if (wrote) {
        OUTPOST_ASSIGN_OR_RETURN(raw, get_raw(txn, e, id, false));  // moved; the bytes read above
    }
    {
        ObjectReader old = reader_of(e, *raw);
        for (const auto& idx : e.indexes) {
            if (auto key = detail::index_key(idx, old))
                OUTPOST_RETURN_IF_ERROR(index_del(txn, idx, *key, id));
        }
    }
    if (e.entity->sync) OUTPOST_RETURN_IF_ERROR(log_remove(s, e, id));
    for (const auto& r : e.relations) OUTPOST_RETURN_IF_ERROR(write_to_many(s, r, id, {}));
    MDB_val k = mdb_val(&id, 8);
    OUTPOST_RETURN_IF_LMDB_ERROR(mdb_del(txn, e.objects, &k, nullptr),
                                 "removing " + e.entity->name + " " + std::to_string(id));
    s.record_remove(e, id);
    // Links into the removed object: clear to-one pointers, drop it from to-many lists.
    for (const auto& link : e.incoming) {
        const EntityInfo& src = *link.source;
        if (link.to_many) {
            const RelationInfo& r = src.relations[link.pos];
            OUTPOST_ASSIGN_OR_RETURN(auto sources, dup_ids(txn, r.backlink_dbi, id));
            for (uint64_t src_id : sources) {
                OUTPOST_ASSIGN_OR_RETURN(auto list, read_to_many(txn, r, src_id));
                list.erase(std::remove(list.begin(), list.end(), id), list.end());
                OUTPOST_RETURN_IF_ERROR(write_to_many(s, r, src_id, list));
                s.record_put(src, src_id);
            }
        } else {
            const IndexInfo& idx = src.indexes[src.index_of_prop[link.pos]];
            std::string key =
                detail::int_key(static_cast<int64_t>(id), idx.prop->has(kFlagUnsigned));
            OUTPOST_ASSIGN_OR_RETURN(auto sources, index_ids(txn, idx.dbi, key));
            for (uint64_t src_id : sources)
                OUTPOST_RETURN_IF_ERROR(clear_to_one(s, src, src_id, link.pos));
        }
    }
    return true;
}

}  // namespace detail

using namespace detail;

// ---- DynamicBox ----

DynamicBox::DynamicBox(std::shared_ptr<Store> store, const detail::EntityInfo* info)
    : store_(std::move(store)), info_(info), verify_(info->verify_reads) {}

DynamicBox DynamicBox::verified() const {
    DynamicBox b = *this;
    b.verify_ = true;
    return b;
}

const Entity& DynamicBox::entity() const { return *info_->entity; }

Result<uint64_t> DynamicBox::put(WriteTxn& txn, Object& object, PutMode mode) {
    OUTPOST_RETURN_IF_ERROR(require_write(txn));
    if (&object.entity() != info_->entity) {
        return Status(ErrorCode::kInvalidArgument, "object of entity " + object.entity().name +
                                                       " put into box of " + info_->entity->name);
    }
    OUTPOST_ASSIGN_OR_RETURN(auto bytes, encode(*info_, object));
    OUTPOST_ASSIGN_OR_RETURN(
        uint64_t id, put_bytes(*detail::Access::state(txn), *info_, object.id, mode, bytes));
    object.id = id;
    for (const auto& r : info_->relations) {
        OUTPOST_RETURN_IF_ERROR(
            write_to_many(*detail::Access::state(txn), r, id, object.to_many()[r.pos]));
    }
    return id;
}

Status DynamicBox::put_many(WriteTxn& txn, std::vector<Object>& objects, PutMode mode) {
    for (auto& o : objects) OUTPOST_RETURN_IF_ERROR(put(txn, o, mode).status());
    return Status::ok();
}

Result<std::optional<ObjectReader>> DynamicBox::read(Txn& txn, uint64_t id) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    OUTPOST_ASSIGN_OR_RETURN(auto raw,
                             get_raw(detail::Access::state(txn)->txn, *info_, id, verify_));
    if (!raw) return std::optional<ObjectReader>();
    return std::optional<ObjectReader>(reader_of(*info_, *raw));
}

Result<std::optional<Object>> DynamicBox::get(Txn& txn, uint64_t id) {
    OUTPOST_ASSIGN_OR_RETURN(auto r, read(txn, id));
    if (!r) return std::optional<Object>();
    Object obj(*info_->entity);
    obj.id = id;
    detail::read_object(*r, obj);
    for (const auto& rel : info_->relations) {
        OUTPOST_ASSIGN_OR_RETURN(obj.to_many()[rel.pos],
                                 read_to_many(detail::Access::state(txn)->txn, rel, id));
    }
    return std::optional<Object>(std::move(obj));
}

Result<std::vector<std::optional<Object>>> DynamicBox::get_many(Txn& txn,
                                                                std::span<const uint64_t> ids) {
    std::vector<std::optional<Object>> out;
    out.reserve(ids.size());
    for (uint64_t id : ids) {
        OUTPOST_ASSIGN_OR_RETURN(auto o, get(txn, id));
        out.push_back(std::move(o));
    }
    return out;
}

Result<std::vector<uint64_t>> DynamicBox::ids(Txn& txn) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    std::vector<uint64_t> out;
    if (info_->objects == 0) return out;
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(
        mdb_cursor_open(detail::Access::state(txn)->txn, info_->objects, &cur), "scan"));
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        out.push_back(detail::read_u64(k));
    }
    mdb_cursor_close(cur);
    return out;
}

Result<std::vector<Object>> DynamicBox::get_all(Txn& txn) {
    OUTPOST_ASSIGN_OR_RETURN(auto all, ids(txn));
    std::vector<Object> out;
    out.reserve(all.size());
    for (uint64_t id : all) {
        OUTPOST_ASSIGN_OR_RETURN(auto o, get(txn, id));
        if (o) out.push_back(std::move(*o));
    }
    return out;
}

Result<bool> DynamicBox::contains(Txn& txn, uint64_t id) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    OUTPOST_ASSIGN_OR_RETURN(
        auto raw, get_raw(detail::Access::state(txn)->txn, *info_, id, false));  // not read
    return raw.has_value();
}

Result<uint64_t> DynamicBox::count(Txn& txn) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    if (info_->objects == 0) return uint64_t{0};
    MDB_stat st;
    OUTPOST_RETURN_IF_ERROR(
        lmdb_status(mdb_stat(detail::Access::state(txn)->txn, info_->objects, &st), "count"));
    return static_cast<uint64_t>(st.ms_entries);
}

Result<bool> DynamicBox::remove(WriteTxn& txn, uint64_t id) {
    OUTPOST_RETURN_IF_ERROR(require_write(txn));
    return remove_object(*detail::Access::state(txn), *info_, id);
}

Result<uint64_t> DynamicBox::remove_many(WriteTxn& txn, std::span<const uint64_t> ids) {
    OUTPOST_RETURN_IF_ERROR(require_write(txn));
    uint64_t n = 0;
    for (uint64_t id : ids) {
        OUTPOST_ASSIGN_OR_RETURN(bool removed,
                                 remove_object(*detail::Access::state(txn), *info_, id));
        n += removed ? 1 : 0;
    }
    return n;
}

Result<uint64_t> DynamicBox::remove_all(WriteTxn& txn) {
    OUTPOST_ASSIGN_OR_RETURN(auto all, ids(txn));
    return remove_many(txn, all);
}

Result<std::vector<uint64_t>> DynamicBox::backlinks(Txn& txn, std::string_view source_entity,
                                                    std::string_view link, uint64_t id) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    const EntityInfo* src = detail::Access::impl(*store_)->entity(source_entity);
    if (!src) {
        return Status(ErrorCode::kUnknownEntity,
                      "the model has no entity "
                      " + std::string(source_entity) + "
                      "");
    }
    for (const auto& in : info_->incoming) {
        if (in.source != src) continue;
        if (in.to_many && src->relations[in.pos].rel->name == link) {
            return dup_ids(detail::Access::state(txn)->txn, src->relations[in.pos].backlink_dbi,
                           id);
        }
        if (!in.to_many && src->entity->properties[in.pos].name == link) {
            const IndexInfo& idx = src->indexes[src->index_of_prop[in.pos]];
            if (idx.dbi == 0) return std::vector<uint64_t>();
            return index_ids(
                detail::Access::state(txn)->txn, idx.dbi,
                detail::int_key(static_cast<int64_t>(id), idx.prop->has(kFlagUnsigned)));
        }
    }
    return Status(ErrorCode::kUnknownProperty, std::string(source_entity) + "." +
                                                   std::string(link) + " is not a relation to " +
                                                   info_->entity->name);
}

Result<uint64_t> DynamicBox::put_with(WriteTxn& txn, uint64_t id, PutMode mode,
                                      const std::function<Status(ObjectWriter&)>& fill) {
    OUTPOST_RETURN_IF_ERROR(require_write(txn));
    auto* ws = detail::writer_begin(*info_);
    ObjectWriter w = detail::Access::writer(ws);
    OUTPOST_RETURN_IF_ERROR(fill(w));
    OUTPOST_ASSIGN_OR_RETURN(auto bytes, detail::writer_finish(ws));
    return put_bytes(*detail::Access::state(txn), *info_, id, mode, bytes);
}

Status DynamicBox::set_to_many(WriteTxn& txn, int relation_pos, uint64_t id,
                               std::span<const uint64_t> targets) {
    OUTPOST_RETURN_IF_ERROR(require_write(txn));
    return write_to_many(*detail::Access::state(txn), info_->relations.at(relation_pos), id,
                         targets);
}

Result<std::vector<uint64_t>> DynamicBox::get_to_many(Txn& txn, int relation_pos, uint64_t id) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    return read_to_many(detail::Access::state(txn)->txn, info_->relations.at(relation_pos), id);
}

Result<uint64_t> DynamicBox::put(Object& object, PutMode mode) {
    OUTPOST_ASSIGN_OR_RETURN(WriteTxn txn, store_->begin_write());
    OUTPOST_ASSIGN_OR_RETURN(uint64_t id, put(txn, object, mode));
    OUTPOST_RETURN_IF_ERROR(txn.commit());
    return id;
}

Result<std::optional<Object>> DynamicBox::get(uint64_t id) {
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, store_->begin_read());
    return get(txn, id);
}

Result<bool> DynamicBox::remove(uint64_t id) {
    OUTPOST_ASSIGN_OR_RETURN(WriteTxn txn, store_->begin_write());
    OUTPOST_ASSIGN_OR_RETURN(bool removed, remove(txn, id));
    OUTPOST_RETURN_IF_ERROR(txn.commit());
    return removed;
}

Result<uint64_t> DynamicBox::count() {
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, store_->begin_read());
    return count(txn);
}

}  // namespace outpost
