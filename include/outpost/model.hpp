#pragma once
// The entity model: entities, properties, relations and indexes, each with a stable id:uid pair.
// A model is read from the JSON model file (docs/model.md) or built in code with ModelBuilder, then
// validated. Stores keep the model they were last opened with and check that a new one evolves from
// it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/status.hpp"

namespace outpost {

// The model file format this version reads and writes ("modelVersion").
inline constexpr uint64_t kModelFileVersion = 1;
// Uids are 63-bit: 1 to 2^63-1, so that every JSON reader keeps them exact as integers.
inline constexpr uint64_t kMaxUid = (uint64_t{1} << 63) - 1;

// "3:8451234" in the model file: a small id local to its kind and a globally unique uid.
struct IdUid {
    uint32_t id = 0;
    uint64_t uid = 0;
    bool is_set() const { return id != 0 && uid != 0; }
    std::string to_string() const;
    static Result<IdUid> parse(std::string_view text);
    friend bool operator==(const IdUid&, const IdUid&) = default;
};

enum class PropertyType : uint8_t {
    kBool = 1,
    kInt8,
    kInt16,
    kInt32,
    kInt64,
    kFloat,
    kDouble,
    kString,
    kDate,
    kDateNano,
    kBytes,
    kFlex,
    kRelation,
    kInt8Vector,
    kInt16Vector,
    kInt32Vector,
    kInt64Vector,
    kFloatVector,
    kDoubleVector,
    kStringVector,
    kDateVector,
};
std::string_view property_type_name(PropertyType type);  // "int64", "stringVector", ...
std::optional<PropertyType> property_type_from_name(std::string_view name);
bool is_vector_type(PropertyType type);
bool is_integer_type(PropertyType type);  // int8..int64, date, dateNano, relation
// For vector types the element type (kInt8Vector -> kInt8, kDateVector -> kDate); else the type
// itself.
PropertyType element_type(PropertyType type);

// Property flags, combined as a bit set.
enum PropertyFlag : uint32_t {
    kFlagId = 1u << 0,
    kFlagIndexed = 1u << 1,        // value index (for strings: the value, prefix-limited)
    kFlagIndexHash = 1u << 2,      // hash index (strings only)
    kFlagUnique = 1u << 3,         // a put that reuses a value fails ...
    kFlagUniqueReplace = 1u << 4,  // ... or, with this flag too, replaces the other object
    kFlagUnsigned = 1u << 5,
    kFlagSyncClock = 1u << 6,
};
// The model file's names of the flags set in FLAGS, in bit order ("id", "indexed", ...).
std::vector<std::string_view> property_flag_names(uint32_t flags);

// How a property maps to a MongoDB type (used by the MongoDB connector).
enum class ExternalType : uint8_t {
    kNone = 0,
    kObjectId,
    kUuid,
    kUuidString,
    kUuidV4,
    kUuidV4String,
    kDecimal128,
    kBinary,
    kTimestamp,
    kRegex,
    kJavaScript,
    kJsonToNative,
    kFlexMap,
    kFlexVector,
};
std::string_view external_type_name(ExternalType type);
std::optional<ExternalType> external_type_from_name(std::string_view name);

struct Property {
    std::string name;
    IdUid id;
    PropertyType type = PropertyType::kInt64;
    uint32_t flags = 0;
    IdUid index_id;      // set when the property has an index (indexed, unique, or a relation)
    std::string target;  // relation: the target entity's name
    std::string external_name;
    ExternalType external_type = ExternalType::kNone;

    bool has(PropertyFlag f) const { return (flags & f) != 0; }
    bool has_index() const { return index_id.is_set(); }
};

// A to-many relation: an ordered list of target objects per source object.
struct Relation {
    std::string name;
    IdUid id;
    std::string target;
    std::string external_name;
};

struct Entity {
    std::string name;
    IdUid id;
    bool sync = false;
    std::vector<Property> properties;
    std::vector<Relation> relations;
    IdUid last_property_id;
    std::string external_name;

    const Property* property(std::string_view name) const;
    const Property* property_by_id(uint32_t id) const;
    const Relation* relation(std::string_view name) const;
    // The id property (flag id). REQUIRES: a validated model.
    const Property& id_property() const;
};

struct Model {
    std::vector<Entity> entities;
    IdUid last_entity_id;
    IdUid last_index_id;
    IdUid last_relation_id;
    std::vector<uint64_t> retired_entity_uids;
    std::vector<uint64_t> retired_property_uids;
    std::vector<uint64_t> retired_index_uids;
    std::vector<uint64_t> retired_relation_uids;

    const Entity* entity(std::string_view name) const;
    const Entity* entity_by_id(uint32_t id) const;
    const Entity* entity_by_uid(uint64_t uid) const;

    // Parses a model file's JSON text; validates it.
    static Result<Model> from_json(std::string_view json);
    static Result<Model> load(const std::string& path);
    // The model file's JSON text (pretty-printed, stable field order).
    std::string to_json() const;

    // Checks ids, uids, names, types, flags and relation targets. Errors name the entity or
    // property.
    Status validate() const;
};

// Checks that NEW may replace OLD in a store: same uid means the same thing (renames allowed), a
// uid that OLD had and NEW lacks must be retired in NEW, and no property changes type.
Status check_evolution(const Model& old_model, const Model& new_model);

// Builds a model in code. Ids are assigned in order; uids are derived from names unless given.
//   ModelBuilder b;
//   b.entity("User").sync().property("id", PropertyType::kInt64, kFlagId).property("name",
//   kString); Model m = b.build().value();
class ModelBuilder {
  public:
    ModelBuilder& entity(std::string name, uint64_t uid = 0);
    ModelBuilder& sync(bool on = true);
    ModelBuilder& external_name(
        std::string name);  // of the current entity or, after property(), property
    ModelBuilder& property(std::string name, PropertyType type, uint32_t flags = 0,
                           uint64_t uid = 0);
    ModelBuilder& relation_property(std::string name, std::string target, uint64_t uid = 0);
    ModelBuilder& external_type(ExternalType type);  // of the current property
    ModelBuilder& to_many(std::string name, std::string target, uint64_t uid = 0);
    // Validates and returns the model.
    Result<Model> build();

  private:
    uint64_t next_uid(std::string_view salt, uint64_t given);
    Model model_;
    bool last_was_property_ = false;
};

}  // namespace outpost
