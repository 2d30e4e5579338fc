// Unique properties under sync: two devices that give the same unique value to different objects
// offline. The object that reaches the server first keeps the value; the later put loses (a new
// object is removed, an edited one goes back to the server's state), every replica converges, and
// no client's outgoing queue gets stuck.
#include <gtest/gtest.h>

#include "common/status_macros.hpp"
#include "sync/sync_harness.hpp"

namespace outpost::sync {
namespace {

using testing::find;
using testing::gid;
using testing::put;
using testing::SyncNet;
using testing::TestClient;

Model user_model(uint32_t email_flags = kFlagUnique) {
    ModelBuilder mb;
    mb.entity("User")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("email", PropertyType::kString, email_flags)
        .property("name", PropertyType::kString);
    mb.entity("Note")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("text", PropertyType::kString);
    return mb.build().value();
}

// email -> GID of every User on STORE; a duplicate email fails the test.
std::map<std::string, Gid> users_by_email(Store& store) {
    std::map<std::string, Gid> out;
    auto box = store.box("User").value();
    auto txn = store.begin_read().value();
    for (uint64_t id : box.ids(txn).value()) {
        auto o = box.get(txn, id).value();
        auto g = gid_of(txn, box, id).value();
        if (!o || !g) continue;
        Value v = o->get("email");
        std::string email = v.is_null() ? "(null)" : v.as<std::string>();
        EXPECT_TRUE(out.emplace(email, *g).second) << "two users with email " << email;
    }
    return out;
}

TEST(SyncUnique, NewObjectsWithTheSameValueFirstToReachTheServerKeepsIt) {
    SyncNet net(user_model());
    auto& a = net.add_client("a");
    auto& b = net.add_client("b");
    auto& c = net.add_client("c");
    net.connect(c);
    // Offline, both create a user with the same email; B goes on working afterwards.
    uint64_t ida = put(*a.store, "User", {{"email", "x@example.org"}, {"name", "from a"}});
    uint64_t idb = put(*b.store, "User", {{"email", "x@example.org"}, {"name", "from b"}});
    uint64_t note = put(*b.store, "Note", {{"text", "after the clash"}});
    put(*b.store, "User", {{"name", "from b, edited"}}, idb);
    Gid ga = *gid(*a.store, "User", ida);
    Gid gb = *gid(*b.store, "User", idb);
    Gid gn = *gid(*b.store, "Note", note);

    net.connect(a);
    ASSERT_TRUE(net.pump_until([&] { return net.all_up_to_date(); }));
    net.connect(b);
    ASSERT_TRUE(net.pump_until([&] { return net.all_up_to_date(); }));
    net.pump_all();

    EXPECT_EQ(b.core->outgoing_queue_length(), 0u);
    for (Store* s : {a.store.get(), b.store.get(), c.store.get(), &net.server_store()}) {
        auto users = users_by_email(*s);
        ASSERT_EQ(users.size(), 1u);
        EXPECT_EQ(users["x@example.org"], ga);
        EXPECT_EQ(find(*s, "User", ga)->get("name"), Value("from a"));
        EXPECT_FALSE(find(*s, "User", gb).has_value());
        // B's other work went through.
        ASSERT_TRUE(find(*s, "Note", gn).has_value());
        EXPECT_EQ(find(*s, "Note", gn)->get("text"), Value("after the clash"));
    }
}

TEST(SyncUnique, EditToATakenValueGoesBackToTheServersState) {
    SyncNet net(user_model());
    auto& a = net.add_client("a");
    auto& b = net.add_client("b");
    net.connect(a);
    net.connect(b);
    uint64_t id1 = put(*a.store, "User", {{"email", "one@example.org"}, {"name", "one"}});
    uint64_t id2 = put(*a.store, "User", {{"email", "two@example.org"}, {"name", "two"}});
    Gid g1 = *gid(*a.store, "User", id1), g2 = *gid(*a.store, "User", id2);
    ASSERT_TRUE(net.pump_until(
        [&] { return net.all_up_to_date() && find(*b.store, "User", g2).has_value(); }));
    uint64_t id2b = find(*b.store, "User", g2)->id;

    net.cut(a);
    net.cut(b);
    put(*a.store, "User", {{"email", "new@example.org"}}, id1);
    put(*b.store, "User", {{"email", "new@example.org"}, {"name", "two, renamed"}}, id2b);
    net.connect(a);
    ASSERT_TRUE(net.pump_until([&] { return net.all_up_to_date(); }));
    net.connect(b);
    ASSERT_TRUE(net.pump_until([&] { return net.all_up_to_date(); }));
    net.pump_all();

    EXPECT_EQ(b.core->outgoing_queue_length(), 0u);
    for (Store* s : {a.store.get(), b.store.get(), &net.server_store()}) {
        auto users = users_by_email(*s);
        ASSERT_EQ(users.size(), 2u);
        EXPECT_EQ(users["new@example.org"], g1);
        EXPECT_EQ(users["two@example.org"], g2);
        // The whole put lost, its other properties too (as with a sync clock).
        EXPECT_EQ(find(*s, "User", g2)->get("name"), Value("two"));
    }

    // Later edits of the object that lost go through as usual.
    put(*b.store, "User", {{"name", "two, later"}}, id2b);
    ASSERT_TRUE(net.pump_until([&] { return net.all_up_to_date(); }));
    net.pump_all();
    EXPECT_EQ(find(*a.store, "User", g2)->get("name"), Value("two, later"));
}

// One transaction of A's that sets the emails of users STEPS in that order; then every replica
// syncs.
void set_emails(SyncNet& net, TestClient& a, const std::vector<std::pair<uint64_t, Value>>& steps) {
    ASSERT_OK(a.store->write([&](WriteTxn& txn) {
        auto box = a.box("User");
        for (const auto& [id, email] : steps) {
            Object u = box.get(txn, id).value().value();
            OUTPOST_RETURN_IF_ERROR(u.set("email", email));
            OUTPOST_RETURN_IF_ERROR(box.put(txn, u).status());
        }
        return Status::ok();
    }));
    ASSERT_TRUE(net.pump_until([&] { return net.all_up_to_date(); }));
    net.pump_all();
}

// A value freed in the transaction that takes it is no clash: handed on in either order the change
// log holds the two objects in, and swapped between two objects.
TEST(SyncUnique, ValueFreedMovedOrSwappedInOneTransactionArrives) {
    SyncNet net(user_model());
    auto& a = net.add_client("a");
    auto& b = net.add_client("b");
    net.connect(a);
    net.connect(b);
    uint64_t id1 = put(*a.store, "User", {{"email", "one@example.org"}});
    uint64_t id2 = put(*a.store, "User", {{"email", "two@example.org"}});
    Gid g1 = *gid(*a.store, "User", id1), g2 = *gid(*a.store, "User", id2);
    ASSERT_TRUE(net.pump_until([&] { return net.all_up_to_date(); }));
    auto expect_emails = [&](const char* of_1, const char* of_2) {
        for (Store* s : {a.store.get(), b.store.get(), &net.server_store()}) {
            auto users = users_by_email(*s);
            EXPECT_EQ(users.size(), 2u);
            EXPECT_EQ(users[of_1], g1);
            EXPECT_EQ(users[of_2], g2);
        }
        EXPECT_EQ(a.core->outgoing_queue_length(), 0u);
    };
    // User 1 hands "one@" to user 2 (user 1 logged first).
    set_emails(net, a, {{id1, Value("three@example.org")}, {id2, Value("one@example.org")}});
    expect_emails("three@example.org", "one@example.org");
    // User 2 is touched first (logged first) and takes "three@" back from user 1, which moves on.
    set_emails(net, a,
               {{id2, Value("temp@example.org")},
                {id1, Value("five@example.org")},
                {id2, Value("three@example.org")}});
    expect_emails("five@example.org", "three@example.org");
    // A swap (through a temporary value, as the local store needs one).
    set_emails(net, a,
               {{id1, Value("temp@example.org")},
                {id2, Value("five@example.org")},
                {id1, Value("three@example.org")}});
    expect_emails("three@example.org", "five@example.org");
}

// With onConflict replace the later put wins and the other object is removed everywhere.
TEST(SyncUnique, ReplaceStrategyLaterPutWins) {
    SyncNet net(user_model(kFlagUnique | kFlagUniqueReplace));
    auto& a = net.add_client("a");
    auto& b = net.add_client("b");
    uint64_t ida = put(*a.store, "User", {{"email", "x@example.org"}, {"name", "from a"}});
    uint64_t idb = put(*b.store, "User", {{"email", "x@example.org"}, {"name", "from b"}});
    Gid ga = *gid(*a.store, "User", ida), gb = *gid(*b.store, "User", idb);
    auto name = [&](Store& s) {
        return &s == a.store.get() ? "a" : &s == b.store.get() ? "b" : "server";
    };
    net.connect(a);
    ASSERT_TRUE(net.pump_until([&] { return net.all_up_to_date(); }));
    net.connect(b);
    ASSERT_TRUE(net.pump_until([&] { return net.all_up_to_date(); }));
    net.pump_all();
    for (Store* s : {a.store.get(), b.store.get(), &net.server_store()}) {
        auto users = users_by_email(*s);
        ASSERT_EQ(users.size(), 1u);
        EXPECT_EQ(users["x@example.org"], gb) << name(*s);
        EXPECT_FALSE(find(*s, "User", ga).has_value()) << name(*s);
    }
}

}  // namespace
}  // namespace outpost::sync
