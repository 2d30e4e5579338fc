#include "sync/sync_server.hpp"

#include <algorithm>
#include <deque>
#include <unordered_map>
#include <utility>
#include <vector>

namespace outpost::sync {

namespace {

int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

constexpr std::chrono::milliseconds kPublishInterval{100};
constexpr std::chrono::seconds kRateWindow{10};

}  // namespace

// When each history record was first fanned out: written on the worker, read by the admin.
struct SyncServer::RecordTimes {
    void note(uint64_t seq) {
        MutexLock lock(mutex);
        if (!times.empty() && times.back().first >= seq) return;
        times.emplace_back(seq, wall_ms());
        if (times.size() > kRecordTimesKept) times.pop_front();
    }
    std::optional<int64_t> find(uint64_t seq) {
        MutexLock lock(mutex);
        auto it = std::lower_bound(times.begin(), times.end(), seq,
                                   [](const auto& e, uint64_t s) { return e.first < s; });
        if (it == times.end() || it->first != seq) return std::nullopt;
        return it->second;
    }
    Mutex mutex;
    std::deque<std::pair<uint64_t, int64_t>> times OUTPOST_GUARDED_BY(mutex);  // (seq, ms), by seq
};

// The counters behind the rates, sampled every second (worker only).
struct SyncServer::Rates {
    struct Sample {
        std::chrono::steady_clock::time_point at;
        uint64_t pushes = 0, changes = 0, fanout = 0;
    };
    void sample(const ServerStats& s) {
        const auto now = std::chrono::steady_clock::now();
        samples.push_back({now, s.pushes_applied, s.changes_applied, s.fanout_changes});
        // The oldest sample kept is the newest one at least kRateWindow old.
        while (samples.size() > 1 && samples[1].at <= now - kRateWindow) samples.pop_front();
    }
    void fill(ServerSnapshot& snap) const {
        if (samples.empty()) return;
        const Sample& old = samples.front();
        const double dt =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - old.at).count();
        if (dt < 0.5) return;
        const ServerStats& s = snap.stats;
        snap.push_txns_per_s = static_cast<double>(s.pushes_applied - old.pushes) / dt;
        snap.applied_changes_per_s = static_cast<double>(s.changes_applied - old.changes) / dt;
        snap.fanout_changes_per_s = static_cast<double>(s.fanout_changes - old.fanout) / dt;
    }
    std::deque<Sample> samples;
};

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
        bytes_out_ += frame.size();
        ws_.send(id_, std::vector<uint8_t>(frame.begin(), frame.end()));
    }
    void close(ErrorCode code, std::string reason) override {
        if (reason.size() > 120) reason.resize(120);  // a close frame holds at most 123 bytes
        ws_.close(id_, close_code_for(code), std::move(reason));
    }
    size_t queued_bytes() const override { return ws_.queued_bytes(id_); }
    // The message bytes sent (the core sends on the worker only).
    uint64_t bytes_out() const { return bytes_out_; }

  private:
    net::WsServer& ws_;
    net::ConnectionId id_;
    uint64_t bytes_out_ = 0;
};

Result<std::unique_ptr<SyncServer>> SyncServer::create(std::shared_ptr<Store> store,
                                                       SyncServerOptions options) {
    // The slow-client bound is the net layer's (it knows what is really queued); the core's is off.
    if (options.core.max_send_queue_bytes != 0) {
        options.net.max_send_queue_bytes = options.core.max_send_queue_bytes;
    }
    options.core.max_send_queue_bytes = 0;
    options.net.max_message_size = options.core.max_message_size;
    auto times = std::make_shared<RecordTimes>();
    options.core.on_history_record =
        [times, also = std::move(options.core.on_history_record)](uint64_t seq) {
            times->note(seq);
            if (also) also(seq);
        };
    OUTPOST_ASSIGN_OR_RETURN(auto core, ServerCore::create(std::move(store), options.core));
    return std::unique_ptr<SyncServer>(
        new SyncServer(std::move(core), std::move(options.net), std::move(times)));
}

SyncServer::SyncServer(std::unique_ptr<ServerCore> core, net::WsServerOptions options,
                       std::shared_ptr<RecordTimes> record_times)
    : core_(std::move(core)),
      ws_(std::move(options)),
      snapshot_(std::make_shared<ServerSnapshot>()),
      rates_(std::make_unique<Rates>()),
      record_times_(std::move(record_times)) {
    ws_.set_on_open([this](net::ConnectionId id, const std::string& remote) {
        enqueue({Event::kOpen, id, {}, remote});
    });
    max_message_size_ = core_->max_message_size();
    ws_.set_on_message([this](net::ConnectionId id, std::span<const uint8_t> bytes) {
        // Decoding (and verifying) here spreads that work over the network threads; the worker,
        // which applies every push, is the server's bottleneck.
        enqueue({Event::kMessage, id, decode_message(bytes, max_message_size_), {}, bytes.size()});
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
                auto connection = std::make_shared<WsConnection>(ws_, e.id);
                const ServerCore::SessionId session =
                    core_->on_connect(connection, std::move(e.remote));
                sessions_[e.id] = {session, std::move(connection), 0};
                if (core_->login_timeout().count() > 0) {
                    worker_.post_after(core_->login_timeout(),
                                       [this, session] { core_->on_login_deadline(session); });
                }
                break;
            }
            case Event::kMessage:
                if (auto it = sessions_.find(e.id); it != sessions_.end()) {
                    it->second.bytes_in += e.bytes;
                    frames.push_back({it->second.session, {}, &*e.message});
                }
                break;
            case Event::kClose:
                if (auto it = sessions_.find(e.id); it != sessions_.end()) {
                    // The session's own frames go first; other sessions' may wait.
                    const ServerCore::SessionId closing = it->second.session;
                    if (std::any_of(frames.begin(), frames.end(),
                                    [&](const auto& f) { return f.session == closing; })) {
                        flush();
                    }
                    core_->on_disconnect(closing);
                    sessions_.erase(it);
                }
                break;
        }
    }
    flush();
    schedule_full_syncs();
    publish_soon();
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
    // Also samples the counters behind the rates, and publishes a snapshot.
    worker_.post_after(std::chrono::seconds(1), [this] {
        core_->expire_sessions();
        rates_->sample(core_->stats());
        publish();
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
        publish_soon();
    });
}

void SyncServer::publish_soon() {
    const auto now = std::chrono::steady_clock::now();
    if (now - published_at_ >= kPublishInterval) {
        publish();
        return;
    }
    if (std::exchange(publish_scheduled_, true)) return;
    const auto wait =
        std::chrono::ceil<std::chrono::milliseconds>(published_at_ + kPublishInterval - now);
    worker_.post_after(wait, [this] {
        publish_scheduled_ = false;
        publish();
    });
}

void SyncServer::publish() {
    auto snap = std::make_shared<ServerSnapshot>();
    snap->taken_ms = wall_ms();
    snap->stats = core_->stats();
    const net::WsServerStats net = ws_.stats();
    snap->stats.connections_refused = net.connections_refused;
    snap->stats.accept_errors = net.accept_errors;
    snap->history_head = core_->history_head();
    std::unordered_map<ServerCore::SessionId, const Conn*> conns;
    for (const auto& [id, conn] : sessions_) conns.emplace(conn.session, &conn);
    for (SessionInfo& info : core_->sessions()) {
        ClientInfo c;
        c.lag_records =
            snap->history_head > info.acked_seq ? snap->history_head - info.acked_seq : 0;
        if (auto it = conns.find(info.session); it != conns.end()) {
            c.queued_bytes = it->second->connection->queued_bytes();
            c.bytes_in = it->second->bytes_in;
            c.bytes_out = it->second->connection->bytes_out();
        }
        c.session = std::move(info);
        snap->clients.push_back(std::move(c));
    }
    rates_->fill(*snap);
    published_at_ = std::chrono::steady_clock::now();
    MutexLock lock(snapshot_mutex_);
    snapshot_ = std::move(snap);
}

std::shared_ptr<const ServerSnapshot> SyncServer::snapshot() const {
    MutexLock lock(snapshot_mutex_);
    return snapshot_;
}

void SyncServer::disconnect_client(std::string client, std::string reason) {
    worker_.post([this, client = std::move(client), reason = std::move(reason)] {
        core_->disconnect_client(client, reason);
        publish_soon();
    });
}

std::optional<int64_t> SyncServer::record_time_ms(uint64_t seq) const {
    return record_times_->find(seq);
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
