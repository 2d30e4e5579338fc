#pragma once
// The sync server's part of the admin API (docs/admin-api.md, "Sync server (SyncApi)"): the data
// browser over the server's store, the model, the connected clients, the history, its figures in
// GET /api/status and its metric families.
//
// Reads run in short read transactions of the calling thread. Writes (PUT, POST, DELETE of an
// object) run in one write transaction with origin "admin", so they become history records like
// any other, and then tell the sync server, which sends them to the devices (the MongoDB connector
// follows the history by itself). Clients and counters come from the server's published snapshot
// (SyncServer::snapshot): nothing here waits for the sync worker.
//
// Thread-safety: every method may be called from several threads at once.

#include <memory>
#include <optional>
#include <string>

#include "admin/api_part.hpp"
#include "outpost/store.hpp"

namespace outpost::sync {
class SyncServer;
}

namespace outpost::admin {

class SyncApi final : public ApiPart {
  public:
    // Lists: `limit` when absent, and the most a request gets (a larger one is capped).
    static constexpr uint64_t kDefaultLimit = 50;
    static constexpr uint64_t kMaxLimit = 1000;
    // The origin of the history records the admin's writes make.
    static constexpr const char* kOrigin = "admin";

    // STORE: the sync server's store (not null). SERVER: the sync server over STORE, or null
    // (then there are no clients, no server counters, and writes reach devices only at the next
    // poll of whoever serves them). REQUIRES: both outlive this object.
    SyncApi(std::shared_ptr<Store> store, sync::SyncServer* server);

    std::optional<Response> handle(const Request& request) override;
    void add_status(nlohmann::json& status) override;
    void write_metrics(MetricsWriter& out) override;

  private:
    // GET/POST /api/entities/{E}/objects and GET/PUT/DELETE /api/entities/{E}/objects/{id}
    // (sync_api_data.cpp).
    Response objects(const Request& request);
    Response list_objects(const Request& request, const std::string& entity);
    Response get_object(const std::string& entity, uint64_t id);
    Response put_object(const std::string& entity, uint64_t id, const std::string& body);
    Response create_object(const std::string& entity, const std::string& body);
    Response delete_object(const std::string& entity, uint64_t id);
    // GET /api/model.
    Response model();
    // GET /api/clients, POST /api/clients/{id}/disconnect, GET /api/history
    // (sync_api_clients.cpp).
    Response clients();
    Response disconnect(const std::string& client);
    Response history(const Request& request);
    void write_server_metrics(MetricsWriter& out);

    std::shared_ptr<Store> store_;
    sync::SyncServer* server_;
};

}  // namespace outpost::admin
