#pragma once
// The mapping between a model's synced entities and MongoDB collections (docs/mongo-mapping.md):
// entity <-> collection, property <-> field, id <-> _id (GIDs are the _id's BSON type byte and
// value), property values <-> BSON values, to-one relations <-> the target's _id, to-many relations
// <-> an array of target _ids (order and duplicates kept).
//
// Thread-safety: a Mapping is immutable after create(); share it freely.

#include <bson/bson.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/changelog.hpp"
#include "outpost/model.hpp"

namespace outpost::mongo {

struct MappingOptions {
    // Bytes of one value's BSON; 0: no limit (maxPropertySizeToMongoDb).
    size_t max_property_size = 0;
    // A change that cannot be mapped stops the stream (no dead letter); lossy conversions into
    // flex (ObjectId, Date, ...) are errors.
    bool strict_from_mongo = false;
    // A value that cannot be written blocks outbound instead of being reported and left out.
    bool strict_to_mongo = false;
    // Null values are $unset instead of written as null.
    bool omit_null_to_mongo = false;
    // Absent vector and to-many fields read as [] instead of null/[].
    bool empty_list_for_absent = false;
};

struct FieldMap {
    const Property* property = nullptr;
    int pos = 0;        // position in Entity::properties
    std::string field;  // top-level MongoDB field name
};
struct ToManyMap {
    const Relation* relation = nullptr;
    std::string field;
};
struct CollectionMap {
    const Entity* entity = nullptr;
    std::string collection;
    std::vector<FieldMap> fields;  // every property except the id
    std::vector<ToManyMap> to_many;

    const FieldMap* field(std::string_view name) const;
    const ToManyMap* to_many_field(std::string_view name) const;
    const FieldMap* property_by_uid(uint64_t uid) const;
    const ToManyMap* relation_by_uid(uint64_t uid) const;
};

// The update of one put: `$set` and `$unset` contents (either may be empty).
struct UpdateSpec {
    bson_t set;
    bson_t unset;
    UpdateSpec();
    ~UpdateSpec();
    UpdateSpec(const UpdateSpec&) = delete;
    UpdateSpec& operator=(const UpdateSpec&) = delete;
    // {$set: ..., $unset: ...} without empty operators; an empty document when nothing changes.
    void build(bson_t* update) const;
    bool empty() const;
};

class Mapping {
  public:
    // Maps every synced entity of MODEL. Errors (kModelInvalid): two entities on one collection, a
    // collection name MongoDB rejects, two properties on one field, a field named `_id` or starting
    // with `$` or holding a `.`.
    static Result<Mapping> create(const Model& model, MappingOptions options = {});

    const std::vector<CollectionMap>& collections() const { return collections_; }
    const CollectionMap* by_collection(std::string_view name) const;
    const CollectionMap* by_entity_uid(uint64_t uid) const;
    const MappingOptions& options() const { return options_; }

    // ---- server -> MongoDB
    // Appends V (a value of property P; relations: the target GID as Bytes) under KEY.
    // Errors: kMongoMapping (a value its externalType cannot express), kMongoTooLarge.
    Status append_value(bson_t* out, std::string_view key, const Property& p, const Value& v) const;
    // The $set/$unset of one put. A new object also sets the mapped fields it does not list (null,
    // or left out with omit_null_to_mongo; to-many lists: []). Without strict_to_mongo a value that
    // cannot be written is left out and its reason added to SKIPPED; with it, that is the error.
    Status build_update(const CollectionMap& c, const ObjectChange& change, UpdateSpec& spec,
                        std::vector<std::string>* skipped) const;

    // ---- MongoDB -> server
    // The value of property P from a BSON value. Errors: kMongoMapping naming the field and types.
    Result<Value> value_from_bson(const Property& p, const bson_iter_t& it) const;
    // A put that sets every mapped property from the full document DOC (absent fields: null, or []
    // for vectors with empty_list_for_absent; absent to-many: []). Errors: kMongoMapping (the first
    // field that does not fit, or an _id that is no GID type).
    Result<ObjectChange> change_from_document(const CollectionMap& c, const bson_t* doc) const;
    // A put from an update event's updateDescription. Top-level fields map directly; fields reached
    // by a dotted path or a truncated array are added to NEEDS_LOOKUP (field names) to be read from
    // the current document with add_fields_from_document(). Unmapped fields are ignored.
    Result<ObjectChange> change_from_update(const CollectionMap& c, const Gid& gid,
                                            const bson_t* update_description,
                                            std::vector<std::string>* needs_lookup) const;
    // Sets in CHANGE the properties of FIELDS from the full document DOC.
    Status add_fields_from_document(const CollectionMap& c, const bson_t* doc,
                                    const std::vector<std::string>& fields,
                                    ObjectChange& change) const;

  private:
    Status set_from_field(const CollectionMap& c, std::string_view field, const bson_iter_t* it,
                          ObjectChange& change) const;
    std::vector<CollectionMap> collections_;
    MappingOptions options_;
};

// GID <-> _id. Errors: kMongoMapping for an _id type that is not a GID type (double, document,
// ...).
Status append_gid(bson_t* out, std::string_view key, const Gid& gid);
Result<Gid> gid_from_bson(const bson_iter_t& it);

}  // namespace outpost::mongo
