// Walking conditions without a store: paths(), parameters(), comparisons(), and bind().
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "query/query_support.hpp"

namespace outpost::qtest {
namespace {

using Binding = Condition::Binding;
using Strings = std::vector<std::string>;

Condition parse(const std::string& text) {
    auto c = parse_condition(text);
    EXPECT_OK(c) << text;
    return c ? c.value() : Condition::all_of({});
}

Binding values(std::vector<Value> v) {
    Binding b;
    b.kind = Binding::Kind::kValues;
    b.values = std::move(v);
    return b;
}
Binding missing() {
    Binding b;
    b.kind = Binding::Kind::kMissing;
    return b;
}

// TEXT bound with BINDINGS (names not in it stay parameters), printed.
std::string bound(const std::string& text, const std::map<std::string, Binding>& bindings) {
    return parse(text)
        .bind([&](std::string_view name) {
            auto it = bindings.find(std::string(name));
            return it == bindings.end() ? Binding{} : it->second;
        })
        .to_string();
}

TEST(QueryConditionWalk, PathsAreListedOnceInOrder) {
    EXPECT_EQ(
        parse("owner.name == 'a' AND (age > 3 OR owner.name == 'b') AND NOT name IS NULL").paths(),
        (Strings{"owner.name", "age", "name"}));
    EXPECT_EQ(parse("TRUE").paths(), Strings{});
    EXPECT_EQ((prop("a").equal(1) || prop("@Task.owner.done").equal(true)).paths(),
              (Strings{"a", "@Task.owner.done"}));
}

TEST(QueryConditionWalk, ParametersIncludeDottedNamesAndAliases) {
    EXPECT_EQ(parse("a == $x AND b IN $auth.groups AND c BETWEEN $lo AND $x").parameters(),
              (Strings{"x", "auth.groups", "lo"}));
    EXPECT_EQ(parse("r == $auth.realm_access.roles OR t == $client.team OR d < $now").parameters(),
              (Strings{"auth.realm_access.roles", "client.team", "now"}));
    EXPECT_EQ((prop("age").greater(3).alias("minAge") && prop("n").equal(1)).parameters(),
              Strings{"minAge"});
    EXPECT_EQ(parse("a == 1").parameters(), Strings{});
    // A dot that no name follows ends the parameter: `$a.` is a syntax error, not "a.".
    EXPECT_FALSE(parse_condition("a == $auth.").is_ok());
    EXPECT_FALSE(parse_condition("a == $auth.@x").is_ok());
}

TEST(QueryConditionWalk, ComparisonsComeInTextOrder) {
    auto cs = parse("a == 1 AND (b IN $x OR NOT c ^= 'p') AND d IS NULL").comparisons();
    ASSERT_EQ(cs.size(), 4u);
    EXPECT_EQ(cs[0].to_string(), "a == 1");
    EXPECT_EQ(cs[1].to_string(), "b IN $x");
    EXPECT_EQ(cs[2].to_string(), "c ^= \"p\"");
    EXPECT_EQ(cs[3].to_string(), "d IS NULL");
    EXPECT_TRUE(parse("TRUE").comparisons().empty());
    EXPECT_TRUE(parse("FALSE").comparisons().empty());
}

TEST(QueryConditionBind, ValuesReplaceParameters) {
    EXPECT_EQ(bound("ownerId == $auth.sub", {{"auth.sub", values({"alice"})}}),
              "ownerId == \"alice\"");
    EXPECT_EQ(bound("team IN $auth.groups CI", {{"auth.groups", values({"red", "blue"})}}),
              "team IN (\"red\", \"blue\") CI");
    EXPECT_EQ(bound("age BETWEEN $lo AND $hi", {{"lo", values({1})}, {"hi", values({9})}}),
              "age BETWEEN 1 AND 9");
    EXPECT_EQ(bound("age IN (1, $x)", {{"x", values({5})}}), "age IN (1, 5)");
    Condition aliased = prop("age").between(0, 1).alias("range");
    EXPECT_EQ(aliased.bind([](std::string_view) {
                         return values({3, 4});
                     })
                  .to_string(),
              "age BETWEEN 3 AND 4");
}

TEST(QueryConditionBind, KeptParametersStay) {
    const std::string text = "a == $auth.sub AND (d < $now OR NOT TRUE)";
    EXPECT_EQ(bound(text, {}), parse(text).to_string());
    EXPECT_EQ(bound(text, {{"auth.sub", values({"x"})}}),
              "a == \"x\" AND (d < $now OR NOT (TRUE))");
}

TEST(QueryConditionBind, AMissingValueMakesItsComparisonFalse) {
    EXPECT_EQ(bound("a == $x", {{"x", missing()}}), "FALSE");
    EXPECT_EQ(bound("a == 1 OR b == $x", {{"x", missing()}}), "a == 1");
    EXPECT_EQ(bound("a == 1 AND b == $x", {{"x", missing()}}), "FALSE");
    EXPECT_EQ(bound("NOT b == $x", {{"x", missing()}}), "TRUE");
    EXPECT_EQ(bound("a == 1 AND NOT b == $x", {{"x", missing()}}), "a == 1");
    EXPECT_EQ(bound("(a == $x OR b == $x) AND c == 2", {{"x", missing()}}), "FALSE");
    EXPECT_EQ(bound("a IN $xs", {{"xs", missing()}}), "FALSE");
    // An IN list may be empty: it matches nothing either way.
    EXPECT_EQ(bound("a IN $xs", {{"xs", values({})}}), "a IN ()");
}

TEST(QueryConditionBind, ValuesThatDoNotFitMakeTheComparisonFalse) {
    EXPECT_EQ(bound("a == $x", {{"x", values({"p", "q"})}}), "FALSE");
    EXPECT_EQ(bound("a == $x", {{"x", values({})}}), "FALSE");
    EXPECT_EQ(bound("a == $x", {{"x", values({Value()})}}), "FALSE");
    EXPECT_EQ(bound("a IN $x", {{"x", values({"p", Value()})}}), "FALSE");
    Condition between = prop("age").between(0, 1).alias("range");
    EXPECT_EQ(between.bind([](std::string_view) { return values({3}); }).to_string(), "FALSE");
}

TEST(QueryConditionBind, FoldingKeepsNestedGroupsFlat) {
    // (b OR FALSE) becomes b, and AND's parts stay one flat list: the text parses back equal.
    const std::string t = bound("a == 1 AND (b == 2 OR c == $x) AND d == 3", {{"x", missing()}});
    EXPECT_EQ(t, "a == 1 AND b == 2 AND d == 3");
    EXPECT_EQ(parse(t).to_string(), t);
}

class QueryBindStore : public QueryStoreTest {};

TEST_F(QueryBindStore, ABoundQueryFindsWhatSetParameterFinds) {
    for (int i = 0; i < 30; ++i) {
        put("Item", {{"i", i}, {"s", std::string(i % 3 == 0 ? "red" : "blue")}});
    }
    Condition c = parse("s == $auth.team AND i >= $min");
    Condition b = c.bind(
        [](std::string_view name) { return name == "auth.team" ? values({"red"}) : Binding{}; });
    ASSERT_OK_AND_ASSIGN(Query bq, QueryBuilder(box("Item")).where(b).build());
    ASSERT_OK_AND_ASSIGN(Query pq, QueryBuilder(box("Item")).where(c).build());
    ASSERT_OK(bq.set_parameter("min", Value(10)));
    ASSERT_OK(pq.set_parameter("min", Value(10)));
    ASSERT_OK(pq.set_parameter("auth.team", Value("red")));
    ASSERT_OK_AND_ASSIGN(auto want, pq.find_ids());
    EXPECT_EQ(bq.find_ids().value(), want);
    EXPECT_EQ(want.size(), 6u);
    EXPECT_NE(bq.explain().find("index Item.s (==)"), std::string::npos) << bq.explain();
    // FALSE matches nothing, TRUE everything.
    Condition none = parse("s == $x").bind([](std::string_view) { return missing(); });
    ASSERT_OK_AND_ASSIGN(Query nq, QueryBuilder(box("Item")).where(none).build());
    EXPECT_EQ(nq.count().value(), 0u);
}

}  // namespace
}  // namespace outpost::qtest
