// A batch is committed in one server transaction, and a MongoDB transaction is never split: its
// events are all in the oplog when it commits, and a server ends a getMore batch early only when no
// event is ready or the batch is full; so only the trailing transaction of a full batch may
// continue in the next one, and it is held for it (the batch's point is then the token before it).
// The first batch, which a server cuts by count, is asked to be empty (change_stream_command).
#include "mongo/stream_reader.hpp"

namespace outpost::mongo::detail {

StreamReader::StreamReader(std::string marker_id, std::optional<Bson> start)
    : marker_id_(std::move(marker_id)) {
    if (start) last_token_ = std::move(*start);
}

Result<std::optional<ReadBatch>> StreamReader::take(StreamReply in) {
    const bson_t* r = in.reply->get();
    bson_t cursor_doc;
    if (!sub_doc(r, "cursor", &cursor_doc)) {
        return Status(ErrorCode::kMongoCommand, "change stream reply without a cursor");
    }
    ReadBatch batch;
    bson_t pb;
    if (sub_doc(&cursor_doc, "postBatchResumeToken", &pb))
        bson_concat(batch.commit_token.get(), &pb);
    batch.events = std::move(held_);
    held_.clear();
    uint32_t batch_bytes = 0;
    bool batch_empty = true;
    bson_iter_t it, arr;
    if (bson_iter_init_find(&it, &cursor_doc, in.batch_key) && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &arr)) {
        while (bson_iter_next(&arr)) {
            bson_t ev;
            uint32_t len;
            const uint8_t* data;
            if (!BSON_ITER_HOLDS_DOCUMENT(&arr)) continue;
            bson_iter_document(&arr, &len, &data);
            if (!bson_init_static(&ev, data, len)) continue;
            batch_bytes += len;
            batch_empty = false;
            batch.events.push_back(parse_event(&ev, marker_id_));
        }
    }
    // The commit point: the post-batch token, or before a trailing transaction of a full batch.
    if (!batch_empty && batch_bytes >= kFullBatchBytes && !batch.events.back().txn_key.empty() &&
        !hold_trailing_transaction(batch.events, batch.commit_token)) {
        return std::optional<ReadBatch>();
    }
    if (batch.events.empty() && batch.commit_token.empty()) return std::optional<ReadBatch>();
    if (batch.events.empty() && bson_equal(batch.commit_token.get(), last_token_.get())) {
        return std::optional<ReadBatch>();
    }
    last_token_ = batch.commit_token;
    batch.reply = std::move(in.reply);
    return std::optional<ReadBatch>(std::move(batch));
}

bool StreamReader::hold_trailing_transaction(std::vector<Event>& events, Bson& token) {
    size_t start = events.size();
    while (start > 0 && events[start - 1].txn_key == events.back().txn_key) --start;
    for (size_t h = start; h < events.size(); ++h) events[h].own();
    held_.assign(std::make_move_iterator(events.begin() + static_cast<long>(start)),
                 std::make_move_iterator(events.end()));
    events.resize(start);
    if (start == 0) return false;
    token = event_token(View(events[start - 1]).get());
    return true;
}

}  // namespace outpost::mongo::detail
