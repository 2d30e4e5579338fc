#pragma once
// The MongoDB connector's part of the admin API (docs/admin-api.md, "MongoDB (MongoApi)"): its
// state, dead letters (list, retry, discard), import runs and "start a full import", its
// status["mongo"] object and the outpost_mongodb_* metrics.
//
// GETs and the metrics read the connector's in-memory status and the store (no MongoDB round
// trip). A retry reads or writes one document in MongoDB on the calling thread (about a second at
// most to find a server; see Connector::retry_dead_letter). Thread-safe, as ApiPart requires.
#include <optional>

#include "admin/api_part.hpp"
#include "mongo/connector.hpp"

namespace outpost::admin {

class MongoApi final : public ApiPart {
  public:
    // Lists at most this many dead letters per page (a larger limit is capped).
    static constexpr size_t kMaxLimit = 1000;
    static constexpr size_t kDefaultLimit = 50;

    // CONNECTOR must outlive this part.
    explicit MongoApi(mongo::Connector& connector) : connector_(connector) {}

    std::optional<Response> handle(const Request& request) override;
    void add_status(nlohmann::json& status) override;
    void write_metrics(MetricsWriter& out) override;

    // The object of GET /api/mongo (and status["mongo"]) for STATUS.
    static nlohmann::json status_json(const mongo::ConnectorStatus& status,
                                      const mongo::ConnectorOptions& options);

  private:
    Response get_status();
    Response list_dead_letters(const Request& request);
    Response retry(const std::string& id_text);
    Response discard(const std::string& id_text);
    Response list_imports();
    Response start_import();

    mongo::Connector& connector_;
};

}  // namespace outpost::admin
