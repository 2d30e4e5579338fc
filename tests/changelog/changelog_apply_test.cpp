// The change log's receiving side: remote change sets applied by GID (kRemote for clients, kRecord
// for a server's history), origins, and the meta values that commit with them.
#include <cmath>
#include <set>

#include "changelog/test_store.hpp"
#include "common/status_macros.hpp"

namespace outpost {
namespace {

using testing::changelog_model;
using testing::find_prop;
using testing::open_store;
using testing::read_all;
using testing::TempDir;
using testing::uid_of;

TEST(ChangeLog, RemoteChangeSetRoundTripsAndLogsNothing) {
    TempDir dir;
    Model m = changelog_model();
    auto a = open_store(dir.sub("a"), m);
    auto b = open_store(dir.sub("b"), m);
    auto pa = a->box("Person").value();
    auto na = a->box("Note").value();
    Object ada = pa.new_object(), bob = pa.new_object();
    ASSERT_OK(ada.set("name", "Ada"));
    ASSERT_OK(ada.set("photo", Bytes{0, 1, 2, 255}));
    ASSERT_OK(ada.set("tags", Value::StringVector{"x", "y"}));
    ASSERT_OK(ada.set("extra", Flex(Flex::Map{{"k", Flex(Flex::Array{1, "two", 3.5, nullptr})}})));
    ASSERT_OK(bob.set("name", "Bob"));
    Object note = na.new_object();
    {
        auto txn = a->begin_write();
        ASSERT_OK(pa.put(*txn, ada));
        ASSERT_OK(pa.put(*txn, bob));
        ASSERT_OK(note.set("text", "hello"));
        ASSERT_OK(note.set("author", static_cast<int64_t>(ada.id)));
        ASSERT_OK(note.set_to_many("readers", {bob.id, ada.id}));
        ASSERT_OK(na.put(*txn, note));
        ASSERT_OK(txn->commit());
    }
    // The note is listed before nothing else: apply everything a logged, in a fresh store, as one
    // set with the note first, so its relation targets are reserved before they arrive.
    auto recs = read_all(*a);
    ASSERT_EQ(recs.size(), 1u);
    ChangeSet cs = recs[0].changes;
    std::reverse(cs.objects.begin(), cs.objects.end());
    std::string origin_seen;
    b->add_observer([&](const Changes& c) { origin_seen = c.origin; });
    {
        auto txn = b->begin_write();
        ASSERT_OK(txn);
        Status st = ChangeLog::apply(*txn, cs, "peer-a");
        ASSERT_OK(st);
        ASSERT_OK(txn->commit());
    }
    EXPECT_EQ(origin_seen, "peer-a");
    EXPECT_TRUE(read_all(*b).empty());  // applied changes are not logged again

    auto pb = b->box("Person").value();
    auto nb = b->box("Note").value();
    auto txn = b->begin_read();
    Gid note_gid;
    {
        auto ra = a->begin_read();
        note_gid = gid_of(*ra, na, note.id)->value();
    }
    auto nid = local_id_of(*txn, nb, note_gid).value();
    ASSERT_TRUE(nid.has_value());
    auto got = nb.get(*txn, *nid).value();
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->get("text"), Value("hello"));
    // Relations resolve to the receiving store's local ids of the same objects.
    uint64_t author_local = static_cast<uint64_t>(got->get("author").as<int64_t>());
    auto author = pb.get(*txn, author_local).value();
    ASSERT_TRUE(author.has_value());
    EXPECT_EQ(author->get("name"), Value("Ada"));
    EXPECT_EQ(author->get("photo"), Value(Bytes{0, 1, 2, 255}));
    EXPECT_EQ(author->get("tags"), Value(Value::StringVector{"x", "y"}));
    EXPECT_EQ(author->get("extra"),
              Value(Flex(Flex::Map{{"k", Flex(Flex::Array{1, "two", 3.5, nullptr})}})));
    const auto& readers = got->get_to_many("readers");
    ASSERT_EQ(readers.size(), 2u);
    EXPECT_EQ(pb.get(*txn, readers[0]).value()->get("name"), Value("Bob"));
    EXPECT_EQ(readers[1], author_local);
    auto back = pb.backlinks(*txn, "Note", "author", author_local);
    ASSERT_OK(back);
    EXPECT_EQ(back.value(), std::vector<uint64_t>{*nid});
}

TEST(ChangeLog, RemoteUpdateMergesPropertiesAndRemoteRemoveDeletes) {
    TempDir dir;
    Model m = changelog_model();
    auto a = open_store(dir.sub("a"), m);
    auto b = open_store(dir.sub("b"), m);
    auto pa = a->box("Person").value();
    Object ada = pa.new_object();
    ASSERT_OK(ada.set("name", "Ada"));
    ASSERT_OK(ada.set("age", 36));
    ASSERT_OK(pa.put(ada));
    ASSERT_OK(ada.set("age", 37));
    ASSERT_OK(pa.put(ada));
    ASSERT_TRUE(pa.remove(ada.id).value());
    auto recs = read_all(*a);
    ASSERT_EQ(recs.size(), 3u);
    auto pb = b->box("Person").value();
    Gid gid = recs[0].changes.objects[0].gid;
    for (int i = 0; i < 3; ++i) {
        auto txn = b->begin_write();
        ASSERT_OK(ChangeLog::apply(*txn, recs[i].changes, "a"));
        ASSERT_OK(txn->commit());
        auto r = b->begin_read();
        auto id = local_id_of(*r, pb, gid).value();
        if (i < 2) {
            ASSERT_TRUE(id.has_value());
            auto o = pb.get(*r, *id).value();
            ASSERT_TRUE(o.has_value());
            EXPECT_EQ(o->get("name"), Value("Ada"));  // kept from the first change
            EXPECT_EQ(o->get("age"), Value(i == 0 ? 36 : 37));
        } else {
            EXPECT_FALSE(id.has_value());
            EXPECT_EQ(pb.count(*r).value(), 0u);
        }
    }
    EXPECT_TRUE(read_all(*b).empty());
}

TEST(ChangeLog, UuidGidsFollowExternalType) {
    ModelBuilder bld;
    bld.entity("U")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .external_type(ExternalType::kUuid)
        .property("x", PropertyType::kInt32);
    bld.entity("S")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .external_type(ExternalType::kUuidV4String)
        .property("x", PropertyType::kInt32);
    Model m = bld.build().value();
    TempDir dir;
    auto store = open_store(dir.path(), m);
    for (const char* name : {"U", "S"}) {
        auto box = store->box(name).value();
        Object o = box.new_object();
        ASSERT_OK(o.set("x", 1));
        ASSERT_OK(box.put(o));
    }
    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 2u);
    Gid u = recs[0].changes.objects[0].gid, s = recs[1].changes.objects[0].gid;
    ASSERT_EQ(u.size(), 18u);
    EXPECT_EQ(static_cast<uint8_t>(u[0]), 0x05);
    EXPECT_EQ(static_cast<uint8_t>(u[1]), 0x04);
    EXPECT_EQ(static_cast<uint8_t>(u[2 + 6]) >> 4, 7);  // version 7
    ASSERT_EQ(s.size(), 37u);
    EXPECT_EQ(s[0], 0x02);
    EXPECT_EQ(s[1 + 14], '4');  // version nibble of a v4 UUID string
    EXPECT_TRUE(gid_to_string(u).starts_with("UUID(\""));
}

TEST(ChangeLog, RecordModeLogsAppliedChangesWithOrigin) {
    testing::TempDir dir;
    Model m = testing::changelog_model();
    auto device = testing::open_store(dir.sub("device"), m);
    auto server = testing::open_store(dir.sub("server"), m);
    auto people = device->box("Person").value();
    Object p = people.new_object();
    ASSERT_OK(p.set("name", "Ada"));
    ASSERT_OK(p.set("age", 3));
    ASSERT_OK(people.put(p));
    ChangeSet cs;
    {
        auto t = device->begin_read();
        cs = ChangeLog::read(*t, 0, 10).value().at(0).changes;
    }
    {
        auto txn = server->begin_write();
        ASSERT_OK(ChangeLog::apply(*txn, cs, "client-7", ApplyMode::kRecord));
        ASSERT_OK(txn->commit());
        // The same change again changes nothing, so it records nothing.
        auto again = server->begin_write();
        ASSERT_OK(ChangeLog::apply(*again, cs, "client-7", ApplyMode::kRecord));
        ASSERT_OK(again->commit());
    }
    auto t = server->begin_read();
    auto recs = ChangeLog::read(*t, 0, 10).value();
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].origin, "client-7");
    ASSERT_EQ(recs[0].changes.objects.size(), 1u);
    EXPECT_EQ(recs[0].changes.objects[0].gid,
              cs.objects[0].gid);  // the device's GID, not a new one
    EXPECT_TRUE(recs[0].changes.objects[0].is_new);
    EXPECT_EQ(recs[0].changes.objects[0].properties.size(), 2u);
}

// Readers that pass over one origin's records (the MongoDB connector over its own) get them without
// their changes; every other record is decoded as before, and positions and origins are all there.
TEST(ChangeLog, ReadLeavesOutTheChangesOfASkippedOrigin) {
    TempDir dir;
    auto device = open_store(dir.sub("device"), changelog_model());
    auto server = open_store(dir.sub("server"), changelog_model());
    auto people = device->box("Person").value();
    for (int i = 0; i < 3; ++i) {
        Object p = people.new_object();
        ASSERT_OK(p.set("name", "P" + std::to_string(i)));
        ASSERT_OK(people.put(p));
    }
    std::vector<ChangeSet> sets;
    {
        auto t = device->begin_read();
        for (const auto& r : ChangeLog::read(*t, 0, 10).value()) sets.push_back(r.changes);
    }
    ASSERT_EQ(sets.size(), 3u);
    const char* origins[] = {"mongo", "client-1", "mongo"};
    for (size_t i = 0; i < 3; ++i) {
        auto txn = server->begin_write();
        ASSERT_OK(ChangeLog::apply(*txn, sets[i], origins[i], ApplyMode::kRecord));
        ASSERT_OK(txn->commit());
    }
    auto t = server->begin_read();
    auto all = ChangeLog::read(*t, 0, 10).value();
    auto skipped = ChangeLog::read(*t, 0, 10, "mongo").value();
    ASSERT_EQ(all.size(), 3u);
    ASSERT_EQ(skipped.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(skipped[i].position, all[i].position);
        EXPECT_EQ(skipped[i].origin, origins[i]);
        EXPECT_EQ(skipped[i].bytes, all[i].bytes);
        EXPECT_EQ(all[i].changes.objects.size(), 1u);
        EXPECT_EQ(skipped[i].changes.objects.size(), i == 1 ? 1u : 0u);
    }
    EXPECT_EQ(skipped[1].changes, all[1].changes);
    // A reader starting in the middle and reading one record.
    auto one = ChangeLog::read(*t, all[0].position, 1, "mongo").value();
    ASSERT_EQ(one.size(), 1u);
    EXPECT_EQ(one[0].changes, all[1].changes);
}

// The server's apply: new GIDs in any order, relation targets that arrive later in the same set or
// in a later one, each logged once with the sender's GID and mapped both ways.
TEST(ChangeLog, RecordModeMapsNewGidsInAnyOrderAndLogsReservedTargets) {
    testing::TempDir dir;
    auto server = testing::open_store(dir.path(), testing::changelog_model());
    uint64_t person = server->model().entity("Person")->id.uid;
    uint64_t note = server->model().entity("Note")->id.uid;
    uint64_t name = uid_of(*server, "Person", "name");
    uint64_t text = uid_of(*server, "Note", "text");
    uint64_t author = uid_of(*server, "Note", "author");
    auto oid = [](uint8_t last) {
        Gid g(13, '\0');
        g[0] = 0x07;
        g[12] = static_cast<char>(last);
        return g;
    };
    auto ref = [&](uint8_t last) {
        Gid g = oid(last);
        return Value(Bytes(g.begin(), g.end()));
    };
    auto put = [](uint64_t entity, Gid gid, uint64_t prop, Value v) {
        ObjectChange c;
        c.entity_uid = entity;
        c.gid = std::move(gid);
        c.is_new = true;
        c.properties.push_back({prop, std::move(v)});
        return c;
    };
    ChangeSet first;
    // Descending GIDs (no append to g:), a note whose author comes later in the set and one whose
    // author comes only in the next set.
    first.objects.push_back(put(person, oid(9), name, Value("Nine")));
    first.objects.push_back(put(person, oid(5), name, Value("Five")));
    first.objects.push_back(put(note, oid(8), author, ref(3)));
    first.objects.push_back(put(note, oid(7), author, ref(1)));
    first.objects.push_back(put(person, oid(3), name, Value("Three")));
    ChangeSet second;
    second.objects.push_back(put(person, oid(1), name, Value("One")));
    second.objects.push_back(put(note, oid(8), text, Value("edited")));
    for (const ChangeSet* cs : {&first, &second}) {
        auto txn = server->begin_write();
        ASSERT_OK(ChangeLog::apply(*txn, *cs, "c", ApplyMode::kRecord));
        ASSERT_OK(txn->commit());
    }
    auto recs = read_all(*server);
    ASSERT_EQ(recs.size(), 2u);
    ASSERT_EQ(recs[0].changes.objects.size(), 5u);
    for (size_t i = 0; i < 5; ++i) {
        const ObjectChange& c = recs[0].changes.objects[i];
        EXPECT_EQ(c.gid, first.objects[i].gid) << i;
        EXPECT_TRUE(c.is_new) << i;
        EXPECT_EQ(c.properties, first.objects[i].properties) << i;
    }
    ASSERT_EQ(recs[1].changes.objects.size(), 2u);
    EXPECT_EQ(recs[1].changes.objects[0].gid, oid(1));
    EXPECT_TRUE(recs[1].changes.objects[0].is_new);  // reserved by the note, made now
    EXPECT_EQ(recs[1].changes.objects[1].gid, oid(8));
    EXPECT_FALSE(recs[1].changes.objects[1].is_new);
    EXPECT_EQ(recs[1].changes.objects[1].properties, second.objects[1].properties);

    auto people = server->box("Person").value();
    auto notes = server->box("Note").value();
    auto t = server->begin_read();
    for (uint8_t g : {9, 5, 3, 1}) {
        auto id = local_id_of(*t, people, oid(g)).value();
        ASSERT_TRUE(id.has_value()) << int(g);
        EXPECT_EQ(gid_of(*t, people, *id).value().value_or(""), oid(g));
        auto obj = people.get(*t, *id).value();
        ASSERT_TRUE(obj.has_value());
    }
    for (auto [n, a] : {std::pair<uint8_t, uint8_t>{8, 3}, {7, 1}}) {
        auto id = local_id_of(*t, notes, oid(n)).value();
        ASSERT_TRUE(id.has_value());
        auto obj = notes.get(*t, *id).value();
        ASSERT_TRUE(obj.has_value());
        EXPECT_EQ(obj->get("author"),
                  Value(static_cast<int64_t>(*local_id_of(*t, people, oid(a)).value())));
    }
}

// A new object whose change names a property twice (and one this model lacks): the last value wins,
// the unknown property is skipped, as for an existing object.
TEST(ChangeLog, ApplyNewObjectWithRepeatedPropertyKeepsTheLastValue) {
    testing::TempDir dir;
    auto server = testing::open_store(dir.path(), testing::changelog_model());
    ObjectChange c;
    c.entity_uid = server->model().entity("Person")->id.uid;
    c.gid = Gid("\x02person-1", 9);
    c.is_new = true;
    c.properties.push_back({uid_of(*server, "Person", "name"), Value("first")});
    c.properties.push_back({12345, Value("not in this model")});
    c.properties.push_back({uid_of(*server, "Person", "age"), Value(int64_t{7})});
    c.properties.push_back({uid_of(*server, "Person", "name"), Value("second")});
    ChangeSet cs;
    cs.objects.push_back(c);
    {
        auto txn = server->begin_write();
        ASSERT_OK(ChangeLog::apply(*txn, cs, "c", ApplyMode::kRecord));
        ASSERT_OK(txn->commit());
    }
    auto people = server->box("Person").value();
    auto t = server->begin_read();
    auto id = local_id_of(*t, people, c.gid).value();
    ASSERT_TRUE(id.has_value());
    auto obj = people.get(*t, *id).value();
    ASSERT_TRUE(obj.has_value());
    EXPECT_EQ(obj->get("name"), Value("second"));
    EXPECT_EQ(obj->get("age"), Value(int64_t{7}));
    auto recs = ChangeLog::read(*t, 0, 10).value();
    ASSERT_EQ(recs.size(), 1u);
    ASSERT_EQ(recs[0].changes.objects.size(), 1u);
    EXPECT_EQ(recs[0].changes.objects[0].gid, c.gid);
    const PropertyChange* name =
        find_prop(recs[0].changes.objects[0], uid_of(*server, "Person", "name"));
    ASSERT_NE(name, nullptr);
    EXPECT_EQ(name->value, Value("second"));
}

// A type that does not fit the property is rejected for a new object as for an existing one.
TEST(ChangeLog, ApplyNewObjectRejectsMistypedValue) {
    testing::TempDir dir;
    auto server = testing::open_store(dir.path(), testing::changelog_model());
    ObjectChange c;
    c.entity_uid = server->model().entity("Person")->id.uid;
    c.gid = Gid("\x02person-2", 9);
    c.is_new = true;
    c.properties.push_back({uid_of(*server, "Person", "age"), Value("not a number")});
    ChangeSet cs;
    cs.objects.push_back(c);
    auto txn = server->begin_write();
    auto st = ChangeLog::apply(*txn, cs, "c", ApplyMode::kRecord);
    EXPECT_FALSE(st.is_ok());
    EXPECT_EQ(st.code(), ErrorCode::kTypeMismatch) << st.to_string();
}

// Applying changes to objects the store has (found by GID) uses no ids: the next new object gets
// the id after the last one made.
TEST(ChangeLog, ApplyToKnownGidsUsesNoIds) {
    testing::TempDir dir;
    auto server = testing::open_store(dir.path(), testing::changelog_model());
    uint64_t person = server->model().entity("Person")->id.uid;
    uint64_t age = uid_of(*server, "Person", "age");
    auto change = [&](const char* gid, int64_t v) {
        ObjectChange c;
        c.entity_uid = person;
        c.gid = Gid(gid);
        c.properties.push_back({age, Value(v)});
        return c;
    };
    ChangeSet first;
    first.objects.push_back(
        change("\x02"
               "a",
               1));
    first.objects.push_back(
        change("\x02"
               "b",
               2));
    ChangeSet again;  // both known, in and out of g:'s order
    again.objects.push_back(
        change("\x02"
               "b",
               3));
    again.objects.push_back(
        change("\x02"
               "a",
               4));
    again.objects.push_back(
        change("\x02"
               "c",
               5));  // new: takes the next id
    for (const ChangeSet* cs : {&first, &again}) {
        auto txn = server->begin_write();
        ASSERT_OK(ChangeLog::apply(*txn, *cs, "c", ApplyMode::kRecord));
        ASSERT_OK(txn->commit());
    }
    auto people = server->box("Person").value();
    auto t = server->begin_read();
    EXPECT_EQ(local_id_of(*t, people,
                          Gid("\x02"
                              "a"))
                  .value()
                  .value_or(0),
              1u);
    EXPECT_EQ(local_id_of(*t, people,
                          Gid("\x02"
                              "b"))
                  .value()
                  .value_or(0),
              2u);
    EXPECT_EQ(local_id_of(*t, people,
                          Gid("\x02"
                              "c"))
                  .value()
                  .value_or(0),
              3u);
    EXPECT_EQ(people.get(*t, 1).value()->get("age"), Value(int64_t{4}));
    EXPECT_EQ(people.get(*t, 2).value()->get("age"), Value(int64_t{3}));
    EXPECT_EQ(people.count(*t).value(), 3u);
    t->close();
    Object p = people.new_object();
    ASSERT_OK(p.set("age", 6));
    EXPECT_EQ(people.put(p).value(), 4u);
}

TEST(ChangeLog, LocalWritesHaveNoOriginAndTrimmingDropsOrigins) {
    testing::TempDir dir;
    auto store = testing::open_store(dir.path(), testing::changelog_model());
    auto people = store->box("Person").value();
    {
        auto txn = store->begin_write();
        txn->set_origin("import");
        Object p = people.new_object();
        ASSERT_OK(p.set("age", 1));
        ASSERT_OK(people.put(*txn, p));
        ASSERT_OK(txn->commit());
    }
    Object q = people.new_object();
    ASSERT_OK(q.set("age", 2));
    ASSERT_OK(people.put(q));
    {
        auto t = store->begin_read();
        auto recs = ChangeLog::read(*t, 0, 10).value();
        ASSERT_EQ(recs.size(), 2u);
        EXPECT_EQ(recs[0].origin, "import");
        EXPECT_EQ(recs[1].origin, "");
    }
    auto txn = store->begin_write();
    ASSERT_OK(ChangeLog::acknowledge(*txn, 1));
    ASSERT_OK(txn->commit());
    auto t = store->begin_read();
    auto recs = ChangeLog::read(*t, 0, 10).value();
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].position, 2u);
}

TEST(SyncMeta, ValuesCommitAndAbortWithTheTransaction) {
    testing::TempDir dir;
    auto store = testing::open_store(dir.path(), testing::changelog_model());
    {
        auto txn = store->begin_write();
        ASSERT_OK(put_meta(*txn, "sync.last_server_seq", "42"));
        ASSERT_OK(txn->commit());
    }
    {
        auto txn = store->begin_write();
        ASSERT_OK(put_meta(*txn, "sync.last_server_seq", "43"));
        txn->abort();
    }
    {
        auto t = store->begin_read();
        auto v = get_meta(*t, "sync.last_server_seq");
        ASSERT_OK(v);
        EXPECT_EQ(v->value_or(""), "42");
        EXPECT_FALSE(get_meta(*t, "missing").value().has_value());
        EXPECT_FALSE(get_meta(*t, "").is_ok());
    }
    auto txn = store->begin_write();
    ASSERT_OK(remove_meta(*txn, "sync.last_server_seq"));
    ASSERT_OK(txn->commit());
    auto t = store->begin_read();
    EXPECT_FALSE(get_meta(*t, "sync.last_server_seq").value().has_value());
}

}  // namespace
}  // namespace outpost
