#include "outpost/sync_client.hpp"

#include <algorithm>
#include <atomic>
#include <span>
#include <utility>
#include <vector>

#include "common/mutex.hpp"
#include "net/url.hpp"
#include "net/ws_client.hpp"
#include "sync/auth/identity.hpp"
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
    // Worker only: what the core sends at login is the token when there is one (or a provider),
    // else the shared secret.
    std::string secret;
    std::string token;
    bool token_fresh = false;        // the token was set or provided since the last attempt began
    bool expiry_handled = false;     // this attempt's token expiry was acted on
    bool retried_expiry = false;     // reconnected at once after an expiry, no login since
    bool reconnect_at_once = false;  // the next reconnect skips the backoff

    Mutex inbox_mu;
    // Frames not yet handled.
    std::vector<std::vector<uint8_t>> inbox OUTPOST_GUARDED_BY(inbox_mu);
    bool drain_posted OUTPOST_GUARDED_BY(inbox_mu) = false;

    // What public calls on other threads read or wait for.
    Mutex mu;
    CondVar cv;
    bool up_to_date OUTPOST_GUARDED_BY(mu) = false;
    // Bumped by set_credentials(), set_token() and a token from the provider.
    uint64_t credentials_version OUTPOST_GUARDED_BY(mu) = 0;
    sync::FilterVariables variables OUTPOST_GUARDED_BY(mu);  // the core takes a copy
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
            retried_expiry = false;
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
        if (options.token_provider && !token_fresh) ask_provider();
        if (stopped) return;  // the provider may have blocked for a while
        token_fresh = false;
        expiry_handled = false;
        ++attempt;
        ws->connect(policy.next_url());
    }

    // Gives the core the token when there is one (or a provider for one), else the secret.
    // Replaces the credentials (SET runs on the client's thread with them): a login refused with
    // the old ones says nothing about the new ones, so waiters wait for a login with the new ones
    // instead of returning that failure.
    template <typename Set>
    void replace_credentials(Set set) {
        uint64_t version = 0;
        {
            MutexLock lock(mu);
            version = ++credentials_version;
            login_failure = ErrorCode::kOk;
            login_failure_reason.clear();
        }
        worker.post([this, version, set = std::move(set)]() mutable {
            set();
            apply_credentials();
            core_credentials = std::max(core_credentials, version);
        });
    }

    void apply_credentials() {
        const bool jwt = !token.empty() || options.token_provider;
        core->set_credential_kind(static_cast<uint8_t>(
            jwt ? sync::auth::CredentialKind::kJwt : sync::auth::CredentialKind::kSharedSecret));
        core->set_credentials(jwt ? token : secret);
    }

    // New credentials from the worker itself: a refusal of the old ones no longer counts.
    void new_credentials_version() {
        MutexLock lock(mu);
        core_credentials = ++credentials_version;
        login_failure = ErrorCode::kOk;
        login_failure_reason.clear();
    }

    // Asks the token provider for a fresh token; an empty answer keeps the token there is.
    void ask_provider() {
        std::string fresh = options.token_provider();
        token_fresh = true;
        if (fresh.empty() || fresh == token) return;
        token = std::move(fresh);
        apply_credentials();
        new_credentials_version();
    }

    // The server said this attempt's token expired (LoginResult or Error 501, close 4501): a fresh
    // token from the provider, and once after each login a reconnect without backoff (the change
    // log holds what is not acknowledged: nothing is lost). True when that reconnect is due.
    bool on_token_expired() {
        if (expiry_handled) return reconnect_at_once;
        expiry_handled = true;
        if (!options.token_provider) return false;
        ask_provider();
        reconnect_at_once = !retried_expiry;
        retried_expiry = true;
        return reconnect_at_once;
    }

    // The filter variables changed: the core sends them with the next Login, and a session that
    // has one (or is logging in) logs in again at once so the server sends the difference.
    void on_variables_changed() {
        sync::FilterVariables now;
        {
            MutexLock lock(mu);
            now = variables;
        }
        core->set_variables(std::move(now));
        if (stopped || core->state() == sync::ClientState::kDisconnected) return;
        reconnect_at_once = true;
        ws->close(net::kCloseNormal, "filter variables changed");
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
        if (why == ErrorCode::kAuthTokenExpired) on_token_expired();
        if (why != ErrorCode::kOk && error_fn) {
            error_fn(why, "connection closed (" + std::to_string(code) + ")" +
                              (reason.empty() ? "" : ": " + reason));
        }
        const auto delay = std::exchange(reconnect_at_once, false) ? std::chrono::milliseconds(0)
                                                                   : policy.next_delay();
        worker.post_after(delay, [this] { connect_now(); });
    }

    void on_core_error(ErrorCode code, const std::string& reason) {
        // An expired token that a fresh one replaces at once, and a key the server does not know
        // yet (it fetches its keys again; the client retries with backoff), are not login failures.
        const bool retry = (code == ErrorCode::kAuthTokenExpired && on_token_expired()) ||
                           code == ErrorCode::kAuthUnknownKey;
        if (core->state() == sync::ClientState::kConnected && !retry) {  // before LoginResult ok
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

    sync::FilterVariables variables;
    for (const auto& [name, value] : p->options.filter_variables) {
        OUTPOST_RETURN_IF_ERROR(sync::check_filter_variable(name, value, variables));
        variables.emplace_back(name, value);
    }
    {
        MutexLock lock(p->mu);
        p->variables = variables;
    }
    p->secret = p->options.credentials;
    p->token = p->options.token;
    p->token_fresh = !p->token.empty();  // the first attempt uses it as given

    sync::ClientOptions core_options;
    core_options.variables = std::move(variables);
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
    p->apply_credentials();
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
    p->replace_credentials([p, c = std::move(credentials)]() mutable { p->secret = std::move(c); });
}

void SyncClient::set_token(std::string token) {
    Impl* p = impl_.get();
    p->replace_credentials([p, t = std::move(token)]() mutable {
        p->token = std::move(t);
        p->token_fresh = true;  // the next attempt uses it, not the provider's
    });
}

Status SyncClient::set_filter_variable(std::string name, std::string value) {
    Impl* p = impl_.get();
    {
        MutexLock lock(p->mu);
        auto it = std::find_if(p->variables.begin(), p->variables.end(),
                               [&](const auto& v) { return v.first == name; });
        if (it != p->variables.end() && it->second == value) return Status::ok();
        sync::FilterVariables others = p->variables;
        if (it != p->variables.end()) others.erase(others.begin() + (it - p->variables.begin()));
        OUTPOST_RETURN_IF_ERROR(sync::check_filter_variable(name, value, others));
        if (it != p->variables.end()) {
            it->second = std::move(value);
        } else {
            p->variables.emplace_back(std::move(name), std::move(value));
        }
    }
    p->worker.post([p] { p->on_variables_changed(); });
    return Status::ok();
}

void SyncClient::remove_filter_variable(std::string_view name) {
    Impl* p = impl_.get();
    {
        MutexLock lock(p->mu);
        auto it = std::find_if(p->variables.begin(), p->variables.end(),
                               [&](const auto& v) { return v.first == name; });
        if (it == p->variables.end()) return;
        p->variables.erase(it);
    }
    p->worker.post([p] { p->on_variables_changed(); });
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
