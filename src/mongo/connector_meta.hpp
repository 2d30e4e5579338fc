// The connector's state in the server store's meta, written in the same transactions as the
// changes it belongs to.
#pragma once

namespace outpost::mongo {

// Keys of the connector's state in the server store's meta.
inline constexpr const char* kMetaServerId = "mongo:server_id";
inline constexpr const char* kMetaResumeToken = "mongo:resume_token";  // raw BSON of the token
inline constexpr const char* kMetaImportPending =
    "mongo:import_pending";  // raw BSON of the start token
// The newest outbound position whose MongoDB transaction the stream has passed (decimal): server
// records after it reach MongoDB after the events being read, so they win over those events.
inline constexpr const char* kMetaOwnSeen = "mongo:own_seen";
// The outbound session's lsid (raw BSON {id: UUID}): after a crash, its open transaction is ended
// with killSessions at the next start instead of holding its locks until the server's lifetime
// limit.
inline constexpr const char* kMetaOutboundLsid = "mongo:outbound_lsid";

}  // namespace outpost::mongo
