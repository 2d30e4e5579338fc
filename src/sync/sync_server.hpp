#pragma once
// The sync server: ServerCore behind WebSocket endpoints (src/net). Network threads hand frames
// and connection events to one Worker that owns the core, so the core stays single-threaded.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/mutex.hpp"
#include "net/ws_server.hpp"
#include "sync/server_core.hpp"
#include "sync/worker.hpp"

namespace outpost::sync {

struct SyncServerOptions {
    ServerOptions core;
    net::WsServerOptions net;  // urls, cert_dir, threads, limits
};

class SyncServer {
  public:
    // Errors: kInvalidArgument for options the core refuses (no auth method).
    static Result<std::unique_ptr<SyncServer>> create(std::shared_ptr<Store> store,
                                                      SyncServerOptions options);
    // Stops and waits for every thread.
    ~SyncServer();

    // Binds every URL and starts serving. Errors: those of net::WsServer::start() (kInvalidArgument
    // for a bad URL, kIo for a port in use or an unreadable certificate).
    Status start();
    // The bound endpoints, e.g. `ws://127.0.0.1:40123`. REQUIRES: start() succeeded.
    std::vector<std::string> bound_urls() const;
    // Closes every connection (1001) and stops. Thread-safe, idempotent, does not wait.
    void stop();
    // Waits until stop() finished.
    void wait();

    // Fans out history records that others (the MongoDB connector) wrote to the store. Thread-safe.
    void notify_store_changed();
    // The core's counters, read on the worker, with the network layer's (connections refused at
    // the limit, failed accepts).
    ServerStats stats();
    size_t connection_count() const { return ws_.connection_count(); }

  private:
    class WsConnection;
    // What the network threads hand to the worker, in arrival order.
    struct Event {
        enum Kind { kOpen, kMessage, kClose } kind;
        net::ConnectionId id;
        std::optional<Result<Message>> message;  // kMessage: decoded on the network thread
        std::string remote;                      // kOpen: the peer's address
    };
    SyncServer(std::unique_ptr<ServerCore> core, net::WsServerOptions options);
    void enqueue(Event event);
    // On the worker: handles every queued event; consecutive frames go to the core together
    // (ServerCore::on_messages), so pushes that queued up while a commit ran share the next one.
    void drain();
    // Continues the full syncs in progress, and again after a short wait while any is left.
    void schedule_full_syncs();
    // Every second: ServerCore::expire_sessions.
    void schedule_expiry_tick();

    std::unique_ptr<ServerCore> core_;
    net::WsServer ws_;
    Worker worker_;  // declared after ws_: destroyed first, after ws_ stopped posting to it
    std::map<net::ConnectionId, ServerCore::SessionId> sessions_;  // worker only
    size_t max_message_size_ = 0;
    Mutex inbox_mutex_;
    std::vector<Event> inbox_ OUTPOST_GUARDED_BY(inbox_mutex_);
    bool drain_posted_ OUTPOST_GUARDED_BY(inbox_mutex_) = false;
    Mutex wait_mutex_;  // one wait() runs the I/O threads at a time
    std::atomic<bool> poll_pending_{false};
    bool full_sync_tick_ = false;  // a continue_full_syncs is due (worker only)
};

// WebSocket close code for an engine's close: 1000 for kOk, 4000 + the code otherwise, and back.
uint16_t close_code_for(ErrorCode code);
ErrorCode error_code_for_close(uint16_t close_code);

}  // namespace outpost::sync
