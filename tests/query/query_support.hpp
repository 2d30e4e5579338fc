#pragma once
// Helpers for the query tests: a temporary store with the query model (tests/common/models.hpp) of
// people and items.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/models.hpp"
#include "common/status_macros.hpp"
#include "common/temp_dir.hpp"
#include "outpost/query.hpp"
#include "outpost/store.hpp"

namespace outpost::qtest {

using ::outpost::test::query_model;
using ::outpost::test::TempDir;

class QueryStoreTest : public ::testing::Test {
  protected:
    void SetUp() override { open(true); }
    void open(bool indexed) {
        store_.reset();
        auto s = Store::open(dir_.sub(indexed ? "indexed" : "plain"), query_model(indexed),
                             StoreOptions{1ull << 30, false, true});
        ASSERT_OK(s);
        store_ = std::move(s).value();
    }
    DynamicBox box(const std::string& name) {
        auto b = store_->box(name);
        EXPECT_OK(b);
        return std::move(b).value();
    }
    uint64_t put(const std::string& entity,
                 const std::vector<std::pair<std::string, Value>>& values) {
        DynamicBox b = box(entity);
        Object o = b.new_object();
        for (const auto& [k, v] : values) {
            Status st = o.set(k, v);
            EXPECT_OK(st);
        }
        auto id = b.put(o);
        EXPECT_OK(id);
        return id.is_ok() ? id.value() : 0;
    }
    // Ids matching WHERE on ENTITY (fails the test on an error).
    std::vector<uint64_t> ids(const std::string& entity, const std::string& where) {
        auto q = QueryBuilder(box(entity)).where(where).build();
        EXPECT_OK(q) << where;
        if (!q.is_ok()) return {};
        auto r = q->find_ids();
        EXPECT_OK(r) << where;
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
