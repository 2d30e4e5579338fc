// Query filters ($eq ... $mod, $and/$or/$nor, dotted paths into arrays) and sorting in the
// server's BSON order.
#pragma once

#include <vector>

#include "bson_util.hpp"

namespace standin {

// Does `doc` match `filter`? Error 2 (BadValue) for an unknown or malformed operator.
// VARS (may be null) are the command's let variables, for $expr.
Result<bool> matches(const bson_t* doc, const bson_t* filter, const Vars* vars = nullptr);

// Checks a filter for unknown operators without a document (so empty collections still fail).
Status validate_filter(const bson_t* filter, const Vars* vars = nullptr);

// The values at a dotted path, walking into arrays the way queries do. `missing` is set when some
// branch of the walk did not find the path.
void values_at_path(const bson_t* doc, const char* path, IterList* out, bool* missing);

// Sort spec {field: 1|-1, ...}; stable (ties keep their order). Error 2 on a bad direction.
Status sort_docs(std::vector<DocPtr>* docs, const bson_t* sort_spec);

// Equality predicates of a filter ({a: 1}, {a: {$eq: 1}}, inside $and) as a document, for upsert.
Doc equality_seed(const bson_t* filter);

}  // namespace standin
