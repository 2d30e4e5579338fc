#pragma once
// Turns an HTTP request target (`/api/entities/Task/objects?where=a%20%3D%201&limit=5`) into the
// path, segments and query of an admin::Request.

#include <optional>
#include <string>
#include <string_view>

#include "admin/api_part.hpp"

namespace outpost::admin {

// TEXT with its %XX escapes decoded (and '+' as a space with PLUS_IS_SPACE); nullopt for a '%'
// not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

// Sets REQUEST's path, segments and query from TARGET (a path, then optionally '?' and the query).
// Segments are split before decoding, so an escaped '/' (%2F) stays inside its segment; a query
// key given twice keeps its last value; a fragment is dropped. False for a target that is not a
// path or has a bad escape.
bool parse_target(std::string_view target, Request& request);

}  // namespace outpost::admin
