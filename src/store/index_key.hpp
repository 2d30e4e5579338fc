#pragma once
// Index key encoding (see index.cpp); shared with the query planner.
#include <cstdint>
#include <string>
#include <string_view>

namespace outpost::detail {

// Longest string prefix kept in a value index key; longer strings are verified against the object.
inline constexpr size_t kMaxStringKey = 400;

uint64_t fnv1a64(std::string_view s);
uint64_t ordered_double_bits(double d);
std::string int_key(int64_t v, bool is_unsigned);
std::string double_key(double v);
std::string string_key(std::string_view v, bool hash);
// Whether a key for V identifies the value exactly (no hash, no truncation).
bool string_key_is_exact(std::string_view v, bool hash);

}  // namespace outpost::detail
