#pragma once
// The store's core: what an open store knows of each entity (tables, indexes, relations), the open
// environment (StoreImpl) and a transaction's state (TxnState). The LMDB key layout is documented
// in docs/storage.md.

#include <lmdb.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/mutex.hpp"
#include "outpost/changelog.hpp"
#include "outpost/store.hpp"
#include "store/access.hpp"
#include "store/lmdb_util.hpp"
#include "store/object_verify.hpp"
#include "store/pending_log.hpp"

namespace outpost::detail {

struct EntityInfo;

struct IndexInfo {
    const Property* prop = nullptr;
    int prop_pos = 0;
    MDB_dbi dbi = 0;
    bool unique = false;
    bool replace = false;
    bool hash = false;
};

struct RelationInfo {
    const Relation* rel = nullptr;
    int pos = 0;
    MDB_dbi list_dbi = 0;      // source id -> packed target ids (order and duplicates kept)
    MDB_dbi backlink_dbi = 0;  // target id -> source ids (dupsort)
    const EntityInfo* target = nullptr;
    const EntityInfo* source = nullptr;
};

// A link into an entity from another entity (or itself): a to-one property or a to-many relation.
struct IncomingLink {
    EntityInfo* source = nullptr;
    int pos = 0;  // property position (to-one) or relation position (to-many)
    bool to_many = false;
};

struct EntityInfo {
    const Entity* entity = nullptr;
    size_t pos = 0;       // in StoreImpl::entities
    MDB_dbi objects = 0;  // local id (native u64) -> FlatBuffers table
    int id_pos = 0;
    std::vector<IndexInfo> indexes;
    std::vector<int> index_of_prop;  // property position -> index in `indexes`, or -1
    std::vector<RelationInfo> relations;
    std::vector<IncomingLink> incoming;
    std::unordered_map<std::string, int> prop_by_name;
    std::string seq_key;  // meta key of the last assigned id
    // Synced entities only: GID <-> local id.
    MDB_dbi gid_to_local = 0;  // GID bytes -> local id (native u64)
    MDB_dbi local_to_gid = 0;  // local id (native u64) -> GID bytes, where the record has no GID
    // Synced, in a store of format 2: object records hold their GID (the id property's field, see
    // docs/storage.md), and l: only has the GIDs of ids reserved before their object arrived and of
    // objects written before format 2.
    bool gid_in_record = false;
    // g: may hold runs of ObjectIds (gid_map.cpp); set from meta at open and by the first run
    // written.
    mutable std::atomic<bool> gid_runs{false};
    uint16_t id_field = 0;                 // the id property's vtable offset
    std::vector<FieldCheck> field_checks;  // how records are verified (object_verify.cpp)
    bool verify_reads = false;             // StoreOptions::verify_objects
    bool plain_log = false;  // every other property is a scalar, string or bytes (changelog.cpp)
    // A new object's log entry names its stored record instead of copying its values: synced,
    // plain_log, no to-many relations, GID in the record (changelog_stored.cpp).
    bool stored_log = false;
};

struct TxnState {
    std::shared_ptr<StoreImpl> store;
    MDB_txn* txn = nullptr;
    bool write = false;
    std::thread::id owner;
    std::map<uint32_t, EntityChanges> changes;
    std::string origin;
    std::unordered_map<const EntityInfo*, uint64_t>
        next_ids;  // cached sequences, flushed at commit
    PendingLog log;
    // Cursors on the GID tables (g:, l:) of each synced entity, by 2 * EntityInfo::pos (+1 for l:),
    // opened on first use to append the GIDs of new objects. LMDB closes them when the transaction
    // ends; they are never closed here.
    std::vector<MDB_cursor*> gid_cursors;
    // Per entity (EntityInfo::pos): the g: run this transaction wrote last, which the next ObjectId
    // made here extends (gid_map.cpp); count 0 when none.
    struct GidTail {
        Gid key;
        uint64_t first = 0, count = 0;
    };
    std::vector<GidTail> gid_tails;
    MDB_cursor* kept_cursor =
        nullptr;                   // on changelog_kept_versions, opened on first use (the same)
    std::string kept_copy;         // the version keep_stored_version is writing
    bool applying_remote = false;  // ChangeLog::apply: write GID maps but log nothing
    // ChangeLog::apply: the GID of the object it is putting (known_gid_id of known_gid_entity), so
    // logging the put need not read it back from l:. Null outside that put.
    const Gid* known_gid = nullptr;
    const EntityInfo* known_gid_entity = nullptr;
    uint64_t known_gid_id = 0;

    ~TxnState();
    void record_put(const EntityInfo& e, uint64_t id);
    void record_remove(const EntityInfo& e, uint64_t id);
};

class StoreImpl {
  public:
    ~StoreImpl();

    MDB_env* env = nullptr;
    MDB_dbi meta = 0;
    std::string dir;
    StoreOptions options;
    std::shared_ptr<const Model> model;
    std::vector<std::unique_ptr<EntityInfo>> entities;  // in model order

    const EntityInfo* entity(std::string_view name) const;
    const EntityInfo* entity_by_id(uint32_t id) const;
    const EntityInfo* entity_by_uid(uint64_t uid) const;
    MDB_dbi changelog = 0;         // position (native u64) -> encoded change set
    MDB_dbi changelog_origin = 0;  // position (native u64) -> origin, for records that have one
    // Records that name new objects by their stored version (docs/change-log.md, "Stored entries"):
    // (entity uid, first such id), big-endian -> position; and the versions kept for them when such
    // an object changes before its record is acknowledged: (entity uid, id), big-endian -> record
    // bytes.
    MDB_dbi stored_runs = 0;
    MDB_dbi kept_versions = 0;

    // A write transaction ended on a thread other than its own cannot release LMDB's write lock
    // (only the owning thread can). It is parked here; its thread aborts it on its next
    // begin_write, and other threads get kTxnMisuse instead of blocking forever.
    Mutex parked_mu;
    MDB_txn* parked_txn OUTPOST_GUARDED_BY(parked_mu) = nullptr;
    std::thread::id parked_owner OUTPOST_GUARDED_BY(parked_mu);

    Mutex observers_mu;
    std::map<uint64_t, Store::Observer> observers OUTPOST_GUARDED_BY(observers_mu);
    uint64_t next_observer OUTPOST_GUARDED_BY(observers_mu) = 1;
    // Calls every observer with CHANGES, on the calling thread, without holding observers_mu (an
    // observer may add or remove observers).
    void notify(const Changes& changes) OUTPOST_EXCLUDES(observers_mu);
};

// Per-thread record of the stores this thread holds a write transaction on.
bool thread_is_writing(const StoreImpl* store);
void thread_set_writing(const StoreImpl* store, bool on);

}  // namespace outpost::detail
