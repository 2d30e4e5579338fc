// The typed API: structs bound with OUTPOST_ENTITY round-trip every property type through Box<T>;
// optional members keep null; bindings that do not fit the model are refused with a clear status.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "common/status_macros.hpp"
#include "outpost/box.hpp"
#include "store/test_model.hpp"

// Bound structs live at global scope because OUTPOST_ENTITY names the entity after the type; only
// this file of the test binary defines them.
struct AllTypes {
    uint64_t id = 0;
    bool b = false;
    int8_t i8 = 0;
    int16_t i16 = 0;
    int32_t i32 = 0;
    int64_t i64 = 0;
    float f = 0;
    double d = 0;
    std::string s;
    int64_t dt = 0;
    int64_t dn = 0;
    std::vector<uint8_t> by;
    outpost::Flex fx;
    outpost::ToOne<AllTypes> rel;
    std::vector<int8_t> vi8;
    std::vector<int16_t> vi16;
    std::vector<int32_t> vi32;
    std::vector<int64_t> vi64;
    std::vector<float> vf;
    std::vector<double> vd;
    std::vector<std::string> vs;
    std::vector<int64_t> vdt;
};
OUTPOST_ENTITY(AllTypes, id, b, i8, i16, i32, i64, f, d, s, dt, dn, by, fx, rel, vi8, vi16, vi32,
               vi64, vf, vd, vs, vdt)

struct Unsigned {
    uint64_t id = 0;
    uint8_t u8 = 0;
    uint16_t u16 = 0;
    uint32_t u32 = 0;
    uint64_t u64 = 0;
    std::vector<uint16_t> vu16;
    std::vector<uint32_t> vu32;
};
OUTPOST_ENTITY(Unsigned, id, u8, u16, u32, u64, vu16, vu32)

struct Author {
    uint64_t id = 0;
    std::string name;
};
OUTPOST_ENTITY(Author, id, name)

struct Book {
    uint64_t id = 0;
    std::string title;
    outpost::ToOne<Author> author;
    outpost::ToMany<Author> readers;
};
OUTPOST_ENTITY(Book, id, title, author, readers)

// The same entity with every member optional: null stays null.
struct OptionalTypes {
    uint64_t id = 0;
    std::optional<bool> b;
    std::optional<int8_t> i8;
    std::optional<int16_t> i16;
    std::optional<int32_t> i32;
    std::optional<int64_t> i64;
    std::optional<float> f;
    std::optional<double> d;
    std::optional<std::string> s;
    std::optional<int64_t> dt;
    std::optional<int64_t> dn;
    std::optional<std::vector<uint8_t>> by;
    std::optional<outpost::Flex> fx;
    std::optional<std::vector<int8_t>> vi8;
    std::optional<std::vector<int16_t>> vi16;
    std::optional<std::vector<int32_t>> vi32;
    std::optional<std::vector<int64_t>> vi64;
    std::optional<std::vector<float>> vf;
    std::optional<std::vector<double>> vd;
    std::optional<std::vector<std::string>> vs;
    std::optional<std::vector<int64_t>> vdt;
};
OUTPOST_ENTITY_AS(OptionalTypes, "AllTypes",
                  OUTPOST_FOR_EACH(OUTPOST_FIELD_OF, OptionalTypes, id, b, i8, i16, i32, i64, f, d,
                                   s, dt, dn, by, fx, vi8, vi16, vi32, vi64, vf, vd, vs, vdt))

// A wider C++ member than the property: values are range-checked at put.
struct WideInts {
    uint64_t id = 0;
    int64_t i8 = 0;
    int64_t i16 = 0;
    int64_t i32 = 0;
};
OUTPOST_ENTITY_AS(WideInts, "AllTypes", outpost::field("id", &WideInts::id),
                  outpost::field("i8", &WideInts::i8), outpost::field("i16", &WideInts::i16),
                  outpost::field("i32", &WideInts::i32))

struct WrongMemberType {
    uint64_t id = 0;
    std::string i32;
};
OUTPOST_ENTITY_AS(WrongMemberType, "AllTypes", outpost::field("id", &WrongMemberType::id),
                  outpost::field("i32", &WrongMemberType::i32))

struct UnknownMember {
    uint64_t id = 0;
    int32_t colour = 0;
};
OUTPOST_ENTITY_AS(UnknownMember, "AllTypes", outpost::field("id", &UnknownMember::id),
                  outpost::field("colour", &UnknownMember::colour))

struct NotAnEntity {
    uint64_t id = 0;
};
OUTPOST_ENTITY(NotAnEntity, id)

namespace outpost {
namespace {

using test::StoreTest;
using I64 = std::numeric_limits<int64_t>;

class Typed : public StoreTest {};

template <typename T>
T typed_round_trip(Box<T>& box, T& object) {
    EXPECT_OK(box.status());
    auto id = box.put(object);
    EXPECT_OK(id);
    EXPECT_NE(object.id, 0u);
    EXPECT_EQ(id.is_ok() ? *id : 0, object.id);
    auto got = box.get(object.id);
    EXPECT_OK(got);
    if (!got.is_ok() || !got->has_value()) {
        ADD_FAILURE() << "object " << object.id << " not found";
        return T{};
    }
    return **got;
}

AllTypes limits(bool max) {
    AllTypes a;
    a.b = max;
    a.i8 = max ? std::numeric_limits<int8_t>::max() : std::numeric_limits<int8_t>::min();
    a.i16 = max ? std::numeric_limits<int16_t>::max() : std::numeric_limits<int16_t>::min();
    a.i32 = max ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int32_t>::min();
    a.i64 = max ? I64::max() : I64::min();
    a.f = max ? std::numeric_limits<float>::max() : std::numeric_limits<float>::lowest();
    a.d = max ? std::numeric_limits<double>::max() : std::numeric_limits<double>::lowest();
    a.s = max ? std::string(1'200'000, 'm') : std::string();
    a.dt = max ? I64::max() : I64::min();
    a.dn = max ? I64::max() : I64::min();
    if (max) {
        for (int i = 0; i < 256; ++i) a.by.push_back(static_cast<uint8_t>(255 - i));
    }
    a.vi8 = {std::numeric_limits<int8_t>::min(), 0, std::numeric_limits<int8_t>::max()};
    a.vi16 = {std::numeric_limits<int16_t>::min(), std::numeric_limits<int16_t>::max()};
    a.vi32 = {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()};
    a.vi64 = {I64::min(), I64::max()};
    a.vf = {std::numeric_limits<float>::lowest(), std::numeric_limits<float>::max()};
    a.vd = {std::numeric_limits<double>::lowest(), std::numeric_limits<double>::denorm_min()};
    a.vs = {"", "two", std::string(500, 'z')};
    a.vdt = {I64::min(), 0, I64::max()};
    return a;
}

void expect_same(const AllTypes& a, const AllTypes& b) {
    EXPECT_EQ(a.b, b.b);
    EXPECT_EQ(a.i8, b.i8);
    EXPECT_EQ(a.i16, b.i16);
    EXPECT_EQ(a.i32, b.i32);
    EXPECT_EQ(a.i64, b.i64);
    EXPECT_EQ(a.f, b.f);
    EXPECT_EQ(a.d, b.d);
    EXPECT_TRUE(a.s == b.s) << "s differs (sizes " << a.s.size() << ", " << b.s.size() << ")";
    EXPECT_EQ(a.dt, b.dt);
    EXPECT_EQ(a.dn, b.dn);
    EXPECT_EQ(a.by, b.by);
    EXPECT_TRUE(a.fx == b.fx);
    EXPECT_EQ(a.rel, b.rel);
    EXPECT_EQ(a.vi8, b.vi8);
    EXPECT_EQ(a.vi16, b.vi16);
    EXPECT_EQ(a.vi32, b.vi32);
    EXPECT_EQ(a.vi64, b.vi64);
    EXPECT_EQ(a.vf, b.vf);
    EXPECT_EQ(a.vd, b.vd);
    EXPECT_EQ(a.vs, b.vs);
    EXPECT_EQ(a.vdt, b.vdt);
}

TEST_F(Typed, EveryTypeRoundTripsAtItsMaximum) {
    Box<AllTypes> box(store_);
    ASSERT_OK(box.status());
    AllTypes a = limits(true);
    a.fx = Flex(Flex::Map{{"k", Flex(Flex::Array{Flex(1), Flex("two"), Flex(3.5), Flex(true),
                                                 Flex(nullptr), Flex(Bytes{0, 255})})}});
    AllTypes got = typed_round_trip(box, a);
    EXPECT_EQ(got.id, a.id);
    expect_same(a, got);
}

TEST_F(Typed, EveryTypeRoundTripsAtItsMinimum) {
    Box<AllTypes> box(store_);
    AllTypes a = limits(false);
    AllTypes got = typed_round_trip(box, a);
    expect_same(a, got);
}

TEST_F(Typed, FloatingSpecialValues) {
    Box<AllTypes> box(store_);
    AllTypes a;
    a.f = std::numeric_limits<float>::quiet_NaN();
    a.d = -std::numeric_limits<double>::infinity();
    a.vf = {-0.0f, std::numeric_limits<float>::infinity(),
            std::numeric_limits<float>::denorm_min()};
    a.vd = {std::numeric_limits<double>::quiet_NaN(), -0.0};
    AllTypes got = typed_round_trip(box, a);
    EXPECT_TRUE(std::isnan(got.f));
    EXPECT_EQ(got.d, -std::numeric_limits<double>::infinity());
    ASSERT_EQ(got.vf.size(), 3u);
    EXPECT_TRUE(std::signbit(got.vf[0]));
    EXPECT_EQ(got.vf[1], std::numeric_limits<float>::infinity());
    EXPECT_EQ(got.vf[2], std::numeric_limits<float>::denorm_min());
    ASSERT_EQ(got.vd.size(), 2u);
    EXPECT_TRUE(std::isnan(got.vd[0]));
    EXPECT_TRUE(std::signbit(got.vd[1]));

    AllTypes z;
    z.d = -0.0;
    z.f = -0.0f;
    AllTypes gz = typed_round_trip(box, z);
    EXPECT_TRUE(std::signbit(gz.d));
    EXPECT_TRUE(std::signbit(gz.f));
}

TEST_F(Typed, UnicodeAndBinaryStrings) {
    Box<AllTypes> box(store_);
    AllTypes a;
    a.s = "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x8E\x89 " + std::string("\0tail", 5);
    a.vs = {"\xC3\xA9", std::string(1, '\0')};
    AllTypes got = typed_round_trip(box, a);
    EXPECT_EQ(got.s, a.s);
    EXPECT_EQ(got.vs, a.vs);
}

TEST_F(Typed, UnsignedLimits) {
    Box<Unsigned> box(store_);
    ASSERT_OK(box.status());
    Unsigned u;
    u.u8 = 255;
    u.u16 = 65535;
    u.u32 = 4294967295u;
    u.u64 = std::numeric_limits<uint64_t>::max();
    u.vu16 = {0, 65535};
    u.vu32 = {4294967295u, 1};
    Unsigned got = typed_round_trip(box, u);
    EXPECT_EQ(got.u8, 255);
    EXPECT_EQ(got.u16, 65535);
    EXPECT_EQ(got.u32, 4294967295u);
    EXPECT_EQ(got.u64, std::numeric_limits<uint64_t>::max());
    EXPECT_EQ(got.vu16, u.vu16);
    EXPECT_EQ(got.vu32, u.vu32);
    // The dynamic view of the same object sees the unsigned values.
    DynamicBox dyn = box.dynamic();
    ASSERT_OK_AND_ASSIGN(auto o, dyn.get(u.id));
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->get("u8"), Value(255));
    EXPECT_EQ(o->get("u32"), Value(int64_t{4294967295}));
}

TEST_F(Typed, EmptyVectorsAndBytes) {
    Box<AllTypes> box(store_);
    AllTypes a;  // every vector empty: stored as empty, not null
    AllTypes got = typed_round_trip(box, a);
    expect_same(a, got);
    ASSERT_OK_AND_ASSIGN(auto o, box.dynamic().get(a.id));
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->get("vi32"), Value(Value::IntVector{}));
    EXPECT_EQ(o->get("vs"), Value(Value::StringVector{}));
    EXPECT_EQ(o->get("by"), Value(Bytes{}));
    // A default (null) Flex member is not written.
    EXPECT_TRUE(o->get("fx").is_null());
    // A relation without a target is null, and reads back as 0.
    EXPECT_TRUE(o->get("rel").is_null());
    EXPECT_EQ(got.rel.id, 0u);
}

TEST_F(Typed, OptionalMembersKeepNull) {
    Box<OptionalTypes> box(store_);
    ASSERT_OK(box.status());
    OptionalTypes empty;
    OptionalTypes got = typed_round_trip(box, empty);
    EXPECT_FALSE(got.b.has_value());
    EXPECT_FALSE(got.i8.has_value());
    EXPECT_FALSE(got.i16.has_value());
    EXPECT_FALSE(got.i32.has_value());
    EXPECT_FALSE(got.i64.has_value());
    EXPECT_FALSE(got.f.has_value());
    EXPECT_FALSE(got.d.has_value());
    EXPECT_FALSE(got.s.has_value());
    EXPECT_FALSE(got.dt.has_value());
    EXPECT_FALSE(got.dn.has_value());
    EXPECT_FALSE(got.by.has_value());
    EXPECT_FALSE(got.fx.has_value());
    EXPECT_FALSE(got.vi8.has_value());
    EXPECT_FALSE(got.vi16.has_value());
    EXPECT_FALSE(got.vi32.has_value());
    EXPECT_FALSE(got.vi64.has_value());
    EXPECT_FALSE(got.vf.has_value());
    EXPECT_FALSE(got.vd.has_value());
    EXPECT_FALSE(got.vs.has_value());
    EXPECT_FALSE(got.vdt.has_value());

    OptionalTypes zeros;
    zeros.b = false;
    zeros.i32 = 0;
    zeros.s = "";
    zeros.vs = std::vector<std::string>{};
    OptionalTypes gz = typed_round_trip(box, zeros);
    EXPECT_EQ(gz.b, std::optional<bool>(false));
    EXPECT_EQ(gz.i32, std::optional<int32_t>(0));
    EXPECT_EQ(gz.s, std::optional<std::string>(""));
    EXPECT_EQ(gz.vs, std::optional<std::vector<std::string>>(std::vector<std::string>{}));
    EXPECT_FALSE(gz.i64.has_value());
    EXPECT_FALSE(gz.d.has_value());

    // Null read into a plain member gives its zero value.
    Box<AllTypes> plain(store_);
    ASSERT_OK_AND_ASSIGN(auto p, plain.get(empty.id));
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->i64, 0);
    EXPECT_EQ(p->s, "");
    EXPECT_TRUE(p->fx.is_null());
}

TEST_F(Typed, ToOneAndToManyRelations) {
    Box<Author> authors(store_);
    Box<Book> books(store_);
    ASSERT_OK(authors.status());
    ASSERT_OK(books.status());
    std::vector<Author> people = {{0, "Ann"}, {0, "Bob"}, {0, "Cid"}};
    ASSERT_OK(authors.put_many(people));
    EXPECT_EQ(people[0].id, 1u);
    EXPECT_EQ(people[2].id, 3u);
    Book book{0, "Dune", {people[1].id}, {{people[2].id, people[0].id, people[2].id}}};
    Book got = typed_round_trip(books, book);
    EXPECT_EQ(got.title, "Dune");
    EXPECT_EQ(got.author.id, people[1].id);
    EXPECT_EQ(got.readers.ids, (std::vector<uint64_t>{3, 1, 3}));

    // Removing an author clears the to-one and drops it from the to-many.
    ASSERT_OK(authors.remove(people[1].id));
    ASSERT_OK(authors.remove(people[2].id));
    ASSERT_OK_AND_ASSIGN(auto after, books.get(book.id));
    ASSERT_TRUE(after.has_value());
    EXPECT_EQ(after->author.id, 0u);
    EXPECT_EQ(after->readers.ids, (std::vector<uint64_t>{1}));
}

TEST_F(Typed, BoxOperations) {
    Box<Author> box(store_);
    std::vector<Author> people = {{0, "a"}, {0, "b"}, {0, "c"}};
    ASSERT_OK(box.put_many(people));
    ASSERT_OK_AND_ASSIGN(uint64_t n, box.count());
    EXPECT_EQ(n, 3u);
    ASSERT_OK_AND_ASSIGN(auto all, box.get_all());
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[1].name, "b");
    EXPECT_EQ(all[1].id, 2u);

    ASSERT_OK_AND_ASSIGN(ReadTxn rtxn, store_->begin_read());
    std::vector<uint64_t> ids = {3, 99, 1};
    ASSERT_OK_AND_ASSIGN(auto many, box.get_many(rtxn, ids));
    ASSERT_EQ(many.size(), 3u);
    EXPECT_EQ(many[0]->name, "c");
    EXPECT_FALSE(many[1].has_value());
    EXPECT_EQ(many[2]->name, "a");
    ASSERT_OK_AND_ASSIGN(bool has2, box.contains(rtxn, 2));
    EXPECT_TRUE(has2);
    rtxn.close();

    Author upd{2, "B"};
    ASSERT_OK(box.put(upd, PutMode::kUpdate));
    Author missing{50, "x"};
    EXPECT_CODE(box.put(missing, PutMode::kUpdate), ErrorCode::kPutMode);
    Author dup{1, "x"};
    EXPECT_CODE(box.put(dup, PutMode::kInsert), ErrorCode::kPutMode);
    ASSERT_OK_AND_ASSIGN(auto b2, box.get(2));
    EXPECT_EQ(b2->name, "B");
    ASSERT_OK_AND_ASSIGN(auto a1, box.get(1));
    EXPECT_EQ(a1->name, "a");

    ASSERT_OK_AND_ASSIGN(bool removed, box.remove(1));
    EXPECT_TRUE(removed);
    ASSERT_OK_AND_ASSIGN(bool again, box.remove(1));
    EXPECT_FALSE(again);
    ASSERT_OK_AND_ASSIGN(auto gone, box.get(1));
    EXPECT_FALSE(gone.has_value());
    ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
    ASSERT_OK_AND_ASSIGN(uint64_t cleared, box.remove_all(w));
    EXPECT_EQ(cleared, 2u);
    ASSERT_OK(w.commit());
    ASSERT_OK_AND_ASSIGN(uint64_t zero, box.count());
    EXPECT_EQ(zero, 0u);
}

TEST_F(Typed, OutOfRangeMemberValuesAreRefused) {
    Box<WideInts> box(store_);
    ASSERT_OK(box.status());
    WideInts ok{0, -128, 32767, std::numeric_limits<int32_t>::min()};
    ASSERT_OK(box.put(ok));
    for (int which = 0; which < 3; ++which) {
        WideInts bad = ok;
        bad.id = 0;
        if (which == 0) bad.i8 = 128;
        if (which == 1) bad.i16 = -32769;
        if (which == 2) bad.i32 = int64_t{1} << 31;
        auto r = box.put(bad);
        ASSERT_FALSE(r.is_ok()) << which;
        EXPECT_EQ(r.status().code(), ErrorCode::kValueOutOfRange) << r.status().to_string();
        EXPECT_NE(r.status().message().find("AllTypes.i"), std::string::npos)
            << r.status().message();
        WideInts upd = ok;
        upd.i8 = bad.i8;
        upd.i16 = bad.i16;
        upd.i32 = bad.i32;
        EXPECT_CODE(box.put(upd), ErrorCode::kValueOutOfRange);
    }
    ASSERT_OK_AND_ASSIGN(uint64_t n, box.count());
    EXPECT_EQ(n, 1u);
    ASSERT_OK_AND_ASSIGN(auto stored, box.get(ok.id));
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->i8, -128);
    EXPECT_EQ(stored->i16, 32767);
    EXPECT_EQ(stored->i32, std::numeric_limits<int32_t>::min());
}

TEST_F(Typed, PutManyConvenienceIsAllOrNothing) {
    Box<WideInts> box(store_);
    std::vector<WideInts> batch = {
        {0, 1, 1, 1}, {0, 2, 2, 2}, {0, 300, 3, 3}};  // the third does not fit
    EXPECT_CODE(box.put_many(batch), ErrorCode::kValueOutOfRange);
    ASSERT_OK_AND_ASSIGN(uint64_t n, box.count());
    EXPECT_EQ(n, 0u);
    batch[2].i8 = 3;
    for (auto& w : batch) w.id = 0;
    ASSERT_OK(box.put_many(batch));
    ASSERT_OK_AND_ASSIGN(uint64_t after, box.count());
    EXPECT_EQ(after, 3u);
}

TEST_F(Typed, MemberOfTheWrongTypeMakesTheBoxUnusable) {
    Box<WrongMemberType> box(store_);
    EXPECT_EQ(box.status().code(), ErrorCode::kTypeMismatch) << box.status().to_string();
    EXPECT_NE(box.status().message().find("AllTypes.i32"), std::string::npos)
        << box.status().message();
    WrongMemberType w{0, "12"};
    EXPECT_CODE(box.put(w), ErrorCode::kTypeMismatch);
    EXPECT_CODE(box.get(1), ErrorCode::kTypeMismatch);
    EXPECT_CODE(box.count(), ErrorCode::kTypeMismatch);
}

TEST_F(Typed, UnknownMemberOrEntity) {
    Box<UnknownMember> box(store_);
    EXPECT_EQ(box.status().code(), ErrorCode::kUnknownProperty) << box.status().to_string();
    EXPECT_NE(box.status().message().find("colour"), std::string::npos) << box.status().message();
    Box<NotAnEntity> none(store_);
    EXPECT_EQ(none.status().code(), ErrorCode::kUnknownEntity) << none.status().to_string();
    NotAnEntity x;
    EXPECT_CODE(none.put(x), ErrorCode::kUnknownEntity);
}

TEST_F(Typed, TypedAndDynamicSeeTheSameObject) {
    Box<AllTypes> box(store_);
    DynamicBox dyn = box.dynamic();
    Object o = dyn.new_object();
    ASSERT_OK(o.set("s", "from dynamic"));
    ASSERT_OK(o.set("i16", -300));
    ASSERT_OK(o.set("vd", Value::DoubleVector{1.25}));
    ASSERT_OK(dyn.put(o));
    ASSERT_OK_AND_ASSIGN(auto t, box.get(o.id));
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->s, "from dynamic");
    EXPECT_EQ(t->i16, -300);
    EXPECT_EQ(t->vd, std::vector<double>{1.25});
}

}  // namespace
}  // namespace outpost
