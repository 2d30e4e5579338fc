#pragma once
// The on-disk format of a store and the moves between its versions (migrations.cpp,
// docs/storage.md).
//   1: the first format.
//   2: synced objects' records hold their GID. A store of format 1 moves to format 2 when it is
//   first
//      opened for writing (migrate_to_format_2); opened read-only, it is read as format 1.
//   3: the change log may hold stored entries (docs/change-log.md), which older versions cannot
//   read;
//      a store of format 2 becomes format 3 when it is opened for writing.

#include <lmdb.h>

#include <string>

#include "outpost/status.hpp"
#include "store/store_core.hpp"

namespace outpost::detail {

inline constexpr int kStoreFormatVersion = 3;

// The format of the store whose meta table is META (1 when it names none: stores older than the
// format key). kCorrupt naming DIR for a format this version does not read.
Result<int> read_store_format(MDB_txn* txn, MDB_dbi meta, const std::string& dir);
// Notes the current format in META.
Status write_store_format(MDB_txn* txn, MDB_dbi meta);

// Drops the id property's field from the records of S that have one, before a store of format 1
// becomes format 2.
Status migrate_to_format_2(MDB_txn* txn, const StoreImpl& s);

}  // namespace outpost::detail
