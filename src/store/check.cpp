// check_store (outpost/check.hpp): walks a store and reports what is damaged, reading nothing that
// has not been verified first.
#include "outpost/check.hpp"

#include <memory>
#include <string>

#include "store/change_set_codec.hpp"
#include "store/changelog_internal.hpp"
#include "store/gid_map.hpp"
#include "store/index.hpp"
#include "store/object_table.hpp"
#include "store/object_verify.hpp"
#include "store/store_core.hpp"

namespace outpost {

std::string_view damage_area_name(StoreDamage::Area area) {
    switch (area) {
        case StoreDamage::Area::kObject:
            return "object";
        case StoreDamage::Area::kIndex:
            return "index";
        case StoreDamage::Area::kGlobalId:
            return "global id";
        case StoreDamage::Area::kChangeLog:
            return "change log";
    }
    return "?";
}

std::string describe_damage(const StoreDamage& d) {
    std::string out(damage_area_name(d.area));
    if (d.area == StoreDamage::Area::kChangeLog) {
        out.append(" record ").append(std::to_string(d.id));
    } else {
        out.append(" ").append(d.entity);
        if (d.id != 0) out.append(" ").append(std::to_string(d.id));
    }
    return out.append(": ").append(d.what);
}

namespace detail {
namespace {

constexpr uint64_t kProgressEvery = 100000;

class Checker {
  public:
    Checker(const StoreImpl& store, MDB_txn* txn, const CheckOptions& options)
        : store_(store), txn_(txn), options_(options) {}

    Status run() {
        for (const auto& e : store_.entities) OUTPOST_RETURN_IF_ERROR(check_entity(*e));
        report_.entities = store_.entities.size();
        return check_change_log();
    }

    CheckReport take_report() { return std::move(report_); }

  private:
    void found(StoreDamage::Area area, const std::string& entity, uint64_t id, std::string what) {
        StoreDamage d{area, entity, id, std::move(what)};
        if (options_.on_damage) options_.on_damage(d);
        report_.damage.push_back(std::move(d));
    }

    void progress(const std::string& step, uint64_t done, uint64_t total) {
        if (options_.on_progress && done % kProgressEvery == 0) {
            options_.on_progress({step, done, total});
        }
    }

    // Cursors of a read transaction are closed by their owner (LMDB does not close them at the
    // end).
    struct CloseCursor {
        void operator()(MDB_cursor* c) const { mdb_cursor_close(c); }
    };
    using Cursor = std::unique_ptr<MDB_cursor, CloseCursor>;
    Result<Cursor> open_cursor(MDB_dbi dbi, const std::string& context) {
        MDB_cursor* c = nullptr;
        OUTPOST_RETURN_IF_LMDB_ERROR(mdb_cursor_open(txn_, dbi, &c), context);
        return Cursor(c);
    }

    uint64_t entries(MDB_dbi dbi) {
        MDB_stat st;
        if (dbi == 0 || mdb_stat(txn_, dbi, &st) != 0) return 0;
        return st.ms_entries;
    }

    // Whether DBI (an index: DUPSORT) holds KEY -> ID.
    Result<bool> has_entry(MDB_cursor* cur, const std::string& key, uint64_t id) {
        MDB_val k = mdb_val(key.data(), key.size()), v = mdb_val(&id, 8);
        int rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH);
        if (rc == MDB_NOTFOUND) return false;
        OUTPOST_RETURN_IF_LMDB_ERROR(rc, "checking an index");
        return true;
    }

    Status check_entity(const EntityInfo& e) {
        const std::string& name = e.entity->name;
        const std::string step = "objects of " + name;
        // A store opened read-only that never had the entity's table.
        if (e.objects == 0) return Status::ok();
        const uint64_t total = entries(e.objects);
        // One cursor per index, to look up each object's entry (null: the index's table does not
        // exist).
        std::vector<Cursor> index_cursors(e.indexes.size());
        std::vector<uint64_t> expected(e.indexes.size(), 0);
        for (size_t i = 0; i < e.indexes.size(); ++i) {
            if (e.indexes[i].dbi == 0) continue;
            OUTPOST_ASSIGN_OR_RETURN(index_cursors[i],
                                     open_cursor(e.indexes[i].dbi, "checking an index"));
        }
        OUTPOST_ASSIGN_OR_RETURN(Cursor objects, open_cursor(e.objects, "reading " + name));
        MDB_cursor* cur = objects.get();
        uint64_t done = 0, damaged = 0;
        MDB_val k, v;
        int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            progress(step, ++done, total);
            ++report_.objects;
            if (k.mv_size != 8) {
                ++damaged;
                found(StoreDamage::Area::kObject, name, 0,
                      "a key of " + std::to_string(k.mv_size) + " bytes is not a local id");
                continue;
            }
            const uint64_t id = read_u64(k);
            const auto* data = static_cast<const uint8_t*>(v.mv_data);
            ObjectDamage d = find_object_damage(e, data, v.mv_size);
            if (!d.ok()) {
                ++damaged;
                found(StoreDamage::Area::kObject, name, id, object_damage_reason(e, d));
                continue;
            }
            ObjectReader r = detail::Access::reader(&e, data, v.mv_size);
            for (size_t i = 0; i < e.indexes.size(); ++i) {
                if (index_cursors[i] == nullptr) continue;
                auto key = index_key(e.indexes[i], r);
                if (!key) continue;
                ++expected[i];
                OUTPOST_ASSIGN_OR_RETURN(bool has, has_entry(index_cursors[i].get(), *key, id));
                if (!has) {
                    ++report_.index_problems;
                    found(StoreDamage::Area::kIndex, name, id,
                          "the index on " + e.indexes[i].prop->name + " lacks the object's entry");
                }
            }
            if (e.entity->sync) OUTPOST_RETURN_IF_ERROR(check_gid(e, id));
        }
        if (rc != MDB_NOTFOUND) return lmdb_status(rc, "reading " + name);
        report_.damaged_objects += damaged;
        // Every object has at most one entry per index: more entries than the verified objects hold
        // (plus one per damaged object, whose values cannot be read) are stale. Only then is the
        // index walked, to name them.
        for (size_t i = 0; i < e.indexes.size(); ++i) {
            if (index_cursors[i] == nullptr) continue;
            if (entries(e.indexes[i].dbi) > expected[i] + damaged) {
                OUTPOST_RETURN_IF_ERROR(
                    find_stale_entries(e, e.indexes[i], index_cursors[i].get()));
            }
        }
        return Status::ok();
    }

    Status find_stale_entries(const EntityInfo& e, const IndexInfo& idx, MDB_cursor* cur) {
        const std::string& name = e.entity->name;
        MDB_val k, v;
        int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (v.mv_size != 8) {
                ++report_.index_problems;
                found(StoreDamage::Area::kIndex, name, 0,
                      "the index on " + idx.prop->name + " holds a value of " +
                          std::to_string(v.mv_size) + " bytes, not a local id");
                continue;
            }
            const uint64_t id = read_u64(v);
            std::string key(as_view(k));
            OUTPOST_ASSIGN_OR_RETURN(auto raw, get_raw(txn_, e, id, false));
            if (!raw) {
                ++report_.index_problems;
                found(StoreDamage::Area::kIndex, name, id,
                      "the index on " + idx.prop->name + " names the object, which does not exist");
                continue;
            }
            const auto* data = static_cast<const uint8_t*>(raw->mv_data);
            // A damaged object: reported with the objects.
            if (!find_object_damage(e, data, raw->mv_size).ok()) continue;
            auto now = index_key(idx, detail::Access::reader(&e, data, raw->mv_size));
            if (!now || *now != key) {
                ++report_.index_problems;
                found(StoreDamage::Area::kIndex, name, id,
                      "the index on " + idx.prop->name +
                          " holds an entry for a value the object does not have");
            }
        }
        if (rc != MDB_NOTFOUND) return lmdb_status(rc, "checking the index on " + idx.prop->name);
        return Status::ok();
    }

    Status check_gid(const EntityInfo& e, uint64_t id) {
        const std::string& name = e.entity->name;
        OUTPOST_ASSIGN_OR_RETURN(auto gid, lookup_gid(txn_, e, id));
        if (!gid) {
            ++report_.global_id_problems;
            found(StoreDamage::Area::kGlobalId, name, id, "the synced object has no global id");
            return Status::ok();
        }
        if (Status st = validate_gid(*gid); !st) {
            ++report_.global_id_problems;
            found(StoreDamage::Area::kGlobalId, name, id,
                  "the object's global id is malformed: " + st.message());
            return Status::ok();
        }
        OUTPOST_ASSIGN_OR_RETURN(auto local, lookup_local(txn_, e, *gid));
        if (!local) {
            ++report_.global_id_problems;
            found(StoreDamage::Area::kGlobalId, name, id,
                  "the object's global id " + gid_to_string(*gid) + " is not in the GID map");
        } else if (*local != id) {
            ++report_.global_id_problems;
            found(StoreDamage::Area::kGlobalId, name, id,
                  "the object's global id " + gid_to_string(*gid) + " maps to object " +
                      std::to_string(*local));
        }
        return Status::ok();
    }

    Status check_change_log() {
        if (store_.changelog == 0) return Status::ok();
        const uint64_t total = entries(store_.changelog);
        StoredObjectReader stored = [&](uint64_t entity_uid, uint64_t first, uint64_t count,
                                        std::vector<ObjectChange>& out) {
            return read_stored_objects(txn_, store_, entity_uid, first, count, out);
        };
        OUTPOST_ASSIGN_OR_RETURN(Cursor records,
                                 open_cursor(store_.changelog, "reading the change log"));
        MDB_cursor* cur = records.get();
        uint64_t done = 0;
        MDB_val k, v;
        int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            progress("change log", ++done, total);
            ++report_.changelog_records;
            const uint64_t pos = read_u64(k);
            auto cs = decode_record({static_cast<const uint8_t*>(v.mv_data), v.mv_size}, stored);
            if (!cs) {
                ++report_.damaged_records;
                found(StoreDamage::Area::kChangeLog, "", pos,
                      "does not decode: " + cs.status().message());
            }
        }
        if (rc != MDB_NOTFOUND) return lmdb_status(rc, "reading the change log");
        return Status::ok();
    }

    const StoreImpl& store_;
    MDB_txn* txn_;
    const CheckOptions& options_;
    CheckReport report_;
};

}  // namespace
}  // namespace detail

Result<CheckReport> check_store(Store& store, const CheckOptions& options) {
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, store.begin_read());
    detail::Checker checker(*detail::Access::impl(store), detail::Access::state(txn)->txn, options);
    OUTPOST_RETURN_IF_ERROR(checker.run());
    return checker.take_report();
}

}  // namespace outpost
