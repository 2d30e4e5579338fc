#include "mongo/inbound_stream.hpp"

#include <algorithm>

#include "mongo/event_mapper.hpp"
#include "mongo/inbound_committer.hpp"
#include "mongo/stream_reader.hpp"

namespace outpost::mongo::detail {

namespace {

// The mapper's reads: the server store's objects and, through the stream's source, MongoDB's
// documents.
class StreamMapperEnv final : public MapperEnv {
  public:
    StreamMapperEnv(const InboundContext& ctx, ChangeStreamSource& source)
        : ctx_(ctx), source_(source) {}

    Result<std::vector<Gid>> object_gids(const CollectionMap& cm) override {
        std::vector<Gid> gids;
        OUTPOST_ASSIGN_OR_RETURN(auto txn, ctx_.store.begin_read());
        OUTPOST_ASSIGN_OR_RETURN(auto box, ctx_.store.box(cm.entity->name));
        OUTPOST_ASSIGN_OR_RETURN(auto ids, box.ids(txn));
        for (uint64_t id : ids) {
            OUTPOST_ASSIGN_OR_RETURN(auto g, gid_of(txn, box, id));
            if (g) gids.push_back(std::move(*g));
        }
        return gids;
    }
    Result<std::optional<Bson>> find_by_id(const std::string& collection, const Gid& gid) override {
        ctx_.state.count(&ConnectorStatus::lookups);
        return source_.find_by_id(collection, gid);
    }
    void report(const Status& s) override { ctx_.state.set_error(s); }

  private:
    const InboundContext& ctx_;
    ChangeStreamSource& source_;
};

}  // namespace

Status run_change_stream(const InboundContext& ctx, ChangeStreamSource& source,
                         std::optional<Bson> start, uint64_t own_seen) {
    OUTPOST_ASSIGN_OR_RETURN(auto first, source.open(start ? start->get() : nullptr));
    StreamReader reader(ctx.marker_id, std::move(start));
    EventMapper mapper(ctx.mapping, ctx.options);
    StreamMapperEnv env(ctx, source);
    InboundCommitter committer(
        {ctx.store, ctx.options.strict_from_mongo, ctx.state, ctx.on_commit, ctx.stopping},
        own_seen);

    // Reads and maps one reply on this thread and hands its batch to the committer: the reply of
    // batch N+1 is read and mapped while batch N is committed.
    auto process = [&](StreamReply reply) -> Status {
        OUTPOST_ASSIGN_OR_RETURN(auto read, reader.take(std::move(reply)));
        if (!read) return Status::ok();
        if (EventMapper::has_drop(read->events)) committer.wait_idle();
        own_seen = std::max(own_seen, committer.committed_seen());
        OUTPOST_ASSIGN_OR_RETURN(auto mapped, mapper.map(read->events, own_seen, env));
        ctx.state.note_read(read->events.size());
        // False when the committer failed: its status ends the stream.
        (void)committer.push({std::move(*read), std::move(mapped), own_seen});
        return Status::ok();
    };

    ctx.state.set_streaming(true);
    Status result = process(std::move(first));
    while (result && source.has_more() && !ctx.stopping() && !committer.failed() &&
           !ctx.import_waiting()) {
        auto next = source.next();
        result = next ? process(std::move(next).value()) : next.status();
    }
    if (Status committed = committer.finish(); !committed) result = committed;
    ctx.state.clear_pending();
    ctx.state.set_streaming(false);
    source.close();
    return result;
}

}  // namespace outpost::mongo::detail
