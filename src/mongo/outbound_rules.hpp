// What the outbound writer does with one change of the server history (docs/mongo-mapping.md,
// "Outbound" and "Concurrent edits"), apart from how it is written: the rules that keep MongoDB
// and the server in step.
#pragma once

#include "outpost/changelog.hpp"
#include "outpost/store.hpp"

namespace outpost::mongo {

enum class OutboundAction {
    kSkip,    // a put of an object the server no longer holds: a later record removed it
    kDelete,  // deleteOne by _id
    kUpdate,  // updateOne by _id, no upsert: a document deleted in MongoDB meanwhile stays deleted
    kUpsert,  // updateOne by _id with upsert: the object is new on the server
};

// The action for change C of a record of the server history, read in TXN of the server's store;
// BOX is the box of C's entity. A put upserts only when it made the object (ObjectChange::is_new):
// an update never creates a document, so a document deleted in MongoDB is not brought back by a
// change the server made before it heard of the delete.
Result<OutboundAction> outbound_action(Txn& txn, DynamicBox& box, const ObjectChange& c);

}  // namespace outpost::mongo
