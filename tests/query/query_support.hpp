#pragma once
// Helpers for the query tests: a temporary store with a small model of people and items, and
// status assertions.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "outpost/query.hpp"
#include "outpost/store.hpp"

#define QT_ASSERT_OK(expr)                                           \
    do {                                                             \
        ::outpost::Status qt_st_ = (expr);                           \
        ASSERT_TRUE(qt_st_.is_ok()) << #expr << ": " << qt_st_.to_string(); \
    } while (0)
#define QT_EXPECT_OK(expr)                                           \
    do {                                                             \
        ::outpost::Status qt_st_ = (expr);                           \
        EXPECT_TRUE(qt_st_.is_ok()) << #expr << ": " << qt_st_.to_string(); \
    } while (0)
#define QT_CONCAT_INNER(a, b) a##b
#define QT_CONCAT(a, b) QT_CONCAT_INNER(a, b)
#define QT_ASSERT_OK_AND_ASSIGN(lhs, expr) \
    QT_ASSERT_OK_AND_ASSIGN_IMPL(QT_CONCAT(qt_r_, __LINE__), lhs, expr)
#define QT_ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)                             \
    auto tmp = (expr);                                                           \
    ASSERT_TRUE(tmp.is_ok()) << #expr << ": " << tmp.status().to_string();      \
    lhs = std::move(tmp).value()

namespace outpost::qtest {

class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "outpost-query-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string sub(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// Person (name, age, email) and Item (a property of every comparable type, a to-one owner, a to-many
// "likes" to Person). With INDEXED, Item.i, Item.d, Item.s, Item.b, Item.t get value indexes and Item.h
// a hash index, Person.name a value index.
inline Model query_model(bool indexed) {
    uint32_t idx = indexed ? uint32_t{kFlagIndexed} : 0u;
    uint32_t hash = indexed ? uint32_t{kFlagIndexHash} : 0u;
    ModelBuilder b;
    b.entity("Person")
        .property("id", PropertyType::kInt64, kFlagId)
        .property("name", PropertyType::kString, idx)
        .property("age", PropertyType::kInt32)
        .property("email", PropertyType::kString);
    b.entity("Item")
        .property("id", PropertyType::kInt64, kFlagId)
        .property("i", PropertyType::kInt64, idx)
        .property("d", PropertyType::kDouble, idx)
        .property("s", PropertyType::kString, idx)
        .property("h", PropertyType::kString, hash)
        .property("b", PropertyType::kBool, idx)
        .property("t", PropertyType::kInt32, idx)
        .property("f", PropertyType::kFloat)
        .property("u", PropertyType::kInt64, kFlagUnsigned | idx)
        .property("date", PropertyType::kDate)
        .property("raw", PropertyType::kBytes)
        .property("tags", PropertyType::kStringVector)
        .property("nums", PropertyType::kInt64Vector)
        .property("ds", PropertyType::kDoubleVector)
        .property("extra", PropertyType::kFlex)
        .relation_property("owner", "Person")
        .to_many("likes", "Person");
    auto m = b.build();
    EXPECT_TRUE(m.is_ok()) << m.status().to_string();
    return m.value();
}

class QueryStoreTest : public ::testing::Test {
protected:
    void SetUp() override { open(true); }
    void open(bool indexed) {
        store_.reset();
        auto s = Store::open(dir_.sub(indexed ? "indexed" : "plain"), query_model(indexed), StoreOptions{1ull << 30, false, true});
        ASSERT_TRUE(s.is_ok()) << s.status().to_string();
        store_ = std::move(s).value();
    }
    DynamicBox box(const std::string& name) {
        auto b = store_->box(name);
        EXPECT_TRUE(b.is_ok());
        return std::move(b).value();
    }
    uint64_t put(const std::string& entity, const std::vector<std::pair<std::string, Value>>& values) {
        DynamicBox b = box(entity);
        Object o = b.new_object();
        for (const auto& [k, v] : values) {
            Status st = o.set(k, v);
            EXPECT_TRUE(st.is_ok()) << st.to_string();
        }
        auto id = b.put(o);
        EXPECT_TRUE(id.is_ok()) << id.status().to_string();
        return id.is_ok() ? id.value() : 0;
    }
    // Ids matching WHERE on ENTITY (fails the test on an error).
    std::vector<uint64_t> ids(const std::string& entity, const std::string& where) {
        auto q = QueryBuilder(box(entity)).where(where).build();
        EXPECT_TRUE(q.is_ok()) << where << ": " << q.status().to_string();
        if (!q.is_ok()) return {};
        auto r = q->find_ids();
        EXPECT_TRUE(r.is_ok()) << where << ": " << r.status().to_string();
        return r.is_ok() ? r.value() : std::vector<uint64_t>{};
    }
    Result<Query> build(const std::string& entity, const std::string& where) {
        return QueryBuilder(box(entity)).where(where).build();
    }

    TempDir dir_;
    std::shared_ptr<Store> store_;
};

using Ids = std::vector<uint64_t>;

}  // namespace outpost::qtest
