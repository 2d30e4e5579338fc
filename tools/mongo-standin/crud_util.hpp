// Helpers shared by the read and write command handlers (crud_read.cpp, crud_write.cpp).
#pragma once

#include <string>
#include <vector>

#include "commands.hpp"

namespace standin::detail {

constexpr size_t kMaxBatchBytes = 16 * 1024 * 1024;

// The collection name given as the command's first value ("" when not a string).
std::string coll_arg(const CommandCtx& c);
// A document or array field copied out of `b` (empty when missing or another type).
Doc subdoc(const bson_t* b, const char* key);
// True when `key` is present and not null.
bool has_field(const bson_t* b, const char* key);
// {_id: <the document's _id>}.
Doc id_doc(const bson_t* doc);
// The document to store for an insert: _id first (generated when missing). Errors 53, 10334.
Result<DocPtr> prepare_insert(const bson_t* doc);
// Appends {index, code, errmsg, <the error's info fields>} to a writeErrors array.
void append_write_error(bson_t* arr, size_t& count, int32_t index, const Error& err);
// The documents of `c` (may be null) matching `filter` as `txn` sees them, in natural order;
// at most `limit` when > 0.
Result<std::vector<DocPtr>> matching(const Collection* c, const Txn* txn, const bson_t* filter,
                                     size_t limit);

}  // namespace standin::detail
