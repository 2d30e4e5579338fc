// Sync end to end, limits and identity on the real server: a peer that never logs in is closed at
// the login timeout (heartbeats do not keep it), the connection limit refuses one more connection
// at once and frees up as such peers go, failed logins from one address are throttled, and `outpost
// sync` does not call itself up to date when the server would drop its transactions.

#include <gtest/gtest.h>

#include "common/status_macros.hpp"
#include "integration/sync_it_support.hpp"
#include "net/net_test_util.hpp"
#include "sync/protocol.hpp"

namespace outpost::it {
namespace {

class SyncItLimits : public SyncIt {
  protected:
    // A WebSocket connection that logs in (or not) by hand.
    std::unique_ptr<net::test::RecordingClient> raw(const ServerProcess& server) {
        net::WsClientOptions o;
        o.url = server.url();
        auto c = std::make_unique<net::test::RecordingClient>(o);
        c->client.connect();
        return c;
    }
    static std::vector<uint8_t> bytes(const sync::Message& m) {
        const std::string frame = sync::encode_message(m);
        return {frame.begin(), frame.end()};
    }
    static size_t occurrences(const std::string& text, const std::string& part) {
        size_t n = 0;
        for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1))
            ++n;
        return n;
    }
};

// Peers that connect and never log in used to hold their sockets forever, until none was left for
// real clients. Now they are closed at the login timeout, and the connection limit refuses what is
// beyond it at once (with a log line) instead of letting the server run out of descriptors.
TEST_F(SyncItLimits, IdlePeersAreClosedAtTheLoginTimeoutAndFreeTheConnectionLimit) {
    ServerConfig config;
    config.extra = {"--login-timeout-seconds", "1", "--max-connections", "3"};
    auto server = make_server("server", config);
    ASSERT_TRUE(server->start());
    auto a = make_peer("a", *server);
    ASSERT_TRUE(a->wait_synced());

    auto idle1 = raw(*server);
    auto idle2 = raw(*server);
    ASSERT_TRUE(idle1->wait_open());
    ASSERT_TRUE(idle2->wait_open());
    {
        // The fourth connection is refused at once.
        net::test::RawSocket extra(server->port());
        ASSERT_TRUE(extra.connected());
        EXPECT_TRUE(extra.read_until("\r\n\r\n").starts_with("HTTP/1.1 503"));
        EXPECT_TRUE(extra.wait_eof());
    }
    // Heartbeats do not keep the idle peers: both are closed with sync_protocol_violation.
    auto closed = [](net::test::RecordingClient& c) {
        std::lock_guard lock(c.waiter.mutex());
        return c.closes > 0;
    };
    const auto deadline = Clock::now() + kDeadline;
    while (Clock::now() < deadline && !(closed(*idle1) && closed(*idle2))) {
        idle1->client.send(bytes(sync::Heartbeat{}));
        idle2->client.send(bytes(sync::Heartbeat{}));
        idle1->waiter.wait_for([&] { return idle1->closes > 0; }, 50ms);
    }
    ASSERT_TRUE(idle1->wait_close());
    ASSERT_TRUE(idle2->wait_close());
    for (auto* c : {idle1.get(), idle2.get()}) {
        std::lock_guard lock(c->waiter.mutex());
        EXPECT_EQ(c->close_code, 4000 + static_cast<int>(ErrorCode::kSyncProtocolViolation));
    }

    // Their places are free again: a new client logs in and syncs with A, who stayed connected.
    auto b = make_peer("b", *server);
    ASSERT_TRUE(b->wait_synced());
    EXPECT_TRUE(still_syncing(*a, *b, "after the idle peers"));
    EXPECT_TRUE(still_syncing(*b, *a, "back"));
    const std::string log = server->log();
    EXPECT_EQ(occurrences(log, "connection limit of 3 reached"), 1u) << log;
    EXPECT_EQ(occurrences(log, "no Login within 1000 ms"), 2u) << log;
}

// Ten wrong secrets from one address within a minute: its next login is refused without a check,
// even with the right secret, and the server logs it once.
TEST_F(SyncItLimits, FailedLoginsFromOneAddressAreThrottled) {
    auto server = make_server();
    ASSERT_TRUE(server->start());
    sync::Login login;
    login.client_id[0] = 0x42;
    login.client_key.assign(32, 0x42);
    login.next_client_txn = 1;
    login.model = sync::describe_model(model_);
    auto attempt = [&](const std::string& secret) {
        login.credentials = secret;
        auto c = raw(*server);
        EXPECT_TRUE(c->wait_open());
        c->client.send(bytes(login));
        EXPECT_TRUE(c->wait_close());
        std::lock_guard lock(c->waiter.mutex());
        sync::LoginResult r;
        if (!c->messages.empty()) {
            auto m = sync::decode_message(c->messages.front());
            if (m.is_ok() && std::holds_alternative<sync::LoginResult>(*m))
                r = std::get<sync::LoginResult>(*m);
        }
        return r;
    };
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(attempt("guess " + std::to_string(i)).code, ErrorCode::kAuthCredentialsRejected);
    }
    const sync::LoginResult throttled = attempt(kSecret);
    EXPECT_EQ(throttled.code, ErrorCode::kAuthCredentialsRejected);
    EXPECT_NE(throttled.message.find("too many failed logins"), std::string::npos)
        << throttled.message;
    auto peer = make_peer("p", *server);
    Status st = peer->client->wait_until_up_to_date(kDeadline);
    EXPECT_EQ(st.code(), ErrorCode::kAuthCredentialsRejected) << st.to_string();
    peer->stop_client();
    const std::string log = server->log();
    EXPECT_EQ(occurrences(log, "failed logins within"), 1u) << log;
}

// A server whose count of a client's transactions is above anything the client wrote (left by a
// login with the client's id before ids were bound to keys: client_txn 2^64-2) would acknowledge
// the client's next transactions as resends and drop them. `outpost sync` used to report "up to
// date" and exit 0; now it fails and the transaction stays queued.
TEST_F(SyncItLimits, OutpostSyncFailsWhenTheServerWouldDropItsTransactions) {
    auto server = make_server();
    ASSERT_TRUE(server->start());
    const std::string db = dir_.sub("victim");
    std::string victim;
    {
        Peer v(db, model_, {server->url()});
        v.client->start();
        ASSERT_TRUE(v.wait_synced());
        victim = client_hex(*v.store);
        v.stop_client();
        put(*v.store, "Person", {{"name", "written offline"}});
    }
    ASSERT_EQ(server->stop(), 0);
    {
        auto s = open_server_store(*server);
        ASSERT_OK(s->write([&](WriteTxn& txn) {
            return put_meta(txn, "sync.client_txn." + victim, std::to_string(UINT64_MAX - 1));
        }));
    }
    ASSERT_TRUE(server->start());
    auto r = run_program({OUTPOST_CLI_BIN, "sync", "--db", db, "--model", model_file_, "--url",
                          server->url(), "--secret", kSecret, "--until-synced", "--timeout", "60"},
                         dir_.sub("sync.log"), 90s);
    ASSERT_TRUE(r.exit_code.has_value()) << r.err;
    EXPECT_EQ(*r.exit_code, 1) << r.out << r.err;
    EXPECT_EQ(r.out.find("up to date"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("wrote only up to"), std::string::npos) << r.err;
    auto s = open_store(db, model_);
    auto txn = s->begin_read();
    EXPECT_EQ(*ChangeLog::size(*txn), 1u) << "the transaction is still queued";
}

}  // namespace
}  // namespace outpost::it
