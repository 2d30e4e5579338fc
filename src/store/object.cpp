// Object: an object's values in memory, by property.
#include "outpost/object.hpp"

#include <algorithm>

namespace outpost {

namespace {
const Value kNullValue;
const std::vector<uint64_t> kNoIds;
}  // namespace

Object::Object(const Entity& entity)
    : entity_(&entity), values_(entity.properties.size()), to_many_(entity.relations.size()) {}

Status Object::set(std::string_view property, Value value) {
    for (size_t i = 0; i < entity_->properties.size(); ++i) {
        if (entity_->properties[i].name == property) {
            if (entity_->properties[i].has(kFlagId)) {
                if (!value.is<int64_t>()) {
                    return {ErrorCode::kTypeMismatch, entity_->name + ".id must be an integer"};
                }
                id = static_cast<uint64_t>(value.as<int64_t>());
                return Status::ok();
            }
            values_[i] = std::move(value);
            return Status::ok();
        }
    }
    return {ErrorCode::kUnknownProperty,
            "entity " + entity_->name + " has no property \"" + std::string(property) + "\""};
}

Status Object::set_by_id(uint32_t property_id, Value value) {
    const Property* p = entity_->property_by_id(property_id);
    if (!p) {
        return {ErrorCode::kUnknownProperty,
                "entity " + entity_->name + " has no property id " + std::to_string(property_id)};
    }
    return set(p->name, std::move(value));
}

const Value& Object::get(std::string_view property) const {
    for (size_t i = 0; i < entity_->properties.size(); ++i) {
        if (entity_->properties[i].name == property) return values_[i];
    }
    return kNullValue;
}

const Value& Object::get_by_id(uint32_t property_id) const {
    for (size_t i = 0; i < entity_->properties.size(); ++i) {
        if (entity_->properties[i].id.id == property_id) return values_[i];
    }
    return kNullValue;
}

Status Object::set_to_many(std::string_view relation, std::vector<uint64_t> ids) {
    for (size_t i = 0; i < entity_->relations.size(); ++i) {
        if (entity_->relations[i].name == relation) {
            to_many_[i] = std::move(ids);
            return Status::ok();
        }
    }
    return {ErrorCode::kUnknownProperty,
            "entity " + entity_->name + " has no relation \"" + std::string(relation) + "\""};
}

const std::vector<uint64_t>& Object::get_to_many(std::string_view relation) const {
    for (size_t i = 0; i < entity_->relations.size(); ++i) {
        if (entity_->relations[i].name == relation) return to_many_[i];
    }
    return kNoIds;
}

bool operator==(const Object& a, const Object& b) {
    return a.entity_ == b.entity_ && a.id == b.id && a.values_ == b.values_ &&
           a.to_many_ == b.to_many_;
}

}  // namespace outpost
