// GID <-> local id maps after every kind of write, in stores of format 2 (GIDs in object records)
// and in a store written in format 1 (GIDs in the l: table), and the change-log entry of a new
// object that is encoded straight from its record.
#include <lmdb.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include "changelog/test_store.hpp"
#include "common/status_macros.hpp"

#ifndef OUTPOST_TEST_DATA_DIR
#error "OUTPOST_TEST_DATA_DIR must name tests/changelog/data"
#endif

namespace outpost {
namespace {
using testing::changelog_model;
using testing::open_store;
using testing::read_all;
using testing::TempDir;

const Gid kRemoteNote("\x07remote-note1", 13);
const Gid kRemoteAuthor("\x07remote-authr", 13);

// Checks that every object of ENTITY has a GID, that the GID maps back to it, and that no two
// objects share one; returns id -> GID.
std::map<uint64_t, Gid> check_maps(Store& store, const char* entity) {
    auto box = store.box(entity).value();
    auto txn = store.begin_read();
    EXPECT_OK(txn);
    std::map<uint64_t, Gid> out;
    std::set<Gid> seen;
    for (uint64_t id : box.ids(*txn).value()) {
        auto g = gid_of(*txn, box, id);
        EXPECT_OK(g);
        if (!g.is_ok() || !g->has_value()) {
            ADD_FAILURE() << entity << " " << id << " has no GID";
            continue;
        }
        EXPECT_OK(validate_gid(**g)) << entity << " " << id;
        auto back = local_id_of(*txn, box, **g);
        EXPECT_TRUE(back.is_ok() && back->has_value() && **back == id)
            << entity << " " << id << ": its GID " << gid_to_string(**g) << " maps elsewhere";
        EXPECT_TRUE(seen.insert(**g).second) << entity << " " << id << " shares its GID";
        out[id] = **g;
    }
    return out;
}

std::optional<Gid> gid(Store& store, const char* entity, uint64_t id) {
    auto box = store.box(entity).value();
    auto txn = store.begin_read();
    return gid_of(*txn, box, id).value();
}

std::optional<uint64_t> local(Store& store, const char* entity, const Gid& g) {
    auto box = store.box(entity).value();
    auto txn = store.begin_read();
    return local_id_of(*txn, box, g).value();
}

ChangeSet remote_person(const Store& store, const Gid& g, const char* name) {
    const Entity* person = store.model().entity("Person");
    ObjectChange c;
    c.kind = ObjectChange::kPut;
    c.entity_uid = person->id.uid;
    c.gid = g;
    c.is_new = true;
    PropertyChange pc;
    pc.property_uid = person->property("name")->id.uid;
    pc.value = Value(name);
    c.properties.push_back(pc);
    ChangeSet cs;
    cs.objects.push_back(c);
    return cs;
}

Status apply_changes(Store& store, const ChangeSet& cs, ApplyMode mode = ApplyMode::kRemote) {
    auto txn = store.begin_write();
    if (!txn) return txn.status();
    OUTPOST_RETURN_IF_ERROR(ChangeLog::apply(*txn, cs, "peer", mode));
    return txn->commit();
}

TEST(GidMap, BothWaysAfterEveryKindOfWrite) {
    TempDir dir;
    auto store = open_store(dir.path(), changelog_model());
    auto people = store->box("Person").value();
    auto notes = store->box("Note").value();
    Object a = people.new_object();
    ASSERT_OK(a.set("name", "Ada"));
    uint64_t ada = people.put(a).value();
    Object b = people.new_object();
    b.id = 40;  // an id the caller chose
    ASSERT_OK(b.set("name", "Bob"));
    ASSERT_EQ(people.put(b).value(), 40u);
    uint64_t cy = 0;
    {
        auto txn = store->begin_write();
        cy = people
                 .put_with(*txn, 0, PutMode::kPut,
                           [](ObjectWriter& w) {
                               w.set_int(0, 777);  // the id property's field: ignored
                               w.set_string(1, "Cy");
                               return Status::ok();
                           })
                 .value();
        ASSERT_OK(txn->commit());
    }
    Object n = notes.new_object();
    ASSERT_OK(n.set("text", "hi"));
    ASSERT_OK(n.set("author", static_cast<int64_t>(ada)));
    ASSERT_OK(n.set_to_many("readers", {ada, 40}));
    uint64_t note = notes.put(n).value();
    auto before = check_maps(*store, "Person");
    ASSERT_EQ(before.size(), 3u);
    EXPECT_EQ(people.get(cy).value()->get("name"), Value("Cy"));

    // Updates keep the GID (also one made in the same transaction as the object).
    ASSERT_OK(a.set("age", 37));
    ASSERT_OK(people.put(a));
    {
        auto txn = store->begin_write();
        Object d = people.new_object();
        ASSERT_OK(d.set("name", "Dee"));
        uint64_t dee = people.put(*txn, d).value();
        ASSERT_OK(d.set("age", 1));
        ASSERT_OK(people.put(*txn, d));
        ASSERT_OK(txn->commit());
        EXPECT_TRUE(gid(*store, "Person", dee).has_value());
    }
    auto after = check_maps(*store, "Person");
    EXPECT_EQ(after.at(ada), before.at(ada));
    EXPECT_EQ(after.size(), 4u);

    // Removing Ada clears the note's author (the note is rewritten) and takes her GID out of both
    // maps.
    Gid ada_gid = after.at(ada);
    Gid note_gid = check_maps(*store, "Note").at(note);
    ASSERT_TRUE(people.remove(ada).value());
    EXPECT_FALSE(gid(*store, "Person", ada).has_value());
    EXPECT_FALSE(local(*store, "Person", ada_gid).has_value());
    EXPECT_EQ(check_maps(*store, "Note").at(note), note_gid);
    EXPECT_TRUE(notes.get(note).value()->get("author").is_null());

    // A transaction that is aborted leaves no GID behind.
    {
        auto txn = store->begin_write();
        Object e = people.new_object();
        ASSERT_OK(e.set("name", "Eve"));
        uint64_t eve = people.put(*txn, e).value();
        txn->abort();
        EXPECT_FALSE(gid(*store, "Person", eve).has_value());
    }
    EXPECT_EQ(check_maps(*store, "Person").size(), 3u);

    // Remote changes: a new object, a relation to an object not here yet (its id is reserved), then
    // that object, an update of a local object, a remove.
    ASSERT_OK(apply_changes(*store, remote_person(*store, Gid("\x07remote-0001", 13), "Rem")));
    auto rem = local(*store, "Person", Gid("\x07remote-0001", 13));
    ASSERT_TRUE(rem.has_value());
    EXPECT_EQ(gid(*store, "Person", *rem), Gid("\x07remote-0001", 13));
    {
        const Entity* ne = store->model().entity("Note");
        ObjectChange c;
        c.kind = ObjectChange::kPut;
        c.entity_uid = ne->id.uid;
        c.gid = kRemoteNote;
        c.is_new = true;
        PropertyChange author;
        author.property_uid = ne->property("author")->id.uid;
        author.value = Value(Bytes(kRemoteAuthor.begin(), kRemoteAuthor.end()));
        c.properties.push_back(author);
        ChangeSet cs;
        cs.objects.push_back(c);
        ASSERT_OK(apply_changes(*store, cs));
    }
    auto reserved = local(*store, "Person", kRemoteAuthor);
    ASSERT_TRUE(reserved.has_value());
    EXPECT_FALSE(people.get(*reserved).value().has_value());  // no object yet
    EXPECT_EQ(gid(*store, "Person", *reserved), kRemoteAuthor);
    ASSERT_OK(
        apply_changes(*store, remote_person(*store, kRemoteAuthor, "Late"), ApplyMode::kRecord));
    EXPECT_EQ(local(*store, "Person", kRemoteAuthor), reserved);
    EXPECT_EQ(people.get(*reserved).value()->get("name"), Value("Late"));
    ASSERT_OK(apply_changes(*store, remote_person(*store, after.at(40), "Robert")));
    EXPECT_EQ(people.get(40).value()->get("name"), Value("Robert"));
    EXPECT_EQ(gid(*store, "Person", 40), after.at(40));
    {
        ObjectChange rm;
        rm.kind = ObjectChange::kRemove;
        rm.entity_uid = store->model().entity("Person")->id.uid;
        rm.gid = after.at(cy);
        ChangeSet cs;
        cs.objects.push_back(rm);
        ASSERT_OK(apply_changes(*store, cs));
    }
    EXPECT_FALSE(local(*store, "Person", after.at(cy)).has_value());
    EXPECT_FALSE(gid(*store, "Person", cy).has_value());
    auto final_people = check_maps(*store, "Person");
    auto final_notes = check_maps(*store, "Note");
    EXPECT_EQ(final_people.size(), 4u);  // Bob, Dee, Rem, Late

    // The change log names the same GIDs.
    for (const auto& rec : read_all(*store)) {
        for (const auto& c : rec.changes.objects) {
            if (c.kind != ObjectChange::kPut ||
                c.entity_uid != store->model().entity("Person")->id.uid)
                continue;
            auto id = local(*store, "Person", c.gid);
            if (id) {
                EXPECT_EQ(final_people.at(*id), c.gid);
            }
        }
    }

    // All of it survives a reopen.
    store.reset();
    store = open_store(dir.path(), changelog_model());
    EXPECT_EQ(check_maps(*store, "Person"), final_people);
    EXPECT_EQ(check_maps(*store, "Note"), final_notes);
}

TEST(GidMap, EntitySyncedAgainKeepsItsGids) {
    TempDir dir;
    Model synced = changelog_model();
    Model local_only = synced;
    local_only.entities[0].sync = false;  // Person
    local_only.entities[1].sync = false;  // Note (relates to Person)
    std::map<uint64_t, Gid> first;
    {
        auto store = open_store(dir.path(), synced);
        auto people = store->box("Person").value();
        for (const char* name : {"Ada", "Bob", "Cy"}) {
            Object p = people.new_object();
            ASSERT_OK(p.set("name", name));
            ASSERT_OK(people.put(p));
        }
        first = check_maps(*store, "Person");
    }
    {
        // While local-only, Bob's record is rewritten (without his GID) and Dee is made.
        auto store = open_store(dir.path(), local_only);
        auto people = store->box("Person").value();
        Object bob = *people.get(2).value();
        ASSERT_OK(bob.set("age", 50));
        ASSERT_OK(people.put(bob));
        Object d = people.new_object();
        ASSERT_OK(d.set("name", "Dee"));
        ASSERT_OK(people.put(d));
    }
    auto store = open_store(dir.path(), synced);
    auto again = check_maps(*store, "Person");
    ASSERT_EQ(again.size(), 4u);
    for (const auto& [id, g] : first) EXPECT_EQ(again.at(id), g) << "Person " << id;
}

// ObjectIds made one after another in a transaction share one g: entry (a run); each still maps
// both ways, removing one splits its run, and a change from elsewhere that names one finds its
// object.
TEST(GidMap, NewObjectIdsOfATransactionShareOneEntry) {
    TempDir dir;
    Model m = changelog_model();
    std::map<uint64_t, Gid> made;
    {
        auto store = open_store(dir.path(), m);
        auto people = store->box("Person").value();
        auto txn = store->begin_write();
        for (int i = 0; i < 1000; ++i) {
            Object p = people.new_object();
            ASSERT_OK(p.set("name", "p" + std::to_string(i)));
            ASSERT_OK(people.put(*txn, p));
        }
        ASSERT_OK(txn->commit());
        made = check_maps(*store, "Person");
        ASSERT_EQ(made.size(), 1000u);
    }
    // One run, or two when the clock's second turned during the transaction.
    EXPECT_LE(testing::table_entries(dir.path(),
                                     ("g:" + std::to_string(m.entity("Person")->id.uid)).c_str()),
              2u);

    auto store = open_store(dir.path(), m);
    auto people = store->box("Person").value();
    // Remove the first, one in the middle and the last: their GIDs map to nothing, the others still
    // map to their objects.
    for (uint64_t id : {uint64_t{1}, uint64_t{500}, uint64_t{1000}})
        ASSERT_TRUE(people.remove(id).value());
    for (uint64_t id : {uint64_t{1}, uint64_t{500}, uint64_t{1000}}) {
        EXPECT_FALSE(local(*store, "Person", made.at(id)).has_value()) << id;
    }
    auto left = check_maps(*store, "Person");
    ASSERT_EQ(left.size(), 997u);
    for (const auto& [id, g] : left) EXPECT_EQ(g, made.at(id));

    // A change from elsewhere naming object 700's GID updates it; naming removed object 500's GID
    // makes a new object.
    ASSERT_OK(apply_changes(*store, remote_person(*store, made.at(700), "renamed")));
    EXPECT_EQ(people.get(700).value()->get("name"), Value("renamed"));
    ASSERT_OK(apply_changes(*store, remote_person(*store, made.at(500), "back")));
    auto back = local(*store, "Person", made.at(500));
    ASSERT_TRUE(back.has_value());
    EXPECT_GT(*back, 1000u);
    EXPECT_EQ(people.count().value(), 998u);
    check_maps(*store, "Person");
}

// Copies the store that tests/changelog/data/make_store_format1.cpp wrote with format 1 into DIR.
void copy_format1_store(const std::string& dir) {
    std::filesystem::copy_file(std::string(OUTPOST_TEST_DATA_DIR) + "/store-format1/data.mdb",
                               dir + "/data.mdb");
}

// Checks the objects of the format-1 store, as written and after the writes of the test below.
void check_format1_contents(Store& store, const std::map<uint64_t, Gid>& people_before) {
    auto people = check_maps(store, "Person");
    for (const auto& [id, g] : people_before) {
        if (people.count(id)) {
            EXPECT_EQ(people.at(id), g) << "Person " << id;
        }
    }
    EXPECT_EQ(gid(store, "Person", 5), kRemoteAuthor);  // reserved for a relation, still no object
    EXPECT_EQ(local(store, "Person", kRemoteAuthor), 5u);
    EXPECT_FALSE(gid(store, "Person", 3).has_value());  // removed
    auto notes = check_maps(store, "Note");
    EXPECT_EQ(notes.size(), 2u);
    EXPECT_EQ(local(store, "Note", kRemoteNote), 2u);
}

TEST(StoreFormat, OpensAndMovesAStoreOfFormat1) {
    TempDir dir;
    copy_format1_store(dir.path());
    std::map<uint64_t, Gid> people_before;
    {
        // Read-only, the store stays in format 1 and reads its GIDs from l:.
        StoreOptions ro;
        ro.read_only = true;
        auto store = Store::open(dir.path(), changelog_model(), ro);
        ASSERT_OK(store);
        people_before = check_maps(**store, "Person");
        ASSERT_EQ(people_before.size(), 3u);  // 1, 2, 4
        check_format1_contents(**store, people_before);
    }
    auto store = open_store(dir.path(), changelog_model());
    check_format1_contents(*store, people_before);
    auto people = store->box("Person").value();
    // Person 4's record had a value in the id property's field (written through put_with in format
    // 1); moving to format 2 dropped it, and its GID still comes from l:.
    EXPECT_EQ(people.get(4).value()->get("name"), Value("Dee"));

    // The records written in format 1 read as before, with the GIDs of the maps.
    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 2u);  // the first transaction and the remove (the apply logged nothing)
    uint64_t person_uid = store->model().entity("Person")->id.uid;
    int named = 0;
    for (const auto& c : recs[0].changes.objects) {
        if (c.entity_uid != person_uid) continue;
        auto id = local(*store, "Person", c.gid);
        ASSERT_TRUE(id.has_value() || c.kind == ObjectChange::kPut);
        if (id) {
            EXPECT_EQ(people_before.at(*id), c.gid);
            ++named;
        }
    }
    EXPECT_EQ(named, 3);  // 1, 2, 4 (3 was removed later)

    // Writes on the old objects keep their GIDs; new ones get theirs; removes unmap.
    Object ada = *people.get(1).value();
    ASSERT_OK(ada.set("age", 31));
    ASSERT_OK(people.put(ada));
    auto recs2 = read_all(*store);
    ASSERT_EQ(recs2.size(), 3u);
    EXPECT_EQ(recs2.back().changes.objects.at(0).gid, people_before.at(1));
    ASSERT_TRUE(people.remove(2).value());
    EXPECT_FALSE(local(*store, "Person", people_before.at(2)).has_value());
    EXPECT_FALSE(gid(*store, "Person", 2).has_value());
    people_before.erase(2);
    Object fay = people.new_object();
    ASSERT_OK(fay.set("name", "Fay"));
    uint64_t fay_id = people.put(fay).value();
    EXPECT_EQ(fay_id, 6u);
    check_format1_contents(*store, people_before);

    // The reserved author arrives.
    ASSERT_OK(apply_changes(*store, remote_person(*store, kRemoteAuthor, "Author")));
    EXPECT_EQ(local(*store, "Person", kRemoteAuthor), 5u);
    EXPECT_EQ(people.get(5).value()->get("name"), Value("Author"));
    auto final_people = check_maps(*store, "Person");
    EXPECT_EQ(final_people.size(), 4u);  // 1, 4, 5, 6

    store.reset();
    store = open_store(dir.path(), changelog_model());
    EXPECT_EQ(check_maps(*store, "Person"), final_people);
    check_format1_contents(*store, people_before);
}

TEST(StoreFormat, RejectsAFormatItDoesNotKnow) {
    TempDir dir;
    open_store(dir.path(), changelog_model()).reset();
    // A later format, written by hand: put_meta cannot reach the store's own keys.
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 4096);
    ASSERT_EQ(mdb_env_open(env, dir.path().c_str(), 0, 0644), 0);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi meta;
    ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    std::string k = "format", v = "outpost-store 9";
    MDB_val mk{k.size(), k.data()}, mv{v.size(), v.data()};
    ASSERT_EQ(mdb_put(txn, meta, &mk, &mv, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    StoreOptions o;
    auto store = Store::open(dir.path(), changelog_model(), o);
    ASSERT_FALSE(store.is_ok());
    EXPECT_NE(store.status().message().find("outpost-store 9"), std::string::npos)
        << store.status().to_string();
}

Model plain_model() {
    ModelBuilder b;
    b.entity("Reading")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("ok", PropertyType::kBool)
        .property("i8", PropertyType::kInt8)
        .property("u8", PropertyType::kInt8, kFlagUnsigned)
        .property("i16", PropertyType::kInt16)
        .property("u16", PropertyType::kInt16, kFlagUnsigned)
        .property("i32", PropertyType::kInt32)
        .property("u32", PropertyType::kInt32, kFlagUnsigned)
        .property("i64", PropertyType::kInt64)
        .property("f", PropertyType::kFloat)
        .property("d", PropertyType::kDouble)
        .property("s", PropertyType::kString)
        .property("b", PropertyType::kBytes)
        .property("at", PropertyType::kDate)
        .property("ns", PropertyType::kDateNano);
    return b.build().value();
}

// A new object of an entity with scalar, string and bytes properties only: its entry, encoded
// straight from the record, holds each non-null value as the stored object reads it.
TEST(ChangeLog, NewPlainObjectEntryHoldsItsStoredValues) {
    TempDir dir;
    auto store = open_store(dir.path(), plain_model());
    auto box = store->box("Reading").value();
    std::vector<Object> objects;
    auto add = [&](std::vector<std::pair<const char*, Value>> values) {
        Object o = box.new_object();
        for (auto& [name, v] : values) EXPECT_OK(o.set(name, v)) << name;
        objects.push_back(o);
    };
    add({{"ok", Value(true)},
         {"i8", Value(-128)},
         {"u8", Value(255)},
         {"i16", Value(-32768)},
         {"u16", Value(65535)},
         {"i32", Value(std::numeric_limits<int32_t>::min())},
         {"u32", Value(int64_t{4294967295})},
         {"i64", Value(std::numeric_limits<int64_t>::min())},
         {"f", Value(1.5)},
         {"d", Value(-0.0)},
         {"s", Value("héllo")},
         {"b", Value(Bytes{0, 1, 255})},
         {"at", Value(int64_t{1700000000000})},
         {"ns", Value(std::numeric_limits<int64_t>::max())}});
    add({{"ok", Value(false)},
         {"i8", Value(0)},
         {"s", Value("")},
         {"b", Value(Bytes{})},
         {"d", Value(std::nan(""))}});
    add({});
    {
        auto txn = store->begin_write();
        for (auto& o : objects) ASSERT_OK(box.put(*txn, o));
        ASSERT_OK(txn->commit());
    }
    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 1u);
    ASSERT_EQ(recs[0].changes.objects.size(), objects.size());
    const Entity& e = *store->model().entity("Reading");
    for (size_t i = 0; i < objects.size(); ++i) {
        const ObjectChange& c = recs[0].changes.objects[i];
        EXPECT_TRUE(c.is_new);
        EXPECT_EQ(c.gid, gid(*store, "Reading", objects[i].id));
        Object stored = *box.get(objects[i].id).value();
        size_t non_null = 0;
        for (const auto& p : e.properties) {
            if (p.has(kFlagId)) continue;
            const Value& want = stored.get(p.name);
            const PropertyChange* got = testing::find_prop(c, p.id.uid);
            if (want.is_null()) {
                EXPECT_EQ(got, nullptr) << p.name;
                continue;
            }
            ++non_null;
            ASSERT_NE(got, nullptr) << p.name;
            if (want.is<double>() && std::isnan(want.as<double>())) {
                EXPECT_TRUE(got->value.is<double>() && std::isnan(got->value.as<double>()))
                    << p.name;
            } else {
                EXPECT_EQ(got->value, want) << p.name;
            }
        }
        EXPECT_EQ(c.properties.size(), non_null);
    }
}

}  // namespace
}  // namespace outpost
