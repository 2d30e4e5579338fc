#pragma once
// SyncClient: keeps a store in step with an Outpost sync server (docs/sync-protocol.md).
//
//   SyncClientOptions options;
//   options.urls = {"ws://127.0.0.1:9999"};
//   options.credentials = secret;
//   auto client = SyncClient::create(store, options);
//   client.value()->on_incoming([](const std::vector<IncomingChange>& c) { ... });
//   client.value()->start();
// A complete program: examples/tasks/sync_main.cpp.
//
// Local writes go to the store as always: the change log is the outgoing queue, so writes made
// offline go out once a connection is up, exactly once. Incoming changes are applied to the store
// (observers see them with origin "sync"). The client reconnects by itself with backoff 0.5, 1, 2,
// 4, 8, 15, 30, 60 s (capped), picking one of the URLs at random for each attempt.
//
// Tokens (docs/auth.md): with SyncClientOptions::token or a token_provider the client logs in with
// a JWT instead of the shared secret. When the server says the token expired (a LoginResult or an
// Error with auth_token_expired, or a close with 4501) the client asks the provider for a fresh
// one and logs in again at once, without backoff; the change log keeps what was not acknowledged,
// so nothing is lost. If that token is refused as expired too, the next attempt waits for the
// backoff (and it is a login failure). auth_unknown_key (the server does not have the token's key
// yet) is retried with backoff and reported to on_error, not as a login failure.
//
// Threading: the methods are thread-safe. Listeners run on the client's own thread, one at a time;
// a listener must not call stop() or destroy the client (it may call the others).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "outpost/status.hpp"
#include "outpost/store.hpp"

namespace outpost {

enum class SyncState {
    kCreated,       // made, not started
    kStarted,       // started, connecting
    kConnected,     // WebSocket up, login sent
    kLoggedIn,      // syncing
    kDisconnected,  // connection lost; a reconnect is scheduled
    kStopped,
};
const char* sync_state_name(SyncState state);

struct SyncClientOptions {
    std::vector<std::string> urls;  // ws:// or wss://, at least one
    std::string credentials;        // the shared secret sent at login (when no token is set)
    // A JSON Web Token sent at login instead of the shared secret (docs/auth.md).
    std::string token;
    // Supplies a fresh token: called on the client's thread before each reconnect and at once when
    // the server says the token expired (auth_token_expired); it may block. An empty result keeps
    // the token there is. Unset: the token is used until set_token() replaces it.
    std::function<std::string()> token_provider;
    // Filter variables sent at login: $client.<name> in the server's sync rules.
    std::vector<std::pair<std::string, std::string>> filter_variables;
    std::string ca_file;  // wss://: CA certificates to trust instead of the system's
    size_t max_message_size = 32u << 20;
    std::chrono::milliseconds connect_timeout{10'000};
    // A heartbeat goes out this often while logged in (and WebSocket pings keep idle links alive).
    std::chrono::milliseconds heartbeat_interval{25'000};
};

// Objects of one entity that an incoming server transaction put or removed (local ids).
struct IncomingChange {
    std::string entity;
    std::vector<uint64_t> put_ids;
    std::vector<uint64_t> removed_ids;
};

class SyncClient {
  public:
    // Errors: kInvalidArgument without URLs or with a URL that is not ws:// or wss://; store errors
    // while loading the client id.
    static Result<std::unique_ptr<SyncClient>> create(std::shared_ptr<Store> store,
                                                      SyncClientOptions options);
    // Stops (as stop()).
    ~SyncClient();
    SyncClient(const SyncClient&) = delete;
    SyncClient& operator=(const SyncClient&) = delete;

    // Starts connecting (and reconnecting). Idempotent; no-op after stop().
    void start();
    // Closes the connection and stops for good; waits until no listener runs. Idempotent.
    void stop();

    SyncState state() const;
    // Replaces the credentials; used from the next login on (no restart needed). Forgets a login
    // failure of the old credentials: wait_until_up_to_date() then waits for the next attempt.
    void set_credentials(std::string credentials);
    // Replaces the token (SyncClientOptions::token); used from the next login on.
    void set_token(std::string token);
    // Sets (or, with remove_filter_variable, drops) a filter variable sent at login ($client.NAME
    // in the server's sync rules). A change while logged in logs in again at once, so the server
    // sends the difference. Errors: kInvalidArgument for a NAME that is not
    // [A-Za-z_][A-Za-z0-9_]{0,63} or a VALUE above 1 KiB, or more than 32 variables.
    Status set_filter_variable(std::string name, std::string value);
    void remove_filter_variable(std::string_view name);
    // Local transactions not yet acknowledged by the server.
    uint64_t outgoing_queue_length();
    // Everything local pushed and acknowledged, and everything the server had at login applied.
    bool up_to_date() const;
    // Waits until up_to_date(), the timeout, or a login failure. Returns ok (the state is then
    // kLoggedIn), kIo (timed out: the message tells the state) or the login failure's code
    // (auth_credentials_rejected; auth_token_expired when no fresh token got in).
    // Listeners for the event it returns on may still be running.
    Status wait_until_up_to_date(std::chrono::milliseconds timeout);

    // Listeners: set before start().
    void on_state_change(std::function<void(SyncState)> fn);
    void on_login_failure(std::function<void(ErrorCode, const std::string&)> fn);
    void on_up_to_date(std::function<void()> fn);
    void on_incoming(std::function<void(const std::vector<IncomingChange>&)> fn);
    // Connection and protocol errors (the client reconnects after them).
    void on_error(std::function<void(ErrorCode, const std::string&)> fn);

  private:
    struct Impl;
    explicit SyncClient(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace outpost
