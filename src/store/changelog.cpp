// The change log: records built during a write transaction, appended at commit; reading, trimming, and
// applying change sets made elsewhere.
#include <algorithm>
#include <cstring>

#include "store/store_impl.hpp"

namespace outpost {
namespace detail {
namespace {

constexpr const char* kLastKey = "changelog:last";

// The entry of object ID of E (GID) in this transaction's record, created as a put when missing.
// FRESH: the object cannot have an entry yet.
ObjectChange& entry_for(TxnState& s, const EntityInfo& e, uint64_t id, const Gid& gid, bool is_new,
                        bool fresh = false) {
    PendingLog::Key key{e.entity->id.uid, id};
    if (!fresh) {
        auto it = s.log.index.find(key);
        if (it != s.log.index.end() && !s.log.dropped[it->second]) return s.log.entries[it->second];
    }
    ObjectChange c;
    c.kind = ObjectChange::kPut;
    c.entity_uid = e.entity->id.uid;
    c.gid = gid;
    c.is_new = is_new;
    s.log.index[key] = s.log.entries.size();
    s.log.entries.push_back(std::move(c));
    s.log.dropped.push_back(false);
    return s.log.entries.back();
}

// A relation value (local id) as the target's GID, or null when the target has none.
Result<Value> relation_value(MDB_txn* txn, const StoreImpl& store, const Property& p, int64_t id) {
    if (id == 0) return Value();
    const EntityInfo* target = store.entity(p.target);
    OUTPOST_ASSIGN_OR_RETURN(auto gid, lookup_gid(txn, *target, static_cast<uint64_t>(id)));
    if (!gid) return Value();
    return Value(Bytes(gid->begin(), gid->end()));
}

Result<Gid> ensure_gid(TxnState& s, const EntityInfo& e, uint64_t id, bool fresh) {
    if (!fresh) {
        OUTPOST_ASSIGN_OR_RETURN(auto gid, lookup_gid(s.txn, e, id));
        if (gid) return *gid;
    }
    Gid g = new_gid_for(*e.entity);
    OUTPOST_RETURN_IF_ERROR(map_gid(s.txn, e, id, g, fresh));
    return g;
}

Result<uint64_t> read_last(MDB_txn* txn, MDB_dbi meta) {
    MDB_val k = mdb_val(kLastKey, std::strlen(kLastKey)), v;
    int rc = mdb_get(txn, meta, &k, &v);
    if (rc == MDB_NOTFOUND) return uint64_t{0};
    OUTPOST_RETURN_IF_ERROR(lmdb_status(rc, "reading change log position"));
    return read_u64(v);
}

}  // namespace

bool PendingLog::empty() const {
    return std::none_of(dropped.begin(), dropped.end(), [](bool d) { return !d; });
}

Status log_put(TxnState& s, const EntityInfo& e, uint64_t id, const ObjectReader* old,
               const ObjectReader& now, bool fresh) {
    OUTPOST_ASSIGN_OR_RETURN(Gid gid, ensure_gid(s, e, id, fresh));
    if (s.applying_remote) return Status::ok();
    std::vector<PropertyChange> changed;
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
                if (a.is<double>() && b.is<double>() && std::memcmp(&a.as<double>(), &b.as<double>(), 8) == 0) {
                    continue;
                }
            }
        } else if (now.is_null(pos)) {
            continue;
        }
        PropertyChange pc;
        pc.property_uid = p.id.uid;
        if (p.type == PropertyType::kRelation) {
            OUTPOST_ASSIGN_OR_RETURN(pc.value, relation_value(s.txn, *s.store, p, now.get_int(pos)));
        } else {
            pc.value = now.get_value(pos);
        }
        changed.push_back(std::move(pc));
    }
    if (changed.empty() && old) return Status::ok();
    ObjectChange& c = entry_for(s, e, id, gid, old == nullptr, fresh);
    if (fresh) {
        c.properties = std::move(changed);
        return Status::ok();
    }
    for (auto& pc : changed) {
        auto it = std::find_if(c.properties.begin(), c.properties.end(),
                               [&](const PropertyChange& x) { return x.property_uid == pc.property_uid; });
        if (it != c.properties.end()) {
            it->value = std::move(pc.value);
        } else {
            c.properties.push_back(std::move(pc));
        }
    }
    return Status::ok();
}

Status log_to_many(TxnState& s, const RelationInfo& r, uint64_t src, std::span<const uint64_t> targets) {
    if (s.applying_remote) return Status::ok();
    OUTPOST_ASSIGN_OR_RETURN(auto gid, lookup_gid(s.txn, *r.source, src));
    if (!gid) return Status::ok();  // the source is being removed
    ToManyChange tc;
    tc.relation_uid = r.rel->id.uid;
    for (uint64_t t : targets) {
        OUTPOST_ASSIGN_OR_RETURN(auto tg, lookup_gid(s.txn, *r.target, t));
        if (tg) tc.targets.push_back(std::move(*tg));
    }
    ObjectChange& c = entry_for(s, *r.source, src, *gid, false);
    auto it = std::find_if(c.to_many.begin(), c.to_many.end(),
                           [&](const ToManyChange& x) { return x.relation_uid == tc.relation_uid; });
    if (it != c.to_many.end()) {
        *it = std::move(tc);
    } else {
        c.to_many.push_back(std::move(tc));
    }
    return Status::ok();
}

Status log_remove(TxnState& s, const EntityInfo& e, uint64_t id) {
    OUTPOST_ASSIGN_OR_RETURN(auto gid, lookup_gid(s.txn, e, id));
    if (!gid) return Status::ok();
    OUTPOST_RETURN_IF_ERROR(unmap_gid(s.txn, e, id));
    if (s.applying_remote) return Status::ok();
    PendingLog::Key key{e.entity->id.uid, id};
    auto it = s.log.index.find(key);
    if (it != s.log.index.end() && !s.log.dropped[it->second]) {
        ObjectChange& c = s.log.entries[it->second];
        if (c.kind == ObjectChange::kPut && c.is_new) {
            s.log.dropped[it->second] = true;  // made and removed in one transaction: nothing to tell
            return Status::ok();
        }
        c.kind = ObjectChange::kRemove;
        c.is_new = false;
        c.properties.clear();
        c.to_many.clear();
        return Status::ok();
    }
    ObjectChange c;
    c.kind = ObjectChange::kRemove;
    c.entity_uid = e.entity->id.uid;
    c.gid = *gid;
    s.log.index[key] = s.log.entries.size();
    s.log.entries.push_back(std::move(c));
    s.log.dropped.push_back(false);
    return Status::ok();
}

Status flush_log(TxnState& s) {
    if (s.log.entries.empty() || s.log.empty()) return Status::ok();
    ChangeSet cs;
    for (size_t i = 0; i < s.log.entries.size(); ++i) {
        if (!s.log.dropped[i]) cs.objects.push_back(std::move(s.log.entries[i]));
    }
    std::string bytes = encode_change_set(cs);
    OUTPOST_ASSIGN_OR_RETURN(uint64_t last, read_last(s.txn, s.store->meta));
    uint64_t pos = last + 1;
    MDB_val k = mdb_val(&pos, 8), v = mdb_val(bytes.data(), bytes.size());
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_put(s.txn, s.store->changelog, &k, &v, MDB_APPEND),
                                        "appending to the change log"));
    if (!s.origin.empty()) {
        MDB_val ov = mdb_val(s.origin.data(), s.origin.size());
        OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_put(s.txn, s.store->changelog_origin, &k, &ov, MDB_APPEND),
                                            "appending to the change log"));
    }
    MDB_val lk = mdb_val(kLastKey, std::strlen(kLastKey)), lv = mdb_val(&pos, 8);
    return lmdb_status(mdb_put(s.txn, s.store->meta, &lk, &lv, 0), "appending to the change log");
}

}  // namespace detail

using detail::lmdb_status;
using detail::mdb_val;

Result<std::vector<ChangeLogRecord>> ChangeLog::read(Txn& txn, uint64_t after, size_t max) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    auto* s = txn.state();
    std::vector<ChangeLogRecord> out;
    if (s->store->changelog == 0 || max == 0) return out;
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_cursor_open(s->txn, s->store->changelog, &cur), "change log"));
    uint64_t start = after + 1;
    MDB_val k = mdb_val(&start, 8), v;
    Status st;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && out.size() < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        ChangeLogRecord rec;
        rec.position = detail::read_u64(k);
        auto cs = decode_change_set({static_cast<const uint8_t*>(v.mv_data), v.mv_size});
        if (!cs) {
            st = Status(ErrorCode::kCorrupt,
                        "change log record " + std::to_string(rec.position) + ": " + cs.status().message());
            break;
        }
        rec.changes = std::move(cs).value();
        if (s->store->changelog_origin != 0) {
            MDB_val ok = mdb_val(&rec.position, 8), ov;
            if (mdb_get(s->txn, s->store->changelog_origin, &ok, &ov) == 0) rec.origin = std::string(detail::as_view(ov));
        }
        out.push_back(std::move(rec));
    }
    mdb_cursor_close(cur);
    if (!st) return st;
    return out;
}

Result<uint64_t> ChangeLog::last_position(Txn& txn) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    return detail::read_last(txn.state()->txn, txn.state()->store->meta);
}

Result<uint64_t> ChangeLog::size(Txn& txn) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    auto* s = txn.state();
    if (s->store->changelog == 0) return uint64_t{0};
    MDB_stat st;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_stat(s->txn, s->store->changelog, &st), "change log"));
    return static_cast<uint64_t>(st.ms_entries);
}

Status ChangeLog::acknowledge(WriteTxn& txn, uint64_t position) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    auto* s = txn.state();
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_cursor_open(s->txn, s->store->changelog, &cur), "change log"));
    MDB_val k, v;
    Status st;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t pos = detail::read_u64(k);
        if (pos > position) break;
        int drc = mdb_cursor_del(cur, 0);
        if (drc == 0) {
            MDB_val ok = mdb_val(&pos, 8);
            drc = mdb_del(s->txn, s->store->changelog_origin, &ok, nullptr);
            if (drc == MDB_NOTFOUND) drc = 0;
        }
        if (drc != 0) {
            st = lmdb_status(drc, "trimming the change log");
            break;
        }
    }
    mdb_cursor_close(cur);
    return st;
}

namespace {

// The local id for GID in E, reserving one (with its GID mapping, before the object exists) when new.
Result<uint64_t> resolve_or_reserve(detail::TxnState& s, const detail::EntityInfo& e, const Gid& gid) {
    OUTPOST_ASSIGN_OR_RETURN(auto id, detail::lookup_local(s.txn, e, gid));
    if (id) return *id;
    OUTPOST_RETURN_IF_ERROR(validate_gid(gid));
    OUTPOST_ASSIGN_OR_RETURN(uint64_t fresh, detail::next_id(s, e));
    OUTPOST_RETURN_IF_ERROR(detail::map_gid(s.txn, e, fresh, gid));
    return fresh;
}

Status apply_put(detail::TxnState& s, const detail::EntityInfo& e, const ObjectChange& c) {
    OUTPOST_ASSIGN_OR_RETURN(uint64_t id, resolve_or_reserve(s, e, c.gid));
    Object obj(*e.entity);
    obj.id = id;
    OUTPOST_ASSIGN_OR_RETURN(auto raw, detail::get_raw(s.txn, e, id));
    if (raw) {
        detail::read_object(ObjectReader(&e, static_cast<const uint8_t*>(raw->mv_data), raw->mv_size), obj);
    }
    const auto& props = e.entity->properties;
    for (const auto& pc : c.properties) {
        auto it = std::find_if(props.begin(), props.end(),
                               [&](const Property& p) { return p.id.uid == pc.property_uid; });
        if (it == props.end() || it->has(kFlagId)) continue;  // a property this model does not have
        size_t pos = static_cast<size_t>(it - props.begin());
        if (it->type == PropertyType::kRelation && !pc.value.is_null()) {
            if (!pc.value.is<Bytes>()) {
                return Status(ErrorCode::kTypeMismatch,
                              e.entity->name + "." + it->name + ": a relation change must carry a global id");
            }
            const auto& b = pc.value.as<Bytes>();
            const detail::EntityInfo* target = s.store->entity(it->target);
            OUTPOST_ASSIGN_OR_RETURN(uint64_t tid, resolve_or_reserve(s, *target, Gid(b.begin(), b.end())));
            obj.values()[pos] = Value(static_cast<int64_t>(tid));
        } else {
            obj.values()[pos] = pc.value;
        }
    }
    OUTPOST_ASSIGN_OR_RETURN(auto bytes, detail::encode(e, obj));
    OUTPOST_RETURN_IF_ERROR(detail::put_bytes(s, e, id, PutMode::kPut, bytes).status());
    for (const auto& tc : c.to_many) {
        auto it = std::find_if(e.relations.begin(), e.relations.end(),
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

Status ChangeLog::apply(WriteTxn& txn, const ChangeSet& changes, const std::string& origin, ApplyMode mode) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    if (!txn.is_write()) return {ErrorCode::kTxnMisuse, "applying changes needs a write transaction"};
    auto& s = *txn.state();
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

namespace outpost {
namespace {
std::string meta_key(std::string_view key) { return "u:" + std::string(key); }
}  // namespace

Status put_meta(WriteTxn& txn, std::string_view key, std::string_view value) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    if (!txn.is_write()) return {ErrorCode::kTxnMisuse, "put_meta needs a write transaction"};
    if (key.empty() || key.size() > 400) return {ErrorCode::kInvalidArgument, "meta keys are 1 to 400 bytes"};
    auto* s = txn.state();
    std::string k = meta_key(key);
    MDB_val mk = mdb_val(k.data(), k.size()), mv = mdb_val(value.data(), value.size());
    return lmdb_status(mdb_put(s->txn, s->store->meta, &mk, &mv, 0), "writing meta " + std::string(key));
}

Result<std::optional<std::string>> get_meta(Txn& txn, std::string_view key) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    if (key.empty() || key.size() > 400) return Status(ErrorCode::kInvalidArgument, "meta keys are 1 to 400 bytes");
    auto* s = txn.state();
    std::string k = meta_key(key);
    MDB_val mk = mdb_val(k.data(), k.size()), mv;
    int rc = mdb_get(s->txn, s->store->meta, &mk, &mv);
    if (rc == MDB_NOTFOUND) return std::optional<std::string>();
    OUTPOST_RETURN_IF_ERROR(lmdb_status(rc, "reading meta " + std::string(key)));
    return std::optional<std::string>(std::string(detail::as_view(mv)));
}

Status remove_meta(WriteTxn& txn, std::string_view key) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    if (!txn.is_write()) return {ErrorCode::kTxnMisuse, "remove_meta needs a write transaction"};
    auto* s = txn.state();
    std::string k = meta_key(key);
    MDB_val mk = mdb_val(k.data(), k.size());
    int rc = mdb_del(s->txn, s->store->meta, &mk, nullptr);
    if (rc == MDB_NOTFOUND) return Status::ok();
    return lmdb_status(rc, "removing meta " + std::string(key));
}

}  // namespace outpost
