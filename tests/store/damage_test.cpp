// Damaged stores: a data file cut short is refused at open; with verify_objects (or through a
// verified() box) a damaged object is an error naming it, never a crash, while every other object
// stays usable; check_store reports what is damaged.
#include <flatbuffers/flexbuffers.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "outpost/changelog.hpp"
#include "outpost/check.hpp"
#include "outpost/query.hpp"
#include "store/codec.hpp"
#include "store/object_table.hpp"
#include "store/object_verify.hpp"
#include "store/test_model.hpp"

namespace outpost {
namespace {

using test::StoreTest;
using test::TempDir;

uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
uint16_t load_u16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}

// Where the field of property POS of entity E sits in the record BYTES (0: absent). The record is
// taken to be well-formed.
size_t field_at(const detail::EntityInfo& e, const std::string& bytes, int pos) {
    const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
    uint32_t table = load_u32(b);
    auto vtable = static_cast<size_t>(static_cast<int64_t>(table) -
                                      static_cast<int32_t>(load_u32(b + table)));
    const Property& p = e.entity->properties[static_cast<size_t>(pos)];
    size_t slot = 4 + 2 * (p.id.id - 1);
    if (slot + 2 > load_u16(b + vtable)) return 0;
    uint16_t off = load_u16(b + vtable + slot);
    return off == 0 ? 0 : table + off;
}

int pos_of(const DynamicBox& box, const std::string& property) {
    return detail::Access::info(box)->prop_by_name.at(property);
}

// Rewrites the stored record of object ID of BOX's entity through DAMAGE, straight into LMDB.
void damage_record(Store& store, const DynamicBox& box, uint64_t id,
                   const std::function<void(std::string&)>& damage) {
    auto txn = store.begin_write();
    ASSERT_OK(txn);
    MDB_txn* t = detail::Access::state(*txn)->txn;
    MDB_val k{8, &id}, v;
    ASSERT_EQ(mdb_get(t, detail::Access::info(box)->objects, &k, &v), 0) << "no object " << id;
    std::string bytes(static_cast<const char*>(v.mv_data), v.mv_size);
    damage(bytes);
    MDB_val nv{bytes.size(), bytes.data()};
    ASSERT_EQ(mdb_put(t, detail::Access::info(box)->objects, &k, &nv, 0), 0);
    ASSERT_OK(txn->commit());
}

// Points the string field PROPERTY of object ID 2 GiB past the record: read without verification,
// that is far outside the memory map.
void point_string_away(Store& store, const DynamicBox& box, uint64_t id,
                       const std::string& property) {
    damage_record(store, box, id, [&](std::string& bytes) {
        size_t at = field_at(*detail::Access::info(box), bytes, pos_of(box, property));
        ASSERT_NE(at, 0u) << property << " is not set";
        uint32_t far = 0x7ffffff0u;
        std::memcpy(bytes.data() + at, &far, 4);
    });
}

void expect_corrupt(const Status& st, std::initializer_list<std::string> needles) {
    EXPECT_EQ(st.code(), ErrorCode::kCorrupt) << st.to_string();
    for (const auto& n : needles) {
        EXPECT_NE(st.message().find(n), std::string::npos)
            << "\"" << n << "\" is not in: " << st.message();
    }
}

// ---- the data file cut short ----

TEST(DamagedStore, DataFileCutShortIsRefusedAtOpen) {
    TempDir dir;
    const std::string db = dir.sub("db");
    const Model model = test::store_model();
    {
        ASSERT_OK_AND_ASSIGN(auto store, Store::open(db, model, test::test_options()));
        ASSERT_OK_AND_ASSIGN(DynamicBox items, store->box("Item"));
        ASSERT_OK_AND_ASSIGN(WriteTxn txn, store->begin_write());
        for (int i = 0; i < 5000; ++i) {
            Object o = items.new_object();
            ASSERT_OK(o.set("name", Value(std::string(100, static_cast<char>('a' + i % 26)))));
            ASSERT_OK(items.put(txn, o));
        }
        ASSERT_OK(txn.commit());
    }
    const std::string file = db + "/data.mdb";
    const auto full = std::filesystem::file_size(file);
    std::filesystem::resize_file(file, full / 2);

    auto writable = Store::open(db, model, test::test_options());
    ASSERT_FALSE(writable.is_ok());
    expect_corrupt(writable.status(),
                   {"data.mdb is " + std::to_string(full / 2) + " bytes", "needs at least"});

    StoreOptions ro = test::test_options();
    ro.read_only = true;
    auto read_only = Store::open_existing(db, ro);
    ASSERT_FALSE(read_only.is_ok());
    expect_corrupt(read_only.status(), {"cut short"});
}

TEST(DamagedStore, AnIntactStoreOpensAgain) {
    TempDir dir;
    const Model model = test::store_model();
    { ASSERT_OK(Store::open(dir.sub("db"), model, test::test_options())); }
    ASSERT_OK(Store::open_existing(dir.sub("db"), test::test_options()));
}

// ---- a damaged object ----

StoreOptions verifying_options() {
    StoreOptions o = test::test_options();
    o.verify_objects = true;
    return o;
}

// Items 1 to 3, with the name of item 2 pointing far outside its record; the store is opened again
// with verify_objects.
class DamagedObject : public StoreTest {
  protected:
    void SetUp() override {
        StoreTest::SetUp();
        {
            DynamicBox items = box("Item");
            for (int i = 1; i <= 3; ++i) {
                Object o = items.new_object();
                ASSERT_OK(o.set("name", Value("item " + std::to_string(i))));
                ASSERT_OK(o.set("n", Value(int64_t{i})));
                ASSERT_OK(items.put(o));
            }
            point_string_away(*store_, items, 2, "name");
        }
        store_.reset();
        ASSERT_OK_AND_ASSIGN(store_, Store::open(dir_.sub("db"), model_, verifying_options()));
        items_.emplace(box("Item"));
    }
    void TearDown() override {
        items_.reset();
        StoreTest::TearDown();
    }
    std::optional<DynamicBox> items_;
};

TEST_F(DamagedObject, GetIsCorruptNamingTheObjectNotACrash) {
    auto got = items_->get(2);
    ASSERT_FALSE(got.is_ok());
    expect_corrupt(got.status(), {"damaged object Item 2", "property name (string)"});
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, store_->begin_read());
    auto reader = items_->read(txn, 2);
    EXPECT_EQ(reader.status().code(), ErrorCode::kCorrupt);
    auto all = items_->get_all(txn);
    EXPECT_EQ(all.status().code(), ErrorCode::kCorrupt);
    ASSERT_OK_AND_ASSIGN(bool there, items_->contains(txn, 2));
    EXPECT_TRUE(there);
}

TEST_F(DamagedObject, OtherObjectsStayReadableAndWritable) {
    ASSERT_OK_AND_ASSIGN(auto one, items_->get(1));
    ASSERT_TRUE(one.has_value());
    EXPECT_EQ(one->get("name"), Value("item 1"));
    ASSERT_OK_AND_ASSIGN(auto three, items_->get(3));
    ASSERT_TRUE(three.has_value());
    ASSERT_OK(one->set("n", Value(int64_t{10})));
    ASSERT_OK(items_->put(*one));
    Object four = items_->new_object();
    ASSERT_OK(four.set("name", Value("item 4")));
    ASSERT_OK_AND_ASSIGN(uint64_t id, items_->put(four));
    EXPECT_EQ(id, 4u);
    ASSERT_OK_AND_ASSIGN(auto count, items_->count());
    EXPECT_EQ(count, 4u);
}

TEST_F(DamagedObject, UpdateAndRemoveAreCorruptAndChangeNothing) {
    Object o = items_->new_object();
    o.id = 2;
    ASSERT_OK(o.set("name", Value("new")));
    auto put = items_->put(o);
    ASSERT_FALSE(put.is_ok());
    expect_corrupt(put.status(), {"Item 2"});
    auto removed = items_->remove(2);
    ASSERT_FALSE(removed.is_ok());
    expect_corrupt(removed.status(), {"Item 2"});
    ASSERT_OK_AND_ASSIGN(auto count, items_->count());
    EXPECT_EQ(count, 3u);
}

TEST_F(DamagedObject, QueriesAreCorruptNotACrash) {
    ASSERT_OK_AND_ASSIGN(Query scan, QueryBuilder(*items_).where("n > 0").build());
    auto found = scan.find();
    ASSERT_FALSE(found.is_ok());
    expect_corrupt(found.status(), {"damaged object Item 2"});
    auto ids = scan.find_ids();
    EXPECT_EQ(ids.status().code(), ErrorCode::kCorrupt);
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, store_->begin_read());
    auto matches = scan.matches(txn, 2);
    EXPECT_EQ(matches.status().code(), ErrorCode::kCorrupt);
    ASSERT_OK_AND_ASSIGN(bool one, scan.matches(txn, 1));
    EXPECT_TRUE(one);
}

// Without verify_objects, a box made verified() verifies its own reads.
TEST(DamagedStore, VerifiedBoxOfAStoreThatDoesNotVerify) {
    TempDir dir;
    ASSERT_OK_AND_ASSIGN(auto store,
                         Store::open(dir.sub("db"), test::store_model(), test::test_options()));
    ASSERT_OK_AND_ASSIGN(DynamicBox items, store->box("Item"));
    EXPECT_FALSE(items.verifies());
    for (int i = 1; i <= 2; ++i) {
        Object o = items.new_object();
        ASSERT_OK(o.set("name", Value("item " + std::to_string(i))));
        ASSERT_OK(items.put(o));
    }
    point_string_away(*store, items, 2, "name");
    DynamicBox verified = items.verified();
    EXPECT_TRUE(verified.verifies());
    auto got = verified.get(2);
    ASSERT_FALSE(got.is_ok());
    expect_corrupt(got.status(), {"damaged object Item 2", "property name (string)"});
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, store->begin_read());
    EXPECT_EQ(verified.get_all(txn).status().code(), ErrorCode::kCorrupt);
    ASSERT_OK_AND_ASSIGN(auto one, verified.get(txn, 1));
    ASSERT_TRUE(one.has_value());
    EXPECT_EQ(one->get("name"), Value("item 1"));
}

// ---- the verifier: every record it accepts is read within its bytes ----

// SIZE bytes that end where an inaccessible page begins, or (AT_START) that begin where one ends: a
// read past either end faults.
class GuardedBytes {
  public:
    GuardedBytes(const std::string& bytes, bool at_start) {
        page_ = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
        size_t data_pages = (bytes.size() + page_ - 1) / page_ + 1;
        total_ = (data_pages + 2) * page_;
        void* m =
            ::mmap(nullptr, total_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            ADD_FAILURE() << "mmap failed";
            return;
        }
        base_ = static_cast<uint8_t*>(m);
        ::mprotect(base_, page_, PROT_NONE);
        ::mprotect(base_ + (data_pages + 1) * page_, page_, PROT_NONE);
        uint8_t* first = base_ + page_;
        data_ = at_start ? first : first + data_pages * page_ - bytes.size();
        if (!bytes.empty()) std::memcpy(data_, bytes.data(), bytes.size());
        size_ = bytes.size();
    }
    ~GuardedBytes() {
        if (base_) ::munmap(base_, total_);
    }
    GuardedBytes(const GuardedBytes&) = delete;
    GuardedBytes& operator=(const GuardedBytes&) = delete;
    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }

  private:
    size_t page_ = 0, total_ = 0, size_ = 0;
    uint8_t* base_ = nullptr;
    uint8_t* data_ = nullptr;
};

// Reads every property of a record that the verifier accepted (a fault ends the test).
void read_everything(const detail::EntityInfo& e, const uint8_t* data, size_t size) {
    Object obj(*e.entity);
    detail::read_object(detail::Access::reader(&e, data, size), obj);
    (void)detail::record_gid(e, data, size);
}

// Runs the verifier on BYTES placed against each guard page; where it accepts them, reads them.
// Returns whether it accepted them.
bool accepted_and_read(const detail::EntityInfo& e, const std::string& bytes) {
    bool ok = true;
    for (bool at_start : {false, true}) {
        GuardedBytes g(bytes, at_start);
        bool accepted = detail::find_object_damage(e, g.data(), g.size()).ok();
        if (accepted) read_everything(e, g.data(), g.size());
        ok = ok && accepted;
    }
    return ok;
}

// Flips bits of and overwrites every byte of REC in turn; returns how many of the damaged records
// the verifier refused (those it accepted were read between guard pages).
size_t refused_mutations(const detail::EntityInfo& e, const std::string& rec, size_t* tried) {
    size_t refused = 0;
    *tried = 0;
    for (size_t i = 0; i < rec.size(); ++i) {
        for (uint8_t mask : {0x01, 0x10, 0x80, 0xff}) {
            std::string bad = rec;
            bad[i] = static_cast<char>(bad[i] ^ mask);
            ++*tried;
            if (!accepted_and_read(e, bad)) ++refused;
        }
        for (uint8_t value : {0x00, 0x7f, 0xff}) {
            std::string bad = rec;
            bad[i] = static_cast<char>(value);
            ++*tried;
            if (!accepted_and_read(e, bad)) ++refused;
        }
    }
    return refused;
}

class Verifier : public StoreTest {
  protected:
    // An AllTypes object with every property set, flex holding maps, arrays, strings and blobs.
    std::string all_types_record() {
        DynamicBox b = box("AllTypes");
        Object o = b.new_object();
        Flex::Map inner{{"k", Flex(std::string("value"))},
                        {"blob", Flex(Bytes{1, 2, 3})},
                        {"n", Flex(int64_t{-7})}};
        Flex::Array arr{Flex(true), Flex(1.5), Flex(std::move(inner)),
                        Flex(Flex::Array{Flex(), Flex(int64_t{1} << 40)})};
        EXPECT_OK(o.set("b", Value(true)));
        EXPECT_OK(o.set("i8", Value(int64_t{-8})));
        EXPECT_OK(o.set("i16", Value(int64_t{-16})));
        EXPECT_OK(o.set("i32", Value(int64_t{-32})));
        EXPECT_OK(o.set("i64", Value(int64_t{-64})));
        EXPECT_OK(o.set("f", Value(1.25)));
        EXPECT_OK(o.set("d", Value(2.5)));
        EXPECT_OK(o.set("s", Value(std::string("a string of some length"))));
        EXPECT_OK(o.set("dt", Value(int64_t{1700000000000})));
        EXPECT_OK(o.set("dn", Value(int64_t{1700000000000000000})));
        EXPECT_OK(o.set("by", Value(Bytes{9, 8, 7, 6, 5})));
        EXPECT_OK(o.set("fx", Value(Flex(Flex::Map{{"list", Flex(std::move(arr))},
                                                   {"s", Flex(std::string("x"))}}))));
        EXPECT_OK(o.set("vi8", Value(Value::IntVector{1, -2, 3})));
        EXPECT_OK(o.set("vi16", Value(Value::IntVector{300, -300})));
        EXPECT_OK(o.set("vi32", Value(Value::IntVector{70000})));
        EXPECT_OK(o.set("vi64", Value(Value::IntVector{int64_t{1} << 50})));
        EXPECT_OK(o.set("vf", Value(Value::DoubleVector{0.5, 1.5})));
        EXPECT_OK(o.set("vd", Value(Value::DoubleVector{3.25})));
        EXPECT_OK(o.set("vs", Value(Value::StringVector{"one", "", "three"})));
        EXPECT_OK(o.set("vdt", Value(Value::IntVector{1, 2})));
        auto id = b.put(o);
        EXPECT_OK(id);
        auto rel = o;
        EXPECT_OK(rel.set("rel", Value(static_cast<int64_t>(o.id))));
        EXPECT_OK(b.put(rel));
        return stored(b, o.id);
    }
    std::string stored(const DynamicBox& b, uint64_t id) {
        auto txn = store_->begin_read();
        EXPECT_OK(txn);
        auto raw =
            detail::get_raw(detail::Access::state(*txn)->txn, *detail::Access::info(b), id, false);
        EXPECT_TRUE(raw.is_ok() && raw->has_value());
        if (!raw.is_ok() || !raw->has_value()) return {};
        return std::string(static_cast<const char*>((*raw)->mv_data), (*raw)->mv_size);
    }
};

TEST_F(Verifier, AcceptsEveryTypeAsWritten) {
    DynamicBox b = box("AllTypes");
    std::string rec = all_types_record();
    ASSERT_FALSE(rec.empty());
    EXPECT_TRUE(accepted_and_read(*detail::Access::info(b), rec));
}

TEST_F(Verifier, EveryCutIsRefusedOrReadInBounds) {
    DynamicBox b = box("AllTypes");
    std::string rec = all_types_record();
    size_t refused = 0;
    for (size_t n = 0; n < rec.size(); ++n) {
        if (!accepted_and_read(*detail::Access::info(b), rec.substr(0, n))) ++refused;
    }
    // Only the padding at the end can go unnoticed; the table's data cannot.
    EXPECT_GT(refused, rec.size() * 9 / 10);
}

TEST_F(Verifier, EveryFlippedByteIsRefusedOrReadInBounds) {
    DynamicBox b = box("AllTypes");
    std::string rec = all_types_record();
    size_t tried = 0;
    size_t refused = refused_mutations(*detail::Access::info(b), rec, &tried);
    EXPECT_GT(refused, 0u);
    EXPECT_LT(refused, tried);  // flips inside values are not damage it can see
}

TEST_F(Verifier, RefusesARecordTooShortForATable) {
    DynamicBox b = box("Item");
    for (std::string bytes : {std::string(), std::string(3, '\0'), std::string(7, '\x01')}) {
        auto d = detail::find_object_damage(
            *detail::Access::info(b), reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
        EXPECT_FALSE(d.ok()) << bytes.size() << " bytes";
    }
}

// The writer stores flex values nested up to 64 levels (flex_keys_storable); those verify and read.
TEST_F(Verifier, FlexAtTheWritersDepthLimitIsAccepted) {
    DynamicBox b = box("AllTypes");
    Flex deep(std::string("bottom"));
    for (int i = 0; i < detail::kMaxStoredFlexDepth; ++i) deep = Flex(Flex::Array{std::move(deep)});
    Flex deep_map(Flex::Array{});  // 1 level, then maps to the limit
    for (int i = 1; i < detail::kMaxStoredFlexDepth; ++i) {
        deep_map = Flex(Flex::Map{{"k", std::move(deep_map)}});
    }
    for (const Flex& f : {deep, deep_map}) {
        Object o = b.new_object();
        ASSERT_OK(o.set("fx", Value(f)));
        ASSERT_OK_AND_ASSIGN(uint64_t id, b.put(o));
        ASSERT_OK_AND_ASSIGN(auto got, b.verified().get(id));
        ASSERT_TRUE(got.has_value());
        EXPECT_EQ(got->get("fx"), Value(f));
    }
}

// A record whose flex value nests deeper than the writer allows (written past the writer's check,
// as a damaged or foreign record would be) is damaged.
TEST_F(Verifier, FlexNestedDeeperThanTheLimitIsCorrupt) {
    DynamicBox b = box("AllTypes");
    flexbuffers::Builder fb;
    std::vector<size_t> starts;
    for (int i = 0; i < 100; ++i) starts.push_back(fb.StartVector());
    fb.Int(1);
    for (auto it = starts.rbegin(); it != starts.rend(); ++it) fb.EndVector(*it, false, false);
    fb.Finish();
    const std::vector<uint8_t>& buf = fb.GetBuffer();
    const int fx = pos_of(b, "fx");
    ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
    ASSERT_OK_AND_ASSIGN(uint64_t id, b.put_with(txn, 0, PutMode::kPut, [&](ObjectWriter& w) {
        w.set_bytes(fx, buf);  // a flex value is a [ubyte] holding the FlexBuffer
        return Status::ok();
    }));
    ASSERT_OK(txn.commit());
    auto got = b.verified().get(id);
    ASSERT_FALSE(got.is_ok());
    expect_corrupt(got.status(),
                   {"AllTypes " + std::to_string(id), "property fx (flex)", "64 levels"});
}

// ---- the change log ----

Model synced_model() {
    ModelBuilder b;
    b.entity("Note").sync();
    b.property("id", PropertyType::kInt64, kFlagId);
    b.property("text", PropertyType::kString, kFlagIndexed);
    b.property("n", PropertyType::kInt64);
    b.entity("Doc");
    b.property("id", PropertyType::kInt64, kFlagId);
    b.property("title", PropertyType::kString, kFlagIndexed);
    b.property("body", PropertyType::kFlex);
    auto m = b.build();
    EXPECT_OK(m);
    return m.is_ok() ? std::move(m).value() : Model{};
}

class DamagedSyncedStore : public ::testing::Test {
  protected:
    void SetUp() override {
        auto s = Store::open(dir_.sub("db"), synced_model(), verifying_options());
        ASSERT_OK(s);
        store_ = std::move(s).value();
        notes_.emplace(store_->box("Note").value());
        docs_.emplace(store_->box("Doc").value());
        ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
        for (int i = 1; i <= 5; ++i) {
            Object n = notes_->new_object();
            ASSERT_OK(n.set("text", Value("note " + std::to_string(i))));
            ASSERT_OK(n.set("n", Value(int64_t{i})));
            ASSERT_OK(notes_->put(txn, n));
            Object d = docs_->new_object();
            ASSERT_OK(d.set("title", Value("doc " + std::to_string(i))));
            ASSERT_OK(d.set("body", Value(Flex(Flex::Map{{"i", Flex(int64_t{i})}}))));
            ASSERT_OK(docs_->put(txn, d));
        }
        ASSERT_OK(txn.commit());
    }
    void TearDown() override { store_.reset(); }

    Result<CheckReport> check() { return check_store(*store_); }

    TempDir dir_;
    std::shared_ptr<Store> store_;
    std::optional<DynamicBox> notes_, docs_;
};

// New notes are logged as stored entries: reading the log reads their records.
TEST_F(DamagedSyncedStore, ReadingTheChangeLogIsCorruptNotACrash) {
    point_string_away(*store_, *notes_, 3, "text");
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, store_->begin_read());
    auto records = ChangeLog::read(txn, 0, 10);
    ASSERT_FALSE(records.is_ok());
    expect_corrupt(records.status(), {"change log record", "damaged object Note 3", "text"});
}

TEST_F(DamagedSyncedStore, ApplyingAChangeToADamagedObjectIsCorrupt) {
    ASSERT_OK_AND_ASSIGN(ReadTxn rtxn, store_->begin_read());
    ASSERT_OK_AND_ASSIGN(auto gid, gid_of(rtxn, *notes_, 3));
    rtxn.close();
    ASSERT_TRUE(gid.has_value());
    point_string_away(*store_, *notes_, 3, "text");
    ChangeSet cs;
    ObjectChange& c = cs.objects.emplace_back();
    c.kind = ObjectChange::kPut;
    c.entity_uid = notes_->entity().id.uid;
    c.gid = *gid;
    c.properties.push_back({notes_->entity().property("n")->id.uid, Value(int64_t{99})});
    ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
    Status st = ChangeLog::apply(txn, cs, "remote");
    expect_corrupt(st, {"Note 3"});
}

// A synced record holds its GID after the table (docs/storage.md, "Objects").
TEST_F(DamagedSyncedStore, EveryDamageOfASyncedRecordIsRefusedOrReadInBounds) {
    const detail::EntityInfo& e = *detail::Access::info(*notes_);
    ASSERT_TRUE(e.gid_in_record);
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, store_->begin_read());
    ASSERT_OK_AND_ASSIGN(auto raw, detail::get_raw(detail::Access::state(txn)->txn, e, 1, false));
    ASSERT_TRUE(raw.has_value());
    const std::string rec(static_cast<const char*>(raw->mv_data), raw->mv_size);
    txn.close();
    ASSERT_TRUE(detail::record_gid(e, reinterpret_cast<const uint8_t*>(rec.data()), rec.size())
                    .has_value());
    EXPECT_TRUE(accepted_and_read(e, rec));
    size_t tried = 0;
    size_t refused = refused_mutations(e, rec, &tried);
    EXPECT_GT(refused, 0u);
    EXPECT_LT(refused, tried);
    for (size_t n = 0; n < rec.size(); ++n) (void)accepted_and_read(e, rec.substr(0, n));
    // The GID's offset pointing outside is damage of the id property.
    std::string bad = rec;
    size_t at = field_at(e, bad, e.id_pos);
    ASSERT_NE(at, 0u);
    uint32_t far = 0x7ffffff0u;
    std::memcpy(bad.data() + at, &far, 4);
    auto d =
        detail::find_object_damage(e, reinterpret_cast<const uint8_t*>(bad.data()), bad.size());
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.pos, e.id_pos);
    EXPECT_STREQ(d.what, "the global id lies outside the record");
}

TEST_F(DamagedSyncedStore, CheckOfAnIntactStoreFindsNothing) {
    ASSERT_OK_AND_ASSIGN(CheckReport r, check());
    EXPECT_TRUE(r.clean()) << (r.damage.empty() ? "" : describe_damage(r.damage[0]));
    EXPECT_EQ(r.entities, 2u);
    EXPECT_EQ(r.objects, 10u);
    EXPECT_EQ(r.changelog_records, 1u);
    EXPECT_EQ(r.damaged_objects + r.damaged_records + r.index_problems + r.global_id_problems, 0u);
}

TEST_F(DamagedSyncedStore, CheckReportsEveryDamagedObject) {
    point_string_away(*store_, *notes_, 3, "text");
    damage_record(*store_, *docs_, 2, [&](std::string& bytes) {
        bytes.resize(bytes.size() / 2);  // cut: the flex and the strings lie past the end
    });
    damage_record(*store_, *docs_, 4, [&](std::string& bytes) {
        size_t at = field_at(*detail::Access::info(*docs_), bytes, pos_of(*docs_, "body"));
        ASSERT_NE(at, 0u);
        size_t vec = at + load_u32(reinterpret_cast<const uint8_t*>(bytes.data()) + at);
        uint32_t len = load_u32(reinterpret_cast<const uint8_t*>(bytes.data()) + vec);
        bytes[vec + 4 + len - 1] = 0x7f;  // the FlexBuffer's root width byte
    });
    std::vector<StoreDamage> seen;
    CheckOptions options;
    options.on_damage = [&](const StoreDamage& d) { seen.push_back(d); };
    ASSERT_OK_AND_ASSIGN(CheckReport r, check_store(*store_, options));
    EXPECT_FALSE(r.clean());
    EXPECT_EQ(r.objects, 10u);
    EXPECT_EQ(r.damaged_objects, 3u);
    std::vector<std::string> objects;
    for (const auto& d : r.damage) {
        if (d.area == StoreDamage::Area::kObject) {
            objects.push_back(d.entity + " " + std::to_string(d.id));
        }
    }
    EXPECT_EQ(objects, (std::vector<std::string>{"Note 3", "Doc 2", "Doc 4"}));
    // Note 3 is named by the change-log record of the puts: that record cannot be read either.
    EXPECT_EQ(r.changelog_records, 1u);
    EXPECT_EQ(r.damaged_records, 1u);
    EXPECT_EQ(r.index_problems + r.global_id_problems, 0u);
    ASSERT_EQ(seen.size(), r.damage.size());
    for (const auto& d : r.damage) {
        std::string line = describe_damage(d);
        if (d.entity == "Note") {
            EXPECT_NE(line.find("object Note 3: property text (string)"), std::string::npos)
                << line;
        }
        if (d.id == 4 && d.entity == "Doc") {
            EXPECT_NE(line.find("property body (flex)"), std::string::npos) << line;
        }
    }
    // The store stays usable for everything else.
    ASSERT_OK_AND_ASSIGN(auto note, notes_->get(1));
    EXPECT_TRUE(note.has_value());
}

TEST_F(DamagedSyncedStore, CheckReportsMissingAndStaleIndexEntries) {
    {
        ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
        MDB_txn* t = detail::Access::state(txn)->txn;
        const auto& idx = detail::Access::info(*docs_)->indexes.at(0);  // Doc.title
        // Drop the entry of Doc 1, add one for Doc 9 (no such object) and one for a value Doc 5
        // lacks.
        std::string key1 = "\x01" + std::string("doc 1");
        uint64_t one = 1, nine = 9, five = 5;
        MDB_val k{key1.size(), key1.data()}, v{8, &one};
        ASSERT_EQ(mdb_del(t, idx.dbi, &k, &v), 0);
        std::string stale = "\x01" + std::string("zzz");
        MDB_val sk{stale.size(), stale.data()}, sv{8, &nine}, sv5{8, &five};
        ASSERT_EQ(mdb_put(t, idx.dbi, &sk, &sv, 0), 0);
        ASSERT_EQ(mdb_put(t, idx.dbi, &sk, &sv5, 0), 0);
        ASSERT_OK(txn.commit());
    }
    ASSERT_OK_AND_ASSIGN(CheckReport r, check());
    EXPECT_EQ(r.damaged_objects, 0u);
    EXPECT_EQ(r.index_problems, 3u);
    std::vector<std::string> lines;
    for (const auto& d : r.damage) lines.push_back(describe_damage(d));
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_NE(lines[0].find("index Doc 1: the index on title lacks"), std::string::npos)
        << lines[0];
    EXPECT_NE(lines[1].find("index Doc 5: the index on title holds an entry for a value"),
              std::string::npos)
        << lines[1];
    EXPECT_NE(
        lines[2].find("index Doc 9: the index on title names the object, which does not exist"),
        std::string::npos)
        << lines[2];
}

TEST_F(DamagedSyncedStore, CheckReportsObjectsMissingFromTheGidMap) {
    {
        ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
        ASSERT_EQ(mdb_drop(detail::Access::state(txn)->txn,
                           detail::Access::info(*notes_)->gid_to_local, 0),
                  0);
        ASSERT_OK(txn.commit());
    }
    ASSERT_OK_AND_ASSIGN(CheckReport r, check());
    EXPECT_EQ(r.global_id_problems, 5u);
    ASSERT_FALSE(r.damage.empty());
    EXPECT_NE(
        describe_damage(r.damage[0]).find("global id Note 1: the object's global id ObjectId("),
        std::string::npos)
        << describe_damage(r.damage[0]);
}

TEST_F(DamagedSyncedStore, CheckReportsAnUndecodableChangeLogRecord) {
    {
        ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
        uint64_t pos = 1;
        std::string garbage = "\xff\xfe garbage";
        MDB_val k{8, &pos}, v{garbage.size(), garbage.data()};
        ASSERT_EQ(mdb_put(detail::Access::state(txn)->txn, detail::Access::impl(*store_)->changelog,
                          &k, &v, 0),
                  0);
        ASSERT_OK(txn.commit());
    }
    ASSERT_OK_AND_ASSIGN(CheckReport r, check());
    EXPECT_EQ(r.damaged_records, 1u);
    ASSERT_EQ(r.damage.size(), 1u);
    EXPECT_EQ(r.damage[0].area, StoreDamage::Area::kChangeLog);
    EXPECT_EQ(r.damage[0].id, 1u);
    EXPECT_NE(describe_damage(r.damage[0]).find("change log record 1: does not decode"),
              std::string::npos);
}

TEST(CheckStore, ReportsProgressOnLongSteps) {
    TempDir dir;
    ASSERT_OK_AND_ASSIGN(auto store,
                         Store::open(dir.sub("db"), test::store_model(), test::test_options()));
    ASSERT_OK_AND_ASSIGN(DynamicBox items, store->box("Item"));
    ASSERT_OK_AND_ASSIGN(WriteTxn txn, store->begin_write());
    for (int i = 0; i < 100000; ++i) {
        Object o = items.new_object();
        ASSERT_OK(items.put(txn, o));
    }
    ASSERT_OK(txn.commit());
    std::vector<CheckProgress> progress;
    CheckOptions options;
    options.on_progress = [&](const CheckProgress& p) { progress.push_back(p); };
    ASSERT_OK_AND_ASSIGN(CheckReport r, check_store(*store, options));
    EXPECT_TRUE(r.clean());
    EXPECT_EQ(r.objects, 100000u);
    ASSERT_EQ(progress.size(), 1u);
    EXPECT_EQ(progress[0].step, "objects of Item");
    EXPECT_EQ(progress[0].done, 100000u);
    EXPECT_EQ(progress[0].total, 100000u);
}

}  // namespace
}  // namespace outpost
