// Command behaviour through the engine, without a driver: regression tests for answers that were
// wrong or crashed, each against what MongoDB 6.0 answers.
#include <gtest/gtest.h>

#include "engine_harness.hpp"

namespace standin {
namespace {

using testing::docs;
using testing::EngineHarness;
using testing::normalized;
using testing::relaxed;

// A projection value that is a sub-document holding an expression kept iterators into a copy of
// the sub-document that was freed before they were read.
TEST(Projection, NestedComputedFieldInFind) {
    EngineHarness h;
    h.ok(R"({"insert": "c", "documents": [{"_id": 1, "a": "value-of-a", "b": 2}]})");
    EXPECT_EQ(h.find("c", R"("projection": {"x": {"y": "$a"}})"),
              docs({R"({"_id": 1, "x": {"y": "value-of-a"}})"}));
    EXPECT_EQ(h.find("c", R"("projection": {"_id": 0, "x": {"y": "$a", "z": {"$add": ["$b", 1]}}})"),
              docs({R"({"x": {"y": "value-of-a", "z": 3}})"}));
}

TEST(Projection, NestedLiteralInAggregateProject) {
    EngineHarness h;
    h.ok(R"({"insert": "c", "documents": [{"_id": 1, "a": 1}]})");
    Doc r = h.ok(
        R"({"aggregate": "c", "pipeline": [{"$project": {"x": {"y": "lit", "z": {"w": "$a"}}}}], "cursor": {}})");
    EXPECT_EQ(EngineHarness::batch(r.get()), docs({R"({"_id": 1, "x": {"y": "lit", "z": {"w": 1}}})"}));
}

TEST(Projection, NestedComputedFieldInChangeStream) {
    EngineHarness h;
    h.ok(R"({"create": "c"})");
    Doc opened = h.ok(
        R"({"aggregate": "c", "pipeline": [{"$changeStream": {}}, {"$project": {"ns": {"db": "$ns.db"}}}], "cursor": {}})");
    int64_t id = EngineHarness::cursor_id(opened.get());
    ASSERT_NE(id, 0);
    h.ok(R"({"insert": "c", "documents": [{"_id": 1}]})");
    Doc more = h.get_more(id, "c");
    auto events = EngineHarness::batch(more.get());
    ASSERT_EQ(events.size(), 1u);
    EXPECT_NE(events[0].find(R"("ns" : { "db" : "t" })"), std::string::npos) << events[0];
    EXPECT_EQ(events[0].find("operationType"), std::string::npos) << events[0];
}

}  // namespace
}  // namespace standin
