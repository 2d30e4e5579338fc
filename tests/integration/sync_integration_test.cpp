// Sync end to end: a real outpost-server process on a free loopback port, clients as in-process
// SyncClients over real stores. What one app writes reaches the others whole and exactly once,
// conflicts resolve the same on every replica, and bad input is answered with its code while the
// server and the other clients carry on.
#include <gtest/gtest.h>

#include "common/status_macros.hpp"
#include "integration/sync_it_support.hpp"
#include "net/net_test_util.hpp"
#include "sync/protocol.hpp"

namespace outpost::it {
namespace {

std::vector<int64_t> iota(int64_t first, int64_t count) {
    std::vector<int64_t> v(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) v[static_cast<size_t>(i)] = first + i;
    return v;
}

TEST_F(SyncIt, PutArrivesAndRemoveComesBack) {
    auto server = make_server();
    ASSERT_TRUE(server->start());
    auto a = make_peer("a", *server);
    auto b = make_peer("b", *server);
    ASSERT_TRUE(a->wait_synced());
    ASSERT_TRUE(b->wait_synced());

    uint64_t id = put(*a->store, "Person", {{"name", "Ada"}, {"age", 36}, {"email", "ada@x"}});
    Gid g = *gid(*a->store, "Person", id);
    ASSERT_TRUE(
        eventually([&] { return find(*b->store, "Person", g).has_value(); }, "B gets A's put"));
    EXPECT_EQ(canonical(*b->store, "Person", g), canonical(*a->store, "Person", g));
    {
        std::lock_guard lock(b->mu);
        EXPECT_EQ(b->incoming_puts, 1u);
    }

    uint64_t idb = find(*b->store, "Person", g)->id;
    ASSERT_OK(b->box("Person").remove(idb));
    ASSERT_TRUE(
        eventually([&] { return !find(*a->store, "Person", g).has_value(); }, "A sees B's remove"));
    {
        std::lock_guard lock(a->mu);
        EXPECT_EQ(a->incoming_removes, 1u);
    }
    ASSERT_TRUE(a->wait_synced());
    ASSERT_TRUE(b->wait_synced());
    EXPECT_EQ(a->client->outgoing_queue_length(), 0u);
    EXPECT_EQ(b->client->outgoing_queue_length(), 0u);

    a->stop_client();
    b->stop_client();
    ASSERT_EQ(server->stop(), 0) << server->log();
    auto s = open_server_store(*server);
    EXPECT_FALSE(find(*s, "Person", g).has_value());
    EXPECT_EQ(count(*s, "Person"), 0u);
}

TEST_F(SyncIt, RelationsAndEveryPropertyTypeCrossTheWire) {
    auto server = make_server();
    ASSERT_TRUE(server->start());
    auto a = make_peer("a", *server);
    auto b = make_peer("b", *server);
    ASSERT_TRUE(a->wait_synced());
    ASSERT_TRUE(b->wait_synced());

    uint64_t p1 = put(*a->store, "Person", {{"name", "reader one"}, {"age", 1}});
    uint64_t p2 = put(*a->store, "Person", {{"name", "reader two"}, {"age", 2}});
    std::map<std::string, Value> all = {
        {"b", true},
        {"i8", int64_t{-8}},
        {"i16", int64_t{-1600}},
        {"i32", int64_t{-320000}},
        {"i64", int64_t{-(1ll << 40)}},
        {"f", 1.5},
        {"d", 3.25},
        {"s", "text ü \xe2\x82\xac"},
        {"date", int64_t{1700000000000}},
        {"dateNano", int64_t{1700000000000000001}},
        {"bytes", Bytes{0, 1, 2, 255}},
        {"flex", Flex(Flex::Map{{"k", Flex(Flex::Array{Flex(int64_t{1}), Flex("two"), Flex(nullptr),
                                                       Flex(2.5), Flex(true)})}})},
        {"i8v", Value::IntVector{-1, 2}},
        {"i16v", Value::IntVector{-300, 300}},
        {"i32v", Value::IntVector{1, 2, 3}},
        {"i64v", Value::IntVector{1ll << 50}},
        {"fv", Value::DoubleVector{0.5, -0.25}},
        {"dv", Value::DoubleVector{1e100}},
        {"sv", Value::StringVector{"x", "", "z"}},
        {"datev", Value::IntVector{1, 2}},
        {"owner", static_cast<int64_t>(p1)},
    };
    uint64_t kid = 0;
    {
        auto box = a->box("Kitchen");
        Object k = box.new_object();
        for (const auto& [name, v] : all) ASSERT_OK(k.set(name, v)) << name;
        ASSERT_OK(k.set_to_many("guests", {p2, p1, p2}));  // order and duplicates
        auto r = box.put(k);
        ASSERT_OK(r);
        kid = *r;
    }
    uint64_t nid = 0;
    {
        auto box = a->box("Note");
        Object n = box.new_object();
        ASSERT_OK(n.set("text", "hello"));
        ASSERT_OK(n.set("author", static_cast<int64_t>(p2)));
        ASSERT_OK(n.set_to_many("readers", {p1, p2}));
        auto r = box.put(n);
        ASSERT_OK(r);
        nid = *r;
    }
    const std::vector<std::pair<const char*, Gid>> objects = {
        {"Person", *gid(*a->store, "Person", p1)},
        {"Person", *gid(*a->store, "Person", p2)},
        {"Kitchen", *gid(*a->store, "Kitchen", kid)},
        {"Note", *gid(*a->store, "Note", nid)},
    };
    auto same_on = [&](Peer& p) {
        for (const auto& [entity, g] : objects) {
            if (canonical(*p.store, entity, g) != canonical(*a->store, entity, g)) return false;
        }
        return true;
    };
    ASSERT_TRUE(eventually([&] { return same_on(*b); }, "B holds A's objects"));
    for (const auto& [entity, g] : objects) {
        EXPECT_EQ(canonical(*b->store, entity, g), canonical(*a->store, entity, g)) << entity;
    }
    // The values themselves, not only their agreement.
    auto k = find(*b->store, "Kitchen", objects[2].second);
    ASSERT_TRUE(k.has_value());
    for (const auto& [name, v] : all) {
        if (name != "owner") {
            EXPECT_TRUE(k->get(name) == v) << name;
        }
    }
    EXPECT_EQ(*gid(*b->store, "Person", static_cast<uint64_t>(k->get("owner").as<int64_t>())),
              objects[0].second);
    ASSERT_EQ(k->get_to_many("guests").size(), 3u);

    // Edits on B come back to A: a to-many reorder, a flex and a vector change, a to-one cleared.
    {
        uint64_t bk = k->id;
        auto box = b->box("Kitchen");
        Object edit = *k;
        auto guests = edit.get_to_many("guests");
        std::reverse(guests.begin(), guests.end());
        guests.pop_back();
        ASSERT_OK(edit.set_to_many("guests", guests));
        ASSERT_OK(edit.set("flex", Flex(Flex::Array{Flex("replaced")})));
        ASSERT_OK(edit.set("sv", Value::StringVector{}));
        ASSERT_OK(edit.set("owner", Value(nullptr)));
        ASSERT_OK(box.put(edit));
        EXPECT_EQ(edit.id, bk);
    }
    ASSERT_TRUE(eventually(
        [&] {
            return canonical(*a->store, "Kitchen", objects[2].second) ==
                   canonical(*b->store, "Kitchen", objects[2].second);
        },
        "A gets B's edit"));

    // A third client joins later: the full sync carries the same objects.
    auto c = make_peer("c", *server);
    ASSERT_TRUE(c->wait_synced());
    for (const auto& [entity, g] : objects) {
        EXPECT_EQ(canonical(*c->store, entity, g), canonical(*a->store, entity, g)) << entity;
    }
}

TEST_F(SyncIt, OfflineEditsOfDifferentPropertiesBothSurvive) {
    auto server = make_server();
    ASSERT_TRUE(server->start());
    auto a = make_peer("a", *server);
    auto b = make_peer("b", *server);
    uint64_t ida = put(*a->store, "Person", {{"name", "Ada"}, {"age", 1}, {"email", "old"}});
    Gid g = *gid(*a->store, "Person", ida);
    ASSERT_TRUE(a->wait_synced());
    ASSERT_TRUE(eventually([&] { return find(*b->store, "Person", g).has_value(); }, "B has it"));
    uint64_t idb = find(*b->store, "Person", g)->id;

    a->stop_client();
    b->stop_client();
    put(*a->store, "Person", {{"age", 2}}, ida);
    put(*b->store, "Person", {{"email", "new@b"}}, idb);
    b->make_client({server->url()});
    b->client->start();
    ASSERT_TRUE(b->wait_synced());
    a->make_client({server->url()});
    a->client->start();
    ASSERT_TRUE(a->wait_synced());

    auto expected = [&](Store& s) {
        auto o = find(s, "Person", g);
        return o && o->get("age") == Value(2) && o->get("email") == Value("new@b") &&
               o->get("name") == Value("Ada");
    };
    ASSERT_TRUE(eventually([&] { return expected(*a->store) && expected(*b->store); },
                           "both edits on both replicas"));
    EXPECT_EQ(canonical(*a->store, "Person", g), canonical(*b->store, "Person", g));
    a->stop_client();
    b->stop_client();
    ASSERT_EQ(server->stop(), 0);
    EXPECT_TRUE(expected(*open_server_store(*server)));
}

TEST_F(SyncIt, SamePropertyLaterArrivalWinsEverywhere) {
    auto server = make_server();
    ASSERT_TRUE(server->start());
    auto a = make_peer("a", *server);
    auto b = make_peer("b", *server);
    uint64_t ida = put(*a->store, "Person", {{"name", "start"}});
    Gid g = *gid(*a->store, "Person", ida);
    ASSERT_TRUE(a->wait_synced());
    ASSERT_TRUE(eventually([&] { return find(*b->store, "Person", g).has_value(); }, "B has it"));
    uint64_t idb = find(*b->store, "Person", g)->id;

    a->stop_client();
    b->stop_client();
    // B edits first, A later, but A's edit reaches the server first: B's arrives later and wins,
    // also on A (which already had its own value) and on B (which sees A's value arrive while its
    // own edit is pending).
    put(*b->store, "Person", {{"name", "from b"}}, idb);
    put(*a->store, "Person", {{"name", "from a"}}, ida);
    a->make_client({server->url()});
    a->client->start();
    ASSERT_TRUE(a->wait_synced());
    b->make_client({server->url()});
    b->client->start();
    ASSERT_TRUE(b->wait_synced());
    auto name_is = [&](Store& s, const char* want) {
        auto o = find(s, "Person", g);
        return o && o->get("name") == Value(want);
    };
    ASSERT_TRUE(
        eventually([&] { return name_is(*a->store, "from b") && name_is(*b->store, "from b"); },
                   "the later arrival on both replicas"));
    a->stop_client();
    b->stop_client();
    ASSERT_EQ(server->stop(), 0);
    EXPECT_TRUE(name_is(*open_server_store(*server), "from b"));
}

TEST_F(SyncIt, DeleteBeatsConcurrentUpdateInEitherOrder) {
    for (bool delete_first : {true, false}) {
        SCOPED_TRACE(delete_first ? "delete arrives first" : "update arrives first");
        const std::string tag = delete_first ? "d" : "u";
        auto server = make_server("server-" + tag);
        ASSERT_TRUE(server->start());
        auto a = make_peer("a-" + tag, *server);
        auto b = make_peer("b-" + tag, *server);
        auto c = make_peer("c-" + tag, *server);
        uint64_t ida = put(*a->store, "Person", {{"name", "doomed"}});
        Gid g = *gid(*a->store, "Person", ida);
        ASSERT_TRUE(a->wait_synced());
        ASSERT_TRUE(
            eventually([&] { return find(*b->store, "Person", g) && find(*c->store, "Person", g); },
                       "everyone has it"));
        uint64_t idb = find(*b->store, "Person", g)->id;

        a->stop_client();
        b->stop_client();
        ASSERT_OK(a->box("Person").remove(ida));
        put(*b->store, "Person", {{"name", "updated"}, {"age", 5}}, idb);
        Peer& first = delete_first ? *a : *b;
        Peer& second = delete_first ? *b : *a;
        first.make_client({server->url()});
        first.client->start();
        ASSERT_TRUE(first.wait_synced());
        second.make_client({server->url()});
        second.client->start();
        ASSERT_TRUE(second.wait_synced());
        ASSERT_TRUE(eventually(
            [&] {
                return !find(*a->store, "Person", g) && !find(*b->store, "Person", g) &&
                       !find(*c->store, "Person", g);
            },
            "deleted on every client"));
        ASSERT_TRUE(c->wait_synced());
        a->stop_client();
        b->stop_client();
        c->stop_client();
        ASSERT_EQ(server->stop(), 0);
        EXPECT_FALSE(find(*open_server_store(*server), "Person", g).has_value());
    }
}

TEST_F(SyncIt, TenThousandOfflineObjectsArriveExactlyOnce) {
    constexpr int64_t kObjects = 10'000;
    constexpr int64_t kPerTxn = 100;
    auto server = make_server();
    ASSERT_TRUE(server->start());
    auto b = make_peer("b", *server);
    ASSERT_TRUE(b->wait_synced());
    auto a = make_peer("a", *server, /*start=*/false);
    put_items(*a->store, "a", 0, kObjects, kPerTxn);
    ASSERT_EQ(a->client->outgoing_queue_length(), static_cast<uint64_t>(kObjects / kPerTxn));

    a->client->start();
    ASSERT_TRUE(a->wait_synced(120s));
    EXPECT_EQ(a->client->outgoing_queue_length(), 0u);
    ASSERT_TRUE(eventually([&] { return count(*b->store, "Item") >= kObjects; }, "B has them all"));
    ASSERT_TRUE(b->wait_synced());
    EXPECT_EQ(count(*b->store, "Item"), static_cast<uint64_t>(kObjects));
    EXPECT_EQ(item_numbers(*b->store), iota(0, kObjects));
    auto ga = all_gids(*a->store, "Item");
    auto gb = all_gids(*b->store, "Item");
    std::sort(ga.begin(), ga.end());
    std::sort(gb.begin(), gb.end());
    EXPECT_EQ(ga, gb);
    {
        std::lock_guard lock(b->mu);
        EXPECT_EQ(b->incoming_puts, static_cast<uint64_t>(kObjects)) << "each object arrives once";
    }
    std::string a_hex = client_hex(*a->store);
    a->stop_client();
    b->stop_client();
    ASSERT_EQ(server->stop(), 0);
    auto s = open_server_store(*server);
    EXPECT_EQ(count(*s, "Item"), static_cast<uint64_t>(kObjects));
    EXPECT_EQ(history_entries_by_origin(*s)[a_hex], static_cast<uint64_t>(kObjects))
        << "each of A's objects once in the history";
}

// One client transaction above the maximum message size (32 MiB): it goes to the server in parts,
// is applied as one transaction, reaches the other client in parts, and a client that joins later
// gets it in a streamed full sync.
TEST_F(SyncIt, TransactionAboveTheMaximumMessageSizeArrivesWhole) {
    constexpr int64_t kObjects = 30'000;
    constexpr size_t kPayload = 1'200;  // about 36 MB in all
    auto server = make_server();
    ASSERT_TRUE(server->start());
    auto b = make_peer("b", *server);
    ASSERT_TRUE(b->wait_synced());
    auto a = make_peer("a", *server, /*start=*/false);
    put_items(*a->store, "a", 0, kObjects, kObjects, kPayload);
    ASSERT_EQ(a->client->outgoing_queue_length(), 1u);

    a->client->start();
    ASSERT_TRUE(a->wait_synced(120s));
    ASSERT_TRUE(
        eventually([&] { return count(*b->store, "Item") >= kObjects; }, "B has them all", 120s));
    EXPECT_EQ(item_numbers(*b->store), iota(0, kObjects));
    {
        std::lock_guard lock(b->mu);
        EXPECT_EQ(b->incoming_puts, static_cast<uint64_t>(kObjects)) << "each object arrives once";
        EXPECT_TRUE(b->errors.empty()) << b->errors.front().why;
    }
    auto c = make_peer("c", *server);
    ASSERT_TRUE(c->wait_synced(120s));
    EXPECT_EQ(item_numbers(*c->store), iota(0, kObjects));
    EXPECT_TRUE(still_syncing(*c, *a, "after the big transaction"));

    std::string a_hex = client_hex(*a->store);
    a->stop_client();
    b->stop_client();
    c->stop_client();
    ASSERT_EQ(server->stop(), 0);
    auto s = open_server_store(*server);
    auto txn = s->begin_read().value();
    size_t records_of_a = 0;
    for (const auto& rec : ChangeLog::read(txn, 0, 1000).value()) {
        if (rec.origin == a_hex) {
            ++records_of_a;
            EXPECT_EQ(rec.changes.objects.size(), static_cast<size_t>(kObjects));
        }
    }
    EXPECT_EQ(records_of_a, 1u) << "one server transaction";
}

TEST_F(SyncIt, NewClientGetsFullSyncOfHundredThousandObjects) {
    constexpr int64_t kObjects = 100'000;
    auto server = make_server();
    std::vector<Gid> seeded;
    {
        // The server's store, filled before the server starts (as if by earlier clients).
        auto s = open_store(server->data_dir(), model_);
        put_items(*s, "seed", 0, kObjects, 10'000);
        seeded = all_gids(*s, "Item");
    }
    ASSERT_EQ(seeded.size(), static_cast<size_t>(kObjects));
    ASSERT_TRUE(server->start());
    auto c = make_peer("c", *server);
    ASSERT_TRUE(c->wait_synced(180s));
    EXPECT_EQ(count(*c->store, "Item"), static_cast<uint64_t>(kObjects));
    EXPECT_EQ(item_numbers(*c->store), iota(0, kObjects));
    auto got = all_gids(*c->store, "Item");
    std::sort(got.begin(), got.end());
    std::sort(seeded.begin(), seeded.end());
    EXPECT_TRUE(got == seeded) << "the full sync holds exactly the server's objects";
    // And it syncs on from there.
    auto d = make_peer("d", *server);
    ASSERT_TRUE(d->wait_synced(180s));
    EXPECT_TRUE(still_syncing(*c, *d, "after the full sync"));
}

TEST_F(SyncIt, ClientBehindKeptHistoryGetsFullSyncNotAnError) {
    ServerConfig config;
    config.history_size_max_mb = 1;
    auto server = make_server("server", config);
    ASSERT_TRUE(server->start());
    auto a = make_peer("a", *server);
    auto b = make_peer("b", *server);
    uint64_t gone = put(*a->store, "Person", {{"name", "removed while B is away"}});
    Gid gone_gid = *gid(*a->store, "Person", gone);
    put_items(*a->store, "a", 0, 10, 10);
    ASSERT_TRUE(a->wait_synced());
    ASSERT_TRUE(eventually(
        [&] { return count(*b->store, "Item") == 10 && find(*b->store, "Person", gone_gid); },
        "B has the first objects"));
    ASSERT_TRUE(b->wait_synced());
    b->stop_client();
    uint64_t b_seq = 0;
    {
        auto txn = b->store->begin_read();
        auto seq = get_meta(*txn, "sync.server_seq");
        ASSERT_OK(seq);
        ASSERT_TRUE(seq->has_value());
        b_seq = std::stoull(**seq);
    }

    // About 3 MiB of history while B is away: more than the server keeps.
    ASSERT_OK(a->box("Person").remove(gone));
    put_items(*a->store, "a", 10, 3000, 100, 1000);
    ASSERT_TRUE(a->wait_synced(120s));

    b->make_client({server->url()});
    b->client->start();
    ASSERT_TRUE(b->wait_synced(120s));
    EXPECT_EQ(item_numbers(*b->store), iota(0, 3010));
    EXPECT_FALSE(find(*b->store, "Person", gone_gid).has_value())
        << "an object removed beyond the kept history goes";
    {
        std::lock_guard lock(b->mu);
        EXPECT_TRUE(b->errors.empty()) << b->errors.front().why;
        EXPECT_TRUE(b->login_failures.empty());
    }
    EXPECT_TRUE(still_syncing(*b, *a, "after catching up"));

    a->stop_client();
    b->stop_client();
    ASSERT_EQ(server->stop(), 0);
    // B was behind: the record after its position was trimmed.
    auto s = open_server_store(*server);
    auto txn = s->begin_read();
    auto first = ChangeLog::read(*txn, 0, 1);
    ASSERT_OK(first);
    ASSERT_TRUE(!first->empty());
    EXPECT_GT(first->front().position, b_seq + 1);
}

// An older app knows a subset of the server's model: it gets only what it knows, and its edits
// leave what it does not know alone.
TEST_F(SyncIt, ClientWithASubsetOfTheModelGetsWhatItKnows) {
    ModelBuilder mb;
    mb.entity("Person")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("name", PropertyType::kString, kFlagIndexed)
        .property("age", PropertyType::kInt32);
    mb.entity("Note")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("text", PropertyType::kString)
        .relation_property("author", "Person");
    Model older = mb.build().value();

    auto server = make_server();
    ASSERT_TRUE(server->start());
    auto full = make_peer("full", *server);
    uint64_t p = put(*full->store, "Person", {{"name", "Ada"}, {"age", 3}, {"email", "ada@x"}});
    put_items(*full->store, "full", 0, 10, 10);
    Gid g = *gid(*full->store, "Person", p);
    ASSERT_TRUE(full->wait_synced());

    Peer old(dir_.sub("old"), older, {server->url()});
    old.client->start();
    ASSERT_TRUE(old.wait_synced());  // full sync of what it knows
    auto o = find(*old.store, "Person", g);
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->get("name"), Value("Ada"));
    EXPECT_EQ(o->get("age"), Value(3));
    EXPECT_EQ(count(*old.store, "Note"), 0u);

    // Live: the older app's edit of a property it knows; the full app's edit of one it does not.
    put(*old.store, "Person", {{"age", 4}}, o->id);
    ASSERT_TRUE(eventually([&] { return find(*full->store, "Person", g)->get("age") == Value(4); },
                           "the older app's edit arrives"));
    put(*full->store, "Person", {{"email", "new@x"}, {"name", "Ada L."}}, p);
    ASSERT_TRUE(
        eventually([&] { return find(*old.store, "Person", g)->get("name") == Value("Ada L."); },
                   "the known part of the full app's edit arrives"));
    ASSERT_TRUE(full->wait_synced());
    ASSERT_TRUE(old.wait_synced());
    auto f = find(*full->store, "Person", g);
    EXPECT_EQ(f->get("email"), Value("new@x")) << "unknown to the older app, untouched by it";
    EXPECT_EQ(f->get("age"), Value(4));
    {
        std::lock_guard lock(old.mu);
        EXPECT_TRUE(old.errors.empty()) << old.errors.front().why;
    }
}

// Away beyond the kept history with local changes pending: the full sync is rebased under them, so
// the pending edit, the object created offline and the one removed offline all hold after it, on
// every replica.
TEST_F(SyncIt, FullSyncKeepsPendingLocalChanges) {
    ServerConfig config;
    config.history_size_max_mb = 1;
    auto server = make_server("server", config);
    ASSERT_TRUE(server->start());
    auto a = make_peer("a", *server);
    auto b = make_peer("b", *server);
    uint64_t shared = put(*a->store, "Person", {{"name", "shared"}, {"age", 1}});
    uint64_t doomed = put(*a->store, "Person", {{"name", "removed by B offline"}});
    Gid gs = *gid(*a->store, "Person", shared);
    Gid gd = *gid(*a->store, "Person", doomed);
    ASSERT_TRUE(a->wait_synced());
    ASSERT_TRUE(
        eventually([&] { return find(*b->store, "Person", gs) && find(*b->store, "Person", gd); },
                   "B has both"));
    ASSERT_TRUE(b->wait_synced());
    b->stop_client();

    put(*b->store, "Person", {{"name", "renamed by B"}}, find(*b->store, "Person", gs)->id);
    uint64_t created = put(*b->store, "Person", {{"name", "created by B offline"}});
    Gid gc = *gid(*b->store, "Person", created);
    ASSERT_OK(b->box("Person").remove(find(*b->store, "Person", gd)->id));

    put(*a->store, "Person", {{"age", 2}}, shared);
    put(*a->store, "Person", {{"age", 7}}, doomed);
    put_items(*a->store, "a", 0, 3000, 100, 1000);  // beyond the kept history
    ASSERT_TRUE(a->wait_synced(120s));

    b->make_client({server->url()});
    b->client->start();
    ASSERT_TRUE(b->wait_synced(120s));
    auto settled = [&](Store& s) {
        auto o = find(s, "Person", gs);
        return o && o->get("name") == Value("renamed by B") && o->get("age") == Value(2) &&
               find(s, "Person", gc).has_value() && !find(s, "Person", gd).has_value() &&
               count(s, "Item") == 3000;
    };
    ASSERT_TRUE(
        eventually([&] { return settled(*a->store) && settled(*b->store); }, "both settle"));
    EXPECT_EQ(canonical(*a->store, "Person", gs), canonical(*b->store, "Person", gs));
    EXPECT_EQ(canonical(*a->store, "Person", gc), canonical(*b->store, "Person", gc));
    a->stop_client();
    b->stop_client();
    ASSERT_EQ(server->stop(), 0);
    EXPECT_TRUE(settled(*open_server_store(*server)));
}

// A delete against a concurrent edit that points a relation at the deleted object: every replica
// ends with the same (cleared) relations, whichever change reaches the server first.
TEST_F(SyncIt, DeleteAgainstConcurrentRelationEditConverges) {
    for (bool delete_first : {true, false}) {
        SCOPED_TRACE(delete_first ? "delete arrives first" : "relation edit arrives first");
        const std::string tag = delete_first ? "d" : "r";
        auto server = make_server("server-" + tag);
        ASSERT_TRUE(server->start());
        auto a = make_peer("a-" + tag, *server);
        auto b = make_peer("b-" + tag, *server);
        auto c = make_peer("c-" + tag, *server);
        uint64_t pa = put(*a->store, "Person", {{"name", "target"}});
        uint64_t keep = put(*a->store, "Person", {{"name", "kept"}});
        uint64_t na = put(*a->store, "Note", {{"text", "note"}});
        Gid gp = *gid(*a->store, "Person", pa);
        Gid gn = *gid(*a->store, "Note", na);
        ASSERT_TRUE(a->wait_synced());
        ASSERT_TRUE(
            eventually([&] { return find(*b->store, "Note", gn) && find(*c->store, "Note", gn); },
                       "everyone has it"));
        a->stop_client();
        b->stop_client();
        // A points the note at the person (to-one and to-many); B removes the person.
        {
            auto box = a->box("Note");
            Object n = *find(*a->store, "Note", gn);
            ASSERT_OK(n.set("author", static_cast<int64_t>(pa)));
            ASSERT_OK(n.set_to_many("readers", {keep, pa}));
            ASSERT_OK(box.put(n));
        }
        ASSERT_OK(b->box("Person").remove(find(*b->store, "Person", gp)->id));
        Peer& first = delete_first ? *b : *a;
        Peer& second = delete_first ? *a : *b;
        first.make_client({server->url()});
        first.client->start();
        ASSERT_TRUE(first.wait_synced());
        second.make_client({server->url()});
        second.client->start();
        ASSERT_TRUE(second.wait_synced());
        ASSERT_TRUE(first.wait_synced());
        ASSERT_TRUE(c->wait_synced());
        auto agree = [&] {
            return !find(*a->store, "Person", gp) && !find(*b->store, "Person", gp) &&
                   !find(*c->store, "Person", gp) &&
                   canonical(*a->store, "Note", gn) == canonical(*b->store, "Note", gn) &&
                   canonical(*a->store, "Note", gn) == canonical(*c->store, "Note", gn);
        };
        EXPECT_TRUE(eventually(agree, "the replicas agree", 10s))
            << "A: " << canonical(*a->store, "Note", gn)
            << "\nB: " << canonical(*b->store, "Note", gn)
            << "\nC: " << canonical(*c->store, "Note", gn);
        auto n = find(*c->store, "Note", gn);
        ASSERT_TRUE(n.has_value());
        EXPECT_TRUE(n->get("author").is_null());
        ASSERT_EQ(n->get_to_many("readers").size(), 1u);
        EXPECT_EQ(*gid(*c->store, "Person", n->get_to_many("readers")[0]),
                  *gid(*a->store, "Person", keep));
        // A client that joins now gets the same note.
        auto d = make_peer("d-" + tag, *server);
        ASSERT_TRUE(d->wait_synced());
        EXPECT_EQ(canonical(*d->store, "Note", gn), canonical(*c->store, "Note", gn));
    }
}

// Full-sync chunks stay below the maximum message size whatever the values hold: here flex values
// of 64 KiB each, 45 MiB in all.
TEST_F(SyncIt, FullSyncOfLargeFlexValuesFitsInMessages) {
    constexpr int kObjects = 700;
    auto server = make_server();
    {
        auto s = open_store(server->data_dir(), model_);
        auto box = s->box("Kitchen").value();
        auto txn = s->begin_write();
        ASSERT_OK(txn);
        for (int i = 0; i < kObjects; ++i) {
            Object k = box.new_object();
            ASSERT_OK(k.set("i32", i));
            ASSERT_OK(k.set("flex", Flex(Flex::Map{{"doc", Flex(std::string(64 << 10, 'f'))}})));
            ASSERT_OK(box.put(*txn, k));
        }
        ASSERT_OK(txn->commit());
    }
    ASSERT_TRUE(server->start());
    auto c = make_peer("c", *server);
    ASSERT_TRUE(c->wait_synced(120s));
    EXPECT_EQ(count(*c->store, "Kitchen"), static_cast<uint64_t>(kObjects));
    {
        std::lock_guard lock(c->mu);
        EXPECT_TRUE(c->errors.empty()) << c->errors.front().why;
    }
}

TEST_F(SyncIt, TwoHundredConcurrentClientsConverge) {
    constexpr int kClients = 200;
    constexpr int64_t kPerClient = 2;
    raise_fd_limit();
    auto server = make_server();
    ASSERT_TRUE(server->start());
    std::vector<std::unique_ptr<Peer>> peers;
    for (int i = 0; i < kClients; ++i) {
        peers.push_back(make_peer("c" + std::to_string(i), *server));
        put_items(*peers.back()->store, "c" + std::to_string(i), i * kPerClient, kPerClient,
                  kPerClient);
    }
    const uint64_t total = kClients * kPerClient;
    for (int i = 0; i < kClients; ++i) {
        ASSERT_TRUE(eventually([&] { return count(*peers[i]->store, "Item") == total; },
                               "every client has every object", 180s))
            << "client " << i << " has " << count(*peers[i]->store, "Item");
    }
    for (auto& p : peers) ASSERT_TRUE(p->wait_synced());
    for (auto& p : peers) {
        ASSERT_EQ(item_numbers(*p->store), iota(0, static_cast<int64_t>(total)));
        EXPECT_EQ(p->client->outgoing_queue_length(), 0u);
    }
    for (auto& p : peers) p->stop_client();
    ASSERT_EQ(server->stop(), 0) << server->log();
}

}  // namespace
}  // namespace outpost::it
