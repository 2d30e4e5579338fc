// Dead letters kept in the server store: changes that could not be written on the other side, with
// their reason, so that the admin can list, retry or discard them after a restart too.
//
// One letter per document and direction: a newer one replaces the older (a retry reads or writes
// the document's current state, so the older says nothing more), and an import run again does not
// add a second letter for a document that still fails.
//
// Layout (the store's meta, docs/mongo-mapping.md "Dead letters"): `mongo:dead_letters` holds the
// next id and the ids kept, oldest first (8-byte little-endian numbers); `mongo:dead_letter:<id>`
// holds one letter as JSON; `mongo:dead_letter_of:<hash>` the id of the letter of a document and
// direction. At most kMaxKept are kept: adding one more removes the oldest. Every function works in
// the caller's transaction, so a letter commits with the batch that produced it.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "mongo/connector.hpp"
#include "outpost/store.hpp"

namespace outpost::mongo::detail {

class DeadLetters {
  public:
    static constexpr size_t kMaxKept = 10000;
    // A letter's raw change and reason are cut to these sizes when kept (the retry reads the
    // document again, it does not need the raw change).
    static constexpr size_t kMaxRawBytes = 64 * 1024;
    static constexpr size_t kMaxReasonBytes = 4 * 1024;

    // Keeps each of LETTERS (ids and, when 0, times are set here), replacing a kept letter of the
    // same direction, collection and document key, and dropping the oldest beyond kMaxKept.
    // Returns how many are kept now. Errors: the store's.
    static Result<uint64_t> add(WriteTxn& txn, std::vector<DeadLetter>& letters);
    // Letter ID, or nullopt when it is not kept.
    static Result<std::optional<DeadLetter>> get(Txn& txn, uint64_t id);
    // Removes letter ID. Returns whether it was kept.
    static Result<bool> remove(WriteTxn& txn, uint64_t id);
    // How many are kept.
    static Result<uint64_t> count(Txn& txn);
    // The kept letters, newest first, from OFFSET, at most LIMIT.
    static Result<DeadLetterPage> list(Txn& txn, size_t offset, size_t limit);
};

}  // namespace outpost::mongo::detail
