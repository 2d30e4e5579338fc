// Schema evolution: a store opened, closed and reopened with a newer model keeps its data through
// additions, renames and retired removals, and refuses what it cannot apply.
#include <gtest/gtest.h>
#include <lmdb.h>

#include <string>
#include <vector>

#include "common/status_macros.hpp"
#include "store/test_model.hpp"

namespace outpost {
namespace {

using test::TempDir;

// v1: Doc (title, count indexed, tag, old, refs to-many Doc) and Gone (x).
Model base_model() {
    using T = PropertyType;
    ModelBuilder b;
    b.entity("Doc");
    b.property("id", T::kInt64, kFlagId);
    b.property("title", T::kString);
    b.property("count", T::kInt32, kFlagIndexed);
    b.property("tag", T::kString);
    b.property("old", T::kString);
    b.to_many("refs", "Doc");
    b.entity("Gone");
    b.property("id", T::kInt64, kFlagId);
    b.property("x", T::kInt64);
    auto m = b.build();
    EXPECT_OK(m);
    return std::move(m).value();
}

Entity& entity(Model& m, const std::string& name) {
    for (auto& e : m.entities) {
        if (e.name == name) return e;
    }
    ADD_FAILURE() << "no entity " << name;
    return m.entities.front();
}

Property& property(Model& m, const std::string& ent, const std::string& name) {
    for (auto& p : entity(m, ent).properties) {
        if (p.name == name) return p;
    }
    ADD_FAILURE() << "no property " << ent << "." << name;
    return entity(m, ent).properties.front();
}

uint64_t g_next_uid = 900000001;

// Gives property P of M an index with a fresh id:uid.
void add_index(Model& m, Property& p, uint32_t flags) {
    p.flags |= flags;
    p.index_id = {m.last_index_id.id + 1, g_next_uid++};
    m.last_index_id = p.index_id;
}

Property& add_property(Model& m, const std::string& ent, const std::string& name, PropertyType type,
                       uint32_t flags = 0) {
    Entity& e = entity(m, ent);
    Property p;
    p.name = name;
    p.type = type;
    p.id = {e.last_property_id.id + 1, g_next_uid++};
    e.last_property_id = p.id;
    e.properties.push_back(p);
    Property& added = e.properties.back();
    if (flags & (kFlagIndexed | kFlagIndexHash | kFlagUnique)) add_index(m, added, flags);
    added.flags = flags;
    return added;
}

void retire_property(Model& m, const std::string& ent, const std::string& name) {
    auto& props = entity(m, ent).properties;
    for (auto it = props.begin(); it != props.end(); ++it) {
        if (it->name != name) continue;
        m.retired_property_uids.push_back(it->id.uid);
        if (it->has_index()) m.retired_index_uids.push_back(it->index_id.uid);
        props.erase(it);
        return;
    }
    ADD_FAILURE() << "no property " << name;
}

class Evolution : public ::testing::Test {
  protected:
    Result<std::shared_ptr<Store>> open(const Model& m) {
        return Store::open(dir_.sub("db"), m, test::test_options());
    }
    // Opens with M, runs FN with the store, closes the store again.
    template <typename Fn>
    void with_store(const Model& m, Fn&& fn) {
        auto s = open(m);
        ASSERT_OK(s);
        fn(*s);
    }
    // Puts Doc objects with the given titles, counts and tags.
    void put_docs(const Model& m, const std::vector<std::string>& tags) {
        with_store(m, [&](std::shared_ptr<Store>& store) {
            ASSERT_OK_AND_ASSIGN(DynamicBox docs, store->box("Doc"));
            ASSERT_OK_AND_ASSIGN(WriteTxn txn, store->begin_write());
            int i = 0;
            for (const auto& tag : tags) {
                Object o = docs.new_object();
                ASSERT_OK(o.set("title", "doc" + std::to_string(++i)));
                ASSERT_OK(o.set("count", i));
                ASSERT_OK(o.set("tag", tag));
                if (docs.entity().property("old")) {
                    ASSERT_OK(o.set("old", "old" + std::to_string(i)));
                }
                ASSERT_OK(docs.put(txn, o));
            }
            ASSERT_OK(txn.commit());
        });
    }
    // Whether the store's file has a table NAME (white-box: what a removal should drop).
    bool has_table(Store& store, const std::string& name) {
        auto txn = store.begin_read();
        EXPECT_OK(txn);
        MDB_dbi dbi;
        int rc = mdb_dbi_open(detail::Access::state(*txn)->txn, name.c_str(), 0, &dbi);
        EXPECT_TRUE(rc == 0 || rc == MDB_NOTFOUND) << mdb_strerror(rc);
        return rc == 0;
    }

    TempDir dir_;
};

TEST_F(Evolution, ReopenWithTheSameModel) {
    Model v1 = base_model();
    put_docs(v1, {"a", "b"});
    with_store(v1, [&](std::shared_ptr<Store>& store) {
        ASSERT_OK_AND_ASSIGN(DynamicBox docs, store->box("Doc"));
        ASSERT_OK_AND_ASSIGN(uint64_t n, docs.count());
        EXPECT_EQ(n, 2u);
    });
}

TEST_F(Evolution, AddedEntity) {
    Model v1 = base_model();
    put_docs(v1, {"a"});
    Model v2 = v1;
    Entity fresh;
    fresh.name = "Fresh";
    fresh.id = {v2.last_entity_id.id + 1, g_next_uid++};
    v2.last_entity_id = fresh.id;
    Property id;
    id.name = "id";
    id.type = PropertyType::kInt64;
    id.flags = kFlagId;
    id.id = {1, g_next_uid++};
    fresh.properties.push_back(id);
    fresh.last_property_id = id.id;
    v2.entities.push_back(fresh);
    ASSERT_OK(v2.validate());
    with_store(v2, [&](std::shared_ptr<Store>& store) {
        ASSERT_OK_AND_ASSIGN(DynamicBox docs, store->box("Doc"));
        ASSERT_OK_AND_ASSIGN(uint64_t n, docs.count());
        EXPECT_EQ(n, 1u);
        ASSERT_OK_AND_ASSIGN(DynamicBox f, store->box("Fresh"));
        Object o = f.new_object();
        ASSERT_OK_AND_ASSIGN(uint64_t fid, f.put(o));
        EXPECT_EQ(fid, 1u);
    });
}

TEST_F(Evolution, AddedPropertyReadsNullOnOldObjects) {
    Model v1 = base_model();
    put_docs(v1, {"a"});
    Model v2 = v1;
    add_property(v2, "Doc", "note", PropertyType::kString);
    add_property(v2, "Doc", "score", PropertyType::kDouble, kFlagIndexed);
    ASSERT_OK(v2.validate());
    with_store(v2, [&](std::shared_ptr<Store>& store) {
        ASSERT_OK_AND_ASSIGN(DynamicBox docs, store->box("Doc"));
        ASSERT_OK_AND_ASSIGN(auto old, docs.get(1));
        ASSERT_TRUE(old.has_value());
        EXPECT_TRUE(old->get("note").is_null());
        EXPECT_TRUE(old->get("score").is_null());
        EXPECT_EQ(old->get("title"), Value("doc1"));
        EXPECT_EQ(old->get("tag"), Value("a"));
        ASSERT_OK(old->set("note", "now set"));
        ASSERT_OK(old->set("score", 2.5));
        ASSERT_OK(docs.put(*old));
        ASSERT_OK_AND_ASSIGN(auto again, docs.get(1));
        EXPECT_EQ(again->get("note"), Value("now set"));
        ASSERT_OK_AND_ASSIGN(ReadTxn txn, store->begin_read());
        EXPECT_EQ(test::check_indexes(docs, txn), "");
    });
}

TEST_F(Evolution, AddedIndexIsBuiltFromExistingData) {
    Model v1 = base_model();
    put_docs(v1, {"a", "b", "a", ""});
    Model v2 = v1;
    add_index(v2, property(v2, "Doc", "tag"), kFlagIndexed);
    ASSERT_OK(v2.validate());
    with_store(v2, [&](std::shared_ptr<Store>& store) {
        ASSERT_OK_AND_ASSIGN(DynamicBox docs, store->box("Doc"));
        ASSERT_OK_AND_ASSIGN(ReadTxn txn, store->begin_read());
        EXPECT_EQ(test::check_indexes(docs, txn), "");
    });
}

TEST_F(Evolution, AddedUniqueIndexIsEnforcedOnExistingAndNewData) {
    Model v1 = base_model();
    put_docs(v1, {"a", "b"});
    Model v2 = v1;
    add_index(v2, property(v2, "Doc", "tag"), kFlagIndexed | kFlagUnique);
    ASSERT_OK(v2.validate());
    with_store(v2, [&](std::shared_ptr<Store>& store) {
        ASSERT_OK_AND_ASSIGN(DynamicBox docs, store->box("Doc"));
        Object o = docs.new_object();
        ASSERT_OK(o.set("tag", "a"));
        EXPECT_CODE(docs.put(o), ErrorCode::kUniqueViolation);
        ASSERT_OK(o.set("tag", "c"));
        EXPECT_OK(docs.put(o));
        ASSERT_OK_AND_ASSIGN(ReadTxn txn, store->begin_read());
        EXPECT_EQ(test::check_indexes(docs, txn), "");
    });
}

TEST_F(Evolution, AddedUniqueIndexOnDuplicatesFailsAtOpen) {
    Model v1 = base_model();
    put_docs(v1, {"a", "b", "a"});
    Model v2 = v1;
    add_index(v2, property(v2, "Doc", "tag"), kFlagIndexed | kFlagUnique);
    ASSERT_OK(v2.validate());
    auto s = open(v2);
    ASSERT_FALSE(s.is_ok()) << "opened although Doc.tag has duplicates";
    EXPECT_EQ(s.status().code(), ErrorCode::kUniqueViolation) << s.status().to_string();
    std::string msg = s.status().message();
    EXPECT_NE(msg.find("Doc.tag"), std::string::npos) << msg;
    EXPECT_NE(msg.find("1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("3"), std::string::npos) << msg;
    // Nothing changed: the old model still opens and the data is there.
    with_store(v1, [&](std::shared_ptr<Store>& store) {
        EXPECT_EQ(store->model().to_json(), v1.to_json());
        ASSERT_OK_AND_ASSIGN(DynamicBox docs, store->box("Doc"));
        ASSERT_OK_AND_ASSIGN(uint64_t n, docs.count());
        EXPECT_EQ(n, 3u);
    });
}

TEST_F(Evolution, AddedUniqueHashIndexOnDuplicatesFailsAtOpen) {
    Model v1 = base_model();
    put_docs(v1, {"a", "b", "a"});
    Model v2 = v1;
    add_index(v2, property(v2, "Doc", "tag"), kFlagIndexHash | kFlagUnique);
    ASSERT_OK(v2.validate());
    auto s = open(v2);
    ASSERT_FALSE(s.is_ok()) << "opened although Doc.tag has duplicates under a unique hash index";
    EXPECT_EQ(s.status().code(), ErrorCode::kUniqueViolation) << s.status().to_string();
    EXPECT_NE(s.status().message().find("Doc.tag"), std::string::npos) << s.status().message();
}

TEST_F(Evolution, AddedUniqueIndexAcceptsLongDistinctStringsWithACommonPrefix) {
    Model v1 = base_model();
    std::string prefix(450, 'p');
    put_docs(v1, {prefix + "1", prefix + "2"});
    Model v2 = v1;
    add_index(v2, property(v2, "Doc", "tag"), kFlagIndexed | kFlagUnique);
    ASSERT_OK(v2.validate());
    auto s = open(v2);
    ASSERT_OK(s) << "distinct values refused";
    ASSERT_OK_AND_ASSIGN(DynamicBox docs, (*s)->box("Doc"));
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, (*s)->begin_read());
    EXPECT_EQ(test::check_indexes(docs, txn), "");
}

TEST_F(Evolution, AddedUniqueIndexFindsLongDuplicatesBehindASharedPrefix) {
    Model v1 = base_model();
    std::string prefix(450, 'p');
    // The first object shares only the 400-byte key prefix; the next two are true duplicates.
    put_docs(v1, {prefix + "1", prefix + "2", prefix + "2"});
    Model v2 = v1;
    add_index(v2, property(v2, "Doc", "tag"), kFlagIndexed | kFlagUnique);
    ASSERT_OK(v2.validate());
    auto s = open(v2);
    ASSERT_FALSE(s.is_ok()) << "opened although objects 2 and 3 share Doc.tag";
    EXPECT_EQ(s.status().code(), ErrorCode::kUniqueViolation) << s.status().to_string();
    EXPECT_NE(s.status().message().find("Doc.tag"), std::string::npos) << s.status().message();
}

TEST_F(Evolution, MakingAnExistingIndexUniqueChecksExistingData) {
    Model v1 = base_model();
    add_index(v1, property(v1, "Doc", "tag"), kFlagIndexed);
    put_docs(v1, {"a", "b", "a"});
    Model v2 = v1;
    property(v2, "Doc", "tag").flags |= kFlagUnique;  // same index id:uid, now unique
    ASSERT_OK(v2.validate());
    auto s = open(v2);
    ASSERT_FALSE(s.is_ok()) << "Doc.tag became unique over duplicate values without an error";
    EXPECT_EQ(s.status().code(), ErrorCode::kUniqueViolation) << s.status().to_string();
}

TEST_F(Evolution, ChangingTheIndexKindKeepsTheIndexRight) {
    Model v1 = base_model();
    add_index(v1, property(v1, "Doc", "tag"), kFlagIndexed);
    put_docs(v1, {"a", "b"});
    Model v2 = v1;
    Property& tag = property(v2, "Doc", "tag");
    tag.flags = kFlagIndexHash;  // same index id:uid, value index -> hash index
    ASSERT_OK(v2.validate());
    auto s = open(v2);
    if (!s.is_ok()) {
        // Refusing the change is acceptable; silently keeping stale keys is not.
        EXPECT_EQ(s.status().code(), ErrorCode::kSchemaIncompatible) << s.status().to_string();
        return;
    }
    ASSERT_OK_AND_ASSIGN(DynamicBox docs, (*s)->box("Doc"));
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, (*s)->begin_read());
    EXPECT_EQ(test::check_indexes(docs, txn), "");
}

TEST_F(Evolution, AddedRelationsOnExistingEntities) {
    Model v1 = base_model();
    put_docs(v1, {"a", "b"});
    Model v2 = v1;
    Property& link = add_property(v2, "Doc", "about", PropertyType::kRelation);
    link.target = "Gone";
    add_index(v2, link, 0);
    Relation r;
    r.name = "seeAlso";
    r.target = "Gone";
    r.id = {v2.last_relation_id.id + 1, g_next_uid++};
    v2.last_relation_id = r.id;
    entity(v2, "Doc").relations.push_back(r);
    ASSERT_OK(v2.validate());
    with_store(v2, [&](std::shared_ptr<Store>& store) {
        ASSERT_OK_AND_ASSIGN(DynamicBox docs, store->box("Doc"));
        ASSERT_OK_AND_ASSIGN(DynamicBox gone, store->box("Gone"));
        ASSERT_OK_AND_ASSIGN(auto d, docs.get(1));
        EXPECT_TRUE(d->get("about").is_null());
        EXPECT_TRUE(d->get_to_many("seeAlso").empty());
        Object g = gone.new_object();
        ASSERT_OK(gone.put(g));
        ASSERT_OK(d->set("about", static_cast<int64_t>(g.id)));
        ASSERT_OK(d->set_to_many("seeAlso", {g.id, g.id}));
        ASSERT_OK(docs.put(*d));
        ASSERT_OK_AND_ASSIGN(ReadTxn txn, store->begin_read());
        ASSERT_OK_AND_ASSIGN(auto about, gone.backlinks(txn, "Doc", "about", g.id));
        EXPECT_EQ(about, (std::vector<uint64_t>{1}));
        ASSERT_OK_AND_ASSIGN(auto see, gone.backlinks(txn, "Doc", "seeAlso", g.id));
        EXPECT_EQ(see, (std::vector<uint64_t>{1}));
        EXPECT_EQ(test::check_indexes(docs, txn), "");
    });
}

TEST_F(Evolution, RemovedAndReaddedIndex) {
    Model v1 = base_model();
    add_index(v1, property(v1, "Doc", "tag"), kFlagIndexed | kFlagUnique);
    put_docs(v1, {"a", "b"});
    // v2 drops the unique index (its uid retired): duplicates are allowed now.
    Model v2 = v1;
    Property& tag = property(v2, "Doc", "tag");
    uint64_t old_index_uid = tag.index_id.uid;
    v2.retired_index_uids.push_back(old_index_uid);
    tag.flags = 0;
    tag.index_id = {};
    ASSERT_OK(v2.validate());
    with_store(v2, [&](std::shared_ptr<Store>& store) {
        EXPECT_FALSE(has_table(*store, "i:" + std::to_string(old_index_uid)));
        ASSERT_OK_AND_ASSIGN(DynamicBox docs, store->box("Doc"));
        Object o = docs.new_object();
        ASSERT_OK(o.set("tag", "a"));
        ASSERT_OK(docs.put(o));
    });
    // v3 adds a non-unique index again under a new uid: built over the duplicates.
    Model v3 = v2;
    add_index(v3, property(v3, "Doc", "tag"), kFlagIndexed);
    ASSERT_OK(v3.validate());
    with_store(v3, [&](std::shared_ptr<Store>& store) {
        ASSERT_OK_AND_ASSIGN(DynamicBox docs, store->box("Doc"));
        ASSERT_OK_AND_ASSIGN(ReadTxn txn, store->begin_read());
        EXPECT_EQ(test::check_indexes(docs, txn), "");
    });
}

TEST_F(Evolution, RelationTargetChangeUnderTheSameUidIsIncompatible) {
    Model v1 = base_model();
    Property& link = add_property(v1, "Doc", "about", PropertyType::kRelation);
    link.target = "Gone";
    add_index(v1, link, 0);
    ASSERT_OK(v1.validate());
    put_docs(v1, {"a"});
    Model v2 = v1;
    property(v2, "Doc", "about").target = "Doc";
    ASSERT_OK(v2.validate());
    auto s = open(v2);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.status().code(), ErrorCode::kSchemaIncompatible) << s.status().to_string();
    EXPECT_NE(s.status().message().find("Doc.about"), std::string::npos) << s.status().message();
}

TEST_F(Evolution, ToManyTargetChangeUnderTheSameUidIsIncompatible) {
    Model v1 = base_model();
    put_docs(v1, {"a", "b"});
    with_store(v1, [&](std::shared_ptr<Store>& store) {
        ASSERT_OK_AND_ASSIGN(DynamicBox docs, store->box("Doc"));
        ASSERT_OK_AND_ASSIGN(auto d, docs.get(1));
        ASSERT_OK(d->set_to_many("refs", {2}));
        ASSERT_OK(docs.put(*d));
    });
    // The stored lists hold Doc ids; under the same relation uid they would now be read as Gone
    // ids.
    Model v2 = v1;
    entity(v2, "Doc").relations[0].target = "Gone";
    ASSERT_OK(v2.validate());
    auto s = open(v2);
    ASSERT_FALSE(s.is_ok()) << "Doc.refs changed its target from Doc to Gone under the same uid";
    EXPECT_EQ(s.status().code(), ErrorCode::kSchemaIncompatible) << s.status().to_string();
    EXPECT_NE(s.status().message().find("Doc.refs"), std::string::npos) << s.status().message();
}

TEST_F(Evolution, RenamedEntityAndPropertyKeepTheirData) {
    Model v1 = base_model();
    put_docs(v1, {"a"});
    Model v2 = v1;
    entity(v2, "Doc").name = "Paper";
    entity(v2, "Paper").relations[0].target = "Paper";
    property(v2, "Paper", "title").name = "heading";
    entity(v2, "Paper").relations[0].name = "cites";
    ASSERT_OK(v2.validate());
    with_store(v2, [&](std::shared_ptr<Store>& store) {
        EXPECT_CODE(store->box("Doc"), ErrorCode::kUnknownEntity);
        ASSERT_OK_AND_ASSIGN(DynamicBox papers, store->box("Paper"));
        ASSERT_OK_AND_ASSIGN(auto p, papers.get(1));
        ASSERT_TRUE(p.has_value());
        EXPECT_EQ(p->get("heading"), Value("doc1"));
        EXPECT_EQ(p->get("count"), Value(1));
        // The id sequence came along.
        Object o = papers.new_object();
        ASSERT_OK_AND_ASSIGN(uint64_t id, papers.put(o));
        EXPECT_EQ(id, 2u);
        ASSERT_OK(o.set_to_many("cites", {1}));
        ASSERT_OK(papers.put(o));
    });
    // And back to the v2 store again, with the relation data.
    with_store(v2, [&](std::shared_ptr<Store>& store) {
        ASSERT_OK_AND_ASSIGN(DynamicBox papers, store->box("Paper"));
        ASSERT_OK_AND_ASSIGN(auto p, papers.get(2));
        EXPECT_EQ(p->get_to_many("cites"), (std::vector<uint64_t>{1}));
    });
}

TEST_F(Evolution, RetiredPropertyIsRemoved) {
    Model v1 = base_model();
    put_docs(v1, {"a"});
    Model v2 = v1;
    uint64_t count_index_uid = property(v2, "Doc", "count").index_id.uid;
    retire_property(v2, "Doc", "old");
    retire_property(v2, "Doc", "count");
    ASSERT_OK(v2.validate());
    with_store(v2, [&](std::shared_ptr<Store>& store) {
        ASSERT_OK_AND_ASSIGN(DynamicBox docs, store->box("Doc"));
        ASSERT_OK_AND_ASSIGN(auto d, docs.get(1));
        ASSERT_TRUE(d.has_value());
        EXPECT_EQ(d->get("title"), Value("doc1"));
        EXPECT_TRUE(d->get("old").is_null());
        EXPECT_CODE(d->set("old", "x"), ErrorCode::kUnknownProperty);
        EXPECT_FALSE(has_table(*store, "i:" + std::to_string(count_index_uid)));
    });
    // Reopening with v2 works, and a property added later does not see the removed one's data.
    with_store(v2, [&](std::shared_ptr<Store>&) {});
    Model v3 = v2;
    add_property(v3, "Doc", "old2", PropertyType::kString);
    ASSERT_OK(v3.validate());
    with_store(v3, [&](std::shared_ptr<Store>& store) {
        ASSERT_OK_AND_ASSIGN(DynamicBox docs, store->box("Doc"));
        ASSERT_OK_AND_ASSIGN(auto d, docs.get(1));
        EXPECT_TRUE(d->get("old2").is_null());
    });
}

TEST_F(Evolution, NewPropertyReusingARetiredPropertyIdDoesNotSeeItsData) {
    // Stored fields are addressed by property id. A new property (new uid) that takes the id of a
    // retired one must not read the retired property's bytes as its own.
    Model v1 = base_model();
    put_docs(v1, {"a"});
    Model v2 = v1;
    Property& old = property(v2, "Doc", "old");
    uint32_t old_id = old.id.id;
    retire_property(v2, "Doc", "old");
    Property fresh;
    fresh.name = "fresh";
    fresh.type = PropertyType::kInt64;
    fresh.id = {old_id, g_next_uid++};
    entity(v2, "Doc").properties.push_back(fresh);
    entity(v2, "Doc").last_property_id = fresh.id;
    ASSERT_OK(v2.validate());
    auto s = open(v2);
    if (!s.is_ok()) {
        EXPECT_EQ(s.status().code(), ErrorCode::kSchemaIncompatible) << s.status().to_string();
        EXPECT_NE(s.status().message().find("Doc.fresh"), std::string::npos)
            << s.status().message();
        return;
    }
    ASSERT_OK_AND_ASSIGN(DynamicBox docs, (*s)->box("Doc"));
    ASSERT_OK_AND_ASSIGN(auto d, docs.get(1));
    ASSERT_TRUE(d.has_value());
    EXPECT_TRUE(d->get("fresh").is_null())
        << "Doc.fresh reads the retired Doc.old's stored bytes as "
        << ::testing::PrintToString(d->get("fresh"));
}

TEST_F(Evolution, RetiredEntityAndRelationAreDropped) {
    Model v1 = base_model();
    put_docs(v1, {"a", "b"});
    uint64_t gone_uid = entity(v1, "Gone").id.uid;
    uint64_t refs_uid = entity(v1, "Doc").relations[0].id.uid;
    with_store(v1, [&](std::shared_ptr<Store>& store) {
        ASSERT_OK_AND_ASSIGN(DynamicBox gone, store->box("Gone"));
        Object g = gone.new_object();
        ASSERT_OK(g.set("x", 5));
        ASSERT_OK(gone.put(g));
        ASSERT_OK_AND_ASSIGN(DynamicBox docs, store->box("Doc"));
        ASSERT_OK_AND_ASSIGN(auto d, docs.get(1));
        ASSERT_OK(d->set_to_many("refs", {2}));
        ASSERT_OK(docs.put(*d));
        EXPECT_TRUE(has_table(*store, "o:" + std::to_string(gone_uid)));
        EXPECT_TRUE(has_table(*store, "r:" + std::to_string(refs_uid)));
    });
    Model v2 = v1;
    v2.entities.erase(v2.entities.begin() + 1);
    v2.retired_entity_uids.push_back(gone_uid);
    for (const auto& p : entity(v1, "Gone").properties)
        v2.retired_property_uids.push_back(p.id.uid);
    entity(v2, "Doc").relations.clear();
    v2.retired_relation_uids.push_back(refs_uid);
    ASSERT_OK(v2.validate());
    with_store(v2, [&](std::shared_ptr<Store>& store) {
        EXPECT_CODE(store->box("Gone"), ErrorCode::kUnknownEntity);
        EXPECT_FALSE(has_table(*store, "o:" + std::to_string(gone_uid)));
        EXPECT_FALSE(has_table(*store, "r:" + std::to_string(refs_uid)));
        EXPECT_FALSE(has_table(*store, "b:" + std::to_string(refs_uid)));
        ASSERT_OK_AND_ASSIGN(DynamicBox docs, store->box("Doc"));
        ASSERT_OK_AND_ASSIGN(uint64_t n, docs.count());
        EXPECT_EQ(n, 2u);
    });
    with_store(v2, [&](std::shared_ptr<Store>&) {});
}

TEST_F(Evolution, RemovalWithoutRetiringIsIncompatible) {
    Model v1 = base_model();
    put_docs(v1, {"a"});
    Model v2 = v1;
    auto& props = entity(v2, "Doc").properties;
    props.erase(props.begin() + 4);  // Doc.old, uid not retired
    ASSERT_OK(v2.validate());
    auto s = open(v2);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.status().code(), ErrorCode::kSchemaIncompatible) << s.status().to_string();
    EXPECT_NE(s.status().message().find("Doc.old"), std::string::npos) << s.status().message();

    Model v3 = v1;
    v3.entities.erase(v3.entities.begin() + 1);  // Gone, not retired
    ASSERT_OK(v3.validate());
    auto s3 = open(v3);
    ASSERT_FALSE(s3.is_ok());
    EXPECT_EQ(s3.status().code(), ErrorCode::kSchemaIncompatible) << s3.status().to_string();
    EXPECT_NE(s3.status().message().find("Gone"), std::string::npos) << s3.status().message();
    // The store is untouched.
    with_store(v1, [&](std::shared_ptr<Store>& store) {
        ASSERT_OK_AND_ASSIGN(DynamicBox docs, store->box("Doc"));
        ASSERT_OK_AND_ASSIGN(auto d, docs.get(1));
        EXPECT_EQ(d->get("old"), Value("old1"));
    });
}

TEST_F(Evolution, TypeChangeUnderTheSameUidIsIncompatible) {
    Model v1 = base_model();
    put_docs(v1, {"a"});
    Model v2 = v1;
    property(v2, "Doc", "tag").type = PropertyType::kInt64;
    ASSERT_OK(v2.validate());
    auto s = open(v2);
    ASSERT_FALSE(s.is_ok());
    EXPECT_EQ(s.status().code(), ErrorCode::kSchemaIncompatible) << s.status().to_string();
    EXPECT_NE(s.status().message().find("Doc.tag"), std::string::npos) << s.status().message();
    EXPECT_NE(s.status().message().find("type"), std::string::npos) << s.status().message();
    with_store(v1, [&](std::shared_ptr<Store>& store) {
        EXPECT_EQ(store->model().to_json(), v1.to_json());
    });
}

TEST_F(Evolution, InvalidNewModelIsRefused) {
    Model v1 = base_model();
    put_docs(v1, {"a"});
    Model bad = v1;
    property(bad, "Doc", "id").type = PropertyType::kInt32;
    EXPECT_CODE(open(bad), ErrorCode::kModelInvalid);
}

TEST_F(Evolution, StoreKeepsTheModelItWasLastOpenedWith) {
    EXPECT_CODE(Store::open_existing(dir_.sub("db"), test::test_options()), ErrorCode::kNotFound);
    Model v1 = base_model();
    put_docs(v1, {"a"});
    Model v2 = v1;
    add_property(v2, "Doc", "note", PropertyType::kString);
    with_store(v2, [&](std::shared_ptr<Store>& store) {
        EXPECT_EQ(store->model().to_json(), v2.to_json());
    });
    {
        auto s = Store::open_existing(dir_.sub("db"), test::test_options());
        ASSERT_OK(s);
        EXPECT_EQ((*s)->model().to_json(), v2.to_json());
        ASSERT_OK_AND_ASSIGN(DynamicBox docs, (*s)->box("Doc"));
        ASSERT_OK_AND_ASSIGN(auto d, docs.get(1));
        EXPECT_TRUE(d->get("note").is_null());
        EXPECT_EQ(d->get("tag"), Value("a"));
    }
    // Opening with the older model now is a removal of Doc.note without retiring it.
    EXPECT_CODE(open(v1), ErrorCode::kSchemaIncompatible);
}

TEST_F(Evolution, ReadOnlyOpenNeedsTheStoredModel) {
    Model v1 = base_model();
    put_docs(v1, {"a"});
    Model v2 = v1;
    add_property(v2, "Doc", "note", PropertyType::kString);
    StoreOptions ro = test::test_options();
    ro.read_only = true;
    EXPECT_CODE(Store::open(dir_.sub("db"), v2, ro), ErrorCode::kReadOnly);
    auto s = Store::open(dir_.sub("db"), v1, ro);
    ASSERT_OK(s);
    ASSERT_OK_AND_ASSIGN(DynamicBox docs, (*s)->box("Doc"));
    ASSERT_OK_AND_ASSIGN(uint64_t n, docs.count());
    EXPECT_EQ(n, 1u);
}

}  // namespace
}  // namespace outpost
