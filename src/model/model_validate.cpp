// Model::validate: the rules a model must follow (docs/model.md).
#include <set>
#include <string>
#include <unordered_set>

#include "outpost/model.hpp"

namespace outpost {
namespace {

Status invalid(const std::string& msg) { return {ErrorCode::kModelInvalid, msg}; }

bool indexable(PropertyType t) {
    return !is_vector_type(t) && t != PropertyType::kBytes && t != PropertyType::kFlex;
}

// Which property types an external type may annotate.
bool external_type_fits(ExternalType e, const Property& p) {
    using T = PropertyType;
    switch (e) {
        case ExternalType::kNone:
            return true;
        case ExternalType::kObjectId:
        case ExternalType::kUuid:
        case ExternalType::kUuidV4:
            return p.has(kFlagId) || p.type == T::kString || p.type == T::kBytes;
        case ExternalType::kUuidString:
        case ExternalType::kUuidV4String:
            return p.has(kFlagId) || p.type == T::kString;
        case ExternalType::kDecimal128:
            return p.type == T::kString || p.type == T::kBytes;
        case ExternalType::kBinary:
            return p.type == T::kBytes;
        case ExternalType::kTimestamp:
            return p.type == T::kInt64;
        case ExternalType::kRegex:
            return p.type == T::kStringVector;
        case ExternalType::kJavaScript:
        case ExternalType::kJsonToNative:
            return p.type == T::kString;
        case ExternalType::kFlexMap:
        case ExternalType::kFlexVector:
            return p.type == T::kFlex;
    }
    return false;
}

// Checks an "id:uid" against its kind's last id: ids above the last are an error, and the last id
// must carry the last uid.
Status check_uid_range(uint64_t uid, const std::string& what) {
    if (uid > kMaxUid) {
        return invalid(what + ": uid " + std::to_string(uid) +
                       " is out of range (uids are in 1..2^63-1, i.e. 1.." +
                       std::to_string(kMaxUid) + ")");
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

// The checks of one model, with what the entities checked so far have claimed.
class Validator {
  public:
    explicit Validator(const Model& m) : m_(m) {}

    Status run() {
        OUTPOST_RETURN_IF_ERROR(check_header());
        for (const auto& e : m_.entities) OUTPOST_RETURN_IF_ERROR(check_entity(e));
        return Status::ok();
    }

  private:
    // Retired uids and the last ids of each kind.
    Status check_header() {
        for (auto* list : {&m_.retired_entity_uids, &m_.retired_property_uids,
                           &m_.retired_index_uids, &m_.retired_relation_uids}) {
            retired_.insert(list->begin(), list->end());
        }
        for (uint64_t uid : retired_) {
            if (uid == 0) return invalid("model: a retired uid is 0 (uids are in 1..2^63-1)");
            OUTPOST_RETURN_IF_ERROR(check_uid_range(uid, "model: retired uid"));
        }
        OUTPOST_RETURN_IF_ERROR(check_uid_range(m_.last_entity_id.uid, "model: lastEntityId"));
        OUTPOST_RETURN_IF_ERROR(check_uid_range(m_.last_index_id.uid, "model: lastIndexId"));
        return check_uid_range(m_.last_relation_id.uid, "model: lastRelationId");
    }

    // UID, used by WHAT: neither retired nor used before.
    Status claim_uid(uint64_t uid, const std::string& what) {
        if (retired_.count(uid))
            return invalid(what + ": uid " + std::to_string(uid) + " is retired");
        if (!uids_.insert(uid).second) {
            return invalid(what + ": uid " + std::to_string(uid) + " is used twice in the model");
        }
        return Status::ok();
    }

    Status check_entity(const Entity& e) {
        std::string ew = "entity " + e.name;
        if (e.name.empty()) return invalid("an entity has an empty name");
        if (!entity_names_.insert(e.name).second) return invalid(ew + ": the name is used twice");
        OUTPOST_RETURN_IF_ERROR(check_against_last(e.id, m_.last_entity_id, ew));
        OUTPOST_RETURN_IF_ERROR(check_uid_range(e.last_property_id.uid, ew + ": lastPropertyId"));
        if (!entity_ids_.insert(e.id.id).second) {
            return invalid(ew + ": entity id " + std::to_string(e.id.id) + " is used twice");
        }
        OUTPOST_RETURN_IF_ERROR(claim_uid(e.id.uid, ew));
        EntityNames names;
        for (const auto& p : e.properties) OUTPOST_RETURN_IF_ERROR(check_property(e, p, names));
        if (names.id_props == 0)
            return invalid(ew + ": has no id property (flag \"id\", type int64)");
        if (names.id_props > 1) return invalid(ew + ": has more than one id property");
        if (names.clocks > 1) return invalid(ew + ": has more than one syncClock property");
        for (const auto& r : e.relations) OUTPOST_RETURN_IF_ERROR(check_relation(e, r, names));
        return Status::ok();
    }

    // What the properties and relations of one entity have used so far.
    struct EntityNames {
        std::set<std::string> props, relations;
        std::set<uint32_t> prop_ids;
        int id_props = 0, clocks = 0;
    };

    Status check_property(const Entity& e, const Property& p, EntityNames& names) {
        std::string pw = "property " + e.name + "." + p.name;
        if (p.name.empty()) return invalid("entity " + e.name + ": a property has an empty name");
        if (!names.props.insert(p.name).second) return invalid(pw + ": the name is used twice");
        OUTPOST_RETURN_IF_ERROR(check_against_last(p.id, e.last_property_id, pw));
        if (!names.prop_ids.insert(p.id.id).second) {
            return invalid(pw + ": property id " + std::to_string(p.id.id) + " is used twice");
        }
        OUTPOST_RETURN_IF_ERROR(claim_uid(p.id.uid, pw));
        if (p.has(kFlagId)) {
            ++names.id_props;
            if (p.type != PropertyType::kInt64) {
                return invalid(pw + ": the id property must have type int64, not " +
                               std::string(property_type_name(p.type)));
            }
        }
        OUTPOST_RETURN_IF_ERROR(check_relation_property(e, p, pw));
        OUTPOST_RETURN_IF_ERROR(check_index(p, pw));
        if (p.has(kFlagUnsigned) && !is_integer_type(element_type(p.type))) {
            return invalid(pw + ": the unsigned flag is for integer types only");
        }
        if (p.has(kFlagSyncClock)) {
            ++names.clocks;
            if (p.type != PropertyType::kInt64 && p.type != PropertyType::kDate &&
                p.type != PropertyType::kDateNano) {
                return invalid(pw + ": a syncClock property must be int64, date or dateNano");
            }
            if (!e.sync) return invalid(pw + ": syncClock on local-only entity " + e.name);
        }
        if (!external_type_fits(p.external_type, p)) {
            return invalid(pw + ": externalType " +
                           std::string(external_type_name(p.external_type)) +
                           " does not fit type " + std::string(property_type_name(p.type)));
        }
        return Status::ok();
    }

    // The target of to-one relation P (PW names it); other properties have none.
    Status check_relation_property(const Entity& e, const Property& p, const std::string& pw) {
        if (p.type != PropertyType::kRelation) {
            if (!p.target.empty())
                return invalid(pw + ": only relation properties have a \"target\"");
            return Status::ok();
        }
        if (p.target.empty()) return invalid(pw + ": a relation needs a \"target\" entity");
        const Entity* t = m_.entity(p.target);
        if (!t) return invalid(pw + ": unknown relation target \"" + p.target + "\"");
        if (e.sync && !t->sync) {
            return invalid(pw + ": synced entity " + e.name + " relates to local-only entity " +
                           t->name);
        }
        if (!p.index_id.is_set()) {
            return invalid(pw + ": a relation property needs an \"indexId\" for its backlinks");
        }
        return Status::ok();
    }

    // P's index flags and index id (PW names it).
    Status check_index(const Property& p, const std::string& pw) {
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
        if (!p.index_id.is_set()) return Status::ok();
        if (!wants_index && p.type != PropertyType::kRelation) {
            return invalid(pw + ": has an \"indexId\" but no index flag");
        }
        OUTPOST_RETURN_IF_ERROR(check_against_last(p.index_id, m_.last_index_id, pw + " index"));
        if (!index_ids_.insert(p.index_id.id).second) {
            return invalid(pw + ": index id " + std::to_string(p.index_id.id) + " is used twice");
        }
        return claim_uid(p.index_id.uid, pw + " index");
    }

    Status check_relation(const Entity& e, const Relation& r, EntityNames& names) {
        std::string rw = "relation " + e.name + "." + r.name;
        if (r.name.empty()) return invalid("entity " + e.name + ": a relation has an empty name");
        if (names.props.count(r.name) || !names.relations.insert(r.name).second) {
            return invalid(rw + ": the name is used twice in " + e.name);
        }
        OUTPOST_RETURN_IF_ERROR(check_against_last(r.id, m_.last_relation_id, rw));
        if (!relation_ids_.insert(r.id.id).second) {
            return invalid(rw + ": relation id " + std::to_string(r.id.id) + " is used twice");
        }
        OUTPOST_RETURN_IF_ERROR(claim_uid(r.id.uid, rw));
        const Entity* t = m_.entity(r.target);
        if (!t) return invalid(rw + ": unknown relation target \"" + r.target + "\"");
        if (e.sync && !t->sync) {
            return invalid(rw + ": synced entity " + e.name + " relates to local-only entity " +
                           t->name);
        }
        return Status::ok();
    }

    const Model& m_;
    std::unordered_set<uint64_t> uids_;
    std::set<uint64_t> retired_;
    std::set<std::string> entity_names_;
    std::set<uint32_t> entity_ids_, index_ids_, relation_ids_;
};

}  // namespace

Status Model::validate() const { return Validator(*this).run(); }

}  // namespace outpost
