#pragma once
// Admin polling beside a benchmark: the admin server (with the sync server's API part) on the
// benchmark's sync server, and N pollers that each fetch what an open Status page fetches, once a
// second: GET /api/status, /api/clients and /metrics (a new connection per request).
#include <memory>
#include <string>

#include "outpost/store.hpp"
#include "sync/sync_server.hpp"

namespace outpost::bench {

class AdminLoad {
  public:
    // Starts the admin server on 127.0.0.1 (no account: loopback) over STORE and SERVER, and
    // POLLERS threads. REQUIRES: POLLERS > 0; STORE and SERVER outlive this object.
    AdminLoad(std::shared_ptr<Store> store, sync::SyncServer* server, size_t pollers);
    // Stops the pollers, then the admin server; prints the requests made and any that failed.
    ~AdminLoad();

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace outpost::bench
