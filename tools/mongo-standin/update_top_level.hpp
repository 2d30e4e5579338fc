// Updates made only of $set and $unset of top-level fields (the shape drivers and connectors send
// nearly always), applied on the BSON bytes instead of a document tree.
#pragma once

#include <optional>

#include "update_ops.hpp"

namespace standin {

// The outcome of UPDATE on ORIGINAL when UPDATE is top-level $set/$unset only and ORIGINAL has the
// plain shape (_id first, no touched field name twice): exactly what the general path gives
// (document, modified flag, updatedFields, removedFields, errors 2 and 10334), with untouched
// fields copied byte for byte. Nothing for any other shape: the general path applies it.
std::optional<Result<UpdateOutcome>> apply_top_level_update(const bson_t* original,
                                                            const bson_t* update);

}  // namespace standin
