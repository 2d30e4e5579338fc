// Box operations: ids, put modes, get/get_many/get_all, contains, count, removes, convenience
// forms.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "store/test_model.hpp"

namespace outpost {
namespace {

using test::StoreTest;

class BoxTest : public StoreTest {
  protected:
    Object item(const std::string& name, int64_t n = 0) {
        DynamicBox b = box("Item");
        Object o = b.new_object();
        EXPECT_OK(o.set("name", name));
        EXPECT_OK(o.set("n", n));
        return o;
    }
    std::string name_of(const std::optional<Object>& o) {
        if (!o) return "<none>";
        const Value& v = o->get("name");
        return v.is<std::string>() ? v.as<std::string>() : "<null>";
    }
};

TEST_F(BoxTest, PutAssignsIdsInOrder) {
    DynamicBox b = box("Item");
    ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
    for (uint64_t want = 1; want <= 5; ++want) {
        Object o = item("x" + std::to_string(want));
        ASSERT_OK_AND_ASSIGN(uint64_t id, b.put(txn, o));
        EXPECT_EQ(id, want);
        EXPECT_EQ(o.id, want);
    }
    ASSERT_OK(txn.commit());
    Object next = item("next");
    ASSERT_OK_AND_ASSIGN(uint64_t id, b.put(next));
    EXPECT_EQ(id, 6u);
    ASSERT_OK_AND_ASSIGN(ReadTxn rtxn, store_->begin_read());
    ASSERT_OK_AND_ASSIGN(auto ids, b.ids(rtxn));
    EXPECT_EQ(ids, (std::vector<uint64_t>{1, 2, 3, 4, 5, 6}));
}

TEST_F(BoxTest, SequencesArePerEntity) {
    DynamicBox items = box("Item");
    DynamicBox authors = box("Author");
    Object i = item("i");
    ASSERT_OK(items.put(i));
    Object i2 = item("i2");
    ASSERT_OK(items.put(i2));
    Object a = authors.new_object();
    ASSERT_OK_AND_ASSIGN(uint64_t aid, authors.put(a));
    EXPECT_EQ(aid, 1u);
}

TEST_F(BoxTest, PutWithAnExplicitId) {
    DynamicBox b = box("Item");
    Object o = item("forty-two");
    o.id = 42;
    ASSERT_OK_AND_ASSIGN(uint64_t id, b.put(o));
    EXPECT_EQ(id, 42u);
    ASSERT_OK_AND_ASSIGN(auto got, b.get(42));
    EXPECT_EQ(name_of(got), "forty-two");
    // Automatic ids continue above the explicit one.
    Object next = item("next");
    ASSERT_OK_AND_ASSIGN(uint64_t nid, b.put(next));
    EXPECT_EQ(nid, 43u);
    // An explicit id below the sequence is fine too.
    Object low = item("low");
    low.id = 7;
    ASSERT_OK(b.put(low));
    Object after = item("after");
    ASSERT_OK_AND_ASSIGN(uint64_t aid, b.put(after));
    EXPECT_EQ(aid, 44u);
    ASSERT_OK_AND_ASSIGN(uint64_t n, b.count());
    EXPECT_EQ(n, 4u);
}

TEST_F(BoxTest, PutOverwritesAnExistingObject) {
    DynamicBox b = box("Item");
    Object o = item("first", 1);
    ASSERT_OK(b.put(o));
    ASSERT_OK(o.set("name", "second"));
    ASSERT_OK_AND_ASSIGN(uint64_t id, b.put(o));
    EXPECT_EQ(id, o.id);
    ASSERT_OK_AND_ASSIGN(auto got, b.get(o.id));
    EXPECT_EQ(name_of(got), "second");
    EXPECT_EQ(got->get("n"), Value(1));
    ASSERT_OK_AND_ASSIGN(uint64_t n, b.count());
    EXPECT_EQ(n, 1u);
}

TEST_F(BoxTest, IdsAreNeverReusedAfterRemove) {
    DynamicBox b = box("Item");
    for (int i = 0; i < 3; ++i) {
        Object o = item("x");
        ASSERT_OK(b.put(o));
    }
    ASSERT_OK(b.remove(3));
    ASSERT_OK(b.remove(2));
    Object o = item("y");
    ASSERT_OK_AND_ASSIGN(uint64_t id, b.put(o));
    EXPECT_EQ(id, 4u);
    // After removing everything too.
    ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
    ASSERT_OK(b.remove_all(txn));
    ASSERT_OK(txn.commit());
    Object z = item("z");
    ASSERT_OK_AND_ASSIGN(uint64_t zid, b.put(z));
    EXPECT_EQ(zid, 5u);
}

TEST_F(BoxTest, SequenceSurvivesReopen) {
    {
        DynamicBox b = box("Item");
        for (int i = 0; i < 4; ++i) {
            Object o = item("x");
            ASSERT_OK(b.put(o));
        }
        ASSERT_OK(b.remove(4));
        Object high = item("high");
        high.id = 10;
        ASSERT_OK(b.put(high));
        ASSERT_OK(b.remove(10));
    }
    store_.reset();
    ASSERT_OK_AND_ASSIGN(store_, Store::open(dir_.sub("db"), model_, test::test_options()));
    DynamicBox b = box("Item");
    Object o = item("after reopen");
    ASSERT_OK_AND_ASSIGN(uint64_t id, b.put(o));
    EXPECT_EQ(id, 11u);
}

TEST_F(BoxTest, AbortedPutsDoNotAdvanceTheStoredSequence) {
    DynamicBox b = box("Item");
    {
        ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
        Object o = item("dropped");
        ASSERT_OK_AND_ASSIGN(uint64_t id, b.put(txn, o));
        EXPECT_EQ(id, 1u);
        txn.abort();
    }
    Object o = item("kept");
    ASSERT_OK_AND_ASSIGN(uint64_t id, b.put(o));
    EXPECT_EQ(id, 1u);
}

TEST_F(BoxTest, LargestExplicitIdDoesNotWrapTheSequence) {
    DynamicBox b = box("Item");
    Object top = item("top");
    top.id = std::numeric_limits<uint64_t>::max();
    auto r = b.put(top);
    if (r.is_ok()) {
        // Accepted: then the next automatic id cannot be a valid one, and must not be 0 (a key no
        // get() can reach) or an existing object's id.
        Object next = item("next");
        auto n = b.put(next);
        if (n.is_ok()) {
            EXPECT_NE(*n, 0u) << "an object was written under id 0";
            EXPECT_NE(*n, top.id);
        }
        ASSERT_OK_AND_ASSIGN(auto got, b.get(top.id));
        ASSERT_TRUE(got.has_value());
        EXPECT_EQ(name_of(got), "top");
    }
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, store_->begin_read());
    ASSERT_OK_AND_ASSIGN(auto ids, b.ids(txn));
    for (uint64_t id : ids) EXPECT_NE(id, 0u) << "an object is stored under id 0";
}

TEST_F(BoxTest, InsertModeFailsOnAnExistingObject) {
    DynamicBox b = box("Item");
    Object o = item("original");
    ASSERT_OK_AND_ASSIGN(uint64_t id, b.put(o, PutMode::kInsert));
    EXPECT_EQ(id, 1u);
    Object again = item("intruder");
    again.id = id;
    auto r = b.put(again, PutMode::kInsert);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kPutMode);
    EXPECT_NE(r.status().message().find("Item"), std::string::npos) << r.status().message();
    ASSERT_OK_AND_ASSIGN(auto got, b.get(id));
    EXPECT_EQ(name_of(got), "original");
    // Insert with a fresh explicit id works.
    Object fresh = item("fresh");
    fresh.id = 9;
    ASSERT_OK(b.put(fresh, PutMode::kInsert));
}

TEST_F(BoxTest, UpdateModeFailsOnAMissingObject) {
    DynamicBox b = box("Item");
    Object o = item("ghost");
    o.id = 5;
    EXPECT_CODE(b.put(o, PutMode::kUpdate), ErrorCode::kPutMode);
    Object zero = item("zero");
    EXPECT_CODE(b.put(zero, PutMode::kUpdate), ErrorCode::kPutMode);
    EXPECT_EQ(zero.id, 0u);
    ASSERT_OK_AND_ASSIGN(uint64_t n, b.count());
    EXPECT_EQ(n, 0u);
    ASSERT_OK_AND_ASSIGN(auto got, b.get(5));
    EXPECT_FALSE(got.has_value());

    Object real = item("real");
    ASSERT_OK(b.put(real));
    ASSERT_OK(real.set("name", "updated"));
    ASSERT_OK(b.put(real, PutMode::kUpdate));
    ASSERT_OK_AND_ASSIGN(auto upd, b.get(real.id));
    EXPECT_EQ(name_of(upd), "updated");
}

TEST_F(BoxTest, GetOfMissingIdsIsEmptyNotAnError) {
    DynamicBox b = box("Item");
    ASSERT_OK_AND_ASSIGN(auto none, b.get(1));
    EXPECT_FALSE(none.has_value());
    ASSERT_OK_AND_ASSIGN(auto zero, b.get(0));
    EXPECT_FALSE(zero.has_value());
}

TEST_F(BoxTest, GetManyWithMissingIds) {
    DynamicBox b = box("Item");
    std::vector<Object> objs = {item("a"), item("b"), item("c")};
    ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
    ASSERT_OK(b.put_many(w, objs));
    ASSERT_OK(w.commit());
    EXPECT_EQ(objs[2].id, 3u);
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, store_->begin_read());
    std::vector<uint64_t> ids = {2, 7, 1, 0, 3, 2};
    ASSERT_OK_AND_ASSIGN(auto got, b.get_many(txn, ids));
    ASSERT_EQ(got.size(), ids.size());
    EXPECT_EQ(name_of(got[0]), "b");
    EXPECT_FALSE(got[1].has_value());
    EXPECT_EQ(name_of(got[2]), "a");
    EXPECT_FALSE(got[3].has_value());
    EXPECT_EQ(name_of(got[4]), "c");
    EXPECT_EQ(name_of(got[5]), "b");
    EXPECT_EQ(got[4]->id, 3u);
}

TEST_F(BoxTest, GetAllInIdOrder) {
    DynamicBox b = box("Item");
    for (uint64_t id : {30, 10, 20}) {
        Object o = item("n" + std::to_string(id));
        o.id = id;
        ASSERT_OK(b.put(o));
    }
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, store_->begin_read());
    ASSERT_OK_AND_ASSIGN(auto all, b.get_all(txn));
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].id, 10u);
    EXPECT_EQ(all[1].id, 20u);
    EXPECT_EQ(all[2].id, 30u);
    EXPECT_EQ(all[2].get("name"), Value("n30"));
    DynamicBox empty = box("Author");
    ASSERT_OK_AND_ASSIGN(auto none, empty.get_all(txn));
    EXPECT_TRUE(none.empty());
}

TEST_F(BoxTest, ContainsAndCount) {
    DynamicBox b = box("Item");
    Object o = item("a");
    ASSERT_OK(b.put(o));
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, store_->begin_read());
    ASSERT_OK_AND_ASSIGN(bool yes, b.contains(txn, o.id));
    ASSERT_OK_AND_ASSIGN(bool no, b.contains(txn, o.id + 1));
    ASSERT_OK_AND_ASSIGN(bool zero, b.contains(txn, 0));
    EXPECT_TRUE(yes);
    EXPECT_FALSE(no);
    EXPECT_FALSE(zero);
    ASSERT_OK_AND_ASSIGN(uint64_t n, b.count(txn));
    EXPECT_EQ(n, 1u);
    ASSERT_OK_AND_ASSIGN(uint64_t other, box("Author").count(txn));
    EXPECT_EQ(other, 0u);
}

TEST_F(BoxTest, RemoveRemoveManyRemoveAll) {
    DynamicBox b = box("Item");
    ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
    for (int i = 0; i < 10; ++i) {
        Object o = item("x" + std::to_string(i));
        ASSERT_OK(b.put(txn, o));
    }
    ASSERT_OK_AND_ASSIGN(bool removed, b.remove(txn, 1));
    EXPECT_TRUE(removed);
    ASSERT_OK_AND_ASSIGN(bool missing, b.remove(txn, 1));
    EXPECT_FALSE(missing);
    std::vector<uint64_t> some = {2, 3, 99, 3};
    ASSERT_OK_AND_ASSIGN(uint64_t n, b.remove_many(txn, some));
    EXPECT_EQ(n, 2u);
    ASSERT_OK_AND_ASSIGN(uint64_t left, b.count(txn));
    EXPECT_EQ(left, 7u);
    ASSERT_OK_AND_ASSIGN(bool has3, b.contains(txn, 3));
    EXPECT_FALSE(has3);
    ASSERT_OK_AND_ASSIGN(bool has4, b.contains(txn, 4));
    EXPECT_TRUE(has4);
    ASSERT_OK_AND_ASSIGN(uint64_t all, b.remove_all(txn));
    EXPECT_EQ(all, 7u);
    ASSERT_OK_AND_ASSIGN(uint64_t none, b.count(txn));
    EXPECT_EQ(none, 0u);
    ASSERT_OK_AND_ASSIGN(uint64_t again, b.remove_all(txn));
    EXPECT_EQ(again, 0u);
    ASSERT_OK(txn.commit());
    ASSERT_OK_AND_ASSIGN(uint64_t committed, b.count());
    EXPECT_EQ(committed, 0u);
}

TEST_F(BoxTest, ConvenienceForms) {
    DynamicBox b = box("Item");
    Object o = item("conv", 5);
    ASSERT_OK_AND_ASSIGN(uint64_t id, b.put(o));
    ASSERT_OK_AND_ASSIGN(auto got, b.get(id));
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->get("n"), Value(5));
    ASSERT_OK_AND_ASSIGN(uint64_t n, b.count());
    EXPECT_EQ(n, 1u);
    ASSERT_OK_AND_ASSIGN(bool removed, b.remove(id));
    EXPECT_TRUE(removed);
    ASSERT_OK_AND_ASSIGN(bool again, b.remove(id));
    EXPECT_FALSE(again);
    ASSERT_OK_AND_ASSIGN(uint64_t zero, b.count());
    EXPECT_EQ(zero, 0u);
}

TEST_F(BoxTest, StoreWriteAndReadHelpers) {
    DynamicBox b = box("Item");
    ASSERT_OK(store_->write([&](WriteTxn& txn) -> Status {
        Object o = item("in write");
        return b.put(txn, o).status();
    }));
    // A failing function aborts.
    Status st = store_->write([&](WriteTxn& txn) -> Status {
        Object o = item("dropped");
        OUTPOST_RETURN_IF_ERROR(b.put(txn, o).status());
        return Status(ErrorCode::kInternal, "give up");
    });
    EXPECT_EQ(st.code(), ErrorCode::kInternal);
    uint64_t seen = 0;
    ASSERT_OK(store_->read([&](ReadTxn& txn) -> Status {
        OUTPOST_ASSIGN_OR_RETURN(seen, b.count(txn));
        return Status::ok();
    }));
    EXPECT_EQ(seen, 1u);
}

TEST_F(BoxTest, UnknownEntity) {
    auto r = store_->box("Nothing");
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kUnknownEntity);
    EXPECT_NE(r.status().message().find("Nothing"), std::string::npos);
}

TEST_F(BoxTest, StatsCountObjects) {
    DynamicBox b = box("Item");
    for (int i = 0; i < 3; ++i) {
        Object o = item("x");
        ASSERT_OK(b.put(o));
    }
    ASSERT_OK_AND_ASSIGN(StoreStats stats, store_->stats());
    bool found = false;
    for (const auto& e : stats.entities) {
        if (e.name != "Item") continue;
        found = true;
        EXPECT_EQ(e.count, 3u);
        EXPECT_GT(e.bytes, 0u);
    }
    EXPECT_TRUE(found);
    EXPECT_EQ(stats.entities.size(), model_.entities.size());
    EXPECT_GT(stats.used_bytes, 0u);
}

}  // namespace
}  // namespace outpost
