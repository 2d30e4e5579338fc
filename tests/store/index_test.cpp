// Indexes and unique constraints: violations, replace on conflict, hash and long-string keys, index
// maintenance on update and remove, and a seeded random run against a reference model.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/status_macros.hpp"
#include "store/test_model.hpp"

namespace outpost {
namespace {

using test::StoreTest;

class IndexTest : public StoreTest {
  protected:
    void SetUp() override {
        StoreTest::SetUp();
        people_.emplace(box("Person"));
    }
    void TearDown() override {
        people_.reset();
        StoreTest::TearDown();
    }
    Object person(std::optional<std::string> name, std::optional<std::string> email = std::nullopt,
                  std::optional<int32_t> code = std::nullopt) {
        Object o = people_->new_object();
        if (name) {
            EXPECT_OK(o.set("name", *name));
        }
        if (email) {
            EXPECT_OK(o.set("email", *email));
        }
        if (code) {
            EXPECT_OK(o.set("code", *code));
        }
        return o;
    }
    // Empty when every index of Person agrees with the objects.
    std::string index_problems(Txn& txn) { return test::check_indexes(*people_, txn); }
    std::string index_problems() {
        auto txn = store_->begin_read();
        if (!txn.is_ok()) return txn.status().to_string();
        return index_problems(*txn);
    }
    std::optional<std::string> name_of(Txn& txn, uint64_t id) {
        auto o = people_->get(txn, id);
        if (!o.is_ok() || !o->has_value()) return std::nullopt;
        const Value& v = (*o)->get("name");
        return v.is<std::string>() ? std::optional<std::string>(v.as<std::string>()) : std::nullopt;
    }

    std::optional<DynamicBox> people_;
};

TEST_F(IndexTest, UniqueViolationNamesEntityPropertyAndValue) {
    Object ann = person("ann");
    ASSERT_OK(people_->put(ann));
    Object other = person("ann");
    auto r = people_->put(other);
    ASSERT_FALSE(r.is_ok());
    Status st = r.status();
    EXPECT_EQ(st.code(), ErrorCode::kUniqueViolation) << st.to_string();
    const std::string& msg = st.message();
    EXPECT_NE(msg.find("Person.name"), std::string::npos) << msg;
    EXPECT_NE(msg.find("\"ann\""), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::to_string(ann.id)), std::string::npos) << msg;
    ASSERT_OK_AND_ASSIGN(uint64_t n, people_->count());
    EXPECT_EQ(n, 1u);
}

TEST_F(IndexTest, TransactionStaysUsableAndUnchangedAfterAViolation) {
    ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
    Object ann = person("ann", "ann@x");
    ASSERT_OK(people_->put(txn, ann));
    Object bob = person("bob", "bob@x");
    ASSERT_OK(people_->put(txn, bob));

    // A new object with a taken name, and an update of bob to ann's email: both fail.
    Object dup = person("ann");
    EXPECT_CODE(people_->put(txn, dup), ErrorCode::kUniqueViolation);
    Object bob2 = bob;
    ASSERT_OK(bob2.set("email", "ann@x"));
    ASSERT_OK(bob2.set("name", "robert"));
    EXPECT_CODE(people_->put(txn, bob2), ErrorCode::kUniqueViolation);

    ASSERT_OK_AND_ASSIGN(uint64_t n, people_->count(txn));
    EXPECT_EQ(n, 2u);
    EXPECT_EQ(name_of(txn, bob.id), "bob");
    EXPECT_EQ(index_problems(txn), "");
    // "robert" was not claimed by the failed update.
    Object robert = person("robert");
    ASSERT_OK(people_->put(txn, robert));
    ASSERT_OK(txn.commit());
    ASSERT_OK_AND_ASSIGN(uint64_t committed, people_->count());
    EXPECT_EQ(committed, 3u);
    EXPECT_EQ(index_problems(), "");
}

TEST_F(IndexTest, UpdatingToTheValueItAlreadyHasIsFine) {
    Object ann = person("ann", "ann@x", 7);
    ASSERT_OK(people_->put(ann));
    ASSERT_OK(ann.set("nick", "annie"));
    ASSERT_OK(people_->put(ann));
    ASSERT_OK(people_->put(ann, PutMode::kUpdate));
    ASSERT_OK_AND_ASSIGN(auto got, people_->get(ann.id));
    EXPECT_EQ(got->get("nick"), Value("annie"));
    EXPECT_EQ(got->get("code"), Value(7));
    EXPECT_EQ(index_problems(), "");
}

TEST_F(IndexTest, ValueIsFreeAfterTheHolderChangesOrGoes) {
    Object ann = person("ann", "mail@x");
    ASSERT_OK(people_->put(ann));
    ASSERT_OK(ann.set("name", "anna"));
    ASSERT_OK(ann.set("email", Value()));
    ASSERT_OK(people_->put(ann));
    Object second = person("ann", "mail@x");
    ASSERT_OK(people_->put(second));
    // The new holder is now protected, the updated object keeps its new value.
    Object third = person("ann");
    EXPECT_CODE(people_->put(third), ErrorCode::kUniqueViolation);
    Object fourth = person("anna");
    EXPECT_CODE(people_->put(fourth), ErrorCode::kUniqueViolation);

    ASSERT_OK(people_->remove(second.id));
    Object fifth = person("ann", "mail@x");
    ASSERT_OK(people_->put(fifth));
    EXPECT_EQ(index_problems(), "");
}

TEST_F(IndexTest, ValueFreedAndReusedInOneTransaction) {
    Object a = person("x");
    ASSERT_OK(people_->put(a));
    ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
    ASSERT_OK(people_->remove(txn, a.id));
    Object b = person("x");
    ASSERT_OK(people_->put(txn, b));
    ASSERT_OK(txn.commit());
    EXPECT_EQ(index_problems(), "");
}

TEST_F(IndexTest, NullsAreNotUnique) {
    for (int i = 0; i < 3; ++i) {
        Object o = person(std::nullopt);
        ASSERT_OK(people_->put(o));
    }
    ASSERT_OK_AND_ASSIGN(uint64_t n, people_->count());
    EXPECT_EQ(n, 3u);
    EXPECT_EQ(index_problems(), "");
}

TEST_F(IndexTest, HashIndexedUniqueStrings) {
    Object a = person("a", "same@example.org");
    ASSERT_OK(people_->put(a));
    Object b = person("b", "same@example.org");
    auto r = people_->put(b);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kUniqueViolation);
    EXPECT_NE(r.status().message().find("Person.email"), std::string::npos) << r.status().message();
    Object c = person("c", "Same@example.org");
    ASSERT_OK(people_->put(c));
    Object d = person("d", "");
    ASSERT_OK(people_->put(d));
    Object e = person("e", "");
    EXPECT_CODE(people_->put(e), ErrorCode::kUniqueViolation);
    EXPECT_EQ(index_problems(), "");
}

TEST_F(IndexTest, LongStringsSharingAPrefixAreDistinct) {
    std::string prefix(450, 'p');
    for (const char* prop : {"name", "email"}) {
        SCOPED_TRACE(prop);
        Object a = people_->new_object();
        ASSERT_OK(a.set(prop, prefix + "-one-" + prop));
        ASSERT_OK(people_->put(a));
        Object b = people_->new_object();
        ASSERT_OK(b.set(prop, prefix + "-two-" + prop));
        ASSERT_OK(people_->put(b));
        Object c = people_->new_object();
        ASSERT_OK(c.set(prop, prefix + "-one-" + prop));
        EXPECT_CODE(people_->put(c), ErrorCode::kUniqueViolation);
        // Exactly at the key limit and just past it.
        Object d = people_->new_object();
        ASSERT_OK(d.set(prop, std::string(400, 'q') + prop));
        ASSERT_OK(people_->put(d));
        Object e = people_->new_object();
        ASSERT_OK(e.set(prop, std::string(400, 'q') + prop + "!"));
        ASSERT_OK(people_->put(e));
        // After removing one, its value is free while the other stays taken.
        ASSERT_OK(people_->remove(a.id));
        ASSERT_OK(people_->put(c));
        Object f = people_->new_object();
        ASSERT_OK(f.set(prop, prefix + "-two-" + prop));
        EXPECT_CODE(people_->put(f), ErrorCode::kUniqueViolation);
    }
    EXPECT_EQ(index_problems(), "");
}

TEST_F(IndexTest, UniqueOnConflictReplaceRemovesTheOtherObject) {
    Object a = person("a", std::nullopt, 5);
    ASSERT_OK(people_->put(a));
    Object b = person("b", std::nullopt, 6);
    ASSERT_OK(people_->put(b));
    Object c = person("c", std::nullopt, 5);
    ASSERT_OK(people_->put(c));
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, store_->begin_read());
    ASSERT_OK_AND_ASSIGN(bool has_a, people_->contains(txn, a.id));
    EXPECT_FALSE(has_a);
    EXPECT_EQ(name_of(txn, b.id), "b");
    EXPECT_EQ(name_of(txn, c.id), "c");
    EXPECT_EQ(index_problems(txn), "");
    txn.close();
    // An update that takes another object's value replaces it too.
    ASSERT_OK(b.set("code", 5));
    ASSERT_OK(people_->put(b));
    ASSERT_OK_AND_ASSIGN(ReadTxn txn2, store_->begin_read());
    ASSERT_OK_AND_ASSIGN(bool has_c, people_->contains(txn2, c.id));
    EXPECT_FALSE(has_c);
    ASSERT_OK_AND_ASSIGN(uint64_t n, people_->count(txn2));
    EXPECT_EQ(n, 1u);
    EXPECT_EQ(index_problems(txn2), "");
    // The replaced object's other unique values are free again.
    txn2.close();
    Object a2 = person("a");
    ASSERT_OK(people_->put(a2));
}

TEST_F(IndexTest, ReplaceDoesNotOverrideAFailingUniqueProperty) {
    Object a = person("a", std::nullopt, 5);
    ASSERT_OK(people_->put(a));
    Object z = person("z");
    ASSERT_OK(people_->put(z));
    // Takes code 5 (replace) but also name "z" (fail): nothing changes.
    Object b = person("z", std::nullopt, 5);
    EXPECT_CODE(people_->put(b), ErrorCode::kUniqueViolation);
    ASSERT_OK_AND_ASSIGN(auto still, people_->get(a.id));
    EXPECT_TRUE(still.has_value());
    EXPECT_EQ(index_problems(), "");
}

TEST_F(IndexTest, NonUniqueIndexesFollowUpdatesAndRemoves) {
    ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
    std::vector<Object> objs;
    for (int i = 0; i < 20; ++i) {
        Object o = person(std::nullopt);
        ASSERT_OK(o.set("nick", "nick" + std::to_string(i % 3)));
        ASSERT_OK(o.set("age", i % 4 - 2));
        ASSERT_OK(o.set("score", i % 2 ? -0.0 : 0.5 * i));
        ASSERT_OK(o.set("active", i % 2 == 0));
        ASSERT_OK(people_->put(txn, o));
        objs.push_back(o);
    }
    EXPECT_EQ(index_problems(txn), "");
    for (size_t i = 0; i < objs.size(); i += 3) {
        ASSERT_OK(objs[i].set("age", 100));
        ASSERT_OK(objs[i].set("nick", Value()));
        ASSERT_OK(objs[i].set("score", 0.0));
        ASSERT_OK(people_->put(txn, objs[i]));
    }
    for (size_t i = 1; i < objs.size(); i += 4) ASSERT_OK(people_->remove(txn, objs[i].id));
    EXPECT_EQ(index_problems(txn), "");
    ASSERT_OK(txn.commit());
    EXPECT_EQ(index_problems(), "");
}

TEST_F(IndexTest, AbortedWritesLeaveNoIndexEntries) {
    Object keep = person("keep", "keep@x", 1);
    ASSERT_OK(people_->put(keep));
    {
        ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
        Object o = person("temp", "temp@x", 2);
        ASSERT_OK(people_->put(txn, o));
        ASSERT_OK(people_->remove(txn, keep.id));
    }  // aborted by the destructor
    Object temp = person("temp", "temp@x", 2);
    ASSERT_OK(people_->put(temp));
    Object again = person("keep");
    EXPECT_CODE(people_->put(again), ErrorCode::kUniqueViolation);
    EXPECT_EQ(index_problems(), "");
}

// ---- random operations against a reference model ----

struct Ref {
    std::optional<std::string> name;
    std::optional<std::string> email;
    std::optional<int32_t> code;
    friend bool operator==(const Ref&, const Ref&) = default;
};
using RefMap = std::map<uint64_t, Ref>;

template <typename T>
bool held_by_other(const RefMap& m, uint64_t self, std::optional<T> Ref::*field,
                   const std::optional<T>& v) {
    if (!v) return false;
    for (const auto& [id, r] : m) {
        if (id != self && r.*field == v) return true;
    }
    return false;
}

TEST_F(IndexTest, RandomOperationsMatchAReferenceModel) {
    std::mt19937_64 rng(20261126);
    auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
    std::vector<std::string> names, emails;
    for (int i = 0; i < 120; ++i) names.push_back("n" + std::to_string(i));
    for (int i = 0; i < 10; ++i) names.push_back(std::string(420, 'L') + std::to_string(i));
    for (int i = 0; i < 150; ++i) emails.push_back(std::string(480, 'e') + "@" + std::to_string(i));
    auto random_ref = [&] {
        Ref r;
        if (pick(10) != 0) r.name = names[pick(names.size())];
        if (pick(10) != 0) r.email = emails[pick(emails.size())];
        if (pick(3) != 0) r.code = static_cast<int32_t>(pick(60));
        return r;
    };
    auto to_object = [&](uint64_t id, const Ref& r) {
        Object o = person(r.name, r.email, r.code);
        o.id = id;
        // Non-unique indexed values too, so their index entries move with every update and remove.
        if (pick(4) != 0) {
            EXPECT_OK(o.set("nick", "k" + std::to_string(pick(20))));
        }
        if (pick(4) != 0) {
            EXPECT_OK(o.set("age", static_cast<int64_t>(pick(10)) - 5));
        }
        if (pick(4) != 0) {
            EXPECT_OK(o.set("score", static_cast<double>(pick(7)) / 2 - 1));
        }
        if (pick(4) != 0) {
            EXPECT_OK(o.set("active", pick(2) == 0));
        }
        return o;
    };

    RefMap ref;
    int violations = 0, replacements = 0, aborted = 0;
    for (int batch = 0; batch < 80; ++batch) {
        RefMap before = ref;
        ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
        for (int op = 0; op < 40; ++op) {
            size_t kind = pick(100);
            if (kind < 15 && !ref.empty()) {
                auto it = ref.begin();
                std::advance(it, pick(ref.size()));
                uint64_t id = it->first;
                ASSERT_OK_AND_ASSIGN(bool removed, people_->remove(txn, id));
                EXPECT_TRUE(removed);
                ref.erase(id);
                continue;
            }
            uint64_t id = 0;
            if (kind < 55 && !ref.empty()) {
                auto it = ref.begin();
                std::advance(it, pick(ref.size()));
                id = it->first;
            }
            Ref r = random_ref();
            Object o = to_object(id, r);
            bool conflict = held_by_other(ref, id, &Ref::name, r.name) ||
                            held_by_other(ref, id, &Ref::email, r.email);
            auto put = people_->put(txn, o);
            if (conflict) {
                ASSERT_FALSE(put.is_ok()) << "batch " << batch << " op " << op;
                ASSERT_EQ(put.status().code(), ErrorCode::kUniqueViolation)
                    << put.status().to_string();
                ++violations;
                continue;
            }
            ASSERT_OK(put) << "batch " << batch << " op " << op;
            uint64_t got = *put;
            if (id != 0) {
                ASSERT_EQ(got, id);
            }
            if (r.code) {
                for (auto it = ref.begin(); it != ref.end();) {
                    if (it->first != got && it->second.code == r.code) {
                        it = ref.erase(it);
                        ++replacements;
                    } else {
                        ++it;
                    }
                }
            }
            ref[got] = r;
        }
        if (pick(8) == 0) {
            txn.abort();
            ref = before;
            ++aborted;
        } else {
            ASSERT_OK(txn.commit());
        }

        // The store holds exactly the reference objects, and the indexes agree.
        ASSERT_OK_AND_ASSIGN(ReadTxn rtxn, store_->begin_read());
        ASSERT_OK_AND_ASSIGN(auto all, people_->get_all(rtxn));
        RefMap stored;
        for (const auto& o : all) {
            Ref r;
            if (o.get("name").is<std::string>()) r.name = o.get("name").as<std::string>();
            if (o.get("email").is<std::string>()) r.email = o.get("email").as<std::string>();
            if (o.get("code").is<int64_t>())
                r.code = static_cast<int32_t>(o.get("code").as<int64_t>());
            stored[o.id] = r;
        }
        ASSERT_EQ(stored.size(), ref.size()) << "after batch " << batch;
        ASSERT_TRUE(stored == ref) << "after batch " << batch;
        ASSERT_EQ(index_problems(rtxn), "") << "after batch " << batch;
    }
    // The run exercised every path.
    EXPECT_GT(violations, 100);
    EXPECT_GT(replacements, 50);
    EXPECT_GT(aborted, 3);
    EXPECT_GT(ref.size(), 10u);
    std::printf(
        "random run: %d violations, %d replacements, %d aborted batches, %zu objects left\n",
        violations, replacements, aborted, ref.size());
}

}  // namespace
}  // namespace outpost
