// The model file: parsing the example, JSON round trips, ids, type names, evolution checks.
#include "outpost/model.hpp"

#include <gtest/gtest.h>

#include "common/status_macros.hpp"
#include "model/model_compare.hpp"

namespace outpost {
namespace {

using test::expect_same_model;

Model tasks_model() {
    auto m = Model::load(test::tasks_model_path());
    EXPECT_OK(m);
    return m.is_ok() ? std::move(m).value() : Model{};
}

TEST(ModelFile, ParsesTheTasksExample) {
    auto r = Model::load(test::tasks_model_path());
    ASSERT_OK(r);
    const Model& m = *r;
    ASSERT_EQ(m.entities.size(), 3u);

    const Entity* task = m.entity("Task");
    ASSERT_NE(task, nullptr);
    EXPECT_EQ(task->id, (IdUid{1, 7210432819372541001ull}));
    EXPECT_TRUE(task->sync);
    EXPECT_EQ(task->last_property_id, (IdUid{9, 4527916838771490466ull}));
    ASSERT_EQ(task->properties.size(), 9u);
    EXPECT_EQ(task->id_property().name, "id");
    EXPECT_TRUE(task->id_property().has(kFlagId));
    EXPECT_EQ(task->id_property().type, PropertyType::kInt64);

    const Property* created = task->property("dateCreated");
    ASSERT_NE(created, nullptr);
    EXPECT_EQ(created->type, PropertyType::kDate);
    EXPECT_TRUE(created->has(kFlagIndexed));
    EXPECT_TRUE(created->has_index());
    EXPECT_EQ(created->index_id, (IdUid{1, 7210432819372541301ull}));

    const Property* owner = task->property("owner");
    ASSERT_NE(owner, nullptr);
    EXPECT_EQ(owner->type, PropertyType::kRelation);
    EXPECT_EQ(owner->target, "User");
    EXPECT_EQ(owner->index_id, (IdUid{2, 7210432819372541302ull}));
    EXPECT_EQ(task->property("tags")->type, PropertyType::kStringVector);
    EXPECT_EQ(task->property("done")->type, PropertyType::kBool);
    const Property* owner_id = task->property("ownerId");
    ASSERT_NE(owner_id, nullptr);
    EXPECT_EQ(owner_id->type, PropertyType::kString);
    EXPECT_EQ(owner_id->index_id, (IdUid{4, 2944749620539159155ull}));
    EXPECT_EQ(task->property("sharedWith")->type, PropertyType::kStringVector);
    EXPECT_EQ(task->property_by_id(4)->name, "dateFinished");
    EXPECT_EQ(task->property("nothing"), nullptr);

    const Entity* project = m.entity_by_id(3);
    ASSERT_NE(project, nullptr);
    EXPECT_EQ(project->name, "Project");
    ASSERT_EQ(project->relations.size(), 1u);
    EXPECT_EQ(project->relations[0].name, "tasks");
    EXPECT_EQ(project->relations[0].target, "Task");
    EXPECT_EQ(project->relations[0].id, (IdUid{1, 7210432819372541401ull}));
    EXPECT_NE(project->relation("tasks"), nullptr);

    EXPECT_EQ(m.entity_by_uid(7210432819372541002ull), m.entity("User"));
    EXPECT_EQ(m.entity("Nobody"), nullptr);
    EXPECT_EQ(m.last_entity_id, (IdUid{3, 7210432819372541003ull}));
    EXPECT_EQ(m.last_index_id, (IdUid{5, 3175201233031142017ull}));
    EXPECT_EQ(m.last_relation_id, (IdUid{1, 7210432819372541401ull}));
    EXPECT_TRUE(m.retired_entity_uids.empty());
    EXPECT_OK(m.validate());
}

TEST(ModelFile, LoadOfAMissingFileIsAnIoError) {
    auto r = Model::load("/nonexistent/outpost/model.json");
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kIo);
    EXPECT_NE(r.status().message().find("/nonexistent/outpost/model.json"), std::string::npos);
}

TEST(ModelFile, RoundTripsThroughJson) {
    Model m = tasks_model();
    std::string json = m.to_json();
    auto again = Model::from_json(json);
    ASSERT_OK(again);
    expect_same_model(m, *again);
    EXPECT_EQ(again->to_json(), json);
}

TEST(ModelFile, RoundTripKeepsAnnotationsFlagsAndRetiredUids) {
    const char* json = R"({
      "modelVersion": 1,
      "entities": [
        {"id": "1:101", "name": "Item", "sync": true, "externalName": "items",
         "lastPropertyId": "9:209",
         "properties": [
           {"id": "1:201", "name": "id", "type": "int64", "flags": ["id"], "externalType": "objectId"},
           {"id": "2:202", "name": "code", "type": "string", "flags": ["indexHash", "unique",
            "uniqueOnConflictReplace"], "indexId": "1:301", "externalName": "the_code"},
           {"id": "3:203", "name": "count", "type": "int32", "flags": ["indexed", "unsigned"],
            "indexId": "2:302"},
           {"id": "4:204", "name": "clock", "type": "dateNano", "flags": ["syncClock"]},
           {"id": "5:205", "name": "blob", "type": "bytes", "externalType": "binary"},
           {"id": "6:206", "name": "doc", "type": "flex", "externalType": "flexMap"},
           {"id": "7:207", "name": "when", "type": "int64", "externalType": "timestamp"},
           {"id": "9:209", "name": "parent", "type": "relation", "target": "Item", "indexId": "3:303"}
         ],
         "relations": [{"id": "1:401", "name": "children", "target": "Item", "externalName": "kids"}]
        }
      ],
      "lastEntityId": "2:102",
      "lastIndexId": "3:303",
      "lastRelationId": "1:401",
      "retiredEntityUids": [102],
      "retiredPropertyUids": [208],
      "retiredIndexUids": [300],
      "retiredRelationUids": [400]
    })";
    auto m = Model::from_json(json);
    ASSERT_OK(m);
    const Entity& item = m->entities[0];
    EXPECT_EQ(item.external_name, "items");
    EXPECT_EQ(item.property("id")->external_type, ExternalType::kObjectId);
    const Property& code = *item.property("code");
    EXPECT_EQ(code.flags, kFlagIndexHash | kFlagUnique | kFlagUniqueReplace);
    EXPECT_EQ(code.external_name, "the_code");
    EXPECT_EQ(item.property("count")->flags, kFlagIndexed | kFlagUnsigned);
    EXPECT_TRUE(item.property("clock")->has(kFlagSyncClock));
    EXPECT_EQ(item.property("doc")->external_type, ExternalType::kFlexMap);
    EXPECT_EQ(item.relations[0].external_name, "kids");
    EXPECT_EQ(m->retired_entity_uids, std::vector<uint64_t>{102});
    EXPECT_EQ(m->retired_property_uids, std::vector<uint64_t>{208});
    EXPECT_EQ(m->retired_index_uids, std::vector<uint64_t>{300});
    EXPECT_EQ(m->retired_relation_uids, std::vector<uint64_t>{400});

    auto again = Model::from_json(m->to_json());
    ASSERT_OK(again);
    expect_same_model(*m, *again);
    EXPECT_EQ(again->to_json(), m->to_json());
}

TEST(IdUid, ParsesAndPrints) {
    auto v = IdUid::parse("3:8451234");
    ASSERT_OK(v);
    EXPECT_EQ(v->id, 3u);
    EXPECT_EQ(v->uid, 8451234u);
    EXPECT_EQ(v->to_string(), "3:8451234");
    EXPECT_TRUE(v->is_set());
    EXPECT_FALSE((IdUid{0, 5}).is_set());
    EXPECT_FALSE((IdUid{5, 0}).is_set());
    auto big = IdUid::parse("4294967295:18446744073709551615");
    ASSERT_OK(big);
    EXPECT_EQ(big->uid, 18446744073709551615ull);
}

TEST(IdUid, RejectsMalformedText) {
    for (const char* bad :
         {"", "3", "3:", ":5", "a:5", "3:5x", "3:5:6", "-1:5", "3: 5", "99999999999:1"}) {
        auto v = IdUid::parse(bad);
        EXPECT_FALSE(v.is_ok()) << "accepted \"" << bad << "\"";
        if (!v.is_ok()) {
            EXPECT_EQ(v.status().code(), ErrorCode::kModelParse) << bad;
        }
    }
}

TEST(PropertyTypes, NamesRoundTripForEveryType) {
    int count = 0;
    for (int t = static_cast<int>(PropertyType::kBool);
         t <= static_cast<int>(PropertyType::kDateVector); ++t) {
        auto type = static_cast<PropertyType>(t);
        std::string_view name = property_type_name(type);
        EXPECT_NE(name, "unknown");
        auto back = property_type_from_name(name);
        ASSERT_TRUE(back.has_value()) << name;
        EXPECT_EQ(*back, type) << name;
        ++count;
    }
    EXPECT_EQ(count, 21);
    EXPECT_FALSE(property_type_from_name("integer").has_value());
    EXPECT_EQ(element_type(PropertyType::kDateVector), PropertyType::kDate);
    EXPECT_EQ(element_type(PropertyType::kFloatVector), PropertyType::kFloat);
    EXPECT_EQ(element_type(PropertyType::kString), PropertyType::kString);
    EXPECT_TRUE(is_vector_type(PropertyType::kInt8Vector));
    EXPECT_FALSE(is_vector_type(PropertyType::kRelation));
    EXPECT_TRUE(is_integer_type(PropertyType::kRelation));
    EXPECT_TRUE(is_integer_type(PropertyType::kDateNano));
    EXPECT_FALSE(is_integer_type(PropertyType::kDouble));
    EXPECT_FALSE(is_integer_type(PropertyType::kInt64Vector));
}

TEST(ExternalTypes, NamesRoundTrip) {
    for (int t = static_cast<int>(ExternalType::kObjectId);
         t <= static_cast<int>(ExternalType::kFlexVector); ++t) {
        auto type = static_cast<ExternalType>(t);
        auto back = external_type_from_name(external_type_name(type));
        ASSERT_TRUE(back.has_value()) << t;
        EXPECT_EQ(*back, type);
    }
    EXPECT_FALSE(external_type_from_name("objectid").has_value());
}

TEST(StatusText, NamesTheCodeAndNumber) {
    Status s(ErrorCode::kUniqueViolation, "Task.text: taken");
    EXPECT_EQ(s.to_string(), "unique_violation (303): Task.text: taken");
    EXPECT_EQ(Status().to_string(), "ok");
    EXPECT_EQ(error_code_name(ErrorCode::kTxnMisuse), "txn_misuse");
}

// ---- evolution checks on models alone (the store applies them at open) ----

TEST(ModelEvolution, AcceptsTheSameModel) {
    Model m = tasks_model();
    EXPECT_OK(check_evolution(m, m));
}

TEST(ModelEvolution, AcceptsRenamesUnderTheSameUid) {
    Model old_model = tasks_model();
    Model renamed = old_model;
    renamed.entities[1].name = "Person";
    renamed.entities[0].properties[5].target = "Person";  // Task.owner follows the rename
    renamed.entities[1].properties[1].name = "fullName";
    ASSERT_OK(renamed.validate());
    EXPECT_OK(check_evolution(old_model, renamed));
}

TEST(ModelEvolution, RefusesATypeChangeNamingTheProperty) {
    Model old_model = tasks_model();
    Model changed = old_model;
    changed.entities[0].properties[1].type = PropertyType::kInt64;  // Task.text
    ASSERT_OK(changed.validate());
    Status st = check_evolution(old_model, changed);
    EXPECT_EQ(st.code(), ErrorCode::kSchemaIncompatible) << st.to_string();
    EXPECT_NE(st.message().find("Task.text"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("string"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("int64"), std::string::npos) << st.message();
}

TEST(ModelEvolution, RemovalNeedsTheUidRetired) {
    Model old_model = tasks_model();
    Model removed = old_model;
    auto& props = removed.entities[1].properties;  // User.email
    uint64_t uid = props[2].id.uid;
    props.erase(props.begin() + 2);
    ASSERT_OK(removed.validate());
    Status st = check_evolution(old_model, removed);
    EXPECT_EQ(st.code(), ErrorCode::kSchemaIncompatible) << st.to_string();
    EXPECT_NE(st.message().find("User.email"), std::string::npos) << st.message();

    removed.retired_property_uids.push_back(uid);
    ASSERT_OK(removed.validate());
    EXPECT_OK(check_evolution(old_model, removed));
}

TEST(ModelEvolution, EntityRemovalNeedsTheUidRetired) {
    Model old_model = tasks_model();
    Model removed = old_model;
    uint64_t uid = removed.entities[2].id.uid;  // Project
    removed.entities.pop_back();
    ASSERT_OK(removed.validate());
    Status st = check_evolution(old_model, removed);
    EXPECT_EQ(st.code(), ErrorCode::kSchemaIncompatible) << st.to_string();
    EXPECT_NE(st.message().find("Project"), std::string::npos) << st.message();
    removed.retired_entity_uids.push_back(uid);
    removed.retired_relation_uids.push_back(old_model.entities[2].relations[0].id.uid);
    ASSERT_OK(removed.validate());
    EXPECT_OK(check_evolution(old_model, removed));
}

TEST(ModelEvolution, RefusesAnIdChangeUnderTheSameUid) {
    Model old_model = tasks_model();
    Model changed = old_model;
    // User.email moves from id 3 to id 4 (its stored field would move with it).
    Property& email = changed.entities[1].properties[2];
    email.id.id = 4;
    changed.entities[1].last_property_id = email.id;
    ASSERT_OK(changed.validate());
    Status st = check_evolution(old_model, changed);
    EXPECT_EQ(st.code(), ErrorCode::kSchemaIncompatible) << st.to_string();
    EXPECT_NE(st.message().find("User.email"), std::string::npos) << st.message();
}

TEST(ModelEvolution, RefusesAnEntityIdChange) {
    Model old_model = tasks_model();
    Model changed = old_model;
    changed.entities[2].id.id = 4;  // Project: 3 -> 4
    changed.last_entity_id = changed.entities[2].id;
    ASSERT_OK(changed.validate());
    Status st = check_evolution(old_model, changed);
    EXPECT_EQ(st.code(), ErrorCode::kSchemaIncompatible) << st.to_string();
    EXPECT_NE(st.message().find("Project"), std::string::npos) << st.message();
}

TEST(ModelEvolution, ToManyRemovalNeedsTheUidRetired) {
    Model old_model = tasks_model();
    Model removed = old_model;
    uint64_t uid = removed.entities[2].relations[0].id.uid;
    removed.entities[2].relations.clear();
    ASSERT_OK(removed.validate());
    Status st = check_evolution(old_model, removed);
    EXPECT_EQ(st.code(), ErrorCode::kSchemaIncompatible) << st.to_string();
    EXPECT_NE(st.message().find("Project.tasks"), std::string::npos) << st.message();
    removed.retired_relation_uids.push_back(uid);
    ASSERT_OK(removed.validate());
    EXPECT_OK(check_evolution(old_model, removed));
}

TEST(ModelEvolution, RefusesAToOneTargetChange) {
    Model old_model = tasks_model();
    Model changed = old_model;
    changed.entities[0].properties[5].target = "Project";  // Task.owner: User -> Project
    ASSERT_OK(changed.validate());
    Status st = check_evolution(old_model, changed);
    EXPECT_EQ(st.code(), ErrorCode::kSchemaIncompatible) << st.to_string();
    EXPECT_NE(st.message().find("Task.owner"), std::string::npos) << st.message();
}

TEST(ModelEvolution, RefusesAToManyTargetChange) {
    Model old_model = tasks_model();
    Model changed = old_model;
    changed.entities[2].relations[0].target = "User";  // Project.tasks: Task -> User
    ASSERT_OK(changed.validate());
    Status st = check_evolution(old_model, changed);
    EXPECT_EQ(st.code(), ErrorCode::kSchemaIncompatible) << st.to_string();
    EXPECT_NE(st.message().find("Project.tasks"), std::string::npos) << st.message();
}

TEST(ModelEvolution, RefusesAUidThatWasRetiredComingBack) {
    Model old_model = tasks_model();
    uint64_t uid = old_model.entities[1].properties[2].id.uid;
    Model v2 = old_model;
    v2.entities[1].properties.erase(v2.entities[1].properties.begin() + 2);
    v2.retired_property_uids.push_back(uid);
    ASSERT_OK(check_evolution(old_model, v2));
    Model v3 = old_model;  // brings User.email back under its retired uid
    ASSERT_OK(v3.validate());
    Status st = check_evolution(v2, v3);
    EXPECT_EQ(st.code(), ErrorCode::kSchemaIncompatible) << st.to_string();
    EXPECT_NE(st.message().find("User.email"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace outpost
