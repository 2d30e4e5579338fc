// Bad input at the server: each gets its code and a close of that connection only.
#include <gtest/gtest.h>

#include "common/status_macros.hpp"
#include "sync/raw_peer.hpp"
#include "sync/sync_harness.hpp"

namespace outpost::sync {
namespace {

using testing::SyncNet;

// ACK without its record tag (checked on its own where it matters).
Ack untagged(Ack ack) {
    EXPECT_EQ(ack.server_tag != 0, ack.server_seq != 0) << "an Ack's tag goes with its record";
    ack.server_tag = 0;
    return ack;
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

TEST(ServerCore, RefusesToStartWithoutAuth) {
    testing::TempDir dir;
    auto store = testing::open_store(dir.sub("s"), testing::sync_model());
    auto core = ServerCore::create(store, ServerOptions{});
    ASSERT_FALSE(core.is_ok());
    EXPECT_EQ(core.status().code(), ErrorCode::kInvalidArgument);
    ServerOptions open;
    open.allow_unauthenticated = true;
    EXPECT_OK(ServerCore::create(store, open));
}

TEST(ServerCore, GarbageFrameGetsMalformedAndClose) {
    SyncNet net;
    RawPeer peer(net.server());
    peer.send(net.server(), "GET / HTTP/1.1\r\n\r\n and more garbage bytes");
    peer.drain();
    ASSERT_NE(peer.last<Error>(), nullptr);
    EXPECT_EQ(peer.last<Error>()->code, ErrorCode::kSyncMalformedMessage);
    EXPECT_TRUE(peer.closed);
    EXPECT_EQ(peer.close_code, ErrorCode::kSyncMalformedMessage);
    expect_others_unaffected(net);
}

TEST(ServerCore, TruncatedFrameGetsMalformed) {
    SyncNet net;
    RawPeer peer(net.server());
    std::string frame = encode_message(good_login(testing::sync_model()));
    peer.send(net.server(), frame.substr(0, frame.size() / 2));
    peer.drain();
    ASSERT_NE(peer.last<Error>(), nullptr);
    EXPECT_EQ(peer.last<Error>()->code, ErrorCode::kSyncMalformedMessage);
    EXPECT_TRUE(peer.closed);
    expect_others_unaffected(net);
}

TEST(ServerCore, OversizedFrameGetsTooLarge) {
    ServerOptions o = SyncNet::default_options();
    o.max_message_size = 4096;
    SyncNet net(testing::sync_model(), o);
    RawPeer peer(net.server());
    peer.send(net.server(), encode_message(good_login(testing::sync_model())));
    Push big;
    big.client_txn = 1;
    ObjectChange c;
    c.entity_uid = testing::sync_model().entity("Person")->id.uid;
    c.gid = new_object_id_gid();
    c.is_new = true;
    c.properties.push_back({testing::sync_model().entity("Person")->property("name")->id.uid,
                            Value(std::string(10000, 'x'))});
    big.changes.objects.push_back(c);
    peer.send(net.server(), encode_message(big));
    peer.drain();
    ASSERT_NE(peer.last<Error>(), nullptr);
    EXPECT_EQ(peer.last<Error>()->code, ErrorCode::kSyncMessageTooLarge);
    EXPECT_TRUE(peer.closed);
    EXPECT_EQ(testing::count(net.server_store(), "Person"), 0u);
    expect_others_unaffected(net);
}

TEST(ServerCore, MessageBeforeLoginIsAProtocolViolation) {
    SyncNet net;
    RawPeer peer(net.server());
    peer.send(net.server(), encode_message(Push{1, {}}));
    peer.drain();
    ASSERT_NE(peer.last<Error>(), nullptr);
    EXPECT_EQ(peer.last<Error>()->code, ErrorCode::kSyncProtocolViolation);
    EXPECT_TRUE(peer.closed);
}

TEST(ServerCore, HeartbeatIsAnswered) {
    SyncNet net;
    RawPeer peer(net.server());
    peer.send(net.server(), encode_message(Heartbeat{}));
    peer.drain();
    ASSERT_EQ(peer.received.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<Heartbeat>(peer.received[0]));
    EXPECT_FALSE(peer.closed);
}

TEST(ServerCore, WrongCredentialsAreRejected) {
    SyncNet net;
    auto& c = net.add_client("c", nullptr, "wrong");
    net.connect(c);
    net.pump_all();
    EXPECT_TRUE(c.closed);
    EXPECT_EQ(c.close_code, ErrorCode::kAuthCredentialsRejected);
    EXPECT_EQ(c.core->last_error(), ErrorCode::kAuthCredentialsRejected);
    EXPECT_EQ(c.received["LoginResult"], 1);
    expect_others_unaffected(net);
}

// The server accepts kOldestSupportedProtocolVersion .. kProtocolVersion; a client outside the
// range is refused with sync_bad_version and a message that names the range.
TEST(ServerCore, ProtocolVersionOutsideTheSupportedRangeIsRefused) {
    SyncNet net;
    const std::string range = "accepts versions " +
                              std::to_string(kOldestSupportedProtocolVersion) + " to " +
                              std::to_string(kProtocolVersion);
    for (uint32_t version : {kOldestSupportedProtocolVersion - 1, kProtocolVersion + 1, 99u}) {
        SCOPED_TRACE(version);
        RawPeer peer(net.server());
        Login l = good_login(testing::sync_model());
        l.protocol_version = version;
        peer.send(net.server(), encode_message(l));
        peer.drain();
        ASSERT_NE(peer.last<LoginResult>(), nullptr);
        EXPECT_EQ(peer.last<LoginResult>()->code, ErrorCode::kSyncBadVersion);
        EXPECT_NE(peer.last<LoginResult>()->message.find(range), std::string::npos)
            << peer.last<LoginResult>()->message;
        EXPECT_TRUE(peer.closed);
    }
    for (uint32_t version = kOldestSupportedProtocolVersion; version <= kProtocolVersion;
         ++version) {
        SCOPED_TRACE(version);
        RawPeer peer(net.server());
        Login l = good_login(testing::sync_model());
        l.protocol_version = version;
        peer.send(net.server(), encode_message(l));
        peer.drain();
        ASSERT_NE(peer.last<LoginResult>(), nullptr);
        EXPECT_EQ(peer.last<LoginResult>()->code, ErrorCode::kOk);
    }
}

TEST(ServerCore, IncompatibleModelIsRejected) {
    SyncNet net;
    // Person.age as a string on the client: the same uid with another type.
    Model m = testing::sync_model();
    for (auto& e : m.entities) {
        if (e.name != "Person") continue;
        for (auto& p : e.properties) {
            if (p.name == "age") p.type = PropertyType::kString;
        }
    }
    RawPeer peer(net.server());
    peer.send(net.server(), encode_message(good_login(m)));
    peer.drain();
    ASSERT_NE(peer.last<LoginResult>(), nullptr);
    EXPECT_EQ(peer.last<LoginResult>()->code, ErrorCode::kSyncUnsupportedModel);
    EXPECT_TRUE(peer.closed);

    // An entity the server does not have.
    ModelBuilder b;
    b.entity("Alien").sync().property("id", PropertyType::kInt64, kFlagId);
    Model alien = b.build().value();
    auto& c = net.add_client("alien", &alien);
    net.connect(c);
    net.pump_all();
    EXPECT_EQ(c.close_code, ErrorCode::kSyncUnsupportedModel);
    expect_others_unaffected(net);
}

// What the admin sees of the core: the logged-in sessions with their positions, the counters of
// logins by result, pushes, fan-out and apply times, and a client closed on request.
TEST(ServerCore, ListsSessionsCountsLoginsAndPushesAndDisconnectsAClient) {
    SyncNet net;
    auto& a = net.add_client("a");
    auto& b = net.add_client("b");
    auto& intruder = net.add_client("intruder", nullptr, "wrong");
    net.connect(a);
    net.connect(b);
    net.connect(intruder);
    net.pump_all();
    testing::put(*a.store, "Person", {{"name", Value("Ann")}});
    net.pump_all();
    ASSERT_EQ(testing::count(*b.store, "Person"), 1u);

    const ServerStats& st = net.server().stats();
    EXPECT_EQ(st.logins_ok, 2u);
    EXPECT_EQ(st.logins_rejected, 1u);
    EXPECT_EQ(st.logins_failed, 0u);
    EXPECT_EQ(st.pushes_applied, 1u);
    EXPECT_EQ(st.changes_applied, 1u);
    EXPECT_EQ(st.fanout_changes, 1u);  // Ann, to b
    uint64_t timed = 0;
    for (uint64_t n : st.apply_seconds_counts) timed += n;
    EXPECT_EQ(timed, 1u);
    EXPECT_GT(st.apply_seconds_sum, 0.0);

    EXPECT_EQ(net.server().history_head(), 1u);
    auto sessions = net.server().sessions();
    ASSERT_EQ(sessions.size(), 2u);
    for (const SessionInfo& s : sessions) {
        EXPECT_EQ(s.client.size(), 32u);
        EXPECT_EQ(s.acked_seq, 1u);  // a: the Ack of its push; b: its ApplyAck
        EXPECT_EQ(s.protocol_version, kProtocolVersion);
        EXPECT_GT(s.connected_ms, 0);
        EXPECT_TRUE(s.user.empty());
        EXPECT_FALSE(s.full_sync);
    }
    const SessionInfo& of_a = sessions[0].session == a.session ? sessions[0] : sessions[1];
    ASSERT_EQ(of_a.session, a.session);
    EXPECT_EQ(net.server().disconnect_client(std::string(32, '0'), "nobody"), 0u);
    EXPECT_EQ(net.server().disconnect_client(of_a.client, "by the admin"), 1u);
    net.pump_all();
    EXPECT_TRUE(a.closed);
    EXPECT_FALSE(b.closed);
    ASSERT_EQ(net.server().sessions().size(), 1u);
    EXPECT_EQ(net.server().sessions()[0].session, b.session);
}

TEST(ServerCore, SlowClientIsDroppedAndOthersCarryOn) {
    ServerOptions o = SyncNet::default_options();
    o.max_send_queue_bytes = 100000;
    SyncNet net(testing::sync_model(), o);
    RawPeer slow(net.server());  // logs in and then never reads
    Login l = good_login(testing::sync_model());
    slow.send(net.server(), encode_message(l));
    auto& a = net.add_client("a");
    auto& b = net.add_client("b");
    net.connect(a);
    net.connect(b);
    // 60 transactions of 2 KB: more than the bound for a reader that never reads; a client that
    // reads never holds more than the pushes in flight.
    for (int i = 0; i < 60; ++i) {
        testing::put(*a.store, "Person", {{"name", std::string(2000, static_cast<char>('0' + i))}});
    }
    ASSERT_TRUE(net.pump_until([&] {
        return net.all_up_to_date() && testing::count(*b.store, "Person") == 60;
    })) << testing::count(*b.store, "Person")
        << " " << testing::count(*a.store, "Person") << " " << a.core->up_to_date()
        << b.core->up_to_date() << " " << a.closed << b.closed << " "
        << static_cast<int>(a.core->last_error());
    slow.drain();
    EXPECT_TRUE(slow.closed);
    EXPECT_EQ(slow.close_code, ErrorCode::kSyncTooFarBehind);
}

TEST(ServerCore, FullSyncChunksCountFlexContents) {
    ServerOptions o = SyncNet::default_options();
    o.full_sync_chunk_bytes = 256u << 10;
    SyncNet net(testing::sync_model(), o);
    for (int i = 0; i < 50; ++i) {
        testing::put(net.server_store(), "Kitchen",
                     {{"flex", Flex(Flex::Map{{"doc", Flex(std::string(64u << 10, 'f'))}})}});
    }
    RawPeer peer(net.server());
    peer.send(net.server(), encode_message(good_login(testing::sync_model())));
    peer.drain();
    size_t objects = 0;
    size_t chunks = 0;
    for (const auto& m : peer.received) {
        auto* c = std::get_if<FullSyncChunk>(&m);
        if (!c) continue;
        ++chunks;
        objects += c->changes.objects.size();
        // The bound, plus at most the object that crossed it.
        EXPECT_LE(encode_message(*c).size(), o.full_sync_chunk_bytes + (80u << 10));
    }
    EXPECT_EQ(objects, 50u);
    EXPECT_GE(chunks, 12u);
}

TEST(ServerCore, ResentPushIsAcknowledgedAndSkipped) {
    SyncNet net;
    Model m = testing::sync_model();
    Push push;
    push.client_txn = 7;
    ObjectChange c;
    c.entity_uid = m.entity("Person")->id.uid;
    c.gid = new_object_id_gid();
    c.is_new = true;
    c.properties.push_back({m.entity("Person")->property("age")->id.uid, Value(1)});
    push.changes.objects.push_back(c);
    Login first = good_login(m);
    first.next_client_txn = 7;  // transactions 1 to 6 were acknowledged by another server
    {
        RawPeer peer(net.server());
        peer.send(net.server(), encode_message(first));
        peer.send(net.server(), encode_message(push));
        push.changes.objects[0].properties[0].value = Value(2);  // a resend must not apply again
        peer.send(net.server(), encode_message(push));
        peer.drain();
        ASSERT_EQ(peer.received.size(), 4u);  // LoginResult, FullSyncChunk, Ack, Ack
        EXPECT_EQ(untagged(std::get<Ack>(peer.received[2])), (Ack{7, 1, {}}));
        EXPECT_EQ(untagged(std::get<Ack>(peer.received[3])), (Ack{7, 0, {}}));
        net.server().on_disconnect(peer.session);
    }
    EXPECT_EQ(net.server().stats().pushes_applied, 1u);
    EXPECT_EQ(net.server().stats().pushes_skipped, 1u);
    auto o = testing::find(net.server_store(), "Person", c.gid);
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->get("age"), Value(1));
    // The next login tells the client which of its transactions were applied.
    RawPeer again(net.server());
    Login l = good_login(m);
    l.last_server_seq = 1;
    again.send(net.server(), encode_message(l));
    again.drain();
    ASSERT_NE(again.last<LoginResult>(), nullptr);
    EXPECT_EQ(again.last<LoginResult>()->last_client_txn, 7u);
    EXPECT_EQ(again.last<LoginResult>()->server_seq, 1u);
}

Push person_push(const Model& m, uint64_t client_txn, const Gid& gid, Value age, bool is_new) {
    Push push;
    push.client_txn = client_txn;
    ObjectChange c;
    c.entity_uid = m.entity("Person")->id.uid;
    c.gid = gid;
    c.is_new = is_new;
    c.properties.push_back({m.entity("Person")->property("age")->id.uid, std::move(age)});
    push.changes.objects.push_back(std::move(c));
    return push;
}

TEST(ServerCore, QueuedPushesOfOneClientShareOneCommit) {
    SyncNet net;
    Model m = testing::sync_model();
    RawPeer peer(net.server());
    peer.send(net.server(), encode_message(good_login(m)));
    const Gid g1 = new_object_id_gid(), g2 = new_object_id_gid();
    std::vector<std::string> frames = {
        encode_message(person_push(m, 1, g1, Value(1), true)),
        encode_message(person_push(m, 2, g1, Value(2), false)),
        encode_message(person_push(m, 2, g1, Value(99), false)),  // a resend: skipped
        encode_message(person_push(m, 3, g2, Value(3), true)),
        encode_message(Heartbeat{}),
    };
    std::vector<ServerCore::Incoming> incoming;
    for (const auto& f : frames) incoming.push_back({peer.session, bytes(f)});
    net.server().on_messages(incoming);
    peer.drain();
    ASSERT_EQ(peer.received.size(), 7u);  // LoginResult, FullSyncChunk, 4 Acks, Heartbeat
    EXPECT_EQ(untagged(std::get<Ack>(peer.received[2])), (Ack{1, 1, {}}));
    EXPECT_EQ(untagged(std::get<Ack>(peer.received[3])), (Ack{2, 1, {}}));
    EXPECT_EQ(untagged(std::get<Ack>(peer.received[4])), (Ack{2, 0, {}}));
    EXPECT_EQ(untagged(std::get<Ack>(peer.received[5])), (Ack{3, 1, {}}));
    EXPECT_EQ(std::get<Ack>(peer.received[2]).server_tag,
              std::get<Ack>(peer.received[5]).server_tag);
    EXPECT_TRUE(std::holds_alternative<Heartbeat>(peer.received[6]));
    EXPECT_EQ(net.server().stats().pushes_applied, 3u);
    EXPECT_EQ(net.server().stats().pushes_skipped, 1u);
    auto txn = net.server_store().begin_read();
    EXPECT_EQ(*ChangeLog::last_position(*txn), 1u);  // one record for the three
    txn->close();
    EXPECT_EQ(testing::find(net.server_store(), "Person", g1)->get("age"), Value(2));
    EXPECT_EQ(testing::find(net.server_store(), "Person", g2)->get("age"), Value(3));
}

TEST(ServerCore, BadPushInAGroupFailsAfterThePushesBeforeIt) {
    SyncNet net;
    Model m = testing::sync_model();
    RawPeer peer(net.server());
    peer.send(net.server(), encode_message(good_login(m)));
    const Gid g1 = new_object_id_gid(), g2 = new_object_id_gid(), g3 = new_object_id_gid();
    std::vector<std::string> frames = {
        encode_message(person_push(m, 1, g1, Value(1), true)),
        encode_message(person_push(m, 2, g2, Value("not a number"), true)),
        encode_message(person_push(m, 3, g3, Value(3), true)),
    };
    std::vector<ServerCore::Incoming> incoming;
    for (const auto& f : frames) incoming.push_back({peer.session, bytes(f)});
    net.server().on_messages(incoming);
    peer.drain();
    EXPECT_TRUE(peer.closed);
    ASSERT_NE(peer.last<Ack>(), nullptr);
    EXPECT_EQ(untagged(*peer.last<Ack>()), (Ack{1, 1, {}}));
    ASSERT_NE(peer.last<Error>(), nullptr);
    EXPECT_EQ(peer.last<Error>()->code, ErrorCode::kSyncMalformedMessage);
    EXPECT_EQ(net.server().stats().pushes_applied, 1u);
    EXPECT_TRUE(testing::find(net.server_store(), "Person", g1).has_value());
    EXPECT_FALSE(testing::find(net.server_store(), "Person", g2).has_value());
    EXPECT_FALSE(testing::find(net.server_store(), "Person", g3).has_value());
}

TEST(ServerCore, SecondLoginIsAProtocolViolation) {
    SyncNet net;
    RawPeer peer(net.server());
    peer.send(net.server(), encode_message(good_login(testing::sync_model())));
    peer.send(net.server(), encode_message(good_login(testing::sync_model())));
    peer.drain();
    ASSERT_NE(peer.last<Error>(), nullptr);
    EXPECT_EQ(peer.last<Error>()->code, ErrorCode::kSyncProtocolViolation);
}

// A transaction sent in parts (Push.more): nothing is applied or acknowledged until the last part,
// then all of it in one history record; parts of a connection that goes away are dropped.
TEST(ServerCore, PushInPartsIsAppliedWhole) {
    SyncNet net;
    Model m = testing::sync_model();
    const Gid g1 = new_object_id_gid(), g2 = new_object_id_gid(), g3 = new_object_id_gid();
    auto part = [&](const Gid& g, int age, bool more) {
        Push p = person_push(m, 1, g, Value(age), true);
        p.more = more;
        return encode_message(p);
    };
    {
        RawPeer gone(net.server());
        gone.send(net.server(), encode_message(good_login(m)));
        gone.send(net.server(), part(g1, 1, true));
        net.server().on_disconnect(gone.session);
    }
    RawPeer peer(net.server());
    peer.send(net.server(), encode_message(good_login(m)));
    peer.send(net.server(), part(g1, 1, true));
    peer.send(net.server(), part(g2, 2, true));
    peer.drain();
    EXPECT_EQ(peer.last<Ack>(), nullptr);
    EXPECT_FALSE(testing::find(net.server_store(), "Person", g1).has_value());
    // The last part arrives with the next transaction in one batch (group commit).
    std::vector<std::string> frames = {part(g3, 3, false),
                                       encode_message(person_push(m, 2, g1, Value(10), false))};
    std::vector<ServerCore::Incoming> incoming;
    for (const auto& f : frames) incoming.push_back({peer.session, bytes(f)});
    net.server().on_messages(incoming);
    peer.drain();
    EXPECT_FALSE(peer.closed);
    std::vector<Ack> acks;
    for (const auto& msg : peer.received) {
        if (auto* a = std::get_if<Ack>(&msg)) acks.push_back(*a);
    }
    ASSERT_EQ(acks.size(), 2u);
    EXPECT_EQ(acks[0].client_txn, 1u);
    EXPECT_EQ(acks[1].client_txn, 2u);
    EXPECT_EQ(net.server().stats().pushes_applied, 2u);
    EXPECT_EQ(testing::find(net.server_store(), "Person", g1)->get("age"), Value(10));
    EXPECT_EQ(testing::find(net.server_store(), "Person", g2)->get("age"), Value(2));
    EXPECT_EQ(testing::find(net.server_store(), "Person", g3)->get("age"), Value(3));
    auto txn = net.server_store().begin_read();
    auto recs = ChangeLog::read(*txn, 0, 10).value();
    ASSERT_EQ(recs.size(), 1u);  // both transactions, one commit
    EXPECT_EQ(recs[0].changes.objects.size(), 3u);
}

TEST(ServerCore, AnotherPushBeforeTheLastPartIsAProtocolViolation) {
    SyncNet net;
    Model m = testing::sync_model();
    RawPeer peer(net.server());
    peer.send(net.server(), encode_message(good_login(m)));
    Push first = person_push(m, 1, new_object_id_gid(), Value(1), true);
    first.more = true;
    peer.send(net.server(), encode_message(first));
    peer.send(net.server(), encode_message(person_push(m, 2, new_object_id_gid(), Value(2), true)));
    peer.drain();
    EXPECT_TRUE(peer.closed);
    ASSERT_NE(peer.last<Error>(), nullptr);
    EXPECT_EQ(peer.last<Error>()->code, ErrorCode::kSyncProtocolViolation);
    EXPECT_EQ(net.server().stats().pushes_applied, 0u);
    EXPECT_EQ(testing::count(net.server_store(), "Person"), 0u);
    expect_others_unaffected(net);
}

TEST(ServerCore, PartsAboveTheTransactionBoundAreRefused) {
    ServerOptions o = SyncNet::default_options();
    o.max_transaction_bytes = 10'000;
    SyncNet net(testing::sync_model(), o);
    Model m = testing::sync_model();
    RawPeer peer(net.server());
    peer.send(net.server(), encode_message(good_login(m)));
    for (int i = 0; i < 100 && !peer.closed; ++i) {
        Push p = person_push(m, 1, new_object_id_gid(), Value(std::string(500, 'x')), true);
        p.changes.objects[0].properties[0].property_uid =
            m.entity("Person")->property("name")->id.uid;
        p.more = true;
        peer.send(net.server(), encode_message(p));
        peer.drain();
    }
    EXPECT_TRUE(peer.closed);
    ASSERT_NE(peer.last<Error>(), nullptr);
    EXPECT_EQ(peer.last<Error>()->code, ErrorCode::kSyncMessageTooLarge);
    EXPECT_EQ(testing::count(net.server_store(), "Person"), 0u);
    expect_others_unaffected(net);
}

// --- Client identity and transaction numbers -----------------------------------------------------

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
