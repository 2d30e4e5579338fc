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
                                     size_t limit, const Vars* vars = nullptr);
// True when C is a view (created with viewOn).
bool is_view(const Collection& c);
// Error 166 for a write or an index on a view.
Error view_error(const Collection& c);
// The documents a read of namespace DB.NAME sees matching FILTER (null: all), in natural order:
// a collection's as the transaction of C sees them, or a view's (its pipeline over its source,
// views of views resolved up to 20 deep: error 165). At most LIMIT when > 0.
Result<std::vector<DocPtr>> read_documents(Engine& e, const CommandCtx& c, const std::string& db,
                                           const std::string& name, const bson_t* filter,
                                           size_t limit, const Vars* vars);
// Error 121 DocumentValidationFailure when DOC fails the validator of C (collection options
// validator, validationLevel, validationAction). BEFORE is the document an update replaces (null
// for an insert): with validationLevel "moderate" an update of a document that did not pass
// either is allowed. Nothing when the command sets bypassDocumentValidation.
Status check_validator(const Collection& c, const CommandCtx& ctx, const bson_t* doc,
                       const bson_t* before);
// The command's `let` variables (none when it has no `let`); error for a malformed one.
Result<Vars> command_vars(const bson_t* cmd);

}  // namespace standin::detail
