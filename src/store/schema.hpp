#pragma once
// The schema of an open store (schema.cpp): the tables of each entity, index and relation of its
// model, and the evolution from the model the store was last opened with (tables dropped, indexes
// built or rebuilt, global ids given to entities that became synced). docs/storage.md lists the
// tables.

#include <lmdb.h>

#include <cstdint>
#include <string>

#include "outpost/model.hpp"
#include "outpost/status.hpp"
#include "store/store_core.hpp"

namespace outpost::detail {

// The name of the table (or meta key) of KIND for UID: "o:12", "i:34", ...
std::string uid_name(char kind, uint64_t uid);

// Opens table NAME, creating it when CREATE. Without CREATE a missing table is dbi 0 (reads see it
// empty).
Status open_dbi(MDB_txn* txn, const std::string& name, unsigned flags, bool create, MDB_dbi* out);

// Opens every table of S's model and fills S.entities, drops those of entities, indexes and
// relations that STORED (the model the store was last opened with, or null) had and S's model
// removed, and builds indexes that are new on existing entities. FORMAT: of the store as found (0:
// new); a store of format 1 opened for writing (CREATE) moves to format 2.
Status prepare_schema(StoreImpl& s, MDB_txn* txn, const Model* stored, bool create, int format);

}  // namespace outpost::detail
