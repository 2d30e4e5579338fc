#pragma once
// Global ids and the change log: the input of sync.
//
// Every object of a synced entity has a GID, the canonical bytes of its MongoDB `_id`: one BSON
// type byte then the value (docs/change-log.md). Devices make GIDs themselves (ObjectId by default;
// UUID v7, v4 or a UUID string where the id property's externalType says so), so objects created
// offline need no round trip. Each store maps GID <-> local id both ways.
//
// Every write transaction that touches a synced entity appends one change-log record in the same
// LMDB transaction: per object put its GID, whether it is new, and only the properties that
// changed; per remove its GID. Writes to local-only entities log nothing.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/store.hpp"
#include "outpost/value.hpp"

namespace outpost {

// A global id: BSON type byte + value bytes (ObjectId: 0x07 + 12 bytes; UUID: 0x05 0x04 + 16 bytes;
// string: 0x02 + UTF-8; int32: 0x10 + 4 bytes LE; int64: 0x12 + 8 bytes LE; binary: 0x05 subtype +
// bytes).
using Gid = std::string;

Gid new_object_id_gid();           // ObjectId: 4-byte seconds, 5 random bytes, 3-byte counter
Gid new_uuid_gid(bool v7 = true);  // binary subtype 4
Gid new_uuid_string_gid(bool v7 = true);
// The GID type a new object of ENTITY gets, from its id property's externalType.
Gid new_gid_for(const Entity& entity);
// Readable form: ObjectId("..."), UUID("..."), "text", 42, Binary(sub, base64).
std::string gid_to_string(const Gid& gid);
// Checks the GID's shape (known type byte, right length).
Status validate_gid(const Gid& gid);

struct PropertyChange {
    uint64_t property_uid = 0;
    Value value;  // relation properties: the target's GID as Bytes, or null
    friend bool operator==(const PropertyChange&, const PropertyChange&) = default;
};

struct ToManyChange {
    uint64_t relation_uid = 0;
    std::vector<Gid> targets;  // the whole list, in order
    friend bool operator==(const ToManyChange&, const ToManyChange&) = default;
};

struct ObjectChange {
    enum Kind : uint8_t { kPut = 1, kRemove = 2 };
    Kind kind = kPut;
    uint64_t entity_uid = 0;
    Gid gid;
    bool is_new = false;                     // put: the object did not exist before
    std::vector<PropertyChange> properties;  // put: changed properties only
    std::vector<ToManyChange> to_many;       // put: changed to-many lists
    friend bool operator==(const ObjectChange&, const ObjectChange&) = default;
};

struct ChangeSet {
    std::vector<ObjectChange> objects;
    bool empty() const { return objects.empty(); }
    friend bool operator==(const ChangeSet&, const ChangeSet&) = default;
};

// The binary form of a change set (docs/change-log.md). Decoding checks every length and type:
// corrupt input is a kCorrupt error, never a crash.
std::string encode_change_set(const ChangeSet& changes);
Result<ChangeSet> decode_change_set(std::span<const uint8_t> data);

struct ChangeLogRecord {
    uint64_t position = 0;
    ChangeSet changes;
    std::string
        origin;  // the writing transaction's origin (WriteTxn::set_origin); empty for local writes
    size_t bytes = 0;  // the record's stored size
};

enum class ApplyMode {
    kRemote,  // a change made elsewhere that this store mirrors: logs nothing (sync clients)
    kRecord,  // a change this store accepts as its own history: logged like a local write, with the
              // transaction's origin beside the record (the sync server)
};

// The change log of a store (only synced entities write to it).
class ChangeLog {
  public:
    // Records after POSITION, oldest first, at most MAX. Records whose origin is SKIP_ORIGIN (when
    // not empty) come with empty changes, not decoded: for readers that pass over that origin's
    // records.
    static Result<std::vector<ChangeLogRecord>> read(Txn& txn, uint64_t after, size_t max,
                                                     std::string_view skip_origin = {});
    // Position of the newest record (0 when none was ever written).
    static Result<uint64_t> last_position(Txn& txn);
    // Number of records kept.
    static Result<uint64_t> size(Txn& txn);
    // Deletes the records up to and including POSITION.
    static Status acknowledge(WriteTxn& txn, uint64_t position);
    // Applies a change set made elsewhere: puts by GID (merging the given properties into the
    // object, creating it when new; relation targets by GID, local ids made as needed), removes by
    // GID. Logs nothing; observers see ORIGIN. Unknown entities and properties (a newer model) are
    // skipped.
    static Status apply(WriteTxn& txn, const ChangeSet& changes, const std::string& origin,
                        ApplyMode mode = ApplyMode::kRemote);
};

// Small named values kept with the data and written in the caller's transaction, so that sync state
// (the last applied server sequence, per-client transaction numbers, resume tokens) commits
// atomically with the changes it describes.
Status put_meta(WriteTxn& txn, std::string_view key, std::string_view value);
Result<std::optional<std::string>> get_meta(Txn& txn, std::string_view key);
Status remove_meta(WriteTxn& txn, std::string_view key);

// GID <-> local id of objects of synced entities.
Result<std::optional<Gid>> gid_of(Txn& txn, const DynamicBox& box, uint64_t id);
Result<std::optional<uint64_t>> local_id_of(Txn& txn, const DynamicBox& box, const Gid& gid);

}  // namespace outpost
