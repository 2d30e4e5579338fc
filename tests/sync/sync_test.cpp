// One server, several clients, in memory: what reaches whom, exactly once, and who wins.
#include <gtest/gtest.h>

#include <initializer_list>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/status_macros.hpp"
#include "sync/sync_harness.hpp"

namespace outpost::sync {
namespace {

using testing::count;
using testing::find;
using testing::gid;
using testing::put;
using testing::SyncNet;
using testing::TestClient;

bool up(SyncNet& net) { return net.all_up_to_date(); }

// Pumps until every connected client is up to date.
bool settle(SyncNet& net) {
    return net.pump_until([&] { return up(net); });
}

// Client NAME, connected.
TestClient& join(SyncNet& net, const std::string& name) {
    TestClient& c = net.add_client(name);
    net.connect(c);
    return c;
}

// The stores of CLIENTS and the server's: every replica that must agree.
std::vector<Store*> replicas(SyncNet& net, std::initializer_list<TestClient*> clients) {
    std::vector<Store*> out;
    for (TestClient* c : clients) out.push_back(c->store.get());
    out.push_back(&net.server_store());
    return out;
}

// An object that A wrote and B received, by GID and by each one's local id.
struct Shared {
    Gid gid;
    uint64_t on_a = 0;
    uint64_t on_b = 0;
};

// A puts VALUES into ENTITY; the net runs until everyone is up to date and B has the object.
// nullopt when that does not happen.
std::optional<Shared> share(SyncNet& net, TestClient& a, TestClient& b, const char* entity,
                            const std::map<std::string, Value>& values) {
    Shared s;
    s.on_a = put(*a.store, entity, values);
    s.gid = *gid(*a.store, entity, s.on_a);
    if (!net.pump_until([&] { return up(net) && find(*b.store, entity, s.gid).has_value(); })) {
        return std::nullopt;
    }
    s.on_b = find(*b.store, entity, s.gid)->id;
    return s;
}

// FIRST comes back online and gets up to date before SECOND does; then every frame is delivered.
::testing::AssertionResult arrive_in_order(SyncNet& net, TestClient& first, TestClient& second) {
    net.connect(first);
    if (!settle(net)) return ::testing::AssertionFailure() << first.name << " did not settle";
    net.connect(second);
    if (!settle(net)) return ::testing::AssertionFailure() << second.name << " did not settle";
    net.pump_all();
    return ::testing::AssertionSuccess();
}

// Doc, whose "clock" property is a syncClock: the put with the higher clock wins.
Model clock_model() {
    ModelBuilder mb;
    mb.entity("Doc")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("title", PropertyType::kString)
        .property("body", PropertyType::kString)
        .property("clock", PropertyType::kInt64, kFlagSyncClock);
    return mb.build().value();
}

// TXNS transactions of PER_TXN Persons named p0, p1, ... on C.
Status put_people(TestClient& c, int txns, int per_txn) {
    auto box = c.box("Person");
    for (int t = 0; t < txns; ++t) {
        Status st = c.store->write([&](WriteTxn& txn) {
            for (int i = 0; i < per_txn; ++i) {
                Object o = box.new_object();
                OUTPOST_RETURN_IF_ERROR(o.set("name", "p" + std::to_string(t * per_txn + i)));
                OUTPOST_RETURN_IF_ERROR(box.put(txn, o).status());
            }
            return Status::ok();
        });
        if (!st) return st;
    }
    return Status::ok();
}

// The distinct Person names on STORE.
std::set<std::string> person_names(Store& store) {
    std::set<std::string> names;
    auto txn = store.begin_read();
    auto all = store.box("Person").value().get_all(*txn);
    EXPECT_OK(all);
    if (!all.is_ok()) return names;
    for (const auto& o : *all) names.insert(o.get("name").as<std::string>());
    return names;
}

TEST(Sync, PutArrivesAndRemoveComesBack) {
    SyncNet net;
    auto& a = join(net, "a");
    auto& b = join(net, "b");
    uint64_t id = put(*a.store, "Person", {{"name", "Ada"}, {"age", 36}});
    Gid g = *gid(*a.store, "Person", id);
    ASSERT_TRUE(net.pump_until([&] { return find(*b.store, "Person", g).has_value(); }));
    auto got = find(*b.store, "Person", g);
    EXPECT_EQ(got->get("name"), Value("Ada"));
    EXPECT_EQ(got->get("age"), Value(36));
    ASSERT_TRUE(settle(net));
    EXPECT_EQ(a.core->outgoing_queue_length(), 0u);

    ASSERT_OK(b.box("Person").remove(got->id));
    ASSERT_TRUE(net.pump_until([&] { return !find(*a.store, "Person", g).has_value(); }));
    EXPECT_FALSE(find(net.server_store(), "Person", g).has_value());
    ASSERT_TRUE(settle(net));
}

TEST(Sync, RelationsAndEveryPropertyTypeArrive) {
    SyncNet net;
    auto& a = join(net, "a");
    auto& b = join(net, "b");
    ASSERT_TRUE(settle(net));

    std::map<std::string, Value> all = {
        {"b", true},
        {"i8", int64_t{-8}},
        {"i16", int64_t{-1600}},
        {"i32", int64_t{-320000}},
        {"i64", int64_t{-(1ll << 40)}},
        {"f", 1.5},
        {"d", 3.25},
        {"s", "text ü"},
        {"date", int64_t{1700000000000}},
        {"dateNano", int64_t{1700000000000000001}},
        {"bytes", Bytes{0, 1, 2, 255}},
        {"flex", Flex(Flex::Map{{"k", Flex(Flex::Array{Flex(1), Flex("two"), Flex(nullptr)})}})},
        {"i8v", Value::IntVector{-1, 2}},
        {"i16v", Value::IntVector{-300, 300}},
        {"i32v", Value::IntVector{1, 2, 3}},
        {"i64v", Value::IntVector{1ll << 50}},
        {"fv", Value::DoubleVector{0.5, -0.25}},
        {"dv", Value::DoubleVector{1e100}},
        {"sv", Value::StringVector{"x", "", "z"}},
        {"datev", Value::IntVector{1, 2}},
    };
    uint64_t kid = put(*a.store, "Kitchen", all);
    uint64_t p1 = put(*a.store, "Person", {{"name", "reader one"}});
    uint64_t p2 = put(*a.store, "Person", {{"name", "reader two"}});
    uint64_t note_id = 0;
    {
        auto box = a.box("Note");
        Object n = box.new_object();
        ASSERT_OK(n.set("text", "hello"));
        ASSERT_OK(n.set("author", static_cast<int64_t>(p1)));
        ASSERT_OK(n.set_to_many("readers", {p2, p1}));
        auto r = box.put(n);
        ASSERT_OK(r);
        note_id = *r;
    }
    Gid kg = *gid(*a.store, "Kitchen", kid);
    Gid ng = *gid(*a.store, "Note", note_id);
    ASSERT_TRUE(net.pump_until([&] { return up(net) && find(*b.store, "Note", ng).has_value(); }));

    auto k = find(*b.store, "Kitchen", kg);
    ASSERT_TRUE(k.has_value());
    for (const auto& [name, v] : all) EXPECT_EQ(k->get(name), v) << name;

    auto n = find(*b.store, "Note", ng);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(n->get("text"), Value("hello"));
    // The to-one and the to-many resolve to B's local objects with the same GIDs.
    auto author = b.box("Person").get(static_cast<uint64_t>(n->get("author").as<int64_t>()));
    ASSERT_OK(author);
    ASSERT_TRUE(author->has_value());
    EXPECT_EQ((*author)->get("name"), Value("reader one"));
    const auto& readers = n->get_to_many("readers");
    ASSERT_EQ(readers.size(), 2u);
    EXPECT_EQ(*gid(*b.store, "Person", readers[0]), *gid(*a.store, "Person", p2));
    EXPECT_EQ(*gid(*b.store, "Person", readers[1]), *gid(*a.store, "Person", p1));
}

TEST(Sync, OfflineEditsOfDifferentPropertiesBothSurvive) {
    SyncNet net;
    auto& a = join(net, "a");
    auto& b = join(net, "b");
    auto shared = share(net, a, b, "Person", {{"name", "Ada"}, {"age", 1}, {"email", "old"}});
    ASSERT_TRUE(shared);

    net.cut(a);
    net.cut(b);
    put(*a.store, "Person", {{"age", 2}}, shared->on_a);
    put(*b.store, "Person", {{"email", "new@b"}}, shared->on_b);
    net.connect(b);
    net.connect(a);
    ASSERT_TRUE(settle(net));
    net.pump_all();
    for (Store* s : replicas(net, {&a, &b})) {
        auto o = find(*s, "Person", shared->gid);
        ASSERT_TRUE(o.has_value());
        EXPECT_EQ(o->get("age"), Value(2));
        EXPECT_EQ(o->get("email"), Value("new@b"));
        EXPECT_EQ(o->get("name"), Value("Ada"));
    }
}

TEST(Sync, SamePropertyLaterArrivalWinsEverywhere) {
    SyncNet net;
    auto& a = join(net, "a");
    auto& b = join(net, "b");
    auto shared = share(net, a, b, "Person", {{"name", "start"}});
    ASSERT_TRUE(shared);

    net.cut(a);
    net.cut(b);
    put(*a.store, "Person", {{"name", "from a"}}, shared->on_a);
    put(*b.store, "Person", {{"name", "from b"}}, shared->on_b);
    // A arrives first, B later: B's value wins, also on A and on B (which saw A's value come in
    // while its own edit was still pending).
    ASSERT_TRUE(arrive_in_order(net, a, b));
    for (Store* s : replicas(net, {&a, &b})) {
        EXPECT_EQ(find(*s, "Person", shared->gid)->get("name"), Value("from b"));
    }
}

// An entity with a syncClock property: the higher clock wins, whatever the arrival order; without a
// clock change arrival order still decides.
TEST(Sync, HigherSyncClockWinsOverLaterArrival) {
    SyncNet net(clock_model());
    auto& a = join(net, "a");
    auto& b = join(net, "b");
    auto shared = share(net, a, b, "Doc", {{"title", "t0"}, {"clock", int64_t{1}}});
    ASSERT_TRUE(shared);
    const Gid g = shared->gid;

    net.cut(a);
    net.cut(b);
    // A edits with the newer clock but arrives first; B's older edit arrives later and loses,
    // also its body (the whole put is older than the stored state).
    put(*a.store, "Doc", {{"title", "from a"}, {"clock", int64_t{30}}}, shared->on_a);
    put(*b.store, "Doc", {{"title", "from b"}, {"body", "b's body"}, {"clock", int64_t{20}}},
        shared->on_b);
    ASSERT_TRUE(arrive_in_order(net, a, b));
    for (Store* s : replicas(net, {&a, &b})) {
        auto doc = find(*s, "Doc", g);
        ASSERT_TRUE(doc.has_value());
        EXPECT_EQ(doc->get("title"), Value("from a"));
        EXPECT_EQ(doc->get("clock"), Value(int64_t{30}));
        EXPECT_TRUE(doc->get("body").is_null());
    }

    // A put that leaves the clock alone: arrival order decides.
    put(*b.store, "Doc", {{"body", "later"}}, shared->on_b);
    ASSERT_TRUE(settle(net));
    net.pump_all();
    for (Store* s : replicas(net, {&a, &b})) {
        EXPECT_EQ(find(*s, "Doc", g)->get("body"), Value("later"));
    }
}

TEST(Sync, CorrectionsOfAPushWhoseAckWasLostComeWithTheNextLogin) {
    SyncNet net(clock_model());
    auto& a = join(net, "a");
    auto& b = join(net, "b");
    auto shared = share(net, a, b, "Doc", {{"title", "t0"}, {"clock", int64_t{1}}});
    ASSERT_TRUE(shared);
    const Gid g = shared->gid;
    net.cut(b);
    put(*a.store, "Doc", {{"title", "from a"}, {"clock", int64_t{30}}}, shared->on_a);
    ASSERT_TRUE(settle(net));
    // B's older edit loses on the clock, and the Ack that carries the correction is lost.
    put(*b.store, "Doc", {{"title", "from b"}, {"body", "b's body"}, {"clock", int64_t{20}}},
        shared->on_b);
    b.drop_acks = true;
    net.connect(b);
    net.pump_all();
    ASSERT_TRUE(b.closed);
    EXPECT_EQ(find(*b.store, "Doc", g)->get("title"), Value("from b"));  // still pending here
    net.connect(b);
    ASSERT_TRUE(settle(net));
    net.pump_all();
    EXPECT_EQ(b.core->outgoing_queue_length(), 0u);
    for (Store* s : replicas(net, {&a, &b})) {
        auto doc = find(*s, "Doc", g);
        ASSERT_TRUE(doc.has_value());
        EXPECT_EQ(doc->get("title"), Value("from a")) << s->dir();
        EXPECT_EQ(doc->get("clock"), Value(int64_t{30})) << s->dir();
        EXPECT_TRUE(doc->get("body").is_null()) << s->dir();
    }
    // Once the client has logged in past it, the server no longer keeps the correction.
    net.cut(b);
    net.connect(b);
    ASSERT_TRUE(settle(net));
    put(*b.store, "Doc", {{"body", "later"}}, shared->on_b);
    ASSERT_TRUE(settle(net));
    auto txn = net.server_store().begin_read();
    EXPECT_FALSE(
        get_meta(*txn, "sync.corrections." + client_id_to_hex(b.core->client_id()))->has_value());
}

// Which of two concurrent, conflicting offline edits reaches the server first: the delete
// (DeleteFirst) or the other client's edit (DeleteLast). The delete wins either way.
class SyncDeleteRace : public ::testing::TestWithParam<bool> {
  protected:
    bool delete_first() const { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Sync, SyncDeleteRace, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                             return std::string(p.param ? "DeleteFirst" : "DeleteLast");
                         });

TEST_P(SyncDeleteRace, DeleteBeatsConcurrentUpdate) {
    SyncNet net;
    auto& a = join(net, "a");
    auto& b = join(net, "b");
    auto& c = join(net, "c");
    auto shared = share(net, a, b, "Person", {{"name", "doomed"}});
    ASSERT_TRUE(shared);

    net.cut(a);
    net.cut(b);
    ASSERT_OK(a.box("Person").remove(shared->on_a));
    put(*b.store, "Person", {{"name", "updated"}, {"age", 5}}, shared->on_b);
    ASSERT_TRUE(delete_first() ? arrive_in_order(net, a, b) : arrive_in_order(net, b, a));
    for (Store* s : replicas(net, {&a, &b, &c})) {
        EXPECT_FALSE(find(*s, "Person", shared->gid).has_value()) << s->dir();
    }
}

TEST_P(SyncDeleteRace, DeleteClearsConcurrentReferencesToTheDeletedObject) {
    SyncNet net;
    auto& a = join(net, "a");
    auto& b = join(net, "b");
    auto& c = join(net, "c");
    uint64_t target = put(*a.store, "Person", {{"name", "target"}});
    uint64_t kept = put(*a.store, "Person", {{"name", "kept"}});
    uint64_t note = put(*a.store, "Note", {{"text", "n"}});
    Gid gt = *gid(*a.store, "Person", target);
    Gid gk = *gid(*a.store, "Person", kept);
    Gid gn = *gid(*a.store, "Note", note);
    ASSERT_TRUE(net.pump_until([&] { return up(net) && find(*b.store, "Person", gt); }));

    net.cut(a);
    net.cut(b);
    {
        // A points the note at the target (to-one and to-many); B removes the target.
        auto box = a.box("Note");
        Object n = **box.get(note);
        ASSERT_OK(n.set("author", static_cast<int64_t>(target)));
        ASSERT_OK(n.set_to_many("readers", {kept, target}));
        ASSERT_OK(box.put(n));
    }
    ASSERT_OK(b.box("Person").remove(find(*b.store, "Person", gt)->id));
    ASSERT_TRUE(delete_first() ? arrive_in_order(net, b, a) : arrive_in_order(net, a, b));
    for (Store* s : replicas(net, {&a, &b, &c})) {
        EXPECT_FALSE(find(*s, "Person", gt).has_value());
        auto n = find(*s, "Note", gn);
        ASSERT_TRUE(n.has_value());
        EXPECT_TRUE(n->get("author").is_null()) << s->dir();
        const auto& readers = n->get_to_many("readers");
        ASSERT_EQ(readers.size(), 1u) << s->dir();
        EXPECT_EQ(*gid(*s, "Person", readers[0]), gk);
    }
}

TEST(Sync, ThousandOfflineObjectsArriveOnce) {
    SyncNet net;
    auto& a = net.add_client("a");
    auto& b = join(net, "b");
    ASSERT_TRUE(settle(net));
    // 1,000 objects in 100 transactions, written offline.
    ASSERT_OK(put_people(a, 100, 10));
    EXPECT_EQ(a.core->outgoing_queue_length(), 100u);
    bool fired = false;
    a.core->on_up_to_date([&] { fired = true; });
    net.connect(a);
    ASSERT_TRUE(net.pump_until([&] { return up(net) && count(*b.store, "Person") == 1000; }));
    net.pump_all();
    EXPECT_TRUE(fired);
    EXPECT_EQ(count(net.server_store(), "Person"), 1000u);
    EXPECT_EQ(count(*b.store, "Person"), 1000u);
    EXPECT_EQ(count(*a.store, "Person"), 1000u);
    EXPECT_EQ(a.core->outgoing_queue_length(), 0u);
    EXPECT_EQ(net.server().stats().pushes_applied, 100u);
    EXPECT_EQ(b.received["Apply"], 100);
    EXPECT_EQ(person_names(*b.store).size(), 1000u);  // every name exactly once on B
}

TEST(Sync, QueuedPushesShareCommitsAndArriveOnce) {
    SyncNet net;
    net.set_grouped(true);
    auto& a = net.add_client("a");
    auto& b = join(net, "b");
    ASSERT_TRUE(settle(net));
    ASSERT_OK(put_people(a, 100, 10));
    net.connect(a);
    ASSERT_TRUE(net.pump_until([&] { return up(net) && count(*b.store, "Person") == 1000; }));
    net.pump_all();
    EXPECT_EQ(a.core->outgoing_queue_length(), 0u);
    EXPECT_EQ(net.server().stats().pushes_applied, 100u);
    EXPECT_EQ(a.received["Ack"], 100);
    // Pipelined pushes that reach the server together share a commit: fewer history records.
    auto txn = net.server_store().begin_read();
    uint64_t records = *ChangeLog::last_position(*txn);
    EXPECT_LT(records, 100u);
    EXPECT_EQ(static_cast<uint64_t>(b.received["Apply"]), records);
    EXPECT_EQ(a.core->server_seq(), records);
    for (Store* s : replicas(net, {&a, &b})) {
        EXPECT_EQ(count(*s, "Person"), 1000u);
    }
    EXPECT_EQ(person_names(*b.store).size(), 1000u);
}

TEST(Sync, LostAckDoesNotApplyTwiceNorHideLaterChanges) {
    SyncNet net;
    auto& a = join(net, "a");
    auto& b = join(net, "b");
    ASSERT_TRUE(settle(net));
    a.drop_acks = true;  // the server applies both pushes; the connection dies before A hears
    uint64_t first = put(*a.store, "Person", {{"name", "once"}, {"age", 1}});
    put(*a.store, "Person", {{"name", "twice?"}, {"age", 2}});
    net.pump_all();
    EXPECT_TRUE(a.closed);
    EXPECT_EQ(net.server().stats().pushes_applied, 2u);
    EXPECT_EQ(a.core->outgoing_queue_length(), 2u);
    // Someone else changes the first object meanwhile: A's pending copy of it must not hide that.
    Gid g = *gid(*a.store, "Person", first);
    ASSERT_TRUE(net.pump_until([&] { return count(*b.store, "Person") == 2; }));
    put(*b.store, "Person", {{"name", "changed by b"}}, find(*b.store, "Person", g)->id);
    ASSERT_TRUE(settle(net));
    net.connect(a);
    ASSERT_TRUE(settle(net));
    net.pump_all();
    EXPECT_EQ(net.server().stats().pushes_applied, 3u);
    EXPECT_EQ(a.core->outgoing_queue_length(), 0u);
    for (Store* s : replicas(net, {&a, &b})) {
        EXPECT_EQ(count(*s, "Person"), 2u);
        EXPECT_EQ(find(*s, "Person", g)->get("name"), Value("changed by b"));
    }
    auto txn = net.server_store().begin_read();
    EXPECT_EQ(*ChangeLog::last_position(*txn), 3u);
}

TEST(Sync, ClientResumesFromItsSequenceAfterReconnect) {
    SyncNet net;
    auto& a = join(net, "a");
    auto& b = join(net, "b");
    put(*a.store, "Person", {{"name", "1"}});
    ASSERT_TRUE(net.pump_until([&] { return up(net) && count(*b.store, "Person") == 1; }));
    net.cut(b);
    put(*a.store, "Person", {{"name", "2"}});
    put(*a.store, "Person", {{"name", "3"}});
    ASSERT_TRUE(settle(net));
    int applies = b.received["Apply"];
    net.connect(b);
    ASSERT_TRUE(settle(net));
    EXPECT_EQ(b.received["Apply"], applies + 2);
    EXPECT_EQ(net.server().stats().catch_ups, 1u);
    EXPECT_EQ(count(*b.store, "Person"), 3u);
    EXPECT_EQ(b.core->server_seq(), 3u);
}

TEST(Sync, RestartedClientKeepsItsIdentityAndPosition) {
    SyncNet net;
    auto& a = join(net, "a");
    auto& b = join(net, "b");
    put(*a.store, "Person", {{"name", "1"}});
    ASSERT_TRUE(net.pump_until([&] { return up(net) && count(*b.store, "Person") == 1; }));
    ClientId id = b.core->client_id();
    uint64_t seq = b.core->server_seq();
    net.restart(b);
    EXPECT_EQ(b.core->client_id(), id);
    EXPECT_EQ(b.core->server_seq(), seq);
    put(*b.store, "Person", {{"name", "offline after restart"}});
    put(*a.store, "Person", {{"name", "2"}});
    net.connect(b);
    ASSERT_TRUE(net.pump_until([&] { return up(net) && count(*a.store, "Person") == 3; }));
    net.pump_all();
    EXPECT_EQ(count(*b.store, "Person"), 3u);
    EXPECT_EQ(net.server().stats().full_syncs, 2u);  // a's and b's first logins only
    EXPECT_EQ(net.server().stats().catch_ups, 1u);
}

TEST(Sync, NewerConnectionOfAClientReplacesTheOlder) {
    SyncNet net;
    auto& a = join(net, "a");
    ASSERT_TRUE(settle(net));
    auto stale = a.pipe;
    auto stale_session = a.session;
    net.connect(a);  // the client gave up on the old socket; the server has not noticed yet
    ASSERT_TRUE(settle(net));
    auto item = stale->next_for(MemoryPipe::kClient);
    ASSERT_TRUE(item.has_value());
    EXPECT_TRUE(item->is_close);
    net.server().on_disconnect(stale_session);
    EXPECT_EQ(net.server().stats().logged_in, 1u);
    put(*a.store, "Person", {{"name", "still syncing"}});
    ASSERT_TRUE(
        net.pump_until([&] { return up(net) && count(net.server_store(), "Person") == 1; }));
}

TEST(Sync, ClientHeartbeatIsAnswered) {
    SyncNet net;
    auto& a = join(net, "a");
    ASSERT_TRUE(settle(net));
    a.core->send_heartbeat();
    ASSERT_TRUE(net.pump_until([&] { return a.received["Heartbeat"] == 1; }));
    EXPECT_EQ(a.core->state(), ClientState::kLoggedIn);
}

TEST(Sync, OlderModelGetsOnlyWhatItKnows) {
    SyncNet net;
    Model older = testing::sync_model({.nick = false});  // Person without "nick"
    auto& a = net.add_client("a");
    auto& old = net.add_client("old", &older);
    net.connect(a);
    net.connect(old);
    uint64_t id = put(*a.store, "Person", {{"name", "n"}, {"nick", "secret nick"}});
    Gid g = *gid(*a.store, "Person", id);
    ASSERT_TRUE(
        net.pump_until([&] { return up(net) && find(*old.store, "Person", g).has_value(); }));
    EXPECT_EQ(find(*old.store, "Person", g)->get("name"), Value("n"));
    // The old client's edit leaves the property it does not know alone.
    put(*old.store, "Person", {{"name", "renamed"}}, find(*old.store, "Person", g)->id);
    ASSERT_TRUE(net.pump_until(
        [&] { return up(net) && find(*a.store, "Person", g)->get("name") == Value("renamed"); }));
    EXPECT_EQ(find(*a.store, "Person", g)->get("nick"), Value("secret nick"));
    EXPECT_EQ(find(net.server_store(), "Person", g)->get("nick"), Value("secret nick"));
}

TEST(Sync, LocalOnlyEntitiesStayLocal) {
    SyncNet net;
    auto& a = join(net, "a");
    put(*a.store, "Draft", {{"text", "private"}});
    put(*a.store, "Person", {{"name", "public"}});
    ASSERT_TRUE(
        net.pump_until([&] { return up(net) && count(net.server_store(), "Person") == 1; }));
    EXPECT_EQ(count(net.server_store(), "Draft"), 0u);
}

}  // namespace
}  // namespace outpost::sync

namespace outpost::sync {
namespace {

using Snapshot = std::map<std::string, std::string>;  // readable GID -> readable values

std::string text(const Value& v) {
    if (v.is_null()) return "null";
    if (v.is<int64_t>()) return std::to_string(v.as<int64_t>());
    if (v.is<std::string>()) return v.as<std::string>();
    return "?";
}

// The first few differences between two snapshots, for a readable failure.
std::string diff(const Snapshot& a, const Snapshot& b) {
    std::string out;
    int n = 0;
    for (const auto& [k, v] : a) {
        auto it = b.find(k);
        if (it == b.end()) {
            out += " only-left " + k + "=" + v;
        } else if (it->second != v) {
            out += " " + k + ": " + v + " vs " + it->second;
        } else {
            continue;
        }
        if (++n > 5) return out;
    }
    for (const auto& [k, v] : b) {
        if (!a.count(k)) out += " only-right " + k + "=" + v;
        if (++n > 10) break;
    }
    return out;
}

Snapshot snapshot(Store& store) {
    Snapshot out;
    auto box = store.box("Person").value();
    auto txn = store.begin_read();
    auto all = box.get_all(*txn);
    EXPECT_OK(all);
    for (const auto& o : *all) {
        auto g = gid_of(*txn, box, o.id);
        EXPECT_TRUE(g.is_ok() && g->has_value());
        out[gid_to_string(**g)] =
            text(o.get("name")) + "|" + text(o.get("age")) + "|" + text(o.get("email"));
    }
    return out;
}

void random_edits_converge(bool grouped) {
    for (uint32_t seed : {1u, 2u, 3u, 4u, 5u, 6u}) {
        std::mt19937 rng(seed);
        ServerOptions o = SyncNet::default_options();
        o.history_max_records = 40;  // small: some reconnects need a full sync
        SyncNet net(testing::sync_model(), o);
        net.set_grouped(grouped);
        std::vector<TestClient*> clients;
        for (int i = 0; i < 4; ++i) {
            clients.push_back(&net.add_client("c" + std::to_string(i)));
            net.connect(*clients.back());
        }
        const char* props[] = {"name", "age", "email"};
        for (int step = 0; step < 400; ++step) {
            TestClient& c = *clients[rng() % clients.size()];
            auto box = c.box("Person");
            std::vector<uint64_t> ids;
            {
                auto txn = c.store->begin_read();
                ids = box.ids(*txn).value();
            }
            int op = static_cast<int>(rng() % 10);
            if (op < 3 || ids.empty()) {
                put(*c.store, "Person", {{"name", "n" + std::to_string(step)}, {"age", step}});
            } else if (op < 7) {
                uint64_t id = ids[rng() % ids.size()];
                const char* p = props[rng() % 3];
                Value v = std::string(p) == "age" ? Value(int64_t{step})
                                                  : Value(std::string(p) + std::to_string(step));
                put(*c.store, "Person", {{p, v}}, id);
            } else if (op < 8) {
                ASSERT_OK(box.remove(ids[rng() % ids.size()]));
            } else if (op < 9) {
                if (c.pipe) {
                    net.cut(c);
                } else {
                    c.drop_acks = false;
                    net.connect(c);
                }
            } else if (c.pipe) {
                c.drop_acks = true;  // Acks are lost until the connection is cut (a dying link)
            }
            // Deliver a little, not everything: replicas drift apart in between.
            for (int k = static_cast<int>(rng() % 3); k > 0; --k) net.pump_once();
        }
        for (auto* c : clients) {
            if (c->drop_acks) net.cut(*c);
            c->drop_acks = false;
            if (!c->pipe) net.connect(*c);
        }
        ASSERT_TRUE(net.pump_until([&] { return net.all_up_to_date(); })) << "seed " << seed;
        net.pump_all();
        Snapshot server = snapshot(net.server_store());
        EXPECT_FALSE(server.empty());
        for (auto* c : clients) {
            Snapshot mine = snapshot(*c->store);
            EXPECT_TRUE(mine == server) << c->name << " seed " << seed << ":" << diff(mine, server);
        }
    }
}

TEST(Sync, RandomEditsRemovesAndCutsConverge) { random_edits_converge(false); }

// The same with every queued frame handed over at once: pushes share commits, Acks share writes.
TEST(Sync, RandomEditsRemovesAndCutsConvergeWithGroupedDelivery) { random_edits_converge(true); }

// A trim limit (the MongoDB connector's outbound position) keeps history the bounds would drop.
}  // namespace
}  // namespace outpost::sync
