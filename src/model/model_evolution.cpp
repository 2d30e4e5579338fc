// check_evolution: which changes from one model to the next a store can follow (docs/model.md).
#include <algorithm>
#include <string>
#include <vector>

#include "outpost/model.hpp"

namespace outpost {
namespace {

Status incompatible(const std::string& msg) { return Status(ErrorCode::kSchemaIncompatible, msg); }

bool retired_in(const std::vector<uint64_t>& list, uint64_t uid) {
    return std::find(list.begin(), list.end(), uid) != list.end();
}

// Property OP of entity OE (now NE) in the new model: kept under its id and type, or retired.
Status check_property_evolution(const Model& old_model, const Model& new_model, const Entity& oe,
                                const Entity& ne, const Property& op) {
    const Property* np = nullptr;
    for (const auto& p : ne.properties) {
        if (p.id.uid == op.id.uid) np = &p;
    }
    if (!np) {
        if (!retired_in(new_model.retired_property_uids, op.id.uid)) {
            return incompatible("property " + oe.name + "." + op.name + " (uid " +
                                std::to_string(op.id.uid) +
                                ") is missing from the new model; list its uid in "
                                "retiredPropertyUids to remove it");
        }
        return Status::ok();
    }
    if (np->id.id != op.id.id) {
        return incompatible("property " + oe.name + "." + op.name + ": uid " +
                            std::to_string(op.id.uid) + " changed its id");
    }
    if (np->type != op.type) {
        return incompatible("property " + ne.name + "." + np->name + ": type changed from " +
                            std::string(property_type_name(op.type)) + " to " +
                            std::string(property_type_name(np->type)) +
                            " under the same uid; a new type needs a new property (new uid)");
    }
    if (np->type == PropertyType::kRelation) {
        const Entity* ot = old_model.entity(op.target);
        const Entity* nt = new_model.entity(np->target);
        if (ot && nt && ot->id.uid != nt->id.uid) {
            return incompatible("property " + ne.name + "." + np->name +
                                ": relation target changed under the same uid");
        }
    }
    return Status::ok();
}

// The new properties of NE take ids that OE did not hand out yet.
Status check_new_property_ids(const Entity& oe, const Entity& ne) {
    for (const auto& np : ne.properties) {
        bool known = false;
        for (const auto& op : oe.properties) known = known || op.id.uid == np.id.uid;
        if (!known && np.id.id <= oe.last_property_id.id) {
            return incompatible("property " + ne.name + "." + np.name +
                                ": new property reuses id " + std::to_string(np.id.id) +
                                ", which " + oe.name + " already handed out (lastPropertyId " +
                                std::to_string(oe.last_property_id.id) + "); give it the next id");
        }
    }
    return Status::ok();
}

// The relations of OE in NE: kept with their targets, or retired.
Status check_relations_evolution(const Model& old_model, const Model& new_model, const Entity& oe,
                                 const Entity& ne) {
    for (const auto& orl : oe.relations) {
        bool found = false;
        for (const auto& r : ne.relations) {
            if (r.id.uid != orl.id.uid) continue;
            found = true;
            const Entity* ot = old_model.entity(orl.target);
            const Entity* nt = new_model.entity(r.target);
            if (ot && nt && ot->id.uid != nt->id.uid) {
                return incompatible("relation " + ne.name + "." + r.name +
                                    ": target changed under the same uid");
            }
        }
        if (!found && !retired_in(new_model.retired_relation_uids, orl.id.uid)) {
            return incompatible("relation " + oe.name + "." + orl.name +
                                " is missing from the new model; list its uid in "
                                "retiredRelationUids to remove it");
        }
    }
    return Status::ok();
}

// Entity OE of the old model in the new one: kept under its id (and then each of its parts), or
// retired.
Status check_entity_evolution(const Model& old_model, const Model& new_model, const Entity& oe) {
    const Entity* ne = new_model.entity_by_uid(oe.id.uid);
    if (!ne) {
        if (!retired_in(new_model.retired_entity_uids, oe.id.uid)) {
            return incompatible("entity " + oe.name + " (uid " + std::to_string(oe.id.uid) +
                                ") is missing from the new model; list its uid in "
                                "retiredEntityUids to remove it");
        }
        return Status::ok();
    }
    if (ne->id.id != oe.id.id) {
        return incompatible("entity " + oe.name + ": uid " + std::to_string(oe.id.uid) +
                            " changed its id from " + std::to_string(oe.id.id) + " to " +
                            std::to_string(ne->id.id));
    }
    for (const auto& op : oe.properties) {
        OUTPOST_RETURN_IF_ERROR(check_property_evolution(old_model, new_model, oe, *ne, op));
    }
    OUTPOST_RETURN_IF_ERROR(check_new_property_ids(oe, *ne));
    return check_relations_evolution(old_model, new_model, oe, *ne);
}

}  // namespace

Status check_evolution(const Model& old_model, const Model& new_model) {
    for (const auto& oe : old_model.entities) {
        OUTPOST_RETURN_IF_ERROR(check_entity_evolution(old_model, new_model, oe));
    }
    // A uid the old model retired must not come back.
    for (const auto& ne : new_model.entities) {
        if (retired_in(old_model.retired_entity_uids, ne.id.uid)) {
            return incompatible("entity " + ne.name + " reuses a retired uid");
        }
        for (const auto& np : ne.properties) {
            if (retired_in(old_model.retired_property_uids, np.id.uid)) {
                return incompatible("property " + ne.name + "." + np.name +
                                    " reuses a retired uid");
            }
        }
    }
    return Status::ok();
}

}  // namespace outpost
