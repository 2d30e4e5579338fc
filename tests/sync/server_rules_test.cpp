// Sync rules applied by the server core: each client gets only the objects in its read scope (full
// sync, catch-up, live), objects that move in come whole and those that move out leave only that
// client's store, writes outside the write scope come back corrected, a changed scope goes as its
// difference at the next login, and shared-secret sessions see everything.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/status_macros.hpp"
#include "sync/raw_peer.hpp"
#include "sync/sync_harness.hpp"

namespace outpost::sync {
namespace {

using testing::SyncNet;
using testing::TestClient;

constexpr int64_t kNowMs = 1'700'000'000'000;

// Task (owned by a user, shared with others, a unique code), Project (seen by a team).
Model rules_model() {
    ModelBuilder b;
    b.entity("Project")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("name", PropertyType::kString)
        .property("team", PropertyType::kString, kFlagIndexed);
    b.entity("Task")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("text", PropertyType::kString)
        .property("ownerId", PropertyType::kString, kFlagIndexed)
        .property("sharedWith", PropertyType::kStringVector)
        .property("code", PropertyType::kString, kFlagUnique)
        .property("rank", PropertyType::kInt32)
        .relation_property("project", "Project");
    return test::built(b);
}

const char* kRules = R"({"default": "allow", "entities": {
  "Task": {"read": "ownerId == $auth.sub OR sharedWith CONTAINS $auth.sub",
           "write": "ownerId == $auth.sub"},
  "Project": {"read": "team == $auth.team"}}})";

// Tokens "token-<user>" are users with the claims in the map (mutable: a claim that changes).
using Claims = std::map<std::string, std::map<std::string, std::vector<std::string>, std::less<>>>;

struct RulesNet {
    std::shared_ptr<Claims> claims = std::make_shared<Claims>();
    Model model = rules_model();
    std::unique_ptr<SyncNet> net;

    explicit RulesNet(const char* rules = kRules, uint64_t history_max_records = 1'000'000,
                      size_t full_sync_chunk_objects = 1000) {
        (*claims)["alice"] = {{"team", {"red"}}};
        (*claims)["bob"] = {{"team", {"blue"}}};
        (*claims)["carol"] = {{"team", {"red"}}};
        (*claims)["dave"] = {};
        ServerOptions o = SyncNet::default_options();
        o.verify_token = [c = claims](std::string_view token, int64_t) -> Result<auth::Identity> {
            if (!token.starts_with("token-")) {
                return Status(ErrorCode::kAuthCredentialsRejected, "signature does not verify");
            }
            auto it = c->find(std::string(token.substr(6)));
            if (it == c->end()) return Status(ErrorCode::kAuthCredentialsRejected, "who?");
            auth::Identity id;
            id.kind = auth::CredentialKind::kJwt;
            id.user = it->first;
            id.issuer = "https://issuer.test/";
            id.claims = it->second;
            id.claims["sub"] = {id.user};
            return id;
        };
        auto loaded = rules::SyncRules::load(rules, model);
        EXPECT_OK(loaded);
        o.rules = loaded.value();
        o.wall_clock_ms = [] { return kNowMs; };
        o.history_max_records = history_max_records;
        o.full_sync_chunk_objects = full_sync_chunk_objects;
        net = std::make_unique<SyncNet>(model, o);
    }

    TestClient& user(const std::string& name, FilterVariables variables = {}) {
        TestClient& c = net->add_jwt_client(name, "token-" + name, std::move(variables));
        net->connect(c);
        return c;
    }
    TestClient& admin(const std::string& name = "admin") {
        TestClient& c = net->add_client(name);
        net->connect(c);
        return c;
    }
    void settle() {
        ASSERT_TRUE(net->pump_until([&] { return net->all_up_to_date(); }));
        net->pump_all();
    }
    const ServerStats& stats() { return net->server().stats(); }
};

uint64_t put_task(Store& store, const std::string& owner, const std::string& text,
                  std::vector<std::string> shared = {}) {
    return test::put(store, "Task",
                     {{"text", Value(text)},
                      {"ownerId", Value(owner)},
                      {"sharedWith", Value(Value::StringVector(shared))}});
}

uint64_t put_project(Store& store, const std::string& name, const std::string& team) {
    return test::put(store, "Project", {{"name", Value(name)}, {"team", Value(team)}});
}

// ENTITY's objects of STORE: readable GID -> the value of PROPERTY.
std::map<std::string, std::string> contents(Store& store, const char* entity,
                                            const char* property = "text") {
    std::map<std::string, std::string> out;
    auto box = store.box(entity).value();
    auto txn = store.begin_read();
    for (const auto& o : box.get_all(*txn).value()) {
        auto g = gid_of(*txn, box, o.id).value();
        const Value& v = o.get(property);
        out[g ? gid_to_string(*g) : "?"] = v.is<std::string>() ? v.as<std::string>() : "";
    }
    return out;
}

std::set<std::string> texts(Store& store, const char* entity = "Task",
                            const char* property = "text") {
    std::set<std::string> out;
    for (const auto& [g, t] : contents(store, entity, property)) out.insert(t);
    return out;
}

// The server's tasks that USER may read (owned or shared), GID -> every value that syncs.
std::map<std::string, std::string> readable_tasks(Store& store, const std::string& user) {
    std::map<std::string, std::string> out;
    auto box = store.box("Task").value();
    auto txn = store.begin_read();
    for (const auto& o : box.get_all(*txn).value()) {
        const Value& owner = o.get("ownerId");
        const Value& shared = o.get("sharedWith");
        bool mine = owner.is<std::string>() && owner.as<std::string>() == user;
        if (shared.is<Value::StringVector>()) {
            for (const auto& s : shared.as<Value::StringVector>()) mine |= s == user;
        }
        if (user.empty()) mine = true;
        if (!mine) continue;
        std::string row = o.get("text").is<std::string>() ? o.get("text").as<std::string>() : "-";
        row += "|" + (owner.is<std::string>() ? owner.as<std::string>() : std::string("-"));
        if (shared.is<Value::StringVector>()) {
            for (const auto& s : shared.as<Value::StringVector>()) row += "," + s;
        }
        out[gid_to_string(*gid_of(*txn, box, o.id).value())] = row;
    }
    return out;
}

TEST(ServerRules, EachUserGetsOnlyTheirTasksAtFullSyncAndInCatchUp) {
    RulesNet f;
    TestClient& admin = f.admin();
    put_task(*admin.store, "alice", "a1");
    put_task(*admin.store, "bob", "b1");
    put_task(*admin.store, "alice", "a2");
    f.settle();
    TestClient& alice = f.user("alice");
    TestClient& bob = f.user("bob");
    f.settle();
    EXPECT_EQ(texts(*alice.store), (std::set<std::string>{"a1", "a2"}));
    EXPECT_EQ(texts(*bob.store), (std::set<std::string>{"b1"}));
    EXPECT_EQ(f.stats().full_syncs, 3u);

    f.net->cut(alice);
    f.net->cut(bob);
    put_task(*admin.store, "bob", "b2");
    put_task(*admin.store, "alice", "a3");
    f.settle();
    const uint64_t catch_ups = f.stats().catch_ups;
    f.net->connect(alice);
    f.net->connect(bob);
    f.settle();
    EXPECT_EQ(f.stats().catch_ups, catch_ups + 2);
    EXPECT_EQ(texts(*alice.store), (std::set<std::string>{"a1", "a2", "a3"}));
    EXPECT_EQ(texts(*bob.store), (std::set<std::string>{"b1", "b2"}));
    // Live as well.
    put_task(*admin.store, "bob", "b3");
    f.settle();
    EXPECT_EQ(texts(*alice.store), (std::set<std::string>{"a1", "a2", "a3"}));
    EXPECT_EQ(texts(*bob.store), (std::set<std::string>{"b1", "b2", "b3"}));
}

TEST(ServerRules, ASharedTaskReachesBobLiveAndLeavesOnlyHisStoreWhenUnshared) {
    RulesNet f;
    TestClient& alice = f.user("alice");
    TestClient& bob = f.user("bob");
    f.settle();
    const uint64_t id = put_task(*alice.store, "alice", "plan");
    test::put(*alice.store, "Task", {{"rank", Value(int64_t{3})}}, id);
    f.settle();
    EXPECT_TRUE(texts(*bob.store).empty());

    test::put(*alice.store, "Task", {{"sharedWith", Value(Value::StringVector{"bob"})}}, id);
    f.settle();
    const Gid g = *test::gid(*alice.store, "Task", id);
    auto on_bob = test::find(*bob.store, "Task", g);
    ASSERT_TRUE(on_bob.has_value());
    // The whole object, not only the change that moved it in.
    EXPECT_EQ(on_bob->get("text").as<std::string>(), "plan");
    EXPECT_EQ(on_bob->get("rank").as<int64_t>(), 3);

    test::put(*alice.store, "Task", {{"text", Value(std::string("plan v2"))}}, id);
    f.settle();
    EXPECT_EQ(texts(*bob.store), (std::set<std::string>{"plan v2"}));

    test::put(*alice.store, "Task", {{"sharedWith", Value(Value::StringVector{})}}, id);
    f.settle();
    EXPECT_FALSE(test::find(*bob.store, "Task", g).has_value());
    EXPECT_TRUE(test::find(*alice.store, "Task", g).has_value());
    EXPECT_TRUE(test::find(f.net->server_store(), "Task", g).has_value());
}

TEST(ServerRules, BobsWriteToAlicesTaskIsRefusedAndCorrected) {
    RulesNet f;
    TestClient& alice = f.user("alice");
    TestClient& bob = f.user("bob");
    const uint64_t id = put_task(*alice.store, "alice", "alice's", {"bob"});
    f.settle();
    const Gid g = *test::gid(*alice.store, "Task", id);
    auto bob_id = test::find(*bob.store, "Task", g)->id;
    const auto server_before = readable_tasks(f.net->server_store(), "");

    test::put(*bob.store, "Task", {{"text", Value(std::string("bob was here"))}}, bob_id);
    f.settle();
    EXPECT_EQ(f.stats().writes_refused, 1u);
    EXPECT_EQ(readable_tasks(f.net->server_store(), ""), server_before);
    EXPECT_EQ(texts(*bob.store), (std::set<std::string>{"alice's"}));
    EXPECT_EQ(texts(*alice.store), (std::set<std::string>{"alice's"}));

    // A removal is refused the same way: the task comes back.
    ASSERT_OK(bob.box("Task").remove(bob_id));
    f.settle();
    EXPECT_EQ(f.stats().writes_refused, 2u);
    EXPECT_EQ(readable_tasks(f.net->server_store(), ""), server_before);
    EXPECT_EQ(texts(*bob.store), (std::set<std::string>{"alice's"}));
}

TEST(ServerRules, BobCreatingATaskOwnedByAliceIsRefusedAndRemoved) {
    RulesNet f;
    TestClient& alice = f.user("alice");
    TestClient& bob = f.user("bob");
    f.settle();
    put_task(*bob.store, "alice", "planted");
    f.settle();
    EXPECT_EQ(f.stats().writes_refused, 1u);
    EXPECT_EQ(test::count(*bob.store, "Task"), 0u);
    EXPECT_EQ(test::count(f.net->server_store(), "Task"), 0u);
    EXPECT_EQ(test::count(*alice.store, "Task"), 0u);
    // Moving his own task to alice is refused as well (after the change it is outside his scope).
    const uint64_t id = put_task(*bob.store, "bob", "mine");
    f.settle();
    test::put(*bob.store, "Task", {{"ownerId", Value(std::string("alice"))}}, id);
    f.settle();
    EXPECT_EQ(f.stats().writes_refused, 2u);
    EXPECT_EQ(contents(*bob.store, "Task", "ownerId").begin()->second, "bob");
    EXPECT_EQ(test::count(*alice.store, "Task"), 0u);
}

TEST(ServerRules, APushWithAnAllowedAndARefusedObjectAppliesTheAllowedOne) {
    RulesNet f;
    TestClient& alice = f.user("alice");
    TestClient& bob = f.user("bob");
    const uint64_t id = put_task(*alice.store, "alice", "alice's", {"bob"});
    f.settle();
    const Gid g = *test::gid(*alice.store, "Task", id);
    const uint64_t bob_copy = test::find(*bob.store, "Task", g)->id;
    auto box = bob.box("Task");
    ASSERT_OK(bob.store->write([&](WriteTxn& txn) {
        Object own = box.new_object();
        OUTPOST_RETURN_IF_ERROR(own.set("text", Value(std::string("bob's"))));
        OUTPOST_RETURN_IF_ERROR(own.set("ownerId", Value(std::string("bob"))));
        OUTPOST_RETURN_IF_ERROR(box.put(txn, own).status());
        OUTPOST_ASSIGN_OR_RETURN(auto theirs, box.get(txn, bob_copy));
        OUTPOST_RETURN_IF_ERROR(theirs->set("text", Value(std::string("edited"))));
        return box.put(txn, *theirs).status();
    }));
    f.settle();
    EXPECT_EQ(f.stats().writes_refused, 1u);
    EXPECT_EQ(texts(f.net->server_store()), (std::set<std::string>{"alice's", "bob's"}));
    EXPECT_EQ(texts(*bob.store), (std::set<std::string>{"alice's", "bob's"}));
    EXPECT_EQ(texts(*alice.store), (std::set<std::string>{"alice's"}));
}

TEST(ServerRules, AUniqueValueClashNeverShowsTheHolderOutsideTheScope) {
    RulesNet f;
    TestClient& alice = f.user("alice");
    const uint64_t id = test::put(*alice.store, "Task",
                                  {{"text", Value(std::string("secret"))},
                                   {"ownerId", Value(std::string("alice"))},
                                   {"code", Value(std::string("X-1"))}});
    f.settle();
    const Gid holder = *test::gid(*alice.store, "Task", id);

    // Bob, by hand: his creation with the same code loses, and its Ack says so without alice's.
    Login login = good_login(f.model, "token-bob");
    login.credential_kind = static_cast<uint8_t>(auth::CredentialKind::kJwt);
    login.client_id[0] = 42;
    RawPeer bob(f.net->server());
    bob.send(f.net->server(), encode_message(login));
    bob.drain();
    ASSERT_NE(bob.last<LoginResult>(), nullptr);
    ASSERT_EQ(bob.last<LoginResult>()->code, ErrorCode::kOk);
    const Entity& task = *f.model.entity("Task");
    auto uid = [&](const char* name) { return task.property(name)->id.uid; };
    ObjectChange put;
    put.kind = ObjectChange::kPut;
    put.entity_uid = task.id.uid;
    put.gid = new_object_id_gid();
    put.is_new = true;
    put.properties = {{uid("text"), Value(std::string("bob's"))},
                      {uid("ownerId"), Value(std::string("bob"))},
                      {uid("code"), Value(std::string("X-1"))}};
    Push push;
    push.client_txn = 1;
    push.changes.objects.push_back(put);
    bob.send(f.net->server(), encode_message(push));
    bob.drain();
    const Ack* ack = bob.last<Ack>();
    ASSERT_NE(ack, nullptr);
    bool own_removed = false;
    for (const auto& c : ack->corrections.objects) {
        EXPECT_FALSE(c.kind == ObjectChange::kPut && c.gid == holder) << "the holder was shown";
        own_removed |= c.kind == ObjectChange::kRemove && c.gid == put.gid;
    }
    EXPECT_TRUE(own_removed);
    EXPECT_EQ(texts(f.net->server_store()), (std::set<std::string>{"secret"}));
}

TEST(ServerRules, AChangedClaimSendsTheDifferenceAtTheNextLogin) {
    RulesNet f;
    TestClient& admin = f.admin();
    for (int i = 0; i < 3; ++i) {
        put_project(*admin.store, "red" + std::to_string(i), "red");
        put_project(*admin.store, "blue" + std::to_string(i), "blue");
    }
    f.settle();
    TestClient& carol = f.user("carol");
    f.settle();
    EXPECT_EQ(texts(*carol.store, "Project", "name"),
              (std::set<std::string>{"red0", "red1", "red2"}));
    const uint64_t full_syncs = f.stats().full_syncs;
    f.net->cut(carol);
    (*f.claims)["carol"]["team"] = {"blue"};
    put_project(*admin.store, "blue3", "blue");
    f.settle();
    f.net->connect(carol);
    f.settle();
    EXPECT_EQ(f.stats().full_syncs, full_syncs);
    EXPECT_EQ(f.stats().scope_diffs, 1u);
    EXPECT_EQ(texts(*carol.store, "Project", "name"),
              (std::set<std::string>{"blue0", "blue1", "blue2", "blue3"}));
    // The same scope at the login after: nothing more.
    f.net->cut(carol);
    f.net->connect(carol);
    f.settle();
    EXPECT_EQ(f.stats().scope_diffs, 1u);
    EXPECT_EQ(f.stats().full_syncs, full_syncs);
}

// The server forgets the definition of the scope C holds (as after a restore of older data).
void forget_scope(RulesNet& f, TestClient& c) {
    ASSERT_OK(f.net->server_store().write([&](WriteTxn& txn) {
        auto ctxn = c.store->begin_read();
        auto held = get_meta(*ctxn, "sync.scope_tag").value();
        EXPECT_TRUE(held.has_value());
        char key[64];
        std::snprintf(key, sizeof key, "sync.scope_def.%016llx",
                      static_cast<unsigned long long>(std::stoull(held.value_or("0"))));
        return remove_meta(txn, key);
    }));
}

TEST(ServerRules, AnUnknownScopeTagGivesAFullSyncOfTheNewScope) {
    RulesNet f;
    TestClient& admin = f.admin();
    put_project(*admin.store, "r", "red");
    put_project(*admin.store, "b", "blue");
    f.settle();
    TestClient& carol = f.user("carol");
    f.settle();
    f.net->cut(carol);
    forget_scope(f, carol);
    (*f.claims)["carol"]["team"] = {"blue"};
    const uint64_t full_syncs = f.stats().full_syncs;
    f.net->connect(carol);
    f.settle();
    EXPECT_EQ(f.stats().full_syncs, full_syncs + 1);
    EXPECT_EQ(f.stats().scope_diffs, 0u);
    EXPECT_EQ(texts(*carol.store, "Project", "name"), (std::set<std::string>{"b"}));
}

TEST(ServerRules, AFullSyncOfANewScopeCutShortStartsAgain) {
    RulesNet f(kRules, 1'000'000, /*full_sync_chunk_objects=*/1);
    TestClient& admin = f.admin();
    for (int i = 0; i < 3; ++i) {
        put_project(*admin.store, "red" + std::to_string(i), "red");
        put_project(*admin.store, "blue" + std::to_string(i), "blue");
    }
    f.settle();
    TestClient& carol = f.user("carol");
    f.settle();
    f.net->cut(carol);
    forget_scope(f, carol);
    (*f.claims)["carol"]["team"] = {"blue"};
    const uint64_t full_syncs = f.stats().full_syncs;
    carol.cut_after_frames = 2;  // the LoginResult (with the new tag) and one chunk
    f.net->connect(carol);
    ASSERT_TRUE(f.net->pump_until([&] { return carol.closed; }));
    f.net->connect(carol);
    f.settle();
    EXPECT_EQ(f.stats().full_syncs, full_syncs + 2);
    EXPECT_EQ(texts(*carol.store, "Project", "name"),
              (std::set<std::string>{"blue0", "blue1", "blue2"}));
}

TEST(ServerRules, ASharedSecretClientSeesEverything) {
    RulesNet f;
    TestClient& alice = f.user("alice");
    TestClient& bob = f.user("bob");
    put_task(*alice.store, "alice", "a");
    put_task(*bob.store, "bob", "b");
    f.settle();
    TestClient& admin = f.admin();
    f.settle();
    EXPECT_EQ(texts(*admin.store), (std::set<std::string>{"a", "b"}));
    put_task(*bob.store, "bob", "b2");
    f.settle();
    EXPECT_EQ(texts(*admin.store), (std::set<std::string>{"a", "b", "b2"}));
    // And writes anything.
    put_task(*admin.store, "alice", "from the back office");
    f.settle();
    EXPECT_EQ(texts(*alice.store), (std::set<std::string>{"a", "from the back office"}));
    EXPECT_EQ(f.stats().writes_refused, 0u);
}

// A change written straight into the server store with an origin (as the MongoDB connector
// writes), then poll().
void server_write(RulesNet& f, const Gid& g, std::vector<PropertyChange> props, bool is_new) {
    ObjectChange c;
    c.kind = ObjectChange::kPut;
    c.entity_uid = f.model.entity("Task")->id.uid;
    c.gid = g;
    c.is_new = is_new;
    c.properties = std::move(props);
    ChangeSet cs;
    cs.objects.push_back(std::move(c));
    ASSERT_OK(f.net->server_store().write(
        [&](WriteTxn& txn) { return ChangeLog::apply(txn, cs, "mongo", ApplyMode::kRecord); }));
    f.net->server().poll();
}

TEST(ServerRules, ADirectServerWriteReachesOnlyTheClientsInItsScope) {
    RulesNet f;
    TestClient& alice = f.user("alice");
    TestClient& bob = f.user("bob");
    f.settle();
    const Entity& task = *f.model.entity("Task");
    auto uid = [&](const char* name) { return task.property(name)->id.uid; };
    const Gid g = new_object_id_gid();
    server_write(f, g,
                 {{uid("text"), Value(std::string("from mongo"))},
                  {uid("ownerId"), Value(std::string("alice"))}},
                 true);
    f.settle();
    EXPECT_EQ(texts(*alice.store), (std::set<std::string>{"from mongo"}));
    EXPECT_TRUE(texts(*bob.store).empty());
    // An update event carries only the changed field: it moves the task to bob.
    server_write(f, g, {{uid("ownerId"), Value(std::string("bob"))}}, false);
    f.settle();
    EXPECT_TRUE(texts(*alice.store).empty());
    EXPECT_EQ(texts(*bob.store), (std::set<std::string>{"from mongo"}));
    server_write(f, g, {{uid("text"), Value(std::string("edited in mongo"))}}, false);
    f.settle();
    EXPECT_TRUE(texts(*alice.store).empty());
    EXPECT_EQ(texts(*bob.store), (std::set<std::string>{"edited in mongo"}));
}

TEST(ServerRules, ARelationMayPointOutsideTheScope) {
    RulesNet f;
    TestClient& admin = f.admin();
    const uint64_t p = put_project(*admin.store, "red project", "red");
    test::put(*admin.store, "Task",
              {{"text", Value(std::string("t"))},
               {"ownerId", Value(std::string("bob"))},
               {"project", Value(static_cast<int64_t>(p))}});
    f.settle();
    TestClient& bob = f.user("bob");  // team blue: the project is not his
    f.settle();
    EXPECT_EQ(texts(*bob.store), (std::set<std::string>{"t"}));
    EXPECT_TRUE(texts(*bob.store, "Project", "name").empty());
    auto txn = bob.store->begin_read();
    auto task = bob.box("Task").get_all(*txn).value().at(0);
    EXPECT_NE(task.get("project").as<int64_t>(), 0);  // the id is kept; its target is not sent
}

TEST(ServerRules, OddFilterVariablesMatchNothingAndCrashNothing) {
    // A variable compared with a property of another type stops the rules at load.
    auto typed = rules::SyncRules::load(
        R"({"entities": {"Task": {"read": "rank == $client.rank"}}})", rules_model());
    ASSERT_FALSE(typed.is_ok());
    EXPECT_NE(typed.status().message().find("column"), std::string::npos);
    RulesNet f(R"({"entities": {"Task": {"read": "code == $client.code OR rank > 5"}}})");
    TestClient& admin = f.admin();
    test::put(*admin.store, "Task",
              {{"text", Value(std::string("low"))},
               {"code", Value(std::string("12"))},
               {"rank", Value(int64_t{1})}});
    f.settle();
    TestClient& odd = f.user("dave", {{"code", "1e400"}});
    TestClient& numeric = f.user("alice", {{"code", "12"}});
    f.settle();
    EXPECT_FALSE(odd.closed);
    EXPECT_TRUE(texts(*odd.store).empty());
    EXPECT_EQ(texts(*numeric.store), (std::set<std::string>{"low"}));
    // A value that is not UTF-8 cannot be bound: that login is refused with the reason.
    TestClient& bad = f.net->add_jwt_client("carol", "token-carol", {{"code", "\xff\xfe"}});
    f.net->connect(bad);
    f.net->pump_until([&] { return bad.closed; });
    EXPECT_TRUE(bad.closed);
    EXPECT_EQ(bad.close_code, ErrorCode::kSyncServerError);
    EXPECT_FALSE(odd.closed);
}

// Random puts, updates, shares, unshares and removes by three users and direct server writes; then
// each user's store holds exactly the server's objects in its read scope.
TEST(ServerRules, RandomEditsConvergeToEachUsersScope) {
    const std::vector<std::string> users = {"alice", "bob", "carol"};
    for (uint32_t seed : {1u, 2u, 3u, 4u, 5u}) {
        std::mt19937 rng(seed);
        RulesNet f(kRules, /*history_max_records=*/60);
        std::vector<TestClient*> clients;
        for (const auto& u : users) clients.push_back(&f.user(u));
        const Entity& task = *f.model.entity("Task");
        std::vector<Gid> server_made;
        for (int step = 0; step < 300; ++step) {
            const size_t who = rng() % (users.size() + 1);
            const int op = static_cast<int>(rng() % 10);
            if (who == users.size()) {
                // The server store itself (as the MongoDB connector writes).
                auto uid = [&](const char* n) { return task.property(n)->id.uid; };
                if (server_made.empty() || op < 4) {
                    server_made.push_back(new_object_id_gid());
                    server_write(f, server_made.back(),
                                 {{uid("text"), Value("s" + std::to_string(step))},
                                  {uid("ownerId"), Value(users[rng() % users.size()])}},
                                 true);
                } else {
                    // An update event names a document that exists (a device may have removed it).
                    const Gid& g = server_made[rng() % server_made.size()];
                    if (!test::find(f.net->server_store(), "Task", g)) continue;
                    if (op < 7) {
                        server_write(f, g, {{uid("ownerId"), Value(users[rng() % 3])}}, false);
                    } else {
                        server_write(
                            f, g,
                            {{uid("sharedWith"), Value(Value::StringVector{users[rng() % 3]})}},
                            false);
                    }
                }
                continue;
            }
            TestClient& c = *clients[who];
            const std::string& me = users[who];
            auto box = c.box("Task");
            std::vector<uint64_t> ids;
            {
                auto txn = c.store->begin_read();
                ids = box.ids(*txn).value();
            }
            if (op < 3 || ids.empty()) {
                put_task(*c.store, rng() % 5 == 0 ? users[rng() % 3] : me,
                         me + std::to_string(step));
            } else if (op < 5) {
                test::put(*c.store, "Task", {{"text", Value(me + "-" + std::to_string(step))}},
                          ids[rng() % ids.size()]);
            } else if (op < 7) {
                Value::StringVector shared;
                if (rng() % 2) shared.push_back(users[rng() % 3]);
                test::put(*c.store, "Task", {{"sharedWith", Value(shared)}},
                          ids[rng() % ids.size()]);
            } else if (op < 8) {
                ASSERT_OK(box.remove(ids[rng() % ids.size()]));
            } else if (op < 9) {
                if (c.pipe) {
                    f.net->cut(c);
                } else {
                    f.net->connect(c);
                }
            }
            for (int k = static_cast<int>(rng() % 3); k > 0; --k) f.net->pump_once();
        }
        for (auto* c : clients) {
            if (!c->pipe) f.net->connect(*c);
        }
        f.settle();
        for (size_t i = 0; i < users.size(); ++i) {
            EXPECT_EQ(readable_tasks(*clients[i]->store, ""),
                      readable_tasks(f.net->server_store(), users[i]))
                << users[i] << " seed " << seed;
        }
    }
}

}  // namespace
}  // namespace outpost::sync
