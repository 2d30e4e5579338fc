#pragma once
// The sync wire protocol: the messages a sync client and server exchange, one per binary frame, and
// their codec. docs/sync-protocol.md describes every message, field and code.
//
// Protocol versions (the history in docs/sync-protocol.md has the details):
//   1  Login, LoginResult (with last_client_txn), Push, Ack, Apply, ApplyAck, FullSyncChunk,
//      Heartbeat, Error.
//   2  Ack.corrections (sync-clock conflicts).
//   3  Push.more, Apply.more (parts), record tags (Apply.tag, Ack.server_tag, FullSyncChunk.tag,
//      Login.last_server_tag), unique-value corrections in Ack.corrections.
//   4  Login.client_key (a client id is bound to its key), Login.next_client_txn (client_txn
//      numbers follow each other without gaps), LoginResult.corrections (of pushes whose Acks were
//      lost); a catch-up carries the client's own records whole.
//   5  Login.credential_kind (the shared secret or a JWT), Login.variables (filter variables),
//      Login.scope_tag and LoginResult.scope_tag/scope_changes (sync rules: the difference when a
//      client's scope changed); codes 501 (token expired, also ending a session) and 502 (unknown
//      key).
// A server accepts the client versions kOldestSupportedProtocolVersion .. kProtocolVersion
// (check_protocol_version) and speaks the client's version on that connection.
//
// Codes (LoginResult::code, Error::code) are outpost::ErrorCode values: 0 ok, 4xx sync protocol,
// 5xx auth.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "outpost/changelog.hpp"
#include "outpost/model.hpp"
#include "outpost/status.hpp"

namespace outpost::sync {

// The version this code speaks, the newest.
inline constexpr uint32_t kProtocolVersion = 5;
// The oldest client version a server accepts. Version 3 clients send no client key: accepting them
// would let any holder of the shared secret log in as another client again.
inline constexpr uint32_t kOldestSupportedProtocolVersion = 4;
static_assert(kOldestSupportedProtocolVersion <= kProtocolVersion);
inline constexpr size_t kDefaultMaxMessageSize = 32u << 20;  // 32 MiB

using ClientId = std::array<uint8_t, 16>;
std::string client_id_to_hex(const ClientId& id);
// The secret a client makes together with its id and keeps beside it (Login.client_key).
using ClientKey = std::array<uint8_t, 32>;

// What a client's model says about one synced entity: the uids (and types) it knows.
struct ModelEntity {
    uint64_t uid = 0;
    std::vector<std::pair<uint64_t, PropertyType>> properties;
    std::vector<uint64_t> relations;  // to-many relation uids
    friend bool operator==(const ModelEntity&, const ModelEntity&) = default;
};
// The synced entities of MODEL as a client announces them at login.
std::vector<ModelEntity> describe_model(const Model& model);

// Login limits (since version 5): the credentials' size, and the filter variables (at most
// kMaxFilterVariables, names [A-Za-z_][A-Za-z0-9_]{0,63} each once, values up to 1 KiB).
inline constexpr size_t kMaxCredentialBytes = 16 * 1024;
inline constexpr size_t kMaxFilterVariables = 32;
inline constexpr size_t kMaxVariableName = 64;
inline constexpr size_t kMaxVariableValue = 1024;
using FilterVariables = std::vector<std::pair<std::string, std::string>>;
// Whether NAME = VALUE may join VARIABLES (which must not hold NAME yet) within those limits.
// Errors: kInvalidArgument saying which limit.
Status check_filter_variable(std::string_view name, std::string_view value,
                             const FilterVariables& variables);

struct Login {
    uint32_t protocol_version = kProtocolVersion;
    ClientId client_id{};
    std::string credentials;
    std::vector<ModelEntity> model;
    uint64_t last_server_seq = 0;
    uint64_t last_server_tag =
        0;  // the tag of record last_server_seq (0: unknown; since version 3)
    // Since version 4: the client's key (empty when the frame had none, e.g. from a version 3
    // client; the server refuses such a login). The decoder accepts only 0 or 32 bytes.
    std::vector<uint8_t> client_key;
    // Since version 4: the client's oldest transaction not yet acknowledged, or the number of its
    // next transaction when none waits (0 only from a peer that did not send it).
    uint64_t next_client_txn = 0;
    // Since version 5: what CREDENTIALS holds (auth::CredentialKind: 1 the shared secret, 2 a JWT;
    // 0 from a version 4 client, which sends the shared secret).
    uint8_t credential_kind = 0;
    // Since version 5: filter variables, $client.<name> in the sync rules (name, value).
    FilterVariables variables;
    // Since version 5: the tag of the scope whose data the client holds (LoginResult::scope_tag of
    // its last login; 0: unknown).
    uint64_t scope_tag = 0;
    friend bool operator==(const Login&, const Login&) = default;
};
struct LoginResult {
    ErrorCode code = ErrorCode::kOk;
    uint64_t server_seq = 0;  // the newest history record at login
    std::string message;
    // The client's newest transaction the server applied: pushes up to it are done (their Acks may
    // have been lost with a connection), so the client drops them before it applies anything.
    uint64_t last_client_txn = 0;
    // The corrections the client's pushes from Login::next_client_txn to last_client_txn got (their
    // Acks were lost): applied with the drop, under the client's pending changes (since 4).
    ChangeSet corrections;
    // Since version 5: when the client's scope changed since its last login (Login::scope_tag), the
    // difference: removals of objects that left it and whole puts of objects that entered it,
    // applied with the drop, under the client's pending changes.
    ChangeSet scope_changes;
    // Since version 5: the tag of the client's scope from now on (it sends it with its next Login).
    uint64_t scope_tag = 0;
    friend bool operator==(const LoginResult&, const LoginResult&) = default;
};
struct Push {
    uint64_t client_txn = 0;
    ChangeSet changes;
    bool more = false;  // further parts of this transaction follow (since version 3)
    friend bool operator==(const Push&, const Push&) = default;
};
struct Ack {
    uint64_t client_txn = 0;
    uint64_t server_seq =
        0;  // the record the push became; 0 when none (a resend, or nothing changed)
    // The server's state of objects whose put lost on their sync clock: the client applies it with
    // the acknowledgement, so it does not keep its losing values.
    ChangeSet corrections;
    uint64_t server_tag = 0;  // the tag of record server_seq (since version 3)
    friend bool operator==(const Ack&, const Ack&) = default;
};
struct Apply {
    uint64_t server_seq = 0;
    ChangeSet changes;
    bool more = false;  // further parts of this record follow (since version 3)
    // A hash of the record, never 0 (since version 3): the client keeps the tag of its position and
    // sends it with Login, so a server restored from an older copy of its data notices that the
    // position means another record now.
    uint64_t tag = 0;
    friend bool operator==(const Apply&, const Apply&) = default;
};
struct ApplyAck {
    uint64_t server_seq = 0;
    friend bool operator==(const ApplyAck&, const ApplyAck&) = default;
};
struct FullSyncChunk {
    uint64_t server_seq = 0;  // the snapshot's position; the client resumes after it
    ChangeSet changes;
    bool last = false;
    uint64_t tag = 0;  // the tag of record server_seq, 0 when there is none (since version 3)
    friend bool operator==(const FullSyncChunk&, const FullSyncChunk&) = default;
};
struct Heartbeat {
    friend bool operator==(const Heartbeat&, const Heartbeat&) = default;
};
struct Error {
    ErrorCode code = ErrorCode::kSyncMalformedMessage;
    std::string reason;
    friend bool operator==(const Error&, const Error&) = default;
};

using Message =
    std::variant<Login, LoginResult, Push, Ack, Apply, ApplyAck, FullSyncChunk, Heartbeat, Error>;

// Whether a server accepts a client that speaks VERSION (Login::protocol_version): ok within
// kOldestSupportedProtocolVersion .. kProtocolVersion, else kSyncBadVersion with a message that
// names the supported range.
Status check_protocol_version(uint32_t version);

// "Login", "Apply", ...
const char* message_name(const Message& message);

// The binary frame of MESSAGE.
std::string encode_message(const Message& message);
// Same, for an Apply/FullSyncChunk/Push whose change set is already encoded (encode_change_set
// output): saves re-encoding when fanning one record out to many clients.
std::string encode_apply(uint64_t server_seq, std::string_view encoded_change_set,
                         bool more = false, uint64_t tag = 0);

// CHANGES cut, in order, into change sets whose encoding takes at most BUDGET bytes each (an object
// above it makes a part of its own): the parts of a Push or Apply too big for one frame (`more`).
std::vector<ChangeSet> split_change_set(const ChangeSet& changes, size_t budget);

// Decodes a frame. Errors (never a crash): kSyncMessageTooLarge when FRAME is above MAX_SIZE;
// kSyncMalformedMessage when the FlatBuffers verifier rejects it, a field is out of range (a
// client id that is not 16 bytes, a client key that is not 32, a Push with client_txn 0), or a
// change set does not decode.
Result<Message> decode_message(std::span<const uint8_t> frame,
                               size_t max_size = kDefaultMaxMessageSize);

}  // namespace outpost::sync
