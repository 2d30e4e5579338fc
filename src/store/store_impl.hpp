#pragma once
// Store internals shared by the store's .cpp files. The LMDB key layout is documented in
// docs/storage.md.

#include <lmdb.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "outpost/changelog.hpp"
#include "outpost/store.hpp"
#include "store/change_set_codec.hpp"
#include "store/object_verify.hpp"

namespace outpost::detail {

// Converts an LMDB return code into a Status with context.
Status lmdb_status(int rc, const std::string& context);

// Returns the LMDB error of CALL with CONTEXT; CONTEXT is only evaluated on error (hot paths).
#define OUTPOST_RETURN_IF_LMDB_ERROR(call, context)                                 \
    do {                                                                            \
        int outpost_rc_ = (call);                                                   \
        if (outpost_rc_ != 0) return ::outpost::detail::lmdb_status(outpost_rc_, context); \
    } while (0)

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
    size_t pos = 0;  // in StoreImpl::entities
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
    // g: may hold runs of ObjectIds (gid_map.cpp); set from meta at open and by the first run written.
    mutable std::atomic<bool> gid_runs{false};
    uint16_t id_field = 0;    // the id property's vtable offset
    std::vector<FieldCheck> field_checks;  // how records are verified (object_verify.cpp)
    bool verify_reads = false;             // StoreOptions::verify_objects
    bool plain_log = false;   // every other property is a scalar, string or bytes (changelog.cpp)
    // A new object's log entry names its stored record instead of copying its values: synced,
    // plain_log, no to-many relations, GID in the record (changelog_stored.cpp).
    bool stored_log = false;
};

// The change-log record a write transaction builds as it goes (changelog.cpp). Entries are encoded
// as soon as an object is first touched (the `object` production of docs/change-log.md) into chunks
// of bytes, so that a transaction of a million puts holds about the record's size in memory and makes
// no allocation per object. An entry that a later write in the same transaction changes (a second put
// of the object, a to-many change, a remove) is decoded into an ObjectChange once and edited there.
// Commit writes the entries in the order their objects were first touched, then the stored entries
// (changelog_stored.cpp).
struct PendingLog {
    static constexpr int32_t kEncoded = -1;  // Slot::edited: the entry is the slot's bytes
    static constexpr int32_t kDropped = -2;  // Slot::edited: the entry was cancelled (made and removed)
    struct Slot {
        uint32_t chunk = 0;
        uint32_t offset = 0;  // of the entry's bytes in `chunks[chunk]`
        uint32_t size = 0;
        int32_t edited = kEncoded;  // or an index into `edited`, or kDropped
    };
    // Per entity: its entries by local id, and the uid-table indexes of its uids. The ids the sequence
    // hands out in a transaction grow one by one, so most of them sit in one run of consecutive ids;
    // the others are in the map.
    struct EntitySlots {
        uint32_t entity_index = UINT32_MAX;  // of the entity uid in `uids`
        std::vector<uint32_t> prop_index;    // by property position, UINT32_MAX until used
        uint64_t run_first = 0;
        std::vector<uint32_t> run;  // slot of object run_first + i
        std::unordered_map<uint64_t, uint32_t> other;
        // New objects logged as stored entries (stored_log entities): runs of consecutive ids from the
        // sequence, in id order, without the ids removed again in the transaction (changelog_stored.cpp).
        struct StoredRun {
            uint64_t first = 0, count = 0;
            std::vector<uint64_t> dropped;  // sorted
        };
        std::vector<StoredRun> stored;
        // The lowest id the committed records name as stored objects (changelog_stored.cpp), once read.
        std::optional<uint64_t> stored_floor;
        // The stored run of the transaction that holds ID (not dropped from it), or null.
        StoredRun* stored_run_of(uint64_t id);
        uint32_t* find(uint64_t id);
        // FRESH: ID was just handed out by the sequence (above every id seen so far).
        void set(uint64_t id, uint32_t slot, bool fresh);
    };

    UidTable uids;  // the record is version 2: entries name uids by index into this table
    std::vector<std::string> chunks;
    std::vector<Slot> slots;
    std::vector<ObjectChange> edited;
    std::vector<EntitySlots> by_entity;  // by EntityInfo::pos
    size_t live = 0;                     // slots not dropped
    size_t stored_objects = 0;           // in the stored runs of every entity, not dropped
    std::vector<int> scratch;            // property positions of the put being logged

    bool empty() const { return live == 0 && stored_objects == 0; }
};

struct TxnState {
    std::shared_ptr<StoreImpl> store;
    MDB_txn* txn = nullptr;
    bool write = false;
    std::thread::id owner;
    std::map<uint32_t, EntityChanges> changes;
    std::string origin;
    std::unordered_map<const EntityInfo*, uint64_t> next_ids;  // cached sequences, flushed at commit
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
    MDB_cursor* kept_cursor = nullptr;  // on changelog_kept_versions, opened on first use (the same)
    std::string kept_copy;              // the version keep_stored_version is writing
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
    // (entity uid, first such id), big-endian -> position; and the versions kept for them when such an
    // object changes before its record is acknowledged: (entity uid, id), big-endian -> record bytes.
    MDB_dbi stored_runs = 0;
    MDB_dbi kept_versions = 0;

    // A write transaction ended on a thread other than its own cannot release LMDB's write lock (only
    // the owning thread can). It is parked here; its thread aborts it on its next begin_write, and other
    // threads get kTxnMisuse instead of blocking forever.
    std::mutex parked_mu;
    MDB_txn* parked_txn = nullptr;  // GUARDED_BY(parked_mu)
    std::thread::id parked_owner;   // GUARDED_BY(parked_mu)

    std::mutex observers_mu;
    std::map<uint64_t, Store::Observer> observers;  // GUARDED_BY(observers_mu)
    uint64_t next_observer = 1;                     // GUARDED_BY(observers_mu)
    void notify(const Changes& changes);
};

// Per-thread record of the stores this thread holds a write transaction on.
bool thread_is_writing(const StoreImpl* store);
void thread_set_writing(const StoreImpl* store, bool on);

// ---- object codec (codec.cpp) ----
struct WriterState;
// Starts an object of entity INFO in the calling thread's writer.
WriterState* writer_begin(const EntityInfo& info);
// Finishes it: the stored bytes (valid until the next writer_begin on this thread), or the first error.
Result<std::span<const uint8_t>> writer_finish(WriterState* s);

// Fills OBJECT's values from READER.
void read_object(const ObjectReader& reader, Object& object);
// Writes OBJECT's values into W.
Status write_object(const Object& object, ObjectWriter& w);

// ---- GIDs and the change log (gid.cpp, changelog.cpp) ----
// The GID of object ID (from its record, else from l:), or nullopt.
Result<std::optional<Gid>> lookup_gid(MDB_txn* txn, const EntityInfo& e, uint64_t id);
Result<std::optional<uint64_t>> lookup_local(MDB_txn* txn, const EntityInfo& e, const Gid& gid);
// Maps GID to ID in g:, and ID to GID in l: when LOCAL_TOO (the record will not hold the GID).
Status map_gid(MDB_txn* txn, const EntityInfo& e, uint64_t id, const Gid& gid, bool fresh = false,
               bool local_too = true);
// Removes object ID's GID from g: and l:. REQUIRES: the object's record is still there (if any).
Status unmap_gid(MDB_txn* txn, const EntityInfo& e, uint64_t id);
// Calls FN(gid, local id) for every mapping in g: (runs one GID at a time).
Status for_each_mapping(MDB_txn* txn, const EntityInfo& e, const std::function<void(const Gid&, uint64_t)>& fn);
// The meta key that notes that E's g: may hold runs.
std::string gid_runs_key(const EntityInfo& e);

// GIDs in object records (format 2): the id property's field of a synced object's FlatBuffers table
// is an offset to a [ubyte] vector after the table's bytes that holds the GID. The writer leaves a
// placeholder field there (writer_finish), which put_bytes points at the GID it appends.
// The position of the id property's field in the table BYTES, or 0 when it has none.
size_t record_gid_field(const EntityInfo& e, const uint8_t* bytes, size_t size);
// The GID a stored record holds, or nullopt (records of format 1, records without one).
std::optional<std::string_view> record_gid(const EntityInfo& e, const uint8_t* bytes, size_t size);
// record_gid of a record written while E was synced, whether or not it is now.
std::optional<std::string_view> record_gid_at(const EntityInfo& e, const uint8_t* bytes, size_t size);
// The size of a record made of SIZE bytes of table and a GID of GID_SIZE bytes.
size_t record_size_with_gid(size_t size, size_t gid_size);
// Writes the table BYTES with the GID appended into DST (record_size_with_gid bytes), pointing the
// field at FIELD (from record_gid_field) at it.
void write_record_with_gid(uint8_t* dst, std::span<const uint8_t> bytes, size_t field, std::string_view gid);
// The local id GID of E is mapped to; when it is mapped to none, maps it to ID (just handed out by the
// sequence) both ways. One search of g: either way. REQUIRES: GID is valid.
Result<uint64_t> map_gid_unless_mapped(TxnState& s, const EntityInfo& e, uint64_t id, const Gid& gid);
// Undoes next_id's handing out of ID when nothing was made with it (the next call hands it out again).
void give_back_id(TxnState& s, const EntityInfo& e, uint64_t id);
// map_gid for an ID just handed out by the sequence (the highest local id of E), through the
// transaction's cursors on the GID tables.
Status map_new_gid(TxnState& s, const EntityInfo& e, uint64_t id, const Gid& gid, bool local_too = true);
// The GID of object ID that put is writing (OLD: its stored record, if any), into OUT: the one the
// transaction names (ChangeLog::apply), the old record's, l:'s, or a new one, mapped here. IN_RECORD:
// the new record will hold the GID, so a new one goes to g: only (else l: too).
Status gid_for_put(TxnState& s, const EntityInfo& e, uint64_t id, const MDB_val* old, bool fresh,
                   bool in_record, Gid& out);
// Called by put before the object's bytes are written (OLD: the previous version, if any), with the
// object's GID (gid_for_put). FRESH: ID was just taken from the sequence, so it has no log entry yet.
Status log_put(TxnState& s, const EntityInfo& e, uint64_t id, const ObjectReader* old,
               const ObjectReader& now, bool fresh, const Gid& gid);
Status log_to_many(TxnState& s, const RelationInfo& r, uint64_t src, std::span<const uint64_t> targets);
Status log_remove(TxnState& s, const EntityInfo& e, uint64_t id);
// The transaction's entries of E.
PendingLog::EntitySlots& slots_of(TxnState& s, const EntityInfo& e);
// A relation value (local id ID of property P's target) as the target's GID, or null when it has none.
Result<Value> relation_value(MDB_txn* txn, const StoreImpl& store, const Property& p, int64_t id);
// Appends the transaction's record, if any (called by commit).
Status flush_log(TxnState& s);

// ---- stored entries of the change log (changelog_stored.cpp) ----
// Called before object ID of E, whose record is OLD, is overwritten or removed (for every entity: one
// that stopped being synced may still be named): when a record of the log names the object by its
// stored version, keeps OLD for it (once). Returns whether it wrote to LMDB, which may have moved the
// page OLD points into (the caller reads the record again).
Result<bool> keep_stored_version(TxnState& s, const EntityInfo& e, uint64_t id, const MDB_val& old);
// Object ID of E is in the transaction's stored runs and a change from elsewhere is about to change it:
// takes it out of its run and logs the local put in full from its record OLD (changelog.cpp).
Status log_stored_put_in_full(TxnState& s, const EntityInfo& e, uint64_t id, const MDB_val& old);
// Logs new object ID of E (just taken from the sequence) as a stored entry.
void log_stored_put(TxnState& s, const EntityInfo& e, uint64_t id);
// A remove of object ID of E made in this transaction and logged as a stored entry: drops it from its
// run and returns true; false when ID is in no stored run.
bool drop_stored_put(TxnState& s, const EntityInfo& e, uint64_t id);
// The stored entries of the transaction (one per run piece) appended to OUT; returns their number.
size_t encode_stored_runs(TxnState& s, std::string& out);
// Notes, at commit, that record POS names stored objects of the entities with stored runs.
Status write_stored_runs(TxnState& s, uint64_t pos);
// Forgets the runs and kept versions that only records up to POSITION needed (ChangeLog::acknowledge).
Status trim_stored(TxnState& s, uint64_t position);
// Appends to OUT the puts of a stored entry: COUNT new objects of the entity ENTITY_UID from local id
// FIRST on, each as its record was when the entry was written (the kept version, else the current
// one). Nothing when the model no longer has the entity.
Status read_stored_objects(MDB_txn* txn, const StoreImpl& store, uint64_t entity_uid, uint64_t first,
                           uint64_t count, std::vector<ObjectChange>& out);
Result<uint64_t> next_id(TxnState& s, const EntityInfo& e);

// ---- box operations (box.cpp) ----
// The stored bytes of object ID of E, or nullopt. VERIFY: kCorrupt (naming the object and what is
// wrong) when they are not a well-formed object (object_verify.hpp); pass E.verify_reads where the
// bytes are read through an ObjectReader, false where they are not read or were verified before.
Result<std::optional<MDB_val>> get_raw(MDB_txn* txn, const EntityInfo& e, uint64_t id, bool verify);
// ABSENT: the caller knows ID is new (just taken from the sequence), so no old version is looked up.
Result<uint64_t> put_bytes(TxnState& s, const EntityInfo& e, uint64_t id, PutMode mode,
                           std::span<const uint8_t> bytes, bool absent = false);
Status write_to_many(TxnState& s, const RelationInfo& r, uint64_t src, std::span<const uint64_t> targets);
Result<std::vector<uint64_t>> read_to_many(MDB_txn* txn, const RelationInfo& r, uint64_t src);
Result<bool> remove_object(TxnState& s, const EntityInfo& e, uint64_t id);
Result<std::span<const uint8_t>> encode(const EntityInfo& e, const Object& obj);

// ---- indexes (index.cpp) ----
// The index key of property IDX in READER, or nullopt when the value is null.
std::optional<std::string> index_key(const IndexInfo& idx, const ObjectReader& reader);
// Whether the two objects hold the same value for the index's property (for verifying truncated or
// hashed keys).
bool same_indexed_value(const IndexInfo& idx, const ObjectReader& a, const ObjectReader& b);
std::string format_value(const Value& v);  // for error messages

// ---- keys ----
inline MDB_val mdb_val(const void* p, size_t n) { return MDB_val{n, const_cast<void*>(p)}; }
inline std::string_view as_view(const MDB_val& v) {
    return {static_cast<const char*>(v.mv_data), v.mv_size};
}
uint64_t read_u64(const MDB_val& v);  // a native-endian u64 value (unaligned-safe)

}  // namespace outpost::detail
