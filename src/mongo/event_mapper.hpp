// Change events -> server changes: the inbound stream's decisions, without a server. An event of
// this server's own transaction is skipped (an echo), one of an unmapped collection or of the
// metadata collection is ignored, one that cannot be mapped becomes a dead letter (or, with strict
// conversions, an error that stops the stream), a drop of a mapped collection removes its objects
// when remove_objects_of_dropped_collections is on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mongo/change_event.hpp"
#include "mongo/connector.hpp"
#include "mongo/inbound_pending.hpp"
#include "mongo/mapping.hpp"

namespace outpost::mongo::detail {

// What the mapper reads besides the events: the server store's objects and MongoDB's documents.
class MapperEnv {
  public:
    virtual ~MapperEnv() = default;
    // The global ids of the objects of CM's entity in the server store (a drop removes them).
    virtual Result<std::vector<Gid>> object_gids(const CollectionMap& cm) = 0;
    // The document with _id GID of COLLECTION as MongoDB has it now; nullopt when it is gone.
    virtual Result<std::optional<Bson>> find_by_id(const std::string& collection,
                                                   const Gid& gid) = 0;
    // A mapped collection or the database was dropped or renamed (the connector's last error).
    virtual void report(const Status& s) = 0;
};

// The changes of one batch of events, ready to commit.
struct MappedBatch {
    std::vector<std::vector<Mapped>> groups;  // whole MongoDB transactions, in stream order
    std::vector<DeadLetter> dead;
    uint64_t applied_events = 0;  // events that changed or were mapped to nothing (unmapped fields)
    uint64_t echoes = 0;          // events of this server's own transactions
};

class EventMapper {
  public:
    // MAPPING and OPTIONS must outlive the mapper.
    EventMapper(const Mapping& mapping, const ConnectorOptions& options)
        : mapping_(mapping), options_(options) {}

    // Maps EVENTS (in stream order). OWN_SEEN, the newest outbound position the stream has passed,
    // moves past the markers of this server's transactions among them; each change carries it as it
    // was at its event. kMongoMapping when a change cannot be mapped and strict_from_mongo is on;
    // errors of ENV as they are.
    Result<MappedBatch> map(const std::vector<Event>& events, uint64_t& own_seen,
                            MapperEnv& env) const;

    // True when one of EVENTS drops or renames a collection or the database (it reads the store's
    // objects, so every earlier batch must be committed first).
    static bool has_drop(const std::vector<Event>& events);

  private:
    // The changes of one event I of EVENTS into OUT.groups.back() (see map()).
    Status map_event(const std::vector<Event>& events, size_t i, uint64_t own_seen, MapperEnv& env,
                     MappedBatch& out) const;
    Status map_drop(const Event& e, size_t i, uint64_t own_seen, MapperEnv& env,
                    MappedBatch& out) const;
    Status map_update(const Event& e, const CollectionMap& cm, const Gid& gid, size_t i,
                      uint64_t own_seen, MapperEnv& env, MappedBatch& out) const;
    // A change that cannot be mapped: a dead letter, or with strict conversions an error.
    Status dead_letter(const Event& e, const Status& why, MappedBatch& out) const;

    const Mapping& mapping_;
    const ConnectorOptions& options_;
};

}  // namespace outpost::mongo::detail
