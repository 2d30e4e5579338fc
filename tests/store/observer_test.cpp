// Observers: called once per committed write with the entities and ids put and removed; never for
// aborted or failed writes.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "store/test_model.hpp"

namespace outpost {
namespace {

using test::StoreTest;
using Ids = std::vector<uint64_t>;

class ObserverTest : public StoreTest {
  protected:
    void SetUp() override {
        StoreTest::SetUp();
        items_.emplace(box("Item"));
        people_.emplace(box("Person"));
        handle_ = store_->add_observer([this](const Changes& c) { seen_.push_back(c); });
    }
    void TearDown() override {
        store_->remove_observer(handle_);
        items_.reset();
        people_.reset();
        StoreTest::TearDown();
    }
    uint32_t eid(const std::string& name) { return model_.entity(name)->id.id; }
    const EntityChanges* changes_of(const Changes& c, const std::string& entity) {
        for (const auto& e : c.entities) {
            if (e.entity_id == eid(entity)) return &e;
        }
        return nullptr;
    }
    Object item(const std::string& name) {
        Object o = items_->new_object();
        EXPECT_OK(o.set("name", name));
        return o;
    }

    std::optional<DynamicBox> items_, people_;
    std::vector<Changes> seen_;
    uint64_t handle_ = 0;
};

TEST_F(ObserverTest, CalledAfterCommitWithPutAndRemovedIds) {
    ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
    for (int i = 0; i < 4; ++i) {
        Object o = item("i" + std::to_string(i));
        ASSERT_OK(items_->put(w, o));
    }
    Object again = item("again");
    again.id = 2;
    ASSERT_OK(items_->put(w, again));  // the same id twice is reported once
    EXPECT_TRUE(seen_.empty());        // nothing before commit
    ASSERT_OK(w.commit());
    ASSERT_EQ(seen_.size(), 1u);
    ASSERT_EQ(seen_[0].entities.size(), 1u);
    EXPECT_EQ(seen_[0].entities[0].entity_id, eid("Item"));
    EXPECT_EQ(seen_[0].entities[0].put_ids, (Ids{1, 2, 3, 4}));
    EXPECT_TRUE(seen_[0].entities[0].removed_ids.empty());
    EXPECT_TRUE(seen_[0].origin.empty());

    ASSERT_OK_AND_ASSIGN(WriteTxn w2, store_->begin_write());
    ASSERT_OK(items_->remove(w2, 3));
    ASSERT_OK(items_->remove(w2, 1));
    ASSERT_OK(items_->remove(w2, 77));  // not there: not reported
    Object upd = item("updated");
    upd.id = 4;
    ASSERT_OK(items_->put(w2, upd));
    ASSERT_OK(w2.commit());
    ASSERT_EQ(seen_.size(), 2u);
    const EntityChanges* c = changes_of(seen_[1], "Item");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->put_ids, (Ids{4}));
    EXPECT_EQ(c->removed_ids, (Ids{1, 3}));
}

TEST_F(ObserverTest, SeesTheCommittedState) {
    uint64_t count_in_callback = 0;
    uint64_t h = store_->add_observer([&](const Changes&) {
        auto n = items_->count();
        count_in_callback = n.is_ok() ? *n : 999;
    });
    Object o = item("x");
    ASSERT_OK(items_->put(o));
    store_->remove_observer(h);
    EXPECT_EQ(count_in_callback, 1u);
}

TEST_F(ObserverTest, SeveralEntitiesInOneTransaction) {
    ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
    Object o = item("x");
    ASSERT_OK(items_->put(w, o));
    Object p = people_->new_object();
    ASSERT_OK(p.set("name", "p"));
    ASSERT_OK(people_->put(w, p));
    ASSERT_OK(w.commit());
    ASSERT_EQ(seen_.size(), 1u);
    EXPECT_EQ(seen_[0].entities.size(), 2u);
    ASSERT_NE(changes_of(seen_[0], "Item"), nullptr);
    ASSERT_NE(changes_of(seen_[0], "Person"), nullptr);
    EXPECT_EQ(changes_of(seen_[0], "Person")->put_ids, (Ids{p.id}));
}

TEST_F(ObserverTest, NotCalledOnAbort) {
    {
        ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
        Object o = item("x");
        ASSERT_OK(items_->put(w, o));
        w.abort();
    }
    {
        ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
        Object o = item("y");
        ASSERT_OK(items_->put(w, o));
    }  // destructor aborts
    EXPECT_CODE(store_->write([&](WriteTxn& txn) -> Status {
        Object o = item("z");
        OUTPOST_RETURN_IF_ERROR(items_->put(txn, o).status());
        return Status(ErrorCode::kInternal, "no");
    }),
                ErrorCode::kInternal);
    EXPECT_TRUE(seen_.empty());
}

TEST_F(ObserverTest, NotCalledForReadsOrEmptyWrites) {
    ASSERT_OK_AND_ASSIGN(ReadTxn r, store_->begin_read());
    ASSERT_OK(items_->count(r));
    r.close();
    ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
    ASSERT_OK(items_->remove(w, 5));
    ASSERT_OK(w.commit());
    EXPECT_TRUE(seen_.empty());
}

TEST_F(ObserverTest, FailedPutsAreNotReported) {
    Object holder = people_->new_object();
    ASSERT_OK(holder.set("name", "taken"));
    ASSERT_OK(people_->put(holder));
    seen_.clear();
    ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
    Object ok = item("ok");
    ASSERT_OK(items_->put(w, ok));
    Object dup = people_->new_object();
    ASSERT_OK(dup.set("name", "taken"));
    EXPECT_CODE(people_->put(w, dup), ErrorCode::kUniqueViolation);
    Object missing = item("missing");
    missing.id = 50;
    EXPECT_CODE(items_->put(w, missing, PutMode::kUpdate), ErrorCode::kPutMode);
    ASSERT_OK(w.commit());
    ASSERT_EQ(seen_.size(), 1u);
    ASSERT_EQ(seen_[0].entities.size(), 1u);
    EXPECT_EQ(seen_[0].entities[0].entity_id, eid("Item"));
    EXPECT_EQ(seen_[0].entities[0].put_ids, (Ids{ok.id}));
}

TEST_F(ObserverTest, ReplacedObjectIsReportedRemoved) {
    Object a = people_->new_object();
    ASSERT_OK(a.set("code", 9));
    ASSERT_OK(people_->put(a));
    Object b = people_->new_object();
    ASSERT_OK(b.set("code", 9));
    ASSERT_OK(people_->put(b));
    ASSERT_EQ(seen_.size(), 2u);
    const EntityChanges* c = changes_of(seen_[1], "Person");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->put_ids, (Ids{b.id}));
    EXPECT_EQ(c->removed_ids, (Ids{a.id}));
}

TEST_F(ObserverTest, OriginIsPassedOn) {
    ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
    w.set_origin("sync");
    Object o = item("remote");
    ASSERT_OK(items_->put(w, o));
    ASSERT_OK(w.commit());
    ASSERT_EQ(seen_.size(), 1u);
    EXPECT_EQ(seen_[0].origin, "sync");
}

TEST_F(ObserverTest, RemovedObserverIsNotCalled) {
    int calls = 0;
    uint64_t h = store_->add_observer([&](const Changes&) { ++calls; });
    Object o = item("one");
    ASSERT_OK(items_->put(o));
    store_->remove_observer(h);
    Object o2 = item("two");
    ASSERT_OK(items_->put(o2));
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(seen_.size(), 2u);
}

TEST_F(ObserverTest, RunsOnTheCommittingThreadAndMayWrite) {
    std::thread::id where;
    bool wrote = false;
    Status inner;
    uint64_t h = store_->add_observer([&](const Changes&) {
        where = std::this_thread::get_id();
        if (wrote) return;
        wrote = true;
        inner = store_->write([&](WriteTxn& txn) {
            Object o = item("from observer");
            return items_->put(txn, o).status();
        });
    });
    std::thread t([&] {
        Object o = item("from thread");
        EXPECT_OK(items_->put(o));
    });
    std::thread::id writer = t.get_id();
    t.join();
    store_->remove_observer(h);
    EXPECT_EQ(where, writer);
    EXPECT_OK(inner);
    ASSERT_OK_AND_ASSIGN(uint64_t n, items_->count());
    EXPECT_EQ(n, 2u);
}

}  // namespace
}  // namespace outpost
