#pragma once
// The store: one LMDB environment holding the objects of a model's entities.
//
// Operating rules (as LMDB's): one write transaction at a time per store (others wait), any number
// of readers; a transaction belongs to the thread that began it; keep read transactions short.
// Misuse (beginning a write while this thread already has one open on the store, using a
// transaction from another thread) is an error (kTxnMisuse), never a deadlock.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "outpost/model.hpp"
#include "outpost/object.hpp"
#include "outpost/status.hpp"

namespace outpost {

namespace detail {
class StoreImpl;
struct TxnState;
struct Access;  // the library's own way to its internals (src/store/access.hpp)
}  // namespace detail

struct StoreOptions {
    uint64_t max_size_bytes = 1ull << 32;  // the memory map's size: the store cannot grow past it
    bool read_only = false;
    bool no_sync =
        false;  // skip fsync on commit (tests, benchmarks): a crash may lose recent commits
    unsigned max_readers = 126;
    // Verify every stored object before it is read: reads through boxes, queries and the change
    // log, and the old version an update or remove reads. A damaged object is then kCorrupt naming
    // the entity, the id and what is wrong, instead of a crash; every other object stays usable.
    // Off by default: it adds about a seventh to the cost of a get (docs/storage.md,
    // "Verification"). Turn it on for stores that may be damaged or come from elsewhere (the
    // outpost tool does).
    bool verify_objects = false;
};

// What one committed write transaction changed, per entity id.
struct EntityChanges {
    uint32_t entity_id = 0;
    std::vector<uint64_t> put_ids;
    std::vector<uint64_t> removed_ids;
};
struct Changes {
    std::vector<EntityChanges> entities;
    std::string origin;  // empty for local writes; set by whoever applied a remote change set
};

class Txn {
  public:
    Txn(Txn&&) noexcept;
    Txn& operator=(Txn&&) noexcept;
    Txn(const Txn&) = delete;
    Txn& operator=(const Txn&) = delete;
    virtual ~Txn();

    bool is_write() const;
    bool is_open() const;
    // Ok when the calling thread may use this transaction.
    Status check_usable() const;

  private:
    // Transactions are made by Store::begin_read and Store::begin_write.
    friend class ReadTxn;
    friend class WriteTxn;
    friend struct detail::Access;
    explicit Txn(std::unique_ptr<detail::TxnState> state);
    std::unique_ptr<detail::TxnState> state_;
};

class ReadTxn : public Txn {
  public:
    // Ends the transaction (also done by the destructor).
    void close();

  private:
    friend struct detail::Access;
    explicit ReadTxn(std::unique_ptr<detail::TxnState> state);
};

class WriteTxn : public Txn {
  public:
    // Makes every change durable (unless no_sync) and tells observers. The transaction ends either
    // way.
    Status commit();
    // Drops every change (also done by the destructor when not committed).
    void abort();
    // Origin reported to observers for this transaction (e.g. "sync").
    void set_origin(std::string origin);

  private:
    friend struct detail::Access;
    explicit WriteTxn(std::unique_ptr<detail::TxnState> state);
};

struct EntityStats {
    std::string name;
    uint64_t count = 0;
    uint64_t bytes = 0;  // pages used by the entity's objects, indexes and relations
};
struct StoreStats {
    std::vector<EntityStats> entities;
    uint64_t file_bytes = 0;
    uint64_t used_bytes = 0;
    uint64_t map_bytes = 0;      // the memory map's size (StoreOptions::max_size_bytes)
    uint64_t history_bytes = 0;  // pages used by the change log's records and their origins
};

class DynamicBox;

class Store : public std::enable_shared_from_this<Store> {
  public:
    // Opens (creating when needed) the store in directory DIR for MODEL. A store that was opened
    // before with an older model is evolved: added entities, properties, indexes, relations,
    // renames and removals of retired uids; a type change is kSchemaIncompatible. Opening a
    // directory that this process already has open returns the same store when the model is the
    // same, else kStoreInUse.
    static Result<std::shared_ptr<Store>> open(const std::string& dir, const Model& model,
                                               const StoreOptions& options = {});
    // Opens an existing store with the model it was last opened with.
    static Result<std::shared_ptr<Store>> open_existing(const std::string& dir,
                                                        const StoreOptions& options = {});

    ~Store();
    const Model& model() const;
    const std::string& dir() const;

    Result<ReadTxn> begin_read();
    Result<WriteTxn> begin_write();

    // Runs FN in a write transaction and commits when it returns ok; aborts otherwise.
    Status write(const std::function<Status(WriteTxn&)>& fn);
    Status read(const std::function<Status(ReadTxn&)>& fn);

    // Box for entity NAME (kUnknownEntity when the model has none).
    Result<DynamicBox> box(std::string_view entity);

    // Observers run on the committing thread after each successful write commit.
    using Observer = std::function<void(const Changes&)>;
    uint64_t add_observer(Observer observer);
    void remove_observer(uint64_t handle);

    Result<StoreStats> stats();

  private:
    // Stores are made by open().
    friend struct detail::Access;
    explicit Store(std::shared_ptr<detail::StoreImpl> impl);

    std::shared_ptr<detail::StoreImpl> impl_;
};

enum class PutMode { kPut, kInsert, kUpdate };

// The objects of one entity, through the dynamic object API. Cheap to copy; valid while the store
// is.
class DynamicBox {
  public:
    const Entity& entity() const;
    Object new_object() const { return Object(entity()); }

    // Writes OBJECT (all its properties; null where unset) and its to-many lists. An id of 0 gets
    // the next id, written back into OBJECT. kInsert fails on an existing id, kUpdate on a missing
    // one.
    Result<uint64_t> put(WriteTxn& txn, Object& object, PutMode mode = PutMode::kPut);
    Status put_many(WriteTxn& txn, std::vector<Object>& objects, PutMode mode = PutMode::kPut);
    Result<std::optional<Object>> get(Txn& txn, uint64_t id);
    Result<std::vector<std::optional<Object>>> get_many(Txn& txn, std::span<const uint64_t> ids);
    Result<std::vector<Object>> get_all(Txn& txn);
    Result<bool> contains(Txn& txn, uint64_t id);
    Result<uint64_t> count(Txn& txn);
    // Removes the object, its index entries and to-many lists, and clears relations pointing to it.
    Result<bool> remove(WriteTxn& txn, uint64_t id);
    Result<uint64_t> remove_many(WriteTxn& txn, std::span<const uint64_t> ids);
    Result<uint64_t> remove_all(WriteTxn& txn);
    // Ids of objects of SOURCE_ENTITY that point to ID through SOURCE's to-one property or to-many
    // relation named LINK.
    Result<std::vector<uint64_t>> backlinks(Txn& txn, std::string_view source_entity,
                                            std::string_view link, uint64_t id);
    // Ids of all objects in id order.
    Result<std::vector<uint64_t>> ids(Txn& txn);

    // Convenience forms that run in a transaction of their own.
    Result<uint64_t> put(Object& object, PutMode mode = PutMode::kPut);
    Result<std::optional<Object>> get(uint64_t id);
    Result<bool> remove(uint64_t id);
    Result<uint64_t> count();

    // This box with its reads (get, get_many, get_all, read) verified as with
    // StoreOptions::verify_objects, whatever the store's options: for readers that do not trust the
    // store (a server sending a full sync). A damaged object is kCorrupt naming it.
    DynamicBox verified() const;
    // Whether this box's reads are verified.
    bool verifies() const { return verify_; }

    // Lower level, used by the typed Box<T>: reads in place, and writes an object built by FILL.
    Result<std::optional<ObjectReader>> read(Txn& txn, uint64_t id);
    Result<uint64_t> put_with(WriteTxn& txn, uint64_t id, PutMode mode,
                              const std::function<Status(ObjectWriter&)>& fill);
    Status set_to_many(WriteTxn& txn, int relation_pos, uint64_t id,
                       std::span<const uint64_t> targets);
    Result<std::vector<uint64_t>> get_to_many(Txn& txn, int relation_pos, uint64_t id);
    const std::shared_ptr<Store>& store() const { return store_; }

  private:
    // Boxes are made by Store::box.
    friend struct detail::Access;
    DynamicBox(std::shared_ptr<Store> store, const detail::EntityInfo* info);

    std::shared_ptr<Store> store_;
    const detail::EntityInfo* info_;
    bool verify_ = false;
};

}  // namespace outpost
