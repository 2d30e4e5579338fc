#pragma once
// Objects in their tables (box.cpp): the stored records, their id sequence, index entries and
// to-many lists, written and removed as boxes, the change log and schema evolution need.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "store/store_core.hpp"

namespace outpost::detail {

Result<uint64_t> next_id(TxnState& s, const EntityInfo& e);
// Undoes next_id's handing out of ID when nothing was made with it (the next call hands it out
// again).
void give_back_id(TxnState& s, const EntityInfo& e, uint64_t id);

// The stored bytes of object ID of E, or nullopt. VERIFY: kCorrupt (naming the object and what is
// wrong) when they are not a well-formed object (object_verify.hpp); pass E.verify_reads where the
// bytes are read through an ObjectReader, false where they are not read or were verified before.
Result<std::optional<MDB_val>> get_raw(MDB_txn* txn, const EntityInfo& e, uint64_t id, bool verify);
// ABSENT: the caller knows ID is new (just taken from the sequence), so no old version is looked
// up.
Result<uint64_t> put_bytes(TxnState& s, const EntityInfo& e, uint64_t id, PutMode mode,
                           std::span<const uint8_t> bytes, bool absent = false);
Status write_to_many(TxnState& s, const RelationInfo& r, uint64_t src,
                     std::span<const uint64_t> targets);
Result<std::vector<uint64_t>> read_to_many(MDB_txn* txn, const RelationInfo& r, uint64_t src);
Result<bool> remove_object(TxnState& s, const EntityInfo& e, uint64_t id);
Result<std::span<const uint8_t>> encode(const EntityInfo& e, const Object& obj);

}  // namespace outpost::detail
