// Random queries on random data, checked against a naive evaluator over the objects in memory, on a
// store with indexes and on one without (so index and scan paths must agree). Fixed seeds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>

#include "common/status_macros.hpp"
#include "query/query_support.hpp"

namespace outpost {
namespace {

using qtest::Ids;

// A condition as the test sees it: built both as a Condition (half through the text syntax) and
// evaluated by the reference.
struct RCond {
    enum Kind { kAnd, kOr, kNot, kLeaf } kind = kLeaf;
    std::vector<RCond> children;
    std::string path;
    QueryOp op = QueryOp::kEqual;
    std::vector<Value> vals;
    bool cs = true;
};

std::string fold(std::string s) {
    for (char& c : s) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return s;
}

// -1, 0, 1 or 2 (not comparable).
int ref_cmp(const Value& stored, const Value& lit, bool cs) {
    auto num = [](const Value& v, double* d, int64_t* i, bool* is_int) {
        if (v.is<bool>()) {
            *i = v.as<bool>() ? 1 : 0;
            *is_int = true;
        } else if (v.is<int64_t>()) {
            *i = v.as<int64_t>();
            *is_int = true;
        } else if (v.is<double>()) {
            *d = v.as<double>();
            *is_int = false;
        } else {
            return false;
        }
        return true;
    };
    double da = 0, db = 0;
    int64_t ia = 0, ib = 0;
    bool inta = false, intb = false;
    if (num(stored, &da, &ia, &inta) && num(lit, &db, &ib, &intb)) {
        if (inta && intb) return ia < ib ? -1 : ia > ib ? 1 : 0;
        if (inta) da = static_cast<double>(ia);
        if (intb) db = static_cast<double>(ib);
        return da < db ? -1 : da > db ? 1 : da == db ? 0 : 2;
    }
    if (stored.is<std::string>() && lit.is<std::string>()) {
        std::string a = stored.as<std::string>(), b = lit.as<std::string>();
        if (!cs) {
            a = fold(a);
            b = fold(b);
        }
        int c = a.compare(b);
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    return 2;
}

bool ref_leaf_value(const RCond& c, const Value& v) {
    if (c.op == QueryOp::kIsNull) return v.is_null();
    if (c.op == QueryOp::kIsNotNull) return !v.is_null();
    if (v.is_null()) return false;
    switch (c.op) {
        case QueryOp::kEqual:
            return ref_cmp(v, c.vals[0], c.cs) == 0;
        case QueryOp::kNotEqual:
            return ref_cmp(v, c.vals[0], c.cs) != 0;
        case QueryOp::kLess:
            return ref_cmp(v, c.vals[0], c.cs) == -1;
        case QueryOp::kLessOrEqual: {
            int r = ref_cmp(v, c.vals[0], c.cs);
            return r == -1 || r == 0;
        }
        case QueryOp::kGreater:
            return ref_cmp(v, c.vals[0], c.cs) == 1;
        case QueryOp::kGreaterOrEqual: {
            int r = ref_cmp(v, c.vals[0], c.cs);
            return r == 1 || r == 0;
        }
        case QueryOp::kBetween: {
            int lo = ref_cmp(v, c.vals[0], c.cs), hi = ref_cmp(v, c.vals[1], c.cs);
            return (lo == 1 || lo == 0) && (hi == -1 || hi == 0);
        }
        case QueryOp::kIn:
            for (const auto& x : c.vals) {
                if (ref_cmp(v, x, c.cs) == 0) return true;
            }
            return false;
        case QueryOp::kStartsWith:
        case QueryOp::kEndsWith:
        case QueryOp::kContains: {
            std::string s = v.as<std::string>(), p = c.vals[0].as<std::string>();
            if (!c.cs) {
                s = fold(s);
                p = fold(p);
            }
            if (c.op == QueryOp::kStartsWith) return s.rfind(p, 0) == 0;
            if (c.op == QueryOp::kEndsWith)
                return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
            return s.find(p) != std::string::npos;
        }
        case QueryOp::kVectorContains:
            if (v.is<Value::StringVector>()) {
                for (const auto& e : v.as<Value::StringVector>()) {
                    if (ref_cmp(Value(e), c.vals[0], c.cs) == 0) return true;
                }
            } else if (v.is<Value::IntVector>()) {
                for (int64_t e : v.as<Value::IntVector>()) {
                    if (ref_cmp(Value(e), c.vals[0], true) == 0) return true;
                }
            }
            return false;
        default:
            return false;
    }
}

struct World {
    std::map<uint64_t, Object> items;
    std::map<uint64_t, Object> people;
};

Value value_at(const Object& o, const std::string& prop) {
    if (prop == "id") return Value(static_cast<int64_t>(o.id));
    return o.get(prop);
}

bool ref_eval(const World& w, const RCond& c, const Object& o) {
    switch (c.kind) {
        case RCond::kAnd:
            for (const auto& ch : c.children) {
                if (!ref_eval(w, ch, o)) return false;
            }
            return true;
        case RCond::kOr:
            for (const auto& ch : c.children) {
                if (ref_eval(w, ch, o)) return true;
            }
            return false;
        case RCond::kNot:
            return !ref_eval(w, c.children[0], o);
        case RCond::kLeaf:
            break;
    }
    if (c.path.rfind("@Item.", 0) == 0) {
        // O is a Person: some item points to it through owner or likes and matches the rest.
        bool via_owner = c.path.rfind("@Item.owner.", 0) == 0;
        RCond rest = c;
        rest.path = c.path.substr(via_owner ? 12 : 12);
        for (const auto& [id, item] : w.items) {
            bool links = false;
            if (via_owner) {
                const Value& owner = item.get("owner");
                links = !owner.is_null() && static_cast<uint64_t>(owner.as<int64_t>()) == o.id;
            } else {
                const auto& likes = item.get_to_many("likes");
                links = std::find(likes.begin(), likes.end(), o.id) != likes.end();
            }
            if (links && ref_eval(w, rest, item)) return true;
        }
        return false;
    }
    if (c.path.rfind("owner.", 0) == 0) {
        const Value& owner = o.get("owner");
        if (owner.is_null()) return false;
        auto it = w.people.find(static_cast<uint64_t>(owner.as<int64_t>()));
        return it != w.people.end() && ref_leaf_value(c, value_at(it->second, c.path.substr(6)));
    }
    if (c.path.rfind("likes.", 0) == 0) {
        for (uint64_t t : o.get_to_many("likes")) {
            auto it = w.people.find(t);
            if (it != w.people.end() && ref_leaf_value(c, value_at(it->second, c.path.substr(6))))
                return true;
        }
        return false;
    }
    return ref_leaf_value(c, value_at(o, c.path));
}

Condition to_condition(const RCond& c) {
    std::vector<Condition> parts;
    for (const auto& ch : c.children) parts.push_back(to_condition(ch));
    switch (c.kind) {
        case RCond::kAnd:
            return Condition::all_of(parts);
        case RCond::kOr:
            return Condition::any_of(parts);
        case RCond::kNot:
            return Condition::negate(parts[0]);
        case RCond::kLeaf:
            break;
    }
    return Condition::compare(c.path, c.op, c.vals, c.cs);
}

class Generator {
  public:
    explicit Generator(uint32_t seed) : rng_(seed) {}

    int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
    bool chance(int percent) { return uniform(1, 100) <= percent; }

    std::string str() {
        static const char* kPieces[] = {"a", "A", "b", "B", "ab", "x", "\"", "\\", " "};
        if (chance(5)) return std::string(400 + uniform(0, 2), 'a') + (chance(50) ? "b" : "c");
        std::string s;
        int n = uniform(0, 4);
        for (int i = 0; i < n; ++i) s += kPieces[uniform(0, chance(90) ? 5 : 8)];
        return s;
    }
    int64_t small_int() { return uniform(-6, 6); }
    double small_double() { return uniform(-8, 8) * 0.5; }

    Object item(const Entity& e, uint64_t people) {
        Object o(e);
        auto maybe = [&](const char* name, Value v) {
            if (!chance(20)) {
                EXPECT_OK(o.set(name, std::move(v)));
            }
        };
        maybe("i", small_int());
        maybe("d", small_double());
        maybe("s", str());
        maybe("h", str());
        maybe("b", chance(50));
        maybe("t", small_int());
        maybe("u", static_cast<int64_t>(uniform(0, 6)));
        Value::StringVector tags;
        for (int k = uniform(0, 3); k > 0; --k) tags.push_back(str());
        maybe("tags", tags);
        Value::IntVector nums;
        for (int k = uniform(0, 3); k > 0; --k) nums.push_back(small_int());
        maybe("nums", nums);
        if (!chance(25)) {
            EXPECT_OK(o.set("owner", static_cast<int64_t>(uniform(1, static_cast<int>(people)))));
        }
        std::vector<uint64_t> likes;
        for (int k = uniform(0, 2); k > 0; --k)
            likes.push_back(static_cast<uint64_t>(uniform(1, static_cast<int>(people))));
        EXPECT_OK(o.set_to_many("likes", likes));
        return o;
    }

    Object person(const Entity& e) {
        Object o(e);
        if (!chance(15)) {
            EXPECT_OK(o.set("name", str()));
        }
        if (!chance(15)) {
            EXPECT_OK(o.set("age", small_int()));
        }
        return o;
    }

    Value operand_for(const std::string& path) {
        std::string prop = path == "id" ? path : path.substr(path.rfind('.') + 1);
        if (prop == "i" || prop == "t" || prop == "age") {
            return chance(15) ? Value(small_double()) : Value(small_int());
        }
        if (prop == "u") return Value(static_cast<int64_t>(uniform(-1, 7)));
        if (prop == "id") return Value(static_cast<int64_t>(uniform(-1, 300)));
        if (prop == "d") return chance(30) ? Value(small_int()) : Value(small_double());
        if (prop == "b")
            return chance(70) ? Value(chance(50)) : Value(static_cast<int64_t>(uniform(-1, 2)));
        return Value(str());
    }

    // Paths of Item (or, with PEOPLE, of Person) that leaves compare.
    RCond leaf() {
        static const std::vector<std::string> kItem = {
            "i",  "d",    "s",    "h",          "b",         "t",          "u",
            "id", "tags", "nums", "owner.name", "owner.age", "likes.name", "likes.age"};
        static const std::vector<std::string> kPerson = {
            "name",          "age",           "id",
            "@Item.owner.i", "@Item.owner.s", "@Item.owner.b",
            "@Item.likes.i", "@Item.likes.s", "@Item.likes.owner.name"};
        const auto& props = people_ ? kPerson : kItem;
        RCond c;
        c.path = props[static_cast<size_t>(uniform(0, static_cast<int>(props.size()) - 1))];
        std::string last = c.path.substr(c.path.rfind('.') + 1);
        bool is_string = last == "s" || last == "h" || last == "name";
        if (c.path == "tags" || c.path == "nums") {
            if (chance(15)) {
                c.op = chance(50) ? QueryOp::kIsNull : QueryOp::kIsNotNull;
                return c;
            }
            c.op = QueryOp::kVectorContains;
            c.vals.push_back(c.path == "tags" ? Value(str()) : Value(small_int()));
            c.cs = c.path == "nums" || chance(60);
            return c;
        }
        std::vector<QueryOp> ops = {
            QueryOp::kEqual,   QueryOp::kNotEqual,       QueryOp::kLess,    QueryOp::kLessOrEqual,
            QueryOp::kGreater, QueryOp::kGreaterOrEqual, QueryOp::kBetween, QueryOp::kIn,
            QueryOp::kIsNull,  QueryOp::kIsNotNull};
        if (is_string) {
            for (int k = 0; k < 3; ++k) {
                ops.push_back(QueryOp::kStartsWith);
                ops.push_back(QueryOp::kEndsWith);
                ops.push_back(QueryOp::kContains);
            }
        }
        c.op = ops[uniform(0, static_cast<int>(ops.size()) - 1)];
        if (c.path == "id" && c.op == QueryOp::kIsNull) c.op = QueryOp::kEqual;
        if (is_string) c.cs = chance(70);
        switch (c.op) {
            case QueryOp::kIsNull:
            case QueryOp::kIsNotNull:
                break;
            case QueryOp::kBetween:
                c.vals.push_back(operand_for(c.path));
                c.vals.push_back(operand_for(c.path));
                if (chance(70) && ref_cmp(c.vals[0], c.vals[1], c.cs) == 1)
                    std::swap(c.vals[0], c.vals[1]);
                break;
            case QueryOp::kIn:
                for (int k = uniform(0, 4); k > 0; --k) c.vals.push_back(operand_for(c.path));
                break;
            default:
                c.vals.push_back(operand_for(c.path));
        }
        if (c.path == "id" && c.op != QueryOp::kIsNotNull) {
            // The id property has no null; keep its IN lists integral.
            for (auto& v : c.vals) v = Value(static_cast<int64_t>(uniform(-1, 300)));
        }
        return c;
    }

    RCond cond(int depth) {
        if (depth >= 3 || chance(45)) return leaf();
        RCond c;
        int k = uniform(0, 9);
        c.kind = k < 5 ? RCond::kAnd : k < 9 ? RCond::kOr : RCond::kNot;
        int n = c.kind == RCond::kNot ? 1 : uniform(1, 3);
        for (int i = 0; i < n; ++i) c.children.push_back(cond(depth + 1));
        return c;
    }

    std::mt19937 rng_;
    bool people_ = false;
};

struct ROrder {
    std::string prop;
    uint32_t flags;
};

// Orders IDS of W's items like the query does.
void ref_sort(const std::map<uint64_t, Object>& objects, std::vector<uint64_t>& ids,
              const std::vector<ROrder>& orders) {
    auto key_cmp = [&](const Value& a, const Value& b, uint32_t flags) {
        if (a.is_null() != b.is_null()) {
            bool nulls_first = flags & kOrderNullsFirst;
            return a.is_null() == nulls_first ? -1 : 1;  // not reversed by desc
        }
        if (a.is_null()) return 0;
        int c = ref_cmp(a, b, !(flags & kOrderCaseInsensitive));
        if (a.is<int64_t>() && a.as<int64_t>() == b.as<int64_t>()) c = 0;
        return (flags & kOrderDescending) ? -c : c;
    };
    std::stable_sort(ids.begin(), ids.end(), [&](uint64_t x, uint64_t y) {
        const Object& a = objects.at(x);
        const Object& b = objects.at(y);
        for (const auto& o : orders) {
            int c = key_cmp(value_at(a, o.prop), value_at(b, o.prop), o.flags);
            if (c != 0) return c < 0;
        }
        return false;
    });
}

class QueryRandom : public ::testing::Test {
  protected:
    // Fills both stores with the same random data; returns the world as the reference sees it.
    World fill(Generator& g, Store& a, Store& b, int n_people, int n_items) {
        World w;
        for (Store* s : {&a, &b}) {
            Generator same = g;
            auto people = s->box("Person").value();
            auto items = s->box("Item").value();
            auto txn = s->begin_write();
            EXPECT_OK(txn);
            for (int k = 0; k < n_people; ++k) {
                Object o = same.person(people.entity());
                EXPECT_OK(people.put(*txn, o));
                if (s == &a) w.people.emplace(o.id, o);
            }
            for (int k = 0; k < n_items; ++k) {
                Object o = same.item(items.entity(), static_cast<uint64_t>(n_people));
                auto id = items.put(*txn, o);
                EXPECT_OK(id);
                if (s == &a) w.items.emplace(o.id, o);
            }
            EXPECT_OK(txn->commit());
            if (s == &b) g = same;
        }
        return w;
    }
    qtest::TempDir dir_;
};

TEST_F(QueryRandom, MatchesTheReferenceOnIndexedAndPlainStores) {
    auto indexed = Store::open(dir_.sub("indexed"), qtest::query_model(true),
                               StoreOptions{1ull << 30, false, true});
    auto plain = Store::open(dir_.sub("plain"), qtest::query_model(false),
                             StoreOptions{1ull << 30, false, true});
    ASSERT_OK(indexed);
    ASSERT_OK(plain);
    Generator g(20261126);
    World w = fill(g, **indexed, **plain, 40, 300);
    auto ibox = (*indexed)->box("Item").value();
    auto pbox = (*plain)->box("Item").value();

    int index_plans = 0, scans = 0, nonempty = 0, index_orders = 0;
    const int kQueries = 3000;
    for (int qi = 0; qi < kQueries; ++qi) {
        RCond rc = g.cond(0);
        std::vector<ROrder> orders;
        static const char* kOrderProps[] = {"i", "d", "s", "b", "t", "u", "id", "h"};
        for (int k = g.uniform(0, 2); k > 0; --k) {
            uint32_t flags = 0;
            if (g.chance(40)) flags |= kOrderDescending;
            if (g.chance(20)) flags |= kOrderCaseInsensitive;
            if (g.chance(20)) flags |= kOrderNullsFirst;
            orders.push_back({kOrderProps[g.uniform(0, 7)], flags});
        }
        uint64_t offset = g.chance(30) ? static_cast<uint64_t>(g.uniform(0, 20)) : 0;
        uint64_t limit = g.chance(40) ? static_cast<uint64_t>(g.uniform(0, 30)) : UINT64_MAX;
        bool as_text = g.chance(50);

        Condition cond = to_condition(rc);
        std::string text = cond.to_string();
        if (as_text) {
            auto parsed = parse_condition(text);
            ASSERT_OK(parsed) << text;
            cond = std::move(parsed).value();
            ASSERT_EQ(cond.to_string(), text);
        }

        std::vector<uint64_t> want;
        for (const auto& [id, o] : w.items) {
            if (ref_eval(w, rc, o)) want.push_back(id);
        }
        ref_sort(w.items, want, orders);
        if (offset >= want.size()) {
            want.clear();
        } else {
            want.erase(want.begin(), want.begin() + static_cast<ptrdiff_t>(offset));
        }
        if (want.size() > limit) want.resize(limit);
        nonempty += want.empty() ? 0 : 1;

        for (DynamicBox* b : {&ibox, &pbox}) {
            QueryBuilder qb(*b);
            qb.where(cond).offset(offset).limit(limit);
            for (const auto& o : orders) qb.order(o.prop, o.flags);
            auto q = qb.build();
            ASSERT_OK(q) << text;
            auto got = q->find_ids();
            ASSERT_OK(got) << text;
            std::string plan = q->explain();
            ASSERT_EQ(got.value(), want) << "query " << qi << ": " << plan;
            if (b == &ibox) (plan.find(": scan") != std::string::npos ? scans : index_plans)++;
            if (b == &ibox && plan.find("(walks index") != std::string::npos) ++index_orders;
            if (b == &pbox) {
                ASSERT_EQ(plan.find("index "), std::string::npos) << plan;
            }
        }
    }
    // The mix exercised both paths and found things.
    EXPECT_GT(index_plans, kQueries / 10);
    EXPECT_GT(scans, kQueries / 10);
    EXPECT_GT(nonempty, kQueries / 4);
    EXPECT_GT(index_orders, kQueries / 20);
}

TEST_F(QueryRandom, AggregatesMatchTheReference) {
    auto indexed = Store::open(dir_.sub("indexed"), qtest::query_model(true),
                               StoreOptions{1ull << 30, false, true});
    auto plain = Store::open(dir_.sub("plain"), qtest::query_model(false),
                             StoreOptions{1ull << 30, false, true});
    ASSERT_OK(indexed);
    ASSERT_OK(plain);
    Generator g(7);
    World w = fill(g, **indexed, **plain, 10, 200);
    auto box = (*indexed)->box("Item").value();
    auto txn = (*indexed)->begin_read();
    ASSERT_OK(txn);
    for (int qi = 0; qi < 300; ++qi) {
        RCond rc = g.cond(1);
        auto q = QueryBuilder(box).where(to_condition(rc)).build();
        ASSERT_OK(q);
        std::vector<const Object*> matched;
        for (const auto& [id, o] : w.items) {
            if (ref_eval(w, rc, o)) matched.push_back(&o);
        }
        for (const char* p : {"i", "d", "t"}) {
            std::vector<Value> vals;
            for (const Object* o : matched) {
                if (!o->get(p).is_null()) vals.push_back(o->get(p));
            }
            auto less = [](const Value& a, const Value& b) { return ref_cmp(a, b, true) == -1; };
            auto mn = q->min(*txn, p);
            auto mx = q->max(*txn, p);
            auto avg = q->average(*txn, p);
            auto distinct = q->count_distinct(*txn, p);
            ASSERT_OK(mn);
            ASSERT_OK(mx);
            ASSERT_OK(avg);
            ASSERT_OK(distinct);
            if (vals.empty()) {
                EXPECT_FALSE(mn->has_value());
                EXPECT_FALSE(avg->has_value());
                continue;
            }
            EXPECT_EQ(**mn, *std::min_element(vals.begin(), vals.end(), less));
            EXPECT_EQ(**mx, *std::max_element(vals.begin(), vals.end(), less));
            double sum = 0;
            std::vector<double> uniq;
            for (const auto& v : vals) {
                double x = v.is<double>() ? v.as<double>() : static_cast<double>(v.as<int64_t>());
                sum += x;
                uniq.push_back(x);
            }
            std::sort(uniq.begin(), uniq.end());
            uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
            EXPECT_NEAR(**avg, sum / static_cast<double>(vals.size()), 1e-9);
            EXPECT_EQ(*distinct, uniq.size());
            auto s = q->sum(*txn, p);
            ASSERT_OK(s);
            if (s->is<double>()) {
                EXPECT_NEAR(s->as<double>(), sum, 1e-9);
            } else {
                EXPECT_EQ(static_cast<double>(s->as<int64_t>()), sum);
            }
        }
        auto count = q->count(*txn);
        ASSERT_OK(count);
        EXPECT_EQ(*count, matched.size());
    }
}

}  // namespace
}  // namespace outpost

namespace outpost {
namespace {

TEST_F(QueryRandom, BacklinkQueriesMatchTheReference) {
    auto indexed = Store::open(dir_.sub("indexed"), qtest::query_model(true),
                               StoreOptions{1ull << 30, false, true});
    auto plain = Store::open(dir_.sub("plain"), qtest::query_model(false),
                             StoreOptions{1ull << 30, false, true});
    ASSERT_OK(indexed);
    ASSERT_OK(plain);
    Generator g(99);
    World w = fill(g, **indexed, **plain, 60, 150);
    g.people_ = true;
    auto ibox = (*indexed)->box("Person").value();
    auto pbox = (*plain)->box("Person").value();
    int via = 0;
    for (int qi = 0; qi < 1000; ++qi) {
        RCond rc = g.cond(1);
        std::vector<ROrder> orders;
        static const char* kOrderProps[] = {"name", "age", "id"};
        for (int k = g.uniform(0, 2); k > 0; --k) {
            orders.push_back(
                {kOrderProps[g.uniform(0, 2)], g.chance(50) ? uint32_t{kOrderDescending} : 0u});
        }
        uint64_t limit = g.chance(30) ? static_cast<uint64_t>(g.uniform(0, 10)) : UINT64_MAX;
        std::vector<uint64_t> want;
        for (const auto& [id, o] : w.people) {
            if (ref_eval(w, rc, o)) want.push_back(id);
        }
        ref_sort(w.people, want, orders);
        if (want.size() > limit) want.resize(limit);
        Condition cond = to_condition(rc);
        for (DynamicBox* b : {&ibox, &pbox}) {
            QueryBuilder qb(*b);
            qb.where(cond).limit(limit);
            for (const auto& o : orders) qb.order(o.prop, o.flags);
            auto q = qb.build();
            ASSERT_OK(q) << cond.to_string();
            auto got = q->find_ids();
            ASSERT_OK(got);
            ASSERT_EQ(got.value(), want) << "query " << qi << ": " << q->explain();
            if (b == &ibox && q->explain().find(" via @Item") != std::string::npos) ++via;
        }
    }
    EXPECT_GT(via, 50);
}

}  // namespace
}  // namespace outpost
