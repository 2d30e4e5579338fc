// Stored entries (docs/change-log.md): a new object of a synced entity with only plain properties
// is logged by its local id, and reading the record gives the values it had when the record was
// written, however the object changes (locally or by a remote change) before the log is
// acknowledged.
#include <set>

#include "changelog/test_store.hpp"
#include "common/status_macros.hpp"

namespace outpost {
namespace {

using testing::open_store;
using testing::read_all;
using testing::table_entries;
using testing::TempDir;

// Reading: plain properties only, so stored entries. Logged: the same properties and a to-many
// relation, so full entries (the relation makes it no stored_log entity).
Model plain_model() {
    ModelBuilder b;
    for (const char* name : {"Reading", "Logged"}) {
        b.entity(name)
            .sync()
            .property("id", PropertyType::kInt64, kFlagId)
            .property("sensor", PropertyType::kString)
            .property("value", PropertyType::kDouble)
            .property("ratio", PropertyType::kFloat)
            .property("count", PropertyType::kInt32)
            .property("small", PropertyType::kInt8, kFlagUnsigned)
            .property("at", PropertyType::kDate)
            .property("ok", PropertyType::kBool)
            .property("raw", PropertyType::kBytes);
    }
    b.to_many("peers", "Logged");  // on Logged, the current entity
    return b.build().value();
}

Object reading(DynamicBox& box, const std::string& sensor, double value) {
    Object o = box.new_object();
    EXPECT_OK(o.set("sensor", sensor));
    EXPECT_OK(o.set("value", value));
    EXPECT_OK(o.set("ratio", 0.5f));
    EXPECT_OK(o.set("count", -7));
    EXPECT_OK(o.set("small", 200));
    EXPECT_OK(o.set("at", int64_t{1700000000123}));
    EXPECT_OK(o.set("ok", true));
    EXPECT_OK(o.set("raw", Bytes{0, 1, 255}));
    return o;
}

// A change from elsewhere to the Reading with GID: its value set to VALUE, or (without one) a
// remove.
ObjectChange remote_reading(const Store& store, const Gid& gid, std::optional<double> value) {
    const Entity& e = *store.model().entity("Reading");
    ObjectChange c;
    c.entity_uid = e.id.uid;
    c.gid = gid;
    if (value) {
        c.properties.push_back({e.property("value")->id.uid, Value(*value)});
    } else {
        c.kind = ObjectChange::kRemove;
    }
    return c;
}

// The values of C, in the order the entry lists them.
std::vector<Value> values_of(const ObjectChange& c) {
    std::vector<Value> out;
    for (const auto& p : c.properties) out.push_back(p.value);
    return out;
}

TEST(StoredEntry, ReadsLikeAFullEntryAndTakesFewBytes) {
    TempDir dir;
    auto store = open_store(dir.path(), plain_model());
    auto rbox = store->box("Reading").value();
    auto lbox = store->box("Logged").value();
    std::string sensor(200, 's');
    Object r = reading(rbox, sensor, 21.5), l = reading(lbox, sensor, 21.5);
    ASSERT_OK(rbox.put(r));
    ASSERT_OK(lbox.put(l));

    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 2u);
    // The stored entry does not copy the 200-byte string; the full entry does.
    EXPECT_LT(recs[0].bytes, 64u);
    EXPECT_GT(recs[1].bytes, 200u);
    const ObjectChange& rc = recs[0].changes.objects.at(0);
    const ObjectChange& lc = recs[1].changes.objects.at(0);
    EXPECT_EQ(rc.kind, ObjectChange::kPut);
    EXPECT_TRUE(rc.is_new);
    EXPECT_EQ(rc.entity_uid, store->model().entity("Reading")->id.uid);
    auto txn = store->begin_read();
    EXPECT_EQ(gid_of(*txn, rbox, r.id).value(), std::optional<Gid>(rc.gid));
    // The same values, of the same types, as the full entry's.
    EXPECT_EQ(rc.properties.size(), 8u);
    EXPECT_EQ(values_of(rc), values_of(lc));
}

TEST(StoredEntry, ARunOfNewObjectsIsOneEntry) {
    TempDir dir;
    auto store = open_store(dir.path(), plain_model());
    auto box = store->box("Reading").value();
    std::vector<Object> made;
    {
        auto txn = store->begin_write();
        for (int i = 0; i < 1000; ++i) {
            made.push_back(reading(box, "r" + std::to_string(i), i));
            ASSERT_OK(box.put(*txn, made.back()));
        }
        // Removed again in the transaction: not in the record; an explicit id splits the run too.
        ASSERT_TRUE(box.remove(*txn, made[500].id).value());
        Object explicit_id = reading(box, "explicit", -1);
        explicit_id.id = 5000;
        ASSERT_OK(box.put(*txn, explicit_id));
        for (int i = 0; i < 10; ++i) {
            made.push_back(reading(box, "after" + std::to_string(i), i));
            ASSERT_OK(box.put(*txn, made.back()));
        }
        ASSERT_OK(txn->commit());
    }
    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 1u);
    // Three stored entries (1-500, 502-1000, 5001-5010) and the explicit id's full entry.
    EXPECT_LT(recs[0].bytes, 400u);  // with the uid table; full entries would take over 30 KB
    const auto& objects = recs[0].changes.objects;
    ASSERT_EQ(objects.size(), 1010u);
    const uint64_t sensor = store->model().entity("Reading")->property("sensor")->id.uid;
    std::set<std::string> sensors;
    auto txn = store->begin_read();
    for (const auto& c : objects) {
        EXPECT_TRUE(c.is_new);
        for (const auto& p : c.properties) {
            if (p.property_uid == sensor) sensors.insert(std::get<std::string>(p.value.v));
        }
        auto id = local_id_of(*txn, box, c.gid);
        ASSERT_OK(id);
        ASSERT_TRUE(id->has_value());
    }
    EXPECT_EQ(sensors.size(), 1010u);
    EXPECT_EQ(sensors.count("r500"), 0u);
    EXPECT_EQ(sensors.count("explicit"), 1u);
    EXPECT_EQ(sensors.count("after9"), 1u);
}

TEST(StoredEntry, KeepsTheValuesItWasWrittenWithThroughLaterChanges) {
    TempDir dir;
    Model m = plain_model();
    auto store = open_store(dir.path(), m);
    auto box = store->box("Reading").value();
    Object a = reading(box, "a", 1.0), b = reading(box, "b", 2.0);
    {
        auto txn = store->begin_write();
        ASSERT_OK(box.put(*txn, a));
        ASSERT_OK(box.put(*txn, b));
        ASSERT_OK(txn->commit());
    }
    auto first = read_all(*store).at(0).changes;
    ASSERT_EQ(first.objects.size(), 2u);
    // Later: a changes twice, b goes.
    ASSERT_OK(a.set("value", 10.0));
    ASSERT_OK(box.put(a));
    ASSERT_OK(a.set("sensor", "a2"));
    ASSERT_OK(box.put(a));
    ASSERT_TRUE(box.remove(b.id).value());

    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 4u);
    EXPECT_EQ(recs[0].changes, first);
    EXPECT_EQ(values_of(recs[1].changes.objects.at(0)), std::vector<Value>{Value(10.0)});
    EXPECT_EQ(values_of(recs[2].changes.objects.at(0)), std::vector<Value>{Value("a2")});
    EXPECT_EQ(recs[3].changes.objects.at(0).kind, ObjectChange::kRemove);

    // After a reopen too.
    store.reset();
    store = open_store(dir.path(), m);
    EXPECT_EQ(read_all(*store).at(0).changes, first);
}

TEST(StoredEntry, ChangesInTheSameTransactionAreInTheEntry) {
    TempDir dir;
    auto store = open_store(dir.path(), plain_model());
    auto box = store->box("Reading").value();
    Object a = reading(box, "a", 1.0), gone = reading(box, "gone", 2.0);
    {
        auto txn = store->begin_write();
        ASSERT_OK(box.put(*txn, a));
        ASSERT_OK(box.put(*txn, gone));
        ASSERT_OK(a.set("value", 3.0));
        ASSERT_OK(a.set("sensor", nullptr));
        ASSERT_OK(box.put(*txn, a));
        ASSERT_TRUE(box.remove(*txn, gone.id).value());
        ASSERT_OK(txn->commit());
    }
    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 1u);
    ASSERT_EQ(recs[0].changes.objects.size(), 1u);  // made and removed: nothing to tell
    const ObjectChange& c = recs[0].changes.objects[0];
    EXPECT_TRUE(c.is_new);
    ASSERT_EQ(c.properties.size(), 7u);  // sensor cleared
    EXPECT_EQ(c.properties[0].property_uid,
              store->model().entity("Reading")->property("value")->id.uid);
    EXPECT_EQ(c.properties[0].value, Value(3.0));
}

TEST(StoredEntry, RemoteChangesDoNotReachAPendingEntry) {
    TempDir dir;
    auto store = open_store(dir.path(), plain_model());
    auto box = store->box("Reading").value();
    Object a = reading(box, "a", 1.0);
    ASSERT_OK(box.put(a));
    auto before = read_all(*store).at(0).changes;
    const Gid gid = before.objects.at(0).gid;
    auto apply = [&](ObjectChange c) {
        auto txn = store->begin_write();
        ASSERT_OK(ChangeLog::apply(*txn, ChangeSet{{std::move(c)}}, "server"));
        ASSERT_OK(txn->commit());
    };
    apply(remote_reading(*store, gid, 99.0));
    EXPECT_EQ(box.get(a.id).value()->get("value"), Value(99.0));
    apply(remote_reading(*store, gid, std::nullopt));
    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 1u);  // remote changes log nothing
    EXPECT_EQ(recs[0].changes, before);
}

TEST(StoredEntry, AcknowledgingDropsWhatOnlyTrimmedRecordsNeeded) {
    TempDir dir;
    Model m = plain_model();
    auto store = open_store(dir.path(), m);
    auto box = store->box("Reading").value();
    Object a = reading(box, "a", 1.0), b = reading(box, "b", 2.0);
    ASSERT_OK(box.put(a));  // record 1
    ASSERT_OK(box.put(b));  // record 2
    ASSERT_OK(a.set("value", 5.0));
    ASSERT_OK(box.put(a));  // record 3: keeps a's first version
    ASSERT_OK(b.set("value", 6.0));
    ASSERT_OK(box.put(b));  // record 4: keeps b's first version
    auto second = read_all(*store).at(1).changes;
    {
        auto txn = store->begin_write();
        ASSERT_OK(ChangeLog::acknowledge(*txn, 1));
        ASSERT_OK(txn->commit());
    }
    EXPECT_EQ(read_all(*store).at(0).changes, second);  // b still reads as it was made
    store.reset();
    EXPECT_EQ(table_entries(dir.path(), "changelog_stored_runs"), 1u);    // record 2's
    EXPECT_EQ(table_entries(dir.path(), "changelog_kept_versions"), 1u);  // b's
    store = open_store(dir.path(), m);
    {
        auto txn = store->begin_write();
        ASSERT_OK(ChangeLog::acknowledge(*txn, 4));
        ASSERT_OK(txn->commit());
    }
    ASSERT_OK(a.set("value", 7.0));
    ASSERT_OK(box.put(a));  // nothing names a now: nothing kept
    store.reset();
    EXPECT_EQ(table_entries(dir.path(), "changelog_stored_runs"), 0u);
    EXPECT_EQ(table_entries(dir.path(), "changelog_kept_versions"), 0u);
}

TEST(StoredEntry, AnEntityTheModelDropsLeavesItsEntriesOut) {
    TempDir dir;
    auto store = open_store(dir.path(), plain_model());
    {
        auto rbox = store->box("Reading").value();
        auto lbox = store->box("Logged").value();
        auto txn = store->begin_write();
        Object r = reading(rbox, "r", 1.0), l = reading(lbox, "l", 2.0);
        ASSERT_OK(rbox.put(*txn, r));
        ASSERT_OK(lbox.put(*txn, l));
        ASSERT_OK(txn->commit());
    }
    store.reset();
    Model without = plain_model();
    without.retired_entity_uids.push_back(without.entities.front().id.uid);  // Reading
    without.entities.erase(without.entities.begin());
    store = open_store(dir.path(), without);
    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 1u);
    ASSERT_EQ(recs[0].changes.objects.size(), 1u);
    EXPECT_EQ(recs[0].changes.objects[0].entity_uid, store->model().entity("Logged")->id.uid);
}

// A record is applied in order (the sync server replays it with kRecord): a unique value that
// another entry frees must be free before a stored entry takes it.
TEST(StoredEntry, ComesAfterTheEntriesThatFreeItsUniqueValues) {
    TempDir dir;
    ModelBuilder b;
    b.entity("Tag")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("name", PropertyType::kString, kFlagUnique)
        .property("n", PropertyType::kInt64);
    Model m = b.build().value();
    auto here = open_store(dir.sub("here"), m);
    auto there = open_store(dir.sub("there"), m);
    auto box = here->box("Tag").value();
    Object x = box.new_object();
    ASSERT_OK(x.set("name", "a"));
    ASSERT_OK(box.put(x));
    {
        auto txn = here->begin_write();
        ASSERT_TRUE(box.remove(*txn, x.id).value());
        Object y = box.new_object();
        ASSERT_OK(y.set("name", "a"));
        ASSERT_OK(box.put(*txn, y));
        ASSERT_OK(txn->commit());
    }
    auto recs = read_all(*here);
    ASSERT_EQ(recs.size(), 2u);
    ASSERT_EQ(recs[1].changes.objects.size(), 2u);
    EXPECT_EQ(recs[1].changes.objects[0].kind, ObjectChange::kRemove);
    EXPECT_TRUE(recs[1].changes.objects[1].is_new);
    for (const auto& rec : recs) {
        auto txn = there->begin_write();
        Status st = ChangeLog::apply(*txn, rec.changes, "here", ApplyMode::kRecord);
        ASSERT_OK(st);
        ASSERT_OK(txn->commit());
    }
    EXPECT_EQ(there->box("Tag").value().count().value(), 1u);
}

// An entity that stops being synced keeps the records that name its objects readable, and their
// values as written.
TEST(StoredEntry, OutlivesItsEntityBeingSynced) {
    TempDir dir;
    Model m = plain_model();
    auto store = open_store(dir.path(), m);
    {
        auto box = store->box("Reading").value();
        Object r = reading(box, "r", 1.0);
        ASSERT_OK(box.put(r));
    }
    auto written = read_all(*store).at(0).changes;
    store.reset();
    Model local = m;
    local.entities[0].sync = false;  // Reading
    store = open_store(dir.path(), local);
    auto box = store->box("Reading").value();
    Object r = *box.get(1).value();
    ASSERT_OK(r.set("value", 2.0));
    ASSERT_OK(box.put(r));
    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 1u);  // the local-only write logs nothing
    EXPECT_EQ(recs[0].changes, written);
}

// A change from elsewhere applied in the transaction that made the object here leaves the local put
// as it was made: the record tells what this store did.
TEST(StoredEntry, ARemoteChangeInTheSameTransactionLeavesTheLocalPut) {
    TempDir dir;
    auto store = open_store(dir.path(), plain_model());
    auto box = store->box("Reading").value();
    Object a = reading(box, "a", 1.0), b = reading(box, "b", 2.0);
    {
        auto txn = store->begin_write();
        ASSERT_OK(box.put(*txn, a));
        ASSERT_OK(box.put(*txn, b));
        Gid ga = gid_of(*txn, box, a.id).value().value(),
            gb = gid_of(*txn, box, b.id).value().value();
        ChangeSet remote{
            {remote_reading(*store, ga, 99.0), remote_reading(*store, gb, std::nullopt)}};
        ASSERT_OK(ChangeLog::apply(*txn, remote, "server"));
        ASSERT_OK(txn->commit());
    }
    auto recs = read_all(*store);
    ASSERT_EQ(recs.size(), 1u);
    ASSERT_EQ(recs[0].changes.objects.size(), 2u);
    for (const auto& c : recs[0].changes.objects) {
        EXPECT_TRUE(c.is_new);
        const Value& v = c.properties.at(1).value;  // sensor, value, ...
        EXPECT_TRUE(v == Value(1.0) || v == Value(2.0)) << "the remote value reached the local put";
    }
    EXPECT_EQ(box.get(a.id).value()->get("value"), Value(99.0));
    EXPECT_FALSE(box.get(b.id).value().has_value());
}

TEST(StoredEntry, AStoredEntryIsNotPartOfTheSyncEncoding) {
    // Sync messages use decode_change_set, which knows no stored entries: kind 3 is an error.
    // uid table {5}, one entry: kind 3, entity index 0, ids 7 to 8.
    std::string bytes = {static_cast<char>(0xC5), 2, 1, 5, 1, 3, 0, 7, 2};
    auto cs = decode_change_set({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
    ASSERT_FALSE(cs.is_ok());
    EXPECT_EQ(cs.status().code(), ErrorCode::kCorrupt);
}

}  // namespace
}  // namespace outpost
