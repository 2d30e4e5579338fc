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
    {PropertyType::kBool, "bool"},           {PropertyType::kInt8, "int8"},
    {PropertyType::kInt16, "int16"},         {PropertyType::kInt32, "int32"},
    {PropertyType::kInt64, "int64"},         {PropertyType::kFloat, "float"},
    {PropertyType::kDouble, "double"},       {PropertyType::kString, "string"},
    {PropertyType::kDate, "date"},           {PropertyType::kDateNano, "dateNano"},
    {PropertyType::kBytes, "bytes"},         {PropertyType::kFlex, "flex"},
    {PropertyType::kRelation, "relation"},   {PropertyType::kInt8Vector, "int8Vector"},
    {PropertyType::kInt16Vector, "int16Vector"}, {PropertyType::kInt32Vector, "int32Vector"},
    {PropertyType::kInt64Vector, "int64Vector"}, {PropertyType::kFloatVector, "floatVector"},
    {PropertyType::kDoubleVector, "doubleVector"}, {PropertyType::kStringVector, "stringVector"},
    {PropertyType::kDateVector, "dateVector"},
};

struct ExternalName {
    ExternalType type;
    std::string_view name;
};
constexpr ExternalName kExternalNames[] = {
    {ExternalType::kObjectId, "objectId"},   {ExternalType::kUuid, "uuid"},
    {ExternalType::kUuidString, "uuidString"}, {ExternalType::kUuidV4, "uuidV4"},
    {ExternalType::kUuidV4String, "uuidV4String"}, {ExternalType::kDecimal128, "decimal128"},
    {ExternalType::kBinary, "binary"},       {ExternalType::kTimestamp, "timestamp"},
    {ExternalType::kRegex, "regex"},         {ExternalType::kJavaScript, "javascript"},
    {ExternalType::kJsonToNative, "jsonToNative"}, {ExternalType::kFlexMap, "flexMap"},
    {ExternalType::kFlexVector, "flexVector"},
};

Status invalid(const std::string& msg) { return {ErrorCode::kModelInvalid, msg}; }

bool indexable(PropertyType t) {
    return !is_vector_type(t) && t != PropertyType::kBytes && t != PropertyType::kFlex;
}

// Which property types an external type may annotate.
bool external_type_fits(ExternalType e, const Property& p) {
    using T = PropertyType;
    switch (e) {
        case ExternalType::kNone: return true;
        case ExternalType::kObjectId:
        case ExternalType::kUuid:
        case ExternalType::kUuidV4:
            return p.has(kFlagId) || p.type == T::kString || p.type == T::kBytes;
        case ExternalType::kUuidString:
        case ExternalType::kUuidV4String: return p.has(kFlagId) || p.type == T::kString;
        case ExternalType::kDecimal128: return p.type == T::kString || p.type == T::kBytes;
        case ExternalType::kBinary: return p.type == T::kBytes;
        case ExternalType::kTimestamp: return p.type == T::kInt64;
        case ExternalType::kRegex: return p.type == T::kStringVector;
        case ExternalType::kJavaScript:
        case ExternalType::kJsonToNative: return p.type == T::kString;
        case ExternalType::kFlexMap:
        case ExternalType::kFlexVector: return p.type == T::kFlex;
    }
    return false;
}

// Checks an "id:uid" against its kind's last id: ids above the last are an error, and the last id
// must carry the last uid.
Status check_uid_range(uint64_t uid, const std::string& what) {
    if (uid > kMaxUid) {
        return invalid(what + ": uid " + std::to_string(uid) +
                       " is out of range (uids are in 1..2^63-1, i.e. 1.." + std::to_string(kMaxUid) + ")");
    }
    return Status::ok();
}

Status check_against_last(const IdUid& v, const IdUid& last, const std::string& what) {
    if (!v.is_set()) return invalid(what + ": id must be \"id:uid\" with both parts non-zero");
    OUTPOST_RETURN_IF_ERROR(check_uid_range(v.uid, what));
    if (v.id > last.id) {
        return invalid(what + ": id " + std::to_string(v.id) + " is above the last id " +
                       std::to_string(last.id) + " recorded for its kind");
    }
    if (v.id == last.id && v.uid != last.uid) {
        return invalid(what + ": has the last id " + std::to_string(v.id) +
                       " but not the last uid " + std::to_string(last.uid));
    }
    return Status::ok();
}

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
        case PropertyType::kInt8: case PropertyType::kInt16: case PropertyType::kInt32:
        case PropertyType::kInt64: case PropertyType::kDate: case PropertyType::kDateNano:
        case PropertyType::kRelation:
            return true;
        default: return false;
    }
}

PropertyType element_type(PropertyType t) {
    switch (t) {
        case PropertyType::kInt8Vector: return PropertyType::kInt8;
        case PropertyType::kInt16Vector: return PropertyType::kInt16;
        case PropertyType::kInt32Vector: return PropertyType::kInt32;
        case PropertyType::kInt64Vector: return PropertyType::kInt64;
        case PropertyType::kFloatVector: return PropertyType::kFloat;
        case PropertyType::kDoubleVector: return PropertyType::kDouble;
        case PropertyType::kStringVector: return PropertyType::kString;
        case PropertyType::kDateVector: return PropertyType::kDate;
        default: return t;
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

Status Model::validate() const {
    std::unordered_set<uint64_t> uids;
    std::set<uint64_t> retired;
    for (auto* list : {&retired_entity_uids, &retired_property_uids, &retired_index_uids,
                       &retired_relation_uids}) {
        retired.insert(list->begin(), list->end());
    }
    for (uint64_t uid : retired) {
        if (uid == 0) return invalid("model: a retired uid is 0 (uids are in 1..2^63-1)");
        OUTPOST_RETURN_IF_ERROR(check_uid_range(uid, "model: retired uid"));
    }
    OUTPOST_RETURN_IF_ERROR(check_uid_range(last_entity_id.uid, "model: lastEntityId"));
    OUTPOST_RETURN_IF_ERROR(check_uid_range(last_index_id.uid, "model: lastIndexId"));
    OUTPOST_RETURN_IF_ERROR(check_uid_range(last_relation_id.uid, "model: lastRelationId"));
    auto claim_uid = [&](uint64_t uid, const std::string& what) -> Status {
        if (retired.count(uid)) return invalid(what + ": uid " + std::to_string(uid) + " is retired");
        if (!uids.insert(uid).second) {
            return invalid(what + ": uid " + std::to_string(uid) + " is used twice in the model");
        }
        return Status::ok();
    };
    std::set<std::string> entity_names;
    std::set<uint32_t> entity_ids, index_ids, relation_ids;
    for (const auto& e : entities) {
        std::string ew = "entity " + e.name;
        if (e.name.empty()) return invalid("an entity has an empty name");
        if (!entity_names.insert(e.name).second) return invalid(ew + ": the name is used twice");
        OUTPOST_RETURN_IF_ERROR(check_against_last(e.id, last_entity_id, ew));
        OUTPOST_RETURN_IF_ERROR(check_uid_range(e.last_property_id.uid, ew + ": lastPropertyId"));
        if (!entity_ids.insert(e.id.id).second) {
            return invalid(ew + ": entity id " + std::to_string(e.id.id) + " is used twice");
        }
        OUTPOST_RETURN_IF_ERROR(claim_uid(e.id.uid, ew));
        std::set<std::string> prop_names;
        std::set<uint32_t> prop_ids;
        int id_props = 0, clocks = 0;
        for (const auto& p : e.properties) {
            std::string pw = "property " + e.name + "." + p.name;
            if (p.name.empty()) return invalid(ew + ": a property has an empty name");
            if (!prop_names.insert(p.name).second) return invalid(pw + ": the name is used twice");
            OUTPOST_RETURN_IF_ERROR(check_against_last(p.id, e.last_property_id, pw));
            if (!prop_ids.insert(p.id.id).second) {
                return invalid(pw + ": property id " + std::to_string(p.id.id) + " is used twice");
            }
            OUTPOST_RETURN_IF_ERROR(claim_uid(p.id.uid, pw));
            if (p.has(kFlagId)) {
                ++id_props;
                if (p.type != PropertyType::kInt64) {
                    return invalid(pw + ": the id property must have type int64, not " +
                                   std::string(property_type_name(p.type)));
                }
            }
            if (p.type == PropertyType::kRelation) {
                if (p.target.empty()) return invalid(pw + ": a relation needs a \"target\" entity");
                const Entity* t = entity(p.target);
                if (!t) return invalid(pw + ": unknown relation target \"" + p.target + "\"");
                if (e.sync && !t->sync) {
                    return invalid(pw + ": synced entity " + e.name + " relates to local-only entity " +
                                   t->name);
                }
                if (!p.index_id.is_set()) {
                    return invalid(pw + ": a relation property needs an \"indexId\" for its backlinks");
                }
            } else if (!p.target.empty()) {
                return invalid(pw + ": only relation properties have a \"target\"");
            }
            bool wants_index = p.has(kFlagIndexed) || p.has(kFlagIndexHash) || p.has(kFlagUnique);
            if (wants_index && !indexable(p.type)) {
                return invalid(pw + ": type " + std::string(property_type_name(p.type)) +
                               " cannot be indexed");
            }
            if (p.has(kFlagIndexHash) && p.type != PropertyType::kString) {
                return invalid(pw + ": a hash index is for string properties only");
            }
            if (p.has(kFlagUniqueReplace) && !p.has(kFlagUnique)) {
                return invalid(pw + ": uniqueOnConflictReplace needs the unique flag too");
            }
            if ((wants_index || p.type == PropertyType::kRelation) && !p.index_id.is_set()) {
                return invalid(pw + ": an indexed or unique property needs an \"indexId\"");
            }
            if (p.index_id.is_set()) {
                if (!wants_index && p.type != PropertyType::kRelation) {
                    return invalid(pw + ": has an \"indexId\" but no index flag");
                }
                OUTPOST_RETURN_IF_ERROR(check_against_last(p.index_id, last_index_id, pw + " index"));
                if (!index_ids.insert(p.index_id.id).second) {
                    return invalid(pw + ": index id " + std::to_string(p.index_id.id) + " is used twice");
                }
                OUTPOST_RETURN_IF_ERROR(claim_uid(p.index_id.uid, pw + " index"));
            }
            if (p.has(kFlagUnsigned) && !is_integer_type(element_type(p.type))) {
                return invalid(pw + ": the unsigned flag is for integer types only");
            }
            if (p.has(kFlagSyncClock)) {
                ++clocks;
                if (p.type != PropertyType::kInt64 && p.type != PropertyType::kDate &&
                    p.type != PropertyType::kDateNano) {
                    return invalid(pw + ": a syncClock property must be int64, date or dateNano");
                }
                if (!e.sync) return invalid(pw + ": syncClock on local-only entity " + e.name);
            }
            if (!external_type_fits(p.external_type, p)) {
                return invalid(pw + ": externalType " + std::string(external_type_name(p.external_type)) +
                               " does not fit type " + std::string(property_type_name(p.type)));
            }
        }
        if (id_props == 0) return invalid(ew + ": has no id property (flag \"id\", type int64)");
        if (id_props > 1) return invalid(ew + ": has more than one id property");
        if (clocks > 1) return invalid(ew + ": has more than one syncClock property");
        std::set<std::string> rel_names;
        for (const auto& r : e.relations) {
            std::string rw = "relation " + e.name + "." + r.name;
            if (r.name.empty()) return invalid(ew + ": a relation has an empty name");
            if (prop_names.count(r.name) || !rel_names.insert(r.name).second) {
                return invalid(rw + ": the name is used twice in " + e.name);
            }
            OUTPOST_RETURN_IF_ERROR(check_against_last(r.id, last_relation_id, rw));
            if (!relation_ids.insert(r.id.id).second) {
                return invalid(rw + ": relation id " + std::to_string(r.id.id) + " is used twice");
            }
            OUTPOST_RETURN_IF_ERROR(claim_uid(r.id.uid, rw));
            const Entity* t = entity(r.target);
            if (!t) return invalid(rw + ": unknown relation target \"" + r.target + "\"");
            if (e.sync && !t->sync) {
                return invalid(rw + ": synced entity " + e.name + " relates to local-only entity " +
                               t->name);
            }
        }
    }
    return Status::ok();
}

Status check_evolution(const Model& old_model, const Model& new_model) {
    auto incompatible = [](const std::string& msg) {
        return Status(ErrorCode::kSchemaIncompatible, msg);
    };
    auto retired_in = [](const std::vector<uint64_t>& list, uint64_t uid) {
        return std::find(list.begin(), list.end(), uid) != list.end();
    };
    for (const auto& oe : old_model.entities) {
        const Entity* ne = new_model.entity_by_uid(oe.id.uid);
        if (!ne) {
            if (!retired_in(new_model.retired_entity_uids, oe.id.uid)) {
                return incompatible("entity " + oe.name + " (uid " + std::to_string(oe.id.uid) +
                                    ") is missing from the new model; list its uid in "
                                    "retiredEntityUids to remove it");
            }
            continue;
        }
        if (ne->id.id != oe.id.id) {
            return incompatible("entity " + oe.name + ": uid " + std::to_string(oe.id.uid) +
                                " changed its id from " + std::to_string(oe.id.id) + " to " +
                                std::to_string(ne->id.id));
        }
        for (const auto& op : oe.properties) {
            const Property* np = nullptr;
            for (const auto& p : ne->properties) {
                if (p.id.uid == op.id.uid) np = &p;
            }
            if (!np) {
                if (!retired_in(new_model.retired_property_uids, op.id.uid)) {
                    return incompatible("property " + oe.name + "." + op.name + " (uid " +
                                        std::to_string(op.id.uid) +
                                        ") is missing from the new model; list its uid in "
                                        "retiredPropertyUids to remove it");
                }
                continue;
            }
            if (np->id.id != op.id.id) {
                return incompatible("property " + oe.name + "." + op.name + ": uid " +
                                    std::to_string(op.id.uid) + " changed its id");
            }
            if (np->type != op.type) {
                return incompatible("property " + ne->name + "." + np->name + ": type changed from " +
                                    std::string(property_type_name(op.type)) + " to " +
                                    std::string(property_type_name(np->type)) +
                                    " under the same uid; a new type needs a new property (new uid)");
            }
            if (np->type == PropertyType::kRelation) {
                const Entity* ot = old_model.entity(op.target);
                const Entity* nt = new_model.entity(np->target);
                if (ot && nt && ot->id.uid != nt->id.uid) {
                    return incompatible("property " + ne->name + "." + np->name +
                                        ": relation target changed under the same uid");
                }
            }
        }
        for (const auto& np : ne->properties) {
            bool known = false;
            for (const auto& op : oe.properties) known = known || op.id.uid == np.id.uid;
            if (!known && np.id.id <= oe.last_property_id.id) {
                return incompatible("property " + ne->name + "." + np.name + ": new property reuses id " +
                                    std::to_string(np.id.id) + ", which " + oe.name +
                                    " already handed out (lastPropertyId " +
                                    std::to_string(oe.last_property_id.id) + "); give it the next id");
            }
        }
        for (const auto& orl : oe.relations) {
            bool found = false;
            for (const auto& r : ne->relations) {
                if (r.id.uid != orl.id.uid) continue;
                found = true;
                const Entity* ot = old_model.entity(orl.target);
                const Entity* nt = new_model.entity(r.target);
                if (ot && nt && ot->id.uid != nt->id.uid) {
                    return incompatible("relation " + ne->name + "." + r.name +
                                        ": target changed under the same uid");
                }
            }
            if (!found && !retired_in(new_model.retired_relation_uids, orl.id.uid)) {
                return incompatible("relation " + oe.name + "." + orl.name +
                                    " is missing from the new model; list its uid in "
                                    "retiredRelationUids to remove it");
            }
        }
    }
    // A uid the old model retired must not come back.
    for (const auto& ne : new_model.entities) {
        if (retired_in(old_model.retired_entity_uids, ne.id.uid)) {
            return incompatible("entity " + ne.name + " reuses a retired uid");
        }
        for (const auto& np : ne.properties) {
            if (retired_in(old_model.retired_property_uids, np.id.uid)) {
                return incompatible("property " + ne.name + "." + np.name + " reuses a retired uid");
            }
        }
    }
    return Status::ok();
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

ModelBuilder& ModelBuilder::property(std::string name, PropertyType type, uint32_t flags, uint64_t uid) {
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
