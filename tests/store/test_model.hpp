#pragma once
// The model the store tests share, and a fixture that opens it in a fresh directory.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/models.hpp"
#include "common/status_macros.hpp"
#include "outpost/store.hpp"
#include "store/test_support.hpp"

namespace outpost::test {

inline StoreOptions test_options() {
    StoreOptions o;
    o.no_sync = true;
    o.max_size_bytes = 1ull << 30;
    return o;
}

// Opens store_model() in a fresh directory; the store closes before the directory goes.
class StoreTest : public ::testing::Test {
  protected:
    void SetUp() override {
        model_ = store_model();
        auto s = Store::open(dir_.sub("db"), model_, test_options());
        ASSERT_OK(s);
        store_ = std::move(s).value();
    }
    void TearDown() override { store_.reset(); }

    DynamicBox box(std::string_view entity) {
        auto b = store_->box(entity);
        EXPECT_OK(b);
        return std::move(b).value();
    }

    TempDir dir_;
    Model model_;
    std::shared_ptr<Store> store_;
};

}  // namespace outpost::test
