#pragma once
// The sync client's engine, without sockets: login, pushing the change log (pipelined, exactly
// once), applying the server's changes atomically with the resume position (docs/sync-protocol.md).
//
// Threading: not thread-safe. connect/on_message/on_disconnect/poll come from one thread or strand.
// Local commits on any thread only set a flag and call ClientOptions::wake; the owner then calls
// poll() on its own thread, which pushes.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <span>
#include <string>

#include "outpost/changelog.hpp"
#include "outpost/store.hpp"
#include "sync/protocol.hpp"
#include "sync/transport.hpp"

namespace outpost::sync {

struct ClientOptions {
    std::string credentials;
    // What CREDENTIALS holds: auth::CredentialKind (1 the shared secret, 2 a JWT).
    uint8_t credential_kind = 1;
    // Filter variables sent with each Login ($client.<name> in the server's sync rules).
    FilterVariables variables;
    // Pushes sent and not yet acknowledged, at most.
    size_t max_in_flight = 16;
    size_t max_message_size = kDefaultMaxMessageSize;
    // Called (on the committing thread) after a local commit that logged changes: schedule poll().
    std::function<void()> wake;
};

enum class ClientState { kDisconnected, kConnected, kLoggedIn };

class ClientCore {
  public:
    // The client id and its key are kept in STORE's meta (made on first use). REQUIRES: STORE
    // outlives the core.
    static Result<std::unique_ptr<ClientCore>> create(std::shared_ptr<Store> store,
                                                      ClientOptions options);
    ~ClientCore();

    // A connection is up: sends Login. REQUIRES: no other connection is current.
    void connect(std::shared_ptr<Connection> connection);
    // A frame from the server.
    void on_message(std::span<const uint8_t> frame);
    // Frames that arrived in this order, handled as by on_message one after the other, except that
    // consecutive Acks are recorded in one store transaction.
    void on_messages(std::span<const std::span<const uint8_t>> frames);
    // The connection is gone; unacknowledged pushes are resent after the next connect.
    void on_disconnect();
    // Pushes local changes committed since the last call (see ClientOptions::wake).
    void poll();
    // Sends a Heartbeat (the owner's keep-alive timer); the server answers with one.
    void send_heartbeat();

    ClientState state() const { return state_; }
    const ClientId& client_id() const { return client_id_; }
    // All local changes pushed and acknowledged, and everything the server had at login applied.
    // Local commits not yet seen by poll() count as not pushed.
    bool up_to_date() const { return up_to_date_ && !dirty_->load(); }
    // The server sequence applied last (persisted with the data).
    uint64_t server_seq() const { return server_seq_; }
    // Change-log records not yet acknowledged by the server.
    uint64_t outgoing_queue_length();

    // Listeners (called on the core's thread).
    void on_up_to_date(std::function<void()> fn) { up_to_date_fn_ = std::move(fn); }
    // A failed login or an Error from the server (code, reason); the server closes the connection.
    void on_error(std::function<void(ErrorCode, const std::string&)> fn) {
        error_fn_ = std::move(fn);
    }
    // The last error code received (kOk when none).
    ErrorCode last_error() const { return last_error_; }

    // Replaces the credentials for the next Login (a refreshed token).
    void set_credentials(std::string credentials) { options_.credentials = std::move(credentials); }
    void set_credential_kind(uint8_t kind) { options_.credential_kind = kind; }
    // Replaces the filter variables for the next Login.
    void set_variables(FilterVariables variables) { options_.variables = std::move(variables); }

  private:
    ClientCore(std::shared_ptr<Store> store, ClientOptions options);
    void send(const Message& message);
    // Sends the client transaction as one Push, or in parts (Push.more) when it is too big for one
    // frame.
    void send_push(uint64_t client_txn, ChangeSet changes);
    void fail(ErrorCode code, const std::string& reason);
    void push_pending();
    void dispatch(Message& msg);
    void handle_login_result(const LoginResult& r);
    // After LoginResult ok: drops the pushes R says the server applied (their Acks were lost),
    // applies their corrections and R's scope changes, and keeps R's scope tag, in one
    // transaction. False when it failed the connection.
    bool settle_login(const LoginResult& r);
    // Applies A (or keeps it while parts are missing) and answers with ApplyAck.
    void handle_apply(Apply& a);
    void handle_full_sync_chunk(const FullSyncChunk& c);
    void handle_acks(std::span<const Ack> acks);
    Status apply_remote(uint64_t server_seq, uint64_t tag, const ChangeSet& changes, bool store_seq,
                        bool full_sync);
    void update_up_to_date();

    std::shared_ptr<Store> store_;
    ClientOptions options_;
    ClientId client_id_{};
    ClientKey client_key_{};
    std::shared_ptr<Connection> connection_;
    ClientState state_ = ClientState::kDisconnected;
    uint64_t server_seq_ = 0;  // persisted in meta "sync.server_seq"
    uint64_t server_tag_ = 0;  // the tag of record server_seq_ (meta "sync.server_tag"); 0: unknown
    uint64_t login_seq_ = 0;   // the server's head at login
    uint64_t scope_tag_ = 0;   // LoginResult::scope_tag of the last login (meta "sync.scope_tag")
    uint64_t last_pushed_ = 0;  // newest change-log position sent on this connection
    std::deque<uint64_t> in_flight_;
    using ObjectKey = std::pair<uint64_t, Gid>;  // entity uid, GID
    std::set<ObjectKey> full_sync_seen_;         // objects of the full sync in progress
    bool full_sync_started_ = false;             // a chunk of it was applied on this connection
    std::optional<Apply> partial_apply_;         // the parts so far of an Apply sent in parts
    bool up_to_date_ = false;
    ErrorCode last_error_ = ErrorCode::kOk;
    uint64_t observer_ = 0;
    std::shared_ptr<std::atomic<bool>> dirty_;
    std::function<void()> up_to_date_fn_;
    std::function<void(ErrorCode, const std::string&)> error_fn_;
};

}  // namespace outpost::sync
