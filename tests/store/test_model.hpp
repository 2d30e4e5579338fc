#pragma once
// The model the store tests share, and a fixture that opens it in a fresh directory.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "outpost/store.hpp"
#include "store/test_support.hpp"

namespace outpost::test {

// AllTypes: one property of every type. Unsigned: the unsigned flag on every integer width.
// Person: every kind of index and unique. Author/Book: to-one and to-many. Node: self relations.
// Item: a plain entity for box operations.
inline Model store_test_model() {
    using T = PropertyType;
    ModelBuilder b;
    b.entity("AllTypes");
    b.property("id", T::kInt64, kFlagId);
    b.property("b", T::kBool).property("i8", T::kInt8).property("i16", T::kInt16);
    b.property("i32", T::kInt32).property("i64", T::kInt64).property("f", T::kFloat);
    b.property("d", T::kDouble).property("s", T::kString).property("dt", T::kDate);
    b.property("dn", T::kDateNano).property("by", T::kBytes).property("fx", T::kFlex);
    b.relation_property("rel", "AllTypes");
    b.property("vi8", T::kInt8Vector).property("vi16", T::kInt16Vector);
    b.property("vi32", T::kInt32Vector).property("vi64", T::kInt64Vector);
    b.property("vf", T::kFloatVector).property("vd", T::kDoubleVector);
    b.property("vs", T::kStringVector).property("vdt", T::kDateVector);

    b.entity("Unsigned");
    b.property("id", T::kInt64, kFlagId);
    b.property("u8", T::kInt8, kFlagUnsigned).property("u16", T::kInt16, kFlagUnsigned);
    b.property("u32", T::kInt32, kFlagUnsigned).property("u64", T::kInt64, kFlagUnsigned);
    b.property("vu8", T::kInt8Vector, kFlagUnsigned).property("vu16", T::kInt16Vector, kFlagUnsigned);
    b.property("vu32", T::kInt32Vector, kFlagUnsigned);

    b.entity("Person");
    b.property("id", T::kInt64, kFlagId);
    b.property("name", T::kString, kFlagIndexed | kFlagUnique);
    b.property("email", T::kString, kFlagIndexHash | kFlagUnique);
    b.property("nick", T::kString, kFlagIndexed);
    b.property("code", T::kInt32, kFlagIndexed | kFlagUnique | kFlagUniqueReplace);
    b.property("age", T::kInt64, kFlagIndexed);
    b.property("score", T::kDouble, kFlagIndexed);
    b.property("active", T::kBool, kFlagIndexed);

    b.entity("Author");
    b.property("id", T::kInt64, kFlagId);
    b.property("name", T::kString);
    b.entity("Book");
    b.property("id", T::kInt64, kFlagId);
    b.property("title", T::kString);
    b.relation_property("author", "Author");
    b.to_many("readers", "Author");

    b.entity("Node");
    b.property("id", T::kInt64, kFlagId);
    b.property("name", T::kString);
    b.relation_property("parent", "Node");
    b.to_many("children", "Node");

    b.entity("Item");
    b.property("id", T::kInt64, kFlagId);
    b.property("name", T::kString);
    b.property("n", T::kInt64);
    auto m = b.build();
    EXPECT_TRUE(m.is_ok()) << m.status().to_string();
    return m.is_ok() ? std::move(m).value() : Model{};
}

inline StoreOptions test_options() {
    StoreOptions o;
    o.no_sync = true;
    o.max_size_bytes = 1ull << 30;
    return o;
}

// Opens store_test_model() in a fresh directory; the store closes before the directory goes.
class StoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        model_ = store_test_model();
        auto s = Store::open(dir_.sub("db"), model_, test_options());
        ASSERT_TRUE(s.is_ok()) << s.status().to_string();
        store_ = std::move(s).value();
    }
    void TearDown() override { store_.reset(); }

    DynamicBox box(std::string_view entity) {
        auto b = store_->box(entity);
        EXPECT_TRUE(b.is_ok()) << b.status().to_string();
        return std::move(b).value();
    }

    TempDir dir_;
    Model model_;
    std::shared_ptr<Store> store_;
};

}  // namespace outpost::test
