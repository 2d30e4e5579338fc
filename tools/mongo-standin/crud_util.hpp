// Helpers shared by the read and write command handlers (crud_read.cpp, crud_write.cpp).
#pragma once

#include <string>
#include <vector>

#include "commands.hpp"
#include "update_ops.hpp"

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

// ---- write helpers (crud_write_util.cpp) ----

// The change-stream updateDescription of an update (updatedFields, removedFields, truncatedArrays).
Doc update_description(const UpdateOutcome& u);
// Applies U (an operator or replacement document, or a pipeline) to ORIGINAL.
Result<UpdateOutcome> run_update(Engine& e, const bson_t* original, const bson_t* u,
                                 bool u_is_pipeline, const bson_t* array_filters, const bson_t* q,
                                 bool upsert_insert, const Vars* vars);
// A batch write blocked by another session's open transaction: the batch's first write waits (the
// command parks until that transaction ends and then runs again); a later one fails as a write
// conflict, so writes already made are never applied twice. Returns true when the command parks.
bool park_or_conflict(Error& err, int writes);
// The outcome of a command that waits (for a transaction holding a document to end).
Outcome parked();
// A change event of operation OP on collection C (ts, seq and documents filled in later).
Event make_event(const std::string& op, const Collection& c, const bson_t* doc_for_key);
// The document an upsert inserts when nothing matched query Q: the replacement UDOC with Q's _id
// when it has none, or the update applied to Q's equality fields.
Result<UpdateOutcome> upsert_document(Engine& e, const bson_t* q, const bson_t* udoc,
                                      bool is_pipeline, const bson_t* array_filters,
                                      const Vars* vars);
// Which step of insert_upserted failed: a check of the statement (a write error), creating the
// collection (the command fails), or the write itself (kBlockedByTransaction, 112...).
enum class UpsertFailure { kStatement, kCommand, kWrite };
// Inserts DOC, built by an upsert, into collection NAME (created on first use): _id, unique index
// and validator checks, then the write. Returns the stored document.
Result<DocPtr> insert_upserted(Engine& e, CommandCtx& c, const std::string& name, const bson_t* doc,
                               UpsertFailure* failure);

}  // namespace standin::detail
