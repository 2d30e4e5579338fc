#pragma once
// Checking a store for damage (`outpost check`, docs/storage.md "Checking a store"): every object
// of every entity is verified against its entity, the indexes against the objects, every synced
// object's global id against the GID map, and every change-log record is decoded. Damage is
// reported, never read through: checking a damaged store does not crash.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/store.hpp"

namespace outpost {

// One thing found wrong.
struct StoreDamage {
    enum class Area { kObject, kIndex, kGlobalId, kChangeLog };
    Area area = Area::kObject;
    std::string entity;  // the entity's name (empty for the change log)
    uint64_t id =
        0;  // the object's local id, or the change-log record's position; 0 for a whole index
    std::string what;  // what is wrong, naming the property or index at fault
};
std::string_view damage_area_name(
    StoreDamage::Area area);  // "object", "index", "global id", "change log"
// One line: "object Task 12: property text (string): the string is cut off ...",
// "change log record 7: ...".
std::string describe_damage(const StoreDamage& damage);

// Where a long check is.
struct CheckProgress {
    std::string step;    // "objects of Task", "change log"
    uint64_t done = 0;   // items of the step checked so far
    uint64_t total = 0;  // items of the step
};

struct CheckOptions {
    // Called with each damage as it is found, and now and then during a step (every 100,000 items).
    std::function<void(const StoreDamage&)> on_damage;
    std::function<void(const CheckProgress&)> on_progress;
};

struct CheckReport {
    uint64_t entities = 0;
    uint64_t objects = 0;  // objects looked at
    uint64_t damaged_objects =
        0;  // objects that fail verification (their indexes and GIDs are not checked)
    uint64_t index_problems = 0;  // missing entries, entries that name no object or a stale value
    uint64_t global_id_problems = 0;  // synced objects without a GID, or whose GID maps elsewhere
    uint64_t changelog_records = 0;
    uint64_t damaged_records = 0;     // change-log records that do not decode
    std::vector<StoreDamage> damage;  // everything found, in the order found
    bool clean() const { return damage.empty(); }
};

// Checks STORE in one read transaction (a long one on a large store: LMDB cannot reuse the pages
// freed meanwhile until it ends). Errors are for what stops the check itself (LMDB failing); damage
// goes into the report.
Result<CheckReport> check_store(Store& store, const CheckOptions& options = {});

}  // namespace outpost
