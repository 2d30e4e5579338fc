// Dead letters kept in the server store's meta: ids, order, removal, the bound, damaged data.
#include "mongo/dead_letters.hpp"

#include <gtest/gtest.h>

#include "common/status_macros.hpp"
#include "mongo/mongo_env.hpp"

namespace outpost::mongo {
namespace {

using detail::DeadLetters;

class DeadLettersTest : public ::testing::Test {
  protected:
    void SetUp() override {
        store_ = testing::open_store(dir_.sub("store"), model_);
        ASSERT_TRUE(store_);
    }
    static DeadLetter letter(const std::string& key) {
        return {"inbound", "items", key, "reason of " + key, "{}", 0};
    }
    // Adds LETTERS in one transaction; the count kept after.
    uint64_t add(std::vector<DeadLetter>& letters) {
        uint64_t kept = 0;
        EXPECT_OK(store_->write([&](WriteTxn& txn) -> Status {
            OUTPOST_ASSIGN_OR_RETURN(kept, DeadLetters::add(txn, letters));
            return Status::ok();
        }));
        return kept;
    }
    DeadLetterPage list(size_t offset, size_t limit) {
        auto txn = store_->begin_read().value();
        auto page = DeadLetters::list(txn, offset, limit);
        EXPECT_OK(page);
        return page.is_ok() ? std::move(page).value() : DeadLetterPage{};
    }

    testing::TempDir dir_;
    Model model_ = testing::mongo_mapping_model();
    std::shared_ptr<Store> store_;
};

TEST_F(DeadLettersTest, KeepsLettersWithIdsNewestFirst) {
    std::vector<DeadLetter> a = {letter("a"), letter("b")};
    EXPECT_EQ(add(a), 2u);
    EXPECT_EQ(a[0].id, 1u);
    EXPECT_EQ(a[1].id, 2u);
    EXPECT_GT(a[0].time_ms, 0);
    std::vector<DeadLetter> c = {letter("c")};
    EXPECT_EQ(add(c), 3u);
    auto page = list(0, 10);
    EXPECT_EQ(page.total, 3u);
    ASSERT_EQ(page.items.size(), 3u);
    EXPECT_EQ(page.items[0].document_key, "c");
    EXPECT_EQ(page.items[2].document_key, "a");
    EXPECT_EQ(page.items[2].reason, "reason of a");
    EXPECT_EQ(page.items[2].time_ms, a[0].time_ms);
    auto second = list(1, 1);
    ASSERT_EQ(second.items.size(), 1u);
    EXPECT_EQ(second.items[0].document_key, "b");
    EXPECT_TRUE(list(5, 10).items.empty());
}

TEST_F(DeadLettersTest, RemovedIdsAreNotReused) {
    std::vector<DeadLetter> a = {letter("a"), letter("b")};
    add(a);
    ASSERT_OK(store_->write([&](WriteTxn& txn) -> Status {
        OUTPOST_ASSIGN_OR_RETURN(bool had, DeadLetters::remove(txn, 2));
        EXPECT_TRUE(had);
        OUTPOST_ASSIGN_OR_RETURN(bool again, DeadLetters::remove(txn, 2));
        EXPECT_FALSE(again);
        return Status::ok();
    }));
    std::vector<DeadLetter> c = {letter("c")};
    EXPECT_EQ(add(c), 2u);
    EXPECT_EQ(c[0].id, 3u);
    auto txn = store_->begin_read().value();
    EXPECT_FALSE(DeadLetters::get(txn, 2).value().has_value());
    EXPECT_EQ(DeadLetters::get(txn, 3).value()->document_key, "c");
}

TEST_F(DeadLettersTest, ANewerLetterOfTheSameDocumentReplacesTheOlder) {
    std::vector<DeadLetter> a = {letter("a"), letter("b")};
    add(a);
    std::vector<DeadLetter> again = {letter("a")};
    again[0].reason = "newer";
    EXPECT_EQ(add(again), 2u);
    EXPECT_EQ(again[0].id, 3u);
    auto page = list(0, 10);
    ASSERT_EQ(page.items.size(), 2u);
    EXPECT_EQ(page.items[0].id, 3u);
    EXPECT_EQ(page.items[0].reason, "newer");
    EXPECT_EQ(page.items[1].document_key, "b");
    // Another direction or collection is another letter.
    std::vector<DeadLetter> other = {letter("a"), letter("a")};
    other[0].direction = "outbound";
    other[1].collection = "tags";
    EXPECT_EQ(add(other), 4u);
    // Removing the newer one and adding the document again makes one letter, not two.
    ASSERT_OK(store_->write([&](WriteTxn& txn) { return DeadLetters::remove(txn, 3).status(); }));
    std::vector<DeadLetter> third = {letter("a")};
    EXPECT_EQ(add(third), 4u);
}

TEST_F(DeadLettersTest, KeepsTheNewestUpToTheBound) {
    std::vector<DeadLetter> many;
    for (size_t i = 0; i < DeadLetters::kMaxKept + 5; ++i)
        many.push_back(letter(std::to_string(i)));
    EXPECT_EQ(add(many), DeadLetters::kMaxKept);
    auto txn = store_->begin_read().value();
    EXPECT_EQ(DeadLetters::count(txn).value(), DeadLetters::kMaxKept);
    EXPECT_FALSE(DeadLetters::get(txn, 5).value().has_value());  // the oldest five are gone
    EXPECT_EQ(DeadLetters::get(txn, 6).value()->document_key, "5");
    auto page = DeadLetters::list(txn, 0, 1).value();
    EXPECT_EQ(page.items[0].document_key, std::to_string(DeadLetters::kMaxKept + 4));
}

TEST_F(DeadLettersTest, LongTextIsCut) {
    std::vector<DeadLetter> big = {letter("big")};
    big[0].raw = std::string(DeadLetters::kMaxRawBytes + 100, 'r');
    big[0].reason = std::string(DeadLetters::kMaxReasonBytes * 2, 'x');
    add(big);
    auto page = list(0, 1);
    ASSERT_EQ(page.items.size(), 1u);
    EXPECT_LT(page.items[0].raw.size(), DeadLetters::kMaxRawBytes + 64);
    EXPECT_NE(page.items[0].raw.find("bytes, cut"), std::string::npos);
    EXPECT_LT(page.items[0].reason.size(), DeadLetters::kMaxReasonBytes + 64);
}

TEST_F(DeadLettersTest, DamagedDataIsAnErrorNotACrash) {
    ASSERT_OK(store_->write([&](WriteTxn& txn) -> Status {
        OUTPOST_RETURN_IF_ERROR(put_meta(txn, "mongo:dead_letter:7", "{not json"));
        OUTPOST_RETURN_IF_ERROR(put_meta(txn, "mongo:dead_letter:8",
                                         R"({"direction": 5, "reason": "r", "time_ms": "x"})"));
        return put_meta(txn, "mongo:dead_letters", "short");
    }));
    auto txn = store_->begin_read().value();
    EXPECT_EQ(DeadLetters::count(txn).status().code(), ErrorCode::kCorrupt);
    EXPECT_EQ(DeadLetters::get(txn, 7).status().code(), ErrorCode::kCorrupt);
    auto wrong_types = DeadLetters::get(txn, 8);  // what is left of it
    ASSERT_OK(wrong_types);
    EXPECT_EQ(wrong_types.value()->direction, "");
    EXPECT_EQ(wrong_types.value()->reason, "r");
    EXPECT_EQ(wrong_types.value()->time_ms, 0);
}

}  // namespace
}  // namespace outpost::mongo
