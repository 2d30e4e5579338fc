#pragma once
// The sync server's engine, without sockets: logins, pushes applied exactly once into the server
// store's history, fan-out to the other clients, catch-up from history and full sync
// (docs/sync-protocol.md).
//
// The server's history is the server store's change log: record position = global server sequence.
//
// Threading: not thread-safe. Every call (on_connect, on_message, on_disconnect, poll) comes from
// one thread or strand, the one that owns the connections. Writes to the server store by others
// (the MongoDB connector) are fanned out by poll().

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "outpost/store.hpp"
#include "sync/auth/identity.hpp"
#include "sync/known_model.hpp"
#include "sync/protocol.hpp"
#include "sync/rules/sync_rules.hpp"
#include "sync/transport.hpp"

namespace outpost::sync {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

struct ServerOptions {
    // Where the core reports logins, rejections and protocol errors (unset: nowhere).
    std::function<void(LogLevel, const std::string&)> log;
    // Auth: a shared secret that Login::credentials must equal, or none when allow_unauthenticated.
    std::string shared_secret;
    bool allow_unauthenticated = false;
    // JWT logins (Login::credential_kind 2): verifies a token at a time in seconds since the epoch
    // (auth::TokenVerifier::verify; unset: JWT logins are refused). May run on another thread
    // (SyncServer verifies on its network threads).
    std::function<Result<auth::Identity>(std::string_view token, int64_t now_s)> verify_token;
    // The sync rules that JWT sessions are held to (unset: they see and write everything, as
    // shared-secret sessions always do).
    std::shared_ptr<const rules::SyncRules> rules;
    // Wall-clock time in milliseconds since the epoch: token expiry, $now (unset: the system
    // clock).
    std::function<int64_t()> wall_clock_ms;
    // A JWT session ends (kAuthTokenExpired, close 4501) this long after its token's exp: the
    // verifier's leeway.
    std::chrono::seconds token_leeway{60};
    // A connection that has not logged in this long after it opened is closed with
    // kSyncProtocolViolation; heartbeats do not keep it open. The owner of the connections calls
    // on_login_deadline when it passes (SyncServer does). 0: no limit.
    std::chrono::milliseconds login_timeout{10'000};
    // Failed logins (credentials rejected, a client id bound to another key) per remote address
    // (without its port): after max_failed_logins of them within failed_login_window, logins from
    // that address are refused without a check for failed_login_block. 0: no limit.
    uint32_t max_failed_logins = 10;
    std::chrono::milliseconds failed_login_window{60'000};
    std::chrono::milliseconds failed_login_block{60'000};
    // The clock of the failed-login limit (unset: std::chrono::steady_clock::now).
    std::function<std::chrono::steady_clock::time_point()> clock;
    // History kept: at most this many records (0 = unbounded); older ones are trimmed as pushes
    // arrive.
    uint64_t history_max_records = 1'000'000;
    // ... and at most this many bytes of stored records (0 = unbounded): the oldest records go
    // first. A client behind the kept history gets a full sync.
    uint64_t history_max_bytes = 0;
    // When set, the newest position that trimming may remove: records after it are kept whatever
    // the bounds (e.g. those the MongoDB connector has not written yet). Called on the core's
    // thread.
    std::function<uint64_t()> history_trim_limit;
    size_t max_message_size = kDefaultMaxMessageSize;
    // A client transaction sent in parts (Push.more) may hold about this many bytes of changes in
    // all; a client that sends more is disconnected with kSyncMessageTooLarge.
    size_t max_transaction_bytes = size_t{1} << 30;
    // Full-sync chunks close after this many objects or bytes of change set, whichever comes first.
    size_t full_sync_chunk_objects = 1000;
    size_t full_sync_chunk_bytes = 4u << 20;
    // A full sync is streamed: its next chunks are made while the connection queues less than this
    // (0: all at once).
    size_t full_sync_window_bytes = 8u << 20;
    // A client whose connection queues more than this is disconnected with kSyncTooFarBehind (0 =
    // off).
    size_t max_send_queue_bytes = 256u << 20;
    // Called on the core's thread when fan-out first reads history record POSITION, i.e. soon
    // after it was committed (unset: nothing).
    std::function<void(uint64_t position)> on_history_record;
};

struct ServerStats {
    uint64_t sessions = 0;
    uint64_t logged_in = 0;
    uint64_t pushes_applied = 0;
    uint64_t pushes_skipped = 0;  // resends at or below the client's last applied number
    uint64_t full_syncs = 0;
    uint64_t catch_ups = 0;
    uint64_t protocol_errors = 0;
    uint64_t login_timeouts = 0;    // connections closed for not logging in in time
    uint64_t logins_throttled = 0;  // logins refused unchecked after too many failures
    uint64_t jwt_logins = 0;        // logins with a verified token
    uint64_t auth_expired = 0;      // logins refused for an expired token
    uint64_t auth_unknown_key = 0;  // logins refused for a token signed with an unknown key
    uint64_t sessions_expired = 0;  // sessions ended when their token expired
    // Transactions that bound new client ids (to a key, a JWT user, a scope): one per group of
    // logins that arrived together.
    uint64_t login_commits = 0;
    // Sync rules: push changes not applied for being outside the pusher's write scope, and logins
    // whose changed scope went as its difference (LoginResult.scope_changes) rather than a full
    // sync.
    uint64_t writes_refused = 0;
    uint64_t scope_diffs = 0;
    // Logins by result, besides auth_expired, auth_unknown_key and logins_throttled above:
    // accepted; refused for their credentials (a wrong secret or token, a client id bound to
    // another key or user); refused for anything else (protocol version, model, a malformed Login,
    // a server error).
    uint64_t logins_ok = 0;
    uint64_t logins_rejected = 0;
    uint64_t logins_failed = 0;
    uint64_t changes_applied = 0;  // object changes of the pushes applied
    uint64_t fanout_changes = 0;   // object changes sent live to other clients (Apply frames)
    // The time to apply and commit one group of pushes (one store transaction, one history
    // record): counts per bucket of kApplySecondsBounds (not cumulative; the last one is above
    // every bound), and the sum of the times in seconds.
    std::array<uint64_t, 13> apply_seconds_counts{};
    double apply_seconds_sum = 0;
    // SyncServer fills these from the network layer (always 0 from ServerCore itself).
    uint64_t connections_refused = 0;  // new connections refused at the connection limit
    uint64_t accept_errors = 0;        // failed accepts (e.g. out of file descriptors)
};

// The upper bounds (seconds) of the buckets of ServerStats::apply_seconds_counts.
inline constexpr std::array<double, 12> kApplySecondsBounds{
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};

// One logged-in session as the admin sees it (ServerCore::sessions).
struct SessionInfo {
    uint64_t session = 0;
    std::string client;        // hex client id
    std::string user;          // a JWT session's user claim; empty otherwise
    std::string remote;        // IP:PORT, empty when unknown
    int64_t connected_ms = 0;  // wall clock, ms since the epoch
    uint32_t protocol_version = 0;
    // The newest server sequence the client has: its ApplyAcks, the position it logged in at (up
    // to date or catching up from), and the records of its own pushes acknowledged to it.
    uint64_t acked_seq = 0;
    bool full_sync = false;  // a full sync is in progress
};

class ServerCore {
  public:
    using SessionId = uint64_t;

    // REQUIRES: STORE stays open while the core lives; its synced entities are what clients sync.
    // Errors: kInvalidArgument when OPTIONS name no auth method and do not allow unauthenticated
    // use.
    static Result<std::unique_ptr<ServerCore>> create(std::shared_ptr<Store> store,
                                                      ServerOptions options);
    ~ServerCore();

    // A new connection from REMOTE_ADDRESS (`IP:PORT`, IPv6 in brackets; empty when unknown: then
    // no failed-login limit applies). The core sends on it until on_disconnect or until it closes
    // it.
    SessionId on_connect(std::shared_ptr<Connection> connection, std::string remote_address = {});
    // SESSION's login timeout (ServerOptions::login_timeout after on_connect) passed: closes it
    // unless it logged in. Unknown ids are ignored.
    void on_login_deadline(SessionId session);
    // A frame from SESSION. Bad frames are answered with an Error and a close of that session only.
    void on_message(SessionId session, std::span<const uint8_t> frame);
    // Frames that arrived in this order, handled as by on_message one after the other, except that
    // consecutive Pushes of one session are applied in one store transaction (one commit, one
    // history record) before their Acks go out: a group commit for a client that pipelines.
    // DECODED, when set, is FRAME decoded already (decode_message with max_message_size(), e.g.
    // on a network thread) and is moved from.
    struct Incoming {
        SessionId session = 0;
        std::span<const uint8_t> frame;
        Result<Message>* decoded = nullptr;
    };
    void on_messages(std::span<const Incoming> frames);
    // The connection is gone (closed by either side). Unknown ids are ignored.
    void on_disconnect(SessionId session);
    // Fans out history records that others wrote to the server store since the last call, and
    // continues the full syncs in progress.
    void poll();
    // Ends the JWT sessions whose tokens expired (plus the leeway) with kAuthTokenExpired (close
    // 4501): the client gets a fresh token and logs in again. The owner calls it about once a
    // second (SyncServer does).
    void expire_sessions();
    // Continues the full syncs in progress whose connections have drained; true while any is left
    // (the caller calls again later).
    bool continue_full_syncs();

    const ServerStats& stats() const { return stats_; }
    // The logged-in sessions that are open, in session order.
    std::vector<SessionInfo> sessions() const;
    // The newest history record offered to the sessions (fan-out's position).
    uint64_t history_head() const { return fanned_seq_; }
    // Closes every open session of client CLIENT (hex id) with kOk and REASON; the client
    // reconnects after its backoff. Returns how many were closed.
    size_t disconnect_client(const std::string& client, const std::string& reason);
    // The options' frame size limit (fixed at create(): safe to read from any thread).
    size_t max_message_size() const { return options_.max_message_size; }
    // The options' login timeout (fixed at create(): safe to read from any thread).
    std::chrono::milliseconds login_timeout() const { return options_.login_timeout; }
    std::shared_ptr<Store> store() const { return store_; }

  private:
    struct Session;
    ServerCore(std::shared_ptr<Store> store, ServerOptions options);

    void fail(Session& s, ErrorCode code, const std::string& reason);
    // Logins (server_login.cpp). The logins that arrive together (consecutive in on_messages) are
    // checked one by one, then the bindings of the new client ids among them are committed in one
    // transaction, then each is answered: one durable commit per group, not per login.
    using MetaWrites = std::vector<std::pair<std::string, std::string>>;
    struct PendingLogin {
        SessionId session = 0;
        Login login;
        std::string client;  // hex id
    };
    // LOGIN on S checked (admit_login) and S's scope bound; what must be written first is added to
    // TO_BIND. False when S was refused (and closed).
    bool prepare_login(Session& s, const Login& login, const std::string& client,
                       MetaWrites& to_bind);
    // Commits TO_BIND, then answers each login of GROUP that is still open (finish_login, or a
    // server error when the commit failed). Empties both.
    void commit_logins(std::vector<PendingLogin>& group, MetaWrites& to_bind);
    // S's prepared login answered: where it resumes, the LoginResult, then catch-up or full sync.
    void finish_login(Session& s, const Login& login);
    // LOGIN on S as a group of one.
    void handle_login(Session& s, Login login);
    // Whether LOGIN may log in on S as client CLIENT (hex id): version, failed-login limit, secret,
    // fields, model and identity; false when S was refused (and closed). The bindings a new client
    // id needs are added to TO_BIND.
    bool admit_login(Session& s, const Login& login, const std::string& client,
                     MetaWrites& to_bind);
    // Answers S's login with CODE and WHY, and closes S.
    void reject_login(Session& s, ErrorCode code, const std::string& why);
    // The filter for what a client that announces LOGIN's model is sent.
    detail::KnownModel known_model_of(const Login& login) const;
    // Closes the older connection of S's client, if any (one connection per client), and makes S
    // the one a newer login replaces.
    void replace_older_sessions(const Session& s);
    struct LoginResume;
    // Where S's client resumes after LOGIN: a catch-up or a full sync, and what was applied of it.
    Result<LoginResume> resume_point(const Session& s, const Login& login);
    // The corrections (of STORED, corrections_key's value) of the pushes from
    // Login::next_client_txn to LAST_CLIENT_TXN, whose Acks were lost.
    ChangeSet lost_ack_corrections(const Session& s, const Login& login, uint64_t last_client_txn,
                                   const std::string& stored) const;
    void dispatch(Session& s, Message msg);
    void handle_pushes(Session& s, std::span<Push> pushes);
    // Counts a group commit of pushes that took SECONDS in the apply-time histogram.
    void note_apply_time(double seconds);
    // Applies PUSHES (of S, in order) in one write transaction and commits. Returns, per push,
    // whether it was applied (not a resend) and sets RECORD to the position of the history record
    // they become if they changed anything (fan_out confirms it); CORRECTIONS gets, per push, the
    // state of objects whose put lost on its sync clock. On error nothing is committed. Puts are
    // edited in place (references to removed objects dropped).
    // Keeps the corrections of PUSHES (those APPLIED) until a later login of the client shows it
    // saw their Acks, so that a lost Ack does not lose them (LoginResult.corrections).
    Status keep_corrections(WriteTxn& txn, const Session& s, std::span<const Push> pushes,
                            const std::vector<char>& applied,
                            const std::vector<ChangeSet>& corrections);
    Result<std::vector<char>> apply_pushes(Session& s, std::span<Push> pushes, uint64_t& record,
                                           std::vector<ChangeSet>& corrections);
    // The checks of one push's CHANGES (of S) before they are applied in TXN: removes leave a
    // tombstone; a put for a removed object, or one that loses on its sync clock or a unique
    // value, is dropped (the server's state goes to CORRECTIONS); the others lose their references
    // to removed objects (edited in place). Returns whether any put was dropped; then ACCEPTED
    // holds the changes that stay.
    Result<bool> screen_push(WriteTxn& txn, const Session& s, ChangeSet& changes,
                             ChangeSet& corrections, ChangeSet& accepted);
    // Sends history records AFTER..UNTIL to S. OLD_SCOPE, when set, is the scope S held before
    // this login: a change to its rule properties counts as one that may move an object in or out.
    Status send_catch_up(Session& s, uint64_t after, uint64_t until,
                         rules::SessionScope* old_scope = nullptr);
    // A full sync of the store as it is now: a cursor on a read transaction, continued by
    // continue_full_sync as the connection drains. Pushes that arrive meanwhile wait (they are
    // applied after it, as if sent after it), and records written meanwhile follow it as a
    // catch-up.
    Status start_full_sync(Session& s);
    Status continue_full_sync(Session& s);
    Status finish_full_sync(Session& s);
    // Sends every history record not yet fanned out to the sessions that should get it. WATCH,
    // when given, asks whether the record at its position was written by its origin.
    struct FanOutWatch {
        uint64_t position = 0;
        const std::string* origin = nullptr;
        bool seen = false;
        uint64_t tag = 0;  // the record's tag, when seen
    };
    void fan_out(FanOutWatch* watch);
    void log(LogLevel level, const std::string& text) const;
    void note_history(uint64_t position, uint64_t bytes);
    void trim_history();
    // The newest position the bounds may trim, given the wanted one.
    uint64_t trim_limit(uint64_t wanted) const;
    // The state of object ID of entity E as a put (every non-null property, to-many lists), limited
    // to what KNOWN holds (null: everything). BYTES grows by its approximate encoded size.
    Result<ObjectChange> describe_object(Txn& txn, const Entity& e, DynamicBox& box, uint64_t id,
                                         const Gid& gid, const detail::KnownEntity* known,
                                         size_t& bytes);
    // Sync clocks: true when put C of an entity with a syncClock property carries a clock below the
    // stored object's, so it loses; the stored state goes to CORRECTIONS.
    Result<bool> loses_on_clock(Txn& txn, const ObjectChange& c, ChangeSet& corrections);
    // Unique values (sync/unique_values.hpp): true when put C of push CHANGES gives a unique
    // property a value another object holds (and CHANGES does not free it), so it loses; the
    // object's state (or its removal, when it is new) and the holder's state go to CORRECTIONS.
    // With kFlagUniqueReplace the put wins instead, and the holder's removal goes to CORRECTIONS.
    Result<bool> loses_on_unique(WriteTxn& txn, const Session& s, const ChangeSet& changes,
                                 const ObjectChange& c, ChangeSet& corrections);
    // Object ID's whole state as a put that is not new: every property, nulls included.
    Result<ObjectChange> full_state(Txn& txn, const Entity& e, DynamicBox& box, uint64_t id,
                                    const Gid& gid);
    void send(Session& s, std::string frame);
    // The Apply frames of history record POSITION (CHANGES, ENCODED): one, or parts (Apply.more)
    // when it is too big for one frame.
    std::vector<std::string> apply_frames(uint64_t position, const ChangeSet& changes,
                                          std::string encoded, uint64_t tag) const;
    // The tag of history record POSITION (Apply.tag), 0 when it is not kept.
    Result<uint64_t> tag_at(Txn& txn, uint64_t position);
    // Push.more: collects the parts of a transaction sent in parts. True when P is a whole
    // transaction (then P holds all of it); false while parts are missing or when S was failed.
    bool whole_push(Session& s, Push& p);
    // Keeps P until S's full sync ends (a bounded number; more fail S).
    void hold(Session& s, Push p);
    ErrorCode check_model(const Login& login, std::string& why) const;
    // Sync rules (server_scope.cpp, docs/sync-rules.md). S's scope for LOGIN: a JWT session under
    // ServerOptions::rules gets one (its definition kept in the meta, for later logins); others
    // none; a definition not kept yet is added to TO_BIND. Errors: kSyncServerError with the
    // reason.
    Status bind_scope(Session& s, const Login& login, MetaWrites& to_bind);
    // How S's login moves its client from the scope it holds (Login::scope_tag) to S's: the
    // difference at R's head (read in TXN) into R.scope_changes, or a full sync (R.full).
    Status change_scope(const Session& s, const Login& login, Txn& txn, LoginResume& r);
    // What scoped session S gets of history record CHANGES, read at fan-out time in TXN (the table
    // in docs/sync-rules.md); nullopt when it gets CHANGES as they are. CACHE holds what every
    // session shares of the record (lookups, whole states); OLD_SCOPE as for send_catch_up.
    struct ScopeCache;
    Result<std::optional<ChangeSet>> scoped(Session& s, Txn& txn, const ChangeSet& changes,
                                            ScopeCache& cache,
                                            rules::SessionScope* old_scope = nullptr);
    // Whether push change C of S lies outside its write scope before or after the change; then it
    // is not applied and the server's state (or the object's removal) goes to CORRECTIONS.
    Result<bool> write_refused(WriteTxn& txn, const Session& s, const ObjectChange& c,
                               ChangeSet& corrections);
    // After S's push APPLIED was applied in TXN: CORRECTIONS seen through S's read scope (a put of
    // an object outside it becomes its removal), plus removals of objects APPLIED moved out of it.
    Status scope_corrections(Txn& txn, const Session& s, const ChangeSet& applied,
                             ChangeSet& corrections);
    // The auth check of LOGIN (server_auth.cpp): who it is, by its credential kind. Errors:
    // kAuthCredentialsRejected, kAuthTokenExpired, kAuthUnknownKey with the reason (never the
    // credentials).
    Result<auth::Identity> authenticate(const Login& login);
    // A client id used with a JWT is bound to the user (issuer and user claim) of its first JWT
    // login; kAuthCredentialsRejected when IDENTITY is another user (shared-secret logins of the id
    // stay allowed). kSyncServerError when the store fails.
    // A binding it needs (a new id) goes to TO_BIND (meta key, value) for the caller to write.
    Status check_user(const auth::Identity& identity, const std::string& client,
                      MetaWrites& to_bind);
    int64_t wall_now_ms() const;
    // Whether LOGIN may act as client CLIENT (hex id): the identity check of a login that passed
    // the auth check. Errors: kAuthCredentialsRejected when the id is bound to another identity;
    // kSyncServerError when the store fails.
    Status check_identity(const Login& login, const std::string& client, MetaWrites& to_bind);
    // The failed-login limit of S's remote address: whether its logins are refused now, and
    // counting a failure.
    bool login_throttled(const Session& s);
    void note_failed_login(const Session& s);
    std::chrono::steady_clock::time_point now() const;

    std::shared_ptr<Store> store_;
    ServerOptions options_;
    SessionId next_session_ = 1;
    std::map<SessionId, std::unique_ptr<Session>> sessions_;
    // The logged-in session of each client (hex id): the one a newer login of the client replaces.
    std::unordered_map<std::string, SessionId> session_of_client_;
    std::set<uint64_t> entities_with_unique_;      // uids of entities with a unique property
    std::multiset<uint64_t> full_sync_snapshots_;  // of the full syncs in progress: kept history
    uint64_t fanned_seq_ = 0;  // every record up to here was offered to every logged-in session
    ServerStats stats_;
    std::deque<std::pair<uint64_t, uint64_t>> history_sizes_;  // (position, bytes) of kept records
    uint64_t history_bytes_ = 0;
    // Failed logins by remote address (without the port).
    struct LoginFailures {
        std::chrono::steady_clock::time_point window_start;
        uint32_t count = 0;  // within the window that began at window_start
        std::chrono::steady_clock::time_point blocked_until;
    };
    std::map<std::string, LoginFailures> login_failures_;
    // JWT sessions by the time (seconds since the epoch) their tokens expire, plus the leeway.
    std::multimap<int64_t, SessionId> expiries_;
};

}  // namespace outpost::sync
