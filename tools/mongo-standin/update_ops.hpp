// Update documents: operator updates ($set ... $pop with $, $[] and $[id] paths), replacements,
// and the change-stream updateDescription they produce.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "bson_util.hpp"

namespace standin {

struct UpdateSpec {
    const bson_t* update = nullptr;         // operator document or replacement
    const bson_t* array_filters = nullptr;  // may be null
    const bson_t* query = nullptr;          // for the positional $ operator; may be null
    bool upsert_insert = false;             // apply $setOnInsert
    uint64_t now_ts = 0;                    // for $currentDate {$type: "timestamp"}
    int64_t now_ms = 0;                     // for $currentDate
};

struct UpdateOutcome {
    Doc doc;                // the new document
    bool modified = false;  // bytes differ from the original
    bool replacement = false;
    Node updated_fields = Node::document();  // dotted path -> new value
    std::vector<std::string> removed_fields;
    std::vector<std::pair<std::string, int32_t>> truncated_arrays;  // path, new size
};

// The order in which MongoDB 5.0 and later apply the fields of an update (so the order in which
// new fields are added): field names compare lexicographically, names made of digits numerically,
// dotted paths component by component. True when A comes before B.
bool update_path_less(std::string_view a, std::string_view b);

// True when `update` is an operator document ($-prefixed keys); false for a replacement.
bool is_operator_update(const bson_t* update);

// Applies `spec.update` to `original`. Errors: 9 unknown modifier, 40 conflicting paths,
// 66 _id changed, 14 type mismatch ($inc and friends), 2 bad values ($push on a non-array).
Result<UpdateOutcome> apply_update(const bson_t* original, const UpdateSpec& spec);

// The initial document of an upsert: the equality predicates of `query` (dotted paths expanded).
Doc upsert_seed(const bson_t* query);

}  // namespace standin
