// Bad model files: each fault gives its error code and a message naming the entity or property.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status_macros.hpp"
#include "model/model_compare.hpp"
#include "outpost/model.hpp"

namespace outpost {
namespace {

using nlohmann::ordered_json;

// The tasks example as JSON; entities[0] = Task, [1] = User, [2] = Project.
ordered_json tasks_json() {
    return ordered_json::parse(test::read_text_file(test::tasks_model_path()));
}

ordered_json& prop(ordered_json& j, int entity, const std::string& name) {
    for (auto& p : j["entities"][entity]["properties"]) {
        if (p["name"] == name) return p;
    }
    ADD_FAILURE() << "no property " << name;
    return j;
}

// Parses the mutated model and expects CODE with every piece of NEEDLES in the message.
void expect_error(const ordered_json& j, ErrorCode code,
                  std::initializer_list<std::string> needles) {
    auto r = Model::from_json(j.dump());
    ASSERT_FALSE(r.is_ok()) << "the model was accepted";
    EXPECT_EQ(static_cast<int>(r.status().code()), static_cast<int>(code))
        << r.status().to_string();
    for (const auto& n : needles) {
        EXPECT_NE(r.status().message().find(n), std::string::npos)
            << "\"" << n << "\" is not in: " << r.status().message();
    }
}

TEST(ModelErrors, TheUnchangedExampleIsValid) {
    auto r = Model::from_json(tasks_json().dump());
    EXPECT_OK(r);
}

TEST(ModelErrors, DuplicateEntityName) {
    auto j = tasks_json();
    j["entities"][2]["name"] = "User";
    j["entities"][2].erase("relations");
    expect_error(j, ErrorCode::kModelInvalid, {"entity User", "name is used twice"});
}

TEST(ModelErrors, DuplicatePropertyName) {
    auto j = tasks_json();
    prop(j, 1, "email")["name"] = "name";
    expect_error(j, ErrorCode::kModelInvalid, {"User.name", "used twice"});
}

TEST(ModelErrors, DuplicateEntityUid) {
    auto j = tasks_json();
    j["entities"][2]["id"] = "3:7210432819372541002";  // User's uid
    j["lastEntityId"] = "3:7210432819372541002";
    expect_error(j, ErrorCode::kModelInvalid, {"7210432819372541002", "used twice"});
}

TEST(ModelErrors, DuplicatePropertyUidNamesTheProperty) {
    auto j = tasks_json();
    prop(j, 1, "name")["id"] = "2:7210432819372541111";  // the uid of User.id
    expect_error(j, ErrorCode::kModelInvalid, {"User.name", "7210432819372541111", "used twice"});
}

TEST(ModelErrors, UnknownToOneRelationTarget) {
    auto j = tasks_json();
    prop(j, 0, "owner")["target"] = "Nobody";
    expect_error(j, ErrorCode::kModelInvalid, {"Task.owner", "unknown relation target", "Nobody"});
}

TEST(ModelErrors, UnknownToManyRelationTarget) {
    auto j = tasks_json();
    j["entities"][2]["relations"][0]["target"] = "Nobody";
    expect_error(j, ErrorCode::kModelInvalid,
                 {"Project.tasks", "unknown relation target", "Nobody"});
}

TEST(ModelErrors, DeeplyNestedJsonIsRefusedBeforeItIsRead) {
    // Flags nested 30,000 deep: printing the bad flag in the error used to recurse once per level.
    ordered_json j = tasks_json();
    std::string text = j.dump();
    const std::string flags = "\"flags\":";
    size_t at = text.find(flags);
    ASSERT_NE(at, std::string::npos);
    text.insert(at + flags.size(), std::string(30'000, '[') + std::string(30'000, ']') + ",\"x\":");
    auto r = Model::from_json(text);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kModelParse);
    EXPECT_NE(r.status().message().find("nests deeper than"), std::string::npos)
        << r.status().message();
}

TEST(ModelErrors, IdPropertyMissing) {
    auto j = tasks_json();
    prop(j, 1, "id")["flags"] = ordered_json::array();
    expect_error(j, ErrorCode::kModelInvalid, {"entity User", "no id property"});
}

TEST(ModelErrors, IdPropertyNotInt64) {
    auto j = tasks_json();
    prop(j, 1, "id")["type"] = "int32";
    expect_error(j, ErrorCode::kModelInvalid, {"User.id", "int64", "int32"});
}

TEST(ModelErrors, TwoIdProperties) {
    auto j = tasks_json();
    prop(j, 1, "email")["type"] = "int64";
    prop(j, 1, "email")["flags"] = {"id"};
    expect_error(j, ErrorCode::kModelInvalid, {"entity User", "more than one id"});
}

TEST(ModelErrors, SyncedEntityWithToOneToLocalOnly) {
    auto j = tasks_json();
    j["entities"][1]["sync"] = false;  // User local-only, Task.owner (synced) points to it
    expect_error(j, ErrorCode::kModelInvalid,
                 {"Task.owner", "synced entity Task", "local-only entity User"});
}

TEST(ModelErrors, SyncedEntityWithToManyToLocalOnly) {
    auto j = tasks_json();
    j["entities"][0]["sync"] = false;  // Task local-only, Project.tasks (synced) points to it
    expect_error(j, ErrorCode::kModelInvalid,
                 {"Project.tasks", "synced entity Project", "local-only entity Task"});
}

TEST(ModelErrors, LocalOnlyEntityMayRelateToSynced) {
    auto j = tasks_json();
    j["entities"][0]["sync"] = false;
    j["entities"][2]["sync"] = false;
    EXPECT_OK(Model::from_json(j.dump()));
}

TEST(ModelErrors, IndexedBytesProperty) {
    auto j = tasks_json();
    auto& p = prop(j, 1, "email");
    p["type"] = "bytes";
    p["flags"] = {"indexed"};
    p["indexId"] = "6:7210432819372541304";
    j["lastIndexId"] = "6:7210432819372541304";
    expect_error(j, ErrorCode::kModelInvalid, {"User.email", "bytes", "cannot be indexed"});
}

TEST(ModelErrors, IndexedVectorAndFlexProperties) {
    for (const char* type : {"stringVector", "flex", "int64Vector"}) {
        auto j = tasks_json();
        auto& p = prop(j, 1, "email");
        p["type"] = type;
        p["flags"] = {"unique"};
        p["indexId"] = "6:7210432819372541304";
        j["lastIndexId"] = "6:7210432819372541304";
        SCOPED_TRACE(type);
        expect_error(j, ErrorCode::kModelInvalid, {"User.email", type, "cannot be indexed"});
    }
}

TEST(ModelErrors, HashIndexOnNonString) {
    auto j = tasks_json();
    auto& p = prop(j, 0, "dateCreated");
    p["flags"] = {"indexHash"};
    expect_error(j, ErrorCode::kModelInvalid, {"Task.dateCreated", "hash index", "string"});
}

TEST(ModelErrors, UniqueOnConflictReplaceWithoutUnique) {
    auto j = tasks_json();
    prop(j, 1, "name")["flags"] = {"indexed", "uniqueOnConflictReplace"};
    expect_error(j, ErrorCode::kModelInvalid, {"User.name", "uniqueOnConflictReplace", "unique"});
}

TEST(ModelErrors, IndexedPropertyWithoutIndexId) {
    auto j = tasks_json();
    prop(j, 1, "email")["flags"] = {"indexed"};
    expect_error(j, ErrorCode::kModelInvalid, {"User.email", "indexId"});
}

TEST(ModelErrors, PropertyIdAboveLastPropertyId) {
    auto j = tasks_json();
    j["entities"][1]["properties"].push_back(
        {{"id", "4:7210432819372541114"}, {"name", "phone"}, {"type", "string"}});
    expect_error(j, ErrorCode::kModelInvalid, {"User.phone", "above the last id"});
}

TEST(ModelErrors, EntityIdAboveLastEntityId) {
    auto j = tasks_json();
    j["lastEntityId"] = "2:7210432819372541002";
    expect_error(j, ErrorCode::kModelInvalid, {"entity Project", "above the last id"});
}

TEST(ModelErrors, LastIdWithAnotherUid) {
    auto j = tasks_json();
    j["entities"][1]["lastPropertyId"] = "3:999";
    expect_error(j, ErrorCode::kModelInvalid, {"User.email", "last uid"});
}

TEST(ModelErrors, UnknownType) {
    auto j = tasks_json();
    prop(j, 1, "email")["type"] = "integer";
    expect_error(j, ErrorCode::kModelParse, {"User.email", "unknown type", "integer"});
}

TEST(ModelErrors, UnknownFlag) {
    auto j = tasks_json();
    prop(j, 1, "email")["flags"] = {"fancy"};
    expect_error(j, ErrorCode::kModelParse, {"User.email", "unknown flag", "fancy"});
}

TEST(ModelErrors, UnknownPropertyKey) {
    auto j = tasks_json();
    prop(j, 1, "email")["colour"] = "blue";
    expect_error(j, ErrorCode::kModelParse, {"User.email", "unknown key", "colour"});
}

TEST(ModelErrors, UnknownEntityKey) {
    auto j = tasks_json();
    j["entities"][1]["colour"] = "blue";
    expect_error(j, ErrorCode::kModelParse, {"entity User", "unknown key", "colour"});
}

TEST(ModelErrors, UnknownTopLevelKey) {
    auto j = tasks_json();
    j["colour"] = "blue";
    expect_error(j, ErrorCode::kModelParse, {"unknown key", "colour"});
}

TEST(ModelErrors, InvalidJson) {
    for (const char* text :
         {"", "{", "{\"entities\": [}", "not json", "{\"entities\": []} trailing"}) {
        auto r = Model::from_json(text);
        ASSERT_FALSE(r.is_ok()) << text;
        EXPECT_EQ(r.status().code(), ErrorCode::kModelParse) << text;
        EXPECT_NE(r.status().message().find("JSON"), std::string::npos) << r.status().message();
    }
}

TEST(ModelErrors, WrongShapes) {
    EXPECT_CODE(Model::from_json("[]"), ErrorCode::kModelParse);
    EXPECT_CODE(Model::from_json("{\"entities\": 3, \"lastEntityId\": \"1:1\"}"),
                ErrorCode::kModelParse);
    auto j = tasks_json();
    prop(j, 1, "email")["id"] = 5;
    expect_error(j, ErrorCode::kModelParse, {"User.email", "\"id\""});
    j = tasks_json();
    prop(j, 1, "email")["id"] = "3-7";
    expect_error(j, ErrorCode::kModelParse, {"User.email", "3-7"});
    j = tasks_json();
    prop(j, 1, "email").erase("type");
    expect_error(j, ErrorCode::kModelParse, {"User.email", "missing \"type\""});
    j = tasks_json();
    j["entities"][1]["sync"] = "yes";
    expect_error(j, ErrorCode::kModelParse, {"entity User", "sync"});
}

TEST(ModelErrors, ExternalTypeThatDoesNotFit) {
    struct Case {
        const char* property;
        const char* external;
    };
    for (const Case& c : {Case{"email", "binary"}, Case{"email", "timestamp"},
                          Case{"email", "flexMap"}, Case{"email", "regex"}}) {
        auto j = tasks_json();
        prop(j, 1, c.property)["externalType"] = c.external;
        SCOPED_TRACE(c.external);
        expect_error(j, ErrorCode::kModelInvalid,
                     {std::string("User.") + c.property, c.external, "does not fit", "string"});
    }
}

TEST(ModelErrors, ExternalTypesThatFitAreAccepted) {
    auto j = tasks_json();
    prop(j, 1, "id")["externalType"] = "objectId";
    prop(j, 1, "email")["externalType"] = "uuidString";
    prop(j, 1, "name")["externalType"] = "decimal128";
    EXPECT_OK(Model::from_json(j.dump()));
}

TEST(ModelErrors, UnknownExternalTypeName) {
    auto j = tasks_json();
    prop(j, 1, "email")["externalType"] = "objectid";
    expect_error(j, ErrorCode::kModelParse, {"User.email", "externalType", "objectid"});
}

TEST(ModelErrors, RelationWithoutTargetOrIndex) {
    auto j = tasks_json();
    prop(j, 0, "owner").erase("target");
    expect_error(j, ErrorCode::kModelInvalid, {"Task.owner", "target"});
    j = tasks_json();
    prop(j, 0, "owner").erase("indexId");
    expect_error(j, ErrorCode::kModelInvalid, {"Task.owner", "indexId"});
}

TEST(ModelErrors, UnsignedOnNonInteger) {
    auto j = tasks_json();
    prop(j, 1, "email")["flags"] = {"unsigned"};
    expect_error(j, ErrorCode::kModelInvalid, {"User.email", "unsigned"});
}

TEST(ModelErrors, SyncClockRules) {
    auto j = tasks_json();
    prop(j, 1, "email")["flags"] = {"syncClock"};
    expect_error(j, ErrorCode::kModelInvalid, {"User.email", "syncClock"});
    j = tasks_json();
    for (auto& e : j["entities"]) e["sync"] = false;
    prop(j, 0, "dateFinished")["flags"] = {"syncClock"};
    expect_error(j, ErrorCode::kModelInvalid, {"Task.dateFinished", "local-only"});
}

TEST(ModelErrors, RetiredUidStillInUse) {
    auto j = tasks_json();
    j["retiredPropertyUids"] = {7210432819372541113ull};  // User.email
    expect_error(j, ErrorCode::kModelInvalid, {"User.email", "retired"});
}

TEST(ModelErrors, UnsupportedModelVersion) {
    for (auto version : {ordered_json(99), ordered_json(0), ordered_json(2), ordered_json(-1),
                         ordered_json(1.5), ordered_json("1")}) {
        auto j = tasks_json();
        j["modelVersion"] = version;
        expect_error(j, ErrorCode::kModelParse,
                     {"modelVersion " + version.dump(), "not supported", "reads modelVersion 1"});
    }
}

TEST(ModelErrors, ModelVersionOneOrAbsentIsAccepted) {
    auto j = tasks_json();
    j["modelVersion"] = 1;
    EXPECT_OK(Model::from_json(j.dump()));
    j.erase("modelVersion");
    EXPECT_OK(Model::from_json(j.dump()));
}

// Uids are 63-bit (docs/model.md): 2^63 and above are refused wherever a uid appears.
TEST(ModelErrors, UidAbove63BitsIsRefused) {
    const std::string max64 = "18446744073709551615";  // 2^64-1
    const std::string two63 = "9223372036854775808";   // 2^63
    for (const std::string& big : {max64, two63}) {
        auto j = tasks_json();
        prop(j, 1, "name")["id"] = "2:" + big;
        expect_error(j, ErrorCode::kModelInvalid, {"User.name", big, "1..2^63-1"});

        j = tasks_json();
        j["entities"][2]["id"] = "3:" + big;  // Project, the last entity
        j["lastEntityId"] = "3:" + big;
        expect_error(j, ErrorCode::kModelInvalid, {big, "1..2^63-1"});

        j = tasks_json();
        prop(j, 1, "email")["id"] = "3:" + big;  // the last property of User
        j["entities"][1]["lastPropertyId"] = "3:" + big;
        expect_error(j, ErrorCode::kModelInvalid, {"User", big, "1..2^63-1"});

        j = tasks_json();
        prop(j, 1, "name")["indexId"] = "3:" + big;  // the last index
        j["lastIndexId"] = "3:" + big;
        expect_error(j, ErrorCode::kModelInvalid, {big, "1..2^63-1"});

        j = tasks_json();
        j["retiredPropertyUids"] = {std::stoull(big)};
        expect_error(j, ErrorCode::kModelInvalid, {"retired uid", big, "1..2^63-1"});
    }
}

TEST(ModelErrors, LargestUidIsAccepted) {
    auto j = tasks_json();
    prop(j, 1, "name")["id"] = "2:9223372036854775807";  // 2^63-1
    j["retiredPropertyUids"] = {9223372036854775806ull};
    EXPECT_OK(Model::from_json(j.dump()));
}

TEST(ModelErrors, BuilderRefusesAUidAbove63Bits) {
    ModelBuilder b;
    b.entity("Thing", UINT64_MAX).property("id", PropertyType::kInt64, kFlagId);
    auto r = b.build();
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kModelInvalid);
    EXPECT_NE(r.status().message().find("1..2^63-1"), std::string::npos) << r.status().message();
}

TEST(ModelErrors, RelationNameClashesWithProperty) {
    auto j = tasks_json();
    j["entities"][2]["relations"][0]["name"] = "name";
    expect_error(j, ErrorCode::kModelInvalid, {"Project.name", "used twice"});
}

TEST(ModelErrors, LoadNamesTheFile) {
    auto j = tasks_json();
    prop(j, 1, "email")["type"] = "integer";
    std::string path = (std::filesystem::temp_directory_path() /
                        ("outpost-bad-model-" + std::to_string(::getpid()) + ".json"))
                           .string();
    {
        std::ofstream out(path);
        out << j.dump(2);
    }
    auto r = Model::load(path);
    std::filesystem::remove(path);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kModelParse);
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("User.email"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace outpost
