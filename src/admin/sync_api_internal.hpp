// What SyncApi's source files share: parsing of query parameters and the HTTP status of a store
// error. Not part of the interface.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "admin/api_part.hpp"
#include "outpost/status.hpp"

namespace outpost::admin::sync_api {

// A decimal uint64 (no sign, no spaces); nullopt for anything else.
std::optional<uint64_t> parse_u64(std::string_view text);

// Query parameter NAME of REQUEST as a uint64: FALLBACK when absent; nullopt (and ERROR set to a
// 400 response) when it is not a number.
std::optional<uint64_t> u64_param(const Request& request, const std::string& name,
                                  uint64_t fallback, Response& error);

// `limit` of REQUEST: kDefaultLimit when absent, capped at kMaxLimit.
std::optional<uint64_t> limit_param(const Request& request, Response& error);

// The response to a store error: 404 unknown entity, 400 a value or query that does not fit the
// model (with "column" for a query syntax error), 409 a unique value in use, 500 otherwise.
Response store_error(const Status& status);

}  // namespace outpost::admin::sync_api
