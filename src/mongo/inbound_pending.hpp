// Server changes not yet in MongoDB, against the MongoDB changes of a batch (inbound.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "outpost/changelog.hpp"
#include "outpost/status.hpp"

namespace outpost::mongo::detail {

struct Mapped {
    ObjectChange change;
    size_t event = 0;
    uint64_t own_seen = 0;  // the outbound position the stream had passed at this event
};

// Server changes that have not reached MongoDB before the events of a batch, per object: a MongoDB
// change of the same field (or of an object the server removed) is older in MongoDB's order than
// the server's, which the outbound writer writes after it, so the server's value stays (MongoDB's
// order decides, and both sides end equal). A MongoDB delete always applies (a delete beats an
// update).
struct PendingObject {
    uint64_t removed = 0;                               // newest position of a removal, 0 when none
    std::unordered_map<uint64_t, uint64_t> properties;  // property uid -> newest position
    std::unordered_map<uint64_t, uint64_t> relations;   // relation uid -> newest position
};

// SKIPPABLE becomes the end of the run of records after the earliest own_seen that all came from
// MongoDB: they never reach MongoDB, so the stream may count them as passed.
using PendingObjects = std::unordered_map<std::string, PendingObject>;

// The server records after FROM that did not come from MongoDB, per object (SKIPPABLE as above).
Result<PendingObjects> read_pending(Txn& txn, uint64_t from, uint64_t* skippable);
// Drops from CHANGES what PENDING supersedes; DROPPED counts them.
void drop_superseded(const PendingObjects& pending, std::vector<Mapped>& changes,
                     uint64_t* dropped);

// Applies the MongoDB changes of one batch of the change stream (in stream order, each with the
// own_seen the stream had at its event) to the server history in TXN, as one history record: what
// pending server changes supersede is dropped (DROPPED counts it) and the rest goes through
// sync::apply_from_database (removals leave tombstones, inserts lift them). SEEN, the stream's
// outbound position as committed, moves on: past the records from MongoDB that follow it, and past
// this batch's own record when nothing was pending before it, and to BATCH_SEEN, the newest of this
// server's markers the stream passed in the batch (after its changes). The caller stores SEEN
// (mongo:own_seen) and the resume token in TXN. APPLIED (may be null) tells whether any change was
// left to apply. On an error CHANGES is as it was.
Status apply_stream_batch(WriteTxn& txn, std::vector<Mapped>& changes, uint64_t batch_seen,
                          uint64_t& seen, uint64_t* dropped, bool* applied = nullptr);

}  // namespace outpost::mongo::detail
