// Crash safety: a child process commits numbered transactions (fsync on, as in production) and is
// killed with SIGKILL at random moments. After each kill the store reopens with every acknowledged
// transaction complete, no transaction partial, indexes that agree with the data, and a change log
// whose records still read as their transactions wrote them (the entries of new objects name the
// stored objects, which later transactions update and remove).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/status_macros.hpp"
#include "store/test_support.hpp"

namespace outpost {
namespace {

using test::TempDir;

constexpr int kKills = 24;
constexpr int kObjectsPerTxn = 60;
constexpr int64_t kChildFailed = -1;
constexpr int64_t kUpdateLag = 3;
constexpr int64_t kRemoveLag = 7;
constexpr int64_t kLogLag =
    8;  // transaction T acknowledges the change log up to record T - kLogLag

std::string payload_of(int64_t txn, int64_t seq, int64_t version) {
    size_t len = 40 + static_cast<size_t>((version * 131 + seq * 17) % 700);
    return std::to_string(txn) + ":" + std::to_string(seq) + ":" + std::to_string(version) + ":" +
           std::string(len, 'x');
}

uint64_t first_id_of(int64_t txn) { return static_cast<uint64_t>(txn - 1) * kObjectsPerTxn + 1; }

// Entry: the objects of each transaction, tagged with its number. Counter (object 1): the number of
// the last committed transaction, updated in that same transaction.
// Transaction T puts kObjectsPerTxn entries (ids (T-1)*N+1 .. T*N, version T), rewrites the entries
// of transaction T-kUpdateLag (version T, new payload) and removes those of T-kRemoveLag, so a
// crash can hit inserts, updates, index moves and removes. Entry is synced: transaction T writes
// change-log record T and trims the log up to T-kLogLag.
Model crash_model() {
    ModelBuilder b;
    b.entity("Entry").sync();
    b.property("id", PropertyType::kInt64, kFlagId);
    b.property("txn", PropertyType::kInt64, kFlagIndexed);
    b.property("seq", PropertyType::kInt32);
    b.property("payload", PropertyType::kString, kFlagIndexHash);
    b.property("version", PropertyType::kInt64, kFlagIndexed);
    b.entity("Counter");
    b.property("id", PropertyType::kInt64, kFlagId);
    b.property("last", PropertyType::kInt64, kFlagIndexed | kFlagUnique);
    b.property("removedBelow", PropertyType::kInt64);
    auto m = b.build();
    EXPECT_OK(m);
    return std::move(m).value();
}

void write_all(int fd, const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) ::_exit(4);
        p += w;
        n -= static_cast<size_t>(w);
    }
}

// The child: commits transactions forever, reporting each committed number on FD. Never returns.
[[noreturn]] void run_child(const std::string& dir, const Model& model, int fd) {
    StoreOptions options;
    options.no_sync = false;
    options.max_size_bytes = 1ull << 30;
    auto store = Store::open(dir, model, options);
    auto fail = [&] {
        write_all(fd, &kChildFailed, sizeof kChildFailed);
        ::_exit(3);
    };
    if (!store.is_ok()) fail();
    auto entries = (*store)->box("Entry");
    auto counters = (*store)->box("Counter");
    if (!entries.is_ok() || !counters.is_ok()) fail();
    int64_t last = 0;
    {
        auto c = counters->get(1);
        if (!c.is_ok()) fail();
        if (c->has_value()) last = (**c).get("last").as<int64_t>();
    }
    for (int64_t t = last + 1;; ++t) {
        auto txn = (*store)->begin_write();
        if (!txn.is_ok()) fail();
        auto put_entry = [&](uint64_t id, int64_t of_txn, int64_t seq, int64_t version) {
            Object e = entries->new_object();
            e.id = id;
            if (!e.set("txn", of_txn).is_ok() || !e.set("seq", seq).is_ok() ||
                !e.set("version", version).is_ok() ||
                !e.set("payload", payload_of(of_txn, seq, version)).is_ok()) {
                fail();
            }
            auto r = entries->put(*txn, e, id == 0 ? PutMode::kInsert : PutMode::kUpdate);
            if (!r.is_ok()) fail();
            return *r;
        };
        for (int i = 0; i < kObjectsPerTxn; ++i) {
            if (put_entry(0, t, i, t) != first_id_of(t) + static_cast<uint64_t>(i)) fail();
        }
        if (t > kUpdateLag) {
            for (int i = 0; i < kObjectsPerTxn; ++i)
                put_entry(first_id_of(t - kUpdateLag) + i, t - kUpdateLag, i, t);
        }
        int64_t removed_below = 0;
        if (t > kRemoveLag) {
            removed_below = t - kRemoveLag;
            std::vector<uint64_t> ids;
            for (int i = 0; i < kObjectsPerTxn; ++i) ids.push_back(first_id_of(removed_below) + i);
            auto n = entries->remove_many(*txn, ids);
            if (!n.is_ok() || *n != static_cast<uint64_t>(kObjectsPerTxn)) fail();
        }
        Object c = counters->new_object();
        c.id = 1;
        if (!c.set("last", t).is_ok() || !c.set("removedBelow", removed_below).is_ok() ||
            !counters->put(*txn, c).is_ok()) {
            fail();
        }
        if (t > kLogLag &&
            !ChangeLog::acknowledge(*txn, static_cast<uint64_t>(t - kLogLag)).is_ok())
            fail();
        if (!txn->commit().is_ok()) fail();
        write_all(fd, &t, sizeof t);
    }
}

// Reads acknowledgements from FD. Returns false on timeout or end of stream before WANT more
// arrive.
class AckReader {
  public:
    explicit AckReader(int fd) : fd_(fd) {}
    // Waits (with a deadline) until WANT more acknowledgements arrived.
    bool wait_for(int want, std::chrono::milliseconds deadline) {
        auto until = std::chrono::steady_clock::now() + deadline;
        int target = received_ + want;
        while (received_ < target) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                until - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            int r = ::poll(&p, 1, static_cast<int>(left.count()));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return false;
            if (!read_some()) return false;
        }
        return true;
    }
    // Reads whatever is left until the writer is gone.
    void drain() {
        while (read_some()) {
        }
    }
    int64_t last() const { return last_; }
    bool child_failed() const { return failed_; }

  private:
    bool read_some() {
        char buf[512];
        ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n < 0 && errno == EINTR) return true;
        if (n <= 0) return false;
        pending_.append(buf, static_cast<size_t>(n));
        while (pending_.size() >= sizeof(int64_t)) {
            int64_t v;
            std::memcpy(&v, pending_.data(), sizeof v);
            pending_.erase(0, sizeof v);
            if (v == kChildFailed) {
                failed_ = true;
            } else {
                last_ = v;
                ++received_;
            }
        }
        return true;
    }
    int fd_;
    std::string pending_;
    int received_ = 0;
    int64_t last_ = 0;
    bool failed_ = false;
};

// The change log after a crash: records COUNTER-kLogLag+1 .. COUNTER (the older ones trimmed), and
// each record T lists the kObjectsPerTxn objects T made with the values T gave them, though
// T+kUpdateLag rewrote them and T+kRemoveLag removed them since.
void verify_log(Txn& txn, const Entity& entry, int64_t counter) {
    auto recs = ChangeLog::read(txn, 0, 1000);
    ASSERT_OK(recs);
    int64_t first = std::max<int64_t>(1, counter - kLogLag + 1);
    ASSERT_EQ(recs->size(), static_cast<size_t>(counter - first + 1));
    auto uid = [&](const char* name) { return entry.property(name)->id.uid; };
    int bad = 0;
    for (const auto& rec : *recs) {
        const auto t = static_cast<int64_t>(rec.position);
        EXPECT_GE(t, first);
        int made = 0;
        for (const auto& c : rec.changes.objects) {
            if (c.entity_uid != entry.id.uid || !c.is_new) continue;
            ++made;
            std::map<uint64_t, Value> values;
            for (const auto& p : c.properties) values[p.property_uid] = p.value;
            int64_t seq = values[uid("seq")].as<int64_t>();
            bool ok = values[uid("txn")] == Value(t) && values[uid("version")] == Value(t) &&
                      values[uid("payload")] == Value(payload_of(t, seq, t));
            if (!ok && ++bad <= 5)
                ADD_FAILURE() << "record " << t << ": new object seq " << seq << " reads wrong";
        }
        EXPECT_EQ(made, kObjectsPerTxn) << "record " << t;
    }
}

// Opens the store after a crash and checks it. Returns the counter's value.
int64_t verify_store(const std::string& dir, const Model& model, int64_t acknowledged, int round) {
    SCOPED_TRACE("after kill " + std::to_string(round));
    auto store = Store::open(dir, model, StoreOptions{});
    EXPECT_OK(store);
    if (!store.is_ok()) return -1;
    auto entries = (*store)->box("Entry");
    auto counters = (*store)->box("Counter");
    EXPECT_TRUE(entries.is_ok() && counters.is_ok());
    if (!entries.is_ok() || !counters.is_ok()) return -1;
    auto txn = (*store)->begin_read();
    EXPECT_OK(txn);
    if (!txn.is_ok()) return -1;

    int64_t counter = 0, removed_below = 0;
    auto c = counters->get(*txn, 1);
    EXPECT_OK(c);
    if (c.is_ok() && c->has_value()) {
        counter = (**c).get("last").as<int64_t>();
        removed_below = (**c).get("removedBelow").as<int64_t>();
    }
    EXPECT_GE(counter, acknowledged) << "a transaction the child saw committed is missing";
    EXPECT_EQ(removed_below, counter > kRemoveLag ? counter - kRemoveLag : 0);

    const auto& props = entries->entity().properties;
    int txn_pos = 0, seq_pos = 0, payload_pos = 0, version_pos = 0;
    for (size_t i = 0; i < props.size(); ++i) {
        if (props[i].name == "txn") txn_pos = static_cast<int>(i);
        if (props[i].name == "seq") seq_pos = static_cast<int>(i);
        if (props[i].name == "payload") payload_pos = static_cast<int>(i);
        if (props[i].name == "version") version_pos = static_cast<int>(i);
    }
    std::map<int64_t, int> per_txn;  // transaction -> entries found
    auto ids = entries->ids(*txn);
    EXPECT_OK(ids);
    if (!ids.is_ok()) return -1;
    int bad = 0;
    for (uint64_t id : *ids) {
        auto r = entries->read(*txn, id);
        EXPECT_TRUE(r.is_ok() && r->has_value());
        if (!r.is_ok() || !r->has_value()) continue;
        const ObjectReader& o = **r;
        int64_t t = o.get_int(txn_pos);
        int64_t seq = o.get_int(seq_pos);
        int64_t version = o.get_int(version_pos);
        ++per_txn[t];
        // Each entry sits at its id, carries the version of the last transaction that wrote it, and
        // the payload that transaction wrote.
        int64_t want_version = t + kUpdateLag <= counter ? t + kUpdateLag : t;
        bool ok = seq >= 0 && seq < kObjectsPerTxn &&
                  id == first_id_of(t) + static_cast<uint64_t>(seq) && version == want_version &&
                  o.get_string(payload_pos) == payload_of(t, seq, version);
        if (!ok && ++bad <= 5) {
            ADD_FAILURE() << "entry " << id << ": txn " << t << " seq " << seq << " version "
                          << version << " (want " << want_version << ")";
        }
    }
    for (const auto& [t, n] : per_txn) {
        EXPECT_EQ(n, kObjectsPerTxn) << "transaction " << t << " is partial";
        EXPECT_LE(t, counter) << "transaction " << t << " is beyond the counter " << counter;
        EXPECT_GT(t, removed_below) << "transaction " << t << " should have been removed";
    }
    for (int64_t t = removed_below + 1; t <= counter; ++t) {
        EXPECT_TRUE(per_txn.count(t))
            << "transaction " << t << " (at or below the counter) is missing";
    }
    EXPECT_EQ(ids->size(), static_cast<size_t>(counter - removed_below) * kObjectsPerTxn);
    EXPECT_EQ(test::check_indexes(*entries, *txn), "");
    EXPECT_EQ(test::check_indexes(*counters, *txn), "");
    verify_log(*txn, entries->entity(), counter);
    return counter;
}

TEST(Crash, CommittedTransactionsSurviveSigkill) {
    TempDir dir;
    const std::string db = dir.sub("db");
    Model model = crash_model();
    std::mt19937 rng(4242);
    int64_t counter = 0;
    int killed_mid_run = 0;
    int unacknowledged_commits = 0;  // rounds where the kill came after a commit but before its ack
    for (int round = 1; round <= kKills; ++round) {
        int fds[2];
        ASSERT_EQ(::pipe(fds), 0) << std::strerror(errno);
        pid_t pid = ::fork();
        ASSERT_GE(pid, 0) << std::strerror(errno);
        if (pid == 0) {
            ::close(fds[0]);
            run_child(db, model, fds[1]);
        }
        ::close(fds[1]);
        AckReader acks(fds[0]);
        int want = 1 + static_cast<int>(rng() % 6);
        bool got = acks.wait_for(want, std::chrono::seconds(20));
        // A random moment after the last acknowledgement: inside the next transaction, its
        // commit or its fsync.
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 4000));
        ::kill(pid, SIGKILL);
        int wstatus = 0;
        ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
        acks.drain();
        ::close(fds[0]);
        ASSERT_FALSE(acks.child_failed()) << "the child reported an error in round " << round;
        ASSERT_TRUE(got) << "the child did not commit " << want << " transactions in time (round "
                         << round << ")";
        ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
            << "the child ended on its own in round " << round << " (status " << wstatus << ")";
        ++killed_mid_run;

        int64_t now = verify_store(db, model, acks.last(), round);
        ASSERT_GE(now, counter) << "the counter went back";
        if (now > acks.last()) ++unacknowledged_commits;
        ASSERT_FALSE(::testing::Test::HasFailure()) << "stopping after round " << round;
        counter = now;
    }
    EXPECT_EQ(killed_mid_run, kKills);
    std::printf("%d kills, %lld transactions committed, %d kills after an unacknowledged commit\n",
                killed_mid_run, static_cast<long long>(counter), unacknowledged_commits);
    EXPECT_GT(counter, kKills);
}

}  // namespace
}  // namespace outpost
