// Conditions through relations: to-one, to-many, backlinks of both, several hops, and how links
// behave when targets are missing or removed.
#include <gtest/gtest.h>

#include "common/status_macros.hpp"
#include "query/query_support.hpp"

namespace outpost {
namespace {

using qtest::Ids;

class QueryLinks : public qtest::QueryStoreTest {
  protected:
    void SetUp() override {
        QueryStoreTest::SetUp();
        ada_ = put("Person", {{"name", "Ada"}, {"age", 36}});
        bea_ = put("Person", {{"name", "Bea"}, {"age", 17}});
        cy_ = put("Person", {{"age", 51}});  // no name
        DynamicBox items = box("Item");
        auto item = [&](int64_t i, bool done, uint64_t owner, std::vector<uint64_t> likes) {
            Object o = items.new_object();
            EXPECT_OK(o.set("i", i));
            EXPECT_OK(o.set("b", done));
            if (owner) {
                EXPECT_OK(o.set("owner", static_cast<int64_t>(owner)));
            }
            EXPECT_OK(o.set_to_many("likes", std::move(likes)));
            auto id = items.put(o);
            EXPECT_OK(id);
            return id.value();
        };
        item(1, true, ada_, {bea_});       // 1
        item(2, false, ada_, {});          // 2
        item(3, true, bea_, {ada_, cy_});  // 3
        item(4, true, 0, {bea_, bea_});    // 4
        item(5, false, cy_, {});           // 5
    }
    uint64_t ada_ = 0, bea_ = 0, cy_ = 0;
};

TEST_F(QueryLinks, ToOne) {
    EXPECT_EQ(ids("Item", "owner.name == \"Ada\""), (Ids{1, 2}));
    EXPECT_EQ(ids("Item", "owner.name != \"Ada\""),
              (Ids{3}));  // Cy's name is null; item 4 has no owner
    EXPECT_EQ(ids("Item", "owner.name IS NULL"), (Ids{5}));
    EXPECT_EQ(ids("Item", "owner.age < 40 AND b == true"), (Ids{1, 3}));
    EXPECT_EQ(ids("Item", "owner IS NULL"), (Ids{4}));
    EXPECT_EQ(ids("Item", "owner == " + std::to_string(bea_)), (Ids{3}));
    EXPECT_EQ(ids("Item", "owner.id == " + std::to_string(cy_)), (Ids{5}));
    EXPECT_EQ(ids("Item", "NOT owner.name == \"Ada\""), (Ids{3, 4, 5}));
}

TEST_F(QueryLinks, ToMany) {
    EXPECT_EQ(ids("Item", "likes.name == \"Bea\""), (Ids{1, 4}));
    EXPECT_EQ(ids("Item", "likes.age > 40"), (Ids{3}));
    EXPECT_EQ(ids("Item", "likes.name ^= \"a\" CI"), (Ids{3}));
    EXPECT_EQ(ids("Item", "likes.age IS NOT NULL"), (Ids{1, 3, 4}));
}

TEST_F(QueryLinks, Backlinks) {
    // People that some unfinished item points to through owner.
    EXPECT_EQ(ids("Person", "@Item.owner.b == false"), (Ids{ada_, cy_}));
    EXPECT_EQ(ids("Person", "@Item.owner.i >= 3"), (Ids{bea_, cy_}));
    EXPECT_EQ(ids("Person", "@Item.owner.i IS NOT NULL"), (Ids{ada_, bea_, cy_}));
    // Through the to-many relation.
    EXPECT_EQ(ids("Person", "@Item.likes.i == 4"), (Ids{bea_}));
    EXPECT_EQ(ids("Person", "@Item.likes.b == true"), (Ids{ada_, bea_, cy_}));
    EXPECT_EQ(ids("Person", "@Item.likes.i > 1"), (Ids{ada_, bea_, cy_}));
    EXPECT_EQ(ids("Person", "@Item.likes.i < 3"), (Ids{bea_}));
    EXPECT_EQ(ids("Person", "name ^= \"A\" AND @Item.owner.b == true"), (Ids{ada_}));
}

TEST_F(QueryLinks, SeveralHops) {
    // Items whose owner owns some item with i == 1.
    EXPECT_EQ(ids("Item", "owner.@Item.owner.i == 1"), (Ids{1, 2}));
    // People liked by an item whose owner is Ada.
    EXPECT_EQ(ids("Person", "@Item.likes.owner.name == \"Ada\""), (Ids{bea_}));
}

TEST_F(QueryLinks, PathsDrivenByTheTargetsIndex) {
    // Person.name is indexed: these run from the index backwards through the relation.
    auto plan = [&](const std::string& entity, const std::string& where) {
        auto q = build(entity, where);
        return q.is_ok() ? q->explain() : q.status().to_string();
    };
    EXPECT_NE(plan("Item", "owner.name == \"Ada\"").find("index Person.name"), std::string::npos);
    EXPECT_EQ(ids("Item", "owner.name IN (\"Ada\", \"Bea\")"), (Ids{1, 2, 3}));
    EXPECT_EQ(ids("Item", "likes.name ^= \"B\""), (Ids{1, 4}));
    EXPECT_NE(plan("Person", "@Item.owner.i == 3").find("index Item.i (==) via @Item.owner"),
              std::string::npos);
    EXPECT_EQ(ids("Person", "@Item.owner.i == 3"), (Ids{bea_}));
    EXPECT_EQ(ids("Person", "@Item.likes.i IN (1, 4)"), (Ids{bea_}));
    EXPECT_EQ(ids("Person", "@Item.likes.owner.name == \"Ada\""), (Ids{bea_}));
    EXPECT_NE(plan("Person", "@Item.likes.owner.name == \"Ada\"")
                  .find("index Person.name (==) via @Item.likes.owner"),
              std::string::npos)
        << plan("Person", "@Item.likes.owner.name == \"Ada\"");
    EXPECT_EQ(ids("Item", "owner.@Item.owner.i == 1"), (Ids{1, 2}));
    EXPECT_NE(
        plan("Item", "owner.@Item.owner.i == 1").find("index Item.i (==) via owner.@Item.owner"),
        std::string::npos)
        << plan("Item", "owner.@Item.owner.i == 1");
}

TEST_F(QueryLinks, RemovedTargetsNoLongerMatch) {
    DynamicBox people = box("Person");
    ASSERT_OK_AND_ASSIGN(bool removed, people.remove(ada_));
    EXPECT_TRUE(removed);
    EXPECT_EQ(ids("Item", "owner.name == \"Ada\""), (Ids{}));
    EXPECT_EQ(ids("Item", "owner IS NULL"), (Ids{1, 2, 4}));
    EXPECT_EQ(ids("Item", "likes.age > 40"), (Ids{3}));
}

}  // namespace
}  // namespace outpost
