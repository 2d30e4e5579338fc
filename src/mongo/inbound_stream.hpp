// Inbound: one database change stream -> server store, with the resume token in the same
// transaction. The parts, each with one owner: the source (ChangeStreamSource: open, next reply)
// and the reader (StreamReader: replies -> batches, transactions never split) and the mapper
// (EventMapper: events -> changes) on the reading thread; the committer (InboundCommitter) on its
// own thread.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "mongo/change_stream.hpp"
#include "mongo/connector.hpp"
#include "mongo/connector_state.hpp"
#include "mongo/mapping.hpp"
#include "outpost/store.hpp"

namespace outpost::mongo::detail {

// What a stream reads, writes and reports to; all must outlive the stream.
struct InboundContext {
    Store& store;
    const Mapping& mapping;
    const ConnectorOptions& options;
    std::string marker_id;  // "server:<server_id>": this server's marker events
    ConnectorState& state;
    std::function<void()> on_commit;  // after each commit that changed objects (may be empty)
    std::function<bool()> stopping;   // stop(): the stream ends, uncommitted batches are dropped
    std::function<bool()> import_waiting;  // an import was requested: the stream ends for it
};

// Runs one change stream of SOURCE, opened after START (the stored token; nullopt: from now), until
// an error, the end of the cursor, stop or an import request. OWN_SEEN is the stream's stored
// own_seen. Each reply's batch is committed with its token (and own_seen) in one server
// transaction; at most CommitQueue::kDepth batches are read and mapped ahead of the commits.
// kMongoHistoryLost (cause: MongoDB's code) when the stream cannot resume or continue from its
// point; kMongoMapping when a change cannot be mapped and strict_from_mongo is on.
Status run_change_stream(const InboundContext& ctx, ChangeStreamSource& source,
                         std::optional<Bson> start, uint64_t own_seen);

}  // namespace outpost::mongo::detail
