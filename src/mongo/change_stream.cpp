#include "mongo/change_stream.hpp"

#include "mongo/mapping.hpp"

namespace outpost::mongo::detail {

Bson change_stream_command(const ChangeStreamStart& start) {
    Bson cmd;
    BSON_APPEND_INT32(cmd.get(), "aggregate", 1);
    bson_t pipeline, stage, cs, cursor;
    BSON_APPEND_ARRAY_BEGIN(cmd.get(), "pipeline", &pipeline);
    BSON_APPEND_DOCUMENT_BEGIN(&pipeline, "0", &stage);
    BSON_APPEND_DOCUMENT_BEGIN(&stage, "$changeStream", &cs);
    if (start.full_document) BSON_APPEND_UTF8(&cs, "fullDocument", "default");
    if (start.start_after) BSON_APPEND_DOCUMENT(&cs, "startAfter", start.start_after);
    bson_append_document_end(&stage, &cs);
    bson_append_document_end(&pipeline, &stage);
    bson_append_array_end(cmd.get(), &pipeline);
    BSON_APPEND_DOCUMENT_BEGIN(cmd.get(), "cursor", &cursor);
    BSON_APPEND_INT32(&cursor, "batchSize", 0);
    bson_append_document_end(cmd.get(), &cursor);
    return cmd;
}

int64_t reply_cursor_id(const bson_t* reply) {
    bson_iter_t it, id;
    if (bson_iter_init(&it, reply) && bson_iter_find_descendant(&it, "cursor.id", &id) &&
        BSON_ITER_HOLDS_NUMBER(&id)) {
        return bson_iter_as_int64(&id);
    }
    return 0;
}

bool is_history_lost(int64_t code, bool opening) {
    return code == 286 || code == 280 || code == 260 || (opening && code == 40647);
}

MongocChangeStream::MongocChangeStream(mongoc_client_t* client, std::string database,
                                       int64_t max_await_ms)
    : client_(client), database_(std::move(database)), max_await_ms_(max_await_ms) {}

MongocChangeStream::~MongocChangeStream() { close(); }

Result<StreamReply> MongocChangeStream::open(const bson_t* start_after) {
    bson_error_t err;
    session_.reset(mongoc_client_start_session(client_, nullptr, &err));
    if (!session_) return status_from(err, "starting a session for the change stream");
    db_.reset(mongoc_client_get_database(client_, database_.c_str()));
    if (!mongoc_client_session_append(session_.get(), opts_.get(), &err))
        return status_from(err, "session");
    Bson cmd = change_stream_command({start_after, true});
    auto reply = std::make_unique<Bson>();
    bson_destroy(reply->get());
    if (!mongoc_database_read_command_with_opts(db_.get(), cmd.get(), nullptr, opts_.get(),
                                                reply->get(), &err)) {
        if (is_history_lost(err.code, true)) {
            return Status(ErrorCode::kMongoHistoryLost,
                          std::string("the change stream cannot resume from the stored point: ") +
                              err.message,
                          static_cast<int>(err.code));
        }
        return status_from(err, "opening the change stream", reply->get());
    }
    cursor_id_ = reply_cursor_id(reply->get());
    return StreamReply{std::move(reply), "firstBatch"};
}

Result<StreamReply> MongocChangeStream::next() {
    Bson more;
    BSON_APPEND_INT64(more.get(), "getMore", cursor_id_);
    BSON_APPEND_UTF8(more.get(), "collection", "$cmd.aggregate");
    BSON_APPEND_INT64(more.get(), "maxTimeMS", max_await_ms_);
    auto reply = std::make_unique<Bson>();
    bson_destroy(reply->get());
    bson_error_t err;
    if (!mongoc_database_read_command_with_opts(db_.get(), more.get(), nullptr, opts_.get(),
                                                reply->get(), &err)) {
        cursor_id_ = 0;  // a failed getMore leaves no cursor worth killing
        if (is_history_lost(err.code, false)) {
            return Status(ErrorCode::kMongoHistoryLost,
                          std::string("the change stream cannot continue: ") + err.message,
                          static_cast<int>(err.code));
        }
        return status_from(err, "reading the change stream", reply->get());
    }
    cursor_id_ = reply_cursor_id(reply->get());
    return StreamReply{std::move(reply), "nextBatch"};
}

void MongocChangeStream::close() {
    if (cursor_id_ != 0 && db_) kill_aggregate_cursor(db_.get(), cursor_id_, opts_.get());
    cursor_id_ = 0;
}

Result<std::optional<Bson>> MongocChangeStream::find_by_id(const std::string& collection,
                                                           const Gid& gid) {
    CollectionPtr coll(
        mongoc_client_get_collection(client_, database_.c_str(), collection.c_str()));
    Bson filter, fopts;
    (void)append_gid(filter.get(), "_id", gid);
    BSON_APPEND_INT64(fopts.get(), "limit", 1);
    CursorPtr cur(mongoc_collection_find_with_opts(coll.get(), filter.get(), fopts.get(), nullptr));
    const bson_t* found = nullptr;
    bool have = mongoc_cursor_next(cur.get(), &found);
    bson_error_t err;
    const bson_t* ereply;
    if (mongoc_cursor_error_document(cur.get(), &err, &ereply)) {
        return status_from(err, "reading " + collection + " for an update", ereply);
    }
    if (!have) return std::optional<Bson>();
    return std::optional<Bson>(Bson::copy_of(found));
}

}  // namespace outpost::mongo::detail
