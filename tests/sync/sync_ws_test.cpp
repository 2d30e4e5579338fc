// SyncServer and SyncClient over real WebSocket connections on 127.0.0.1 (random ports).
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>

#include "common/status_macros.hpp"
#include "net/net_test_util.hpp"
#include "outpost/sync_client.hpp"
#include "sync/sync_harness.hpp"
#include "sync/sync_server.hpp"

namespace outpost::sync {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<SyncClient> make_client(std::shared_ptr<Store> store, const std::string& url) {
    SyncClientOptions o;
    o.urls = {url};
    o.credentials = "s3cret";
    auto c = SyncClient::create(std::move(store), std::move(o));
    EXPECT_OK(c);
    return std::move(c).value();
}

// A's pipelined pushes queue up at the server while it commits; grouped into shared commits they
// still arrive once each, in order, at the server and at B.
TEST(SyncOverWebSocket, PipelinedPushesArriveOnceAtServerAndReader) {
    testing::TempDir dir;
    Model m = testing::sync_model();
    auto server_store = testing::open_store(dir.sub("server"), m);
    SyncServerOptions so;
    so.core.shared_secret = "s3cret";
    so.net.urls = {"ws://127.0.0.1:0"};
    auto server = SyncServer::create(server_store, so);
    ASSERT_OK(server);
    ASSERT_OK((*server)->start());
    const std::string url = (*server)->bound_urls().front();

    auto a_store = testing::open_store(dir.sub("a"), m);
    auto b_store = testing::open_store(dir.sub("b"), m);
    constexpr int kTxns = 200, kPerTxn = 10;
    auto box = a_store->box("Person").value();
    for (int t = 0; t < kTxns; ++t) {
        ASSERT_OK(a_store->write([&](WriteTxn& txn) {
            for (int i = 0; i < kPerTxn; ++i) {
                Object o = box.new_object();
                OUTPOST_RETURN_IF_ERROR(o.set("age", t * kPerTxn + i));
                OUTPOST_RETURN_IF_ERROR(box.put(txn, o).status());
            }
            return Status::ok();
        }));
    }

    auto b = make_client(b_store, url);
    std::mutex mu;
    std::condition_variable cv;
    size_t received = 0;
    b->on_incoming([&](const std::vector<IncomingChange>& changes) {
        std::lock_guard lock(mu);
        for (const auto& c : changes) received += c.put_ids.size();
        cv.notify_all();
    });
    b->start();
    ASSERT_OK(b->wait_until_up_to_date(30s));

    auto a = make_client(a_store, url);
    a->start();
    ASSERT_OK(a->wait_until_up_to_date(60s));
    EXPECT_EQ(a->outgoing_queue_length(), 0u);
    {
        std::unique_lock lock(mu);
        ASSERT_TRUE(cv.wait_for(lock, 60s, [&] { return received >= kTxns * kPerTxn; }));
    }
    EXPECT_EQ((*server)->stats().pushes_applied, static_cast<uint64_t>(kTxns));
    EXPECT_EQ((*server)->stats().pushes_skipped, 0u);
    for (Store* s : {server_store.get(), b_store.get(), a_store.get()}) {
        EXPECT_EQ(testing::count(*s, "Person"), static_cast<uint64_t>(kTxns * kPerTxn));
    }
    // Every age exactly once at B.
    std::set<int64_t> ages;
    auto txn = b_store->begin_read();
    auto all = b_store->box("Person").value().get_all(*txn);
    ASSERT_OK(all);
    for (const auto& o : *all) ages.insert(o.get("age").as<int64_t>());
    EXPECT_EQ(ages.size(), static_cast<size_t>(kTxns * kPerTxn));
    a->stop();
    b->stop();
}

// A peer that connects and only sends heartbeats is closed at its login timeout (it used to keep
// its socket forever); a client that logged in stays connected and syncs.
TEST(SyncOverWebSocket, PeerThatNeverLogsInIsClosedAtTheLoginTimeout) {
    testing::TempDir dir;
    Model m = testing::sync_model();
    auto server_store = testing::open_store(dir.sub("server"), m);
    SyncServerOptions so;
    so.core.shared_secret = "s3cret";
    so.core.login_timeout = 1s;
    so.net.urls = {"ws://127.0.0.1:0"};
    auto server = SyncServer::create(server_store, so);
    ASSERT_OK(server);
    ASSERT_OK((*server)->start());
    const std::string url = (*server)->bound_urls().front();

    auto a_store = testing::open_store(dir.sub("a"), m);
    auto a = make_client(a_store, url);
    std::atomic<int> a_disconnects{0};
    a->on_state_change([&](SyncState st) {
        if (st == SyncState::kDisconnected) ++a_disconnects;
    });
    a->start();
    ASSERT_OK(a->wait_until_up_to_date(30s));

    net::WsClientOptions o;
    o.url = url;
    net::test::RecordingClient idle(o);
    idle.client.connect();
    ASSERT_TRUE(idle.wait_open());
    const std::string heartbeat = encode_message(Heartbeat{});
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    bool closed = false;
    while (!closed && std::chrono::steady_clock::now() < deadline) {
        idle.client.send(net::test::Bytes(heartbeat.begin(), heartbeat.end()));
        closed = idle.waiter.wait_for([&] { return idle.closes > 0; }, 50ms);
    }
    ASSERT_TRUE(closed) << "the peer that never logs in was not closed";
    {
        std::lock_guard lock(idle.waiter.mutex());
        EXPECT_EQ(idle.close_code, close_code_for(ErrorCode::kSyncProtocolViolation));
        ASSERT_FALSE(idle.messages.empty());
        auto last = decode_message(idle.messages.back());
        ASSERT_OK(last);
        ASSERT_TRUE(std::holds_alternative<Error>(*last));
        EXPECT_NE(std::get<Error>(*last).reason.find("no Login within"), std::string::npos);
    }
    EXPECT_EQ((*server)->stats().login_timeouts, 1u);
    // The logged-in client was connected before the idle peer and is still there.
    testing::put(*a_store, "Person", {{"name", "after the timeout"}});
    ASSERT_OK(a->wait_until_up_to_date(30s));
    EXPECT_EQ(a_disconnects.load(), 0);
    EXPECT_EQ(testing::count(*server_store, "Person"), 1u);
    a->stop();
}

}  // namespace
}  // namespace outpost::sync
