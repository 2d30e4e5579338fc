#pragma once
// The change-log record that a write transaction builds (changelog.cpp, changelog_stored.cpp).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/change_set_codec.hpp"

namespace outpost::detail {

// The change-log record a write transaction builds as it goes (changelog.cpp). Entries are encoded
// as soon as an object is first touched (the `object` production of docs/change-log.md) into chunks
// of bytes, so that a transaction of a million puts holds about the record's size in memory and
// makes no allocation per object. An entry that a later write in the same transaction changes (a
// second put of the object, a to-many change, a remove) is decoded into an ObjectChange once and
// edited there. Commit writes the entries in the order their objects were first touched, then the
// stored entries (changelog_stored.cpp).
struct PendingLog {
    static constexpr int32_t kEncoded = -1;  // Slot::edited: the entry is the slot's bytes
    static constexpr int32_t kDropped =
        -2;  // Slot::edited: the entry was cancelled (made and removed)
    struct Slot {
        uint32_t chunk = 0;
        uint32_t offset = 0;  // of the entry's bytes in `chunks[chunk]`
        uint32_t size = 0;
        int32_t edited = kEncoded;  // or an index into `edited`, or kDropped
    };
    // Per entity: its entries by local id, and the uid-table indexes of its uids. The ids the
    // sequence hands out in a transaction grow one by one, so most of them sit in one run of
    // consecutive ids; the others are in the map.
    struct EntitySlots {
        uint32_t entity_index = UINT32_MAX;  // of the entity uid in `uids`
        std::vector<uint32_t> prop_index;    // by property position, UINT32_MAX until used
        uint64_t run_first = 0;
        std::vector<uint32_t> run;  // slot of object run_first + i
        std::unordered_map<uint64_t, uint32_t> other;
        // New objects logged as stored entries (stored_log entities): runs of consecutive ids from
        // the sequence, in id order, without the ids removed again in the transaction
        // (changelog_stored.cpp).
        struct StoredRun {
            uint64_t first = 0, count = 0;
            std::vector<uint64_t> dropped;  // sorted
        };
        std::vector<StoredRun> stored;
        // The lowest id the committed records name as stored objects (changelog_stored.cpp), once
        // read.
        std::optional<uint64_t> stored_floor;
        // The stored run of the transaction that holds ID (not dropped from it), or null.
        StoredRun* stored_run_of(uint64_t id);
        uint32_t* find(uint64_t id);
        // FRESH: ID was just handed out by the sequence (above every id seen so far).
        void set(uint64_t id, uint32_t slot, bool fresh);
    };

    UidTable uids;  // the record is version 2: entries name uids by index into this table
    std::vector<std::string> chunks;
    std::vector<Slot> slots;
    std::vector<ObjectChange> edited;
    std::vector<EntitySlots> by_entity;  // by EntityInfo::pos
    size_t live = 0;                     // slots not dropped
    size_t stored_objects = 0;           // in the stored runs of every entity, not dropped
    std::vector<int> scratch;            // property positions of the put being logged

    bool empty() const { return live == 0 && stored_objects == 0; }
};

}  // namespace outpost::detail
