// The change stream of the connector's database: its aggregate command (built here for the stream
// reader and for the import's start point) and ChangeStreamSource, the small interface over
// libmongoc that the inbound stream reads through, so that tests can replay recorded streams
// without a server.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "mongo/handles.hpp"
#include "outpost/changelog.hpp"
#include "outpost/status.hpp"

namespace outpost::mongo::detail {

// How a change stream is opened.
struct ChangeStreamStart {
    const bson_t* start_after = nullptr;  // a resume token, or null: from now
    bool full_document = false;  // ask for fullDocument: "default" (the stream reader does)
};

// The aggregate command {aggregate: 1, pipeline: [{$changeStream: ...}], cursor: {batchSize: 0}} on
// the database. The first batch is asked to be empty: a server cuts a first batch at 101 events,
// which can split a MongoDB transaction when the stream resumes behind a backlog; getMore batches
// are cut by size only.
Bson change_stream_command(const ChangeStreamStart& start);

// The cursor id of an aggregate or getMore REPLY (0 when it has none: the stream ended).
int64_t reply_cursor_id(const bson_t* reply);

// True when MongoDB's CODE says that a stream cannot resume from its point (OPENING) or continue
// past it: ChangeStreamHistoryLost (286), ChangeStreamFatalError (280), InvalidResumeToken (260),
// and when opening also 40647 (older servers: the token's event is no longer in the oplog).
bool is_history_lost(int64_t code, bool opening);

// One reply of a change stream: the aggregate's (events under "firstBatch") or a getMore's
// ("nextBatch"). Events read from it point into REPLY.
struct StreamReply {
    std::unique_ptr<Bson> reply;
    const char* batch_key = "nextBatch";
};

// A change stream on the connector's database. Not thread-safe: one reading thread.
class ChangeStreamSource {
  public:
    virtual ~ChangeStreamSource() = default;
    // Opens the stream after START_AFTER (null: from now) with full documents and returns its first
    // reply. kMongoHistoryLost (cause: MongoDB's code) when that point cannot be resumed; other
    // errors as status_from.
    virtual Result<StreamReply> open(const bson_t* start_after) = 0;
    // The next reply, waiting up to the stream's await time for events. REQUIRES: open() succeeded
    // and has_more(). kMongoHistoryLost (cause: MongoDB's code) when the stream cannot continue.
    virtual Result<StreamReply> next() = 0;
    // False once the cursor is gone: ended by the server or after an error of next().
    virtual bool has_more() const = 0;
    // Ends the cursor on the server when it is still open.
    virtual void close() = 0;
    // The document with _id GID of COLLECTION as MongoDB has it now (an update whose fields cannot
    // be mapped alone needs it); nullopt when it is gone.
    virtual Result<std::optional<Bson>> find_by_id(const std::string& collection,
                                                   const Gid& gid) = 0;
};

// The change stream through libmongoc: aggregate and getMore commands on one explicit session
// (rather than mongoc_change_stream_t), so that batch boundaries and every postBatchResumeToken are
// visible. CLIENT must outlive it.
class MongocChangeStream final : public ChangeStreamSource {
  public:
    MongocChangeStream(mongoc_client_t* client, std::string database, int64_t max_await_ms);
    ~MongocChangeStream() override;
    MongocChangeStream(const MongocChangeStream&) = delete;
    MongocChangeStream& operator=(const MongocChangeStream&) = delete;

    Result<StreamReply> open(const bson_t* start_after) override;
    Result<StreamReply> next() override;
    bool has_more() const override { return cursor_id_ != 0; }
    void close() override;
    Result<std::optional<Bson>> find_by_id(const std::string& collection, const Gid& gid) override;

  private:
    mongoc_client_t* client_;
    std::string database_;
    int64_t max_await_ms_;
    SessionPtr session_;
    DatabasePtr db_;
    Bson opts_;  // the session, for every command of the stream
    int64_t cursor_id_ = 0;
};

}  // namespace outpost::mongo::detail
