#pragma once
// Store internals shared by the store's .cpp files. The LMDB key layout is documented in
// docs/storage.md.

#include <lmdb.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "outpost/store.hpp"

namespace outpost::detail {

// Converts an LMDB return code into a Status with context.
Status lmdb_status(int rc, const std::string& context);

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
};

// A link into an entity from another entity (or itself): a to-one property or a to-many relation.
struct IncomingLink {
    EntityInfo* source = nullptr;
    int pos = 0;  // property position (to-one) or relation position (to-many)
    bool to_many = false;
};

struct EntityInfo {
    const Entity* entity = nullptr;
    MDB_dbi objects = 0;  // local id (native u64) -> FlatBuffers table
    int id_pos = 0;
    std::vector<IndexInfo> indexes;
    std::vector<int> index_of_prop;  // property position -> index in `indexes`, or -1
    std::vector<RelationInfo> relations;
    std::vector<IncomingLink> incoming;
    std::unordered_map<std::string, int> prop_by_name;
    std::string seq_key;  // meta key of the last assigned id
};

struct TxnState {
    std::shared_ptr<StoreImpl> store;
    MDB_txn* txn = nullptr;
    bool write = false;
    std::thread::id owner;
    std::map<uint32_t, EntityChanges> changes;
    std::string origin;
    std::unordered_map<const EntityInfo*, uint64_t> next_ids;  // cached sequences, flushed at commit

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
