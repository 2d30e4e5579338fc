// ModelBuilder: models built in code are valid, stable across builds, and survive the JSON file.
#include <gtest/gtest.h>

#include <set>

#include "common/status_macros.hpp"
#include "model/model_compare.hpp"
#include "outpost/model.hpp"

namespace outpost {
namespace {

Result<Model> build_tasks_like() {
    ModelBuilder b;
    b.entity("User").sync().external_name("users");
    b.property("id", PropertyType::kInt64, kFlagId).external_type(ExternalType::kObjectId);
    b.property("name", PropertyType::kString, kFlagIndexed);
    b.property("email", PropertyType::kString, kFlagUnique | kFlagIndexHash).external_name("mail");
    b.entity("Task").sync();
    b.property("id", PropertyType::kInt64, kFlagId);
    b.property("text", PropertyType::kString);
    b.property("created", PropertyType::kDate, kFlagIndexed);
    b.relation_property("owner", "User");
    b.property("tags", PropertyType::kStringVector);
    b.entity("Project").sync();
    b.property("id", PropertyType::kInt64, kFlagId);
    b.property("name", PropertyType::kString);
    b.to_many("tasks", "Task");
    return b.build();
}

TEST(ModelBuilder, BuildsAValidModel) {
    auto r = build_tasks_like();
    ASSERT_OK(r);
    const Model& m = *r;
    EXPECT_OK(m.validate());
    ASSERT_EQ(m.entities.size(), 3u);
    EXPECT_EQ(m.entities[0].id.id, 1u);
    EXPECT_EQ(m.entities[2].id.id, 3u);
    EXPECT_EQ(m.last_entity_id, m.entities[2].id);

    const Entity& user = *m.entity("User");
    EXPECT_TRUE(user.sync);
    EXPECT_EQ(user.external_name, "users");
    EXPECT_EQ(user.properties[0].external_type, ExternalType::kObjectId);
    EXPECT_EQ(user.properties[1].id.id, 2u);
    EXPECT_EQ(user.last_property_id, user.properties[2].id);
    EXPECT_TRUE(user.property("name")->has_index());
    EXPECT_FALSE(user.property("id")->has_index());
    EXPECT_EQ(user.property("email")->external_name, "mail");
    EXPECT_EQ(user.property("email")->flags, kFlagUnique | kFlagIndexHash);

    const Entity& task = *m.entity("Task");
    const Property& owner = *task.property("owner");
    EXPECT_EQ(owner.type, PropertyType::kRelation);
    EXPECT_EQ(owner.target, "User");
    EXPECT_TRUE(owner.has_index());
    // Indexes: User.name, User.email, Task.created, Task.owner.
    EXPECT_EQ(m.last_index_id.id, 4u);
    EXPECT_EQ(m.last_index_id, owner.index_id);

    const Entity& project = *m.entity("Project");
    ASSERT_EQ(project.relations.size(), 1u);
    EXPECT_EQ(project.relations[0].target, "Task");
    EXPECT_EQ(m.last_relation_id, project.relations[0].id);

    // Every uid is distinct and non-zero.
    std::set<uint64_t> uids;
    size_t n = 0;
    for (const auto& e : m.entities) {
        uids.insert(e.id.uid);
        ++n;
        for (const auto& p : e.properties) {
            uids.insert(p.id.uid);
            ++n;
            if (p.has_index()) {
                uids.insert(p.index_id.uid);
                ++n;
            }
        }
        for (const auto& rel : e.relations) {
            uids.insert(rel.id.uid);
            ++n;
        }
    }
    EXPECT_EQ(uids.size(), n);
    EXPECT_EQ(uids.count(0), 0u);
}

TEST(ModelBuilder, TwoBuildsAreEqual) {
    auto a = build_tasks_like();
    auto b = build_tasks_like();
    ASSERT_OK(a);
    ASSERT_OK(b);
    test::expect_same_model(*a, *b);
    EXPECT_EQ(a->to_json(), b->to_json());
    EXPECT_OK(check_evolution(*a, *b));
}

TEST(ModelBuilder, SurvivesTheJsonFile) {
    auto a = build_tasks_like();
    ASSERT_OK(a);
    auto parsed = Model::from_json(a->to_json());
    ASSERT_OK(parsed);
    test::expect_same_model(*a, *parsed);
}

TEST(ModelBuilder, UsesGivenUids) {
    ModelBuilder b;
    b.entity("A", 111).property("id", PropertyType::kInt64, kFlagId, 222);
    b.to_many("self", "A", 333);
    auto m = b.build();
    ASSERT_OK(m);
    EXPECT_EQ(m->entities[0].id.uid, 111u);
    EXPECT_EQ(m->entities[0].properties[0].id.uid, 222u);
    EXPECT_EQ(m->entities[0].relations[0].id.uid, 333u);
}

TEST(ModelBuilder, ReportsValidationErrors) {
    {
        ModelBuilder b;
        b.entity("A").property("id", PropertyType::kInt64, kFlagId);
        b.relation_property("b", "B");
        auto m = b.build();
        ASSERT_FALSE(m.is_ok());
        EXPECT_EQ(m.status().code(), ErrorCode::kModelInvalid);
        EXPECT_NE(m.status().message().find("A.b"), std::string::npos) << m.status().message();
    }
    {
        ModelBuilder b;
        b.entity("A").property("name", PropertyType::kString);
        auto m = b.build();
        ASSERT_FALSE(m.is_ok());
        EXPECT_EQ(m.status().code(), ErrorCode::kModelInvalid);
        EXPECT_NE(m.status().message().find("entity A"), std::string::npos) << m.status().message();
    }
    {
        ModelBuilder b;
        b.entity("A").sync().property("id", PropertyType::kInt64, kFlagId);
        b.to_many("bs", "B");
        b.entity("B").property("id", PropertyType::kInt64, kFlagId);
        auto m = b.build();
        ASSERT_FALSE(m.is_ok());
        EXPECT_EQ(m.status().code(), ErrorCode::kModelInvalid);
        EXPECT_NE(m.status().message().find("A.bs"), std::string::npos) << m.status().message();
    }
}

}  // namespace
}  // namespace outpost
