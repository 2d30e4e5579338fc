// The model file: JSON <-> Model. The format is documented in docs/model.md.
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/json_nesting.hpp"
#include "outpost/model.hpp"

namespace outpost {
namespace {

using nlohmann::ordered_json;

struct FlagName {
    PropertyFlag flag;
    std::string_view name;
};
constexpr FlagName kFlagNames[] = {
    {kFlagId, "id"},
    {kFlagIndexed, "indexed"},
    {kFlagIndexHash, "indexHash"},
    {kFlagUnique, "unique"},
    {kFlagUniqueReplace, "uniqueOnConflictReplace"},
    {kFlagUnsigned, "unsigned"},
    {kFlagSyncClock, "syncClock"},
};

Status parse_error(const std::string& where, const std::string& what) {
    return {ErrorCode::kModelParse, where + ": " + what};
}

// Reads an optional "id:uid" field.
Status read_id_uid(const ordered_json& j, const char* key, const std::string& where, IdUid* out,
                   bool required) {
    auto it = j.find(key);
    if (it == j.end()) {
        if (required) return parse_error(where, std::string("missing \"") + key + "\"");
        return Status::ok();
    }
    if (!it->is_string())
        return parse_error(where, std::string("\"") + key + "\" must be a string \"id:uid\"");
    auto r = IdUid::parse(it->get<std::string>());
    if (!r) return parse_error(where, std::string("\"") + key + "\": " + r.status().message());
    *out = *r;
    return Status::ok();
}

Status read_string(const ordered_json& j, const char* key, const std::string& where,
                   std::string* out, bool required) {
    auto it = j.find(key);
    if (it == j.end()) {
        if (required) return parse_error(where, std::string("missing \"") + key + "\"");
        return Status::ok();
    }
    if (!it->is_string())
        return parse_error(where, std::string("\"") + key + "\" must be a string");
    *out = it->get<std::string>();
    return Status::ok();
}

Status read_uids(const ordered_json& j, const char* key, std::vector<uint64_t>* out) {
    auto it = j.find(key);
    if (it == j.end()) return Status::ok();
    if (!it->is_array())
        return parse_error("model", std::string("\"") + key + "\" must be an array");
    for (const auto& v : *it) {
        if (!v.is_number_unsigned()) {
            return parse_error("model", std::string("\"") + key + "\" must hold unsigned integers");
        }
        out->push_back(v.get<uint64_t>());
    }
    return Status::ok();
}

Status check_keys(const ordered_json& j, const std::string& where,
                  std::initializer_list<std::string_view> allowed) {
    for (auto it = j.begin(); it != j.end(); ++it) {
        bool known = false;
        for (auto a : allowed) known = known || it.key() == a;
        if (!known) return parse_error(where, "unknown key \"" + it.key() + "\"");
    }
    return Status::ok();
}

Status read_property(const ordered_json& j, const std::string& entity, Property* p) {
    std::string where = "entity " + entity + ": property";
    if (!j.is_object()) return parse_error(where, "must be an object");
    OUTPOST_RETURN_IF_ERROR(read_string(j, "name", where, &p->name, true));
    where = "property " + entity + "." + p->name;
    OUTPOST_RETURN_IF_ERROR(check_keys(
        j, where,
        {"id", "name", "type", "flags", "indexId", "target", "externalName", "externalType"}));
    OUTPOST_RETURN_IF_ERROR(read_id_uid(j, "id", where, &p->id, true));
    std::string type;
    OUTPOST_RETURN_IF_ERROR(read_string(j, "type", where, &type, true));
    auto t = property_type_from_name(type);
    if (!t) return parse_error(where, "unknown type \"" + type + "\"");
    p->type = *t;
    if (auto it = j.find("flags"); it != j.end()) {
        if (!it->is_array()) return parse_error(where, "\"flags\" must be an array of names");
        for (const auto& f : *it) {
            bool known = false;
            for (const auto& fn : kFlagNames) {
                if (f.is_string() && f.get<std::string>() == fn.name) {
                    p->flags |= fn.flag;
                    known = true;
                }
            }
            if (!known) return parse_error(where, "unknown flag " + f.dump());
        }
    }
    OUTPOST_RETURN_IF_ERROR(read_id_uid(j, "indexId", where, &p->index_id, false));
    OUTPOST_RETURN_IF_ERROR(read_string(j, "target", where, &p->target, false));
    OUTPOST_RETURN_IF_ERROR(read_string(j, "externalName", where, &p->external_name, false));
    std::string ext;
    OUTPOST_RETURN_IF_ERROR(read_string(j, "externalType", where, &ext, false));
    if (!ext.empty()) {
        auto e = external_type_from_name(ext);
        if (!e) return parse_error(where, "unknown externalType \"" + ext + "\"");
        p->external_type = *e;
    }
    return Status::ok();
}

Status read_entity(const ordered_json& j, Entity* e) {
    if (!j.is_object()) return parse_error("entities", "each entity must be an object");
    OUTPOST_RETURN_IF_ERROR(read_string(j, "name", "entity", &e->name, true));
    std::string where = "entity " + e->name;
    OUTPOST_RETURN_IF_ERROR(check_keys(
        j, where,
        {"id", "name", "sync", "externalName", "lastPropertyId", "properties", "relations"}));
    OUTPOST_RETURN_IF_ERROR(read_id_uid(j, "id", where, &e->id, true));
    OUTPOST_RETURN_IF_ERROR(read_id_uid(j, "lastPropertyId", where, &e->last_property_id, true));
    OUTPOST_RETURN_IF_ERROR(read_string(j, "externalName", where, &e->external_name, false));
    if (auto it = j.find("sync"); it != j.end()) {
        if (!it->is_boolean()) return parse_error(where, "\"sync\" must be true or false");
        e->sync = it->get<bool>();
    }
    auto props = j.find("properties");
    if (props == j.end() || !props->is_array())
        return parse_error(where, "\"properties\" must be an array");
    for (const auto& pj : *props) {
        Property p;
        OUTPOST_RETURN_IF_ERROR(read_property(pj, e->name, &p));
        e->properties.push_back(std::move(p));
    }
    if (auto rels = j.find("relations"); rels != j.end()) {
        if (!rels->is_array()) return parse_error(where, "\"relations\" must be an array");
        for (const auto& rj : *rels) {
            Relation r;
            std::string rw = where + ": relation";
            if (!rj.is_object()) return parse_error(rw, "must be an object");
            OUTPOST_RETURN_IF_ERROR(read_string(rj, "name", rw, &r.name, true));
            rw = "relation " + e->name + "." + r.name;
            OUTPOST_RETURN_IF_ERROR(check_keys(rj, rw, {"id", "name", "target", "externalName"}));
            OUTPOST_RETURN_IF_ERROR(read_id_uid(rj, "id", rw, &r.id, true));
            OUTPOST_RETURN_IF_ERROR(read_string(rj, "target", rw, &r.target, true));
            OUTPOST_RETURN_IF_ERROR(read_string(rj, "externalName", rw, &r.external_name, false));
            e->relations.push_back(std::move(r));
        }
    }
    return Status::ok();
}

}  // namespace

Result<Model> Model::from_json(std::string_view text) {
    // A model nests a few levels; the bound keeps error messages that print a value (dump())
    // from recursing without end on a damaged or hostile file.
    constexpr int kMaxModelNesting = 16;
    if (!detail::json_nesting_within(text, kMaxModelNesting)) {
        return Status(ErrorCode::kModelParse, "model: the JSON nests deeper than " +
                                                  std::to_string(kMaxModelNesting) + " levels");
    }
    ordered_json j = ordered_json::parse(text, nullptr, false);
    if (j.is_discarded()) return Status(ErrorCode::kModelParse, "model: not valid JSON");
    if (!j.is_object())
        return Status(ErrorCode::kModelParse, "model: the top level must be an object");
    OUTPOST_RETURN_IF_ERROR(
        check_keys(j, "model",
                   {"$schema", "_note", "modelVersion", "entities", "lastEntityId", "lastIndexId",
                    "lastRelationId", "retiredEntityUids", "retiredPropertyUids",
                    "retiredIndexUids", "retiredRelationUids"}));
    if (auto v = j.find("modelVersion"); v != j.end()) {
        if (!v->is_number_unsigned() || v->get<uint64_t>() != kModelFileVersion) {
            return Status(ErrorCode::kModelParse,
                          "model: modelVersion " + v->dump() +
                              " is not supported; this version of Outpost reads "
                              "modelVersion " +
                              std::to_string(kModelFileVersion));
        }
    }
    Model m;
    auto ents = j.find("entities");
    if (ents == j.end() || !ents->is_array()) {
        return Status(ErrorCode::kModelParse, "model: \"entities\" must be an array");
    }
    for (const auto& ej : *ents) {
        Entity e;
        OUTPOST_RETURN_IF_ERROR(read_entity(ej, &e));
        m.entities.push_back(std::move(e));
    }
    OUTPOST_RETURN_IF_ERROR(read_id_uid(j, "lastEntityId", "model", &m.last_entity_id, true));
    OUTPOST_RETURN_IF_ERROR(read_id_uid(j, "lastIndexId", "model", &m.last_index_id, false));
    OUTPOST_RETURN_IF_ERROR(read_id_uid(j, "lastRelationId", "model", &m.last_relation_id, false));
    OUTPOST_RETURN_IF_ERROR(read_uids(j, "retiredEntityUids", &m.retired_entity_uids));
    OUTPOST_RETURN_IF_ERROR(read_uids(j, "retiredPropertyUids", &m.retired_property_uids));
    OUTPOST_RETURN_IF_ERROR(read_uids(j, "retiredIndexUids", &m.retired_index_uids));
    OUTPOST_RETURN_IF_ERROR(read_uids(j, "retiredRelationUids", &m.retired_relation_uids));
    OUTPOST_RETURN_IF_ERROR(m.validate());
    return m;
}

Result<Model> Model::load(const std::string& path) {
    std::ifstream in(path);
    if (!in) return Status(ErrorCode::kIo, "cannot read model file " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    auto r = from_json(ss.str());
    if (!r) return Status(r.status().code(), path + ": " + r.status().message());
    return r;
}

std::string Model::to_json() const {
    ordered_json j;
    j["modelVersion"] = kModelFileVersion;
    j["entities"] = ordered_json::array();
    for (const auto& e : entities) {
        ordered_json ej;
        ej["id"] = e.id.to_string();
        ej["name"] = e.name;
        if (e.sync) ej["sync"] = true;
        if (!e.external_name.empty()) ej["externalName"] = e.external_name;
        ej["lastPropertyId"] = e.last_property_id.to_string();
        ej["properties"] = ordered_json::array();
        for (const auto& p : e.properties) {
            ordered_json pj;
            pj["id"] = p.id.to_string();
            pj["name"] = p.name;
            pj["type"] = std::string(property_type_name(p.type));
            if (p.flags != 0) {
                ordered_json flags = ordered_json::array();
                for (std::string_view name : property_flag_names(p.flags))
                    flags.push_back(std::string(name));
                pj["flags"] = flags;
            }
            if (p.index_id.is_set()) pj["indexId"] = p.index_id.to_string();
            if (!p.target.empty()) pj["target"] = p.target;
            if (!p.external_name.empty()) pj["externalName"] = p.external_name;
            if (p.external_type != ExternalType::kNone) {
                pj["externalType"] = std::string(external_type_name(p.external_type));
            }
            ej["properties"].push_back(pj);
        }
        if (!e.relations.empty()) {
            ej["relations"] = ordered_json::array();
            for (const auto& r : e.relations) {
                ordered_json rj;
                rj["id"] = r.id.to_string();
                rj["name"] = r.name;
                rj["target"] = r.target;
                if (!r.external_name.empty()) rj["externalName"] = r.external_name;
                ej["relations"].push_back(rj);
            }
        }
        j["entities"].push_back(ej);
    }
    j["lastEntityId"] = last_entity_id.to_string();
    if (last_index_id.is_set()) j["lastIndexId"] = last_index_id.to_string();
    if (last_relation_id.is_set()) j["lastRelationId"] = last_relation_id.to_string();
    j["retiredEntityUids"] = retired_entity_uids;
    j["retiredPropertyUids"] = retired_property_uids;
    j["retiredIndexUids"] = retired_index_uids;
    j["retiredRelationUids"] = retired_relation_uids;
    return j.dump(2) + "\n";
}

std::vector<std::string_view> property_flag_names(uint32_t flags) {
    std::vector<std::string_view> out;
    for (const auto& fn : kFlagNames) {
        if ((flags & fn.flag) != 0) out.push_back(fn.name);
    }
    return out;
}

}  // namespace outpost
