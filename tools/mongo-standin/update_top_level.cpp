#include "update_top_level.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <vector>

#include "wire.hpp"

namespace standin {

namespace {

// The bytes of the element an iterator is on: type, key and value, exactly as stored.
std::string_view element_bytes(const bson_iter_t* it) {
    return std::string_view(reinterpret_cast<const char*>(it->raw) + it->off,
                            it->next_off - it->off);
}

// Fields of an update made only of $set and $unset of top-level names (the shape drivers and
// connectors send nearly always), in update order; false when the update has any other shape.
struct TopLevelField {
    std::string_view name;
    std::string_view element;  // the update's element: type, name and new value
    bool unset = false;
    bool existed = false;  // the original has the field
    bool same = false;     // ... with the bytes the update sets
};
constexpr size_t kMaxTopLevelFields = 64;

bool top_level_set_unset(const bson_t* update, std::vector<TopLevelField>* fields) {
    bson_iter_t it;
    if (!bson_iter_init(&it, update)) return false;
    while (bson_iter_next(&it)) {
        std::string_view op(bson_iter_key(&it), bson_iter_key_len(&it));
        if ((op != "$set" && op != "$unset") || !BSON_ITER_HOLDS_DOCUMENT(&it)) return false;
        bson_iter_t f;
        if (!bson_iter_recurse(&it, &f)) return false;
        while (bson_iter_next(&f)) {
            std::string_view name(bson_iter_key(&f), bson_iter_key_len(&f));
            // Empty, dotted, positional or $-names and _id take the general path (with its errors).
            if (name.empty() || name[0] == '$' || name == "_id" ||
                name.find('.') != std::string_view::npos || fields->size() == kMaxTopLevelFields)
                return false;
            for (const auto& other : *fields)
                if (other.name == name) return false;  // conflict: error 40 from the general path
            fields->push_back(TopLevelField{name, element_bytes(&f), op == "$unset", false, false});
        }
    }
    return true;
}

// Applies an update of top-level $set/$unset fields on the BSON bytes: untouched fields are
// copied byte for byte, set fields replace the value in place or are appended in update order,
// unset fields are dropped. The outcome (document, updatedFields, removedFields) is the general
// path's. Nothing when the original's shape needs the general path (_id not first, a touched
// field name that occurs twice).
std::optional<UpdateOutcome> apply_top_level(const bson_t* original, const bson_t* update,
                                             std::vector<TopLevelField>& fields) {
    std::string buf(4, '\0');
    buf.reserve(original->len + 64);
    bson_iter_t it;
    if (!bson_iter_init(&it, original)) return std::nullopt;
    bool first = true;
    while (bson_iter_next(&it)) {
        std::string_view key(bson_iter_key(&it), bson_iter_key_len(&it));
        if (!first && key == "_id") return std::nullopt;
        first = false;
        TopLevelField* hit = nullptr;
        for (auto& f : fields) {
            if (f.name == key) {
                hit = &f;
                break;
            }
        }
        if (!hit) {
            buf.append(element_bytes(&it));
            continue;
        }
        if (hit->existed) return std::nullopt;
        hit->existed = true;
        if (hit->unset) continue;
        hit->same = hit->element == element_bytes(&it);
        buf.append(hit->element);
    }
    UpdateOutcome out;
    // The update's fields again, in the same order as FIELDS, for the updatedFields values.
    bson_iter_t op, f;
    size_t i = 0;
    std::vector<const TopLevelField*> added;
    if (!bson_iter_init(&op, update)) return std::nullopt;
    while (bson_iter_next(&op)) {
        if (!bson_iter_recurse(&op, &f)) return std::nullopt;
        while (bson_iter_next(&f) && i < fields.size()) {
            const TopLevelField& field = fields[i++];
            if (field.unset) {
                if (field.existed) out.removed_fields.emplace_back(field.name);
                continue;
            }
            if (!field.existed) added.push_back(&field);
            if (!field.same)
                out.updated_fields.kids.emplace_back(std::string(field.name), Node::from_iter(&f));
        }
    }
    // New fields are appended in the order MongoDB 5.0+ applies them: by name (numbers by value).
    std::stable_sort(added.begin(), added.end(),
                     [](const TopLevelField* a, const TopLevelField* b) {
                         return update_path_less(a->name, b->name);
                     });
    for (const TopLevelField* field : added) buf.append(field->element);
    buf.push_back('\0');
    uint32_t len = static_cast<uint32_t>(buf.size());
    std::memcpy(buf.data(), &len, 4);  // little-endian
    out.doc = Doc::from_bytes(reinterpret_cast<const uint8_t*>(buf.data()), buf.size());
    out.modified = buf.size() != original->len ||
                   std::memcmp(buf.data(), bson_get_data(original), buf.size()) != 0;
    return out;
}

}  // namespace

std::optional<Result<UpdateOutcome>> apply_top_level_update(const bson_t* original,
                                                            const bson_t* update) {
    std::vector<TopLevelField> fields;
    fields.reserve(16);
    if (!top_level_set_unset(update, &fields)) return std::nullopt;
    std::optional<UpdateOutcome> out = apply_top_level(original, update, fields);
    if (!out) return std::nullopt;
    if (!bson_structure_ok(bson_get_data(out->doc.get()), out->doc.get()->len))
        return Result<UpdateOutcome>(
            Error{2, "the updated document would be nested deeper than 200 levels", {}});
    if (out->doc.get()->len > 16777216u)
        return Result<UpdateOutcome>(
            Error{10334, "Resulting document after update is larger than 16777216", {}});
    if (!out->modified) {
        out->updated_fields = Node::document();
        out->removed_fields.clear();
    }
    return Result<UpdateOutcome>(std::move(*out));
}

}  // namespace standin
