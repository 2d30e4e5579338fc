// Relations: to-one and to-many with backlinks, order and duplicates, and integrity when targets
// go.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "common/status_macros.hpp"
#include "store/test_model.hpp"

namespace outpost {
namespace {

using test::StoreTest;
using Ids = std::vector<uint64_t>;

class RelationTest : public StoreTest {
  protected:
    void SetUp() override {
        StoreTest::SetUp();
        authors_.emplace(box("Author"));
        books_.emplace(box("Book"));
        nodes_.emplace(box("Node"));
    }
    void TearDown() override {
        authors_.reset();
        books_.reset();
        nodes_.reset();
        StoreTest::TearDown();
    }
    uint64_t add_author(WriteTxn& txn, const std::string& name) {
        Object a = authors_->new_object();
        EXPECT_OK(a.set("name", name));
        auto id = authors_->put(txn, a);
        EXPECT_OK(id);
        return a.id;
    }
    uint64_t add_book(WriteTxn& txn, const std::string& title, uint64_t author, Ids readers) {
        Object b = books_->new_object();
        EXPECT_OK(b.set("title", title));
        if (author != 0) {
            EXPECT_OK(b.set("author", static_cast<int64_t>(author)));
        }
        EXPECT_OK(b.set_to_many("readers", std::move(readers)));
        auto id = books_->put(txn, b);
        EXPECT_OK(id);
        return b.id;
    }
    static Ids sorted(Ids v) {
        std::sort(v.begin(), v.end());
        return v;
    }
    std::string problems(Txn& txn) {
        return test::check_indexes(*books_, txn) + test::check_indexes(*nodes_, txn) +
               test::check_indexes(*authors_, txn);
    }

    std::optional<DynamicBox> authors_, books_, nodes_;
};

TEST_F(RelationTest, ToOneBacklinks) {
    ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
    uint64_t ann = add_author(txn, "ann");
    uint64_t bob = add_author(txn, "bob");
    uint64_t b1 = add_book(txn, "one", ann, {});
    uint64_t b2 = add_book(txn, "two", ann, {});
    uint64_t b3 = add_book(txn, "three", bob, {});
    add_book(txn, "none", 0, {});
    ASSERT_OK(txn.commit());

    ASSERT_OK_AND_ASSIGN(ReadTxn r, store_->begin_read());
    ASSERT_OK_AND_ASSIGN(Ids of_ann, authors_->backlinks(r, "Book", "author", ann));
    EXPECT_EQ(sorted(of_ann), (Ids{b1, b2}));
    ASSERT_OK_AND_ASSIGN(Ids of_bob, authors_->backlinks(r, "Book", "author", bob));
    EXPECT_EQ(of_bob, (Ids{b3}));
    ASSERT_OK_AND_ASSIGN(Ids of_nobody, authors_->backlinks(r, "Book", "author", 999));
    EXPECT_TRUE(of_nobody.empty());
    ASSERT_OK_AND_ASSIGN(auto book, books_->get(r, b1));
    EXPECT_EQ(book->get("author"), Value(static_cast<int64_t>(ann)));
    r.close();

    // Moving a book to another author moves its backlink.
    ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
    ASSERT_OK_AND_ASSIGN(auto moved, books_->get(w, b2));
    ASSERT_OK(moved->set("author", static_cast<int64_t>(bob)));
    ASSERT_OK(books_->put(w, *moved));
    ASSERT_OK_AND_ASSIGN(Ids ann_now, authors_->backlinks(w, "Book", "author", ann));
    EXPECT_EQ(ann_now, (Ids{b1}));
    ASSERT_OK_AND_ASSIGN(Ids bob_now, authors_->backlinks(w, "Book", "author", bob));
    EXPECT_EQ(sorted(bob_now), (Ids{b2, b3}));
    EXPECT_EQ(problems(w), "");
    ASSERT_OK(w.commit());
}

TEST_F(RelationTest, ToManyKeepsOrderAndDuplicates) {
    ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
    uint64_t a = add_author(txn, "a"), b = add_author(txn, "b"), c = add_author(txn, "c");
    uint64_t book = add_book(txn, "list", 0, {c, a, c, b, c});
    ASSERT_OK(txn.commit());
    ASSERT_OK_AND_ASSIGN(auto got, books_->get(book));
    EXPECT_EQ(got->get_to_many("readers"), (Ids{c, a, c, b, c}));
    EXPECT_TRUE(got->get_to_many("nothing").empty());

    // Rewriting the list in another order keeps that order.
    ASSERT_OK(got->set_to_many("readers", {b, b, a}));
    ASSERT_OK(books_->put(*got));
    ASSERT_OK_AND_ASSIGN(auto again, books_->get(book));
    EXPECT_EQ(again->get_to_many("readers"), (Ids{b, b, a}));
    ASSERT_OK_AND_ASSIGN(ReadTxn r, store_->begin_read());
    EXPECT_EQ(problems(r), "");
}

TEST_F(RelationTest, ToManyBacklinks) {
    ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
    uint64_t a = add_author(txn, "a"), b = add_author(txn, "b");
    uint64_t x = add_book(txn, "x", 0, {a, b, a});
    uint64_t y = add_book(txn, "y", 0, {a});
    add_book(txn, "z", 0, {});
    ASSERT_OK_AND_ASSIGN(Ids readers_a, authors_->backlinks(txn, "Book", "readers", a));
    EXPECT_EQ(sorted(readers_a), (Ids{x, y}));
    ASSERT_OK_AND_ASSIGN(Ids readers_b, authors_->backlinks(txn, "Book", "readers", b));
    EXPECT_EQ(readers_b, (Ids{x}));

    // Dropping one of two occurrences keeps the backlink; dropping the last removes it.
    Object ox = books_->new_object();
    ox.id = x;
    ASSERT_OK(ox.set("title", "x"));
    ASSERT_OK(ox.set_to_many("readers", {a, b}));
    ASSERT_OK(books_->put(txn, ox));
    ASSERT_OK_AND_ASSIGN(Ids still_a, authors_->backlinks(txn, "Book", "readers", a));
    EXPECT_EQ(sorted(still_a), (Ids{x, y}));
    ASSERT_OK(ox.set_to_many("readers", {b}));
    ASSERT_OK(books_->put(txn, ox));
    ASSERT_OK_AND_ASSIGN(Ids only_y, authors_->backlinks(txn, "Book", "readers", a));
    EXPECT_EQ(only_y, (Ids{y}));
    // Removing a source drops its list and its backlinks.
    ASSERT_OK(books_->remove(txn, x));
    ASSERT_OK_AND_ASSIGN(Ids none_b, authors_->backlinks(txn, "Book", "readers", b));
    EXPECT_TRUE(none_b.empty());
    EXPECT_EQ(problems(txn), "");
    ASSERT_OK(txn.commit());
}

TEST_F(RelationTest, BacklinksOfUnknownLinks) {
    ASSERT_OK_AND_ASSIGN(ReadTxn r, store_->begin_read());
    EXPECT_CODE(authors_->backlinks(r, "Nobody", "author", 1), ErrorCode::kUnknownEntity);
    EXPECT_CODE(authors_->backlinks(r, "Book", "title", 1), ErrorCode::kUnknownProperty);
    EXPECT_CODE(authors_->backlinks(r, "Node", "parent", 1), ErrorCode::kUnknownProperty);
}

TEST_F(RelationTest, BacklinkErrorNamesExactlyTheGivenLink) {
    ASSERT_OK_AND_ASSIGN(ReadTxn r, store_->begin_read());
    std::string text = "BookXYZ";
    std::string_view book(text.data(), 4);  // "Book", not NUL-terminated
    auto res = authors_->backlinks(r, book, "title", 1);
    ASSERT_FALSE(res.is_ok());
    EXPECT_EQ(res.status().code(), ErrorCode::kUnknownProperty);
    EXPECT_NE(res.status().message().find("Book.title"), std::string::npos)
        << res.status().message();
    EXPECT_EQ(res.status().message().find("BookXYZ"), std::string::npos) << res.status().message();
}

TEST_F(RelationTest, RemovingATargetClearsLinksInTheSameTransaction) {
    ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
    uint64_t a = add_author(txn, "a"), b = add_author(txn, "b");
    uint64_t x = add_book(txn, "x", a, {a, b, a});
    uint64_t y = add_book(txn, "y", b, {b});
    uint64_t z = add_book(txn, "z", a, {});
    ASSERT_OK(txn.commit());

    std::vector<Changes> seen;
    uint64_t handle = store_->add_observer([&](const Changes& c) { seen.push_back(c); });
    ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
    ASSERT_OK_AND_ASSIGN(bool removed, authors_->remove(w, a));
    EXPECT_TRUE(removed);
    // Visible inside the transaction already.
    ASSERT_OK_AND_ASSIGN(auto bx, books_->get(w, x));
    EXPECT_TRUE(bx->get("author").is_null());
    EXPECT_EQ(bx->get_to_many("readers"), (Ids{b}));
    EXPECT_EQ(bx->get("title"), Value("x"));
    ASSERT_OK_AND_ASSIGN(auto bz, books_->get(w, z));
    EXPECT_TRUE(bz->get("author").is_null());
    ASSERT_OK_AND_ASSIGN(auto by, books_->get(w, y));
    EXPECT_EQ(by->get("author"), Value(static_cast<int64_t>(b)));
    ASSERT_OK_AND_ASSIGN(Ids of_a, authors_->backlinks(w, "Book", "author", a));
    EXPECT_TRUE(of_a.empty());
    ASSERT_OK_AND_ASSIGN(Ids readers_a, authors_->backlinks(w, "Book", "readers", a));
    EXPECT_TRUE(readers_a.empty());
    EXPECT_EQ(problems(w), "");
    ASSERT_OK(w.commit());
    store_->remove_observer(handle);

    ASSERT_EQ(seen.size(), 1u);
    uint32_t author_eid = model_.entity("Author")->id.id;
    uint32_t book_eid = model_.entity("Book")->id.id;
    const EntityChanges* ac = nullptr;
    const EntityChanges* bc = nullptr;
    for (const auto& e : seen[0].entities) {
        if (e.entity_id == author_eid) ac = &e;
        if (e.entity_id == book_eid) bc = &e;
    }
    ASSERT_NE(ac, nullptr);
    ASSERT_NE(bc, nullptr);
    EXPECT_EQ(ac->removed_ids, (Ids{a}));
    EXPECT_TRUE(ac->put_ids.empty());
    EXPECT_EQ(bc->put_ids, sorted(Ids{x, z}));
    EXPECT_TRUE(bc->removed_ids.empty());

    // And it is all still so after commit.
    ASSERT_OK_AND_ASSIGN(auto after, books_->get(x));
    EXPECT_TRUE(after->get("author").is_null());
    EXPECT_EQ(after->get_to_many("readers"), (Ids{b}));
}

TEST_F(RelationTest, AbortedRemoveKeepsLinks) {
    ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
    uint64_t a = add_author(txn, "a");
    uint64_t x = add_book(txn, "x", a, {a});
    ASSERT_OK(txn.commit());
    {
        ASSERT_OK_AND_ASSIGN(WriteTxn w, store_->begin_write());
        ASSERT_OK(authors_->remove(w, a));
        w.abort();
    }
    ASSERT_OK_AND_ASSIGN(auto bx, books_->get(x));
    EXPECT_EQ(bx->get("author"), Value(static_cast<int64_t>(a)));
    EXPECT_EQ(bx->get_to_many("readers"), (Ids{a}));
}

TEST_F(RelationTest, RemoveAllTargets) {
    ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
    uint64_t a = add_author(txn, "a"), b = add_author(txn, "b");
    uint64_t x = add_book(txn, "x", a, {a, b});
    uint64_t y = add_book(txn, "y", b, {b, a, b});
    ASSERT_OK_AND_ASSIGN(uint64_t n, authors_->remove_all(txn));
    EXPECT_EQ(n, 2u);
    for (uint64_t id : {x, y}) {
        ASSERT_OK_AND_ASSIGN(auto book, books_->get(txn, id));
        ASSERT_TRUE(book.has_value());
        EXPECT_TRUE(book->get("author").is_null());
        EXPECT_TRUE(book->get_to_many("readers").empty());
    }
    EXPECT_EQ(problems(txn), "");
    ASSERT_OK(txn.commit());
}

TEST_F(RelationTest, SelfRelations) {
    ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
    auto add = [&](const std::string& name, uint64_t parent, Ids children) {
        Object n = nodes_->new_object();
        EXPECT_OK(n.set("name", name));
        if (parent) {
            EXPECT_OK(n.set("parent", static_cast<int64_t>(parent)));
        }
        EXPECT_OK(n.set_to_many("children", std::move(children)));
        EXPECT_OK(nodes_->put(txn, n));
        return n.id;
    };
    uint64_t root = add("root", 0, {});
    uint64_t kid1 = add("kid1", root, {});
    uint64_t kid2 = add("kid2", root, {});
    // The root lists its children, and itself.
    Object r = nodes_->new_object();
    r.id = root;
    ASSERT_OK(r.set("name", "root"));
    ASSERT_OK(r.set("parent", static_cast<int64_t>(root)));
    ASSERT_OK(r.set_to_many("children", {kid1, root, kid2}));
    ASSERT_OK(nodes_->put(txn, r));

    ASSERT_OK_AND_ASSIGN(Ids under_root, nodes_->backlinks(txn, "Node", "parent", root));
    EXPECT_EQ(sorted(under_root), sorted(Ids{root, kid1, kid2}));
    ASSERT_OK_AND_ASSIGN(Ids lists_root, nodes_->backlinks(txn, "Node", "children", root));
    EXPECT_EQ(lists_root, (Ids{root}));
    EXPECT_EQ(problems(txn), "");

    // Removing a child drops it from the root's list; removing the root clears the kids' parent.
    ASSERT_OK(nodes_->remove(txn, kid1));
    ASSERT_OK_AND_ASSIGN(auto root_now, nodes_->get(txn, root));
    EXPECT_EQ(root_now->get_to_many("children"), (Ids{root, kid2}));
    ASSERT_OK(nodes_->remove(txn, root));
    ASSERT_OK_AND_ASSIGN(auto k2, nodes_->get(txn, kid2));
    ASSERT_TRUE(k2.has_value());
    EXPECT_TRUE(k2->get("parent").is_null());
    ASSERT_OK_AND_ASSIGN(uint64_t n, nodes_->count(txn));
    EXPECT_EQ(n, 1u);
    EXPECT_EQ(problems(txn), "");
    ASSERT_OK(txn.commit());
}

TEST_F(RelationTest, ObjectReadBackHasItsToManyLists) {
    ASSERT_OK_AND_ASSIGN(WriteTxn txn, store_->begin_write());
    uint64_t a = add_author(txn, "a");
    uint64_t x = add_book(txn, "x", a, {a, a});
    ASSERT_OK(txn.commit());
    ASSERT_OK_AND_ASSIGN(ReadTxn r, store_->begin_read());
    ASSERT_OK_AND_ASSIGN(auto all, books_->get_all(r));
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].id, x);
    EXPECT_EQ(all[0].get_to_many("readers"), (Ids{a, a}));
    ASSERT_OK_AND_ASSIGN(Ids direct, books_->get_to_many(r, 0, x));
    EXPECT_EQ(direct, (Ids{a, a}));
}

}  // namespace
}  // namespace outpost
