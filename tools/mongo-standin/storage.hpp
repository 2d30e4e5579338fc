// Reading and writing collections: versioned records (so a transaction reads its snapshot),
// a transaction's overlay of its own writes, and unique-index maintenance.
#pragma once

#include <functional>
#include <string>

#include "engine.hpp"

namespace standin {

constexpr uint64_t kLatest = UINT64_MAX;

inline std::string ns_of(const std::string& db, const std::string& coll) { return db + "." + coll; }

// Canonical key of the document's _id ("" when it has none).
std::string id_key_of(const bson_t* doc);
std::string id_key_of(const DocPtr& doc);

// The version of `r` visible at `snapshot` (kLatest: current), or null.
DocPtr visible(const Record& r, uint64_t snapshot);

// Visits the documents a reader sees, in natural order: the snapshot of `txn` plus its own writes
// (txn may be null: the latest committed state). `f` returns false to stop.
void scan(const Collection& c, const Txn* txn, const std::function<bool(const DocPtr&)>& f);

// The document with this _id key as the reader sees it, or null.
DocPtr lookup(const Collection& c, const Txn* txn, const std::string& id_key);

// Applies a committed write (doc null: delete) at `ts`, keeping older versions that open
// transactions may still read (those with snapshots >= min_snapshot... see storage.cpp).
void apply_committed(Collection& c, const std::string& id_key, const DocPtr& doc, uint64_t ts,
                     bool keep_history);

// Drops versions no reader needs any more (call when no transaction is open).
void prune_record(Collection& c, uint64_t order);

// Unique indexes other than _id_: error 11000 when `doc` collides with a document whose _id key
// differs from `id_key`. `txn` (may be null) adds the transaction's own writes to the check.
Status check_unique(const Collection& c, const bson_t* doc, const std::string& id_key,
                    const Txn* txn);
// Rebuilds the unique-key tables of `c` from its current documents; error 11000 on a collision.
Status rebuild_unique(Collection& c);

// 11000 error for a duplicate _id (message, keyPattern, keyValue as the server words them).
Error duplicate_key_error(const Collection& c, const std::string& index, const bson_t* key_pattern,
                          const bson_t* key_value);
std::string shell_format(const bson_t* doc);

// The index key (values of the indexed fields) of `doc` for `spec`, as a document and canonical
// key.
Doc index_key_value(const bson_t* doc, const bson_t* key_pattern);

}  // namespace standin
