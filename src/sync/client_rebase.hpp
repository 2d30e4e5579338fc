#pragma once
// The client's rebase of remote changes under its own changes not yet acknowledged
// (docs/sync-protocol.md, "Clients rebase remote changes under their pending ones"): ClientCore
// applies every Apply, FullSyncChunk and correction through apply_rebased. Not part of the
// interface.

#include <cstdint>
#include <map>
#include <set>
#include <utility>

#include "outpost/changelog.hpp"
#include "outpost/model.hpp"
#include "outpost/store.hpp"

namespace outpost::sync::client_internal {

// The origin remote changes are applied with (observers see it; nothing is logged for them).
inline constexpr const char* kRemoteOrigin = "sync";

using ObjectKey = std::pair<uint64_t, Gid>;  // entity uid, GID

// What the unacknowledged local change log touches. Those local changes reach the server after any
// remote change the client applies now, so on the server they will win: applying the remote value
// locally would leave this replica behind. Remote changes are rebased under them instead.
struct Pending {
    std::set<ObjectKey> removed;
    std::set<ObjectKey> created;  // made here and not yet acknowledged
    std::map<ObjectKey, std::pair<std::set<uint64_t>, std::set<uint64_t>>>
        put;  // properties, to-many

    // Only what the full-sync cleanup needs (`created`): enough when there is nothing to rebase.
    void add_created(const ChangeSet& changes);
    void add(const ChangeSet& changes);
    // REMOTE without what the pending changes set or remove (removes always stay).
    ChangeSet rebase(const ChangeSet& remote, const Model& model) const;
    // References to objects removed here: the server will clear them when the remove reaches it
    // (a delete beats a concurrent edit that points at the deleted object), so they go here too.
    void drop_references_to_removed(const Model& model, ObjectChange& c) const;
};

// Applies CHANGES from the server under the local changes not yet acknowledged (collected into
// PENDING), in TXN. With NEED_CREATED, PENDING also tells which objects were created here and not
// yet acknowledged when there is nothing to rebase.
Status apply_rebased(WriteTxn& txn, Store& store, const ChangeSet& changes, Pending& pending,
                     bool need_created);

}  // namespace outpost::sync::client_internal
