#pragma once
// What one client's model knows of the synced entities: the filter for what it is sent.

#include <cstdint>
#include <map>
#include <set>

#include "outpost/changelog.hpp"

namespace outpost::sync::detail {

struct KnownEntity {
    std::set<uint64_t> properties;
    std::set<uint64_t> relations;
};

struct KnownModel {
    std::map<uint64_t, KnownEntity> entities;
    bool knows_all =
        false;  // every synced entity, property and relation of the server: no filtering

    bool knows(uint64_t entity_uid) const { return knows_all || entities.count(entity_uid) != 0; }
    // CHANGES without what this model does not know; puts left with nothing (and not new) are
    // dropped.
    ChangeSet filter(const ChangeSet& changes) const;
};

}  // namespace outpost::sync::detail
