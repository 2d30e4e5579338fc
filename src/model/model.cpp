// Model types, validation, evolution checks and the in-code builder.
#include "outpost/model.hpp"

#include <algorithm>
#include <charconv>
#include <functional>
#include <set>
#include <unordered_set>

namespace outpost {
namespace {

struct TypeName {
    PropertyType type;
    std::string_view name;
};
constexpr TypeName kTypeNames[] = {
    {PropertyType::kBool, "bool"},
    {PropertyType::kInt8, "int8"},
    {PropertyType::kInt16, "int16"},
    {PropertyType::kInt32, "int32"},
    {PropertyType::kInt64, "int64"},
    {PropertyType::kFloat, "float"},
    {PropertyType::kDouble, "double"},
    {PropertyType::kString, "string"},
    {PropertyType::kDate, "date"},
    {PropertyType::kDateNano, "dateNano"},
    {PropertyType::kBytes, "bytes"},
    {PropertyType::kFlex, "flex"},
    {PropertyType::kRelation, "relation"},
    {PropertyType::kInt8Vector, "int8Vector"},
    {PropertyType::kInt16Vector, "int16Vector"},
    {PropertyType::kInt32Vector, "int32Vector"},
    {PropertyType::kInt64Vector, "int64Vector"},
    {PropertyType::kFloatVector, "floatVector"},
    {PropertyType::kDoubleVector, "doubleVector"},
    {PropertyType::kStringVector, "stringVector"},
    {PropertyType::kDateVector, "dateVector"},
};

struct ExternalName {
    ExternalType type;
    std::string_view name;
};
constexpr ExternalName kExternalNames[] = {
    {ExternalType::kObjectId, "objectId"},
    {ExternalType::kUuid, "uuid"},
    {ExternalType::kUuidString, "uuidString"},
    {ExternalType::kUuidV4, "uuidV4"},
    {ExternalType::kUuidV4String, "uuidV4String"},
    {ExternalType::kDecimal128, "decimal128"},
    {ExternalType::kBinary, "binary"},
    {ExternalType::kTimestamp, "timestamp"},
    {ExternalType::kRegex, "regex"},
    {ExternalType::kJavaScript, "javascript"},
    {ExternalType::kJsonToNative, "jsonToNative"},
    {ExternalType::kFlexMap, "flexMap"},
    {ExternalType::kFlexVector, "flexVector"},
};

}  // namespace

std::string IdUid::to_string() const { return std::to_string(id) + ":" + std::to_string(uid); }

Result<IdUid> IdUid::parse(std::string_view text) {
    auto colon = text.find(':');
    IdUid v;
    if (colon == std::string_view::npos) {
        return Status(ErrorCode::kModelParse, "\"" + std::string(text) + "\" is not \"id:uid\"");
    }
    auto a = std::from_chars(text.data(), text.data() + colon, v.id);
    auto b = std::from_chars(text.data() + colon + 1, text.data() + text.size(), v.uid);
    if (a.ec != std::errc() || a.ptr != text.data() + colon || b.ec != std::errc() ||
        b.ptr != text.data() + text.size()) {
        return Status(ErrorCode::kModelParse, "\"" + std::string(text) + "\" is not \"id:uid\"");
    }
    return v;
}

std::string_view property_type_name(PropertyType type) {
    for (const auto& t : kTypeNames) {
        if (t.type == type) return t.name;
    }
    return "unknown";
}

std::optional<PropertyType> property_type_from_name(std::string_view name) {
    for (const auto& t : kTypeNames) {
        if (t.name == name) return t.type;
    }
    return std::nullopt;
}

bool is_vector_type(PropertyType t) { return t >= PropertyType::kInt8Vector; }

bool is_integer_type(PropertyType t) {
    switch (t) {
        case PropertyType::kInt8:
        case PropertyType::kInt16:
        case PropertyType::kInt32:
        case PropertyType::kInt64:
        case PropertyType::kDate:
        case PropertyType::kDateNano:
        case PropertyType::kRelation:
            return true;
        default:
            return false;
    }
}

PropertyType element_type(PropertyType t) {
    switch (t) {
        case PropertyType::kInt8Vector:
            return PropertyType::kInt8;
        case PropertyType::kInt16Vector:
            return PropertyType::kInt16;
        case PropertyType::kInt32Vector:
            return PropertyType::kInt32;
        case PropertyType::kInt64Vector:
            return PropertyType::kInt64;
        case PropertyType::kFloatVector:
            return PropertyType::kFloat;
        case PropertyType::kDoubleVector:
            return PropertyType::kDouble;
        case PropertyType::kStringVector:
            return PropertyType::kString;
        case PropertyType::kDateVector:
            return PropertyType::kDate;
        default:
            return t;
    }
}

std::string_view external_type_name(ExternalType type) {
    for (const auto& t : kExternalNames) {
        if (t.type == type) return t.name;
    }
    return "";
}

std::optional<ExternalType> external_type_from_name(std::string_view name) {
    for (const auto& t : kExternalNames) {
        if (t.name == name) return t.type;
    }
    return std::nullopt;
}

const Property* Entity::property(std::string_view n) const {
    for (const auto& p : properties) {
        if (p.name == n) return &p;
    }
    return nullptr;
}

const Property* Entity::property_by_id(uint32_t pid) const {
    for (const auto& p : properties) {
        if (p.id.id == pid) return &p;
    }
    return nullptr;
}

const Relation* Entity::relation(std::string_view n) const {
    for (const auto& r : relations) {
        if (r.name == n) return &r;
    }
    return nullptr;
}

const Property& Entity::id_property() const {
    for (const auto& p : properties) {
        if (p.has(kFlagId)) return p;
    }
    return properties.front();
}

const Entity* Model::entity(std::string_view n) const {
    for (const auto& e : entities) {
        if (e.name == n) return &e;
    }
    return nullptr;
}

const Entity* Model::entity_by_id(uint32_t eid) const {
    for (const auto& e : entities) {
        if (e.id.id == eid) return &e;
    }
    return nullptr;
}

const Entity* Model::entity_by_uid(uint64_t uid) const {
    for (const auto& e : entities) {
        if (e.id.uid == uid) return &e;
    }
    return nullptr;
}

// ---- ModelBuilder ----

uint64_t ModelBuilder::next_uid(std::string_view salt, uint64_t given) {
    if (given != 0) return given;
    // A stable uid from the qualified name, so the same code builds the same model every time.
    uint64_t h = 1469598103934665603ULL;  // FNV-1a: stable across compilers and library versions
    for (unsigned char c : salt) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ULL;
    return (h >> 1) | 1;  // non-zero, below 2^63 so JSON readers keep it exact
}

ModelBuilder& ModelBuilder::entity(std::string name, uint64_t uid) {
    Entity e;
    e.id = {model_.last_entity_id.id + 1, next_uid("entity:" + name, uid)};
    e.name = std::move(name);
    model_.last_entity_id = e.id;
    model_.entities.push_back(std::move(e));
    last_was_property_ = false;
    return *this;
}

ModelBuilder& ModelBuilder::sync(bool on) {
    model_.entities.back().sync = on;
    return *this;
}

ModelBuilder& ModelBuilder::external_name(std::string name) {
    Entity& e = model_.entities.back();
    if (last_was_property_) {
        e.properties.back().external_name = std::move(name);
    } else {
        e.external_name = std::move(name);
    }
    return *this;
}

ModelBuilder& ModelBuilder::property(std::string name, PropertyType type, uint32_t flags,
                                     uint64_t uid) {
    Entity& e = model_.entities.back();
    Property p;
    p.id = {e.last_property_id.id + 1, next_uid("property:" + e.name + "." + name, uid)};
    p.name = std::move(name);
    p.type = type;
    p.flags = flags;
    if (flags & (kFlagIndexed | kFlagIndexHash | kFlagUnique)) {
        p.index_id = {model_.last_index_id.id + 1, next_uid("index:" + e.name + "." + p.name, 0)};
        model_.last_index_id = p.index_id;
    }
    e.last_property_id = p.id;
    e.properties.push_back(std::move(p));
    last_was_property_ = true;
    return *this;
}

ModelBuilder& ModelBuilder::relation_property(std::string name, std::string target, uint64_t uid) {
    property(std::move(name), PropertyType::kRelation, 0, uid);
    Entity& e = model_.entities.back();
    Property& p = e.properties.back();
    p.target = std::move(target);
    p.index_id = {model_.last_index_id.id + 1, next_uid("index:" + e.name + "." + p.name, 0)};
    model_.last_index_id = p.index_id;
    return *this;
}

ModelBuilder& ModelBuilder::external_type(ExternalType type) {
    model_.entities.back().properties.back().external_type = type;
    return *this;
}

ModelBuilder& ModelBuilder::to_many(std::string name, std::string target, uint64_t uid) {
    Entity& e = model_.entities.back();
    Relation r;
    r.id = {model_.last_relation_id.id + 1, next_uid("relation:" + e.name + "." + name, uid)};
    r.name = std::move(name);
    r.target = std::move(target);
    model_.last_relation_id = r.id;
    e.relations.push_back(std::move(r));
    last_was_property_ = false;
    return *this;
}

Result<Model> ModelBuilder::build() {
    OUTPOST_RETURN_IF_ERROR(model_.validate());
    return model_;
}

}  // namespace outpost
