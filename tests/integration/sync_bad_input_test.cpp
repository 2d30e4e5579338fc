// Sync end to end, bad input: garbage and truncated frames, oversized and text frames, messages out
// of order, wrong credentials, a mismatched model, a push the server cannot apply. Each gets its
// code and a disconnect while the server and the other clients carry on.

#include <gtest/gtest.h>

#include "common/status_macros.hpp"
#include "integration/sync_it_support.hpp"
#include "net/net_test_util.hpp"
#include "sync/protocol.hpp"

namespace outpost::it {
namespace {
// --- Bad input -----------------------------------------------------------------------------------

class SyncItBadInput : public SyncIt {
  protected:
    void SetUp() override {
        server = make_server();
        ASSERT_TRUE(server->start());
        a = make_peer("a", *server);
        b = make_peer("b", *server);
        ASSERT_TRUE(a->wait_synced());
        ASSERT_TRUE(b->wait_synced());
    }

    // A raw WebSocket connection to the server.
    std::unique_ptr<net::test::RecordingClient> raw() {
        net::WsClientOptions o;
        o.url = server->url();
        o.max_message_size = 64u << 20;
        auto c = std::make_unique<net::test::RecordingClient>(o);
        c->client.connect();
        EXPECT_TRUE(c->wait_open());
        return c;
    }

    static std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

    sync::Login login(const Model& model, std::string credentials = kSecret) {
        sync::Login l;
        for (size_t i = 0; i < l.client_id.size(); ++i)
            l.client_id[i] = static_cast<uint8_t>(i + 7);
        l.credentials = std::move(credentials);
        l.model = sync::describe_model(model);
        l.client_key.assign(32, 0x3c);
        l.next_client_txn = 1;
        return l;
    }

    // Waits for the close; the code and the first message's error code (0 when none decoded).
    struct Outcome {
        uint16_t close_code = 0;
        std::optional<sync::Message> first;
    };
    Outcome outcome(net::test::RecordingClient& c) {
        Outcome o;
        EXPECT_TRUE(c.wait_close());
        std::lock_guard lock(c.waiter.mutex());
        o.close_code = c.close_code;
        if (!c.messages.empty()) {
            auto m = sync::decode_message(c.messages.front());
            if (m.is_ok()) o.first = *m;
        }
        return o;
    }
    static int error_code_of(const Outcome& o) {
        if (!o.first) return -1;
        if (auto* e = std::get_if<sync::Error>(&*o.first)) return static_cast<int>(e->code);
        if (auto* r = std::get_if<sync::LoginResult>(&*o.first)) return static_cast<int>(r->code);
        return -2;
    }

    void expect_carries_on(const std::string& marker) {
        EXPECT_TRUE(server->running());
        EXPECT_TRUE(still_syncing(*a, *b, marker));
        EXPECT_TRUE(still_syncing(*b, *a, marker + " back"));
    }

    std::unique_ptr<ServerProcess> server;
    std::unique_ptr<Peer> a;
    std::unique_ptr<Peer> b;
};

TEST_F(SyncItBadInput, GarbageFrameGetsMalformedAndClose) {
    auto c = raw();
    c->client.send(bytes("this is not a FlatBuffer at all, not even close"));
    auto o = outcome(*c);
    EXPECT_EQ(o.close_code, 4000 + static_cast<int>(ErrorCode::kSyncMalformedMessage));
    EXPECT_EQ(error_code_of(o), static_cast<int>(ErrorCode::kSyncMalformedMessage));
    expect_carries_on("after garbage");
}

TEST_F(SyncItBadInput, TruncatedFlatBufferGetsMalformedAndClose) {
    std::string frame = sync::encode_message(login(model_));
    for (size_t cut : {frame.size() / 2, frame.size() - 1, size_t{4}}) {
        SCOPED_TRACE(cut);
        auto c = raw();
        c->client.send(bytes(frame.substr(0, cut)));
        auto o = outcome(*c);
        EXPECT_EQ(o.close_code, 4000 + static_cast<int>(ErrorCode::kSyncMalformedMessage));
        EXPECT_EQ(error_code_of(o), static_cast<int>(ErrorCode::kSyncMalformedMessage));
    }
    expect_carries_on("after truncated frames");
}

TEST_F(SyncItBadInput, OversizedMessageClosedWithTooBig) {
    auto c = raw();
    c->client.send(std::vector<uint8_t>(sync::kDefaultMaxMessageSize + 1024, 0x5a));
    auto o = outcome(*c);
    EXPECT_EQ(o.close_code, net::kCloseTooBig);
    expect_carries_on("after an oversized message");
}

TEST_F(SyncItBadInput, TextFrameClosedWithUnsupportedData) {
    net::test::RawSocket s(net::test::port_of(server->url()));
    ASSERT_TRUE(s.connected());
    ASSERT_TRUE(s.websocket_handshake());
    ASSERT_TRUE(s.write_frame(0x1, "{\"hello\": 1}"));
    auto f = s.read_frame();
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->first, 0x8);  // close
    ASSERT_GE(f->second.size(), 2u);
    uint16_t code = static_cast<uint16_t>((static_cast<uint8_t>(f->second[0]) << 8) |
                                          static_cast<uint8_t>(f->second[1]));
    EXPECT_EQ(code, net::kCloseUnsupportedData);
    expect_carries_on("after a text frame");
}

TEST_F(SyncItBadInput, MessageBeforeLoginIsAProtocolViolation) {
    auto c = raw();
    c->client.send(bytes(sync::encode_message(sync::Push{1, {}})));
    auto o = outcome(*c);
    EXPECT_EQ(o.close_code, 4000 + static_cast<int>(ErrorCode::kSyncProtocolViolation));
    EXPECT_EQ(error_code_of(o), static_cast<int>(ErrorCode::kSyncProtocolViolation));
    expect_carries_on("after a push before login");
}

TEST_F(SyncItBadInput, WrongCredentialsAreRejected) {
    {
        auto c = raw();
        c->client.send(bytes(sync::encode_message(login(model_, "not the secret"))));
        auto o = outcome(*c);
        EXPECT_EQ(o.close_code, 4000 + static_cast<int>(ErrorCode::kAuthCredentialsRejected));
        EXPECT_EQ(error_code_of(o), static_cast<int>(ErrorCode::kAuthCredentialsRejected));
    }
    // Through the client API: the login failure listener and the wait report the code.
    auto bad = make_peer("bad", *server, true, "not the secret");
    Status st = bad->client->wait_until_up_to_date(kDeadline);
    EXPECT_EQ(st.code(), ErrorCode::kAuthCredentialsRejected) << st.to_string();
    ASSERT_TRUE(
        eventually([&] { return login_failures(*bad) >= 1; }, "the login failure listener"));
    {
        std::lock_guard lock(bad->mu);
        EXPECT_EQ(bad->login_failures.front().code, ErrorCode::kAuthCredentialsRejected);
    }
    expect_carries_on("after wrong credentials");
    EXPECT_EQ(count(*bad->store, "Person"), 0u) << "nothing reaches a rejected client";
}

TEST_F(SyncItBadInput, MismatchedModelIsRejected) {
    Model other = it_model(/*mismatch=*/true);
    {
        auto c = raw();
        c->client.send(bytes(sync::encode_message(login(other))));
        auto o = outcome(*c);
        EXPECT_EQ(o.close_code, 4000 + static_cast<int>(ErrorCode::kSyncUnsupportedModel));
        EXPECT_EQ(error_code_of(o), static_cast<int>(ErrorCode::kSyncUnsupportedModel));
    }
    Peer bad(dir_.sub("bad"), other, {server->url()});
    bad.client->start();
    Status st = bad.client->wait_until_up_to_date(kDeadline);
    EXPECT_EQ(st.code(), ErrorCode::kSyncUnsupportedModel) << st.to_string();
    ASSERT_TRUE(eventually([&] { return login_failures(bad) >= 1; }, "the login failure listener"));
    {
        std::lock_guard lock(bad.mu);
        EXPECT_EQ(bad.login_failures.front().code, ErrorCode::kSyncUnsupportedModel);
        EXPECT_NE(bad.login_failures.front().why.find("age"), std::string::npos)
            << bad.login_failures.front().why;
    }
    expect_carries_on("after a mismatched model");
}

// A push the server cannot apply (a value of the wrong type beside a good change) is refused whole:
// the pusher is closed with sync_malformed_message and nobody sees half of it.
TEST_F(SyncItBadInput, PushThatCannotBeAppliedIsRefusedWhole) {
    auto c = raw();
    c->client.send(bytes(sync::encode_message(login(model_))));
    ASSERT_TRUE(c->wait_messages(2));  // LoginResult and the full sync's last chunk
    const Entity& person = *model_.entity("Person");
    ObjectChange good;
    good.kind = ObjectChange::kPut;
    good.entity_uid = person.id.uid;
    good.gid = new_object_id_gid();
    good.is_new = true;
    good.properties.push_back({person.property("name")->id.uid, Value("half of a push")});
    ObjectChange bad = good;
    bad.gid = new_object_id_gid();
    bad.properties = {{person.property("age")->id.uid, Value("not a number")}};
    sync::Push push;
    push.client_txn = 1;
    push.changes.objects = {good, bad};
    c->client.send(bytes(sync::encode_message(push)));
    ASSERT_TRUE(c->wait_close());
    EXPECT_EQ(c->close_code, 4000 + static_cast<int>(ErrorCode::kSyncMalformedMessage));
    expect_carries_on("after a push that cannot be applied");
    EXPECT_FALSE(find(*a->store, "Person", good.gid).has_value());
    EXPECT_FALSE(find(*b->store, "Person", good.gid).has_value());
    a->stop_client();
    b->stop_client();
    ASSERT_EQ(server->stop(), 0);
    auto s = open_server_store(*server);
    EXPECT_FALSE(find(*s, "Person", good.gid).has_value());
    EXPECT_EQ(history_entries_by_origin(*s).count(sync::client_id_to_hex(login(model_).client_id)),
              0u);
}

TEST_F(SyncItBadInput, SecondLoginIsAProtocolViolation) {
    auto c = raw();
    c->client.send(bytes(sync::encode_message(login(model_))));
    ASSERT_TRUE(c->wait_messages(1));
    c->client.send(bytes(sync::encode_message(login(model_))));
    ASSERT_TRUE(c->wait_close());
    EXPECT_EQ(c->close_code, 4000 + static_cast<int>(ErrorCode::kSyncProtocolViolation));
    expect_carries_on("after a second login");
}

// A holder of the secret who knows another client's id can neither take over its session nor
// stop its writes: the login is refused before anything is done for the id (a later push of
// client_txn 2^64-2 would have made every later push of the victim look like a resend), and the
// victim's writes go on reaching the others.
TEST_F(SyncItBadInput, LoginWithAnotherClientsIdIsRefusedAndItsWritesGoOn) {
    std::string victim_id;
    {
        auto txn = a->store->begin_read();
        ASSERT_OK(txn);
        auto id = get_meta(*txn, "sync.client_id");
        ASSERT_OK(id);
        ASSERT_TRUE(id->has_value());
        victim_id = **id;
    }
    sync::Login hijack = login(model_);
    ASSERT_EQ(victim_id.size(), hijack.client_id.size());
    std::copy(victim_id.begin(), victim_id.end(), hijack.client_id.begin());
    // Up to date can be reported before the state listener hears of the login: wait for it, so
    // that the count below is the victim's settled one.
    ASSERT_TRUE(eventually(
        [&] {
            const auto states = a->state_list();
            return !states.empty() && states.back() == SyncState::kLoggedIn;
        },
        "the victim's login reported"));
    const size_t a_states = a->state_list().size();
    {
        auto c = raw();
        c->client.send(bytes(sync::encode_message(hijack)));
        ObjectChange c1;
        c1.entity_uid = model_.entity("Person")->id.uid;
        c1.gid = new_object_id_gid();
        c1.is_new = true;
        sync::Push push;
        push.client_txn = UINT64_MAX - 1;
        push.changes.objects = {c1};
        c->client.send(bytes(sync::encode_message(push)));
        auto o = outcome(*c);
        EXPECT_EQ(o.close_code, 4000 + static_cast<int>(ErrorCode::kAuthCredentialsRejected));
        EXPECT_EQ(error_code_of(o), static_cast<int>(ErrorCode::kAuthCredentialsRejected));
        ASSERT_TRUE(o.first.has_value());
        auto* r = std::get_if<sync::LoginResult>(&*o.first);
        ASSERT_NE(r, nullptr);
        EXPECT_NE(r->message.find("bound to another key"), std::string::npos) << r->message;
    }
    // The victim's session was not dropped, and its writes still arrive.
    expect_carries_on("after a login with another client's id");
    EXPECT_EQ(a->state_list().size(), a_states) << "the victim's connection was not touched";
    const uint64_t id = put(*a->store, "Person", {{"name", "written after the hijack attempt"}});
    const Gid g = *gid(*a->store, "Person", id);
    ASSERT_TRUE(a->wait_synced());
    ASSERT_TRUE(eventually([&] { return find(*b->store, "Person", g).has_value(); },
                           "the victim's write at the other client"));
    // A new connection of the victim (its id and key) is accepted as before.
    a->stop_client();
    a->make_client({server->url()});
    a->client->start();
    put(*a->store, "Person", {{"name", "after reconnecting"}});
    ASSERT_TRUE(a->wait_synced());
    EXPECT_TRUE(still_syncing(*a, *b, "victim reconnected"));
}

// --- Many clients --------------------------------------------------------------------------------

}  // namespace
}  // namespace outpost::it
