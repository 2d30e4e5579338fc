// The object JSON format (outpost/json.hpp): every property type survives object -> JSON -> object,
// special doubles and bytes use their documented forms, and bad input is an error naming the
// property.
#include "outpost/json.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status_macros.hpp"
#include "model/json_nesting.hpp"
#include "store/test_model.hpp"

namespace outpost {
namespace {

using test::StoreTest;
using I64 = std::numeric_limits<int64_t>;

class Json : public StoreTest {};

Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

TEST(Base64, KnownVectors) {
    // RFC 4648, section 10.
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [plain, encoded] : vectors) {
        EXPECT_EQ(base64_encode(to_bytes(plain)), encoded) << plain;
        auto d = base64_decode(encoded);
        ASSERT_OK(d) << encoded;
        EXPECT_EQ(*d, to_bytes(plain)) << encoded;
    }
    Bytes all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<uint8_t>(i));
    auto back = base64_decode(base64_encode(all));
    ASSERT_OK(back);
    EXPECT_EQ(*back, all);
}

TEST(Base64, RejectsMalformedText) {
    for (const char* bad : {"Z", "Zm9v!", "Zm 9v", "Zg==Zg==", "\xC3\xA9"}) {
        auto d = base64_decode(bad);
        EXPECT_FALSE(d.is_ok()) << "accepted \"" << bad << "\"";
        if (!d.is_ok()) {
            EXPECT_EQ(d.status().code(), ErrorCode::kInvalidArgument) << bad;
        }
    }
}

TEST_F(Json, EveryTypeSurvivesARoundTrip) {
    DynamicBox b = box("AllTypes");
    Object o = b.new_object();
    o.id = 12;
    ASSERT_OK(o.set("b", true));
    ASSERT_OK(o.set("i8", -128));
    ASSERT_OK(o.set("i16", 32767));
    ASSERT_OK(o.set("i32", std::numeric_limits<int32_t>::min()));
    ASSERT_OK(o.set("i64", I64::min()));
    ASSERT_OK(o.set("f", 1.5));
    ASSERT_OK(o.set("d", -2.25e300));
    ASSERT_OK(o.set("s", "caf\xC3\xA9 \"quoted\" \\ \n tab\t"));
    ASSERT_OK(o.set("dt", int64_t{1700000000123}));
    ASSERT_OK(o.set("dn", I64::max()));
    ASSERT_OK(o.set("by", Bytes{0, 1, 2, 250, 255}));
    ASSERT_OK(o.set(
        "fx",
        Flex(Flex::Map{{"a", Flex(Flex::Array{Flex(1), Flex("x"), Flex(nullptr), Flex(true)})},
                       {"n", Flex(2.5)}})));
    ASSERT_OK(o.set("rel", 3));
    ASSERT_OK(o.set("vi8", Value::IntVector{-1, 2}));
    ASSERT_OK(o.set("vi16", Value::IntVector{}));
    ASSERT_OK(o.set("vi32", Value::IntVector{7}));
    ASSERT_OK(o.set("vi64", Value::IntVector{I64::min(), I64::max()}));
    ASSERT_OK(o.set("vf", Value::DoubleVector{0.5}));
    ASSERT_OK(o.set("vd", Value::DoubleVector{1e-300, 3}));
    ASSERT_OK(o.set("vs", Value::StringVector{"", "\xE2\x9C\x93"}));
    ASSERT_OK(o.set("vdt", Value::IntVector{0}));
    std::string text = object_to_json(o);

    Object back = b.new_object();
    ASSERT_OK(object_update_from_json(back, text));
    EXPECT_EQ(back.id, 12u);
    for (const auto& p : b.entity().properties) {
        if (p.has(kFlagId)) continue;
        EXPECT_EQ(back.get(p.name), o.get(p.name)) << p.name << " in " << text;
    }
    // And the JSON goes through the store unchanged.
    ASSERT_OK(b.put(back));
    ASSERT_OK_AND_ASSIGN(auto stored, b.get(12));
    EXPECT_EQ(object_to_json(*stored), text);
}

TEST_F(Json, DocumentedForms) {
    DynamicBox b = box("AllTypes");
    Object o = b.new_object();
    o.id = 5;
    ASSERT_OK(o.set("d", std::numeric_limits<double>::quiet_NaN()));
    ASSERT_OK(o.set("f", -std::numeric_limits<double>::infinity()));
    ASSERT_OK(o.set("vd", Value::DoubleVector{std::numeric_limits<double>::infinity()}));
    ASSERT_OK(o.set("by", to_bytes("foobar")));
    ASSERT_OK(o.set("rel", 9));
    auto j = nlohmann::json::parse(object_to_json(o));
    EXPECT_EQ(j["id"], 5);
    EXPECT_EQ(j["d"], "NaN");
    EXPECT_EQ(j["f"], "-Infinity");
    EXPECT_EQ(j["vd"][0], "Infinity");
    EXPECT_EQ(j["by"], "Zm9vYmFy");
    EXPECT_EQ(j["rel"], 9);
    EXPECT_TRUE(j["s"].is_null());
    EXPECT_TRUE(j["vs"].is_null());

    Object back = b.new_object();
    ASSERT_OK(object_update_from_json(back, j.dump()));
    EXPECT_TRUE(std::isnan(back.get("d").as<double>()));
    EXPECT_EQ(back.get("f"), Value(-std::numeric_limits<double>::infinity()));
    EXPECT_EQ(back.get("by"), Value(to_bytes("foobar")));
}

TEST_F(Json, UnsignedInt64AsAnUnsignedNumber) {
    DynamicBox b = box("Unsigned");
    Object o = b.new_object();
    ASSERT_OK(o.set("u64", static_cast<int64_t>(std::numeric_limits<uint64_t>::max())));
    ASSERT_OK(o.set("u32", int64_t{4294967295}));
    auto j = nlohmann::json::parse(object_to_json(o));
    EXPECT_EQ(j["u64"].get<uint64_t>(), std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(j["u32"].get<uint64_t>(), 4294967295u);
    Object back = b.new_object();
    ASSERT_OK(object_update_from_json(back, j.dump()));
    EXPECT_EQ(back.get("u64"), o.get("u64"));
}

TEST_F(Json, ToManyListsAreArraysOfIds) {
    DynamicBox books = box("Book");
    Object o = books.new_object();
    ASSERT_OK(o.set_to_many("readers", {3, 1, 3}));
    auto j = nlohmann::json::parse(object_to_json(o));
    EXPECT_EQ(j["readers"], nlohmann::json::array({3, 1, 3}));
    Object back = books.new_object();
    ASSERT_OK(object_update_from_json(back, R"({"readers": [2, 2], "title": "t"})"));
    EXPECT_EQ(back.get_to_many("readers"), (std::vector<uint64_t>{2, 2}));
    ASSERT_OK(object_update_from_json(back, R"({"readers": null})"));
    EXPECT_TRUE(back.get_to_many("readers").empty());
}

TEST_F(Json, PartialUpdateKeepsOtherValues) {
    DynamicBox b = box("AllTypes");
    Object o = b.new_object();
    ASSERT_OK(o.set("s", "keep"));
    ASSERT_OK(o.set("i32", 4));
    ASSERT_OK(object_update_from_json(o, R"({"i32": 5, "d": null})"));
    EXPECT_EQ(o.get("s"), Value("keep"));
    EXPECT_EQ(o.get("i32"), Value(5));
    ASSERT_OK(object_update_from_json(o, R"({"s": null})"));
    EXPECT_TRUE(o.get("s").is_null());
}

TEST_F(Json, BadInputNamesTheProperty) {
    DynamicBox b = box("AllTypes");
    struct Case {
        const char* json;
        ErrorCode code;
        const char* needle;
    };
    const Case cases[] = {
        {R"({"i32": 1, "nope": 1})", ErrorCode::kUnknownProperty, "nope"},
        {R"({"i32": 1, "b": 1})", ErrorCode::kTypeMismatch, "AllTypes.b"},
        {R"({"i32": 1, "i64": "12"})", ErrorCode::kTypeMismatch, "AllTypes.i64"},
        {R"({"i32": 1, "i64": 1.5})", ErrorCode::kTypeMismatch, "AllTypes.i64"},
        {R"({"i32": 1, "s": 5})", ErrorCode::kTypeMismatch, "AllTypes.s"},
        {R"({"i32": 1, "by": "%%%"})", ErrorCode::kTypeMismatch, "AllTypes.by"},
        {R"({"i32": 1, "d": "fast"})", ErrorCode::kTypeMismatch, "AllTypes.d"},
        {R"({"i32": 1, "vs": [1]})", ErrorCode::kTypeMismatch, "AllTypes.vs"},
        {R"({"i32": 1, "vi64": [1, "x"]})", ErrorCode::kTypeMismatch, "AllTypes.vi64"},
        {R"({"i32": 1, "id": -4})", ErrorCode::kInvalidArgument, "AllTypes.id"},
        {R"([1, 2])", ErrorCode::kInvalidArgument, "AllTypes"},
        {R"({"i32": )", ErrorCode::kInvalidArgument, "AllTypes"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.json);
        Object o = b.new_object();
        o.id = 8;
        ASSERT_OK(o.set("i32", 0));
        Status st = object_update_from_json(o, c.json);
        EXPECT_EQ(st.code(), c.code) << st.to_string();
        EXPECT_NE(st.message().find(c.needle), std::string::npos) << st.message();
    }
}

TEST(JsonNesting, CountsArraysAndObjectsOutsideStrings) {
    EXPECT_TRUE(detail::json_nesting_within("1", 0));
    EXPECT_FALSE(detail::json_nesting_within("[]", 0));
    EXPECT_TRUE(detail::json_nesting_within(R"({"a": [1], "b": {"c": 2}})", 2));
    EXPECT_FALSE(detail::json_nesting_within(R"({"a": [[1]]})", 2));
    // Brackets in strings, escaped quotes included, are text.
    EXPECT_TRUE(detail::json_nesting_within(R"({"[[[": "]]]{{{\"[[["})", 1));
    EXPECT_TRUE(detail::json_nesting_within(R"(["a\\", [1]])", 2));
    EXPECT_FALSE(detail::json_nesting_within(R"(["a\\", [[1]]])", 2));
}

// N arrays around a 1, as JSON text.
std::string nested_json(int levels) {
    return std::string(levels, '[') + "1" + std::string(levels, ']');
}

TEST_F(Json, DeeplyNestedValuesAreRefusedNotACrash) {
    DynamicBox b = box("AllTypes");
    Object o = b.new_object();
    o.id = 8;
    ASSERT_OK(object_update_from_json(o, R"({"fx": )" + nested_json(kMaxNestingDepth) + "}"));
    EXPECT_TRUE(flex_nesting_within(o.get("fx").as<Flex>(), kMaxNestingDepth));
    EXPECT_FALSE(flex_nesting_within(o.get("fx").as<Flex>(), kMaxNestingDepth - 1));
    EXPECT_CODE(object_update_from_json(o, R"({"s": )" + nested_json(kMaxNestingDepth) + "}"),
                ErrorCode::kTypeMismatch);
    // One level more, and 30,000 (which used to overflow the stack while converting to flex, or
    // while printing the value for a type error).
    for (int levels : {kMaxNestingDepth + 1, 30'000}) {
        for (const char* property : {"fx", "s"}) {
            SCOPED_TRACE(std::string(property) + " " + std::to_string(levels));
            Object before = o;
            Status st = object_update_from_json(
                o, std::string(R"({")") + property + R"(": )" + nested_json(levels) + "}");
            EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << st.to_string();
            EXPECT_NE(st.message().find("nest"), std::string::npos) << st.message();
            EXPECT_TRUE(o == before);
        }
    }
}

TEST_F(Json, RejectedUpdateLeavesTheObjectUnchanged) {
    DynamicBox b = box("AllTypes");
    Object o = b.new_object();
    o.id = 8;
    ASSERT_OK(o.set("i32", 0));
    Object before = o;
    // Valid keys come first; the bad one at the end rejects the whole document.
    EXPECT_CODE(object_update_from_json(o, R"({"id": 9, "i32": 1, "s": "new", "b": "yes"})"),
                ErrorCode::kTypeMismatch);
    EXPECT_TRUE(o == before) << "a rejected update was half applied: id " << o.id << ", i32 "
                             << ::testing::PrintToString(o.get("i32")) << ", s "
                             << ::testing::PrintToString(o.get("s"));
}

TEST_F(Json, OutOfRangeValuesFailAtPut) {
    DynamicBox b = box("AllTypes");
    Object o = b.new_object();
    ASSERT_OK(object_update_from_json(o, R"({"i8": 300})"));
    EXPECT_CODE(b.put(o), ErrorCode::kValueOutOfRange);
}

}  // namespace
}  // namespace outpost
