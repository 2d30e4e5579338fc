// The object codec through the dynamic API: every property type round-trips through put and get,
// null stays null, out-of-range and mistyped values are refused without changing anything.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "common/status_macros.hpp"
#include "store/test_model.hpp"

namespace outpost {
namespace {

using test::StoreTest;
using I64 = std::numeric_limits<int64_t>;
using Dbl = std::numeric_limits<double>;
using Flt = std::numeric_limits<float>;

class Codec : public StoreTest {
  protected:
    // Puts OBJ in its own transaction and reads it back in another.
    Object round_trip(DynamicBox& b, Object obj) {
        auto id = b.put(obj);
        EXPECT_OK(id);
        auto got = b.get(obj.id);
        EXPECT_OK(got);
        if (!got.is_ok() || !got->has_value()) {
            ADD_FAILURE() << "object " << obj.id << " not found after put";
            return Object(b.entity());
        }
        return std::move(**got);
    }
    // Sets one property and round-trips it; returns the value read back.
    Value one(const std::string& entity, const std::string& prop, Value v) {
        DynamicBox b = box(entity);
        Object o = b.new_object();
        Status st = o.set(prop, std::move(v));
        EXPECT_OK(st);
        return round_trip(b, std::move(o)).get(prop);
    }
};

std::string all_bytes_string() {
    std::string s;
    for (int i = 1; i < 256; ++i) s.push_back(static_cast<char>(i));
    return s;
}

TEST_F(Codec, BoolRoundTrips) {
    EXPECT_EQ(one("AllTypes", "b", true), Value(true));
    EXPECT_EQ(one("AllTypes", "b", false), Value(false));
}

TEST_F(Codec, SignedIntegersRoundTripAtTheirLimits) {
    for (int64_t v : {int64_t{-128}, int64_t{127}, int64_t{0}, int64_t{-1}}) {
        EXPECT_EQ(one("AllTypes", "i8", v), Value(v)) << v;
    }
    for (int64_t v : {int64_t{-32768}, int64_t{32767}, int64_t{0}}) {
        EXPECT_EQ(one("AllTypes", "i16", v), Value(v)) << v;
    }
    for (int64_t v : {int64_t{std::numeric_limits<int32_t>::min()},
                      int64_t{std::numeric_limits<int32_t>::max()}}) {
        EXPECT_EQ(one("AllTypes", "i32", v), Value(v)) << v;
    }
    for (int64_t v : {I64::min(), I64::max(), int64_t{0}}) {
        EXPECT_EQ(one("AllTypes", "i64", v), Value(v)) << v;
        EXPECT_EQ(one("AllTypes", "dt", v), Value(v)) << v;
        EXPECT_EQ(one("AllTypes", "dn", v), Value(v)) << v;
    }
}

TEST_F(Codec, UnsignedIntegersRoundTripAtTheirLimits) {
    EXPECT_EQ(one("Unsigned", "u8", 255), Value(255));
    EXPECT_EQ(one("Unsigned", "u8", 0), Value(0));
    EXPECT_EQ(one("Unsigned", "u16", 65535), Value(65535));
    EXPECT_EQ(one("Unsigned", "u32", int64_t{4294967295}), Value(int64_t{4294967295}));
    // An unsigned int64 keeps all 64 bits: UINT64_MAX travels as int64 -1.
    EXPECT_EQ(one("Unsigned", "u64", static_cast<int64_t>(std::numeric_limits<uint64_t>::max())),
              Value(static_cast<int64_t>(std::numeric_limits<uint64_t>::max())));
    EXPECT_EQ(one("Unsigned", "vu8", Value::IntVector{0, 128, 255}),
              Value(Value::IntVector{0, 128, 255}));
    EXPECT_EQ(one("Unsigned", "vu16", Value::IntVector{0, 65535}),
              Value(Value::IntVector{0, 65535}));
    EXPECT_EQ(one("Unsigned", "vu32", Value::IntVector{0, 4294967295}),
              Value(Value::IntVector{0, 4294967295}));
}

TEST_F(Codec, DoubleRoundTripsSpecialValues) {
    for (double v : {0.0, 1.5, -2.25, Dbl::max(), Dbl::lowest(), Dbl::min(), Dbl::denorm_min(),
                     Dbl::infinity(), -Dbl::infinity(), Dbl::epsilon(), 0.1}) {
        Value got = one("AllTypes", "d", v);
        ASSERT_TRUE(got.is<double>());
        EXPECT_EQ(got.as<double>(), v);
    }
    Value nan = one("AllTypes", "d", Dbl::quiet_NaN());
    ASSERT_TRUE(nan.is<double>());
    EXPECT_TRUE(std::isnan(nan.as<double>()));
    Value neg_zero = one("AllTypes", "d", -0.0);
    ASSERT_TRUE(neg_zero.is<double>());
    EXPECT_EQ(neg_zero.as<double>(), 0.0);
    EXPECT_TRUE(std::signbit(neg_zero.as<double>()));
}

TEST_F(Codec, FloatRoundTripsSpecialValues) {
    for (float v : {0.0f, 1.5f, Flt::max(), Flt::lowest(), Flt::min(), Flt::denorm_min(),
                    Flt::infinity(), -Flt::infinity()}) {
        Value got = one("AllTypes", "f", v);
        ASSERT_TRUE(got.is<double>());
        EXPECT_EQ(got.as<double>(), static_cast<double>(v));
    }
    // A double given to a float property is stored as the nearest float.
    EXPECT_EQ(one("AllTypes", "f", 0.1).as<double>(), static_cast<double>(0.1f));
    EXPECT_TRUE(std::isnan(one("AllTypes", "f", Flt::quiet_NaN()).as<double>()));
    Value neg_zero = one("AllTypes", "f", -0.0f);
    EXPECT_TRUE(std::signbit(neg_zero.as<double>()));
    // An integer given to a floating property is converted.
    EXPECT_EQ(one("AllTypes", "d", 42), Value(42.0));
}

TEST_F(Codec, StringsRoundTrip) {
    EXPECT_EQ(one("AllTypes", "s", ""), Value(""));
    std::string unicode =
        "h\xC3\xA9llo w\xC3\xB6rld \xE2\x9C\x93 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x8E\x89";
    EXPECT_EQ(one("AllTypes", "s", unicode), Value(unicode));
    std::string with_nul("a\0b\0", 4);
    EXPECT_EQ(one("AllTypes", "s", with_nul), Value(with_nul));
    std::string all = all_bytes_string();
    EXPECT_EQ(one("AllTypes", "s", all), Value(all));
    std::string big(1'500'000, 'x');
    for (size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
    Value got = one("AllTypes", "s", big);
    ASSERT_TRUE(got.is<std::string>());
    EXPECT_EQ(got.as<std::string>().size(), big.size());
    EXPECT_TRUE(got.as<std::string>() == big);
}

TEST_F(Codec, EmptyStringIsNotNull) {
    Value got = one("AllTypes", "s", "");
    EXPECT_FALSE(got.is_null());
}

TEST_F(Codec, BytesRoundTrip) {
    Value empty = one("AllTypes", "by", Bytes{});
    ASSERT_TRUE(empty.is<Bytes>());
    EXPECT_TRUE(empty.as<Bytes>().empty());
    Bytes binary;
    for (int i = 0; i < 256; ++i) binary.push_back(static_cast<uint8_t>(i));
    binary.insert(binary.end(), {0, 0, 0, 255, 0});
    EXPECT_EQ(one("AllTypes", "by", binary), Value(binary));
    Bytes big(2'000'000);
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 31);
    EXPECT_EQ(one("AllTypes", "by", big), Value(big));
}

TEST_F(Codec, FlexNestedValuesRoundTrip) {
    Flex::Map inner = {{"a", Flex(nullptr)}, {"b", Flex(true)}, {"c", Flex(false)}};
    Flex::Array arr = {Flex(nullptr),          Flex(true),       Flex(int64_t{0}),
                       Flex(I64::min()),       Flex(I64::max()), Flex(-1.5),
                       Flex(Dbl::max()),       Flex(""),         Flex("text \xE2\x9C\x93"),
                       Flex(Bytes{0, 1, 255}), Flex(Bytes{}),    Flex(Flex::Array{}),
                       Flex(Flex::Map{}),      Flex(inner)};
    // Keys in sorted order: maps come back sorted.
    Flex::Map top = {
        {"array", Flex(arr)},
        {"bytes", Flex(Bytes{9, 8, 7})},
        {"double", Flex(3.25)},
        {"int", Flex(int64_t{-7})},
        {"nested", Flex(Flex::Map{{"deeper", Flex(Flex::Array{Flex(Flex::Map{{"x", Flex(1)}})})}})},
        {"null", Flex(nullptr)},
        {"string", Flex("s")}};
    Value got = one("AllTypes", "fx", Flex(top));
    ASSERT_TRUE(got.is<Flex>());
    EXPECT_TRUE(got.as<Flex>() == Flex(top));
}

TEST_F(Codec, FlexNestsAtMostTheLimit) {
    auto nested = [](int levels, bool maps) {
        Flex f("leaf");
        for (int i = 0; i < levels; ++i) {
            f = maps ? Flex(Flex::Map{{"k", std::move(f)}}) : Flex(Flex::Array{std::move(f)});
        }
        return f;
    };
    for (bool maps : {false, true}) {
        EXPECT_EQ(one("AllTypes", "fx", nested(kMaxNestingDepth, maps)),
                  Value(nested(kMaxNestingDepth, maps)));
        DynamicBox b = box("AllTypes");
        Object o = b.new_object();
        ASSERT_OK(o.set("fx", nested(kMaxNestingDepth + 1, maps)));
        auto r = b.put(o);
        ASSERT_FALSE(r.is_ok());
        EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(r.status().message().find("nest at most 64 levels"), std::string::npos)
            << r.status().message();
    }
}

TEST_F(Codec, FlexScalarsAndUnsortedMaps) {
    EXPECT_EQ(one("AllTypes", "fx", Flex(int64_t{5})), Value(Flex(int64_t{5})));
    EXPECT_EQ(one("AllTypes", "fx", Flex("only")), Value(Flex("only")));
    EXPECT_EQ(one("AllTypes", "fx", Flex(Flex::Array{})), Value(Flex(Flex::Array{})));
    // Scalars given as plain values become flex.
    EXPECT_EQ(one("AllTypes", "fx", Value(true)), Value(Flex(true)));
    EXPECT_EQ(one("AllTypes", "fx", Value(2.5)), Value(Flex(2.5)));
    // A map given in any order comes back sorted by key.
    Flex::Map unsorted = {{"z", Flex(1)}, {"a", Flex(2)}, {"m", Flex(3)}};
    Flex::Map sorted = {{"a", Flex(2)}, {"m", Flex(3)}, {"z", Flex(1)}};
    EXPECT_EQ(one("AllTypes", "fx", Flex(unsorted)), Value(Flex(sorted)));
}

TEST_F(Codec, FlexMapKeysAreKeptExactlyOrRefused) {
    // FlexBuffers keys end at a NUL byte: a key holding one must not come back cut short.
    Flex::Map m = {{std::string("a\0b", 3), Flex(1)}, {"c", Flex(2)}};
    DynamicBox b = box("AllTypes");
    Object o = b.new_object();
    ASSERT_OK(o.set("fx", Flex(m)));
    auto r = b.put(o);
    if (!r.is_ok()) {
        EXPECT_NE(r.status().code(), ErrorCode::kInternal) << r.status().to_string();
        return;
    }
    ASSERT_OK_AND_ASSIGN(auto got, b.get(o.id));
    EXPECT_EQ(got->get("fx"), Value(Flex(m)));
}

TEST_F(Codec, RelationRoundTrips) {
    DynamicBox b = box("AllTypes");
    Object target = b.new_object();
    ASSERT_OK(b.put(target));
    Object o = b.new_object();
    ASSERT_OK(o.set("rel", static_cast<int64_t>(target.id)));
    Object got = round_trip(b, o);
    EXPECT_EQ(got.get("rel"), Value(static_cast<int64_t>(target.id)));
    // 0 means no target and reads as null.
    Object none = b.new_object();
    ASSERT_OK(none.set("rel", 0));
    EXPECT_TRUE(round_trip(b, none).get("rel").is_null());
}

TEST_F(Codec, VectorsRoundTrip) {
    DynamicBox b = box("AllTypes");
    Object o = b.new_object();
    ASSERT_OK(o.set("vi8", Value::IntVector{-128, 0, 127, 5}));
    ASSERT_OK(o.set("vi16", Value::IntVector{-32768, 32767}));
    ASSERT_OK(o.set("vi32", Value::IntVector{std::numeric_limits<int32_t>::min(), 1,
                                             std::numeric_limits<int32_t>::max()}));
    ASSERT_OK(o.set("vi64", Value::IntVector{I64::min(), 0, I64::max(), 0}));
    ASSERT_OK(o.set(
        "vf", Value::DoubleVector{1.5, -0.25, static_cast<double>(Flt::max()), Dbl::infinity()}));
    ASSERT_OK(o.set(
        "vd", Value::DoubleVector{Dbl::lowest(), Dbl::max(), Dbl::denorm_min(), -Dbl::infinity()}));
    ASSERT_OK(o.set(
        "vs", Value::StringVector{"", "one", "\xE2\x9C\x93", std::string(70'000, 'q'), "one"}));
    ASSERT_OK(o.set("vdt", Value::IntVector{0, -1, I64::max()}));
    Object got = round_trip(b, o);
    for (const char* p : {"vi8", "vi16", "vi32", "vi64", "vf", "vd", "vs", "vdt"}) {
        EXPECT_EQ(got.get(p), o.get(p)) << p;
    }
    // NaN inside a vector survives too.
    Object n = b.new_object();
    ASSERT_OK(n.set("vd", Value::DoubleVector{Dbl::quiet_NaN()}));
    ASSERT_OK(n.set("vf", Value::DoubleVector{Dbl::quiet_NaN()}));
    Object ngot = round_trip(b, n);
    ASSERT_TRUE(ngot.get("vd").is<Value::DoubleVector>());
    ASSERT_EQ(ngot.get("vd").as<Value::DoubleVector>().size(), 1u);
    EXPECT_TRUE(std::isnan(ngot.get("vd").as<Value::DoubleVector>()[0]));
    EXPECT_TRUE(std::isnan(ngot.get("vf").as<Value::DoubleVector>()[0]));
}

TEST_F(Codec, EmptyVectorsRoundTripAndAreNotNull) {
    DynamicBox b = box("AllTypes");
    Object o = b.new_object();
    for (const char* p : {"vi8", "vi16", "vi32", "vi64", "vdt"})
        ASSERT_OK(o.set(p, Value::IntVector{}));
    for (const char* p : {"vf", "vd"}) ASSERT_OK(o.set(p, Value::DoubleVector{}));
    ASSERT_OK(o.set("vs", Value::StringVector{}));
    Object got = round_trip(b, o);
    for (const char* p : {"vi8", "vi16", "vi32", "vi64", "vdt", "vf", "vd", "vs"}) {
        EXPECT_FALSE(got.get(p).is_null()) << p;
        EXPECT_EQ(got.get(p), o.get(p)) << p;
    }
}

TEST_F(Codec, UnsetPropertiesStayNull) {
    DynamicBox b = box("AllTypes");
    Object got = round_trip(b, b.new_object());
    for (const auto& p : b.entity().properties) {
        if (p.has(kFlagId)) continue;
        EXPECT_TRUE(got.get(p.name).is_null()) << p.name;
    }
    // One set property does not make the others non-null; zero values are not null.
    Object o = b.new_object();
    ASSERT_OK(o.set("i32", 0));
    ASSERT_OK(o.set("b", false));
    ASSERT_OK(o.set("d", 0.0));
    Object got2 = round_trip(b, o);
    EXPECT_EQ(got2.get("i32"), Value(0));
    EXPECT_EQ(got2.get("b"), Value(false));
    EXPECT_EQ(got2.get("d"), Value(0.0));
    for (const auto& p : b.entity().properties) {
        if (p.has(kFlagId) || p.name == "i32" || p.name == "b" || p.name == "d") continue;
        EXPECT_TRUE(got2.get(p.name).is_null()) << p.name;
    }
}

TEST_F(Codec, SettingNullClearsAValueOnUpdate) {
    DynamicBox b = box("AllTypes");
    Object o = b.new_object();
    ASSERT_OK(o.set("s", "here"));
    ASSERT_OK(o.set("i64", 9));
    ASSERT_OK(b.put(o));
    ASSERT_OK(o.set("s", Value()));
    ASSERT_OK(b.put(o));
    ASSERT_OK_AND_ASSIGN(auto got, b.get(o.id));
    ASSERT_TRUE(got.has_value());
    EXPECT_TRUE(got->get("s").is_null());
    EXPECT_EQ(got->get("i64"), Value(9));
}

TEST_F(Codec, EveryTypeInOneObject) {
    DynamicBox b = box("AllTypes");
    Object o = b.new_object();
    ASSERT_OK(o.set("b", true));
    ASSERT_OK(o.set("i8", -5));
    ASSERT_OK(o.set("i16", 300));
    ASSERT_OK(o.set("i32", -70000));
    ASSERT_OK(o.set("i64", int64_t{1} << 40));
    ASSERT_OK(o.set("f", 2.5f));
    ASSERT_OK(o.set("d", 1e300));
    ASSERT_OK(o.set("s", "text"));
    ASSERT_OK(o.set("dt", int64_t{1700000000000}));
    ASSERT_OK(o.set("dn", int64_t{1700000000000000001}));
    ASSERT_OK(o.set("by", Bytes{1, 2, 3}));
    ASSERT_OK(o.set("fx", Flex(Flex::Map{{"k", Flex("v")}})));
    ASSERT_OK(o.set("vi8", Value::IntVector{1}));
    ASSERT_OK(o.set("vi16", Value::IntVector{2}));
    ASSERT_OK(o.set("vi32", Value::IntVector{3}));
    ASSERT_OK(o.set("vi64", Value::IntVector{4}));
    ASSERT_OK(o.set("vf", Value::DoubleVector{5.5}));
    ASSERT_OK(o.set("vd", Value::DoubleVector{6.5}));
    ASSERT_OK(o.set("vs", Value::StringVector{"7"}));
    ASSERT_OK(o.set("vdt", Value::IntVector{8}));
    Object got = round_trip(b, o);
    EXPECT_NE(got.id, 0u);
    o.id = got.id;
    EXPECT_TRUE(got == o);
    // By property id too.
    const Property* d = b.entity().property("d");
    EXPECT_EQ(got.get_by_id(d->id.id), Value(1e300));
}

TEST_F(Codec, SetByIdAndUnknownProperties) {
    DynamicBox b = box("AllTypes");
    Object o = b.new_object();
    const Property* s = b.entity().property("s");
    ASSERT_OK(o.set_by_id(s->id.id, "by id"));
    EXPECT_EQ(o.get("s"), Value("by id"));
    EXPECT_CODE(o.set("nope", 1), ErrorCode::kUnknownProperty);
    EXPECT_CODE(o.set_by_id(999, 1), ErrorCode::kUnknownProperty);
    EXPECT_TRUE(o.get("nope").is_null());
    // Setting "id" sets the object id.
    ASSERT_OK(o.set("id", 77));
    EXPECT_EQ(o.id, 77u);
    EXPECT_CODE(o.set("id", "x"), ErrorCode::kTypeMismatch);
}

// ---- refused values ----

class CodecRefuses : public Codec {
  protected:
    // Stores a known object, then tries to overwrite it with PROP = V in the same transaction and
    // expects CODE; the stored object, the count and a later put in that transaction are
    // unaffected.
    void expect_refused(const std::string& entity, const std::string& prop, Value v,
                        ErrorCode code) {
        SCOPED_TRACE(entity + "." + prop);
        DynamicBox b = box(entity);
        Object keep = b.new_object();
        ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
        ASSERT_OK(b.put(txn, keep));
        ASSERT_OK_AND_ASSIGN(uint64_t before, b.count(txn));

        Object fresh = b.new_object();
        ASSERT_OK(fresh.set(prop, v));
        auto r = b.put(txn, fresh);
        ASSERT_FALSE(r.is_ok()) << "accepted " << prop;
        EXPECT_EQ(static_cast<int>(r.status().code()), static_cast<int>(code))
            << r.status().to_string();
        EXPECT_NE(r.status().message().find(entity + "." + prop), std::string::npos)
            << r.status().message();

        Object update = keep;
        ASSERT_OK(update.set(prop, v));
        EXPECT_CODE(b.put(txn, update), code);

        ASSERT_OK_AND_ASSIGN(uint64_t after, b.count(txn));
        EXPECT_EQ(after, before);
        ASSERT_OK_AND_ASSIGN(auto stored, b.get(txn, keep.id));
        ASSERT_TRUE(stored.has_value());
        EXPECT_TRUE(*stored == keep);
        Object another = b.new_object();
        ASSERT_OK(b.put(txn, another));
        ASSERT_OK(txn.commit());
        ASSERT_OK_AND_ASSIGN(uint64_t committed, b.count());
        EXPECT_EQ(committed, before + 1);
    }
};

TEST_F(CodecRefuses, OutOfRangeSignedIntegers) {
    expect_refused("AllTypes", "i8", 128, ErrorCode::kValueOutOfRange);
    expect_refused("AllTypes", "i8", -129, ErrorCode::kValueOutOfRange);
    expect_refused("AllTypes", "i16", 32768, ErrorCode::kValueOutOfRange);
    expect_refused("AllTypes", "i16", -32769, ErrorCode::kValueOutOfRange);
    expect_refused("AllTypes", "i32", int64_t{2147483648}, ErrorCode::kValueOutOfRange);
    expect_refused("AllTypes", "i32", int64_t{-2147483649}, ErrorCode::kValueOutOfRange);
}

TEST_F(CodecRefuses, OutOfRangeUnsignedIntegers) {
    expect_refused("Unsigned", "u8", 256, ErrorCode::kValueOutOfRange);
    expect_refused("Unsigned", "u8", -1, ErrorCode::kValueOutOfRange);
    expect_refused("Unsigned", "u16", 65536, ErrorCode::kValueOutOfRange);
    expect_refused("Unsigned", "u32", int64_t{4294967296}, ErrorCode::kValueOutOfRange);
    expect_refused("Unsigned", "u32", -1, ErrorCode::kValueOutOfRange);
}

TEST_F(CodecRefuses, OutOfRangeVectorElements) {
    expect_refused("AllTypes", "vi8", Value::IntVector{1, 128}, ErrorCode::kValueOutOfRange);
    expect_refused("AllTypes", "vi16", Value::IntVector{-32769}, ErrorCode::kValueOutOfRange);
    expect_refused("AllTypes", "vi32", Value::IntVector{0, int64_t{1} << 31},
                   ErrorCode::kValueOutOfRange);
    expect_refused("Unsigned", "vu8", Value::IntVector{-1}, ErrorCode::kValueOutOfRange);
}

TEST_F(CodecRefuses, ValuesOfTheWrongType) {
    expect_refused("AllTypes", "b", 1, ErrorCode::kTypeMismatch);
    expect_refused("AllTypes", "i32", "12", ErrorCode::kTypeMismatch);
    expect_refused("AllTypes", "i64", 1.5, ErrorCode::kTypeMismatch);
    expect_refused("AllTypes", "d", "1.5", ErrorCode::kTypeMismatch);
    expect_refused("AllTypes", "s", 5, ErrorCode::kTypeMismatch);
    expect_refused("AllTypes", "by", "bytes", ErrorCode::kTypeMismatch);
    expect_refused("AllTypes", "rel", "3", ErrorCode::kTypeMismatch);
    expect_refused("AllTypes", "vi64", Value::StringVector{"1"}, ErrorCode::kTypeMismatch);
    expect_refused("AllTypes", "vs", Value::IntVector{1}, ErrorCode::kTypeMismatch);
    expect_refused("AllTypes", "vd", Value::StringVector{"x"}, ErrorCode::kTypeMismatch);
    expect_refused("AllTypes", "fx", Value::IntVector{1}, ErrorCode::kTypeMismatch);
    expect_refused("AllTypes", "dt", true, ErrorCode::kTypeMismatch);
}

TEST_F(Codec, ObjectOfAnotherEntityIsRefused) {
    DynamicBox items = box("Item");
    DynamicBox authors = box("Author");
    Object a = authors.new_object();
    EXPECT_CODE(items.put(a), ErrorCode::kInvalidArgument);
    ASSERT_OK_AND_ASSIGN(uint64_t n, items.count());
    EXPECT_EQ(n, 0u);
}

}  // namespace
}  // namespace outpost
