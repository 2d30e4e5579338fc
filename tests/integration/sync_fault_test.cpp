// Sync under faults: kill -9 of the server during a push storm, kill -9 of a client process in the
// middle of applying, and the client's listeners and states across a server kill and restart.
#include <gtest/gtest.h>

#include "common/status_macros.hpp"
#include "integration/sync_it_support.hpp"
#include "sync/protocol.hpp"

namespace outpost::it {
namespace {

// Commits transactions of kItemsPerTxn Items into a store until stopped; Items are numbered from
// BASE, so every object is identifiable by its number. It keeps at most kMaxQueue transactions
// unacknowledged (a storm the server can keep up with), except for the extra transactions granted
// by allow_extra() (writes while the server is down).
class Writer {
  public:
    static constexpr int64_t kItemsPerTxn = 5;
    static constexpr uint64_t kMaxQueue = 64;

    Writer(std::shared_ptr<Store> store, std::string name, int64_t base)
        : store_(std::move(store)), name_(std::move(name)), base_(base) {
        thread_ = std::thread([this] { run(); });
    }
    ~Writer() { stop(); }

    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    void allow_extra(int64_t n) { extra_ += n; }
    int64_t extra_left() const { return extra_; }
    int64_t transactions() const { return txns_; }
    int64_t items() const { return txns_ * kItemsPerTxn; }
    int64_t base() const { return base_; }
    const Status& status() const { return status_; }

  private:
    uint64_t queue_length() {
        auto txn = store_->begin_read();
        if (!txn) return 0;
        auto n = ChangeLog::size(*txn);
        return n.is_ok() ? *n : 0;
    }

    void run() {
        auto box = store_->box("Item").value();
        while (!stop_) {
            if (queue_length() >= kMaxQueue) {
                if (extra_ <= 0) {
                    std::this_thread::sleep_for(1ms);  // back-pressure, not a wait for a condition
                    continue;
                }
                --extra_;
            }
            Status st = store_->write([&](WriteTxn& txn) {
                for (int64_t i = 0; i < kItemsPerTxn; ++i) {
                    Object o = box.new_object();
                    OUTPOST_RETURN_IF_ERROR(o.set("writer", name_));
                    OUTPOST_RETURN_IF_ERROR(o.set("n", base_ + txns_ * kItemsPerTxn + i));
                    OUTPOST_RETURN_IF_ERROR(o.set("payload", std::string(64, 'w')));
                    OUTPOST_RETURN_IF_ERROR(box.put(txn, o).status());
                }
                return Status::ok();
            });
            if (!st) {
                status_ = st;
                return;
            }
            ++txns_;
        }
    }

    std::shared_ptr<Store> store_;
    std::string name_;
    int64_t base_;
    std::atomic<bool> stop_{false};
    std::atomic<int64_t> txns_{0};
    std::atomic<int64_t> extra_{0};
    Status status_;
    std::thread thread_;
};

std::vector<int64_t> expected_numbers(const std::vector<const Writer*>& writers) {
    std::vector<int64_t> out;
    for (const Writer* w : writers) {
        for (int64_t i = 0; i < w->items(); ++i) out.push_back(w->base() + i);
    }
    std::sort(out.begin(), out.end());
    return out;
}

uint64_t items_from(Store& store, int64_t base, int64_t below) {
    uint64_t n = 0;
    for (int64_t x : item_numbers(store)) n += x >= base && x < below;
    return n;
}

TEST_F(SyncIt, ServerKilledDuringPushStormLosesAndRepeatsNothing) {
    constexpr int64_t kBaseA = 0;
    constexpr int64_t kBaseB = 1'000'000'000;
    auto server = make_server();
    ASSERT_TRUE(server->start());
    auto a = make_peer("a", *server);
    auto b = make_peer("b", *server);
    auto c = make_peer("c", *server);
    ASSERT_TRUE(a->wait_synced());
    ASSERT_TRUE(b->wait_synced());
    ASSERT_TRUE(c->wait_synced());
    const uint16_t port = server->port();

    Writer wa(a->store, "a", kBaseA);
    Writer wb(b->store, "b", kBaseB);
    uint64_t seen = 0;
    for (int kill = 0; kill < 3; ++kill) {
        SCOPED_TRACE("kill " + std::to_string(kill));
        // The storm reaches C, then the server dies in the middle of it.
        seen += 1000;
        ASSERT_TRUE(
            eventually([&] { return count(*c->store, "Item") >= seen; }, "the storm flows"));
        int64_t acked_a =
            wa.transactions() - static_cast<int64_t>(a->client->outgoing_queue_length());
        if (kill < 2) {
            server->kill9();
        } else {
            // The last stop is a clean one (SIGTERM), in the middle of the storm as well.
            ASSERT_EQ(server->stop(), 0) << server->log();
        }
        // The writers go on offline for a while.
        int64_t at_kill = wa.transactions() + wb.transactions();
        wa.allow_extra(30);
        wb.allow_extra(30);
        ASSERT_TRUE(
            eventually([&] { return wa.transactions() + wb.transactions() >= at_kill + 60; },
                       "offline writes"));
        ASSERT_TRUE(server->start()) << server->log();
        ASSERT_EQ(server->port(), port);
        // Every transaction acknowledged before the kill survived it.
        ASSERT_TRUE(eventually(
            [&] {
                return items_from(*c->store, kBaseA, kBaseB) >=
                       static_cast<uint64_t>(acked_a * Writer::kItemsPerTxn);
            },
            "A's acknowledged transactions reach C after the restart"));
        seen = count(*c->store, "Item");
    }
    wa.stop();
    wb.stop();
    ASSERT_TRUE(wa.status()) << wa.status().to_string();
    ASSERT_TRUE(wb.status()) << wb.status().to_string();
    ASSERT_TRUE(a->wait_synced(120s));
    ASSERT_TRUE(b->wait_synced(120s));
    const auto want = expected_numbers({&wa, &wb});
    ASSERT_TRUE(
        eventually([&] { return count(*c->store, "Item") >= want.size(); }, "C has everything"));
    ASSERT_TRUE(c->wait_synced());
    for (Peer* p : {a.get(), b.get(), c.get()}) {
        EXPECT_EQ(item_numbers(*p->store), want) << "every transaction on every client, none twice";
    }

    RecordProperty("transactions_a", std::to_string(wa.transactions()));
    RecordProperty("transactions_b", std::to_string(wb.transactions()));
    std::string a_hex = client_hex(*a->store);
    std::string b_hex = client_hex(*b->store);
    a->stop_client();
    b->stop_client();
    c->stop_client();
    ASSERT_EQ(server->stop(), 0) << server->log();
    auto s = open_server_store(*server);
    EXPECT_EQ(item_numbers(*s), want);
    auto origins = history_entries_by_origin(*s);
    EXPECT_EQ(origins[a_hex], static_cast<uint64_t>(wa.items()))
        << "each of A's transactions is applied exactly once";
    EXPECT_EQ(origins[b_hex], static_cast<uint64_t>(wb.items()));
}

// `outpost sync` as a separate process, so it can be killed with SIGKILL.
std::vector<std::string> cli_sync(const std::string& db, const std::string& model_file,
                                  const std::string& url, const std::string& mode) {
    std::vector<std::string> argv = {OUTPOST_CLI_BIN, "sync",     "--db",  db,
                                     "--model",       model_file, "--url", url,
                                     "--secret",      kSecret,    mode};
    if (mode == "--until-synced") {
        argv.push_back("--timeout");
        argv.push_back("120");
    }
    return argv;
}

TEST_F(SyncIt, ClientKilledMidApplyConvergesWithoutDuplicates) {
    constexpr int64_t kSeeded = 20'000;
    auto server = make_server();
    std::vector<Gid> seeded;
    {
        auto s = open_store(server->data_dir(), model_);
        put_items(*s, "seed", 0, kSeeded, 5'000);
        seeded = all_gids(*s, "Item");
    }
    ASSERT_TRUE(server->start());
    const std::string db = dir_.sub("killed-client");

    // 1. Killed during the full sync. `--watch` prints every incoming object; nobody reads its
    // output, so it blocks once the pipe is full: the kill hits a client in the middle of it.
    {
        Process watch;
        ASSERT_TRUE(watch.spawn(cli_sync(db, model_file_, server->url(), "--watch"),
                                dir_.sub("watch1.log")));
        auto line = watch.read_line(kDeadline);
        ASSERT_TRUE(line.has_value()) << watch.stderr_text();
        ASSERT_EQ(line->rfind("{\"op\":\"put\"", 0), 0u) << *line;
        watch.kill_now();
    }
    {
        auto s = open_store(db, model_);
        uint64_t n = count(*s, "Item");
        EXPECT_GT(n, 0u);
        EXPECT_LT(n, static_cast<uint64_t>(kSeeded)) << "killed before the full sync ended";
        EXPECT_EQ(n % 1000, 0u) << "full-sync chunks apply whole";
        auto txn = s->begin_read();
        auto seq = get_meta(*txn, "sync.server_seq");
        ASSERT_OK(seq);
        EXPECT_FALSE(seq->has_value()) << "the position is stored with the last chunk only";
    }
    {
        auto r = run_program(cli_sync(db, model_file_, server->url(), "--until-synced"),
                             dir_.sub("until1.log"), 180s);
        ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    {
        auto s = open_store(db, model_);
        EXPECT_EQ(item_numbers(*s), [&] {
            std::vector<int64_t> v;
            for (int64_t i = 0; i < kSeeded; ++i) v.push_back(i);
            return v;
        }());
        auto got = all_gids(*s, "Item");
        std::sort(got.begin(), got.end());
        std::sort(seeded.begin(), seeded.end());
        EXPECT_TRUE(got == seeded);
    }

    // 2. Killed while applying live changes (Applies), then restarted: it resumes from its stored
    // position without applying anything twice or missing anything.
    auto a = make_peer("a", *server);
    ASSERT_TRUE(a->wait_synced(120s));
    {
        Process watch;
        ASSERT_TRUE(watch.spawn(cli_sync(db, model_file_, server->url(), "--watch"),
                                dir_.sub("watch2.log")));
        // Logged in and caught up before A writes (stderr says so).
        ASSERT_TRUE(eventually(
            [&] { return watch.stderr_text().find("sync: up to date") != std::string::npos; },
            "the watcher is up to date"));
        put_items(*a->store, "a", kSeeded, 5'000, 50);
        auto line = watch.read_line(kDeadline);
        ASSERT_TRUE(line.has_value()) << watch.stderr_text();
        ASSERT_EQ(line->rfind("{\"op\":\"put\"", 0), 0u) << *line;
        watch.kill_now();
    }
    ASSERT_TRUE(a->wait_synced(120s));
    {
        auto s = open_store(db, model_);
        uint64_t n = count(*s, "Item");
        EXPECT_LT(n, static_cast<uint64_t>(kSeeded + 5'000)) << "killed before all arrived";
        EXPECT_EQ(n % 50, 0u) << "each server transaction applies whole";
    }
    {
        auto r = run_program(cli_sync(db, model_file_, server->url(), "--until-synced"),
                             dir_.sub("until2.log"), 180s);
        ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    auto s = open_store(db, model_);
    std::vector<int64_t> want;
    for (int64_t i = 0; i < kSeeded + 5'000; ++i) want.push_back(i);
    EXPECT_EQ(item_numbers(*s), want);
    EXPECT_EQ(count(*s, "Item"), static_cast<uint64_t>(kSeeded + 5'000));
}

// The client process dies while it pushes: its local transactions reach the server exactly once,
// whatever the kill interrupted (a push in flight, an Ack not yet stored).
TEST_F(SyncIt, ClientKilledMidPushSendsEachTransactionOnce) {
    constexpr int64_t kTxns = 600;
    constexpr int64_t kPerTxn = 5;
    auto server = make_server();
    ASSERT_TRUE(server->start());
    const std::string db = dir_.sub("pusher");
    {
        auto s = open_store(db, model_);
        put_items(*s, "pusher", 0, kTxns * kPerTxn, kPerTxn);
    }
    auto c = make_peer("c", *server);
    ASSERT_TRUE(c->wait_synced());
    for (uint64_t kill_at : {500u, 1200u, 2000u}) {
        Process pusher;
        ASSERT_TRUE(pusher.spawn(cli_sync(db, model_file_, server->url(), "--watch"),
                                 dir_.sub("pusher.log")));
        ASSERT_TRUE(eventually([&] { return count(*c->store, "Item") >= kill_at; }, "pushes flow"));
        pusher.kill_now();
    }
    {
        auto r = run_program(cli_sync(db, model_file_, server->url(), "--until-synced"),
                             dir_.sub("until.log"), 180s);
        ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    ASSERT_TRUE(
        eventually([&] { return count(*c->store, "Item") >= kTxns * kPerTxn; }, "C has all"));
    ASSERT_TRUE(c->wait_synced());
    std::vector<int64_t> want;
    for (int64_t i = 0; i < kTxns * kPerTxn; ++i) want.push_back(i);
    EXPECT_EQ(item_numbers(*c->store), want);
    std::string hex;
    {
        auto s = open_store(db, model_);
        hex = client_hex(*s);
        auto txn = s->begin_read();
        EXPECT_EQ(ChangeLog::size(*txn).value(), 0u) << "everything acknowledged";
    }
    c->stop_client();
    ASSERT_EQ(server->stop(), 0);
    EXPECT_EQ(history_entries_by_origin(*open_server_store(*server))[hex],
              static_cast<uint64_t>(kTxns * kPerTxn))
        << "each object of each client transaction once in the history";
}

// `outpost sync --until-synced` says why it fails.
TEST_F(SyncIt, CliUntilSyncedReportsRejectedCredentials) {
    auto server = make_server();
    ASSERT_TRUE(server->start());
    auto argv = cli_sync(dir_.sub("cli"), model_file_, server->url(), "--until-synced");
    *std::find(argv.begin(), argv.end(), std::string(kSecret)) = "wrong";
    auto r = run_program(argv, dir_.sub("cli.log"), kDeadline);
    ASSERT_TRUE(r.exit_code.has_value());
    EXPECT_NE(*r.exit_code, 0);
    EXPECT_NE(r.err.find("credentials rejected"), std::string::npos) << r.err;
}

// The server dies in the middle of a new client's full sync: after the restart the client starts
// the full sync over and ends with exactly the server's objects.
TEST_F(SyncIt, ServerKilledMidFullSyncClientStartsOver) {
    constexpr int64_t kObjects = 50'000;
    auto server = make_server();
    {
        auto s = open_store(server->data_dir(), model_);
        put_items(*s, "seed", 0, kObjects, 10'000);
    }
    ASSERT_TRUE(server->start());
    auto c = make_peer("c", *server);
    ASSERT_TRUE(
        eventually([&] { return count(*c->store, "Item") > 0; }, "the full sync starts", 120s));
    server->kill9();
    uint64_t at_kill = count(*c->store, "Item");
    ASSERT_TRUE(server->start()) << server->log();
    ASSERT_TRUE(c->wait_synced(120s));
    std::vector<int64_t> want;
    for (int64_t i = 0; i < kObjects; ++i) want.push_back(i);
    EXPECT_EQ(item_numbers(*c->store), want);
    RecordProperty("objects_at_kill", std::to_string(at_kill));
}

// `outpost sync --watch` prints each incoming change as one JSON line, and SIGTERM ends it cleanly.
TEST_F(SyncIt, CliWatchPrintsIncomingChangesAndStopsOnSigterm) {
    auto server = make_server();
    ASSERT_TRUE(server->start());
    auto a = make_peer("a", *server);
    ASSERT_TRUE(a->wait_synced());
    Process watch;
    ASSERT_TRUE(watch.spawn(cli_sync(dir_.sub("watcher"), model_file_, server->url(), "--watch"),
                            dir_.sub("watch.log")));
    ASSERT_TRUE(eventually(
        [&] { return watch.stderr_text().find("sync: up to date") != std::string::npos; },
        "the watcher is up to date"));
    uint64_t id = put(*a->store, "Person", {{"name", "Ada \"quoted\""}, {"age", 36}});
    auto put_line = watch.read_line(kDeadline);
    ASSERT_TRUE(put_line.has_value()) << watch.stderr_text();
    EXPECT_EQ(put_line->rfind("{\"op\":\"put\",\"entity\":\"Person\",\"id\":", 0), 0u) << *put_line;
    EXPECT_NE(put_line->find("\"name\":\"Ada \\\"quoted\\\"\""), std::string::npos) << *put_line;
    EXPECT_NE(put_line->find("\"age\":36"), std::string::npos) << *put_line;
    ASSERT_OK(a->box("Person").remove(id));
    auto remove_line = watch.read_line(kDeadline);
    ASSERT_TRUE(remove_line.has_value()) << watch.stderr_text();
    EXPECT_EQ(remove_line->rfind("{\"op\":\"remove\",\"entity\":\"Person\",\"id\":", 0), 0u)
        << *remove_line;
    watch.signal(SIGTERM);
    EXPECT_EQ(watch.wait(kDeadline), 0) << watch.stderr_text();
}

// --- The client's listeners and states ---------------------------------------------------------

TEST_F(SyncIt, ClientStatesThroughServerKillAndRestartWithBackoff) {
    auto server = make_server();
    ASSERT_TRUE(server->start());
    auto p = make_peer("p", *server, /*start=*/false);
    EXPECT_EQ(p->client->state(), SyncState::kCreated);
    p->client->start();
    ASSERT_TRUE(p->wait_synced());
    EXPECT_EQ(p->client->state(), SyncState::kLoggedIn);
    // The listeners run after waiters are woken.
    EXPECT_TRUE(eventually([&] { return p->up_to_date_events >= 1; }, "the up-to-date listener"));
    EXPECT_EQ(p->state_list(), (std::vector<SyncState>{SyncState::kStarted, SyncState::kConnected,
                                                       SyncState::kLoggedIn}));

    server->kill9();
    ASSERT_TRUE(
        eventually([&] { return p->client->state() == SyncState::kDisconnected; }, "disconnected"));
    // The lost connection and two refused attempts: 0.5 s, then 1 s apart.
    ASSERT_TRUE(eventually([&] { return p->error_count() >= 3; }, "two reconnect attempts"));
    {
        std::lock_guard lock(p->mu);
        EXPECT_GE(p->errors[1].at - p->errors[0].at, 450ms);
        EXPECT_GE(p->errors[2].at - p->errors[1].at, 950ms);
        for (const auto& e : p->errors) EXPECT_EQ(e.code, ErrorCode::kIo) << e.why;
    }
    // Written while the server is down: goes out after the reconnect.
    uint64_t offline = put(*p->store, "Person", {{"name", "written offline"}});
    Gid g = *gid(*p->store, "Person", offline);
    EXPECT_FALSE(p->client->up_to_date());
    EXPECT_EQ(p->client->outgoing_queue_length(), 1u);

    ASSERT_TRUE(server->start()) << server->log();
    ASSERT_TRUE(p->wait_synced());
    EXPECT_EQ(p->client->outgoing_queue_length(), 0u);
    EXPECT_TRUE(eventually([&] { return p->up_to_date_events >= 2; }, "the up-to-date listener"));
    EXPECT_EQ(p->state_list(),
              (std::vector<SyncState>{SyncState::kStarted, SyncState::kConnected,
                                      SyncState::kLoggedIn, SyncState::kDisconnected,
                                      SyncState::kConnected, SyncState::kLoggedIn}));
    auto q = make_peer("q", *server);
    ASSERT_TRUE(q->wait_synced());
    EXPECT_TRUE(find(*q->store, "Person", g).has_value());

    p->client->stop();
    EXPECT_EQ(p->client->state(), SyncState::kStopped);
    EXPECT_EQ(p->state_list().back(), SyncState::kStopped);
    {
        std::lock_guard lock(p->mu);
        EXPECT_TRUE(p->login_failures.empty());
    }
}

TEST_F(SyncIt, NewCredentialsAfterARejectedLoginLogInWithoutRestart) {
    auto server = make_server();
    ASSERT_TRUE(server->start());
    auto p = make_peer("p", *server, /*start=*/true, "expired token");
    Status st = p->client->wait_until_up_to_date(kDeadline);
    ASSERT_EQ(st.code(), ErrorCode::kAuthCredentialsRejected) << st.to_string();
    ASSERT_TRUE(eventually([&] { return login_failures(*p) >= 1; }, "the login failure listener"));
    {
        std::lock_guard lock(p->mu);
        EXPECT_EQ(p->login_failures[0].code, ErrorCode::kAuthCredentialsRejected);
    }
    EXPECT_NE(p->client->state(), SyncState::kLoggedIn);
    uint64_t id = put(*p->store, "Person", {{"name", "queued while rejected"}});
    Gid g = *gid(*p->store, "Person", id);

    p->client->set_credentials(kSecret);
    // The same client (no restart) logs in with the new credentials on its next attempt; the wait
    // is for that login, not the failure before it.
    ASSERT_TRUE(p->wait_synced());
    EXPECT_EQ(p->client->state(), SyncState::kLoggedIn);
    EXPECT_EQ(p->client->outgoing_queue_length(), 0u);
    auto q = make_peer("q", *server);
    ASSERT_TRUE(q->wait_synced());
    EXPECT_TRUE(find(*q->store, "Person", g).has_value());
}

}  // namespace
}  // namespace outpost::it
