#pragma once
// Tombstones of the server history: the global ids of removed objects, whoever removed them (a
// device's push, a MongoDB delete, an import that no longer finds a document). They carry two
// conflict rules (docs/sync-protocol.md, "Conflicts"):
// - a delete beats a concurrent update: a device's put for a removed object is dropped, so a late
//   update never brings the object back;
// - a delete beats a concurrent reference: a device's to-one or to-many entry naming a removed
// object
//   is dropped, as every replica cleared its own references when it applied the remove.
// A change from MongoDB is the database's own state and applies as it is: its removals leave
// tombstones, and an insert of a removed _id brings the object back (its tombstone goes).
// Each is kept in the server store's meta table, written in the transaction of the change.

#include <cstdint>
#include <string>

#include "outpost/changelog.hpp"
#include "outpost/store.hpp"

namespace outpost::sync {

// The meta key of the tombstone of object GID of entity ENTITY_UID.
std::string tombstone_key(uint64_t entity_uid, const Gid& gid);

// Remembers that the object was removed.
Status put_tombstone(WriteTxn& txn, uint64_t entity_uid, const Gid& gid);
// Whether the object was removed (and not brought back from MongoDB since).
Result<bool> has_tombstone(Txn& txn, uint64_t entity_uid, const Gid& gid);

// Drops from C (a put) its references to removed objects: a to-one becomes null, a to-many loses
// the entry.
Status drop_references_to_removed(Txn& txn, const Model& model, ObjectChange& c);

// Applies CHANGES made in MongoDB to the server history (ApplyMode::kRecord, with ORIGIN): removes
// leave tombstones, puts lift them.
Status apply_from_database(WriteTxn& txn, const ChangeSet& changes, const std::string& origin);

}  // namespace outpost::sync
