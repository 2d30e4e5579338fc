// History on the wire: full syncs (streamed, chunked), catch-up, transactions and records too big
// for one frame, restored servers, and the history's bounds.
#include <gtest/gtest.h>

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

void fill_server(SyncNet& net, int n) {
    auto box = net.server_store().box("Person").value();
    ASSERT_OK(net.server_store().write([&](WriteTxn& txn) {
        for (int i = 0; i < n; ++i) {
            Object o = box.new_object();
            OUTPOST_RETURN_IF_ERROR(o.set("name", "s" + std::to_string(i)));
            OUTPOST_RETURN_IF_ERROR(o.set("age", i));
            OUTPOST_RETURN_IF_ERROR(box.put(txn, o).status());
        }
        return Status::ok();
    }));
}

// A transaction too big for one frame goes in parts and arrives whole, as one transaction.
TEST(Sync, TransactionAboveTheMessageSizeArrivesWhole) {
    ServerOptions options = SyncNet::default_options();
    options.max_message_size = 64 << 10;
    options.full_sync_chunk_bytes = 16 << 10;
    SyncNet net(testing::sync_model(), options);
    net.client_max_message_size = 64 << 10;
    auto& a = net.add_client("a");
    auto& b = net.add_client("b");
    auto& c = net.add_client("c");
    net.connect(a);
    net.connect(b);
    net.connect(c);
    put(*a.store, "Person", {{"name", "first"}});
    ASSERT_TRUE(net.pump_until([&] { return up(net) && count(*c.store, "Person") == 1; }));
    net.cut(c);  // catches up from history later
    std::vector<uint64_t> ids;
    ASSERT_OK(a.store->write([&](WriteTxn& txn) {
        auto box = a.box("Person");
        for (int i = 0; i < 3000; ++i) {
            Object o = box.new_object();
            OUTPOST_RETURN_IF_ERROR(
                o.set("name", Value("person " + std::to_string(i) + std::string(80, '.'))));
            OUTPOST_RETURN_IF_ERROR(o.set("age", Value(i)));
            OUTPOST_ASSIGN_OR_RETURN(uint64_t id, box.put(txn, o));
            ids.push_back(id);
        }
        return Status::ok();
    }));
    {
        auto txn = a.store->begin_read().value();
        auto recs = ChangeLog::read(txn, 0, 10).value();
        ASSERT_EQ(recs.size(), 1u);
        ASSERT_GT(encode_message(Push{recs[0].position, recs[0].changes}).size(), 4u * (64 << 10));
        EXPECT_EQ(recs[0].changes.objects.size(), 3000u);
    }
    ASSERT_TRUE(net.pump_until([&] { return up(net) && count(*b.store, "Person") == 3001; }))
        << "a closed: " << a.closed << " " << static_cast<int>(a.close_code)
        << ", b closed: " << b.closed << " " << static_cast<int>(b.close_code);
    EXPECT_EQ(a.core->outgoing_queue_length(), 0u);
    EXPECT_EQ(count(net.server_store(), "Person"), 3001u);
    Gid last = *gid(*a.store, "Person", ids.back());
    EXPECT_EQ(find(*b.store, "Person", last)->get("age"), Value(2999));
    auto txn = net.server_store().begin_read().value();
    auto recs = ChangeLog::read(txn, 0, 10).value();
    ASSERT_EQ(recs.size(), 2u);  // one record for the big transaction on the server too
    EXPECT_EQ(recs[1].changes.objects.size(), 3000u);
    txn.close();
    net.connect(c);
    ASSERT_TRUE(net.pump_until([&] { return up(net) && count(*c.store, "Person") == 3001; }))
        << c.closed << " " << static_cast<int>(c.close_code) << " " << count(*c.store, "Person");
    EXPECT_EQ(find(*c.store, "Person", last)->get("age"), Value(2999));
}

// A server restored from an older copy of its data, whose history then grew past a client's
// position: the record at that position is another one now, which the client's tag tells, so it
// gets a full sync instead of resuming from a position that no longer means what it applied.
TEST(Sync, ClientOfARestoredServerGetsAFullSync) {
    SyncNet net;
    auto& a = net.add_client("a");
    auto& b = net.add_client("b");
    net.connect(a);
    net.connect(b);
    Gid one = *gid(*a.store, "Person", put(*a.store, "Person", {{"name", "one"}}));
    ASSERT_TRUE(
        net.pump_until([&] { return up(net) && find(*b.store, "Person", one).has_value(); }));
    net.backup_server("backup");
    Gid two = *gid(*a.store, "Person", put(*a.store, "Person", {{"name", "two"}}));
    ASSERT_TRUE(
        net.pump_until([&] { return up(net) && find(*b.store, "Person", two).has_value(); }));
    const uint64_t b_position = b.core->server_seq();

    net.restore_server("backup");  // "two" is gone with the newer data
    auto& c = net.add_client("c");
    net.connect(c);
    Gid three = *gid(*c.store, "Person", put(*c.store, "Person", {{"name", "three"}}));
    ASSERT_TRUE(net.pump_until(
        [&] { return up(net) && find(net.server_store(), "Person", three).has_value(); }));
    {
        auto txn = net.server_store().begin_read().value();
        ASSERT_GE(*ChangeLog::last_position(txn), b_position);  // b's position exists again
    }
    const uint64_t full_syncs = net.server().stats().full_syncs;
    net.connect(b);
    ASSERT_TRUE(net.pump_until([&] { return up(net); }));
    EXPECT_EQ(net.server().stats().full_syncs, full_syncs + 1);
    EXPECT_TRUE(find(*b.store, "Person", one).has_value());
    EXPECT_TRUE(find(*b.store, "Person", three).has_value());
    EXPECT_FALSE(find(*b.store, "Person", two).has_value());

    // A client whose position still names the same record resumes as usual.
    net.cut(c);
    Gid four = *gid(*b.store, "Person", put(*b.store, "Person", {{"name", "four"}}));
    ASSERT_TRUE(
        net.pump_until([&] { return find(net.server_store(), "Person", four).has_value(); }));
    net.connect(c);
    ASSERT_TRUE(
        net.pump_until([&] { return up(net) && find(*c.store, "Person", four).has_value(); }));
    EXPECT_EQ(net.server().stats().full_syncs, full_syncs + 1);
}

TEST(Sync, NewClientGetsFullSyncInChunks) {
    SyncNet net;
    fill_server(net, 10000);
    auto& c = net.add_client("new");
    net.connect(c);
    ASSERT_TRUE(net.pump_until([&] { return up(net); }));
    EXPECT_EQ(count(*c.store, "Person"), 10000u);
    EXPECT_GE(c.received["FullSyncChunk"], 10);
    EXPECT_EQ(c.received["Apply"], 0);
    EXPECT_EQ(net.server().stats().full_syncs, 1u);
    // Then deltas.
    auto& d = net.add_client("d");
    net.connect(d);
    ASSERT_TRUE(net.pump_until([&] { return up(net); }));
    uint64_t id = put(*d.store, "Person", {{"name", "delta"}});
    Gid g = *gid(*d.store, "Person", id);
    ASSERT_TRUE(net.pump_until([&] { return find(*c.store, "Person", g).has_value(); }));
    EXPECT_EQ(c.received["Apply"], 1);
}

// The full sync is streamed as the connection drains. What happens meanwhile is not lost and not
// applied out of order: writes of other clients (also to objects already sent, and past the history
// bound) follow as a catch-up, and the new client's own pushes wait for the end of its full sync.
TEST(Sync, StreamedFullSyncMissesNothingWrittenMeanwhile) {
    ServerOptions o = SyncNet::default_options();
    o.full_sync_chunk_objects = 100;
    o.full_sync_window_bytes = 4 << 10;  // a few chunks at a time
    o.history_max_records = 3;
    SyncNet net(testing::sync_model(), o);
    fill_server(net, 3000);
    auto& a = net.add_client("a");
    net.connect(a);
    ASSERT_TRUE(net.pump_until([&] { return up(net); }));
    Gid first = *gid(*a.store, "Person", 1);  // sent in the first chunk

    auto& c = net.add_client("new");
    Gid mine = *gid(*c.store, "Person", put(*c.store, "Person", {{"name", "made offline"}}));
    net.connect(c);
    for (int i = 0; i < 4; ++i) net.pump_once();
    ASSERT_GT(c.received["FullSyncChunk"], 0);
    ASSERT_LT(c.received["FullSyncChunk"], 30);                          // still in progress
    EXPECT_FALSE(find(net.server_store(), "Person", mine).has_value());  // its push waits
    // Others write meanwhile (to objects sent already and not yet): more records than the history
    // keeps.
    put(*a.store, "Person", {{"name", "changed meanwhile"}}, 1);
    put(*a.store, "Person", {{"name", "last, changed meanwhile"}}, 3000);
    Gid last = *gid(*a.store, "Person", 3000);
    std::vector<Gid> added;
    for (int i = 0; i < 10; ++i) {
        added.push_back(
            *gid(*a.store, "Person",
                 put(*a.store, "Person", {{"name", "meanwhile " + std::to_string(i)}})));
        net.pump_once();
    }
    ASSERT_TRUE(net.pump_until([&] { return up(net); }));
    net.pump_all();
    EXPECT_GE(c.received["FullSyncChunk"], 30);
    EXPECT_EQ(net.server().stats().full_syncs, 2u);  // a's and the new client's, no second one
    for (Store* s : {a.store.get(), c.store.get(), &net.server_store()}) {
        EXPECT_EQ(count(*s, "Person"), 3000u + 10u + 1u);
        EXPECT_EQ(find(*s, "Person", first)->get("name"), Value("changed meanwhile"));
        EXPECT_EQ(find(*s, "Person", last)->get("name"), Value("last, changed meanwhile"));
        for (const Gid& g : added) EXPECT_TRUE(find(*s, "Person", g).has_value());
        EXPECT_TRUE(find(*s, "Person", mine).has_value());
    }
    EXPECT_EQ(c.core->outgoing_queue_length(), 0u);
}

TEST(Sync, ClientBehindTrimmedHistoryGetsFullSync) {
    ServerOptions o = SyncNet::default_options();
    o.history_max_records = 5;
    SyncNet net(testing::sync_model(), o);
    auto& a = net.add_client("a");
    auto& b = net.add_client("b");
    net.connect(a);
    net.connect(b);
    uint64_t doomed = put(*a.store, "Person", {{"name", "doomed"}});
    Gid dg = *gid(*a.store, "Person", doomed);
    ASSERT_TRUE(
        net.pump_until([&] { return up(net) && find(*b.store, "Person", dg).has_value(); }));
    net.cut(b);
    // 20 transactions while B is away: the server keeps only 5.
    for (int i = 0; i < 20; ++i) put(*a.store, "Person", {{"name", "n" + std::to_string(i)}});
    ASSERT_TRUE(net.pump_until([&] { return up(net); }));
    {
        auto txn = net.server_store().begin_read();
        EXPECT_EQ(*ChangeLog::size(*txn), 5u);
        EXPECT_EQ(*ChangeLog::last_position(*txn), 21u);
    }
    uint64_t full_before = net.server().stats().full_syncs;
    // B made an object offline; and A removes the first object while B is away (beyond the
    // history).
    uint64_t offline = put(*b.store, "Person", {{"name", "made offline by b"}});
    Gid og = *gid(*b.store, "Person", offline);
    ASSERT_OK(a.box("Person").remove(doomed));
    for (int i = 0; i < 6; ++i) put(*a.store, "Person", {{"name", "m" + std::to_string(i)}});
    ASSERT_TRUE(net.pump_until([&] { return up(net); }));
    net.connect(b);
    ASSERT_TRUE(
        net.pump_until([&] { return up(net) && find(*a.store, "Person", og).has_value(); }));
    EXPECT_EQ(net.server().stats().full_syncs, full_before + 1);
    EXPECT_FALSE(
        find(*b.store, "Person", dg).has_value());          // the removal reached B by the snapshot
    EXPECT_TRUE(find(*b.store, "Person", og).has_value());  // B's offline object survived it
    EXPECT_EQ(count(*b.store, "Person"), 27u);
    EXPECT_EQ(count(*a.store, "Person"), 27u);

    // Within the kept history: a catch-up, not a full sync.
    net.cut(b);
    put(*a.store, "Person", {{"name", "one more"}});
    ASSERT_TRUE(net.pump_until([&] { return up(net); }));
    net.connect(b);
    ASSERT_TRUE(net.pump_until([&] { return up(net); }));
    EXPECT_EQ(net.server().stats().full_syncs, full_before + 1);
    EXPECT_EQ(count(*b.store, "Person"), 28u);
}

TEST(Sync, ServerSideWritesFanOutOnPoll) {
    SyncNet net;
    auto& a = net.add_client("a");
    net.connect(a);
    ASSERT_TRUE(net.pump_until([&] { return up(net); }));
    fill_server(net, 3);  // e.g. the MongoDB connector writing to the server store
    ASSERT_TRUE(net.pump_until([&] { return count(*a.store, "Person") == 3; }));
}

// Records that others wrote and that no poll has fanned out yet are never trimmed, however small
// the history bound: a push that trims history first fans them out.
TEST(Sync, UnsentRecordsOfOthersAreNotTrimmed) {
    ServerOptions o = SyncNet::default_options();
    o.history_max_records = 2;
    SyncNet net(testing::sync_model(), o);
    auto& a = net.add_client("a");
    auto& b = net.add_client("b");
    net.connect(a);
    net.connect(b);
    ASSERT_TRUE(net.pump_until([&] { return up(net); }));
    for (int i = 0; i < 5; ++i) fill_server(net, 1);  // five records, no poll yet
    uint64_t id = put(*a.store, "Person", {{"name", "from a"}});
    ASSERT_TRUE(net.pump_until([&] { return up(net) && count(*b.store, "Person") == 6; }));
    EXPECT_TRUE(find(*b.store, "Person", *gid(*a.store, "Person", id)).has_value());
    EXPECT_EQ(count(*a.store, "Person"), 6u);
}

TEST(Sync, HistoryTrimStopsAtTheTrimLimit) {
    using namespace outpost::sync::testing;
    ServerOptions o = SyncNet::default_options();
    o.history_max_records = 2;
    uint64_t limit = 0;
    o.history_trim_limit = [&] { return limit; };
    SyncNet net(sync_model(), o);
    auto& a = net.add_client("a");
    net.connect(a);
    for (int i = 0; i < 5; ++i) {
        put(*a.store, "Person", {{"name", Value("p" + std::to_string(i))}});
        ASSERT_TRUE(net.pump_until([&] { return up(net); }));
    }
    auto size = [&] {
        auto txn = net.server_store().begin_read();
        return ChangeLog::size(*txn).value();
    };
    EXPECT_EQ(size(), 5u) << "nothing trimmed while the limit is 0";
    limit = 4;
    put(*a.store, "Person", {{"name", "p5"}});
    ASSERT_TRUE(net.pump_until([&] { return up(net); }));
    EXPECT_EQ(size(), 2u) << "trimmed to the bound once the limit allows it";
}

}  // namespace
}  // namespace outpost::sync
