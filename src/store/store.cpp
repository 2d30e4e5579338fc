// Store: opening (with schema evolution), transactions, observers, statistics.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "store/object_verify.hpp"
#include "store/store_impl.hpp"

namespace outpost {
namespace detail {

namespace {
constexpr const char* kModelKey = "model";
constexpr const char* kFormatKey = "format";
// Format 2: synced objects' records hold their GID (docs/storage.md). A store of format 1 is moved to
// format 2 when it is first opened for writing (migrate_to_format_2); opened read-only, it is read as
// format 1. Format 3: the change log may hold stored entries (docs/change-log.md), which older
// versions cannot read; a store of format 2 becomes format 3 when it is opened for writing.
constexpr const char* kFormat = "outpost-store 3";
constexpr std::string_view kFormatPrefix = "outpost-store ";
constexpr int kFormatVersion = 3;

// Stores open in this process, by canonical directory. The environment (StoreImpl) can outlive the
// Store handles while transactions are open; a directory must never get a second environment.
struct Registered {
    std::weak_ptr<Store> store;
    std::weak_ptr<StoreImpl> impl;
};
std::mutex g_registry_mu;
std::map<std::string, Registered>& registry() {  // GUARDED_BY(g_registry_mu)
    static std::map<std::string, Registered> r;
    return r;
}

thread_local std::vector<const StoreImpl*> tl_writing;

std::string uid_name(char kind, uint64_t uid) { return std::string(1, kind) + ":" + std::to_string(uid); }
}  // namespace

Status lmdb_status(int rc, const std::string& context) {
    if (rc == MDB_SUCCESS) return Status::ok();
    ErrorCode code = ErrorCode::kStorage;
    if (rc == MDB_MAP_FULL) code = ErrorCode::kStorageFull;
    if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID) code = ErrorCode::kCorrupt;
    if (rc == EACCES) code = ErrorCode::kReadOnly;
    std::string msg = context + ": " + mdb_strerror(rc);
    if (rc == MDB_MAP_FULL) msg += " (raise StoreOptions::max_size_bytes)";
    return {code, msg, rc};
}

uint64_t read_u64(const MDB_val& v) {
    uint64_t x = 0;
    std::memcpy(&x, v.mv_data, std::min<size_t>(8, v.mv_size));
    return x;
}

bool thread_is_writing(const StoreImpl* store) {
    return std::find(tl_writing.begin(), tl_writing.end(), store) != tl_writing.end();
}

void thread_set_writing(const StoreImpl* store, bool on) {
    auto it = std::find(tl_writing.begin(), tl_writing.end(), store);
    if (on && it == tl_writing.end()) tl_writing.push_back(store);
    if (!on && it != tl_writing.end()) tl_writing.erase(it);
}

TxnState::~TxnState() {
    if (write && txn && owner != std::this_thread::get_id()) {
        std::lock_guard<std::mutex> lock(store->parked_mu);
        store->parked_txn = txn;
        store->parked_owner = owner;
        txn = nullptr;
        return;
    }
    if (txn) {
        mdb_txn_abort(txn);
        txn = nullptr;
    }
    if (write) thread_set_writing(store.get(), false);
}

void TxnState::record_put(const EntityInfo& e, uint64_t id) {
    auto& c = changes[e.entity->id.id];
    c.entity_id = e.entity->id.id;
    c.put_ids.push_back(id);
}

void TxnState::record_remove(const EntityInfo& e, uint64_t id) {
    auto& c = changes[e.entity->id.id];
    c.entity_id = e.entity->id.id;
    c.removed_ids.push_back(id);
}

StoreImpl::~StoreImpl() {
    if (env) mdb_env_close(env);
}

const EntityInfo* StoreImpl::entity(std::string_view name) const {
    for (const auto& e : entities) {
        if (e->entity->name == name) return e.get();
    }
    return nullptr;
}

const EntityInfo* StoreImpl::entity_by_uid(uint64_t uid) const {
    for (const auto& e : entities) {
        if (e->entity->id.uid == uid) return e.get();
    }
    return nullptr;
}

const EntityInfo* StoreImpl::entity_by_id(uint32_t id) const {
    for (const auto& e : entities) {
        if (e->entity->id.id == id) return e.get();
    }
    return nullptr;
}

void StoreImpl::notify(const Changes& changes) {
    std::vector<Store::Observer> copy;
    {
        std::lock_guard<std::mutex> lock(observers_mu);
        for (const auto& [h, o] : observers) copy.push_back(o);
    }
    for (const auto& o : copy) o(changes);
}

namespace {

Status open_dbi(MDB_txn* txn, const std::string& name, unsigned flags, bool create, MDB_dbi* out) {
    int rc = mdb_dbi_open(txn, name.c_str(), flags | (create ? MDB_CREATE : 0), out);
    if (rc == MDB_NOTFOUND && !create) {
        *out = 0;  // read-only store without this table yet: reads see it empty
        return Status::ok();
    }
    return lmdb_status(rc, "opening table " + name);
}

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
        ObjectReader r(&e, static_cast<const uint8_t*>(v.mv_data), v.mv_size);
        auto key = index_key(idx, r);
        if (!key) continue;
        if (idx.unique) {
            auto& holders = seen_unique[*key];
            // Equal keys: equal values, unless a hash collided or a long string was cut.
            uint64_t same_as = 0;
            for (uint64_t other_id : holders) {
                MDB_val ok = mdb_val(&other_id, 8), ov;
                if (mdb_get(txn, e.objects, &ok, &ov) != 0) continue;  // verified when it was seen
                ObjectReader other(&e, static_cast<const uint8_t*>(ov.mv_data), ov.mv_size);
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
    OUTPOST_RETURN_IF_ERROR(for_each_mapping(txn, e, [&](const Gid& gid, uint64_t id) { mapped.emplace(id, gid); }));
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_cursor_open(txn, e.objects, &cur), "assigning global ids"));
    std::vector<uint64_t> ids;
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
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

// Format 1 never used the id property's field, but DynamicBox::put_with could write it. Format 2 keeps
// synced objects' GIDs there, so such a field is dropped before the store turns format 2.
Status migrate_to_format_2(MDB_txn* txn, const StoreImpl& s) {
    for (const auto& e : s.entities) {
        MDB_cursor* cur;
        OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_cursor_open(txn, e->objects, &cur), "moving to format 2"));
        std::vector<uint64_t> ids;
        MDB_val k, v;
        for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (record_gid_field(*e, static_cast<const uint8_t*>(v.mv_data), v.mv_size) != 0) {
                ids.push_back(read_u64(k));
            }
        }
        mdb_cursor_close(cur);
        for (uint64_t id : ids) {
            k = mdb_val(&id, 8);
            OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_get(txn, e->objects, &k, &v), "moving to format 2"));
            OUTPOST_RETURN_IF_ERROR(verify_object(*e, id, static_cast<const uint8_t*>(v.mv_data), v.mv_size));
            Object obj(*e->entity);
            read_object(ObjectReader(e.get(), static_cast<const uint8_t*>(v.mv_data), v.mv_size), obj);
            auto* ws = writer_begin(*e);  // gid_in_record is still off: no GID field
            ObjectWriter w(ws);
            OUTPOST_RETURN_IF_ERROR(write_object(obj, w));
            OUTPOST_ASSIGN_OR_RETURN(auto bytes, writer_finish(ws));
            MDB_val nv = mdb_val(bytes.data(), bytes.size());
            OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_put(txn, e->objects, &k, &nv, 0), "moving to format 2"));
        }
    }
    return Status::ok();
}

bool plain_type(PropertyType t) {
    switch (t) {
        case PropertyType::kBool: case PropertyType::kInt8: case PropertyType::kInt16:
        case PropertyType::kInt32: case PropertyType::kInt64: case PropertyType::kFloat:
        case PropertyType::kDouble: case PropertyType::kString: case PropertyType::kDate:
        case PropertyType::kDateNano: case PropertyType::kBytes:
            return true;
        default: return false;
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

// Opens every table of MODEL, drops those of removed entities, indexes and relations, and builds
// indexes that are new on existing entities. FORMAT: of the store as found (0: new); a store of format
// 1 opened for writing moves to format 2.
Status prepare_schema(StoreImpl& s, MDB_txn* txn, const Model* stored, bool create, int format) {
    const Model& m = *s.model;
    for (const auto& ent : m.entities) {
        auto info = std::make_unique<EntityInfo>();
        info->entity = &ent;
        info->pos = s.entities.size();
        info->seq_key = uid_name('s', ent.id.uid);
        OUTPOST_RETURN_IF_ERROR(
            open_dbi(txn, uid_name('o', ent.id.uid), MDB_INTEGERKEY, create, &info->objects));
        if (ent.sync) {
            OUTPOST_RETURN_IF_ERROR(open_dbi(txn, uid_name('g', ent.id.uid), 0, create, &info->gid_to_local));
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
            if (!p.index_id.is_set()) continue;
            IndexInfo idx;
            idx.prop = &p;
            idx.prop_pos = static_cast<int>(i);
            idx.unique = p.has(kFlagUnique);
            idx.replace = p.has(kFlagUniqueReplace);
            idx.hash = p.has(kFlagIndexHash);
            OUTPOST_RETURN_IF_ERROR(open_dbi(txn, uid_name('i', p.index_id.uid),
                                             MDB_DUPSORT | MDB_DUPFIXED, create, &idx.dbi));
            info->index_of_prop[i] = static_cast<int>(info->indexes.size());
            info->indexes.push_back(idx);
        }
        for (size_t i = 0; i < ent.relations.size(); ++i) {
            RelationInfo r;
            r.rel = &ent.relations[i];
            r.source = info.get();
            r.pos = static_cast<int>(i);
            OUTPOST_RETURN_IF_ERROR(
                open_dbi(txn, uid_name('r', r.rel->id.uid), MDB_INTEGERKEY, create, &r.list_dbi));
            OUTPOST_RETURN_IF_ERROR(open_dbi(txn, uid_name('b', r.rel->id.uid),
                                             MDB_INTEGERKEY | MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP,
                                             create, &r.backlink_dbi));
            info->relations.push_back(r);
        }
        s.entities.push_back(std::move(info));
    }
    // Link targets and incoming links.
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
    if (format == 1 && create) OUTPOST_RETURN_IF_ERROR(migrate_to_format_2(txn, s));
    if (format != 1 || create) {
        for (auto& e : s.entities) {
            e->gid_in_record = e->entity->sync;
            e->stored_log = e->gid_in_record && e->plain_log && e->relations.empty() && create;
        }
    }
    if (!stored || !create) return Status::ok();
    // Drop what the new model removed.
    for (const auto& oe : stored->entities) {
        const Entity* ne = m.entity_by_uid(oe.id.uid);
        if (!ne) {
            for (char kind : {'o', 'g', 'l'}) OUTPOST_RETURN_IF_ERROR(drop_dbi(txn, uid_name(kind, oe.id.uid)));
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
    auto old_idx = index_uids(*stored);
    auto new_idx = index_uids(m);
    for (uint64_t uid : old_idx) {
        if (!new_idx.count(uid)) OUTPOST_RETURN_IF_ERROR(drop_dbi(txn, uid_name('i', uid)));
    }
    for (const auto& e : s.entities) {
        const Entity* before = stored->entity_by_uid(e->entity->id.uid);
        if (!before) continue;
        if (e->entity->sync && !before->sync) OUTPOST_RETURN_IF_ERROR(assign_gids(txn, *e));
        for (const auto& idx : e->indexes) {
            if (!old_idx.count(idx.prop->index_id.uid)) {
                OUTPOST_RETURN_IF_ERROR(build_index(txn, *e, idx));
                continue;
            }
            // Same index, other kind (value <-> hash) or newly unique: rebuild, checking uniqueness.
            const Property* op = before->property_by_id(idx.prop->id.id);
            constexpr uint32_t kKindFlags = kFlagIndexHash | kFlagUnique;
            if (op && (op->flags & kKindFlags) != (idx.prop->flags & kKindFlags)) {
                OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_drop(txn, idx.dbi, 0), "rebuilding index"));
                OUTPOST_RETURN_IF_ERROR(build_index(txn, *e, idx));
            }
        }
    }
    return Status::ok();
}

// LMDB reads pages through the memory map, so a data file cut shorter than the pages its meta pages
// name (a copy that stopped, a full disk, a truncation) would end the process with SIGBUS on the
// first read past its end. mdb_env_open reads the meta pages with read(); nothing is read through
// the map before this check. The newest meta is read before the file's size: a writer in another
// process only makes the file longer.
Status check_file_size(MDB_env* env, const std::string& dir) {
    MDB_envinfo info;
    MDB_stat st;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_env_info(env, &info), "opening store " + dir));
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_env_stat(env, &st), "opening store " + dir));
    const std::string path = dir + "/data.mdb";
    struct stat fst;
    if (::stat(path.c_str(), &fst) != 0) {
        return Status(ErrorCode::kIo, "opening store " + dir + ": cannot stat " + path + ": " +
                                          std::strerror(errno), errno);
    }
    const uint64_t expected = (static_cast<uint64_t>(info.me_last_pgno) + 1) * st.ms_psize;
    const auto actual = static_cast<uint64_t>(fst.st_size);
    if (actual < expected) {
        return Status(ErrorCode::kCorrupt,
                      "store " + dir + " is damaged: data.mdb is " + std::to_string(actual) +
                          " bytes, but its last committed transaction uses pages up to " +
                          std::to_string(info.me_last_pgno) + " of " + std::to_string(st.ms_psize) +
                          " bytes, so it needs at least " + std::to_string(expected) +
                          " bytes (the file was cut short; restore it from a copy)");
    }
    return Status::ok();
}

Result<std::shared_ptr<Store>> open_impl(const std::string& dir, const Model* given,
                                        const StoreOptions& options) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!options.read_only) fs::create_directories(dir, ec);
    if (!fs::is_directory(dir, ec)) {
        return Status(ErrorCode::kIo, "store directory " + dir + " does not exist and could not be created");
    }
    std::string key = fs::canonical(dir, ec).string();

    std::lock_guard<std::mutex> lock(g_registry_mu);
    if (auto it = registry().find(key); it != registry().end()) {
        auto existing = it->second.store.lock();
        auto impl = existing ? nullptr : it->second.impl.lock();
        if (existing || impl) {
            const StoreImpl& open = existing ? *existing->impl() : *impl;
            if (given && open.model->to_json() != given->to_json()) {
                return Status(ErrorCode::kStoreInUse,
                              "store " + dir + " is already open in this process with another model");
            }
            if (open.options.read_only != options.read_only) {
                return Status(ErrorCode::kStoreInUse,
                              "store " + dir + " is already open in this process " +
                                  (open.options.read_only ? "read-only" : "for writing"));
            }
            if (existing) return existing;
            auto store = std::make_shared<Store>(impl);
            it->second.store = store;
            return store;
        }
    }

    auto impl = std::make_shared<StoreImpl>();
    impl->dir = dir;
    impl->options = options;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_env_create(&impl->env), "creating environment"));
    mdb_env_set_mapsize(impl->env, options.max_size_bytes);
    mdb_env_set_maxdbs(impl->env, 4096);
    mdb_env_set_maxreaders(impl->env, options.max_readers);
    unsigned flags = MDB_NOTLS;
    if (options.no_sync) flags |= MDB_NOSYNC;
    if (options.read_only) flags |= MDB_RDONLY;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_env_open(impl->env, dir.c_str(), flags, 0644),
                                        "opening store " + dir));
    OUTPOST_RETURN_IF_ERROR(check_file_size(impl->env, dir));

    MDB_txn* txn = nullptr;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(
        mdb_txn_begin(impl->env, nullptr, options.read_only ? MDB_RDONLY : 0, &txn), "opening store"));
    auto fail = [&](Status st) {
        mdb_txn_abort(txn);
        return st;
    };
    bool create = !options.read_only;
    Status st = open_dbi(txn, "meta", 0, create, &impl->meta);
    if (!st) return fail(st);
    st = open_dbi(txn, "changelog", MDB_INTEGERKEY, create, &impl->changelog);
    if (!st) return fail(st);
    st = open_dbi(txn, "changelog_origin", MDB_INTEGERKEY, create, &impl->changelog_origin);
    if (!st) return fail(st);
    st = open_dbi(txn, "changelog_stored_runs", 0, create, &impl->stored_runs);
    if (!st) return fail(st);
    st = open_dbi(txn, "changelog_kept_versions", 0, create, &impl->kept_versions);
    if (!st) return fail(st);

    std::optional<Model> stored;
    if (impl->meta != 0) {
        MDB_val k = mdb_val(kModelKey, std::strlen(kModelKey)), v;
        int rc = mdb_get(txn, impl->meta, &k, &v);
        if (rc == 0) {
            auto m = Model::from_json(as_view(v));
            if (!m) return fail(Status(ErrorCode::kCorrupt, "stored model: " + m.status().message()));
            stored = std::move(m).value();
        } else if (rc != MDB_NOTFOUND) {
            return fail(lmdb_status(rc, "reading stored model"));
        }
    }
    if (!given && !stored) {
        return fail(Status(ErrorCode::kNotFound, "no store in " + dir + " (give a model to create one)"));
    }
    // The store's format: 0 for a new store.
    int format = 0;
    if (stored) {
        format = 1;
        MDB_val k = mdb_val(kFormatKey, std::strlen(kFormatKey)), v;
        int rc = mdb_get(txn, impl->meta, &k, &v);
        if (rc == 0) {
            std::string_view f = as_view(v);
            if (f == "outpost-store 1") {
                format = 1;
            } else if (f == "outpost-store 2") {
                format = 2;
            } else if (f == kFormat) {
                format = 3;
            } else {
                return fail(Status(ErrorCode::kCorrupt,
                                   "store " + dir + " has format \"" + std::string(f) + "\"; this version of " +
                                       "Outpost reads " + std::string(kFormatPrefix) + "1 to " +
                                       std::to_string(kFormatVersion)));
            }
        } else if (rc != MDB_NOTFOUND) {
            return fail(lmdb_status(rc, "reading store format"));
        }
    }
    const Model& model = given ? *given : *stored;
    if (given) {
        st = given->validate();
        if (!st) return fail(st);
        if (stored) {
            st = check_evolution(*stored, *given);
            if (!st) return fail(st);
            if (options.read_only && stored->to_json() != given->to_json()) {
                return fail(Status(ErrorCode::kReadOnly,
                                   "store " + dir + " was last opened with another model; open it "
                                   "writable once to evolve it"));
            }
        }
    }
    impl->model = std::make_shared<const Model>(model);
    st = prepare_schema(*impl, txn, stored ? &*stored : nullptr, create, format);
    if (!st) return fail(st);
    if (create) {
        std::string json = impl->model->to_json();
        MDB_val k = mdb_val(kModelKey, std::strlen(kModelKey)), v = mdb_val(json.data(), json.size());
        st = lmdb_status(mdb_put(txn, impl->meta, &k, &v, 0), "storing model");
        if (!st) return fail(st);
        MDB_val fk = mdb_val(kFormatKey, std::strlen(kFormatKey)), fv = mdb_val(kFormat, std::strlen(kFormat));
        st = lmdb_status(mdb_put(txn, impl->meta, &fk, &fv, 0), "storing format");
        if (!st) return fail(st);
    }
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_txn_commit(txn), "opening store"));

    auto store = std::make_shared<Store>(impl);
    registry()[key] = Registered{store, impl};
    return store;
}

}  // namespace
}  // namespace detail

using detail::lmdb_status;
using detail::TxnState;

Store::Store(std::shared_ptr<detail::StoreImpl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Result<std::shared_ptr<Store>> Store::open(const std::string& dir, const Model& model,
                                           const StoreOptions& options) {
    return detail::open_impl(dir, &model, options);
}

Result<std::shared_ptr<Store>> Store::open_existing(const std::string& dir, const StoreOptions& options) {
    return detail::open_impl(dir, nullptr, options);
}

const Model& Store::model() const { return *impl_->model; }
const std::string& Store::dir() const { return impl_->dir; }

Result<ReadTxn> Store::begin_read() {
    auto st = std::make_unique<TxnState>();
    st->store = impl_;
    st->owner = std::this_thread::get_id();
    OUTPOST_RETURN_IF_ERROR(
        lmdb_status(mdb_txn_begin(impl_->env, nullptr, MDB_RDONLY, &st->txn), "beginning read"));
    return ReadTxn(std::move(st));
}

Result<WriteTxn> Store::begin_write() {
    if (impl_->options.read_only) return Status(ErrorCode::kReadOnly, "store " + impl_->dir + " is read-only");
    {
        std::lock_guard<std::mutex> lock(impl_->parked_mu);
        if (impl_->parked_txn) {
            if (impl_->parked_owner != std::this_thread::get_id()) {
                return Status(ErrorCode::kTxnMisuse,
                              "a write transaction of this store was ended on another thread than the one "
                              "that began it; it holds the write lock until its own thread begins a write");
            }
            mdb_txn_abort(impl_->parked_txn);
            impl_->parked_txn = nullptr;
            detail::thread_set_writing(impl_.get(), false);
        }
    }
    if (detail::thread_is_writing(impl_.get())) {
        return Status(ErrorCode::kTxnMisuse,
                      "this thread already has a write transaction open on the store; "
                      "commit or abort it first (write transactions do not nest)");
    }
    auto st = std::make_unique<TxnState>();
    st->store = impl_;
    st->owner = std::this_thread::get_id();
    st->write = true;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_txn_begin(impl_->env, nullptr, 0, &st->txn), "beginning write"));
    detail::thread_set_writing(impl_.get(), true);
    return WriteTxn(std::move(st));
}

Status Store::write(const std::function<Status(WriteTxn&)>& fn) {
    OUTPOST_ASSIGN_OR_RETURN(WriteTxn txn, begin_write());
    Status st = fn(txn);
    if (!st) return st;
    return txn.commit();
}

Status Store::read(const std::function<Status(ReadTxn&)>& fn) {
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, begin_read());
    return fn(txn);
}

Result<DynamicBox> Store::box(std::string_view entity) {
    const detail::EntityInfo* info = impl_->entity(entity);
    if (!info) {
        return Status(ErrorCode::kUnknownEntity, "the model has no entity \"" + std::string(entity) + "\"");
    }
    return DynamicBox(shared_from_this(), info);
}

uint64_t Store::add_observer(Observer observer) {
    std::lock_guard<std::mutex> lock(impl_->observers_mu);
    uint64_t h = impl_->next_observer++;
    impl_->observers.emplace(h, std::move(observer));
    return h;
}

void Store::remove_observer(uint64_t handle) {
    std::lock_guard<std::mutex> lock(impl_->observers_mu);
    impl_->observers.erase(handle);
}

Result<StoreStats> Store::stats() {
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, begin_read());
    MDB_txn* t = txn.state()->txn;
    StoreStats out;
    auto pages = [&](MDB_dbi dbi, uint64_t* entries) -> uint64_t {
        if (dbi == 0) return 0;
        MDB_stat s;
        if (mdb_stat(t, dbi, &s) != 0) return 0;
        if (entries) *entries = s.ms_entries;
        return (s.ms_branch_pages + s.ms_leaf_pages + s.ms_overflow_pages) * s.ms_psize;
    };
    for (const auto& e : impl_->entities) {
        EntityStats es;
        es.name = e->entity->name;
        es.bytes = pages(e->objects, &es.count);
        for (const auto& i : e->indexes) es.bytes += pages(i.dbi, nullptr);
        for (const auto& r : e->relations) es.bytes += pages(r.list_dbi, nullptr) + pages(r.backlink_dbi, nullptr);
        out.entities.push_back(es);
    }
    MDB_envinfo info;
    MDB_stat env_stat;
    mdb_env_info(impl_->env, &info);
    mdb_env_stat(impl_->env, &env_stat);
    out.used_bytes = (info.me_last_pgno + 1) * env_stat.ms_psize;
    struct stat fst;
    if (::stat((impl_->dir + "/data.mdb").c_str(), &fst) == 0) out.file_bytes = fst.st_size;
    return out;
}

// ---- transactions ----

Txn::Txn(std::unique_ptr<detail::TxnState> state) : state_(std::move(state)) {}
Txn::Txn(Txn&&) noexcept = default;
Txn& Txn::operator=(Txn&&) noexcept = default;
Txn::~Txn() = default;

bool Txn::is_write() const { return state_ && state_->write; }
bool Txn::is_open() const { return state_ && state_->txn; }

Status Txn::check_usable() const {
    if (!state_ || !state_->txn) return {ErrorCode::kTxnMisuse, "the transaction is closed"};
    if (state_->owner != std::this_thread::get_id()) {
        return {ErrorCode::kTxnMisuse, "a transaction may only be used by the thread that began it"};
    }
    return Status::ok();
}

ReadTxn::ReadTxn(std::unique_ptr<detail::TxnState> state) : Txn(std::move(state)) {}
WriteTxn::WriteTxn(std::unique_ptr<detail::TxnState> state) : Txn(std::move(state)) {}

void ReadTxn::close() { state_.reset(); }

Status WriteTxn::commit() {
    OUTPOST_RETURN_IF_ERROR(check_usable());
    TxnState& s = *state_;
    Status st;
    for (const auto& [info, next] : s.next_ids) {
        MDB_val k = detail::mdb_val(info->seq_key.data(), info->seq_key.size());
        uint64_t last = next - 1;
        MDB_val v = detail::mdb_val(&last, 8);
        st = lmdb_status(mdb_put(s.txn, s.store->meta, &k, &v, 0), "storing id sequence");
        if (!st) break;
    }
    if (st) st = detail::flush_log(s);
    if (!st) {
        state_.reset();
        return st;
    }
    int rc = mdb_txn_commit(s.txn);
    s.txn = nullptr;
    detail::thread_set_writing(s.store.get(), false);
    if (rc != 0) {
        state_.reset();
        return lmdb_status(rc, "committing");
    }
    if (!s.changes.empty()) {
        Changes changes;
        changes.origin = s.origin;
        for (auto& [id, c] : s.changes) {
            std::sort(c.put_ids.begin(), c.put_ids.end());
            c.put_ids.erase(std::unique(c.put_ids.begin(), c.put_ids.end()), c.put_ids.end());
            std::sort(c.removed_ids.begin(), c.removed_ids.end());
            c.removed_ids.erase(std::unique(c.removed_ids.begin(), c.removed_ids.end()), c.removed_ids.end());
            changes.entities.push_back(std::move(c));
        }
        auto store = s.store;
        state_.reset();
        store->notify(changes);
    } else {
        state_.reset();
    }
    return Status::ok();
}

void WriteTxn::abort() {
    // From a foreign thread this parks the transaction (see StoreImpl::parked_txn).
    state_.reset();
}

void WriteTxn::set_origin(std::string origin) {
    if (state_) state_->origin = std::move(origin);
}

}  // namespace outpost
