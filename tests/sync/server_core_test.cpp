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

}  // namespace
}  // namespace outpost::sync
