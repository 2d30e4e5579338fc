#pragma once
// The change log inside the store: logging a transaction's writes as it goes (changelog.cpp), the
// stored entries that name new objects by their records (changelog_stored.cpp), and the record
// appended at commit (docs/change-log.md).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "store/store_core.hpp"

namespace outpost::detail {

// Called by put before the object's bytes are written (OLD: the previous version, if any), with the
// object's GID (gid_for_put). FRESH: ID was just taken from the sequence, so it has no log entry
// yet.
Status log_put(TxnState& s, const EntityInfo& e, uint64_t id, const ObjectReader* old,
               const ObjectReader& now, bool fresh, const Gid& gid);
Status log_to_many(TxnState& s, const RelationInfo& r, uint64_t src,
                   std::span<const uint64_t> targets);
Status log_remove(TxnState& s, const EntityInfo& e, uint64_t id);
// The transaction's entries of E.
PendingLog::EntitySlots& slots_of(TxnState& s, const EntityInfo& e);
// A relation value (local id ID of property P's target) as the target's GID, or null when it has
// none.
Result<Value> relation_value(MDB_txn* txn, const StoreImpl& store, const Property& p, int64_t id);
// Appends the transaction's record, if any (called by commit).
Status flush_log(TxnState& s);

// ---- stored entries of the change log (changelog_stored.cpp) ----
// Called before object ID of E, whose record is OLD, is overwritten or removed (for every entity:
// one that stopped being synced may still be named): when a record of the log names the object by
// its stored version, keeps OLD for it (once). Returns whether it wrote to LMDB, which may have
// moved the page OLD points into (the caller reads the record again).
Result<bool> keep_stored_version(TxnState& s, const EntityInfo& e, uint64_t id, const MDB_val& old);
// Object ID of E is in the transaction's stored runs and a change from elsewhere is about to change
// it: takes it out of its run and logs the local put in full from its record OLD (changelog.cpp).
Status log_stored_put_in_full(TxnState& s, const EntityInfo& e, uint64_t id, const MDB_val& old);
// Logs new object ID of E (just taken from the sequence) as a stored entry.
void log_stored_put(TxnState& s, const EntityInfo& e, uint64_t id);
// A remove of object ID of E made in this transaction and logged as a stored entry: drops it from
// its run and returns true; false when ID is in no stored run.
bool drop_stored_put(TxnState& s, const EntityInfo& e, uint64_t id);
// The stored entries of the transaction (one per run piece) appended to OUT; returns their number.
size_t encode_stored_runs(TxnState& s, std::string& out);
// Notes, at commit, that record POS names stored objects of the entities with stored runs.
Status write_stored_runs(TxnState& s, uint64_t pos);
// Forgets the runs and kept versions that only records up to POSITION needed
// (ChangeLog::acknowledge).
Status trim_stored(TxnState& s, uint64_t position);
// Appends to OUT the puts of a stored entry: COUNT new objects of the entity ENTITY_UID from local
// id FIRST on, each as its record was when the entry was written (the kept version, else the
// current one). Nothing when the model no longer has the entity.
Status read_stored_objects(MDB_txn* txn, const StoreImpl& store, uint64_t entity_uid,
                           uint64_t first, uint64_t count, std::vector<ObjectChange>& out);

}  // namespace outpost::detail
