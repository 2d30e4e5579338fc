#pragma once
// The sync server: ServerCore behind WebSocket endpoints (src/net). Network threads hand frames
// and connection events to one Worker that owns the core, so the core stays single-threaded.

#include <atomic>
#include <chrono>
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

// A logged-in client as the admin sees it: the core's session with its connection's figures.
struct ClientInfo {
    SessionInfo session;
    uint64_t lag_records = 0;   // history head - session.acked_seq
    uint64_t queued_bytes = 0;  // queued on its connection, not yet written to the socket
    uint64_t bytes_in = 0;      // WebSocket message payloads received from it
    uint64_t bytes_out = 0;     // ... and sent to it
};

// What the server looked like a moment ago (SyncServer::snapshot): its counters, history head and
// clients, published by the worker so that readers never wait for it.
struct ServerSnapshot {
    int64_t taken_ms = 0;  // wall clock
    ServerStats stats;
    uint64_t history_head = 0;
    std::vector<ClientInfo> clients;  // in session order
    // Over the last ~10 s (0 until a second has passed since start()).
    double push_txns_per_s = 0;
    double applied_changes_per_s = 0;
    double fanout_changes_per_s = 0;
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

    // The newest published snapshot. The worker publishes one after handling events, at most every
    // 100 ms while busy (one is always due within 100 ms of a change), and every second.
    // Thread-safe; never waits for the worker. Never null.
    std::shared_ptr<const ServerSnapshot> snapshot() const;
    // Closes the connections of client CLIENT (hex id) on the worker, later (kOk, REASON); the
    // client reconnects after its backoff. Thread-safe, does not wait.
    void disconnect_client(std::string client, std::string reason);
    // The wall-clock time (ms) at which history record SEQ was first fanned out, i.e. about when it
    // was committed; nullopt for records older than this process or than the last
    // kRecordTimesKept records. Thread-safe.
    std::optional<int64_t> record_time_ms(uint64_t seq) const;
    static constexpr size_t kRecordTimesKept = 100'000;

  private:
    class WsConnection;
    // What the network threads hand to the worker, in arrival order.
    struct Event {
        enum Kind { kOpen, kMessage, kClose } kind;
        net::ConnectionId id;
        std::optional<Result<Message>> message;  // kMessage: decoded on the network thread
        std::string remote;                      // kOpen: the peer's address
        size_t bytes = 0;                        // kMessage: the message's size
    };
    struct RecordTimes;
    struct Rates;
    SyncServer(std::unique_ptr<ServerCore> core, net::WsServerOptions options,
               std::shared_ptr<RecordTimes> record_times);
    // On the worker: publishes a snapshot now when the last one is 100 ms old, else once it is.
    void publish_soon();
    void publish();
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
    struct Conn {
        ServerCore::SessionId session = 0;
        std::shared_ptr<WsConnection> connection;
        uint64_t bytes_in = 0;
    };
    std::map<net::ConnectionId, Conn> sessions_;  // worker only
    size_t max_message_size_ = 0;
    Mutex inbox_mutex_;
    std::vector<Event> inbox_ OUTPOST_GUARDED_BY(inbox_mutex_);
    bool drain_posted_ OUTPOST_GUARDED_BY(inbox_mutex_) = false;
    Mutex wait_mutex_;  // one wait() runs the I/O threads at a time
    std::atomic<bool> poll_pending_{false};
    bool full_sync_tick_ = false;  // a continue_full_syncs is due (worker only)
    // Snapshots: the last published one; when it was made and whether a later one is scheduled, and
    // the counters of the last seconds for the rates (worker only).
    mutable Mutex snapshot_mutex_;
    std::shared_ptr<const ServerSnapshot> snapshot_ OUTPOST_GUARDED_BY(snapshot_mutex_);
    std::chrono::steady_clock::time_point published_at_{};
    bool publish_scheduled_ = false;
    std::unique_ptr<Rates> rates_;
    std::shared_ptr<RecordTimes> record_times_;
};

// WebSocket close code for an engine's close: 1000 for kOk, 4000 + the code otherwise, and back.
uint16_t close_code_for(ErrorCode code);
ErrorCode error_code_for_close(uint16_t close_code);

}  // namespace outpost::sync
