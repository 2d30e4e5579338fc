#include "sync/sync_server.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace outpost::sync {

uint16_t close_code_for(ErrorCode code) {
    if (code == ErrorCode::kOk) return net::kCloseNormal;
    return static_cast<uint16_t>(4000 + static_cast<int>(code));
}

ErrorCode error_code_for_close(uint16_t close_code) {
    if (close_code >= 4000 && close_code < 5000) return static_cast<ErrorCode>(close_code - 4000);
    switch (close_code) {
        case net::kCloseNormal:
        case net::kCloseGoingAway:
            return ErrorCode::kOk;
        case net::kCloseTooBig:
            return ErrorCode::kSyncMessageTooLarge;
        case net::kCloseSendQueueFull:
            return ErrorCode::kSyncTooFarBehind;
        case net::kCloseProtocolError:
        case net::kCloseUnsupportedData:
            return ErrorCode::kSyncMalformedMessage;
        default:
            return ErrorCode::kIo;
    }
}

// The core's view of one WebSocket connection. Sends are queued by the net layer, which also bounds
// the queue (max_send_queue_bytes closes a slow peer with 1013); the core's own bound is off.
class SyncServer::WsConnection final : public Connection {
  public:
    WsConnection(net::WsServer& ws, net::ConnectionId id) : ws_(ws), id_(id) {}
    void send(std::string frame) override {
        ws_.send(id_, std::vector<uint8_t>(frame.begin(), frame.end()));
    }
    void close(ErrorCode code, std::string reason) override {
        if (reason.size() > 120) reason.resize(120);  // a close frame holds at most 123 bytes
        ws_.close(id_, close_code_for(code), std::move(reason));
    }
    size_t queued_bytes() const override { return ws_.queued_bytes(id_); }

  private:
    net::WsServer& ws_;
    net::ConnectionId id_;
};

Result<std::unique_ptr<SyncServer>> SyncServer::create(std::shared_ptr<Store> store,
                                                       SyncServerOptions options) {
    // The slow-client bound is the net layer's (it knows what is really queued); the core's is off.
    if (options.core.max_send_queue_bytes != 0) {
        options.net.max_send_queue_bytes = options.core.max_send_queue_bytes;
    }
    options.core.max_send_queue_bytes = 0;
    options.net.max_message_size = options.core.max_message_size;
    OUTPOST_ASSIGN_OR_RETURN(auto core, ServerCore::create(std::move(store), options.core));
    return std::unique_ptr<SyncServer>(new SyncServer(std::move(core), std::move(options.net)));
}

SyncServer::SyncServer(std::unique_ptr<ServerCore> core, net::WsServerOptions options)
    : core_(std::move(core)), ws_(std::move(options)) {
    ws_.set_on_open([this](net::ConnectionId id, const std::string& remote) {
        enqueue({Event::kOpen, id, {}, remote});
    });
    max_message_size_ = core_->max_message_size();
    ws_.set_on_message([this](net::ConnectionId id, std::span<const uint8_t> bytes) {
        // Decoding (and verifying) here spreads that work over the network threads; the worker,
        // which applies every push, is the server's bottleneck.
        enqueue({Event::kMessage, id, decode_message(bytes, max_message_size_), {}});
    });
    ws_.set_on_close([this](net::ConnectionId id, uint16_t, const std::string&) {
        enqueue({Event::kClose, id, {}, {}});
    });
}

void SyncServer::enqueue(Event event) {
    bool post = false;
    {
        MutexLock lock(inbox_mutex_);
        inbox_.push_back(std::move(event));
        post = !std::exchange(drain_posted_, true);
    }
    if (post) worker_.post([this] { drain(); });
}

void SyncServer::drain() {
    std::vector<Event> events;
    {
        MutexLock lock(inbox_mutex_);
        events.swap(inbox_);
        drain_posted_ = false;
    }
    std::vector<ServerCore::Incoming> frames;
    auto flush = [&] {
        if (frames.empty()) return;
        core_->on_messages(frames);
        frames.clear();
    };
    for (Event& e : events) {
        switch (e.kind) {
            case Event::kOpen: {
                // No flush: the frames waiting are other sessions' (logins queued while a commit
                // ran stay together, one group commit).
                const ServerCore::SessionId session = core_->on_connect(
                    std::make_shared<WsConnection>(ws_, e.id), std::move(e.remote));
                sessions_[e.id] = session;
                if (core_->login_timeout().count() > 0) {
                    worker_.post_after(core_->login_timeout(),
                                       [this, session] { core_->on_login_deadline(session); });
                }
                break;
            }
            case Event::kMessage:
                if (auto it = sessions_.find(e.id); it != sessions_.end())
                    frames.push_back({it->second, {}, &*e.message});
                break;
            case Event::kClose:
                if (auto it = sessions_.find(e.id); it != sessions_.end()) {
                    // The session's own frames go first; other sessions' may wait.
                    const ServerCore::SessionId closing = it->second;
                    if (std::any_of(frames.begin(), frames.end(),
                                    [&](const auto& f) { return f.session == closing; })) {
                        flush();
                    }
                    core_->on_disconnect(it->second);
                    sessions_.erase(it);
                }
                break;
        }
    }
    flush();
    schedule_full_syncs();
}

void SyncServer::schedule_full_syncs() {
    // Runs on the worker. A full sync waits for its connection to drain: look again shortly.
    if (full_sync_tick_ || !core_->continue_full_syncs()) return;
    full_sync_tick_ = true;
    worker_.post_after(std::chrono::milliseconds(5), [this] {
        full_sync_tick_ = false;
        schedule_full_syncs();
    });
}

SyncServer::~SyncServer() {
    stop();
    wait();
    worker_.stop();
}

Status SyncServer::start() {
    OUTPOST_RETURN_IF_ERROR(ws_.start());
    schedule_expiry_tick();
    return Status::ok();
}

void SyncServer::schedule_expiry_tick() {
    // Runs on the worker (or before it has work): JWT sessions end when their tokens expire.
    worker_.post_after(std::chrono::seconds(1), [this] {
        core_->expire_sessions();
        schedule_expiry_tick();
    });
}

std::vector<std::string> SyncServer::bound_urls() const { return ws_.bound_urls(); }

void SyncServer::stop() { ws_.stop(); }

void SyncServer::wait() {
    MutexLock lock(wait_mutex_);
    ws_.run();
}

void SyncServer::notify_store_changed() {
    if (poll_pending_.exchange(true)) return;  // one poll covers every commit before it runs
    worker_.post([this] {
        poll_pending_ = false;
        core_->poll();
        schedule_full_syncs();
    });
}

ServerStats SyncServer::stats() {
    ServerStats out;
    worker_.run_sync([&] { out = core_->stats(); });
    const net::WsServerStats net = ws_.stats();
    out.connections_refused = net.connections_refused;
    out.accept_errors = net.accept_errors;
    return out;
}

}  // namespace outpost::sync
