// ServerCore's parts shared by its source files: server_core.cpp (sessions, messages, fan-out,
// history bounds), server_login.cpp (logins), server_pushes.cpp (pushes applied into the history),
// server_history_out.cpp (catch-up, full sync, Apply frames, record tags) and server_conflicts.cpp
// (sync clocks, unique values). Not part of the interface.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/box.hpp"
#include "outpost/changelog.hpp"
#include "sync/known_model.hpp"
#include "sync/server_core.hpp"
#include "sync/tombstones.hpp"

namespace outpost::sync {

namespace server_internal {

inline constexpr size_t kCatchUpBatch = 1000;
// Pushes of one session applied in one store transaction, at most.
inline constexpr size_t kMaxPushesPerCommit = 64;
// Pushes of one session kept while its full sync runs, at most.
inline constexpr size_t kMaxHeldPushes = 1024;

// Rough encoded sizes, to close chunks and bound memory near their byte limits.
size_t approx_size(const Value& v);
size_t approx_size(const ChangeSet& changes);
// A history record's tag (Apply.tag): a 64-bit hash of its position, origin and ENCODED changes,
// never 0.
uint64_t record_tag(const ChangeLogRecord& rec, std::string_view encoded);

// Meta key of the last client_txn applied for a client (hex id), written with the applied data.
std::string client_txn_key(const std::string& client_hex);
// The corrections of a client's pushes whose Acks it may not have seen (meta value: entries of an
// 8-byte client_txn, a 4-byte length and that many bytes of an encoded change set, little-endian).
// An entry goes once a Login's next_client_txn is past it: the client saw that Ack.
std::string corrections_key(const std::string& client_hex);
struct StoredCorrection {
    uint64_t client_txn = 0;
    std::string encoded;
};
// The entries of a stored value; a damaged tail is left out.
std::vector<StoredCorrection> decode_corrections(std::string_view bytes);
std::string encode_corrections(const std::vector<StoredCorrection>& entries);

using Digest = std::array<unsigned char, 32>;
Digest sha256(std::string_view bytes);
// Compares secrets without telling their contents or lengths through the time it takes.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace server_internal

// Where a client resumes after its login (ServerCore::resume_point, change_scope).
struct ServerCore::LoginResume {
    uint64_t head = 0;             // the newest history record
    bool full = false;             // a full sync rather than a catch-up from Login::last_server_seq
    uint64_t last_client_txn = 0;  // the client's newest transaction applied here
    std::optional<std::string> stored_corrections;  // corrections_key's value
    // Sync rules: the tag of the session's scope, the difference from the scope the client held
    // (when it changed and no full sync follows), and that older scope (its rule properties count
    // as touched in the catch-up that follows; null when it was unrestricted or did not change).
    uint64_t scope_tag = rules::kUnrestrictedScopeTag;
    ChangeSet scope_changes;
    std::unique_ptr<rules::SessionScope> old_scope;
};

// What the scoped sessions share of one history record while it is fanned out: the local ids of
// its objects and their whole states, each looked up once.
struct ServerCore::ScopeCache {
    explicit ScopeCache(const ChangeSet& changes)
        : looked(changes.objects.size(), 0),
          ids(changes.objects.size()),
          whole(changes.objects.size()) {}
    std::vector<char> looked;  // ids[k] is known
    std::vector<std::optional<uint64_t>> ids;
    std::vector<std::optional<ObjectChange>> whole;
};

struct ServerCore::Session {
    SessionId id = 0;
    std::shared_ptr<Connection> connection;
    bool logged_in = false;
    bool closed = false;
    std::string remote;        // the peer's address (IP:PORT), empty when unknown
    int64_t connected_ms = 0;  // wall clock at on_connect
    std::string client;        // hex client id: the origin of its pushes in the history
    // Who logged in (set by a login that passed the auth check), and, for a JWT session under sync
    // rules, its scope (null: it sees and writes everything).
    auth::Identity identity;
    std::shared_ptr<rules::SessionScope> scope;
    // The client's protocol version (check_protocol_version accepted it): the version spoken on
    // this connection.
    uint32_t protocol_version = 0;
    // The client_txn the client's next new transaction must carry (set at login, moved on by each
    // applied push): numbers above the last applied one follow each other without gaps.
    uint64_t next_txn = 0;
    // Login::next_client_txn: the client saw the Acks of every transaction before it.
    uint64_t login_next_txn = 0;
    detail::KnownModel known;
    uint64_t sent_seq = 0;  // every record up to here was sent (or deliberately not) to this client
    // The newest server sequence the client has (SessionInfo::acked_seq).
    uint64_t acked_seq = 0;
    // The parts received so far of a transaction sent in parts (Push.more), and their size.
    std::optional<Push> partial;
    size_t partial_bytes = 0;
    // The full sync in progress, and the pushes that wait for its end.
    struct FullSync {
        explicit FullSync(ReadTxn t) : txn(std::move(t)) {}
        ReadTxn txn;
        uint64_t snapshot = 0;  // the history position the read transaction sees
        uint64_t tag = 0;       // its record's tag
        size_t entity = 0;      // into the model's entities
        std::optional<DynamicBox> box;
        std::vector<uint64_t> ids;  // of that entity, when box is set
        size_t next = 0;            // into ids
    };
    std::unique_ptr<FullSync> full_sync;
    std::vector<Push> held;
};

}  // namespace outpost::sync
