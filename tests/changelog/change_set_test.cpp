#include <gtest/gtest.h>

#include <random>
#include <set>

#include "common/status_macros.hpp"
#include "outpost/changelog.hpp"
#include "store/change_set_codec.hpp"

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
        {1, Value()},
        {2, Value(true)},
        {3, Value(int64_t{-5})},
        {4, Value(3.25)},
        {5, Value("text")},
        {6, Value(Bytes{0, 255, 7})},
        {7, Value(Value::IntVector{1, -2, INT64_MAX, INT64_MIN})},
        {8, Value(Value::DoubleVector{0.5, -1e300})},
        {9, Value(Value::StringVector{"", "a"})},
        {10, Value(Flex(
                 Flex::Map{{"a", Flex(Flex::Array{Flex(), true, 1, 2.5, "s", Flex(Bytes{9})})}}))},
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
    ASSERT_OK(dec);
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
            ASSERT_OK(again);
            EXPECT_EQ(again.value(), dec.value());
        }
    }
    EXPECT_LT(decoded, 20000);
}

// The version the change log writes: uids once in a table, objects name them by index.
std::string encode_with_uid_table(const ChangeSet& cs) {
    detail::UidTable table;
    std::string objects;
    detail::ChangeSetWriter w(objects);
    for (const auto& o : cs.objects) w.object(o, &table);
    std::string out;
    detail::ChangeSetWriter h(out);
    h.u8(0xC5);
    h.u8(2);
    h.varint(table.uids().size());
    for (uint64_t uid : table.uids()) h.varint(uid);
    h.varint(cs.objects.size());
    return out + objects;
}

TEST(ChangeSet, DecodesUidTableVersion) {
    ChangeSet cs = sample();
    std::string enc = encode_with_uid_table(cs);
    auto dec = decode_change_set(bytes_of(enc));
    ASSERT_OK(dec);
    EXPECT_EQ(dec.value(), cs);
    for (size_t n = 0; n < enc.size(); ++n) {
        auto part = decode_change_set(bytes_of(enc.substr(0, n)));
        ASSERT_FALSE(part.is_ok()) << "prefix of " << n << " bytes decoded";
        EXPECT_EQ(part.status().code(), ErrorCode::kCorrupt);
    }
    EXPECT_FALSE(decode_change_set(bytes_of(enc + "x")).is_ok());
}

TEST(ChangeSet, RejectsUidIndexOutOfRange) {
    // One uid (300); a put of entity index 0 with property index 1: past the table.
    std::string gid = new_object_id_gid();
    std::string s = "\xC5\x02\x01\xAC\x02\x01";
    s += '\x01';  // put
    s += '\x00';  // entity: uid index 0
    s += static_cast<char>(gid.size()) + gid;
    s += std::string("\x01\x01\x01\x03\x0A\x00", 6);  // new, 1 property: index 1, int 5; no to-many
    auto dec = decode_change_set(bytes_of(s));
    ASSERT_FALSE(dec.is_ok());
    EXPECT_EQ(dec.status().code(), ErrorCode::kCorrupt);
    s[s.size() - 4] = '\x00';  // property index 0: in range
    dec = decode_change_set(bytes_of(s));
    ASSERT_OK(dec);
    ASSERT_EQ(dec->objects.size(), 1u);
    EXPECT_EQ(dec->objects[0].entity_uid, 300u);
    ASSERT_EQ(dec->objects[0].properties.size(), 1u);
    EXPECT_EQ(dec->objects[0].properties[0].property_uid, 300u);
    EXPECT_EQ(dec->objects[0].properties[0].value, Value(5));
}

TEST(ChangeSet, UidTableVersionSurvivesRandomCorruption) {
    std::string enc = encode_with_uid_table(sample());
    std::mt19937 rng(7);
    for (int i = 0; i < 20000; ++i) {
        std::string s = enc;
        int flips = 1 + static_cast<int>(rng() % 4);
        for (int f = 0; f < flips; ++f) s[rng() % s.size()] = static_cast<char>(rng());
        auto dec = decode_change_set(bytes_of(s));
        if (dec.is_ok()) {
            auto again = decode_change_set(bytes_of(encode_change_set(dec.value())));
            ASSERT_OK(again);
            EXPECT_EQ(again.value(), dec.value());
        }
    }
}

TEST(ChangeSet, FlexDeeperThanTheLimitIsRejected) {
    auto with_flex = [](int levels) {
        Flex f(int64_t{1});
        for (int i = 0; i < levels; ++i) {
            f = i % 2 ? Flex(Flex::Map{{"k", std::move(f)}}) : Flex(Flex::Array{std::move(f)});
        }
        ChangeSet cs = sample();
        cs.objects[0].properties = {{10, Value(std::move(f))}};
        return encode_change_set(cs);
    };
    auto ok = decode_change_set(bytes_of(with_flex(kMaxNestingDepth)));
    ASSERT_OK(ok);
    auto deep = decode_change_set(bytes_of(with_flex(kMaxNestingDepth + 1)));
    ASSERT_FALSE(deep.is_ok());
    EXPECT_EQ(deep.status().code(), ErrorCode::kCorrupt);
    EXPECT_NE(deep.status().message().find("nested too deeply"), std::string::npos)
        << deep.status().message();
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
        ASSERT_OK(validate_gid(g));
        ASSERT_TRUE(seen.insert(g).second);
    }
    EXPECT_TRUE(gid_to_string(*seen.begin()).starts_with("ObjectId(\""));
    EXPECT_FALSE(validate_gid("").is_ok());
    EXPECT_FALSE(validate_gid(std::string("\x07short", 6)).is_ok());
    EXPECT_FALSE(validate_gid(std::string("\x42xx", 3)).is_ok());
}

}  // namespace
}  // namespace outpost
