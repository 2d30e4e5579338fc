#pragma once
// Index entries (index.cpp); the key encoding is in index_key.hpp.

#include <optional>
#include <string>

#include "store/index_key.hpp"
#include "store/store_core.hpp"

namespace outpost::detail {

// The index key of property IDX in READER, or nullopt when the value is null.
std::optional<std::string> index_key(const IndexInfo& idx, const ObjectReader& reader);
// Whether the two objects hold the same value for the index's property (for verifying truncated or
// hashed keys).
bool same_indexed_value(const IndexInfo& idx, const ObjectReader& a, const ObjectReader& b);
std::string format_value(const Value& v);  // for error messages

}  // namespace outpost::detail
