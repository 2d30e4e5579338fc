// The text syntax: what parses, what it means (round trip through to_string), and the errors with
// their columns.
#include <gtest/gtest.h>

#include <random>

#include "common/status_macros.hpp"
#include "query/query_support.hpp"

namespace outpost {
namespace {

std::string round_trip(const std::string& text) {
    auto c = parse_condition(text);
    EXPECT_OK(c) << text;
    return c.is_ok() ? c->to_string() : "<error>";
}

std::string error_of(const std::string& text) {
    auto c = parse_condition(text);
    EXPECT_FALSE(c.is_ok()) << text << " parsed as " << (c.is_ok() ? c->to_string() : "");
    if (c.is_ok()) return "";
    EXPECT_EQ(c.status().code(), ErrorCode::kInvalidArgument);
    return c.status().message();
}

TEST(QueryParse, ComparisonOperators) {
    EXPECT_EQ(round_trip("age == 3"), "age == 3");
    EXPECT_EQ(round_trip("age!=3"), "age != 3");
    EXPECT_EQ(round_trip("age < -3"), "age < -3");
    EXPECT_EQ(round_trip("age <= 3"), "age <= 3");
    EXPECT_EQ(round_trip("age > 3.5"), "age > 3.5");
    EXPECT_EQ(round_trip("age >= 1e3"), "age >= 1000.0");
    EXPECT_EQ(round_trip("name ^= \"A\""), "name ^= \"A\"");
    EXPECT_EQ(round_trip("name $= 'x'"), "name $= \"x\"");
    EXPECT_EQ(round_trip("name *= \"mid\" ci"), "name *= \"mid\" CI");
    EXPECT_EQ(round_trip("age BETWEEN 1 AND 5"), "age BETWEEN 1 AND 5");
    EXPECT_EQ(round_trip("age in (1, 2,3)"), "age IN (1, 2, 3)");
    EXPECT_EQ(round_trip("name IN (\"a\", \"b\") CI"), "name IN (\"a\", \"b\") CI");
    EXPECT_EQ(round_trip("age in ()"), "age IN ()");
    EXPECT_EQ(round_trip("name IS NULL"), "name IS NULL");
    EXPECT_EQ(round_trip("name is not null"), "name IS NOT NULL");
    EXPECT_EQ(round_trip("name == null"), "name IS NULL");
    EXPECT_EQ(round_trip("name != NULL"), "name IS NOT NULL");
    EXPECT_EQ(round_trip("tags CONTAINS \"x\""), "tags CONTAINS \"x\"");
    EXPECT_EQ(round_trip("done == true AND x == FALSE"), "done == true AND x == false");
}

TEST(QueryParse, PrecedenceAndNesting) {
    EXPECT_EQ(round_trip("a == 1 OR b == 2 AND c == 3"), "a == 1 OR (b == 2 AND c == 3)");
    EXPECT_EQ(round_trip("(a == 1 OR b == 2) AND c == 3"), "(a == 1 OR b == 2) AND c == 3");
    EXPECT_EQ(round_trip("age >= 18 AND (name ^= \"A\" OR email $= \"@x.org\")"),
              "age >= 18 AND (name ^= \"A\" OR email $= \"@x.org\")");
    EXPECT_EQ(round_trip("NOT a == 1 AND b == 2"), "NOT (a == 1) AND b == 2");
    EXPECT_EQ(round_trip("not (a == 1 or b == 2)"), "NOT (a == 1 OR b == 2)");
    EXPECT_EQ(round_trip("((a == 1))"), "a == 1");
    EXPECT_EQ(round_trip("TRUE"), "TRUE");
    EXPECT_EQ(round_trip("false OR a == 1"), "a == 1");  // FALSE OR x is x
    EXPECT_EQ(round_trip("a BETWEEN 1 AND 2 AND b == 3"), "a BETWEEN 1 AND 2 AND b == 3");
}

TEST(QueryParse, StringsAndEscapes) {
    auto c = parse_condition(R"(s == "a\"b\\c\n\t\u00e9'" OR s == 'it\'s')");
    ASSERT_OK(c);
    EXPECT_EQ(c->to_string(), "s == \"a\\\"b\\\\c\\n\\t\xc3\xa9'\" OR s == \"it's\"");
    // to_string parses back to the same text.
    EXPECT_EQ(round_trip(c->to_string()), c->to_string());
}

TEST(QueryParse, ParametersAndPaths) {
    EXPECT_EQ(round_trip("age >= $minAge"), "age >= $minAge");
    EXPECT_EQ(round_trip("age BETWEEN $lo AND $hi"), "age BETWEEN $lo AND $hi");
    EXPECT_EQ(round_trip("age IN $ages"), "age IN $ages");
    EXPECT_EQ(round_trip("age IN (1, $x)"), "age IN (1, $x)");
    EXPECT_EQ(round_trip("name $= $suffix"), "name $= $suffix");
    EXPECT_EQ(round_trip("owner.name == \"Ada\""), "owner.name == \"Ada\"");
    EXPECT_EQ(round_trip("@Task.owner.done == false"), "@Task.owner.done == false");
}

TEST(QueryParse, ErrorsNameTheColumn) {
    EXPECT_EQ(error_of("age >= "),
              "query syntax: column 8: expected a value after '>=', found the end");
    EXPECT_EQ(error_of("age = 3"), "query syntax: column 5: unexpected '=' (equality is ==)");
    EXPECT_NE(error_of("age == 3 AND").find("column 13"), std::string::npos);
    EXPECT_NE(error_of("(age == 3").find("column 10: expected ')'"), std::string::npos);
    EXPECT_NE(error_of("age == 3)").find("column 9"), std::string::npos);
    EXPECT_NE(error_of("name == \"abc").find("column 9: string not closed"), std::string::npos);
    EXPECT_NE(error_of("age 3").find("column 5: expected an operator"), std::string::npos);
    EXPECT_NE(error_of("age BETWEEN 1 OR 2").find("column 15: expected AND"), std::string::npos);
    EXPECT_NE(error_of("age IN 1").find("column 8"), std::string::npos);
    EXPECT_NE(error_of("age < null").find("null compares only with == and !="), std::string::npos);
    EXPECT_NE(error_of("name == \"\\q\"").find("unknown escape"), std::string::npos);
    EXPECT_NE(error_of("age == 12abc").find("column 10"), std::string::npos);
    EXPECT_NE(error_of("a == 1 && b == 2").find("use AND / OR"), std::string::npos);
    EXPECT_NE(error_of("AND == 1").find("column 1: expected a property name"), std::string::npos);
    EXPECT_NE(error_of("").find("empty condition"), std::string::npos);
    EXPECT_NE(error_of("age == 99999999999999999999").find("out of range"), std::string::npos);
    EXPECT_NE(error_of("name IS 3").find("expected NULL"), std::string::npos);
}

TEST(QueryParse, DeepNestingIsAnErrorNotACrash) {
    std::string deep(1000, '(');
    EXPECT_NE(error_of(deep + "a == 1" + std::string(1000, ')')).find("nested too deeply"),
              std::string::npos);
}

TEST(QueryParse, BuilderConditionsPrintInTheSyntax) {
    Condition c = prop("age").greater_or_equal(18).alias("minAge") &&
                  (prop("name").starts_with("A") || prop("email").ends_with("@x.org", false));
    EXPECT_EQ(c.to_string(), "age >= 18 AND (name ^= \"A\" OR email $= \"@x.org\" CI)");
    EXPECT_EQ((!prop("x").is_null()).to_string(), "NOT (x IS NULL)");
    EXPECT_EQ(prop("v").in({Value(1), Value(2)}).to_string(), "v IN (1, 2)");
    EXPECT_EQ(prop("v").between(1.5, 2).to_string(), "v BETWEEN 1.5 AND 2");
}

}  // namespace
}  // namespace outpost

namespace outpost {
namespace {

// Hostile text: mutations of valid conditions either parse (and then print back to text that parses
// to the same condition) or fail with a syntax error; nothing crashes.
TEST(QueryParse, MutatedInputIsAnErrorOrAValidCondition) {
    const std::vector<std::string> seeds = {
        "age >= 18 AND (name ^= \"A\" OR email $= \"@x.org\")",
        "s IN (\"a\", 'b\\'c', \"\\u00e9\") CI OR NOT (x BETWEEN -1.5e3 AND $hi)",
        "@Task.owner.done == false AND tags CONTAINS \"x\" AND y IS NOT NULL",
    };
    const std::string alphabet = "()\"'\\$@.,=!<>^*~ aAzZ09-+eE_\t\n";
    std::mt19937 rng(42);
    int parsed = 0;
    for (int round = 0; round < 20000; ++round) {
        std::string s = seeds[rng() % seeds.size()];
        for (int k = static_cast<int>(rng() % 4); k >= 0; --k) {
            size_t at = s.empty() ? 0 : rng() % s.size();
            switch (rng() % 4) {
                case 0:
                    s.insert(at, 1, alphabet[rng() % alphabet.size()]);
                    break;
                case 1:
                    if (!s.empty()) s.erase(at, 1);
                    break;
                case 2:
                    if (!s.empty()) s[at] = static_cast<char>(rng() % 256);
                    break;
                default:
                    s.resize(at);
                    break;
            }
        }
        auto c = parse_condition(s);
        if (!c.is_ok()) {
            EXPECT_EQ(c.status().code(), ErrorCode::kInvalidArgument) << s;
            EXPECT_NE(c.status().message().find("column "), std::string::npos) << s;
            continue;
        }
        ++parsed;
        std::string text = c->to_string();
        auto again = parse_condition(text);
        ASSERT_OK(again) << s << " -> " << text;
        EXPECT_EQ(again->to_string(), text) << s;
    }
    EXPECT_GT(parsed, 1000);
}

}  // namespace
}  // namespace outpost
