#include "outpost/sync_client.hpp"

#include <atomic>
#include <span>
#include <utility>
#include <vector>

#include "common/mutex.hpp"
#include "net/url.hpp"
#include "net/ws_client.hpp"
#include "sync/client_core.hpp"
#include "sync/sync_server.hpp"  // close_code_for, error_code_for_close
#include "sync/worker.hpp"

namespace outpost {

namespace {
constexpr const char* kIncomingOrigin = "sync";  // ClientCore applies server changes with it
}

const char* sync_state_name(SyncState state) {
    switch (state) {
        case SyncState::kCreated:
            return "created";
        case SyncState::kStarted:
            return "started";
        case SyncState::kConnected:
            return "connected";
        case SyncState::kLoggedIn:
            return "logged in";
        case SyncState::kDisconnected:
            return "disconnected";
        case SyncState::kStopped:
            return "stopped";
    }
    return "unknown";
}

// Everything that touches the core runs on `worker`: network callbacks, timers, wake-ups from
// committing threads and the public calls that read the core.
struct SyncClient::Impl {
    // The core's view of the WebSocket connection of one attempt.
    class Connection final : public sync::Connection {
      public:
        explicit Connection(net::WsClient& ws) : ws_(ws) {}
        void send(std::string frame) override {
            ws_.send(std::vector<uint8_t>(frame.begin(), frame.end()));
        }
        void close(ErrorCode code, std::string reason) override {
            if (reason.size() > 120) reason.resize(120);
            ws_.close(sync::close_code_for(code), std::move(reason));
        }
        size_t queued_bytes() const override { return 0; }

      private:
        net::WsClient& ws_;
    };

    std::shared_ptr<Store> store;
    SyncClientOptions options;
    sync::Worker worker;  // first: destroyed last
    std::unique_ptr<sync::ClientCore> core;
    std::unique_ptr<net::WsClient> ws;
    net::ReconnectPolicy policy;
    uint64_t observer = 0;

    std::atomic<SyncState> state{SyncState::kCreated};
    std::atomic<bool> started{false};
    std::atomic<bool> stopped{false};
    std::atomic<bool> poll_pending{false};
    bool became_up_to_date = false;  // worker only: the core reported it; refresh() tells
    uint64_t core_credentials = 0;   // worker only: version of the credentials the core holds
    uint64_t login_credentials = 0;  // worker only: ... and of those the current Login carried
    uint64_t attempt = 0;            // worker only: ties timers to the connection they were set for

    Mutex inbox_mu;
    // Frames not yet handled.
    std::vector<std::vector<uint8_t>> inbox OUTPOST_GUARDED_BY(inbox_mu);
    bool drain_posted OUTPOST_GUARDED_BY(inbox_mu) = false;

    // What public calls on other threads read or wait for.
    Mutex mu;
    CondVar cv;
    bool up_to_date OUTPOST_GUARDED_BY(mu) = false;
    uint64_t credentials_version OUTPOST_GUARDED_BY(mu) = 0;  // bumped by set_credentials()
    ErrorCode login_failure OUTPOST_GUARDED_BY(mu) = ErrorCode::kOk;
    std::string login_failure_reason OUTPOST_GUARDED_BY(mu);

    // Listener slots: set before start(), then read on the worker only.
    std::function<void(SyncState)> state_fn;
    std::function<void(ErrorCode, const std::string&)> login_failure_fn;
    std::function<void()> up_to_date_fn;
    std::function<void(const std::vector<IncomingChange>&)> incoming_fn;
    std::function<void(ErrorCode, const std::string&)> error_fn;

    Impl(std::shared_ptr<Store> s, SyncClientOptions o)
        : store(std::move(s)), options(std::move(o)), policy(options.urls) {}

    void set_state(SyncState next) {
        if (state.exchange(next) == next) return;
        if (state_fn) state_fn(next);
    }

    // After every step of the core: the state, then up-to-date for waiters (a wait that returns
    // ok finds the client logged in), then the listeners (which may call wait_until_up_to_date).
    void refresh() {
        bool logged_in = core->state() == sync::ClientState::kLoggedIn &&
                         state.exchange(SyncState::kLoggedIn) != SyncState::kLoggedIn;
        if (logged_in) {
            policy.reset();
            MutexLock lock(mu);
            login_failure = ErrorCode::kOk;
        }
        bool now = core->up_to_date();
        {
            MutexLock lock(mu);
            up_to_date = now;
        }
        cv.notify_all();
        if (logged_in) {
            if (state_fn) state_fn(SyncState::kLoggedIn);
            schedule_heartbeat(attempt);
        }
        if (became_up_to_date) {  // after the state change it follows from
            became_up_to_date = false;
            if (up_to_date_fn) up_to_date_fn();
        }
    }

    void connect_now() {
        if (stopped) return;
        ++attempt;
        ws->connect(policy.next_url());
    }

    void schedule_heartbeat(uint64_t for_attempt) {
        worker.post_after(options.heartbeat_interval, [this, for_attempt] {
            if (stopped || for_attempt != attempt || state != SyncState::kLoggedIn) return;
            core->send_heartbeat();
            schedule_heartbeat(for_attempt);
        });
    }

    void on_open() {
        if (stopped) return;
        set_state(SyncState::kConnected);
        login_credentials = core_credentials;
        core->connect(std::make_shared<Connection>(*ws));
        refresh();
    }

    // Network thread: queues FRAME; one task on the worker takes every frame queued by then, so
    // that Acks that arrived together are recorded in one store transaction.
    void enqueue(std::span<const uint8_t> frame) {
        bool post = false;
        {
            MutexLock lock(inbox_mu);
            inbox.emplace_back(frame.begin(), frame.end());
            post = !std::exchange(drain_posted, true);
        }
        if (post) worker.post([this] { drain_inbox(); });
    }

    void drain_inbox() {
        std::vector<std::vector<uint8_t>> frames;
        {
            MutexLock lock(inbox_mu);
            frames.swap(inbox);
            drain_posted = false;
        }
        if (stopped) return;
        std::vector<std::span<const uint8_t>> spans(frames.begin(), frames.end());
        core->on_messages(spans);
        refresh();
    }

    void on_close(uint16_t code, const std::string& reason) {
        core->on_disconnect();
        refresh();
        if (stopped) return;
        set_state(SyncState::kDisconnected);
        ErrorCode why = sync::error_code_for_close(code);
        if (why != ErrorCode::kOk && error_fn) {
            error_fn(why, "connection closed (" + std::to_string(code) + ")" +
                              (reason.empty() ? "" : ": " + reason));
        }
        worker.post_after(policy.next_delay(), [this] { connect_now(); });
    }

    void on_core_error(ErrorCode code, const std::string& reason) {
        if (core->state() == sync::ClientState::kConnected) {  // before LoginResult ok
            {
                // A refusal of credentials replaced since is not reported to waiters.
                MutexLock lock(mu);
                if (login_credentials == credentials_version) {
                    login_failure = code;
                    login_failure_reason = reason;
                }
            }
            cv.notify_all();
            if (login_failure_fn) login_failure_fn(code, reason);
        } else if (error_fn) {
            error_fn(code, reason);
        }
    }

    void on_store_changes(const Changes& changes) {
        if (changes.origin != kIncomingOrigin || !incoming_fn) return;
        std::vector<IncomingChange> out;
        for (const auto& e : changes.entities) {
            const Entity* entity = store->model().entity_by_id(e.entity_id);
            if (!entity) continue;
            out.push_back({entity->name, e.put_ids, e.removed_ids});
        }
        if (!out.empty()) incoming_fn(out);
    }
};

Result<std::unique_ptr<SyncClient>> SyncClient::create(std::shared_ptr<Store> store,
                                                       SyncClientOptions options) {
    if (!store) return Status(ErrorCode::kInvalidArgument, "sync client: no store");
    if (options.urls.empty()) return Status(ErrorCode::kInvalidArgument, "sync client: no URL");
    for (const auto& url : options.urls) {
        if (!net::detail::parse_ws_url(url)) {
            return Status(ErrorCode::kInvalidArgument,
                          "sync client: '" + url + "' is not a ws:// or wss:// URL");
        }
    }
    auto impl = std::make_unique<Impl>(std::move(store), std::move(options));
    Impl* p = impl.get();

    sync::ClientOptions core_options;
    core_options.credentials = p->options.credentials;
    core_options.max_message_size = p->options.max_message_size;
    core_options.wake = [p] {
        if (p->poll_pending.exchange(true)) return;
        p->worker.post([p] {
            p->poll_pending = false;
            p->core->poll();
            p->refresh();
        });
    };
    OUTPOST_ASSIGN_OR_RETURN(p->core, sync::ClientCore::create(p->store, std::move(core_options)));
    p->core->on_error(
        [p](ErrorCode code, const std::string& reason) { p->on_core_error(code, reason); });
    p->core->on_up_to_date([p] { p->became_up_to_date = true; });

    net::WsClientOptions ws_options;
    ws_options.url = p->options.urls.front();
    ws_options.ca_file = p->options.ca_file;
    ws_options.connect_timeout = p->options.connect_timeout;
    ws_options.max_message_size = p->options.max_message_size;
    p->ws = std::make_unique<net::WsClient>(std::move(ws_options));
    p->ws->set_on_open([p] { p->worker.post([p] { p->on_open(); }); });
    p->ws->set_on_message([p](std::span<const uint8_t> bytes) { p->enqueue(bytes); });
    p->ws->set_on_close([p](uint16_t code, const std::string& reason) {
        p->worker.post([p, code, reason] { p->on_close(code, reason); });
    });
    p->observer = p->store->add_observer([p](const Changes& c) { p->on_store_changes(c); });
    return std::unique_ptr<SyncClient>(new SyncClient(std::move(impl)));
}

SyncClient::SyncClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SyncClient::~SyncClient() { stop(); }

void SyncClient::start() {
    Impl* p = impl_.get();
    if (p->stopped || p->started.exchange(true)) return;
    p->worker.post([p] {
        p->set_state(SyncState::kStarted);
        p->connect_now();
    });
}

void SyncClient::stop() {
    Impl* p = impl_.get();
    if (p->stopped.exchange(true)) return;
    p->worker.run_sync([p] { p->ws->close(net::kCloseNormal, "client stopped"); });
    p->ws.reset();  // joins its I/O thread: no network callback after this
    p->worker.run_sync([p] {
        p->core->on_disconnect();
        p->refresh();
    });
    p->store->remove_observer(p->observer);
    p->worker.stop();
    p->set_state(SyncState::kStopped);
}

SyncState SyncClient::state() const { return impl_->state; }

void SyncClient::set_credentials(std::string credentials) {
    Impl* p = impl_.get();
    uint64_t version = 0;
    {
        // A login refused with the old credentials says nothing about the new ones: waiters wait
        // for a login with the new ones instead of returning that failure.
        MutexLock lock(p->mu);
        version = ++p->credentials_version;
        p->login_failure = ErrorCode::kOk;
        p->login_failure_reason.clear();
    }
    p->worker.post([p, version, c = std::move(credentials)]() mutable {
        p->core->set_credentials(std::move(c));
        p->core_credentials = version;
    });
}

uint64_t SyncClient::outgoing_queue_length() {
    uint64_t n = 0;
    impl_->worker.run_sync([&] { n = impl_->core->outgoing_queue_length(); });
    return n;
}

bool SyncClient::up_to_date() const {
    MutexLock lock(impl_->mu);
    return impl_->up_to_date;
}

Status SyncClient::wait_until_up_to_date(std::chrono::milliseconds timeout) {
    Impl* p = impl_.get();
    // Runs what is queued (a poll for commits made before this call) before looking.
    p->worker.run_sync([p] {
        p->core->poll();
        p->refresh();
    });
    MutexLock lock(p->mu);
    bool done = p->cv.wait_for(p->mu, timeout, [p] {
        p->mu.assert_held();
        return p->up_to_date || p->login_failure != ErrorCode::kOk || p->stopped;
    });
    if (p->up_to_date) return Status::ok();
    if (p->login_failure != ErrorCode::kOk) {
        return Status(p->login_failure, "login failed: " + p->login_failure_reason);
    }
    (void)done;
    return Status(ErrorCode::kIo, std::string("not up to date after ") +
                                      std::to_string(timeout.count()) +
                                      " ms (state: " + sync_state_name(p->state) + ")");
}

void SyncClient::on_state_change(std::function<void(SyncState)> fn) {
    impl_->state_fn = std::move(fn);
}
void SyncClient::on_login_failure(std::function<void(ErrorCode, const std::string&)> fn) {
    impl_->login_failure_fn = std::move(fn);
}
void SyncClient::on_up_to_date(std::function<void()> fn) { impl_->up_to_date_fn = std::move(fn); }
void SyncClient::on_incoming(std::function<void(const std::vector<IncomingChange>&)> fn) {
    impl_->incoming_fn = std::move(fn);
}
void SyncClient::on_error(std::function<void(ErrorCode, const std::string&)> fn) {
    impl_->error_fn = std::move(fn);
}

}  // namespace outpost
