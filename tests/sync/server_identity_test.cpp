// Client identity and login limits at the server core: a client id bound to its key, keys and
// transaction numbers at login, the shared secret, login deadlines and the failed-login throttle;
// and what the client core sends at login.
#include <gtest/gtest.h>

#include "common/status_macros.hpp"
#include "sync/raw_peer.hpp"
#include "sync/sync_harness.hpp"

namespace outpost::sync {
namespace {

using testing::SyncNet;

std::string meta(Store& store, const std::string& key) {
    auto txn = store.begin_read();
    EXPECT_OK(txn);
    auto v = get_meta(*txn, key);
    EXPECT_OK(v);
    return v.is_ok() && v->has_value() ? **v : std::string();
}

std::vector<Ack> acks_of(const RawPeer& peer) {
    std::vector<Ack> out;
    for (const auto& m : peer.received) {
        if (auto* a = std::get_if<Ack>(&m)) out.push_back(*a);
    }
    return out;
}

// After a bad peer, a good client still syncs with the server.
void expect_others_unaffected(SyncNet& net) {
    auto& a = net.add_client("a" + std::to_string(net.server().stats().sessions));
    auto& b = net.add_client("b" + std::to_string(net.server().stats().sessions));
    net.connect(a);
    net.connect(b);
    ASSERT_TRUE(net.pump_until([&] { return net.all_up_to_date(); }));
    uint64_t id = testing::put(*a.store, "Person", {{"name", "still here"}});
    auto g = testing::gid(*a.store, "Person", id);
    ASSERT_TRUE(net.pump_until([&] { return testing::find(*b.store, "Person", *g).has_value(); }));
}

// Any holder of the secret used to be able to log in with another client's id (the victim's session
// was dropped) and push client_txn 2^64-2: every later push of the victim was then acknowledged as
// a resend and skipped, while the victim reported "up to date".
TEST(ServerCore, LoginWithAnotherClientsIdIsRefusedAndTheVictimSyncsOn) {
    SyncNet net;
    Model m = testing::sync_model();
    auto& victim = net.add_client("victim");
    auto& other = net.add_client("other");
    net.connect(victim);
    net.connect(other);
    Gid one = *testing::gid(*victim.store, "Person",
                            testing::put(*victim.store, "Person", {{"name", "one"}}));
    ASSERT_TRUE(net.pump_until(
        [&] { return net.all_up_to_date() && testing::find(*other.store, "Person", one); }));

    RawPeer attacker(net.server());
    Login hijack = good_login(m);  // the secret, the victim's id, a key of its own
    hijack.client_id = victim.core->client_id();
    attacker.send(net.server(), encode_message(hijack));
    attacker.send(net.server(), encode_message(person_push(m, UINT64_MAX - 1, new_object_id_gid(),
                                                           Value(1), true)));
    attacker.drain();
    ASSERT_NE(attacker.last<LoginResult>(), nullptr);
    EXPECT_EQ(attacker.last<LoginResult>()->code, ErrorCode::kAuthCredentialsRejected);
    EXPECT_NE(attacker.last<LoginResult>()->message.find("bound to another key"),
              std::string::npos);
    EXPECT_TRUE(attacker.closed);
    EXPECT_EQ(attacker.last<Ack>(), nullptr);
    EXPECT_EQ(
        meta(net.server_store(), "sync.client_txn." + client_id_to_hex(victim.core->client_id())),
        "1");

    // The victim was not disconnected, and its writes still apply and arrive.
    net.pump_all();
    EXPECT_FALSE(victim.closed);
    EXPECT_EQ(victim.core->state(), ClientState::kLoggedIn);
    Gid two = *testing::gid(*victim.store, "Person",
                            testing::put(*victim.store, "Person", {{"name", "two"}}));
    ASSERT_TRUE(net.pump_until([&] {
        return net.all_up_to_date() && testing::find(*other.store, "Person", two).has_value();
    }));
    EXPECT_TRUE(testing::find(net.server_store(), "Person", two).has_value());
    // Its own next login still works.
    net.cut(victim);
    net.connect(victim);
    Gid three = *testing::gid(*victim.store, "Person",
                              testing::put(*victim.store, "Person", {{"name", "three"}}));
    ASSERT_TRUE(net.pump_until([&] {
        return net.all_up_to_date() && testing::find(*other.store, "Person", three).has_value();
    }));
}

// A client this server knew before keys existed (its applied transactions are kept, no key) is
// bound to the key of its next login; later logins with another key are refused.
TEST(ServerCore, ClientKnownWithoutAKeyIsBoundAtItsNextLogin) {
    SyncNet net;
    Model m = testing::sync_model();
    Login l = good_login(m);
    const std::string hex = client_id_to_hex(l.client_id);
    ASSERT_OK(net.server_store().write(
        [&](WriteTxn& txn) { return put_meta(txn, "sync.client_txn." + hex, "3"); }));
    l.next_client_txn = 4;
    {
        RawPeer peer(net.server());
        peer.send(net.server(), encode_message(l));
        peer.drain();
        ASSERT_NE(peer.last<LoginResult>(), nullptr);
        EXPECT_EQ(peer.last<LoginResult>()->code, ErrorCode::kOk);
        EXPECT_EQ(peer.last<LoginResult>()->last_client_txn, 3u);
        net.server().on_disconnect(peer.session);
    }
    EXPECT_EQ(meta(net.server_store(), "sync.client_key." + hex).size(), 32u);
    Login other_key = l;
    other_key.client_key.assign(32, 0x11);
    RawPeer refused(net.server());
    refused.send(net.server(), encode_message(other_key));
    refused.drain();
    ASSERT_NE(refused.last<LoginResult>(), nullptr);
    EXPECT_EQ(refused.last<LoginResult>()->code, ErrorCode::kAuthCredentialsRejected);
    EXPECT_TRUE(refused.closed);
    RawPeer again(net.server());
    again.send(net.server(), encode_message(l));
    again.drain();
    ASSERT_NE(again.last<LoginResult>(), nullptr);
    EXPECT_EQ(again.last<LoginResult>()->code, ErrorCode::kOk);
}

// A version 3 client sends no key: it is told the version, not a malformed message.
TEST(ServerCore, LoginWithoutAKeyOrATransactionNumberIsRefused) {
    SyncNet net;
    Model m = testing::sync_model();
    {
        RawPeer v3(net.server());
        Login l = good_login(m);
        l.protocol_version = 3;
        l.client_key.clear();
        l.next_client_txn = 0;
        v3.send(net.server(), encode_message(l));
        v3.drain();
        ASSERT_NE(v3.last<LoginResult>(), nullptr);
        EXPECT_EQ(v3.last<LoginResult>()->code, ErrorCode::kSyncBadVersion);
    }
    {
        RawPeer keyless(net.server());
        Login l = good_login(m);
        l.client_key.clear();
        keyless.send(net.server(), encode_message(l));
        keyless.drain();
        ASSERT_NE(keyless.last<Error>(), nullptr);
        EXPECT_EQ(keyless.last<Error>()->code, ErrorCode::kSyncMalformedMessage);
        EXPECT_TRUE(keyless.closed);
    }
    {
        RawPeer zero(net.server());
        Login l = good_login(m);
        l.next_client_txn = 0;
        zero.send(net.server(), encode_message(l));
        zero.drain();
        ASSERT_NE(zero.last<Error>(), nullptr);
        EXPECT_EQ(zero.last<Error>()->code, ErrorCode::kSyncMalformedMessage);
        EXPECT_TRUE(zero.closed);
    }
    EXPECT_EQ(net.server().stats().logged_in, 0u);
    expect_others_unaffected(net);
}

// client_txn 0 used to be acknowledged and dropped (as a resend of nothing).
TEST(ServerCore, PushWithClientTxnZeroIsRefused) {
    SyncNet net;
    Model m = testing::sync_model();
    RawPeer peer(net.server());
    peer.send(net.server(), encode_message(good_login(m)));
    peer.send(net.server(), encode_message(person_push(m, 0, new_object_id_gid(), Value(1), true)));
    peer.drain();
    EXPECT_TRUE(peer.closed);
    ASSERT_NE(peer.last<Error>(), nullptr);
    EXPECT_EQ(peer.last<Error>()->code, ErrorCode::kSyncMalformedMessage);
    EXPECT_EQ(peer.last<Ack>(), nullptr);
    EXPECT_EQ(testing::count(net.server_store(), "Person"), 0u);
    expect_others_unaffected(net);
}

// A client_txn above the last applied one must be the next: a gap or a jump (forward or back) is a
// protocol error, and nothing of that push is applied or acknowledged.
TEST(ServerCore, GapOrJumpInClientTxnIsAProtocolViolation) {
    SyncNet net;
    Model m = testing::sync_model();
    auto login_as = [&](uint8_t id, uint64_t next) {
        Login l = good_login(m);
        l.client_id[1] = id;
        l.next_client_txn = next;
        return encode_message(l);
    };
    struct Case {
        const char* name;
        uint64_t next_client_txn;
        std::vector<uint64_t> txns;  // pushed in one group
        size_t acked;                // how many are applied and acknowledged
    };
    const std::vector<Case> cases = {
        {"gap", 1, {1, 3}, 1},
        {"gap in a group", 1, {1, 2, 4, 5}, 2},
        {"jump to the end", 1, {UINT64_MAX - 1}, 0},
        {"below the next", 5, {3}, 0},
        {"resend then gap", 1, {1, 1, 3}, 2},
    };
    uint8_t id = 1;
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        RawPeer peer(net.server());
        peer.send(net.server(), login_as(id++, c.next_client_txn));
        std::vector<Gid> gids;
        std::vector<std::string> frames;
        for (size_t i = 0; i < c.txns.size(); ++i) {
            gids.push_back(new_object_id_gid());
            frames.push_back(
                encode_message(person_push(m, c.txns[i], gids.back(), Value(1), true)));
        }
        std::vector<ServerCore::Incoming> incoming;
        for (const auto& f : frames) incoming.push_back({peer.session, bytes(f)});
        net.server().on_messages(incoming);
        peer.drain();
        EXPECT_TRUE(peer.closed);
        ASSERT_NE(peer.last<Error>(), nullptr);
        EXPECT_EQ(peer.last<Error>()->code, ErrorCode::kSyncProtocolViolation);
        const auto acks = acks_of(peer);
        ASSERT_EQ(acks.size(), c.acked);
        for (size_t i = 0; i < c.txns.size(); ++i) {
            const bool acked = i < c.acked;
            if (acked) {
                EXPECT_EQ(acks[i].client_txn, c.txns[i]);
            }
            // A resend in the group is acknowledged but was not applied again.
            const bool applied = acked && (i == 0 || c.txns[i] != c.txns[i - 1]);
            EXPECT_EQ(testing::find(net.server_store(), "Person", gids[i]).has_value(), applied)
                << "push " << i;
        }
        net.server().on_disconnect(peer.session);
    }
    expect_others_unaffected(net);
}

// A server restored from an older copy of its data does not have the client's transactions that
// it acknowledged after the copy was made: the client goes on from its oldest unacknowledged one,
// and the server logs what is missing.
TEST(ServerCore, ClientAheadOfARestoredServerGoesOnWithAWarning) {
    auto warnings = std::make_shared<std::vector<std::string>>();
    ServerOptions o = SyncNet::default_options();
    o.log = [warnings](LogLevel level, const std::string& text) {
        if (level == LogLevel::kWarn) warnings->push_back(text);
    };
    SyncNet net(testing::sync_model(), o);
    auto& a = net.add_client("a");
    net.connect(a);
    Gid one =
        *testing::gid(*a.store, "Person", testing::put(*a.store, "Person", {{"name", "one"}}));
    ASSERT_TRUE(net.pump_until(
        [&] { return net.all_up_to_date() && testing::find(net.server_store(), "Person", one); }));
    net.backup_server("backup");
    Gid two =
        *testing::gid(*a.store, "Person", testing::put(*a.store, "Person", {{"name", "two"}}));
    ASSERT_TRUE(net.pump_until(
        [&] { return net.all_up_to_date() && testing::find(net.server_store(), "Person", two); }));
    net.restore_server("backup");  // knows a's transaction 1; a's next is 3
    warnings->clear();
    Gid three =
        *testing::gid(*a.store, "Person", testing::put(*a.store, "Person", {{"name", "three"}}));
    net.connect(a);
    ASSERT_TRUE(net.pump_until([&] {
        return net.all_up_to_date() && testing::find(net.server_store(), "Person", three);
    })) << a.closed
        << " " << static_cast<int>(a.close_code);
    EXPECT_FALSE(a.closed);
    const std::string hex = client_id_to_hex(a.core->client_id());
    EXPECT_EQ(meta(net.server_store(), "sync.client_txn." + hex), "3");
    bool warned = false;
    for (const auto& w : *warnings) {
        warned |=
            w.find("transactions 2 to 2 were acknowledged but are not here") != std::string::npos;
    }
    EXPECT_TRUE(warned) << ::testing::PrintToString(*warnings);
}

// The shared secret is compared whole: a prefix, a longer string or one of another length fails.
TEST(ServerCore, OnlyTheExactSecretLogsIn) {
    SyncNet net;
    Model m = testing::sync_model();
    for (const std::string& secret : {std::string("s3cre"), std::string("s3cret!"), std::string(),
                                      std::string("S3CRET"), std::string("s3cret\0", 7)}) {
        SCOPED_TRACE(secret);
        RawPeer peer(net.server());
        peer.send(net.server(), encode_message(good_login(m, secret)));
        peer.drain();
        ASSERT_NE(peer.last<LoginResult>(), nullptr);
        EXPECT_EQ(peer.last<LoginResult>()->code, ErrorCode::kAuthCredentialsRejected);
    }
    RawPeer peer(net.server());
    peer.send(net.server(), encode_message(good_login(m)));
    peer.drain();
    ASSERT_NE(peer.last<LoginResult>(), nullptr);
    EXPECT_EQ(peer.last<LoginResult>()->code, ErrorCode::kOk);
}

// The client's Login: its key (made with its id, kept beside it) and the number of its oldest
// unacknowledged transaction (or of its next one when none waits).
TEST(ClientCore, LoginCarriesTheKeyAndTheNextTransactionNumber) {
    testing::TempDir dir;
    auto store = testing::open_store(dir.sub("c"), testing::sync_model());
    auto core = ClientCore::create(store, ClientOptions{}).value();
    auto login_of = [&]() -> Login {
        auto pipe = MemoryPipe::create();
        core->connect(pipe->end(MemoryPipe::kClient));
        auto item = pipe->next_for(MemoryPipe::kServer);
        core->on_disconnect();
        EXPECT_TRUE(item.has_value());
        if (!item) return {};
        auto m = decode_message(bytes(item->frame));
        EXPECT_TRUE(m.is_ok() && std::holds_alternative<Login>(*m));
        return m.is_ok() ? std::get<Login>(*m) : Login{};
    };
    Login first = login_of();
    EXPECT_EQ(first.protocol_version, kProtocolVersion);
    EXPECT_EQ(first.next_client_txn, 1u);
    ASSERT_EQ(first.client_key.size(), 32u);
    EXPECT_EQ(std::string(first.client_key.begin(), first.client_key.end()),
              meta(*store, "sync.client_key"));
    EXPECT_NE(first.client_key, std::vector<uint8_t>(32, 0));
    for (int i = 0; i < 3; ++i) testing::put(*store, "Person", {{"name", std::to_string(i)}});
    EXPECT_EQ(login_of().next_client_txn, 1u);
    ASSERT_OK(store->write([](WriteTxn& txn) { return ChangeLog::acknowledge(txn, 2); }));
    EXPECT_EQ(login_of().next_client_txn, 3u);
    ASSERT_OK(store->write([](WriteTxn& txn) { return ChangeLog::acknowledge(txn, 3); }));
    EXPECT_EQ(login_of().next_client_txn, 4u);  // none waits: the next one's number
    // The same key after a restart.
    core.reset();
    core = ClientCore::create(store, ClientOptions{}).value();
    Login later = login_of();
    EXPECT_EQ(later.client_key, first.client_key);
    EXPECT_EQ(later.client_id, first.client_id);
}

// A server that says it applied more of this client's transactions than the store ever wrote (the
// count a hijacker left before ids were bound to keys, or a store restored from an older copy)
// would take the store's next transactions for resends: the client reports an error instead of
// dropping them and calling itself up to date.
TEST(ClientCore, ServerThatCountsTransactionsTheStoreNeverWroteIsAnError) {
    SyncNet net;
    auto& v = net.add_client("v");
    const Gid g =
        *testing::gid(*v.store, "Person", testing::put(*v.store, "Person", {{"name", "mine"}}));
    const std::string key = "sync.client_txn." + client_id_to_hex(v.core->client_id());
    ASSERT_OK(net.server_store().write(
        [&](WriteTxn& txn) { return put_meta(txn, key, std::to_string(UINT64_MAX - 1)); }));
    net.connect(v);
    net.pump_all();
    EXPECT_TRUE(v.closed);
    EXPECT_EQ(v.core->last_error(), ErrorCode::kSyncProtocolViolation);
    EXPECT_FALSE(v.core->up_to_date());
    EXPECT_EQ(v.core->outgoing_queue_length(), 1u) << "the store's transaction is kept";
    EXPECT_FALSE(testing::find(net.server_store(), "Person", g).has_value());
}

// A store that synced before keys existed has an id and no key: it keeps its id and gets a key.
TEST(ClientCore, StoreWithAnIdButNoKeyGetsAKey) {
    testing::TempDir dir;
    auto store = testing::open_store(dir.sub("c"), testing::sync_model());
    const std::string id(16, '\x2a');
    ASSERT_OK(store->write([&](WriteTxn& txn) { return put_meta(txn, "sync.client_id", id); }));
    auto core = ClientCore::create(store, ClientOptions{}).value();
    EXPECT_EQ(std::string(core->client_id().begin(), core->client_id().end()), id);
    EXPECT_EQ(meta(*store, "sync.client_key").size(), 32u);
}

// --- Connections that do not log in, and failed logins
// ----------------------------------------------

// A peer that never logs in used to keep its connection (and a file descriptor) forever: heartbeats
// were answered. Its login deadline closes it, heartbeats or not; a logged-in session is not
// touched.
TEST(ServerCore, ConnectionThatOnlySendsHeartbeatsIsClosedAtItsLoginDeadline) {
    SyncNet net;
    RawPeer idle(net.server(), "10.0.0.1:4000");
    RawPeer client(net.server(), "10.0.0.2:4000");
    client.send(net.server(), encode_message(good_login(testing::sync_model())));
    for (int i = 0; i < 3; ++i) idle.send(net.server(), encode_message(Heartbeat{}));
    net.server().on_login_deadline(idle.session);
    net.server().on_login_deadline(client.session);
    idle.drain();
    client.drain();
    EXPECT_TRUE(idle.closed);
    ASSERT_NE(idle.last<Error>(), nullptr);
    EXPECT_EQ(idle.last<Error>()->code, ErrorCode::kSyncProtocolViolation);
    EXPECT_NE(idle.last<Error>()->reason.find("no Login within"), std::string::npos);
    EXPECT_EQ(idle.close_code, ErrorCode::kSyncProtocolViolation);
    EXPECT_FALSE(client.closed);
    EXPECT_EQ(net.server().stats().login_timeouts, 1u);
    // A deadline of a session that is gone is ignored.
    net.server().on_disconnect(idle.session);
    net.server().on_login_deadline(idle.session);
    EXPECT_EQ(net.server().stats().login_timeouts, 1u);
}

// After max_failed_logins failures within the window, logins from that address are refused without
// a check (also with the right secret) until the block ends; other addresses are not affected.
TEST(ServerCore, FailedLoginsFromOneAddressAreThrottled) {
    auto now =
        std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    auto warnings = std::make_shared<std::vector<std::string>>();
    ServerOptions o = SyncNet::default_options();
    o.max_failed_logins = 3;
    o.failed_login_window = std::chrono::seconds(60);
    o.failed_login_block = std::chrono::seconds(30);
    o.clock = [now] { return *now; };
    o.log = [warnings](LogLevel level, const std::string& text) {
        if (level == LogLevel::kWarn && text.find("failed logins") != std::string::npos)
            warnings->push_back(text);
    };
    SyncNet net(testing::sync_model(), o);
    Model m = testing::sync_model();
    auto login_from = [&](const std::string& address, const std::string& secret) {
        RawPeer peer(net.server(), address);
        peer.send(net.server(), encode_message(good_login(m, secret)));
        peer.drain();
        net.server().on_disconnect(peer.session);
        const LoginResult* r = peer.last<LoginResult>();
        EXPECT_NE(r, nullptr);
        return r ? *r : LoginResult{};
    };
    // Two failures, then a minute passes: the window starts again.
    EXPECT_EQ(login_from("10.0.0.7:1", "wrong").code, ErrorCode::kAuthCredentialsRejected);
    EXPECT_EQ(login_from("10.0.0.7:2", "wrong").code, ErrorCode::kAuthCredentialsRejected);
    *now += std::chrono::seconds(61);
    EXPECT_EQ(login_from("10.0.0.7:3", "wrong").code, ErrorCode::kAuthCredentialsRejected);
    EXPECT_EQ(login_from("10.0.0.7:4", "s3cret").code, ErrorCode::kOk);
    EXPECT_TRUE(warnings->empty());
    // Three within the window (new ports, one address): blocked.
    EXPECT_EQ(login_from("10.0.0.7:5", "wrong").code, ErrorCode::kAuthCredentialsRejected);
    EXPECT_EQ(login_from("10.0.0.7:6", "wrong").code, ErrorCode::kAuthCredentialsRejected);
    ASSERT_EQ(warnings->size(), 1u);
    EXPECT_NE(warnings->front().find("10.0.0.7"), std::string::npos) << warnings->front();
    const LoginResult blocked = login_from("10.0.0.7:7", "s3cret");
    EXPECT_EQ(blocked.code, ErrorCode::kAuthCredentialsRejected);
    EXPECT_NE(blocked.message.find("too many failed logins"), std::string::npos);
    EXPECT_EQ(login_from("10.0.0.7:8", "s3cret").code, ErrorCode::kAuthCredentialsRejected);
    EXPECT_EQ(net.server().stats().logins_throttled, 2u);
    EXPECT_EQ(warnings->size(), 1u) << "one line when the block begins, none per refused login";
    // Another address logs in; the blocked one does once the block is over.
    EXPECT_EQ(login_from("10.0.0.8:1", "s3cret").code, ErrorCode::kOk);
    *now += std::chrono::seconds(31);
    EXPECT_EQ(login_from("10.0.0.7:9", "s3cret").code, ErrorCode::kOk);
    // A login with another client's key counts as a failure too.
    Login other_key = good_login(m);
    other_key.client_key.assign(32, 0x77);
    for (int i = 0; i < 3; ++i) {
        RawPeer peer(net.server(), "[::1]:" + std::to_string(100 + i));
        peer.send(net.server(), encode_message(other_key));
        peer.drain();
        ASSERT_NE(peer.last<LoginResult>(), nullptr);
        EXPECT_EQ(peer.last<LoginResult>()->code, ErrorCode::kAuthCredentialsRejected);
        net.server().on_disconnect(peer.session);
    }
    EXPECT_EQ(warnings->size(), 2u);
    EXPECT_EQ(login_from("[::1]:200", "s3cret").message,
              "too many failed logins from this address; try again later");
}

}  // namespace
}  // namespace outpost::sync
