#pragma once
// The admin API's seam: what its handlers see of an HTTP exchange, and the parts that answer them.
// src/net turns HTTP requests into these (no Beast types here); AdminServer authenticates a
// request, then offers it to each part in turn (docs/admin-api.md).
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "admin/metrics_writer.hpp"

namespace outpost::admin {

struct Request {
    std::string method;                        // upper case: GET, POST, PUT, DELETE
    std::string path;                          // percent-decoded, without the query
    std::vector<std::string> segments;         // PATH split at '/', empty parts dropped
    std::map<std::string, std::string> query;  // percent-decoded ('+' is a space)
    std::string body;
    std::string user;    // the admin account the request authenticated as
    std::string remote;  // the peer's address
};

struct Response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type
};

// STATUS with BODY serialized.
Response json_response(int status, const nlohmann::json& body);

// STATUS with {"error": {"status": STATUS, "message": MESSAGE, ...EXTRA}} (EXTRA: an object, e.g.
// {"column": 12} for a query the parser refused).
Response error_response(int status, const std::string& message);
Response error_response(int status, const std::string& message, const nlohmann::json& extra);

// A part of the API (the sync server's, the MongoDB connector's). Called on the admin server's
// threads, possibly several at once: a part is thread-safe, and never blocks for long (no waiting
// on the sync worker behind a commit, no MongoDB round trip in a GET).
class ApiPart {
  public:
    virtual ~ApiPart() = default;
    // The response to REQUEST when it is one of this part's paths, else nullopt.
    virtual std::optional<Response> handle(const Request& request) = 0;
    // Adds this part's figures to the object GET /api/status returns (e.g. status["mongo"]).
    virtual void add_status(nlohmann::json& status) = 0;
    // Writes this part's metric families for GET /metrics.
    virtual void write_metrics(MetricsWriter& out) = 0;
};

}  // namespace outpost::admin
