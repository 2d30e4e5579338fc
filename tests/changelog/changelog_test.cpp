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
TEST(ChangeLog, NewObjectGetsObjectIdGidAndFullRecord) {
    TempDir dir;
    auto store = open_store(dir.path(), changelog_model());
    auto box = store->box("Person").value();
    Object p = box.new_object();
    ASSERT_OK(p.set("name", "Ada"));
    ASSERT_OK(p.set("age", 36));
    auto id = box.put(p);
    ASSERT_OK(id);

    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].position, 1u);
    ASSERT_EQ(recs[0].changes.objects.size(), 1u);
    const ObjectChange& c = recs[0].changes.objects[0];
    EXPECT_EQ(c.kind, ObjectChange::kPut);
    EXPECT_TRUE(c.is_new);
    EXPECT_EQ(c.entity_uid, store->model().entity("Person")->id.uid);
    ASSERT_EQ(c.gid.size(), 13u);
    EXPECT_EQ(static_cast<uint8_t>(c.gid[0]), 0x07);
    // Only non-null properties of a new object.
    EXPECT_EQ(c.properties.size(), 2u);
    ASSERT_NE(find_prop(c, uid_of(*store, "Person", "name")), nullptr);
    EXPECT_EQ(find_prop(c, uid_of(*store, "Person", "name"))->value, Value("Ada"));

    auto txn = store->begin_read();
    auto gid = gid_of(*txn, box, *id);
    ASSERT_OK(gid);
    ASSERT_TRUE(gid->has_value());
    EXPECT_EQ(**gid, c.gid);
    auto back = local_id_of(*txn, box, c.gid);
    ASSERT_OK(back);
    EXPECT_EQ(**back, *id);
}

TEST(ChangeLog, UpdateLogsOnlyChangedProperties) {
    TempDir dir;
    auto store = open_store(dir.path(), changelog_model());
    auto box = store->box("Person").value();
    Object p = box.new_object();
    ASSERT_OK(p.set("name", "Ada"));
    ASSERT_OK(p.set("age", 36));
    ASSERT_OK(p.set("score", std::nan("")));
    ASSERT_OK(box.put(p));
    ASSERT_OK(p.set("age", 37));
    ASSERT_OK(box.put(p));
    ASSERT_OK(box.put(p));  // no change at all: no record
    ASSERT_OK(p.set("name", nullptr));
    ASSERT_OK(box.put(p));

    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 3u);
    const ObjectChange& upd = recs[1].changes.objects.at(0);
    EXPECT_FALSE(upd.is_new);
    ASSERT_EQ(upd.properties.size(), 1u);
    EXPECT_EQ(upd.properties[0].property_uid, uid_of(*store, "Person", "age"));
    EXPECT_EQ(upd.properties[0].value, Value(37));
    const ObjectChange& cleared = recs[2].changes.objects.at(0);
    ASSERT_EQ(cleared.properties.size(), 1u);
    EXPECT_TRUE(cleared.properties[0].value.is_null());
}

TEST(ChangeLog, SeveralPutsInOneTransactionBecomeOneEntry) {
    TempDir dir;
    auto store = open_store(dir.path(), changelog_model());
    auto box = store->box("Person").value();
    auto txn = store->begin_write();
    Object p = box.new_object();
    ASSERT_OK(p.set("name", "Ada"));
    ASSERT_OK(box.put(*txn, p));
    ASSERT_OK(p.set("age", 1));
    ASSERT_OK(box.put(*txn, p));
    ASSERT_OK(p.set("age", 2));
    ASSERT_OK(box.put(*txn, p));
    ASSERT_OK(txn->commit());
    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 1u);
    ASSERT_EQ(recs[0].changes.objects.size(), 1u);
    const auto& c = recs[0].changes.objects[0];
    EXPECT_TRUE(c.is_new);
    ASSERT_NE(find_prop(c, uid_of(*store, "Person", "age")), nullptr);
    EXPECT_EQ(find_prop(c, uid_of(*store, "Person", "age"))->value, Value(2));
    EXPECT_EQ(c.properties.size(), 2u);
}

TEST(ChangeLog, RemoveLogsGidAndNewThenRemovedLogsNothing) {
    TempDir dir;
    auto store = open_store(dir.path(), changelog_model());
    auto box = store->box("Person").value();
    Object p = box.new_object();
    ASSERT_OK(p.set("name", "Ada"));
    ASSERT_OK(box.put(p));
    Gid gid = read_all(*store)[0].changes.objects[0].gid;
    ASSERT_TRUE(box.remove(p.id).value());
    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 2u);
    const auto& rm = recs[1].changes.objects.at(0);
    EXPECT_EQ(rm.kind, ObjectChange::kRemove);
    EXPECT_EQ(rm.gid, gid);

    auto txn = store->begin_write();
    Object q = box.new_object();
    ASSERT_OK(q.set("name", "Temp"));
    ASSERT_OK(box.put(*txn, q));
    ASSERT_TRUE(box.remove(*txn, q.id).value());
    ASSERT_OK(txn->commit());
    EXPECT_EQ(read_all(*store).size(), 2u);
}

// A transaction big enough to fill several of the log's 1 MiB chunks, with objects touched again
// (merged), made and removed (dropped), explicit ids above the sequence, and older objects updated
// and removed in between: one record, one entry per object in first-touch order, GIDs mapped both
// ways.
TEST(ChangeLog, BigTransactionIsOneRecordInFirstTouchOrder) {
    TempDir dir;
    auto store = open_store(dir.path(), changelog_model());
    auto box = store->box("Person").value();
    const uint64_t name_uid = uid_of(*store, "Person", "name"),
                   age_uid = uid_of(*store, "Person", "age");
    std::vector<uint64_t> old_ids;
    {
        auto txn = store->begin_write();
        for (int i = 0; i < 3; ++i) {
            Object p = box.new_object();
            ASSERT_OK(p.set("name", "old-" + std::to_string(i)));
            ASSERT_OK(p.set("age", i));
            ASSERT_OK(box.put(*txn, p));
            old_ids.push_back(p.id);
        }
        ASSERT_OK(txn->commit());
    }

    struct Want {
        uint64_t id;
        bool is_new;
        bool removed;
        std::string name;  // empty: not logged
        int age;
    };
    std::vector<Want> want;  // first-touch order
    size_t updated_old = 0;  // index of the older object's entry in `want`
    const std::string pad(120, 'x');
    const int n = 40000;
    auto txn = store->begin_write();
    for (int i = 0; i < n; ++i) {
        Object p = box.new_object();
        if (i == 20000) p.id = 1000000;  // an explicit id above the sequence: later ids follow it
        ASSERT_OK(p.set("name", "person-" + std::to_string(i) + pad));
        ASSERT_OK(p.set("age", i));
        ASSERT_OK(box.put(*txn, p));
        want.push_back({p.id, true, false, "person-" + std::to_string(i) + pad, i});
        if (i % 1000 == 7) {  // touched again: merged into its entry
            ASSERT_OK(p.set("age", -i));
            ASSERT_OK(box.put(*txn, p));
            want.back().age = -i;
        }
        if (i % 1000 == 8) {  // made and removed: no entry
            ASSERT_TRUE(box.remove(*txn, p.id).value());
            want.pop_back();
        }
        if (i == 100) {  // an older object updated
            auto o = box.get(*txn, old_ids[0]).value();
            ASSERT_OK(o->set("age", 99));
            ASSERT_OK(box.put(*txn, *o));
            updated_old = want.size();
            want.push_back({old_ids[0], false, false, "", 99});
        }
        if (i == 200) {  // an older object removed
            ASSERT_TRUE(box.remove(*txn, old_ids[1]).value());
            want.push_back({old_ids[1], false, true, "", 0});
        }
        if (i == 30000) {  // the updated older object touched again
            auto o = box.get(*txn, old_ids[0]).value();
            ASSERT_OK(o->set("name", "renamed"));
            ASSERT_OK(box.put(*txn, *o));
            want[updated_old].name = "renamed";
        }
    }
    ASSERT_OK(txn->commit());

    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 2u);
    const auto& objects = recs[1].changes.objects;
    ASSERT_EQ(objects.size(), want.size());
    auto rtxn = store->begin_read();
    std::set<Gid> gids;
    for (size_t i = 0; i < want.size(); ++i) {
        const ObjectChange& c = objects[i];
        const Want& w = want[i];
        SCOPED_TRACE("entry " + std::to_string(i) + ", object " + std::to_string(w.id));
        EXPECT_TRUE(gids.insert(c.gid).second);
        if (w.removed) {
            EXPECT_EQ(c.kind, ObjectChange::kRemove);
            EXPECT_FALSE(local_id_of(*rtxn, box, c.gid).value().has_value());
            EXPECT_FALSE(gid_of(*rtxn, box, w.id).value().has_value());
            continue;
        }
        ASSERT_EQ(c.kind, ObjectChange::kPut);
        EXPECT_EQ(c.is_new, w.is_new);
        auto gid = gid_of(*rtxn, box, w.id);
        ASSERT_OK(gid);
        ASSERT_TRUE(gid->has_value());
        EXPECT_EQ(**gid, c.gid);
        auto id = local_id_of(*rtxn, box, c.gid);
        ASSERT_OK(id);
        ASSERT_TRUE(id->has_value());
        EXPECT_EQ(**id, w.id);
        const auto* age = find_prop(c, age_uid);
        ASSERT_NE(age, nullptr);
        EXPECT_EQ(age->value, Value(w.age));
        const auto* name = find_prop(c, name_uid);
        if (w.is_new || !w.name.empty()) {
            ASSERT_NE(name, nullptr);
            EXPECT_EQ(name->value, Value(w.name));
        } else {
            EXPECT_EQ(name, nullptr);
        }
        EXPECT_EQ(c.properties.size(), name ? 2u : 1u);
        if (::testing::Test::HasFailure()) break;
    }
}

// Explicit ids around the ids the sequence hands out, an id made, removed and made again, then a
// gap: every object keeps exactly one entry, and a later put of it merges into that entry.
TEST(ChangeLog, ObjectMadeRemovedAndMadeAgainKeepsOneEntry) {
    TempDir dir;
    auto store = open_store(dir.path(), changelog_model());
    auto box = store->box("Person").value();
    const uint64_t age_uid = uid_of(*store, "Person", "age");
    auto txn = store->begin_write();
    auto put = [&](uint64_t id, const std::string& name) {
        Object p = box.new_object();
        p.id = id;
        EXPECT_OK(p.set("name", name));
        auto r = box.put(*txn, p);
        EXPECT_OK(r);
        return p.id;
    };
    EXPECT_EQ(put(0, "a"), 1u);
    EXPECT_EQ(put(0, "b"), 2u);
    put(5, "first five");
    ASSERT_TRUE(box.remove(*txn, 5).value());
    put(3, "c");
    put(4, "d");
    put(5, "five again");
    put(100, "e");
    EXPECT_EQ(put(0, "f"), 101u);
    auto five = box.get(*txn, 5).value();
    ASSERT_OK(five->set("age", 55));
    ASSERT_OK(box.put(*txn, *five));
    ASSERT_OK(txn->commit());

    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 1u);
    const auto& objects = recs[0].changes.objects;
    auto rtxn = store->begin_read();
    std::vector<uint64_t> ids;
    for (const auto& c : objects) {
        auto id = local_id_of(*rtxn, box, c.gid);
        ASSERT_OK(id);
        ASSERT_TRUE(id->has_value());
        ids.push_back(**id);
        EXPECT_TRUE(c.is_new);
    }
    EXPECT_EQ(ids, (std::vector<uint64_t>{1, 2, 3, 4, 5, 100, 101}));
    const auto* age = find_prop(objects[4], age_uid);
    ASSERT_NE(age, nullptr);
    EXPECT_EQ(age->value, Value(55));
}

TEST(ChangeLog, LocalOnlyEntitiesLogNothing) {
    TempDir dir;
    auto store = open_store(dir.path(), changelog_model());
    auto box = store->box("Draft").value();
    Object d = box.new_object();
    ASSERT_OK(d.set("text", "local"));
    ASSERT_OK(box.put(d));
    ASSERT_TRUE(box.remove(d.id).value());
    EXPECT_TRUE(read_all(*store).empty());
    auto txn = store->begin_read();
    EXPECT_EQ(ChangeLog::last_position(*txn).value(), 0u);
}

TEST(ChangeLog, RelationsAreLoggedAsTargetGids) {
    TempDir dir;
    auto store = open_store(dir.path(), changelog_model());
    auto people = store->box("Person").value();
    auto notes = store->box("Note").value();
    Object a = people.new_object(), b = people.new_object();
    ASSERT_OK(a.set("name", "A"));
    ASSERT_OK(b.set("name", "B"));
    ASSERT_OK(people.put(a));
    ASSERT_OK(people.put(b));
    Object n = notes.new_object();
    ASSERT_OK(n.set("text", "hi"));
    ASSERT_OK(n.set("author", static_cast<int64_t>(a.id)));
    ASSERT_OK(n.set_to_many("readers", {b.id, a.id, b.id}));
    ASSERT_OK(notes.put(n));

    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 3u);
    Gid ga = recs[0].changes.objects[0].gid, gb = recs[1].changes.objects[0].gid;
    const auto& c = recs[2].changes.objects.at(0);
    const auto* author = find_prop(c, uid_of(*store, "Note", "author"));
    ASSERT_NE(author, nullptr);
    EXPECT_EQ(author->value, Value(Bytes(ga.begin(), ga.end())));
    ASSERT_EQ(c.to_many.size(), 1u);
    EXPECT_EQ(c.to_many[0].targets, (std::vector<Gid>{gb, ga, gb}));

    // Removing a target: the note's pointer and list change in the same record.
    ASSERT_TRUE(people.remove(a.id).value());
    recs = read_all(*store);
    ASSERT_EQ(recs.size(), 4u);
    bool saw_remove = false, saw_note = false;
    for (const auto& o : recs[3].changes.objects) {
        if (o.kind == ObjectChange::kRemove && o.gid == ga) saw_remove = true;
        if (o.kind == ObjectChange::kPut && o.gid == c.gid) {
            saw_note = true;
            const auto* au = find_prop(o, uid_of(*store, "Note", "author"));
            ASSERT_NE(au, nullptr);
            EXPECT_TRUE(au->value.is_null());
            ASSERT_EQ(o.to_many.size(), 1u);
            EXPECT_EQ(o.to_many[0].targets, (std::vector<Gid>{gb, gb}));
        }
    }
    EXPECT_TRUE(saw_remove);
    EXPECT_TRUE(saw_note);
}

TEST(ChangeLog, AcknowledgeTrimsUpToPosition) {
    TempDir dir;
    auto store = open_store(dir.path(), changelog_model());
    auto box = store->box("Person").value();
    for (int i = 0; i < 5; ++i) {
        Object p = box.new_object();
        ASSERT_OK(p.set("age", i));
        ASSERT_OK(box.put(p));
    }
    {
        auto txn = store->begin_write();
        ASSERT_OK(ChangeLog::acknowledge(*txn, 3));
        ASSERT_OK(txn->commit());
    }
    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 2u);
    EXPECT_EQ(recs[0].position, 4u);
    auto txn = store->begin_read();
    EXPECT_EQ(ChangeLog::last_position(*txn).value(), 5u);
    EXPECT_EQ(ChangeLog::size(*txn).value(), 2u);
    auto after4 = ChangeLog::read(*txn, 4, 10).value();
    ASSERT_EQ(after4.size(), 1u);
    EXPECT_EQ(after4[0].position, 5u);
}

TEST(ChangeLog, LogSurvivesReopenAndPositionsKeepGrowing) {
    TempDir dir;
    Model m = changelog_model();
    {
        auto store = open_store(dir.path(), m);
        auto box = store->box("Person").value();
        Object p = box.new_object();
        ASSERT_OK(p.set("age", 1));
        ASSERT_OK(box.put(p));
        auto txn = store->begin_write();
        ASSERT_OK(ChangeLog::acknowledge(*txn, 1));
        ASSERT_OK(txn->commit());
    }
    auto store = open_store(dir.path(), m);
    auto box = store->box("Person").value();
    Object p = box.new_object();
    ASSERT_OK(p.set("age", 2));
    ASSERT_OK(box.put(p));
    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].position, 2u);
}

TEST(ChangeLog, EntityThatBecomesSyncedGetsGidsForExistingObjects) {
    testing::TempDir dir;
    ModelBuilder local;
    local.entity("Item")
        .property("id", PropertyType::kInt64, kFlagId, 11)
        .property("n", PropertyType::kInt32, 0, 12);
    Model m1 = local.build().value();
    Model m2 = m1;
    m2.entities[0].sync = true;
    {
        auto store = testing::open_store(dir.path(), m1);
        auto box = store->box("Item").value();
        for (int i = 0; i < 3; ++i) {
            Object o = box.new_object();
            ASSERT_OK(o.set("n", i));
            ASSERT_OK(box.put(o));
        }
    }
    auto store = testing::open_store(dir.path(), m2);
    auto box = store->box("Item").value();
    auto txn = store->begin_read();
    std::set<Gid> gids;
    auto ids = box.ids(*txn);
    ASSERT_OK(ids);
    for (uint64_t id : *ids) {
        auto g = gid_of(*txn, box, id).value();
        ASSERT_TRUE(g.has_value()) << "object " << id << " has no global id";
        gids.insert(*g);
    }
    EXPECT_EQ(gids.size(), 3u);
}

}  // namespace
}  // namespace outpost
