// Documents, updates and change events between the model and BSON (docs/mongo-mapping.md); the
// values themselves are in mapping_values.cpp.
#include "mongo/mapping.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "mongo/mapping_util.hpp"

namespace outpost::mongo {
namespace {

using nlohmann::ordered_json;
using namespace mapping_detail;

Value absent_value(const Property& p, bool empty_list) {
    if (!empty_list || !is_vector_type(p.type)) return Value();
    switch (element_type(p.type)) {
        case PropertyType::kFloat:
        case PropertyType::kDouble:
            return Value(Value::DoubleVector{});
        case PropertyType::kString:
            return Value(Value::StringVector{});
        default:
            return Value(Value::IntVector{});
    }
}

void put_property(ObjectChange& change, uint64_t uid, Value v) {
    for (auto& pc : change.properties) {
        if (pc.property_uid == uid) {
            pc.value = std::move(v);
            return;
        }
    }
    change.properties.push_back({uid, std::move(v)});
}

void put_to_many(ObjectChange& change, uint64_t uid, std::vector<Gid> targets) {
    for (auto& tc : change.to_many) {
        if (tc.relation_uid == uid) {
            tc.targets = std::move(targets);
            return;
        }
    }
    change.to_many.push_back({uid, std::move(targets)});
}

bool valid_field_name(std::string_view f) {
    return !f.empty() && f[0] != '$' && f.find('.') == std::string_view::npos && f != "_id" &&
           f.find('\0') == std::string_view::npos;
}

}  // namespace

// ---- CollectionMap

const FieldMap* CollectionMap::field(std::string_view name) const {
    for (const auto& f : fields) {
        if (f.field == name) return &f;
    }
    return nullptr;
}
const ToManyMap* CollectionMap::to_many_field(std::string_view name) const {
    for (const auto& t : to_many) {
        if (t.field == name) return &t;
    }
    return nullptr;
}
const FieldMap* CollectionMap::property_by_uid(uint64_t uid) const {
    for (const auto& f : fields) {
        if (f.property->id.uid == uid) return &f;
    }
    return nullptr;
}
const ToManyMap* CollectionMap::relation_by_uid(uint64_t uid) const {
    for (const auto& t : to_many) {
        if (t.relation->id.uid == uid) return &t;
    }
    return nullptr;
}

UpdateSpec::UpdateSpec() {
    bson_init(&set);
    bson_init(&unset);
}
UpdateSpec::~UpdateSpec() {
    bson_destroy(&set);
    bson_destroy(&unset);
}
bool UpdateSpec::empty() const { return bson_empty(&set) && bson_empty(&unset); }
void UpdateSpec::build(bson_t* update) const {
    if (!bson_empty(&set)) bson_append_document(update, "$set", 4, &set);
    if (!bson_empty(&unset)) bson_append_document(update, "$unset", 6, &unset);
}

// ---- Mapping

Result<Mapping> Mapping::create(const Model& model, MappingOptions options) {
    Mapping m;
    m.options_ = options;
    for (const auto& e : model.entities) {
        if (!e.sync) continue;
        CollectionMap c;
        c.entity = &e;
        c.collection = e.external_name.empty() ? e.name : e.external_name;
        if (c.collection.empty() || c.collection[0] == '$' ||
            c.collection.find('\0') != std::string::npos || c.collection.rfind("system.", 0) == 0 ||
            c.collection == "__outpost_meta") {
            return Status(ErrorCode::kModelInvalid, "entity " + e.name + ": \"" + c.collection +
                                                        "\" cannot be a MongoDB collection name");
        }
        for (const auto& other : m.collections_) {
            if (other.collection == c.collection) {
                return Status(ErrorCode::kModelInvalid, "entities " + other.entity->name + " and " +
                                                            e.name + " both map to collection \"" +
                                                            c.collection + "\"");
            }
        }
        auto taken = [&](const std::string& f) {
            return c.field(f) != nullptr || c.to_many_field(f) != nullptr;
        };
        for (size_t i = 0; i < e.properties.size(); ++i) {
            const Property& p = e.properties[i];
            if (p.has(kFlagId)) continue;
            std::string f = p.external_name.empty() ? p.name : p.external_name;
            if (!valid_field_name(f)) {
                return Status(ErrorCode::kModelInvalid,
                              "property " + e.name + "." + p.name + ": \"" + f +
                                  "\" cannot be a MongoDB field name here");
            }
            if (taken(f)) {
                return Status(ErrorCode::kModelInvalid,
                              "entity " + e.name + ": two properties map to field \"" + f + "\"");
            }
            c.fields.push_back({&p, static_cast<int>(i), std::move(f)});
        }
        for (const auto& r : e.relations) {
            std::string f = r.external_name.empty() ? r.name : r.external_name;
            if (!valid_field_name(f)) {
                return Status(ErrorCode::kModelInvalid,
                              "relation " + e.name + "." + r.name + ": \"" + f +
                                  "\" cannot be a MongoDB field name here");
            }
            if (taken(f)) {
                return Status(ErrorCode::kModelInvalid,
                              "entity " + e.name + ": two properties map to field \"" + f + "\"");
            }
            c.to_many.push_back({&r, std::move(f)});
        }
        m.collections_.push_back(std::move(c));
    }
    return m;
}

const CollectionMap* Mapping::by_collection(std::string_view name) const {
    for (const auto& c : collections_) {
        if (c.collection == name) return &c;
    }
    return nullptr;
}

const CollectionMap* Mapping::by_entity_uid(uint64_t uid) const {
    for (const auto& c : collections_) {
        if (c.entity->id.uid == uid) return &c;
    }
    return nullptr;
}

Status Mapping::build_update(const CollectionMap& c, const ObjectChange& change, UpdateSpec& spec,
                             std::vector<std::string>* skipped) const {
    std::vector<bool> listed(c.fields.size(), false);
    for (const auto& pc : change.properties) {
        const FieldMap* fm = c.property_by_uid(pc.property_uid);
        if (!fm) continue;
        listed[static_cast<size_t>(fm - c.fields.data())] = true;
        if (pc.value.is_null()) {
            if (options_.omit_null_to_mongo) {
                bson_append_utf8(&spec.unset, fm->field.data(), key_len(fm->field), "", 0);
            } else {
                bson_append_null(&spec.set, fm->field.data(), key_len(fm->field));
            }
            continue;
        }
        Status st = append_value(&spec.set, fm->field, *fm->property, pc.value);
        if (!st) {
            if (options_.strict_to_mongo) return st;
            if (skipped) skipped->push_back(st.message());
        }
    }
    std::vector<bool> listed_rel(c.to_many.size(), false);
    for (const auto& tc : change.to_many) {
        const ToManyMap* tm = c.relation_by_uid(tc.relation_uid);
        if (!tm) continue;
        listed_rel[static_cast<size_t>(tm - c.to_many.data())] = true;
        bson_t arr;
        bson_append_array_begin(&spec.set, tm->field.data(), key_len(tm->field), &arr);
        char buf[16];
        for (size_t i = 0; i < tc.targets.size(); ++i) {
            const char* ik;
            size_t ikl = bson_uint32_to_string(static_cast<uint32_t>(i), &ik, buf, sizeof buf);
            // Targets come from this store's GID tables, so they are valid GIDs.
            (void)append_gid(&arr, std::string_view(ik, ikl), tc.targets[i]);
        }
        bson_append_array_end(&spec.set, &arr);
    }
    if (change.is_new) {
        for (size_t i = 0; i < c.fields.size(); ++i) {
            if (listed[i]) continue;
            const auto& f = c.fields[i].field;
            if (options_.omit_null_to_mongo) {
                bson_append_utf8(&spec.unset, f.data(), key_len(f), "", 0);
            } else {
                bson_append_null(&spec.set, f.data(), key_len(f));
            }
        }
        for (size_t i = 0; i < c.to_many.size(); ++i) {
            if (listed_rel[i]) continue;
            bson_t arr;
            bson_append_array_begin(&spec.set, c.to_many[i].field.data(),
                                    key_len(c.to_many[i].field), &arr);
            bson_append_array_end(&spec.set, &arr);
        }
    }
    return Status::ok();
}

Status Mapping::set_from_field(const CollectionMap& c, std::string_view field,
                               const bson_iter_t* it, ObjectChange& change) const {
    if (const FieldMap* fm = c.field(field)) {
        if (!it) {
            put_property(change, fm->property->id.uid,
                         absent_value(*fm->property, options_.empty_list_for_absent));
            return Status::ok();
        }
        OUTPOST_ASSIGN_OR_RETURN(Value v, value_from_bson(*fm->property, *it));
        put_property(change, fm->property->id.uid, std::move(v));
        return Status::ok();
    }
    if (const ToManyMap* tm = c.to_many_field(field)) {
        std::vector<Gid> targets;
        if (it && bson_iter_type(it) != BSON_TYPE_NULL) {
            if (bson_iter_type(it) != BSON_TYPE_ARRAY) {
                return mapping_error("field " + std::string(field) +
                                     ": a to-many relation must be an array of _ids, not " +
                                     bson_type_name(bson_iter_type(it)));
            }
            bson_iter_t child;
            bson_iter_recurse(it, &child);
            while (bson_iter_next(&child)) {
                auto g = gid_from_bson(child);
                if (!g)
                    return mapping_error("field " + std::string(field) + ": relation target " +
                                         g.status().message());
                targets.push_back(std::move(*g));
            }
        }
        put_to_many(change, tm->relation->id.uid, std::move(targets));
    }
    return Status::ok();
}

Result<ObjectChange> Mapping::change_from_document(const CollectionMap& c,
                                                   const bson_t* doc) const {
    ObjectChange change;
    change.kind = ObjectChange::kPut;
    change.entity_uid = c.entity->id.uid;
    bson_iter_t it;
    if (!bson_iter_init(&it, doc)) return mapping_error("malformed document");
    bool have_id = false;
    change.properties.reserve(c.fields.size());
    change.to_many.reserve(c.to_many.size());
    std::vector<bool> seen(c.fields.size() + c.to_many.size(), false);
    while (bson_iter_next(&it)) {
        std::string_view key(bson_iter_key(&it), bson_iter_key_len(&it));
        if (key == "_id") {
            OUTPOST_ASSIGN_OR_RETURN(change.gid, gid_from_bson(it));
            have_id = true;
            continue;
        }
        if (const FieldMap* fm = c.field(key)) {
            seen[static_cast<size_t>(fm - c.fields.data())] = true;
        } else if (const ToManyMap* tm = c.to_many_field(key)) {
            seen[c.fields.size() + static_cast<size_t>(tm - c.to_many.data())] = true;
        } else {
            continue;
        }
        OUTPOST_RETURN_IF_ERROR(set_from_field(c, key, &it, change));
    }
    if (!have_id) return mapping_error("document without _id");
    for (size_t i = 0; i < c.fields.size(); ++i) {
        if (!seen[i])
            OUTPOST_RETURN_IF_ERROR(set_from_field(c, c.fields[i].field, nullptr, change));
    }
    for (size_t i = 0; i < c.to_many.size(); ++i) {
        if (!seen[c.fields.size() + i])
            OUTPOST_RETURN_IF_ERROR(set_from_field(c, c.to_many[i].field, nullptr, change));
    }
    return change;
}

Result<ObjectChange> Mapping::change_from_update(const CollectionMap& c, const Gid& gid,
                                                 const bson_t* desc,
                                                 std::vector<std::string>* needs_lookup) const {
    ObjectChange change;
    change.kind = ObjectChange::kPut;
    change.entity_uid = c.entity->id.uid;
    change.gid = gid;
    auto mapped = [&](std::string_view f) { return c.field(f) || c.to_many_field(f); };
    auto lookup = [&](std::string_view path) {
        std::string top(path.substr(0, path.find('.')));
        if (!mapped(top) || !needs_lookup) return;
        if (std::find(needs_lookup->begin(), needs_lookup->end(), top) == needs_lookup->end()) {
            needs_lookup->push_back(top);
        }
    };
    bson_iter_t it, child;
    if (bson_iter_init_find(&it, desc, "updatedFields") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
        bson_iter_recurse(&it, &child)) {
        while (bson_iter_next(&child)) {
            std::string_view key(bson_iter_key(&child), bson_iter_key_len(&child));
            if (key.find('.') != std::string_view::npos) {
                lookup(key);
            } else if (mapped(key)) {
                OUTPOST_RETURN_IF_ERROR(set_from_field(c, key, &child, change));
            }
        }
    }
    if (bson_iter_init_find(&it, desc, "removedFields") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &child)) {
        while (bson_iter_next(&child)) {
            if (!BSON_ITER_HOLDS_UTF8(&child)) continue;
            uint32_t len;
            const char* s = bson_iter_utf8(&child, &len);
            std::string_view key(s, len);
            if (key.find('.') != std::string_view::npos) {
                lookup(key);
            } else if (mapped(key)) {
                OUTPOST_RETURN_IF_ERROR(set_from_field(c, key, nullptr, change));
            }
        }
    }
    if (bson_iter_init_find(&it, desc, "truncatedArrays") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &child)) {
        while (bson_iter_next(&child)) {
            bson_iter_t f;
            if (BSON_ITER_HOLDS_DOCUMENT(&child) && bson_iter_recurse(&child, &f) &&
                bson_iter_find(&f, "field") && BSON_ITER_HOLDS_UTF8(&f)) {
                uint32_t len;
                const char* s = bson_iter_utf8(&f, &len);
                lookup(std::string_view(s, len));
            }
        }
    }
    if (needs_lookup) {
        // A field read from the looked-up document replaces any direct value of it.
        for (const auto& f : *needs_lookup) {
            if (const FieldMap* fm = c.field(f)) {
                std::erase_if(change.properties, [&](const PropertyChange& pc) {
                    return pc.property_uid == fm->property->id.uid;
                });
            }
        }
    }
    return change;
}

Status Mapping::add_fields_from_document(const CollectionMap& c, const bson_t* doc,
                                         const std::vector<std::string>& fields,
                                         ObjectChange& change) const {
    for (const auto& f : fields) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, doc, f.c_str())) {
            OUTPOST_RETURN_IF_ERROR(set_from_field(c, f, &it, change));
        } else {
            OUTPOST_RETURN_IF_ERROR(set_from_field(c, f, nullptr, change));
        }
    }
    return Status::ok();
}

}  // namespace outpost::mongo
