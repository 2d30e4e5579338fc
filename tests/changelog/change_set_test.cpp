#include <gtest/gtest.h>

#include <random>
#include <set>

#include "outpost/changelog.hpp"

namespace outpost {
namespace {

ChangeSet sample() {
    ChangeSet cs;
    ObjectChange put;
    put.kind = ObjectChange::kPut;
    put.entity_uid = 1234567890123ULL;
    put.gid = new_object_id_gid();
    put.is_new = true;
    put.properties = {
        {1, Value()}, {2, Value(true)}, {3, Value(int64_t{-5})}, {4, Value(3.25)}, {5, Value("text")},
        {6, Value(Bytes{0, 255, 7})}, {7, Value(Value::IntVector{1, -2, INT64_MAX, INT64_MIN})},
        {8, Value(Value::DoubleVector{0.5, -1e300})}, {9, Value(Value::StringVector{"", "a"})},
        {10, Value(Flex(Flex::Map{{"a", Flex(Flex::Array{Flex(), true, 1, 2.5, "s", Flex(Bytes{9})})}}))},
    };
    put.to_many = {{77, {new_object_id_gid(), new_uuid_gid()}}};
    ObjectChange rm;
    rm.kind = ObjectChange::kRemove;
    rm.entity_uid = 9;
    rm.gid = new_uuid_string_gid(false);
    cs.objects = {put, rm};
    return cs;
}

std::span<const uint8_t> bytes_of(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(ChangeSet, RoundTripsEveryValueKind) {
    ChangeSet cs = sample();
    std::string enc = encode_change_set(cs);
    auto dec = decode_change_set(bytes_of(enc));
    ASSERT_TRUE(dec.is_ok()) << dec.status().to_string();
    EXPECT_EQ(dec.value(), cs);
}

TEST(ChangeSet, RejectsTruncatedRecordAtEveryLength) {
    std::string enc = encode_change_set(sample());
    for (size_t n = 0; n < enc.size(); ++n) {
        auto dec = decode_change_set(bytes_of(enc.substr(0, n)));
        EXPECT_FALSE(dec.is_ok()) << "prefix of " << n << " bytes decoded";
        if (!dec.is_ok()) {
            EXPECT_EQ(dec.status().code(), ErrorCode::kCorrupt);
        }
    }
}

TEST(ChangeSet, RejectsTrailingBytesBadMagicAndVersion) {
    std::string enc = encode_change_set(sample());
    EXPECT_FALSE(decode_change_set(bytes_of(enc + "x")).is_ok());
    std::string bad = enc;
    bad[0] = 0;
    EXPECT_FALSE(decode_change_set(bytes_of(bad)).is_ok());
    bad = enc;
    bad[1] = 9;
    EXPECT_FALSE(decode_change_set(bytes_of(bad)).is_ok());
}

TEST(ChangeSet, RandomCorruptionNeverCrashes) {
    std::string enc = encode_change_set(sample());
    std::mt19937 rng(42);
    int decoded = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string s = enc;
        int flips = 1 + static_cast<int>(rng() % 4);
        for (int f = 0; f < flips; ++f) s[rng() % s.size()] = static_cast<char>(rng());
        auto dec = decode_change_set(bytes_of(s));
        if (dec.is_ok()) {
            ++decoded;
            // Whatever decodes must encode again to a set that decodes equal.
            auto again = decode_change_set(bytes_of(encode_change_set(dec.value())));
            ASSERT_TRUE(again.is_ok());
            EXPECT_EQ(again.value(), dec.value());
        }
    }
    EXPECT_LT(decoded, 20000);
}

TEST(ChangeSet, HugeCountsAreRejectedWithoutAllocating) {
    // magic, version, count = 2^63 as varint
    std::string s = "\xC5\x01";
    for (int i = 0; i < 9; ++i) s.push_back(static_cast<char>(0xff));
    s.push_back(0x7f);
    auto dec = decode_change_set(bytes_of(s));
    EXPECT_FALSE(dec.is_ok());
}

TEST(Gid, ObjectIdsAreUniqueAndWellFormed) {
    std::set<Gid> seen;
    for (int i = 0; i < 10000; ++i) {
        Gid g = new_object_id_gid();
        ASSERT_TRUE(validate_gid(g).is_ok());
        ASSERT_TRUE(seen.insert(g).second);
    }
    EXPECT_TRUE(gid_to_string(*seen.begin()).starts_with("ObjectId(\""));
    EXPECT_FALSE(validate_gid("").is_ok());
    EXPECT_FALSE(validate_gid(std::string("\x07short", 6)).is_ok());
    EXPECT_FALSE(validate_gid(std::string("\x42xx", 3)).is_ok());
}

}  // namespace
}  // namespace outpost
