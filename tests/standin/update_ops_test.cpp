// Update operators: the direct path for top-level $set/$unset gives exactly what the general
// (document tree) path gives, on random documents and updates, and leaves other shapes to it.
#include "update_ops.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

namespace standin {
namespace {

std::string doc_bytes(const char* json) {
    bson_error_t err;
    bson_t* b = bson_new_from_json(reinterpret_cast<const uint8_t*>(json), -1, &err);
    EXPECT_NE(b, nullptr) << err.message;
    std::string s(reinterpret_cast<const char*>(bson_get_data(b)), b->len);
    bson_destroy(b);
    return s;
}

std::string bytes_of(const bson_t* b) {
    return std::string(reinterpret_cast<const char*>(bson_get_data(b)), b->len);
}

// A value of one of several types, or a nested document/array, chosen by R.
void append_random_value(bson_t* b, const char* key, std::mt19937& r, int depth = 0) {
    switch (r() % (depth < 2 ? 11 : 9)) {
        case 0:
            BSON_APPEND_INT32(b, key, static_cast<int32_t>(r() % 3));
            break;
        case 1:
            BSON_APPEND_INT64(b, key, static_cast<int64_t>(r() % 3));
            break;
        case 2:
            BSON_APPEND_DOUBLE(b, key, (r() % 2) ? -0.0 : 1.5);
            break;
        case 3:
            BSON_APPEND_UTF8(b, key, (r() % 2) ? "x" : "yy");
            break;
        case 4:
            BSON_APPEND_BOOL(b, key, r() % 2);
            break;
        case 5:
            BSON_APPEND_NULL(b, key);
            break;
        case 6:
            BSON_APPEND_DATE_TIME(b, key, 1700000000000 + (r() % 2));
            break;
        case 7: {
            uint8_t bin[3] = {1, 2, static_cast<uint8_t>(r() % 2)};
            bson_append_binary(b, key, -1, BSON_SUBTYPE_BINARY, bin, 3);
            break;
        }
        case 8: {
            bson_oid_t oid;
            bson_oid_init_from_string(
                &oid, (r() % 2) ? "65a1b2c3d4e5f60718293a4b" : "65a1b2c3d4e5f60718293a4c");
            BSON_APPEND_OID(b, key, &oid);
            break;
        }
        case 9: {
            bson_t child;
            BSON_APPEND_DOCUMENT_BEGIN(b, key, &child);
            for (uint32_t i = 0, n = r() % 3; i < n; ++i)
                append_random_value(&child, i ? "q" : "p", r, depth + 1);
            bson_append_document_end(b, &child);
            break;
        }
        default: {
            bson_t child;
            BSON_APPEND_ARRAY_BEGIN(b, key, &child);
            for (uint32_t i = 0, n = r() % 3; i < n; ++i)
                append_random_value(&child, std::to_string(i).c_str(), r, depth + 1);
            bson_append_array_end(b, &child);
            break;
        }
    }
}

const char* const kNames[] = {"a", "b", "c", "d", "e", "f"};

TEST(UpdateOps, TopLevelSetUnsetMatchesTheGeneralPath) {
    std::mt19937 r(20261126);
    int compared = 0, changed = 0;
    for (int round = 0; round < 3000; ++round) {
        Doc original;
        if (r() % 8) BSON_APPEND_INT32(original.get(), "_id", round);
        for (const char* name : kNames)
            if (r() % 2) append_random_value(original.get(), name, r);
        // $set and/or $unset of distinct top-level names, in either order.
        Doc set, unset;
        for (const char* name : kNames) {
            switch (r() % 4) {
                case 0:
                    append_random_value(set.get(), name, r);
                    break;
                case 1:
                    BSON_APPEND_UTF8(unset.get(), name, "");
                    break;
                default:
                    break;
            }
        }
        Doc update, general;
        bool set_first = r() % 2;
        for (int i = 0; i < 2; ++i) {
            bool is_set = (i == 0) == set_first;
            if (is_set && (r() % 5 || bson_empty(unset.get())))
                BSON_APPEND_DOCUMENT(update.get(), "$set", set.get());
            if (!is_set && !bson_empty(unset.get()))
                BSON_APPEND_DOCUMENT(update.get(), "$unset", unset.get());
        }
        if (bson_empty(update.get())) BSON_APPEND_DOCUMENT(update.get(), "$set", set.get());
        // An empty $min changes nothing but is not the direct path's shape: the general path runs.
        bson_concat(general.get(), update.get());
        Doc empty;
        BSON_APPEND_DOCUMENT(general.get(), "$min", empty.get());

        UpdateSpec spec;
        spec.update = update.get();
        auto fast = apply_update(original.get(), spec);
        spec.update = general.get();
        auto slow = apply_update(original.get(), spec);
        ASSERT_EQ(fast.ok(), slow.ok()) << original.json() << " " << update.json();
        if (!fast.ok()) {
            EXPECT_EQ(fast.error().code, slow.error().code);
            continue;
        }
        ++compared;
        const UpdateOutcome& f = fast.value();
        const UpdateOutcome& s = slow.value();
        ASSERT_EQ(bytes_of(f.doc.get()), bytes_of(s.doc.get()))
            << original.json() << " " << update.json();
        EXPECT_EQ(f.modified, s.modified) << original.json() << " " << update.json();
        if (f.modified) ++changed;
        EXPECT_EQ(f.replacement, s.replacement);
        EXPECT_EQ(bytes_of(f.updated_fields.to_doc().get()),
                  bytes_of(s.updated_fields.to_doc().get()))
            << original.json() << " " << update.json();
        EXPECT_EQ(f.removed_fields, s.removed_fields) << original.json() << " " << update.json();
    }
    EXPECT_GT(compared, 2500);
    EXPECT_GT(changed, 1500);
}

TEST(UpdateOps, OtherShapesKeepTheirErrorsAndResults) {
    struct Case {
        const char* doc;
        const char* update;
        int error;  // 0: success with RESULT
        const char* result;
    } cases[] = {
        {R"({"_id": 1, "a": 1})", R"({"$set": {"a": 2, "a": 3}})", 40, nullptr},
        {R"({"_id": 1, "a": 1})", R"({"$set": {"a": 2}, "$unset": {"a": ""}})", 40, nullptr},
        {R"({"_id": 1, "a": 1})", R"({"$set": {"": 2}})", 56, nullptr},
        {R"({"_id": 1, "a": 1})", R"({"$set": {"_id": 2}})", 66, nullptr},
        {R"({"_id": 1, "a": 1})", R"({"$set": {"_id": 1, "b": 2}})", 0,
         R"({"_id": 1, "a": 1, "b": 2})"},
        {R"({"_id": 1, "a": {"b": 1}})", R"({"$set": {"a.b": 2, "c": 3}})", 0,
         R"({"_id": 1, "a": {"b": 2}, "c": 3})"},
        {R"({"a": 1, "_id": 1})", R"({"$set": {"b": 2}})", 0, R"({"_id": 1, "a": 1, "b": 2})"},
        {R"({"_id": 1, "a": 1})", R"({"$set": 5})", 9, nullptr},
        {R"({"_id": 1, "a": 1, "b": 2})", R"({"$unset": {"a": "", "z": ""}, "$set": {"c": 1}})", 0,
         R"({"_id": 1, "b": 2, "c": 1})"},
    };
    for (const auto& c : cases) {
        std::string d = doc_bytes(c.doc), u = doc_bytes(c.update);
        bson_t dv, uv;
        view_of(d, &dv);
        view_of(u, &uv);
        UpdateSpec spec;
        spec.update = &uv;
        auto r = apply_update(&dv, spec);
        if (c.error) {
            ASSERT_FALSE(r.ok()) << c.update;
            EXPECT_EQ(r.error().code, c.error) << c.update;
        } else {
            ASSERT_TRUE(r.ok()) << c.update << ": " << r.error().msg;
            EXPECT_EQ(bytes_of(r.value().doc.get()), doc_bytes(c.result)) << c.update;
        }
    }
}

TEST(UpdateOps, UntouchedFieldsKeepTheirBytes) {
    // A regex whose flags are not in sorted order: re-encoding would sort them.
    Doc original;
    BSON_APPEND_INT32(original.get(), "_id", 1);
    std::string raw = bytes_of(original.get());
    std::string regex_elem =
        std::string("\x0br\0", 3) + std::string("ab\0", 3) + std::string("mi\0", 3);
    raw.insert(raw.size() - 1, regex_elem);
    int32_t len = static_cast<int32_t>(raw.size());
    std::memcpy(raw.data(), &len, 4);
    bson_t dv;
    ASSERT_TRUE(view_of(raw, &dv));
    std::string u = doc_bytes(R"({"$set": {"n": 1}})");
    bson_t uv;
    view_of(u, &uv);
    UpdateSpec spec;
    spec.update = &uv;
    auto r = apply_update(&dv, spec);
    ASSERT_TRUE(r.ok());
    std::string out = bytes_of(r.value().doc.get());
    EXPECT_NE(out.find(regex_elem), std::string::npos);
}

TEST(UpdateOps, UpsertSeedOfAnIdQueryIsTheId) {
    for (const char* q : {R"({"_id": 7})", R"({"_id": "k"})", R"({"_id": {"$numberLong": "9"}})"}) {
        std::string qb = doc_bytes(q);
        bson_t qv;
        view_of(qb, &qv);
        EXPECT_EQ(bytes_of(upsert_seed(&qv).get()), qb) << q;
    }
    std::string qb = doc_bytes(R"({"_id": {"$eq": 3}, "a.b": 1})");
    bson_t qv;
    view_of(qb, &qv);
    EXPECT_EQ(bytes_of(upsert_seed(&qv).get()), doc_bytes(R"({"_id": 3, "a": {"b": 1}})"));
}

}  // namespace
}  // namespace standin
