// The change stream's replies as batches to commit: the events of one reply and the point to store
// with them. A MongoDB transaction is never split between two batches (see the .cpp).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mongo/change_event.hpp"
#include "mongo/change_stream.hpp"

namespace outpost::mongo::detail {

// Events of the stream ready to map, in stream order, and the resume token that follows them.
struct ReadBatch {
    std::unique_ptr<Bson> reply;  // the reply the events point into (held events own copies)
    std::vector<Event> events;
    Bson commit_token;
};

// Turns replies into batches. Not thread-safe: the reading thread's.
class StreamReader {
  public:
    // Events larger than this in all make a full reply (a server's batches are cut at 16 MB).
    static constexpr uint32_t kFullBatchBytes = 8u * 1024 * 1024;

    // MARKER_ID tells this server's marker events; START is the token the stream was opened after.
    StreamReader(std::string marker_id, std::optional<Bson> start);

    // The batch of REPLY, or nullopt when it adds nothing to commit (no events and no new point, or
    // only a transaction that may continue in the next reply, which is held for it).
    // kMongoCommand when the reply has no cursor.
    Result<std::optional<ReadBatch>> take(StreamReply reply);

  private:
    // Moves a trailing transaction of a full reply from EVENTS to held_ and sets TOKEN before it.
    // False when the whole reply is that transaction (all of it is held).
    bool hold_trailing_transaction(std::vector<Event>& events, Bson& token);

    std::string marker_id_;
    std::vector<Event> held_;  // a transaction that may continue in the next reply
    Bson last_token_;          // the newest commit token handed out
};

}  // namespace outpost::mongo::detail
