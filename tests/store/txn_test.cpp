// Transactions and store handles: move-only txns, misuse errors instead of deadlocks, writers that
// wait for each other, abort, snapshots, opening a directory twice, read-only stores.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>
#include <type_traits>

#include "common/status_macros.hpp"
#include "store/test_model.hpp"

namespace outpost {
namespace {

using test::StoreTest;
using test::TempDir;

static_assert(!std::is_copy_constructible_v<ReadTxn>);
static_assert(!std::is_copy_assignable_v<ReadTxn>);
static_assert(!std::is_copy_constructible_v<WriteTxn>);
static_assert(!std::is_copy_assignable_v<WriteTxn>);
static_assert(std::is_nothrow_move_constructible_v<WriteTxn>);
static_assert(std::is_nothrow_move_assignable_v<WriteTxn>);
static_assert(std::is_nothrow_move_constructible_v<ReadTxn>);

class TxnTest : public StoreTest {
  protected:
    void SetUp() override {
        StoreTest::SetUp();
        items_.emplace(box("Item"));
    }
    void TearDown() override {
        items_.reset();
        StoreTest::TearDown();
    }
    Status put_item(WriteTxn& txn, const std::string& name) {
        Object o = items_->new_object();
        OUTPOST_RETURN_IF_ERROR(o.set("name", name));
        return items_->put(txn, o).status();
    }
    uint64_t count() {
        auto n = items_->count();
        EXPECT_OK(n);
        return n.is_ok() ? *n : 0;
    }
    std::optional<DynamicBox> items_;
};

TEST_F(TxnTest, MovedTransactionKeepsWorking) {
    ASSERT_OK_AND_ASSIGN(WriteTxn a, store_->begin_write());
    EXPECT_TRUE(a.is_open());
    EXPECT_TRUE(a.is_write());
    WriteTxn b = std::move(a);
    EXPECT_FALSE(a.is_open());  // NOLINT(bugprone-use-after-move): checking the moved-from state
    EXPECT_CODE(a.check_usable(), ErrorCode::kTxnMisuse);
    EXPECT_CODE(a.commit(), ErrorCode::kTxnMisuse);
    ASSERT_OK(put_item(b, "x"));
    EXPECT_CODE(put_item(a, "y"), ErrorCode::kTxnMisuse);
    ASSERT_OK(b.commit());
    EXPECT_FALSE(b.is_open());
    EXPECT_EQ(count(), 1u);

    ASSERT_OK_AND_ASSIGN(ReadTxn r, store_->begin_read());
    EXPECT_FALSE(r.is_write());
    ReadTxn r2(std::move(r));
    EXPECT_FALSE(r.is_open());  // NOLINT(bugprone-use-after-move)
    ASSERT_OK_AND_ASSIGN(uint64_t n, items_->count(r2));
    EXPECT_EQ(n, 1u);
    EXPECT_CODE(items_->count(r), ErrorCode::kTxnMisuse);
}

TEST_F(TxnTest, UsingAFinishedTransactionIsMisuse) {
    ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
    ASSERT_OK(put_item(w, "x"));
    ASSERT_OK(w.commit());
    EXPECT_CODE(put_item(w, "again"), ErrorCode::kTxnMisuse);
    EXPECT_CODE(w.commit(), ErrorCode::kTxnMisuse);
    ASSERT_OK_AND_ASSIGN(ReadTxn r, store_->begin_read());
    r.close();
    EXPECT_CODE(items_->get(r, 1), ErrorCode::kTxnMisuse);
    EXPECT_EQ(count(), 1u);
}

TEST_F(TxnTest, NestedWriteOnOneThreadIsMisuseNotADeadlock) {
    ASSERT_OK_AND_ASSIGN(WriteTxn outer, store_->begin_write());
    auto inner = store_->begin_write();
    ASSERT_FALSE(inner.is_ok());
    EXPECT_EQ(inner.status().code(), ErrorCode::kTxnMisuse) << inner.status().to_string();
    // Store::write and the convenience forms nest the same way.
    EXPECT_CODE(store_->write([](WriteTxn&) { return Status::ok(); }), ErrorCode::kTxnMisuse);
    Object o = items_->new_object();
    EXPECT_CODE(items_->put(o), ErrorCode::kTxnMisuse);
    // The outer transaction is unaffected.
    ASSERT_OK(put_item(outer, "outer"));
    ASSERT_OK(outer.commit());
    ASSERT_OK_AND_ASSIGN(WriteTxn next, store_->begin_write());
    next.abort();
    { ASSERT_OK_AND_ASSIGN(WriteTxn dropped, store_->begin_write()); }
    ASSERT_OK_AND_ASSIGN(WriteTxn after_destructor, store_->begin_write());
    ASSERT_OK(after_destructor.commit());
    EXPECT_EQ(count(), 1u);
}

TEST_F(TxnTest, ReadInsideAWriteOnOneThreadWorks) {
    ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
    ASSERT_OK(put_item(w, "x"));
    ASSERT_OK_AND_ASSIGN(ReadTxn r, store_->begin_read());
    ASSERT_OK_AND_ASSIGN(uint64_t n, items_->count(r));
    EXPECT_EQ(n, 0u);  // the write is not committed
    r.close();
    ASSERT_OK(w.commit());
}

TEST_F(TxnTest, WritesOnTwoStoresOnOneThreadAreIndependent) {
    TempDir other_dir;
    ASSERT_OK_AND_ASSIGN(auto other,
                         Store::open(other_dir.sub("db"), model_, test::test_options()));
    ASSERT_OK_AND_ASSIGN(WriteTxn a, store_->begin_write());
    ASSERT_OK_AND_ASSIGN(WriteTxn b, other->begin_write());
    ASSERT_OK(b.commit());
    ASSERT_OK(a.commit());
}

TEST_F(TxnTest, TransactionUsedFromAnotherThreadIsMisuse) {
    ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
    ASSERT_OK(put_item(w, "mine"));
    ASSERT_OK_AND_ASSIGN(ReadTxn r, store_->begin_read());
    Status put_there, get_there, commit_there, usable_there;
    std::thread t([&] {
        put_there = put_item(w, "theirs");
        get_there = items_->get(r, 1).status();
        commit_there = w.commit();
        usable_there = r.check_usable();
    });
    t.join();
    EXPECT_EQ(put_there.code(), ErrorCode::kTxnMisuse) << put_there.to_string();
    EXPECT_EQ(get_there.code(), ErrorCode::kTxnMisuse) << get_there.to_string();
    EXPECT_EQ(commit_there.code(), ErrorCode::kTxnMisuse) << commit_there.to_string();
    EXPECT_EQ(usable_there.code(), ErrorCode::kTxnMisuse) << usable_there.to_string();
    // Still usable by its own thread, and nothing of the other thread's attempt is in it.
    EXPECT_TRUE(w.is_open());
    ASSERT_OK_AND_ASSIGN(uint64_t n, items_->count(w));
    EXPECT_EQ(n, 1u);
    ASSERT_OK(w.commit());
    EXPECT_EQ(count(), 1u);
}

// Runs SCENARIO in a forked child with its own store and reports what it wrote to the pipe, or
// "timeout" when the child does not finish in time (a deadlock). The child never returns.
std::string run_in_child(
    const std::function<std::string(const std::shared_ptr<Store>&)>& scenario) {
    TempDir dir;
    int fds[2];
    if (::pipe(fds) != 0) return "pipe failed";
    pid_t pid = ::fork();
    if (pid < 0) return "fork failed";
    if (pid == 0) {
        ::close(fds[0]);
        std::string out;
        auto store = Store::open(dir.sub("db"), test::store_model(), test::test_options());
        out = store.is_ok() ? scenario(*store) : "open: " + store.status().to_string();
        ssize_t ignored = ::write(fds[1], out.data(), out.size());
        (void)ignored;
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string out;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    bool timed_out = false;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            until - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) {
            timed_out = true;
            break;
        }
        char buf[256];
        ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    if (timed_out) ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ::close(fds[0]);
    return timed_out ? "timeout" : out;
}

TEST(TxnThreads, WriteTxnEndedOnAnotherThreadDoesNotDeadlockTheStore) {
    std::string result = run_in_child([](const std::shared_ptr<Store>& store) -> std::string {
        auto w = store->begin_write();
        if (!w.is_ok()) return "begin: " + w.status().to_string();
        std::thread t([txn = std::move(*w)]() mutable { txn.abort(); });
        t.join();
        // Another thread must be able to write afterwards (or get an error), not block forever.
        std::string other;
        std::thread t2([&] {
            Status st = store->write([](WriteTxn&) { return Status::ok(); });
            other = st.is_ok() ? "ok" : std::string(error_code_name(st.code()));
        });
        t2.join();
        return "other thread: " + other;
    });
    ASSERT_NE(result, "timeout")
        << "a write transaction ended on a foreign thread left the write lock held";
    EXPECT_EQ(result.rfind("other thread: ", 0), 0u) << result;
}

TEST_F(TxnTest, WriterOnAnotherThreadWaitsThenProceeds) {
    ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
    ASSERT_OK(put_item(w, "first"));

    std::mutex mu;
    std::condition_variable cv;
    bool started = false;
    Status begin_status, put_status, commit_status;
    uint64_t seen_before_put = 0;
    std::thread t([&] {
        {
            std::lock_guard<std::mutex> lock(mu);
            started = true;
        }
        cv.notify_all();
        auto tw = store_->begin_write();  // waits for the main thread's commit
        begin_status = tw.status();
        if (!tw.is_ok()) return;
        auto n = items_->count(*tw);
        seen_before_put = n.is_ok() ? *n : 999;
        put_status = put_item(*tw, "from thread");
        commit_status = tw->commit();
    });
    {
        std::unique_lock<std::mutex> lock(mu);
        ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return started; }));
    }
    ASSERT_OK(put_item(w, "second"));
    ASSERT_OK(w.commit());
    t.join();
    ASSERT_OK(begin_status);
    ASSERT_OK(put_status);
    ASSERT_OK(commit_status);
    // The other writer began after the commit: it saw both objects, and its object came third.
    EXPECT_EQ(seen_before_put, 2u);
    ASSERT_OK_AND_ASSIGN(auto third, items_->get(3));
    ASSERT_TRUE(third.has_value());
    EXPECT_EQ(third->get("name"), Value("from thread"));
}

TEST_F(TxnTest, ManyThreadsWriteInTurn) {
    constexpr int kThreads = 4, kPuts = 50;
    std::vector<std::thread> threads;
    std::vector<Status> results(kThreads);
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&, i] {
            for (int j = 0; j < kPuts; ++j) {
                Status st = store_->write(
                    [&](WriteTxn& txn) { return put_item(txn, "t" + std::to_string(i)); });
                if (!st.is_ok()) {
                    results[i] = st;
                    return;
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    for (const auto& st : results) EXPECT_OK(st);
    EXPECT_EQ(count(), static_cast<uint64_t>(kThreads * kPuts));
    ASSERT_OK_AND_ASSIGN(ReadTxn r, store_->begin_read());
    ASSERT_OK_AND_ASSIGN(auto ids, items_->ids(r));
    ASSERT_EQ(ids.size(), static_cast<size_t>(kThreads * kPuts));
    EXPECT_EQ(ids.front(), 1u);
    EXPECT_EQ(ids.back(), static_cast<uint64_t>(kThreads * kPuts));
}

TEST_F(TxnTest, AbortDropsChanges) {
    ASSERT_OK_AND_ASSIGN(WriteTxn keep, store_->begin_write());
    ASSERT_OK(put_item(keep, "kept"));
    ASSERT_OK(keep.commit());
    {
        ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
        ASSERT_OK(put_item(w, "dropped"));
        ASSERT_OK(items_->remove(w, 1));
        ASSERT_OK_AND_ASSIGN(uint64_t inside, items_->count(w));
        EXPECT_EQ(inside, 1u);
        w.abort();
        EXPECT_FALSE(w.is_open());
        EXPECT_CODE(w.commit(), ErrorCode::kTxnMisuse);
    }
    {
        ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
        ASSERT_OK(put_item(w, "dropped by destructor"));
    }
    EXPECT_EQ(count(), 1u);
    ASSERT_OK_AND_ASSIGN(auto kept, items_->get(1));
    ASSERT_TRUE(kept.has_value());
    EXPECT_EQ(kept->get("name"), Value("kept"));
}

TEST_F(TxnTest, ReadTransactionSeesASnapshot) {
    ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
    ASSERT_OK(put_item(w, "one"));
    ASSERT_OK(w.commit());
    ASSERT_OK_AND_ASSIGN(ReadTxn snapshot, store_->begin_read());
    ASSERT_OK_AND_ASSIGN(WriteTxn w2, store_->begin_write());
    ASSERT_OK(put_item(w2, "two"));
    Object changed = items_->new_object();
    changed.id = 1;
    ASSERT_OK(changed.set("name", "changed"));
    ASSERT_OK(items_->put(w2, changed));
    ASSERT_OK(w2.commit());

    ASSERT_OK_AND_ASSIGN(uint64_t old_count, items_->count(snapshot));
    EXPECT_EQ(old_count, 1u);
    ASSERT_OK_AND_ASSIGN(auto old_one, items_->get(snapshot, 1));
    EXPECT_EQ(old_one->get("name"), Value("one"));
    ASSERT_OK_AND_ASSIGN(bool has2, items_->contains(snapshot, 2));
    EXPECT_FALSE(has2);
    snapshot.close();
    EXPECT_EQ(count(), 2u);
    ASSERT_OK_AND_ASSIGN(auto new_one, items_->get(1));
    EXPECT_EQ(new_one->get("name"), Value("changed"));
}

TEST_F(TxnTest, ConcurrentReadersNeverSeeAPartialTransaction) {
    // A writer commits transactions of 10 items plus a counter (Author 1's name); readers on other
    // threads check, in each snapshot, that the item count is exactly 10 times the counter.
    DynamicBox authors = box("Author");
    constexpr int kTxns = 150, kPerTxn = 10, kReaders = 3;
    std::atomic<bool> done{false};
    std::vector<std::string> problems(kReaders);
    std::vector<int> snapshots(kReaders, 0);
    std::vector<std::thread> readers;
    for (int r = 0; r < kReaders; ++r) {
        readers.emplace_back([&, r] {
            do {  // at least one snapshot, even if the writer is already done
                auto txn = store_->begin_read();
                if (!txn.is_ok()) {
                    problems[r] = txn.status().to_string();
                    return;
                }
                auto counter = authors.get(*txn, 1);
                auto n = items_->count(*txn);
                if (!counter.is_ok() || !n.is_ok()) {
                    problems[r] = "read failed";
                    return;
                }
                int64_t c = 0;
                if (counter->has_value()) c = std::stoll((*counter)->get("name").as<std::string>());
                if (*n != static_cast<uint64_t>(c * kPerTxn)) {
                    problems[r] =
                        "saw " + std::to_string(*n) + " items with counter " + std::to_string(c);
                    return;
                }
                ++snapshots[r];
            } while (!done.load());
        });
    }
    Status writer;
    for (int t = 1; t <= kTxns && writer.is_ok(); ++t) {
        writer = store_->write([&](WriteTxn& txn) -> Status {
            for (int i = 0; i < kPerTxn; ++i) OUTPOST_RETURN_IF_ERROR(put_item(txn, "x"));
            Object c = authors.new_object();
            c.id = 1;
            OUTPOST_RETURN_IF_ERROR(c.set("name", std::to_string(t)));
            return authors.put(txn, c).status();
        });
    }
    done = true;
    for (auto& t : readers) t.join();
    ASSERT_OK(writer);
    for (int r = 0; r < kReaders; ++r) {
        EXPECT_EQ(problems[r], "") << "reader " << r << " after " << snapshots[r] << " snapshots";
    }
    EXPECT_EQ(count(), static_cast<uint64_t>(kTxns * kPerTxn));
}

TEST_F(TxnTest, ReadersOnOtherThreadsSeeCommittedData) {
    ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
    ASSERT_OK(put_item(w, "x"));
    ASSERT_OK(w.commit());
    std::vector<std::thread> readers;
    std::vector<uint64_t> counts(4, 0);
    for (size_t i = 0; i < counts.size(); ++i) {
        readers.emplace_back([&, i] {
            auto n = items_->count();
            counts[i] = n.is_ok() ? *n : 999;
        });
    }
    for (auto& t : readers) t.join();
    for (uint64_t c : counts) EXPECT_EQ(c, 1u);
}

// ---- opening stores ----

TEST(StoreOpen, SameDirectoryTwiceGivesTheSameStore) {
    TempDir dir;
    Model m = test::store_model();
    ASSERT_OK_AND_ASSIGN(auto a, Store::open(dir.sub("db"), m, test::test_options()));
    ASSERT_OK_AND_ASSIGN(auto b, Store::open(dir.sub("db"), m, test::test_options()));
    EXPECT_EQ(a.get(), b.get());
    ASSERT_OK_AND_ASSIGN(auto c, Store::open(dir.path() + "/./db/", m, test::test_options()));
    EXPECT_EQ(a.get(), c.get());
    ASSERT_OK_AND_ASSIGN(auto d, Store::open_existing(dir.sub("db"), test::test_options()));
    EXPECT_EQ(a.get(), d.get());
}

TEST(StoreOpen, ThreadsOpeningTogetherShareOneStore) {
    TempDir dir;
    Model m = test::store_model();
    constexpr int kThreads = 6;
    std::vector<std::shared_ptr<Store>> stores(kThreads);
    std::vector<Status> errors(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&, i] {
            auto s = Store::open(dir.sub("db"), m, test::test_options());
            if (s.is_ok()) {
                stores[i] = *s;
            } else {
                errors[i] = s.status();
            }
        });
    }
    for (auto& t : threads) t.join();
    for (int i = 0; i < kThreads; ++i) {
        ASSERT_OK(errors[i]);
        EXPECT_EQ(stores[i].get(), stores[0].get());
    }
}

TEST(StoreOpen, PathThatIsAFileIsAnError) {
    TempDir dir;
    std::string file = dir.sub("plain-file");
    { std::ofstream(file) << "not a store"; }
    auto r = Store::open(file, test::store_model(), test::test_options());
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kIo) << r.status().to_string();
    EXPECT_NE(r.status().message().find(file), std::string::npos) << r.status().message();
}

TEST(StoreOpen, OpenTransactionKeepsTheEnvironmentShared) {
    // LMDB must not have one file open twice in a process (its locks would break). A transaction
    // outlives the last Store handle, so reopening must reuse that environment or refuse clearly.
    TempDir dir;
    Model m = test::store_model();
    ASSERT_OK_AND_ASSIGN(auto first, Store::open(dir.sub("db"), m, test::test_options()));
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, first->begin_read());
    detail::StoreImpl* env_of_txn = detail::Access::state(txn)->store.get();
    first.reset();
    auto again = Store::open(dir.sub("db"), m, test::test_options());
    if (!again.is_ok()) {
        EXPECT_EQ(again.status().code(), ErrorCode::kStoreInUse) << again.status().to_string();
        return;
    }
    EXPECT_EQ(detail::Access::impl(**again), env_of_txn)
        << "a second LMDB environment was opened on the same directory";
}

TEST(StoreOpen, SameDirectoryWithAnotherModelIsInUse) {
    TempDir dir;
    Model m = test::store_model();
    ASSERT_OK_AND_ASSIGN(auto a, Store::open(dir.sub("db"), m, test::test_options()));
    ModelBuilder b;
    b.entity("Other").property("id", PropertyType::kInt64, kFlagId);
    ASSERT_OK_AND_ASSIGN(Model other, b.build());
    auto r = Store::open(dir.sub("db"), other, test::test_options());
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kStoreInUse) << r.status().to_string();
    EXPECT_NE(r.status().message().find(dir.sub("db")), std::string::npos) << r.status().message();
    // The open store is unaffected.
    ASSERT_OK_AND_ASSIGN(DynamicBox items, a->box("Item"));
    Object o = items.new_object();
    ASSERT_OK(items.put(o));
}

TEST(StoreOpen, ClosedWhenTheLastHandleGoes) {
    TempDir dir;
    Model m = test::store_model();
    {
        ASSERT_OK_AND_ASSIGN(auto a, Store::open(dir.sub("db"), m, test::test_options()));
        ASSERT_OK_AND_ASSIGN(DynamicBox items, a->box("Item"));
        Object o = items.new_object();
        ASSERT_OK(items.put(o));
    }
    // Closed: opening with an evolved model works now.
    Model v2 = m;
    Entity& item = v2.entities.back();
    Property p;
    p.name = "extra";
    p.type = PropertyType::kBool;
    p.id = {item.last_property_id.id + 1, 424242};
    item.last_property_id = p.id;
    item.properties.push_back(p);
    ASSERT_OK_AND_ASSIGN(auto b, Store::open(dir.sub("db"), v2, test::test_options()));
    ASSERT_OK_AND_ASSIGN(DynamicBox items, b->box("Item"));
    ASSERT_OK_AND_ASSIGN(uint64_t n, items.count());
    EXPECT_EQ(n, 1u);
}

TEST(StoreOpen, ReadOnlyRejectsWrites) {
    TempDir dir;
    Model m = test::store_model();
    {
        ASSERT_OK_AND_ASSIGN(auto s, Store::open(dir.sub("db"), m, test::test_options()));
        ASSERT_OK_AND_ASSIGN(DynamicBox items, s->box("Item"));
        Object o = items.new_object();
        ASSERT_OK(o.set("name", "before"));
        ASSERT_OK(items.put(o));
    }
    StoreOptions ro = test::test_options();
    ro.read_only = true;
    ASSERT_OK_AND_ASSIGN(auto s, Store::open(dir.sub("db"), m, ro));
    auto w = s->begin_write();
    ASSERT_FALSE(w.is_ok());
    EXPECT_EQ(w.status().code(), ErrorCode::kReadOnly) << w.status().to_string();
    ASSERT_OK_AND_ASSIGN(DynamicBox items, s->box("Item"));
    Object o = items.new_object();
    EXPECT_CODE(items.put(o), ErrorCode::kReadOnly);
    EXPECT_CODE(items.remove(1), ErrorCode::kReadOnly);
    EXPECT_CODE(s->write([](WriteTxn&) { return Status::ok(); }), ErrorCode::kReadOnly);
    ASSERT_OK_AND_ASSIGN(auto got, items.get(1));
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->get("name"), Value("before"));
    ASSERT_OK_AND_ASSIGN(auto ro_existing, Store::open_existing(dir.sub("db"), ro));
    EXPECT_EQ(ro_existing.get(), s.get());
}

TEST(StoreOpen, ReadOnlyOpenOfAStoreOpenForWritingStaysReadOnly) {
    TempDir dir;
    Model m = test::store_model();
    ASSERT_OK_AND_ASSIGN(auto writable, Store::open(dir.sub("db"), m, test::test_options()));
    StoreOptions ro = test::test_options();
    ro.read_only = true;
    auto r = Store::open(dir.sub("db"), m, ro);
    if (!r.is_ok()) {
        // A clear refusal is fine.
        EXPECT_EQ(r.status().code(), ErrorCode::kStoreInUse) << r.status().to_string();
        return;
    }
    // A handle the caller asked to be read-only must not write.
    EXPECT_CODE((*r)->begin_write(), ErrorCode::kReadOnly);
}

TEST(StoreOpen, WritableOpenOfAStoreOpenReadOnlyCanWriteOrIsRefused) {
    TempDir dir;
    Model m = test::store_model();
    { ASSERT_OK(Store::open(dir.sub("db"), m, test::test_options())); }
    StoreOptions ro = test::test_options();
    ro.read_only = true;
    ASSERT_OK_AND_ASSIGN(auto read_only, Store::open(dir.sub("db"), m, ro));
    auto r = Store::open(dir.sub("db"), m, test::test_options());
    if (!r.is_ok()) {
        EXPECT_EQ(r.status().code(), ErrorCode::kStoreInUse) << r.status().to_string();
        return;
    }
    auto w = (*r)->begin_write();
    EXPECT_OK(w) << "asked for a writable store, got one that refuses writes";
}

TEST(StoreOpen, ReadOnlyOfAMissingStoreFails) {
    TempDir dir;
    StoreOptions ro = test::test_options();
    ro.read_only = true;
    auto r = Store::open(dir.sub("nothing-here"), test::store_model(), ro);
    EXPECT_FALSE(r.is_ok());
    EXPECT_FALSE(std::filesystem::exists(dir.sub("nothing-here")));
}

TEST(StoreOpen, TooManyReadersIsAnErrorUntilOneCloses) {
    TempDir dir;
    StoreOptions o = test::test_options();
    o.max_readers = 2;
    ASSERT_OK_AND_ASSIGN(auto s, Store::open(dir.sub("db"), test::store_model(), o));
    ASSERT_OK_AND_ASSIGN(ReadTxn a, s->begin_read());
    ASSERT_OK_AND_ASSIGN(ReadTxn b, s->begin_read());
    auto c = s->begin_read();
    ASSERT_FALSE(c.is_ok());
    EXPECT_EQ(c.status().code(), ErrorCode::kStorage) << c.status().to_string();
    EXPECT_NE(c.status().cause(), 0);
    a.close();
    ASSERT_OK_AND_ASSIGN(ReadTxn d, s->begin_read());
    EXPECT_TRUE(d.is_open());
}

TEST(StoreOpen, StoreFullIsReported) {
    TempDir dir;
    StoreOptions small = test::test_options();
    small.max_size_bytes = 1 << 20;
    ASSERT_OK_AND_ASSIGN(auto s, Store::open(dir.sub("db"), test::store_model(), small));
    ASSERT_OK_AND_ASSIGN(DynamicBox items, s->box("Item"));
    Object o = items.new_object();
    ASSERT_OK(o.set("name", std::string(2 << 20, 'x')));
    EXPECT_CODE(items.put(o), ErrorCode::kStorageFull);
    // The store stays usable for what fits.
    ASSERT_OK(o.set("name", "small"));
    o.id = 0;
    ASSERT_OK(items.put(o));
}

}  // namespace
}  // namespace outpost
