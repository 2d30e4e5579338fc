// The model <-> BSON mapping, row by row (docs/mongo-mapping.md), without a server.
#include "mongo/mapping.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "common/models.hpp"
#include "common/status_macros.hpp"
#include "mongo/handles.hpp"

namespace outpost::mongo {
namespace {

using detail::Bson;

Bson json(const std::string& s) {
    auto b = Bson::from_json(s);
    EXPECT_OK(b) << " in " << s;
    return b.is_ok() ? std::move(b).value() : Bson();
}

class MappingTest : public ::testing::Test {
  protected:
    void SetUp() override {
        model_ = test::mongo_mapping_model();
        mapping_ = std::make_unique<Mapping>(Mapping::create(model_).value());
        item_ = mapping_->by_collection("items");
        ASSERT_NE(item_, nullptr);
    }
    const Property& prop(const char* name) { return *model_.entity("Item")->property(name); }
    uint64_t uid(const char* name) { return prop(name).id.uid; }
    // The BSON value a property's value is written as: {v: ...} as canonical extended JSON.
    std::string out(const char* property, const Value& v, const Mapping* m = nullptr) {
        Bson b;
        Status s = (m ? m : mapping_.get())->append_value(b.get(), "v", prop(property), v);
        EXPECT_OK(s);
        size_t len;
        char* j = bson_as_canonical_extended_json(b.get(), &len);
        std::string r(j, len);
        bson_free(j);
        return r;
    }
    Result<Value> in(const char* property, const std::string& doc_json,
                     const Mapping* m = nullptr) {
        Bson b = json(doc_json);
        bson_iter_t it;
        EXPECT_TRUE(bson_iter_init_find(&it, b.get(), "v"));
        return (m ? m : mapping_.get())->value_from_bson(prop(property), it);
    }
    // Writes V and reads it back.
    Value round_trip(const char* property, const Value& v) {
        Bson b;
        Status s = mapping_->append_value(b.get(), "v", prop(property), v);
        EXPECT_OK(s);
        bson_iter_t it;
        EXPECT_TRUE(bson_iter_init_find(&it, b.get(), "v"));
        auto r = mapping_->value_from_bson(prop(property), it);
        EXPECT_OK(r);
        return r.is_ok() ? r.value() : Value();
    }

    Model model_;
    std::unique_ptr<Mapping> mapping_;
    const CollectionMap* item_ = nullptr;
};

TEST_F(MappingTest, EntityAndPropertyNames) {
    EXPECT_NE(mapping_->by_collection("Tag"), nullptr);    // default: the entity name
    EXPECT_EQ(mapping_->by_collection("Item"), nullptr);   // externalName "items"
    EXPECT_EQ(mapping_->by_collection("Local"), nullptr);  // not synced
    ASSERT_NE(item_->field("label"), nullptr);             // externalName of "name"
    EXPECT_EQ(item_->field("label")->property->name, "name");
    EXPECT_EQ(item_->field("name"), nullptr);
    EXPECT_NE(item_->to_many_field("children"), nullptr);
    EXPECT_EQ(item_->field("id"), nullptr);  // the id is _id
    EXPECT_EQ(mapping_->by_entity_uid(model_.entity("Item")->id.uid), item_);
}

TEST_F(MappingTest, ScalarsWriteTheirBsonTypes) {
    EXPECT_EQ(out("flag", true), R"({ "v" : true })");
    EXPECT_EQ(out("i8", int64_t{-5}), R"({ "v" : { "$numberInt" : "-5" } })");
    EXPECT_EQ(out("i16", int64_t{300}), R"({ "v" : { "$numberInt" : "300" } })");
    EXPECT_EQ(out("i32", int64_t{-2147483648}), R"({ "v" : { "$numberInt" : "-2147483648" } })");
    EXPECT_EQ(out("i64", int64_t{5}), R"({ "v" : { "$numberLong" : "5" } })");
    EXPECT_EQ(out("f", 1.5), R"({ "v" : { "$numberDouble" : "1.5" } })");
    EXPECT_EQ(out("d", -0.25), R"({ "v" : { "$numberDouble" : "-0.25" } })");
    EXPECT_EQ(out("name", "héllo"), R"({ "v" : "héllo" })");
    EXPECT_EQ(out("when", int64_t{1700000000123}),
              R"({ "v" : { "$date" : { "$numberLong" : "1700000000123" } } })");
    EXPECT_EQ(out("nanos", int64_t{1700000000123456789}),
              R"({ "v" : { "$numberLong" : "1700000000123456789" } })");
    EXPECT_EQ(out("blob", Bytes{1, 2, 255}),
              R"({ "v" : { "$binary" : { "base64" : "AQL/", "subType" : "00" } } })");
    EXPECT_EQ(out("name", Value()), R"({ "v" : null })");
}

TEST_F(MappingTest, ScalarsRoundTrip) {
    EXPECT_EQ(round_trip("flag", false), Value(false));
    EXPECT_EQ(round_trip("i8", int64_t{-128}), Value(int64_t{-128}));
    EXPECT_EQ(round_trip("i16", int64_t{32767}), Value(int64_t{32767}));
    EXPECT_EQ(round_trip("i32", int64_t{2147483647}), Value(int64_t{2147483647}));
    EXPECT_EQ(round_trip("i64", int64_t{INT64_MIN}), Value(int64_t{INT64_MIN}));
    EXPECT_EQ(round_trip("d", 1e300), Value(1e300));
    EXPECT_EQ(round_trip("name", ""), Value(""));
    EXPECT_EQ(round_trip("when", int64_t{-1}), Value(int64_t{-1}));
    EXPECT_EQ(round_trip("nanos", int64_t{42}), Value(int64_t{42}));
    EXPECT_EQ(round_trip("blob", Bytes{}), Value(Bytes{}));
}

TEST_F(MappingTest, UnsignedInt32AboveInt32WritesLong) {
    EXPECT_EQ(out("u32", int64_t{4294967295}), R"({ "v" : { "$numberLong" : "4294967295" } })");
    EXPECT_EQ(round_trip("u32", int64_t{4294967295}), Value(int64_t{4294967295}));
}

TEST_F(MappingTest, LosslessWidthMismatchesAreAccepted) {
    EXPECT_EQ(in("i64", R"({"v": {"$numberInt": "7"}})").value(), Value(int64_t{7}));
    EXPECT_EQ(in("i32", R"({"v": {"$numberLong": "7"}})").value(), Value(int64_t{7}));
    EXPECT_EQ(in("i32", R"({"v": {"$numberDouble": "7.0"}})").value(), Value(int64_t{7}));
    EXPECT_EQ(in("d", R"({"v": {"$numberInt": "3"}})").value(), Value(3.0));
    EXPECT_EQ(in("d", R"({"v": {"$numberLong": "9007199254740992"}})").value(),
              Value(9007199254740992.0));
    EXPECT_EQ(in("nanos", R"({"v": {"$numberInt": "1"}})").value(), Value(int64_t{1}));
}

TEST_F(MappingTest, LossyOrWrongTypesAreMappingErrors) {
    auto expect_error = [&](const char* p, const std::string& doc, const char* words) {
        auto r = in(p, doc);
        ASSERT_FALSE(r.is_ok()) << p << " " << doc;
        EXPECT_EQ(r.status().code(), ErrorCode::kMongoMapping);
        EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message();
    };
    expect_error("i8", R"({"v": {"$numberInt": "128"}})", "out of range for int8");
    expect_error("i16", R"({"v": {"$numberInt": "-32769"}})", "out of range");
    expect_error("i32", R"({"v": {"$numberLong": "2147483648"}})", "out of range");
    expect_error("u32", R"({"v": {"$numberInt": "-1"}})", "out of range");
    expect_error("i64", R"({"v": {"$numberDouble": "1.5"}})", "not a whole number");
    expect_error("d", R"({"v": {"$numberLong": "9007199254740993"}})", "without loss");
    expect_error("flag", R"({"v": 1})", "int does not fit bool");
    expect_error("name", R"({"v": 5})", "int does not fit string");
    expect_error("when", R"({"v": {"$numberLong": "5"}})", "long does not fit date");
    expect_error("blob", R"({"v": {"$binary": {"base64": "AA==", "subType": "80"}}})",
                 "needs externalType binary");
    expect_error("tags", R"({"v": ["a", 1]})", "in a string vector");
    expect_error("i32v", R"({"v": [1, "x"]})", "string does not fit");
    expect_error("oid", R"({"v": "not an oid"})",
                 "string does not fit string (externalType objectId)");
}

TEST_F(MappingTest, NullsReadAsNull) {
    EXPECT_TRUE(in("name", R"({"v": null})").value().is_null());
    EXPECT_TRUE(in("i32v", R"({"v": null})").value().is_null());
    EXPECT_TRUE(in("owner", R"({"v": null})").value().is_null());
}

TEST_F(MappingTest, ExternalTypes) {
    // ObjectId <-> string / bytes
    EXPECT_EQ(out("oid", "65a1b2c3d4e5f60718293a4b"),
              R"({ "v" : { "$oid" : "65a1b2c3d4e5f60718293a4b" } })");
    EXPECT_EQ(round_trip("oid", "65a1b2c3d4e5f60718293a4b"), Value("65a1b2c3d4e5f60718293a4b"));
    Bytes oid_bytes = {0x65, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18, 0x29, 0x3a, 0x4b};
    EXPECT_EQ(out("oid_bytes", oid_bytes), R"({ "v" : { "$oid" : "65a1b2c3d4e5f60718293a4b" } })");
    EXPECT_EQ(round_trip("oid_bytes", oid_bytes), Value(oid_bytes));
    // UUID <-> string / bytes
    EXPECT_EQ(
        out("uuid", "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"),
        R"({ "v" : { "$binary" : { "base64" : "AZChssPUfl+Ka3yNng8aKw==", "subType" : "04" } } })");
    EXPECT_EQ(round_trip("uuid", "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"),
              Value("0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"));
    Bytes u(16, 0xab);
    EXPECT_EQ(round_trip("uuid_bytes", u), Value(u));
    // Decimal128 <-> string / bytes
    EXPECT_EQ(out("dec", "1234.5600"), R"({ "v" : { "$numberDecimal" : "1234.5600" } })");
    EXPECT_EQ(round_trip("dec", "-0.001"), Value("-0.001"));
    auto dec_bytes = in("dec_bytes", R"({"v": {"$numberDecimal": "1.5"}})");
    ASSERT_OK(dec_bytes);
    EXPECT_EQ(dec_bytes->as<Bytes>().size(), 16u);
    EXPECT_EQ(out("dec_bytes", dec_bytes.value()), R"({ "v" : { "$numberDecimal" : "1.5" } })");
    // Timestamp <-> int64
    EXPECT_EQ(out("ts", int64_t{(int64_t{1700000000} << 32) | 7}),
              R"({ "v" : { "$timestamp" : { "t" : 1700000000, "i" : 7 } } })");
    EXPECT_EQ(round_trip("ts", int64_t{(int64_t{5} << 32) | 9}),
              Value(int64_t{(int64_t{5} << 32) | 9}));
    // Regex <-> [pattern, options]
    EXPECT_EQ(out("rx", Value::StringVector{"^a.*z$", "im"}),
              R"({ "v" : { "$regularExpression" : { "pattern" : "^a.*z$", "options" : "im" } } })");
    EXPECT_EQ(round_trip("rx", Value::StringVector{"x", ""}), Value(Value::StringVector{"x", ""}));
    // JavaScript <-> string
    EXPECT_EQ(out("js", "function() { return 1; }"),
              R"({ "v" : { "$code" : "function() { return 1; }" } })");
    EXPECT_EQ(round_trip("js", "x => x"), Value("x => x"));
    // Binary with any subtype
    auto bin = in("bin", R"({"v": {"$binary": {"base64": "AQI=", "subType": "80"}}})");
    ASSERT_OK(bin);
    EXPECT_EQ(bin.value(), Value(Bytes{1, 2}));
}

TEST_F(MappingTest, ExternalTypeValuesThatDoNotFitAreErrors) {
    Bson b;
    EXPECT_EQ(mapping_->append_value(b.get(), "v", prop("oid"), "xyz").code(),
              ErrorCode::kMongoMapping);
    EXPECT_EQ(mapping_->append_value(b.get(), "v", prop("uuid"), "not-a-uuid").code(),
              ErrorCode::kMongoMapping);
    EXPECT_EQ(mapping_->append_value(b.get(), "v", prop("dec"), "12x").code(),
              ErrorCode::kMongoMapping);
    EXPECT_EQ(mapping_->append_value(b.get(), "v", prop("rx"), Value::StringVector{"a"}).code(),
              ErrorCode::kMongoMapping);
    EXPECT_EQ(mapping_->append_value(b.get(), "v", prop("doc"), "[1,").code(),
              ErrorCode::kMongoMapping);
    EXPECT_EQ(mapping_->append_value(b.get(), "v", prop("doc"), "42").code(),
              ErrorCode::kMongoMapping);
    EXPECT_EQ(mapping_->append_value(b.get(), "v", prop("oid_bytes"), Bytes{1}).code(),
              ErrorCode::kMongoMapping);
    EXPECT_TRUE(b.empty()) << "a failed append leaves nothing behind: " << b.json();
}

TEST_F(MappingTest, JsonToNativeKeepsKeyOrderBothWays) {
    const char* text = R"({"z":1,"a":[true,null,2.5,"s",{"k":-3}],"m":{"y":1,"b":2}})";
    EXPECT_EQ(
        out("doc", text),
        R"({ "v" : { "z" : { "$numberInt" : "1" }, "a" : [ true, null, { "$numberDouble" : "2.5" }, "s", )"
        R"({ "k" : { "$numberInt" : "-3" } } ], "m" : { "y" : { "$numberInt" : "1" }, "b" : { "$numberInt" : "2" } } } })");
    EXPECT_EQ(round_trip("doc", text), Value(text));
    EXPECT_EQ(round_trip("doc", "[1,2,[3]]"), Value("[1,2,[3]]"));
}

TEST_F(MappingTest, FlexAtAnyDepth) {
    Flex f(Flex::Map{
        {"a", Flex(Flex::Array{Flex(), true, Flex(int64_t{1}), 2.5, "s", Flex(Bytes{9})})},
        {"b", Flex(Flex::Map{{"c", Flex(Flex::Map{{"d", Flex(int64_t{1} << 40)}})}})}});
    EXPECT_EQ(round_trip("extra", f), Value(f));
    EXPECT_EQ(out("extra", Flex(int64_t{3})), R"({ "v" : { "$numberInt" : "3" } })");
    EXPECT_EQ(out("extra", Flex(int64_t{1} << 40)),
              R"({ "v" : { "$numberLong" : "1099511627776" } })");
    EXPECT_EQ(round_trip("fmap", Flex(Flex::Map{{"k", Flex("v")}})),
              Value(Flex(Flex::Map{{"k", Flex("v")}})));
    EXPECT_EQ(round_trip("fvec", Flex(Flex::Array{Flex(1), Flex(2)})),
              Value(Flex(Flex::Array{Flex(1), Flex(2)})));
    Bson b;
    EXPECT_EQ(mapping_->append_value(b.get(), "v", prop("fmap"), Flex(Flex::Array{})).code(),
              ErrorCode::kMongoMapping);
    EXPECT_EQ(mapping_->append_value(b.get(), "v", prop("fvec"), Flex(Flex::Map{})).code(),
              ErrorCode::kMongoMapping);
    EXPECT_FALSE(in("fmap", R"({"v": [1]})").is_ok());
    EXPECT_FALSE(in("fvec", R"({"v": {"a": 1}})").is_ok());
}

// N arrays around a 1, as JSON text ("[[1]]" for 2).
std::string nested_json(int levels) {
    return std::string(levels, '[') + "1" + std::string(levels, ']');
}
Flex nested_flex(int levels) {
    Flex f(int64_t{1});
    for (int i = 0; i < levels; ++i) f = Flex(Flex::Array{std::move(f)});
    return f;
}

TEST_F(MappingTest, NestingIsBoundedBothWays) {
    // Outbound: a jsonToNative string is checked before it is parsed and appended (which recurses
    // once per level); 12,000 levels used to overflow the stack.
    Bson b;
    for (int levels : {kMaxNestingDepth + 1, 12'000}) {
        Status st = mapping_->append_value(b.get(), "v", prop("doc"), nested_json(levels));
        EXPECT_EQ(st.code(), ErrorCode::kMongoMapping) << levels;
        EXPECT_NE(st.message().find("nests deeper than 64 levels"), std::string::npos)
            << st.message();
    }
    EXPECT_EQ(mapping_->append_value(b.get(), "v", prop("extra"), nested_flex(kMaxNestingDepth + 1))
                  .code(),
              ErrorCode::kMongoMapping);
    EXPECT_TRUE(b.empty()) << b.json();
    EXPECT_EQ(round_trip("doc", nested_json(kMaxNestingDepth)),
              Value(nested_json(kMaxNestingDepth)));
    EXPECT_EQ(round_trip("extra", nested_flex(kMaxNestingDepth)),
              Value(nested_flex(kMaxNestingDepth)));

    // Inbound: documents nested deeper than the limit are mapping errors for flex and jsonToNative.
    const std::string deeper = R"({"v": )" + nested_json(kMaxNestingDepth + 1) + "}";
    for (const char* property : {"extra", "doc"}) {
        auto r = in(property, deeper);
        ASSERT_FALSE(r.is_ok()) << property;
        EXPECT_EQ(r.status().code(), ErrorCode::kMongoMapping);
        EXPECT_NE(r.status().message().find("nested deeper than 64 levels"), std::string::npos)
            << r.status().message();
        EXPECT_OK(in(property, R"({"v": )" + nested_json(kMaxNestingDepth) + "}")) << property;
    }
}

TEST_F(MappingTest, JsonToNativeRefusesStringsThatAreNotUtf8) {
    // JSON text cannot carry them; printing the value used to throw (and end the process).
    for (bool in_key : {false, true}) {
        Bson doc;
        bson_t sub;
        bson_append_document_begin(doc.get(), "v", 1, &sub);
        if (in_key) {
            bson_append_int32(&sub, "\x86\xff", 2, 1);
        } else {
            bson_append_utf8(&sub, "k", 1, "\x86\xff", 2);
        }
        bson_append_document_end(doc.get(), &sub);
        bson_iter_t it;
        ASSERT_TRUE(bson_iter_init_find(&it, doc.get(), "v"));
        auto r = mapping_->value_from_bson(prop("doc"), it);
        ASSERT_FALSE(r.is_ok()) << in_key;
        EXPECT_EQ(r.status().code(), ErrorCode::kMongoMapping);
        EXPECT_NE(r.status().message().find("not valid UTF-8"), std::string::npos)
            << r.status().message();
    }
}

TEST_F(MappingTest, FlexLossyTypesConvertUnlessStrict) {
    const char* doc =
        R"({"v": {"o": {"$oid": "65a1b2c3d4e5f60718293a4b"}, "t": {"$date": {"$numberLong": "5"}},
                              "n": {"$numberDecimal": "1.25"}}})";
    auto r = in("extra", doc);
    ASSERT_OK(r);
    EXPECT_EQ(r.value(), Value(Flex(Flex::Map{{"o", Flex("65a1b2c3d4e5f60718293a4b")},
                                              {"t", Flex(int64_t{5})},
                                              {"n", Flex("1.25")}})));
    MappingOptions strict;
    strict.strict_from_mongo = true;
    Mapping m = Mapping::create(model_, strict).value();
    auto s = in("extra", doc, &m);
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.status().message().find("strict"), std::string::npos);
    EXPECT_FALSE(in("extra", R"({"v": {"k": {"$minKey": 1}}})").is_ok());
}

TEST_F(MappingTest, Vectors) {
    EXPECT_EQ(out("i32v", Value::IntVector{1, -2}),
              R"({ "v" : [ { "$numberInt" : "1" }, { "$numberInt" : "-2" } ] })");
    EXPECT_EQ(out("i64v", Value::IntVector{1}), R"({ "v" : [ { "$numberLong" : "1" } ] })");
    EXPECT_EQ(out("dtv", Value::IntVector{7}),
              R"({ "v" : [ { "$date" : { "$numberLong" : "7" } } ] })");
    EXPECT_EQ(out("tags", Value::StringVector{"a", "b"}), R"({ "v" : [ "a", "b" ] })");
    EXPECT_EQ(out("dv", Value::DoubleVector{0.5}), R"({ "v" : [ { "$numberDouble" : "0.5" } ] })");
    EXPECT_EQ(round_trip("i8v", Value::IntVector{-128, 127}), Value(Value::IntVector{-128, 127}));
    EXPECT_EQ(round_trip("i16v", Value::IntVector{300}), Value(Value::IntVector{300}));
    EXPECT_EQ(round_trip("fv", Value::DoubleVector{1.5, -2}), Value(Value::DoubleVector{1.5, -2}));
    EXPECT_EQ(round_trip("tags", Value::StringVector{}), Value(Value::StringVector{}));
    EXPECT_FALSE(in("i8v", R"({"v": [1000]})").is_ok());
}

TEST_F(MappingTest, EveryIdTypeIsAGid) {
    const char* ids[] = {
        R"({"_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}})",
        R"({"_id": {"$binary": {"base64": "AZChssPUfl+Ka3yNng8aKw==", "subType": "04"}}})",
        R"({"_id": "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"})",
        R"({"_id": "plain string"})",
        R"({"_id": {"$numberInt": "-7"}})",
        R"({"_id": {"$numberLong": "1234567890123"}})",
        R"({"_id": {"$binary": {"base64": "AQID", "subType": "00"}}})",
        R"({"_id": {"$binary": {"base64": "AQID", "subType": "80"}}})",
    };
    const uint8_t types[] = {0x07, 0x05, 0x02, 0x02, 0x10, 0x12, 0x05, 0x05};
    for (size_t i = 0; i < std::size(ids); ++i) {
        Bson d = json(ids[i]);
        bson_iter_t it;
        ASSERT_TRUE(bson_iter_init_find(&it, d.get(), "_id"));
        auto g = gid_from_bson(it);
        ASSERT_OK(g) << ids[i];
        EXPECT_EQ(static_cast<uint8_t>((*g)[0]), types[i]) << ids[i];
        EXPECT_OK(validate_gid(*g));
        Bson back;
        ASSERT_OK(append_gid(back.get(), "_id", *g));
        EXPECT_TRUE(bson_equal(back.get(), d.get())) << ids[i] << " came back as " << back.json();
    }
    // Devices' GIDs map to the BSON types MongoDB users expect.
    Bson oid;
    ASSERT_OK(append_gid(oid.get(), "_id", new_object_id_gid()));
    EXPECT_NE(oid.json().find("$oid"), std::string::npos);
    Bson uuid;
    ASSERT_OK(append_gid(uuid.get(), "_id", new_uuid_gid()));
    EXPECT_NE(uuid.json().find("\"subType\" : \"04\""), std::string::npos);
}

TEST_F(MappingTest, UnmappableIdsAreErrors) {
    for (const char* doc : {R"({"_id": 1.5})", R"({"_id": {"a": 1}})", R"({"_id": true})",
                            R"({"_id": null})", R"({"_id": {"$date": {"$numberLong": "1"}}})",
                            R"({"_id": {"$binary": {"base64": "AQID", "subType": "04"}}})"}) {
        Bson d = json(doc);
        bson_iter_t it;
        ASSERT_TRUE(bson_iter_init_find(&it, d.get(), "_id"));
        auto g = gid_from_bson(it);
        ASSERT_FALSE(g.is_ok()) << doc;
        EXPECT_EQ(g.status().code(), ErrorCode::kMongoMapping);
    }
    Bson d = json(R"({"_id": 1.5, "label": "x"})");
    auto ch = mapping_->change_from_document(*item_, d.get());
    ASSERT_FALSE(ch.is_ok());
    EXPECT_NE(ch.status().message().find("double cannot be a global id"), std::string::npos);
}

TEST_F(MappingTest, RelationsAreTargetIds) {
    Gid target = new_object_id_gid();
    Gid t2 = new_uuid_string_gid();
    ObjectChange put;
    put.kind = ObjectChange::kPut;
    put.entity_uid = model_.entity("Item")->id.uid;
    put.gid = new_object_id_gid();
    put.properties = {{uid("owner"), Value(Bytes(target.begin(), target.end()))}};
    put.to_many = {{model_.entity("Item")->relation("children")->id.uid, {target, t2, target}}};
    UpdateSpec spec;
    ASSERT_OK(mapping_->build_update(*item_, put, spec, nullptr));
    Bson upd;
    spec.build(upd.get());
    // Read back as a document: the to-one is the target's _id, the to-many an array of _ids, in
    // order, duplicates kept.
    Bson doc;
    ASSERT_OK(append_gid(doc.get(), "_id", put.gid));
    bson_concat(doc.get(), &spec.set);
    bson_iter_t it;
    ASSERT_TRUE(bson_iter_init_find(&it, doc.get(), "owner"));
    EXPECT_EQ(bson_iter_type(&it), BSON_TYPE_OID);
    auto back = mapping_->change_from_document(*item_, doc.get());
    ASSERT_OK(back);
    bool found_owner = false;
    for (const auto& pc : back->properties) {
        if (pc.property_uid == uid("owner")) {
            found_owner = true;
            EXPECT_EQ(pc.value, Value(Bytes(target.begin(), target.end())));
        }
    }
    EXPECT_TRUE(found_owner);
    ASSERT_EQ(back->to_many.size(), 1u);
    EXPECT_EQ(back->to_many[0].targets, (std::vector<Gid>{target, t2, target}));
    // A relation to an _id that is no GID type is a mapping error, not a dropped link.
    Bson bad = json(R"({"_id": 1, "children": [1.5]})");
    EXPECT_FALSE(mapping_->change_from_document(*item_, bad.get()).is_ok());
    Bson bad2 = json(R"({"_id": 1, "children": {"a": 1}})");
    EXPECT_FALSE(mapping_->change_from_document(*item_, bad2.get()).is_ok());
}

TEST_F(MappingTest, UpdatesSetAndUnsetOnlyChangedFields) {
    ObjectChange put;
    put.kind = ObjectChange::kPut;
    put.entity_uid = model_.entity("Item")->id.uid;
    put.gid = new_object_id_gid();
    put.properties = {{uid("name"), Value("n")}, {uid("i32"), Value()}};
    UpdateSpec spec;
    ASSERT_OK(mapping_->build_update(*item_, put, spec, nullptr));
    Bson upd;
    spec.build(upd.get());
    EXPECT_EQ(upd.json(), R"({ "$set" : { "label" : "n", "i32" : null } })");

    MappingOptions omit;
    omit.omit_null_to_mongo = true;
    Mapping m = Mapping::create(model_, omit).value();
    UpdateSpec spec2;
    ASSERT_OK(m.build_update(*m.by_collection("items"), put, spec2, nullptr));
    Bson upd2;
    spec2.build(upd2.get());
    EXPECT_EQ(upd2.json(), R"({ "$set" : { "label" : "n" }, "$unset" : { "i32" : "" } })");
}

TEST_F(MappingTest, NewObjectsWriteEveryMappedField) {
    const CollectionMap* tag = mapping_->by_collection("Tag");
    ObjectChange put;
    put.kind = ObjectChange::kPut;
    put.entity_uid = tag->entity->id.uid;
    put.gid = new_object_id_gid();
    put.is_new = true;
    put.properties = {{tag->entity->property("title")->id.uid, Value("t")}};
    UpdateSpec spec;
    ASSERT_OK(mapping_->build_update(*tag, put, spec, nullptr));
    Bson upd;
    spec.build(upd.get());
    EXPECT_EQ(upd.json(), R"({ "$set" : { "title" : "t", "weight" : null, "items" : [  ] } })");
}

TEST_F(MappingTest, OversizedValuesAreSkippedOrBlock) {
    MappingOptions small;
    small.max_property_size = 10;
    Mapping m = Mapping::create(model_, small).value();
    ObjectChange put;
    put.kind = ObjectChange::kPut;
    put.entity_uid = model_.entity("Item")->id.uid;
    put.gid = new_object_id_gid();
    put.properties = {{uid("name"), Value(std::string(100, 'x'))}, {uid("i32"), Value(int64_t{1})}};
    UpdateSpec spec;
    std::vector<std::string> skipped;
    ASSERT_OK(m.build_update(*m.by_collection("items"), put, spec, &skipped));
    ASSERT_EQ(skipped.size(), 1u);
    EXPECT_NE(skipped[0].find("maxPropertySizeToMongoDb"), std::string::npos);
    Bson upd;
    spec.build(upd.get());
    EXPECT_EQ(upd.json(), R"({ "$set" : { "i32" : 1 } })");

    small.strict_to_mongo = true;
    Mapping strict = Mapping::create(model_, small).value();
    UpdateSpec spec2;
    Status s = strict.build_update(*strict.by_collection("items"), put, spec2, nullptr);
    EXPECT_EQ(s.code(), ErrorCode::kMongoTooLarge);
}

TEST_F(MappingTest, DocumentsMapEveryPropertyAndIgnoreUnmappedFields) {
    Bson d = json(
        R"({"_id": "k", "label": "x", "unmapped": {"deep": 1}, "i32": 5, "children": ["a", "b"]})");
    auto ch = mapping_->change_from_document(*item_, d.get());
    ASSERT_OK(ch);
    EXPECT_EQ(ch->gid, std::string("\x02k"));
    // Every mapped property is set: present ones to their values, absent ones to null.
    EXPECT_EQ(ch->properties.size(), item_->fields.size());
    for (const auto& pc : ch->properties) {
        if (pc.property_uid == uid("name")) {
            EXPECT_EQ(pc.value, Value("x"));
        } else if (pc.property_uid == uid("i32")) {
            EXPECT_EQ(pc.value, Value(int64_t{5}));
        } else {
            EXPECT_TRUE(pc.value.is_null());
        }
    }
    ASSERT_EQ(ch->to_many.size(), 1u);
    EXPECT_EQ(ch->to_many[0].targets, (std::vector<Gid>{"\x02"
                                                        "a",
                                                        "\x02"
                                                        "b"}));
}

TEST_F(MappingTest, AbsentVectorsReadAsEmptyWithTheOption) {
    MappingOptions o;
    o.empty_list_for_absent = true;
    Mapping m = Mapping::create(model_, o).value();
    Bson d = json(R"({"_id": 1})");
    auto ch = m.change_from_document(*m.by_collection("items"), d.get());
    ASSERT_OK(ch);
    for (const auto& pc : ch->properties) {
        if (pc.property_uid == uid("tags")) {
            EXPECT_EQ(pc.value, Value(Value::StringVector{}));
        }
        if (pc.property_uid == uid("i32v")) {
            EXPECT_EQ(pc.value, Value(Value::IntVector{}));
        }
        if (pc.property_uid == uid("dv")) {
            EXPECT_EQ(pc.value, Value(Value::DoubleVector{}));
        }
        if (pc.property_uid == uid("name")) {
            EXPECT_TRUE(pc.value.is_null());
        }
    }
}

TEST_F(MappingTest, UpdateDescriptionsMapTopLevelFieldsAndAskForLookups) {
    Bson desc = json(
        R"({"updatedFields": {"label": "new", "extra.a.b": 1, "tags.2": "t", "unmapped.x": 1, "other": 2},
                        "removedFields": ["i32", "doc.k", "zzz"],
                        "truncatedArrays": [{"field": "i64v", "newSize": 1}]})");
    std::vector<std::string> lookup;
    auto ch = mapping_->change_from_update(*item_, "\x10\x01\x00\x00\x00", desc.get(), &lookup);
    ASSERT_OK(ch);
    ASSERT_EQ(ch->properties.size(), 2u);
    EXPECT_EQ(ch->properties[0], (PropertyChange{uid("name"), Value("new")}));
    EXPECT_EQ(ch->properties[1], (PropertyChange{uid("i32"), Value()}));
    EXPECT_EQ(lookup, (std::vector<std::string>{"extra", "tags", "doc", "i64v"}));
    Bson full =
        json(R"({"_id": 1, "extra": {"a": {"b": 1}}, "tags": ["x", "y", "t"], "i64v": [4]})");
    ASSERT_OK(mapping_->add_fields_from_document(*item_, full.get(), lookup, ch.value()));
    EXPECT_EQ(ch->properties.size(), 6u);
    for (const auto& pc : ch->properties) {
        if (pc.property_uid == uid("tags")) {
            EXPECT_EQ(pc.value, Value(Value::StringVector{"x", "y", "t"}));
        }
        if (pc.property_uid == uid("doc")) {
            EXPECT_TRUE(pc.value.is_null());
        }
        if (pc.property_uid == uid("i64v")) {
            EXPECT_EQ(pc.value, Value(Value::IntVector{4}));
        }
    }
}

TEST_F(MappingTest, ModelsThatCannotMapAreRejected) {
    ModelBuilder b;
    b.entity("A").sync().external_name("same").property("id", PropertyType::kInt64, kFlagId);
    b.entity("B").sync().external_name("same").property("id", PropertyType::kInt64, kFlagId);
    auto r = Mapping::create(b.build().value());
    ASSERT_FALSE(r.is_ok());
    EXPECT_NE(r.status().message().find("both map to collection \"same\""), std::string::npos);

    ModelBuilder c;
    c.entity("A")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("x", PropertyType::kString)
        .external_name("a.b");
    EXPECT_FALSE(Mapping::create(c.build().value()).is_ok());
    ModelBuilder d;
    d.entity("A")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("x", PropertyType::kString)
        .external_name("y")
        .property("y", PropertyType::kString);
    EXPECT_FALSE(Mapping::create(d.build().value()).is_ok());
}

}  // namespace
}  // namespace outpost::mongo
