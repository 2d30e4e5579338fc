#include "admin/api_part.hpp"

#include <nlohmann/json.hpp>

namespace outpost::admin {

Response json_response(int status, const nlohmann::json& body) {
    Response r;
    r.status = status;
    // Invalid UTF-8 from a store or a client becomes U+FFFD rather than an exception.
    r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return r;
}

Response error_response(int status, const std::string& message) {
    return error_response(status, message, nlohmann::json::object());
}

Response error_response(int status, const std::string& message, const nlohmann::json& extra) {
    nlohmann::json error = extra.is_object() ? extra : nlohmann::json::object();
    error["status"] = status;
    error["message"] = message;
    return json_response(status, {{"error", error}});
}

}  // namespace outpost::admin
