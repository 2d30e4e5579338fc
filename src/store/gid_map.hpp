#pragma once
// The GID map of synced entities (gid_map.cpp, gid.cpp): GID -> local id in g:, local id -> GID in
// l: where the record does not hold it (docs/storage.md).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "store/store_core.hpp"

namespace outpost::detail {

// The GID of object ID (from its record, else from l:), or nullopt.
Result<std::optional<Gid>> lookup_gid(MDB_txn* txn, const EntityInfo& e, uint64_t id);
Result<std::optional<uint64_t>> lookup_local(MDB_txn* txn, const EntityInfo& e, const Gid& gid);
// Maps GID to ID in g:, and ID to GID in l: when LOCAL_TOO (the record will not hold the GID).
Status map_gid(MDB_txn* txn, const EntityInfo& e, uint64_t id, const Gid& gid, bool fresh = false,
               bool local_too = true);
// Removes object ID's GID from g: and l:. REQUIRES: the object's record is still there (if any).
Status unmap_gid(MDB_txn* txn, const EntityInfo& e, uint64_t id);
// Calls FN(gid, local id) for every mapping in g: (runs one GID at a time).
Status for_each_mapping(MDB_txn* txn, const EntityInfo& e,
                        const std::function<void(const Gid&, uint64_t)>& fn);
// The meta key that notes that E's g: may hold runs.
std::string gid_runs_key(const EntityInfo& e);
// The local id GID of E is mapped to; when it is mapped to none, maps it to ID (just handed out by
// the sequence) both ways. One search of g: either way. REQUIRES: GID is valid.
Result<uint64_t> map_gid_unless_mapped(TxnState& s, const EntityInfo& e, uint64_t id,
                                       const Gid& gid);
// map_gid for an ID just handed out by the sequence (the highest local id of E), through the
// transaction's cursors on the GID tables.
Status map_new_gid(TxnState& s, const EntityInfo& e, uint64_t id, const Gid& gid,
                   bool local_too = true);
// The GID of object ID that put is writing (OLD: its stored record, if any), into OUT: the one the
// transaction names (ChangeLog::apply), the old record's, l:'s, or a new one, mapped here.
// IN_RECORD: the new record will hold the GID, so a new one goes to g: only (else l: too).
Status gid_for_put(TxnState& s, const EntityInfo& e, uint64_t id, const MDB_val* old, bool fresh,
                   bool in_record, Gid& out);

}  // namespace outpost::detail
