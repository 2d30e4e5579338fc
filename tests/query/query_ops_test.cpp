// Every operator on every kind of property, ordering, offset and limit, the result forms,
// aggregates, parameters, explain, and the errors of building a query.
#include <gtest/gtest.h>

#include "common/status_macros.hpp"
#include "outpost/box.hpp"
#include "query/query_support.hpp"

namespace {
struct Thing {
    uint64_t id = 0;
    std::string name;
    int32_t age = 0;
    std::string email;
};
}  // namespace
OUTPOST_ENTITY_AS(Thing, "Person", outpost::field("id", &Thing::id),
                  outpost::field("name", &Thing::name), outpost::field("age", &Thing::age),
                  outpost::field("email", &Thing::email))

namespace outpost {
namespace {

using qtest::Ids;

class QueryOps : public qtest::QueryStoreTest {
  protected:
    void SetUp() override {
        QueryStoreTest::SetUp();
        fill();
    }
    void fill() {
        // ids 1..5
        put("Item", {{"i", 10},
                     {"d", 1.5},
                     {"s", "Apple"},
                     {"h", "red"},
                     {"b", true},
                     {"t", 1},
                     {"f", 0.5f},
                     {"u", int64_t(-1)},
                     {"date", 1000},
                     {"raw", Bytes{1, 2}},
                     {"tags", Value::StringVector{"Fruit", "red"}},
                     {"nums", Value::IntVector{1, 2, 3}},
                     {"ds", Value::DoubleVector{0.5}},
                     {"extra", Flex(Flex::Map{{"k", 1}})}});
        put("Item", {{"i", 20},
                     {"d", -2.0},
                     {"s", "apricot"},
                     {"h", "green"},
                     {"b", false},
                     {"t", 2},
                     {"u", 5},
                     {"tags", Value::StringVector{"fruit"}},
                     {"nums", Value::IntVector{4}}});
        put("Item", {{"i", -5},
                     {"d", 3.25},
                     {"s", "Banana"},
                     {"h", "yellow"},
                     {"b", true},
                     {"t", 3},
                     {"u", 7}});
        put("Item", {{"s", "cherry pie"}, {"h", "red"}});  // i, d, b, t null
        put("Item", {{"i", 20}, {"d", 0.0}, {"s", ""}, {"b", false}, {"t", 5}, {"u", 0}});
    }
};

TEST_F(QueryOps, IntegerComparisons) {
    EXPECT_EQ(ids("Item", "i == 20"), (Ids{2, 5}));
    EXPECT_EQ(ids("Item", "i != 20"), (Ids{1, 3}));  // null never matches a comparison
    EXPECT_EQ(ids("Item", "i < 10"), (Ids{3}));
    EXPECT_EQ(ids("Item", "i <= 10"), (Ids{1, 3}));
    EXPECT_EQ(ids("Item", "i > 10"), (Ids{2, 5}));
    EXPECT_EQ(ids("Item", "i >= 10"), (Ids{1, 2, 5}));
    EXPECT_EQ(ids("Item", "i BETWEEN -5 AND 10"), (Ids{1, 3}));
    EXPECT_EQ(ids("Item", "i BETWEEN 11 AND 10"), (Ids{}));
    EXPECT_EQ(ids("Item", "i IN (20, -5, 7)"), (Ids{2, 3, 5}));
    EXPECT_EQ(ids("Item", "i IS NULL"), (Ids{4}));
    EXPECT_EQ(ids("Item", "i IS NOT NULL"), (Ids{1, 2, 3, 5}));
    EXPECT_EQ(ids("Item", "i > 9.5"), (Ids{1, 2, 5}));
    EXPECT_EQ(ids("Item", "i < 10.5 AND i > -5.5"), (Ids{1, 3}));
    EXPECT_EQ(ids("Item", "i == 10.0"), (Ids{1}));
    EXPECT_EQ(ids("Item", "i == 10.5"), (Ids{}));
    EXPECT_EQ(ids("Item", "t >= 2 AND t < 5"), (Ids{2, 3}));
    EXPECT_EQ(ids("Item", "date == 1000"), (Ids{1}));
}

TEST_F(QueryOps, UnsignedComparesAsUnsigned) {
    // u of object 1 is 2^64-1.
    EXPECT_EQ(ids("Item", "u > 6"), (Ids{1, 3}));
    EXPECT_EQ(ids("Item", "u > -1"), (Ids{1, 2, 3, 5}));
    EXPECT_EQ(ids("Item", "u == 5"), (Ids{2}));
    EXPECT_EQ(ids("Item", "u IN (0, 7)"), (Ids{3, 5}));
    EXPECT_EQ(ids("Item", "u == -1"), (Ids{}));
}

TEST_F(QueryOps, FloatingPointAndBool) {
    EXPECT_EQ(ids("Item", "d == 1.5"), (Ids{1}));
    EXPECT_EQ(ids("Item", "d < 0"), (Ids{2}));
    EXPECT_EQ(ids("Item", "d >= 0"), (Ids{1, 3, 5}));
    EXPECT_EQ(ids("Item", "d BETWEEN -2 AND 1.5"), (Ids{1, 2, 5}));
    EXPECT_EQ(ids("Item", "d == -0.0"), (Ids{5}));
    EXPECT_EQ(ids("Item", "d IN (3.25, -2)"), (Ids{2, 3}));
    EXPECT_EQ(ids("Item", "f == 0.5"), (Ids{1}));
    EXPECT_EQ(ids("Item", "f IS NULL"), (Ids{2, 3, 4, 5}));
    EXPECT_EQ(ids("Item", "b == true"), (Ids{1, 3}));
    EXPECT_EQ(ids("Item", "b != true"), (Ids{2, 5}));
    EXPECT_EQ(ids("Item", "b == 0"), (Ids{2, 5}));
    EXPECT_EQ(ids("Item", "b > -1"), (Ids{1, 2, 3, 5}));
    EXPECT_EQ(ids("Item", "b >= true"), (Ids{1, 3}));
}

TEST_F(QueryOps, MatchesAnObjectThatIsNotStored) {
    ASSERT_OK_AND_ASSIGN(Query q, build("Item", "i >= $min AND s ^= \"A\" CI"));
    ASSERT_OK(q.set_parameter("min", Value(3)));
    Object o = box("Item").new_object();
    ASSERT_OK(o.set("i", 7));
    ASSERT_OK(o.set("s", "avocado"));
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, store_->begin_read());
    ASSERT_OK_AND_ASSIGN(bool m, q.matches(txn, o));
    EXPECT_TRUE(m);
    ASSERT_OK(o.set("i", 2));
    ASSERT_OK_AND_ASSIGN(m, q.matches(txn, o));
    EXPECT_FALSE(m);
    Object person = box("Person").new_object();
    EXPECT_EQ(q.matches(txn, person).status().code(), ErrorCode::kInvalidArgument);
}

TEST_F(QueryOps, ParameterNamesMayHaveDots) {
    ASSERT_OK_AND_ASSIGN(Query q, build("Item", "h == $auth.sub"));
    ASSERT_OK(q.set_parameter("auth.sub", Value("red")));
    ASSERT_OK_AND_ASSIGN(auto r, q.find_ids());
    EXPECT_EQ(r, (Ids{1, 4}));
}

TEST_F(QueryOps, Strings) {
    EXPECT_EQ(ids("Item", "s == \"Apple\""), (Ids{1}));
    EXPECT_EQ(ids("Item", "s == \"apple\""), (Ids{}));
    EXPECT_EQ(ids("Item", "s == \"apple\" CI"), (Ids{1}));
    EXPECT_EQ(ids("Item", "s != \"apple\" CI"), (Ids{2, 3, 4, 5}));
    EXPECT_EQ(ids("Item", "s ^= \"Ap\""), (Ids{1}));
    EXPECT_EQ(ids("Item", "s ^= \"ap\" CI"), (Ids{1, 2}));
    EXPECT_EQ(ids("Item", "s ^= \"\""), (Ids{1, 2, 3, 4, 5}));
    EXPECT_EQ(ids("Item", "s $= \"ot\""), (Ids{2}));
    EXPECT_EQ(ids("Item", "s $= \"NA\" CI"), (Ids{3}));
    EXPECT_EQ(ids("Item", "s *= \"an\""), (Ids{3}));
    EXPECT_EQ(ids("Item", "s *= \"P\" CI"), (Ids{1, 2, 4}));
    EXPECT_EQ(ids("Item", "s < \"B\""), (Ids{1, 5}));
    EXPECT_EQ(ids("Item", "s > \"B\""), (Ids{2, 3, 4}));
    EXPECT_EQ(ids("Item", "s BETWEEN \"B\" AND \"b\""), (Ids{2, 3}));
    EXPECT_EQ(ids("Item", "s IN (\"Banana\", \"\", \"x\")"), (Ids{3, 5}));
    EXPECT_EQ(ids("Item", "s IN (\"BANANA\", \"APPLE\") CI"), (Ids{1, 3}));
    EXPECT_EQ(ids("Item", "h == \"red\""), (Ids{1, 4}));
    EXPECT_EQ(ids("Item", "h IN (\"red\", \"green\")"), (Ids{1, 2, 4}));
    EXPECT_EQ(ids("Item", "h ^= \"gr\""), (Ids{2}));
    EXPECT_EQ(ids("Item", "h IS NULL"), (Ids{5}));
}

TEST_F(QueryOps, VectorsBytesAndFlex) {
    EXPECT_EQ(ids("Item", "tags CONTAINS \"fruit\""), (Ids{2}));
    EXPECT_EQ(ids("Item", "tags CONTAINS \"FRUIT\" CI"), (Ids{1, 2}));
    EXPECT_EQ(ids("Item", "nums CONTAINS 2"), (Ids{1}));
    EXPECT_EQ(ids("Item", "nums CONTAINS 4.0"), (Ids{2}));
    EXPECT_EQ(ids("Item", "ds CONTAINS 0.5"), (Ids{1}));
    EXPECT_EQ(ids("Item", "tags IS NULL"), (Ids{3, 4, 5}));
    EXPECT_EQ(ids("Item", "extra IS NOT NULL"), (Ids{1}));
    ASSERT_OK_AND_ASSIGN(Query q,
                         QueryBuilder(box("Item")).where(prop("raw").equal(Bytes{1, 2})).build());
    ASSERT_OK_AND_ASSIGN(auto found, q.find_ids());
    EXPECT_EQ(found, (Ids{1}));
}

TEST_F(QueryOps, IdProperty) {
    EXPECT_EQ(ids("Item", "id == 3"), (Ids{3}));
    EXPECT_EQ(ids("Item", "id IN (2, 4, 99, -1)"), (Ids{2, 4}));
    EXPECT_EQ(ids("Item", "id > 3"), (Ids{4, 5}));
    EXPECT_EQ(ids("Item", "id BETWEEN 2 AND 3"), (Ids{2, 3}));
    EXPECT_EQ(ids("Item", "id < 0"), (Ids{}));
    EXPECT_EQ(ids("Item", "id IS NULL"), (Ids{}));
    ASSERT_OK_AND_ASSIGN(Query q, build("Item", "id >= 4"));
    EXPECT_NE(q.explain().find("id lookup"), std::string::npos) << q.explain();
}

TEST_F(QueryOps, AndOrNot) {
    EXPECT_EQ(ids("Item", "i == 20 AND b == false AND t == 5"), (Ids{5}));
    EXPECT_EQ(ids("Item", "i == 10 OR s ^= \"B\""), (Ids{1, 3}));
    EXPECT_EQ(ids("Item", "(i == 10 OR i == -5) AND b == true"), (Ids{1, 3}));
    EXPECT_EQ(ids("Item", "NOT i == 20"), (Ids{1, 3, 4}));
    EXPECT_EQ(ids("Item", "NOT (i == 20 OR i IS NULL)"), (Ids{1, 3}));
    ASSERT_OK_AND_ASSIGN(Query all, QueryBuilder(box("Item")).build());
    ASSERT_OK_AND_ASSIGN(uint64_t n, all.count());
    EXPECT_EQ(n, 5u);
    ASSERT_OK_AND_ASSIGN(Query none,
                         QueryBuilder(box("Item")).where(Condition::any_of({})).build());
    ASSERT_OK_AND_ASSIGN(n, none.count());
    EXPECT_EQ(n, 0u);
}

TEST_F(QueryOps, OrderOffsetLimit) {
    auto run = [&](QueryBuilder b) {
        auto q = b.build();
        EXPECT_OK(q);
        auto r = q->find_ids();
        EXPECT_OK(r);
        return r.value();
    };
    EXPECT_EQ(run(QueryBuilder(box("Item")).order("i")), (Ids{3, 1, 2, 5, 4}));
    EXPECT_EQ(run(QueryBuilder(box("Item")).order("i", kOrderDescending)), (Ids{2, 5, 1, 3, 4}));
    EXPECT_EQ(run(QueryBuilder(box("Item")).order("i", kOrderNullsFirst)), (Ids{4, 3, 1, 2, 5}));
    EXPECT_EQ(
        run(QueryBuilder(box("Item")).order("i", kOrderDescending).order("t", kOrderDescending)),
        (Ids{5, 2, 1, 3, 4}));
    EXPECT_EQ(run(QueryBuilder(box("Item")).order("s")), (Ids{5, 1, 3, 2, 4}));
    EXPECT_EQ(run(QueryBuilder(box("Item")).order("s", kOrderCaseInsensitive)),
              (Ids{5, 1, 2, 3, 4}));
    EXPECT_EQ(run(QueryBuilder(box("Item")).order("d")), (Ids{2, 5, 1, 3, 4}));
    EXPECT_EQ(run(QueryBuilder(box("Item")).order("u")), (Ids{5, 2, 3, 1, 4}));
    EXPECT_EQ(run(QueryBuilder(box("Item")).order("id", kOrderDescending)), (Ids{5, 4, 3, 2, 1}));
    EXPECT_EQ(run(QueryBuilder(box("Item")).order("i").offset(1).limit(2)), (Ids{1, 2}));
    EXPECT_EQ(run(QueryBuilder(box("Item")).offset(3)), (Ids{4, 5}));
    EXPECT_EQ(run(QueryBuilder(box("Item")).offset(9)), (Ids{}));
    EXPECT_EQ(run(QueryBuilder(box("Item")).limit(0)), (Ids{}));
    auto count = [&](QueryBuilder b) { return b.build().value().count().value(); };
    EXPECT_EQ(count(QueryBuilder(box("Item"))), 5u);
    EXPECT_EQ(count(QueryBuilder(box("Item")).offset(2)), 3u);
    EXPECT_EQ(count(QueryBuilder(box("Item")).offset(7)), 0u);
    EXPECT_EQ(count(QueryBuilder(box("Item")).offset(1).limit(2)), 2u);
    EXPECT_EQ(count(QueryBuilder(box("Item")).where("i IS NOT NULL").offset(1).limit(9)), 3u);
    EXPECT_EQ(run(QueryBuilder(box("Item")).where("i IS NOT NULL").limit(2)), (Ids{1, 2}));
}

TEST_F(QueryOps, ResultForms) {
    ASSERT_OK_AND_ASSIGN(Query q, build("Item", "i == 20"));
    ASSERT_OK_AND_ASSIGN(auto objs, q.find());
    ASSERT_EQ(objs.size(), 2u);
    EXPECT_EQ(objs[0].id, 2u);
    EXPECT_EQ(objs[1].get("t"), Value(5));
    ASSERT_OK_AND_ASSIGN(auto first, q.find_first());
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->id, 2u);
    auto unique = q.find_unique();
    ASSERT_FALSE(unique.is_ok());
    EXPECT_EQ(unique.status().code(), ErrorCode::kIllegalState);
    ASSERT_OK_AND_ASSIGN(Query one, build("Item", "s == \"Banana\""));
    ASSERT_OK_AND_ASSIGN(auto u, one.find_unique());
    ASSERT_TRUE(u.has_value());
    EXPECT_EQ(u->id, 3u);
    ASSERT_OK_AND_ASSIGN(Query none, build("Item", "s == \"nope\""));
    ASSERT_OK_AND_ASSIGN(auto n, none.find_unique());
    EXPECT_FALSE(n.has_value());
    ASSERT_OK_AND_ASSIGN(auto f, none.find_first());
    EXPECT_FALSE(f.has_value());
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, store_->begin_read());
    ASSERT_OK_AND_ASSIGN(bool m, q.matches(txn, 5));
    EXPECT_TRUE(m);
    ASSERT_OK_AND_ASSIGN(m, q.matches(txn, 1));
    EXPECT_FALSE(m);
    ASSERT_OK_AND_ASSIGN(m, q.matches(txn, 77));
    EXPECT_FALSE(m);
}

TEST_F(QueryOps, Aggregates) {
    ASSERT_OK_AND_ASSIGN(Query q, QueryBuilder(box("Item")).build());
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, store_->begin_read());
    ASSERT_OK_AND_ASSIGN(auto mn, q.min(txn, "i"));
    EXPECT_EQ(mn, Value(-5));
    ASSERT_OK_AND_ASSIGN(auto mx, q.max(txn, "i"));
    EXPECT_EQ(mx, Value(20));
    ASSERT_OK_AND_ASSIGN(Value sum, q.sum(txn, "i"));
    EXPECT_EQ(sum, Value(45));
    ASSERT_OK_AND_ASSIGN(auto avg, q.average(txn, "i"));
    EXPECT_DOUBLE_EQ(*avg, 11.25);
    ASSERT_OK_AND_ASSIGN(uint64_t distinct, q.count_distinct(txn, "i"));
    EXPECT_EQ(distinct, 3u);
    ASSERT_OK_AND_ASSIGN(Value dsum, q.sum(txn, "d"));
    EXPECT_EQ(dsum, Value(2.75));
    ASSERT_OK_AND_ASSIGN(auto smin, q.min(txn, "s"));
    EXPECT_EQ(smin, Value(""));
    ASSERT_OK_AND_ASSIGN(auto smax, q.max(txn, "s"));
    EXPECT_EQ(smax, Value("cherry pie"));
    ASSERT_OK_AND_ASSIGN(distinct, q.count_distinct(txn, "h"));
    EXPECT_EQ(distinct, 3u);
    ASSERT_OK_AND_ASSIGN(auto umax, q.max(txn, "u"));
    EXPECT_EQ(umax, Value(int64_t(-1)));  // 2^64-1 as the same bits
    auto usum = q.sum(txn, "u");
    EXPECT_EQ(usum.status().code(), ErrorCode::kValueOutOfRange);
    ASSERT_OK_AND_ASSIGN(auto bmax, q.max(txn, "b"));
    EXPECT_EQ(bmax, Value(true));
    ASSERT_OK_AND_ASSIGN(Value idsum, q.sum(txn, "id"));
    EXPECT_EQ(idsum, Value(15));
    EXPECT_EQ(q.sum(txn, "s").status().code(), ErrorCode::kTypeMismatch);
    EXPECT_EQ(q.min(txn, "tags").status().code(), ErrorCode::kTypeMismatch);
    EXPECT_EQ(q.min(txn, "nope").status().code(), ErrorCode::kUnknownProperty);

    // Aggregates see the results: condition, offset and limit.
    ASSERT_OK_AND_ASSIGN(Query some,
                         QueryBuilder(box("Item")).where("i > 0").order("i").limit(1).build());
    ASSERT_OK_AND_ASSIGN(sum, some.sum(txn, "i"));
    EXPECT_EQ(sum, Value(10));
    ASSERT_OK_AND_ASSIGN(Query empty, build("Item", "i > 100"));
    ASSERT_OK_AND_ASSIGN(auto none, empty.min(txn, "i"));
    EXPECT_FALSE(none.has_value());
    ASSERT_OK_AND_ASSIGN(auto navg, empty.average(txn, "i"));
    EXPECT_FALSE(navg.has_value());
    ASSERT_OK_AND_ASSIGN(sum, empty.sum(txn, "i"));
    EXPECT_EQ(sum, Value(0));
}

TEST_F(QueryOps, ParametersChangeWithoutRebuilding) {
    ASSERT_OK_AND_ASSIGN(Query q, build("Item", "i >= $min AND s ^= $p"));
    auto unbound = q.find_ids();
    EXPECT_EQ(unbound.status().code(), ErrorCode::kIllegalState);
    ASSERT_OK(q.set_parameter("min", Value(0)));
    ASSERT_OK(q.set_parameter("p", Value("a")));
    ASSERT_OK_AND_ASSIGN(auto r, q.find_ids());
    EXPECT_EQ(r, (Ids{2}));
    ASSERT_OK(q.set_parameter("p", Value("")));
    ASSERT_OK_AND_ASSIGN(r, q.find_ids());
    EXPECT_EQ(r, (Ids{1, 2, 5}));
    ASSERT_OK(q.set_parameter("min", Value(15)));
    ASSERT_OK_AND_ASSIGN(r, q.find_ids());
    EXPECT_EQ(r, (Ids{2, 5}));
    EXPECT_EQ(q.set_parameter("min", Value("x")).code(), ErrorCode::kTypeMismatch);
    ASSERT_OK_AND_ASSIGN(r, q.find_ids());  // a refused value leaves the old one
    EXPECT_EQ(r, (Ids{2, 5}));
    EXPECT_EQ(q.set_parameter("nope", Value(1)).code(), ErrorCode::kNotFound);
    EXPECT_EQ(q.set_parameter("", Value(1)).code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(q.set_parameter("min", Value()).code(), ErrorCode::kInvalidArgument);

    ASSERT_OK_AND_ASSIGN(Query between, build("Item", "i BETWEEN $lo AND $hi"));
    ASSERT_OK(between.set_parameter("lo", Value(-10)));
    ASSERT_OK(between.set_parameter("hi", Value(10)));
    ASSERT_OK_AND_ASSIGN(r, between.find_ids());
    EXPECT_EQ(r, (Ids{1, 3}));

    ASSERT_OK_AND_ASSIGN(Query in, build("Item", "i IN $set"));
    EXPECT_EQ(in.set_parameter("set", Value(1)).code(), ErrorCode::kInvalidArgument);
    ASSERT_OK(in.set_parameter("set", std::vector<Value>{Value(-5), Value(20)}));
    ASSERT_OK_AND_ASSIGN(r, in.find_ids());
    EXPECT_EQ(r, (Ids{2, 3, 5}));

    // Aliases on built conditions.
    ASSERT_OK_AND_ASSIGN(Query a, QueryBuilder(box("Item"))
                                      .where(prop("i").equal(10).alias("eq") &&
                                             prop("t").between(0, 100).alias("range") &&
                                             prop("s").in({Value("Apple")}).alias("names"))
                                      .build());
    ASSERT_OK_AND_ASSIGN(r, a.find_ids());
    EXPECT_EQ(r, (Ids{1}));
    ASSERT_OK(a.set_parameter("eq", Value(20)));
    ASSERT_OK(a.set_parameter("names", std::vector<Value>{Value("apricot"), Value("")}));
    ASSERT_OK_AND_ASSIGN(r, a.find_ids());
    EXPECT_EQ(r, (Ids{2, 5}));
    ASSERT_OK(a.set_parameter("range", Value(3), Value(9)));
    ASSERT_OK_AND_ASSIGN(r, a.find_ids());
    EXPECT_EQ(r, (Ids{5}));
    EXPECT_EQ(a.set_parameter("range", Value(3)).code(), ErrorCode::kInvalidArgument);
}

TEST_F(QueryOps, ExplainSaysIndexOrScan) {
    auto explain = [&](const std::string& where) {
        auto q = build("Item", where);
        EXPECT_OK(q);
        return q.is_ok() ? q->explain() : std::string();
    };
    EXPECT_NE(explain("i == 3").find("index Item.i (==)"), std::string::npos) << explain("i == 3");
    EXPECT_NE(explain("i > 3").find("index Item.i (>)"), std::string::npos);
    EXPECT_NE(explain("s ^= \"a\"").find("index Item.s (^=)"), std::string::npos);
    EXPECT_NE(explain("s IN (\"a\")").find("index Item.s (IN)"), std::string::npos);
    EXPECT_NE(explain("h == \"a\"").find("index Item.h [hash] (==)"), std::string::npos);
    EXPECT_NE(explain("h ^= \"a\"").find("scan"), std::string::npos);
    EXPECT_NE(explain("s == \"a\" CI").find("scan"), std::string::npos);
    EXPECT_NE(explain("f == 1").find("scan"), std::string::npos);
    EXPECT_NE(explain("NOT i == 3").find("scan"), std::string::npos);
    EXPECT_NE(explain("u > 3").find("scan"), std::string::npos);
    EXPECT_NE(explain("u == 3").find("index Item.u"), std::string::npos);
    // AND: the cheapest indexed comparison drives.
    EXPECT_NE(explain("i > 3 AND s == \"x\" AND f == 1").find("index Item.s (==)"),
              std::string::npos);
    // OR: indexes only when every branch has one.
    EXPECT_NE(
        explain("i == 3 OR s == \"x\"").find("union of [index Item.i (==); index Item.s (==)]"),
        std::string::npos)
        << explain("i == 3 OR s == \"x\"");
    EXPECT_NE(explain("i == 3 OR f == 1").find("scan"), std::string::npos);
    // Paths through relations: the target's index, then the relation backwards.
    EXPECT_NE(explain("owner.name == \"x\"").find("index Person.name (==) via owner"),
              std::string::npos)
        << explain("owner.name == \"x\"");
    EXPECT_NE(explain("likes.id == 3").find("id lookup of Person (==) via likes"),
              std::string::npos)
        << explain("likes.id == 3");
    EXPECT_NE(explain("owner.age == 3").find("scan"), std::string::npos);
    // A local index is preferred over a path.
    EXPECT_NE(explain("owner.name == \"x\" AND i > 3").find("index Item.i (>)"), std::string::npos);
    EXPECT_NE(explain("owner == 1").find("index Item.owner"), std::string::npos);
    ASSERT_OK_AND_ASSIGN(
        Query q,
        QueryBuilder(box("Item")).where("i == 1").order("s", kOrderDescending).limit(3).build());
    EXPECT_EQ(q.explain(), "Item: index Item.i (==) then filter: i == 1; order by s desc; limit 3");

    // One order key on an indexed integer, date or float property walks that index, when no other
    // index drives; other orders sort the matches.
    auto ordered = [&](const QueryBuilder& b) {
        auto built = b.build();
        EXPECT_OK(built);
        return built.is_ok() ? built->explain() : std::string();
    };
    EXPECT_EQ(ordered(QueryBuilder(box("Item")).order("i", kOrderDescending).limit(2)),
              "Item: scan; order by i desc (walks index Item.i); limit 2");
    EXPECT_NE(
        ordered(QueryBuilder(box("Item")).where("i > 3").order("i")).find("(walks index Item.i)"),
        std::string::npos);
    EXPECT_NE(
        ordered(QueryBuilder(box("Item")).where("f > 0").order("d")).find("(walks index Item.d)"),
        std::string::npos);
    EXPECT_NE(ordered(QueryBuilder(box("Item")).order("s")).find("(walks index Item.s)"),
              std::string::npos);
    for (const QueryBuilder& b :
         {QueryBuilder(box("Item")).order("h"), QueryBuilder(box("Item")).order("i").order("t"),
          QueryBuilder(box("Item")).order("i", kOrderCaseInsensitive),
          QueryBuilder(box("Item")).where("s == \"x\"").order("i"),
          QueryBuilder(box("Item")).order("f"), QueryBuilder(box("Item")).order("b"),
          QueryBuilder(box("Item")).where("i > 3").order("d")}) {
        EXPECT_EQ(ordered(b).find("walks"), std::string::npos) << ordered(b);
    }
}

TEST_F(QueryOps, BuildErrors) {
    auto code = [&](const std::string& where) { return build("Item", where).status().code(); };
    EXPECT_EQ(code("nope == 1"), ErrorCode::kUnknownProperty);
    EXPECT_EQ(code("i == \"x\""), ErrorCode::kTypeMismatch);
    EXPECT_EQ(code("s > 3"), ErrorCode::kTypeMismatch);
    EXPECT_EQ(code("i ^= \"x\""), ErrorCode::kTypeMismatch);
    EXPECT_EQ(code("tags == \"x\""), ErrorCode::kTypeMismatch);
    EXPECT_EQ(code("s CONTAINS \"x\""), ErrorCode::kTypeMismatch);
    EXPECT_EQ(code("extra == 1"), ErrorCode::kTypeMismatch);
    EXPECT_EQ(code("likes == 1"), ErrorCode::kUnknownProperty);
    EXPECT_EQ(code("i.name == 1"), ErrorCode::kUnknownProperty);
    EXPECT_EQ(code("@Nope.owner.name == 1"), ErrorCode::kUnknownEntity);
    EXPECT_EQ(code("@Item.owner.i == 1"),
              ErrorCode::kUnknownProperty);  // Item.owner points to Person
    EXPECT_EQ(code("i >"), ErrorCode::kInvalidArgument);
    EXPECT_EQ(QueryBuilder(box("Item")).order("nope").build().status().code(),
              ErrorCode::kUnknownProperty);
    EXPECT_EQ(QueryBuilder(box("Item")).order("tags").build().status().code(),
              ErrorCode::kTypeMismatch);
    EXPECT_EQ(QueryBuilder(box("Item")).where(prop("i").equal(Value())).build().status().code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(QueryBuilder(box("Item"))
                  .where(Condition::compare("i", QueryOp::kBetween, {Value(1)}))
                  .build()
                  .status()
                  .code(),
              ErrorCode::kInvalidArgument);
    auto msg = build("Item", "i == \"x\"").status().message();
    EXPECT_NE(msg.find("i (int64)"), std::string::npos) << msg;
}

TEST_F(QueryOps, LongStringsBeyondTheIndexKeyAreCheckedInFull) {
    std::string base(450, 'x');
    uint64_t a = put("Item", {{"s", base + "a"}});
    uint64_t b = put("Item", {{"s", base + "b"}});
    EXPECT_EQ(ids("Item", "s == \"" + base + "b\""), (Ids{b}));
    EXPECT_EQ(ids("Item", "s ^= \"" + base + "a\""), (Ids{a}));
    EXPECT_EQ(ids("Item", "s > \"" + base + "a\""), (Ids{b}));
    EXPECT_EQ(ids("Item", "s <= \"" + base + "a\" AND s >= \"x\""), (Ids{a}));
    EXPECT_EQ(ids("Item", "s IN (\"" + base + "a\", \"Banana\")"), (Ids{3, a}));
}

// A string index keeps the first 400 bytes: values that share them share a key, and the walk of
// the index in an order sorts such a key's objects by their whole values.
TEST_F(QueryOps, OrderByALongStringWalksTheIndexAndSortsCutKeysInFull) {
    const std::string base(450, 'x');
    const uint64_t b = put("Item", {{"s", base + "b"}});
    const uint64_t a = put("Item", {{"s", base + "a"}});
    const uint64_t a2 = put("Item", {{"s", base + "a"}});
    const uint64_t shorter = put("Item", {{"s", std::string(399, 'x')}});
    const uint64_t y = put("Item", {{"s", "y"}});
    auto run = [&](uint32_t flags, uint64_t offset, uint64_t limit) {
        auto q = QueryBuilder(box("Item")).order("s", flags).offset(offset).limit(limit).build();
        EXPECT_OK(q);
        EXPECT_NE(q->explain().find("(walks index Item.s)"), std::string::npos) << q->explain();
        auto r = q->find_ids();
        EXPECT_OK(r);
        return r.value();
    };
    // The fixture's: "" (5), "Apple" (1), "Banana" (3), "apricot" (2), "cherry pie" (4).
    EXPECT_EQ(run(0, 0, UINT64_MAX), (Ids{5, 1, 3, 2, 4, shorter, a, a2, b, y}));
    EXPECT_EQ(run(kOrderDescending, 0, UINT64_MAX), (Ids{y, b, a, a2, shorter, 4, 2, 3, 1, 5}));
    EXPECT_EQ(run(0, 6, 2), (Ids{a, a2}));
    EXPECT_EQ(run(kOrderDescending, 1, 2), (Ids{b, a}));
}

TEST_F(QueryOps, TypedQuery) {
    Box<Thing> people(store_);
    ASSERT_OK(people.status());
    std::vector<Thing> all{
        {0, "Ada", 36, "ada@x.org"}, {0, "Bea", 17, "bea@y.org"}, {0, "Cy", 51, "cy@x.org"}};
    ASSERT_OK(people.put_many(all));
    ASSERT_OK_AND_ASSIGN(auto q,
                         TypedQuery<Thing>::make(people, "age >= 18 AND email $= \"@x.org\""));
    ASSERT_OK_AND_ASSIGN(auto found, q.find());
    ASSERT_EQ(found.size(), 2u);
    EXPECT_EQ(found[0].name, "Ada");
    EXPECT_EQ(found[1].name, "Cy");
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, store_->begin_read());
    ASSERT_OK_AND_ASSIGN(uint64_t n, q.count(txn));
    EXPECT_EQ(n, 2u);
    auto unique = q.find_unique(txn);
    EXPECT_FALSE(unique.is_ok());
    ASSERT_OK_AND_ASSIGN(auto first, q.find_first(txn));
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->age, 36);
    EXPECT_FALSE(TypedQuery<Thing>::make(people, "age >=").is_ok());
}

}  // namespace
}  // namespace outpost
