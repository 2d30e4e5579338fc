// Command behaviour through the engine, without a driver: regression tests for answers that were
// wrong or crashed, each against what MongoDB 6.0 answers.
#include <gtest/gtest.h>

#include "engine_harness.hpp"

namespace standin {
namespace {

using testing::docs;
using testing::EngineHarness;
using testing::normalized;
using testing::relaxed;

// A projection value that is a sub-document holding an expression kept iterators into a copy of
// the sub-document that was freed before they were read.
TEST(Projection, NestedComputedFieldInFind) {
    EngineHarness h;
    h.ok(R"({"insert": "c", "documents": [{"_id": 1, "a": "value-of-a", "b": 2}]})");
    EXPECT_EQ(h.find("c", R"("projection": {"x": {"y": "$a"}})"),
              docs({R"({"_id": 1, "x": {"y": "value-of-a"}})"}));
    EXPECT_EQ(
        h.find("c", R"("projection": {"_id": 0, "x": {"y": "$a", "z": {"$add": ["$b", 1]}}})"),
        docs({R"({"x": {"y": "value-of-a", "z": 3}})"}));
}

TEST(Projection, NestedLiteralInAggregateProject) {
    EngineHarness h;
    h.ok(R"({"insert": "c", "documents": [{"_id": 1, "a": 1}]})");
    Doc r = h.ok(
        R"({"aggregate": "c", "pipeline": [{"$project": {"x": {"y": "lit", "z": {"w": "$a"}}}}], "cursor": {}})");
    EXPECT_EQ(EngineHarness::batch(r.get()),
              docs({R"({"_id": 1, "x": {"y": "lit", "z": {"w": 1}}})"}));
}

TEST(Projection, NestedComputedFieldInChangeStream) {
    EngineHarness h;
    h.ok(R"({"create": "c"})");
    Doc opened = h.ok(
        R"({"aggregate": "c", "pipeline": [{"$changeStream": {}}, {"$project": {"ns": {"db": "$ns.db"}}}], "cursor": {}})");
    int64_t id = EngineHarness::cursor_id(opened.get());
    ASSERT_NE(id, 0);
    h.ok(R"({"insert": "c", "documents": [{"_id": 1}]})");
    Doc more = h.get_more(id, "c");
    auto events = EngineHarness::batch(more.get());
    ASSERT_EQ(events.size(), 1u);
    EXPECT_NE(events[0].find(R"("ns" : { "db" : "t" })"), std::string::npos) << events[0];
    EXPECT_EQ(events[0].find("operationType"), std::string::npos) << events[0];
}

// ---- error labels and names ----

const char* kLsid =
    R"("lsid": {"id": {"$binary": {"base64": "AAAAAAAAAAAAAAAAAAAAAQ==", "subType": "04"}}})";

bool has_label(const bson_t* reply, const std::string& label) {
    bson_iter_t it, a;
    if (!bson_iter_init_find(&it, reply, "errorLabels") || !bson_iter_recurse(&it, &a))
        return false;
    while (bson_iter_next(&a))
        if (BSON_ITER_HOLDS_UTF8(&a) && label == bson_iter_utf8(&a, nullptr)) return true;
    return false;
}

TEST(ErrorLabels, FailCommandOnCommitGetsTransientTransactionError) {
    for (int code : {251, 112, 24, 267, 246}) {
        EngineHarness h;
        h.ok(
            R"({"configureFailPoint": "failCommand", "mode": {"times": 1}, "data": {"failCommands": ["commitTransaction"], "errorCode": )" +
            std::to_string(code) + R"(}, "$db": "admin"})");
        h.ok(
            R"({"insert": "c", "documents": [{"_id": 1}], "txnNumber": {"$numberLong": "1"}, "autocommit": false, "startTransaction": true, )" +
            std::string(kLsid) + "}");
        Doc r = h.fails(
            R"({"commitTransaction": 1, "txnNumber": {"$numberLong": "1"}, "autocommit": false, "$db": "admin", )" +
                std::string(kLsid) + "}",
            code);
        EXPECT_TRUE(has_label(r.get(), "TransientTransactionError"))
            << code << ": " << relaxed(r.get());
    }
    // Not for an error that a retry of the transaction would not cure.
    EngineHarness h;
    h.ok(
        R"({"configureFailPoint": "failCommand", "mode": {"times": 1}, "data": {"failCommands": ["commitTransaction"], "errorCode": 2}, "$db": "admin"})");
    h.ok(
        R"({"insert": "c", "documents": [{"_id": 1}], "txnNumber": {"$numberLong": "1"}, "autocommit": false, "startTransaction": true, )" +
        std::string(kLsid) + "}");
    Doc r = h.fails(
        R"({"commitTransaction": 1, "txnNumber": {"$numberLong": "1"}, "autocommit": false, "$db": "admin", )" +
            std::string(kLsid) + "}",
        2);
    EXPECT_FALSE(bson_has_field(r.get(), "errorLabels")) << relaxed(r.get());
}

TEST(ErrorLabels, ResumableChangeStreamErrorOnlyForErrorsInsideGetMore) {
    EngineHarness h;
    h.ok(R"({"create": "c"})");
    Doc opened = h.ok(R"({"aggregate": "c", "pipeline": [{"$changeStream": {}}], "cursor": {}})");
    int64_t id = EngineHarness::cursor_id(opened.get());
    // failCommand on getMore: no label added by the server.
    h.ok(
        R"({"configureFailPoint": "failCommand", "mode": {"times": 1}, "data": {"failCommands": ["getMore"], "errorCode": 6}, "$db": "admin"})");
    Doc r = h.get_more(id, "c");
    EXPECT_EQ(get_int(r.get(), "code").value_or(0), 6);
    EXPECT_FALSE(has_label(r.get(), "ResumableChangeStreamError")) << relaxed(r.get());
    // An error raised inside the getMore of a change stream: labelled when resumable ...
    h.ok(
        R"({"configureFailPoint": "failGetMoreAfterCursorCheckout", "mode": {"times": 1}, "data": {"errorCode": 6}, "$db": "admin"})");
    r = h.get_more(id, "c");
    EXPECT_EQ(get_int(r.get(), "code").value_or(0), 6);
    EXPECT_TRUE(has_label(r.get(), "ResumableChangeStreamError")) << relaxed(r.get());
    // ... never for 216 ElectionInProgress.
    opened = h.ok(R"({"aggregate": "c", "pipeline": [{"$changeStream": {}}], "cursor": {}})");
    id = EngineHarness::cursor_id(opened.get());
    h.ok(
        R"({"configureFailPoint": "failGetMoreAfterCursorCheckout", "mode": {"times": 1}, "data": {"errorCode": 216}, "$db": "admin"})");
    r = h.get_more(id, "c");
    EXPECT_EQ(get_int(r.get(), "code").value_or(0), 216);
    EXPECT_FALSE(has_label(r.get(), "ResumableChangeStreamError")) << relaxed(r.get());
}

TEST(ErrorLabels, ChangeStreamFatalErrorIsNonResumable) {
    EngineHarness h;
    h.ok(R"({"create": "c"})");
    Doc opened = h.ok(
        R"({"aggregate": "c", "pipeline": [{"$changeStream": {}}, {"$project": {"_id": 0}}], "cursor": {}})");
    h.ok(R"({"insert": "c", "documents": [{"_id": 1}]})");
    Doc r = h.get_more(EngineHarness::cursor_id(opened.get()), "c");
    EXPECT_EQ(get_int(r.get(), "code").value_or(0), 280);
    EXPECT_EQ(get_string(r.get(), "codeName").value_or(""), "ChangeStreamFatalError");
    EXPECT_TRUE(has_label(r.get(), "NonResumableChangeStreamError")) << relaxed(r.get());
}

TEST(ErrorNames, CodeNamesAreTheServers) {
    const std::pair<int, const char*> names[] = {{6, "HostUnreachable"},
                                                 {7, "HostNotFound"},
                                                 {89, "NetworkTimeout"},
                                                 {189, "PrimarySteppedDown"},
                                                 {216, "ElectionInProgress"},
                                                 {262, "ExceededTimeLimit"},
                                                 {9001, "SocketException"},
                                                 {10107, "NotWritablePrimary"},
                                                 {11601, "Interrupted"},
                                                 {11602, "InterruptedDueToReplStateChange"},
                                                 {13435, "NotPrimaryNoSecondaryOk"},
                                                 {13436, "NotPrimaryOrSecondary"},
                                                 {40324, "Location40324"},
                                                 {123456, "Location123456"}};
    EngineHarness h;
    for (const auto& [code, name] : names) {
        h.ok(
            R"({"configureFailPoint": "failCommand", "mode": {"times": 1}, "data": {"failCommands": ["ping"], "errorCode": )" +
            std::to_string(code) + R"(}, "$db": "admin"})");
        Doc r = h.fails(R"({"ping": 1})", code);
        EXPECT_EQ(get_string(r.get(), "codeName").value_or(""), name);
    }
}

// ---- duplicate keys ----

TEST(DuplicateKey, SecondaryUniqueIndexReportsKeyPatternAndValue) {
    EngineHarness h;
    h.ok(
        R"({"createIndexes": "c", "indexes": [{"key": {"a": 1, "b": -1}, "name": "ab", "unique": true}]})");
    h.ok(R"({"insert": "c", "documents": [{"_id": 1, "a": 1, "b": "x"}]})");
    Doc r = h.ok(R"({"insert": "c", "documents": [{"_id": 2, "a": 1, "b": "x"}]})");
    bson_iter_t it;
    ASSERT_TRUE(bson_iter_init(&it, r.get()) &&
                bson_iter_find_descendant(&it, "writeErrors.0", &it));
    Doc we = iter_subdoc(&it);
    EXPECT_EQ(get_int(we.get(), "code").value_or(0), 11000);
    Doc kp = iter_subdoc((bson_iter_init_find(&it, we.get(), "keyPattern"), &it));
    EXPECT_EQ(relaxed(kp.get()), normalized(R"({"a": 1, "b": -1})"));
    Doc kv = iter_subdoc((bson_iter_init_find(&it, we.get(), "keyValue"), &it));
    EXPECT_EQ(relaxed(kv.get()), normalized(R"({"a": 1, "b": "x"})"));

    Doc fam = h.fails(
        R"({"findAndModify": "c", "query": {"_id": 3}, "update": {"$set": {"a": 1, "b": "x"}}, "upsert": true})",
        11000);
    kv = iter_subdoc((bson_iter_init_find(&it, fam.get(), "keyValue"), &it));
    EXPECT_EQ(relaxed(kv.get()), normalized(R"({"a": 1, "b": "x"})"));
    kp = iter_subdoc((bson_iter_init_find(&it, fam.get(), "keyPattern"), &it));
    EXPECT_EQ(relaxed(kp.get()), normalized(R"({"a": 1, "b": -1})"));
}

// ---- fail points ----

TEST(FailPoints, WriteConcernErrorIsAddedToTheReply) {
    EngineHarness h;
    h.ok(
        R"({"configureFailPoint": "failCommand", "mode": {"times": 1}, "data": {"failCommands": ["insert"], "writeConcernError": {"code": 91, "errmsg": "Replication is being shut down"}}, "$db": "admin"})");
    Doc r =
        h.ok(R"({"insert": "c", "documents": [{"_id": 1}], "txnNumber": {"$numberLong": "1"}, )" +
             std::string(kLsid) + "}");
    EXPECT_EQ(get_int(r.get(), "n").value_or(0), 1);
    bson_iter_t it;
    ASSERT_TRUE(bson_iter_init_find(&it, r.get(), "writeConcernError"));
    Doc wce = iter_subdoc(&it);
    EXPECT_EQ(get_int(wce.get(), "code").value_or(0), 91);
    EXPECT_TRUE(has_label(r.get(), "RetryableWriteError")) << relaxed(r.get());
    // The write happened (the error is about its replication only).
    EXPECT_EQ(h.find("c").size(), 1u);
}

TEST(FailPoints, OnPrimaryTransactionalWriteDropsTheReplyAndTheRetryReplays) {
    EngineHarness h;
    h.ok(
        R"({"configureFailPoint": "onPrimaryTransactionalWrite", "mode": {"times": 1}, "$db": "admin"})");
    std::string insert =
        R"({"insert": "c", "documents": [{"_id": 1}], "txnNumber": {"$numberLong": "7"}, )" +
        std::string(kLsid) + "}";
    Outcome first = h.run_outcome(insert);
    EXPECT_TRUE(first.close);
    Doc retry = h.ok(insert);
    EXPECT_EQ(get_int(retry.get(), "n").value_or(0), 1);
    EXPECT_EQ(h.find("c").size(), 1u);
    // failBeforeCommitExceptionCode with closeConnection false: the write fails before it is
    // applied.
    h.ok(
        R"({"configureFailPoint": "onPrimaryTransactionalWrite", "mode": {"times": 1}, "data": {"failBeforeCommitExceptionCode": 91, "closeConnection": false}, "$db": "admin"})");
    Doc failed = h.fails(
        R"({"insert": "c", "documents": [{"_id": 2}], "txnNumber": {"$numberLong": "8"}, )" +
            std::string(kLsid) + "}",
        91);
    EXPECT_TRUE(has_label(failed.get(), "RetryableWriteError")) << relaxed(failed.get());
    EXPECT_EQ(h.find("c").size(), 1u);
}

TEST(FailPoints, OnPrimaryTransactionalWriteWithAnErrorCodeStillClosesTheConnectionByDefault) {
    EngineHarness h;
    h.ok(
        R"({"configureFailPoint": "onPrimaryTransactionalWrite", "mode": {"times": 1}, "data": {"failBeforeCommitExceptionCode": 91}, "$db": "admin"})");
    Outcome first = h.run_outcome(
        R"({"insert": "c", "documents": [{"_id": 2}], "txnNumber": {"$numberLong": "8"}, )" +
        std::string(kLsid) + "}");
    EXPECT_TRUE(first.close);
    EXPECT_TRUE(h.find("c").empty());  // closed before the write, not after it
}

TEST(FailPoints, SkipModeLetsTheFirstUsesPass) {
    EngineHarness h;
    h.ok(
        R"({"configureFailPoint": "failCommand", "mode": {"skip": 2}, "data": {"failCommands": ["insert"], "errorCode": 91}, "$db": "admin"})");
    h.ok(R"({"insert": "c", "documents": [{"_id": 1}]})");
    h.ok(R"({"insert": "c", "documents": [{"_id": 2}]})");
    h.fails(R"({"insert": "c", "documents": [{"_id": 3}]})", 91);
    h.fails(R"({"insert": "c", "documents": [{"_id": 4}]})", 91);  // then always
    EXPECT_EQ(h.find("c").size(), 2u);
    h.fails(R"({"configureFailPoint": "failCommand", "mode": {}, "$db": "admin"})", 2);
}

// ---- updates ----

TEST(PipelineUpdate, ResultWithoutIdKeepsTheOriginalId) {
    EngineHarness h;
    h.ok(R"({"insert": "c", "documents": [{"_id": 1, "a": 1, "b": 2}]})");
    Doc r = h.ok(
        R"({"update": "c", "updates": [{"q": {"_id": 1}, "u": [{"$project": {"_id": 0, "a": 1}}]}]})");
    EXPECT_EQ(get_int(r.get(), "nModified").value_or(0), 1) << relaxed(r.get());
    EXPECT_EQ(h.find("c"), docs({R"({"_id": 1, "a": 1})"}));
    h.ok(R"({"update": "c", "updates": [{"q": {"_id": 1}, "u": [{"$replaceWith": {"z": 9}}]}]})");
    EXPECT_EQ(h.find("c"), docs({R"({"_id": 1, "z": 9})"}));
    // A different _id is still refused.
    r = h.ok(R"({"update": "c", "updates": [{"q": {"_id": 1}, "u": [{"$set": {"_id": 2}}]}]})");
    EXPECT_NE(relaxed(r.get()).find("\"code\" : 66"), std::string::npos) << relaxed(r.get());
}

TEST(PipelineUpdate, ShrunkArrayIsReportedAsTruncated) {
    EngineHarness h;
    h.ok(
        R"({"insert": "c", "documents": [{"_id": 1, "arr": [1, 2, 3, 4], "d": {"x": 1, "y": 2}}]})");
    Doc opened = h.ok(R"({"aggregate": "c", "pipeline": [{"$changeStream": {}}], "cursor": {}})");
    h.ok(
        R"({"update": "c", "updates": [{"q": {"_id": 1}, "u": [{"$set": {"arr": [1, 9], "d": {"x": 1, "z": 3}}}]}]})");
    Doc more = h.get_more(EngineHarness::cursor_id(opened.get()), "c");
    auto events = EngineHarness::batch(more.get());
    ASSERT_EQ(events.size(), 1u);
    Doc ev = testing::json_doc(events[0]);
    bson_iter_t it;
    ASSERT_TRUE(bson_iter_init(&it, ev.get()) &&
                bson_iter_find_descendant(&it, "updateDescription", &it));
    Doc desc = iter_subdoc(&it);
    EXPECT_EQ(relaxed(desc.get()),
              normalized(R"({"updatedFields": {"arr.1": 9, "d.z": 3}, "removedFields": ["d.y"],
                             "truncatedArrays": [{"field": "arr", "newSize": 2}]})"));
}

TEST(Insert, DollarPrefixedFieldInIdIsRefused) {
    EngineHarness h;
    Doc r = h.ok(
        R"({"insert": "c", "documents": [{"_id": {"$a": 1}}, {"_id": {"b": {"$c": 1}}}, {"_id": {"ok": 1}}], "ordered": false})");
    EXPECT_EQ(get_int(r.get(), "n").value_or(-1), 1) << relaxed(r.get());
    std::string json = relaxed(r.get());
    EXPECT_NE(json.find("$a is not valid for storage"), std::string::npos) << json;
    EXPECT_NE(json.find("$c is not valid for storage"), std::string::npos) << json;
    EXPECT_EQ(h.find("c"), docs({R"({"_id": {"ok": 1}})"}));
}

// ---- transactions ----

std::string in_txn(const std::string& body, int txn, bool start = false) {
    return "{" + body + R"(, "txnNumber": {"$numberLong": ")" + std::to_string(txn) +
           R"("}, "autocommit": false, )" + (start ? R"("startTransaction": true, )" : "") + kLsid +
           "}";
}

std::vector<std::string> collection_names(EngineHarness& h) {
    Doc r = h.ok(R"({"listCollections": 1, "nameOnly": true})");
    std::vector<std::string> names;
    for (const auto& d : EngineHarness::batch(r.get())) names.push_back(d);
    return names;
}

TEST(Transactions, CollectionsAndIndexesCreatedInsideAreInvisibleUntilCommit) {
    EngineHarness h;
    h.ok(in_txn(R"("insert": "implicit", "documents": [{"_id": 1}])", 1, true));
    h.ok(in_txn(R"("create": "explicit")", 1));
    h.ok(in_txn(R"("createIndexes": "indexed", "indexes": [{"key": {"a": 1}, "name": "a_1"}])", 1));
    // The transaction sees its collections ...
    Doc own = h.ok(in_txn(R"("find": "implicit")", 1));
    EXPECT_EQ(EngineHarness::batch(own.get()), docs({R"({"_id": 1})"}));
    // ... nobody else does.
    EXPECT_TRUE(collection_names(h).empty());
    h.fails(R"({"listIndexes": "indexed"})", 26);
    h.ok(R"({"create": "explicit2"})");
    h.ok(in_txn(R"("commitTransaction": 1, "$db": "admin")", 1));
    EXPECT_EQ(collection_names(h).size(), 4u);
    Doc idx = h.ok(R"({"listIndexes": "indexed"})");
    EXPECT_EQ(EngineHarness::batch(idx.get()).size(), 2u);
    EXPECT_EQ(h.find("implicit"), docs({R"({"_id": 1})"}));
}

TEST(Transactions, AbortedTransactionLeavesNoCollection) {
    EngineHarness h;
    h.ok(in_txn(R"("insert": "implicit", "documents": [{"_id": 1}])", 1, true));
    h.ok(in_txn(R"("create": "explicit")", 1));
    h.fails(in_txn(R"("create": "explicit")", 1), 48);  // aborts the transaction
    h.fails(in_txn(R"("commitTransaction": 1, "$db": "admin")", 1), 251);
    EXPECT_TRUE(collection_names(h).empty());
}

// An upsert that meets a document held by another session's transaction, after earlier writes
// of the same batch, is a write conflict (112) like a matched update, not the internal code -1.
TEST(Transactions, UpsertBlockedAfterEarlierWritesIsAWriteConflict) {
    EngineHarness h;
    h.ok(R"({"insert": "c", "documents": [{"_id": 1}]})");
    h.ok(in_txn(R"("insert": "c", "documents": [{"_id": 2}])", 1, true));
    Doc r = h.ok(R"({"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"a": 1}}},)"
                 R"( {"q": {"_id": 2}, "u": {"$set": {"a": 2}}, "upsert": true}]})");
    EXPECT_EQ(get_int(r.get(), "n").value_or(-1), 1) << relaxed(r.get());
    bson_iter_t it, errs;
    ASSERT_TRUE(bson_iter_init_find(&it, r.get(), "writeErrors")) << relaxed(r.get());
    ASSERT_TRUE(bson_iter_recurse(&it, &errs) && bson_iter_next(&errs) &&
                BSON_ITER_HOLDS_DOCUMENT(&errs));
    bson_t err;
    uint32_t len = 0;
    const uint8_t* data = nullptr;
    bson_iter_document(&errs, &len, &data);
    ASSERT_TRUE(bson_init_static(&err, data, len));
    EXPECT_EQ(get_int(&err, "index").value_or(-1), 1) << relaxed(r.get());
    EXPECT_EQ(get_int(&err, "code").value_or(0), 112) << relaxed(r.get());
    EXPECT_EQ(h.find("c"), docs({R"({"_id": 1, "a": 1})"}));
}

// ---- fields and options ----

TEST(CommandFields, UnknownFieldsAreRefusedWith40415) {
    EngineHarness h;
    h.ok(R"({"insert": "c", "documents": [{"_id": 1}]})");
    Doc r = h.fails(R"({"find": "c", "bogus": 1})", 40415);
    EXPECT_EQ(get_string(r.get(), "errmsg").value_or(""),
              "BSON field 'find.bogus' is an unknown field.");
    r = h.fails(
        R"({"update": "c", "updates": [{"q": {}, "u": {"$set": {"a": 1}}, "sort": {"a": 1}}]})",
        40415);
    EXPECT_EQ(get_string(r.get(), "errmsg").value_or(""),
              "BSON field 'update.updates.sort' is an unknown field.");
    h.fails(R"({"delete": "c", "deletes": [{"q": {}, "limit": 1, "multi": true}]})", 40415);
    h.fails(R"({"aggregate": "c", "pipeline": [], "cursor": {}, "bogus": true})", 40415);
    // Nothing ran: the update's statement was refused as a whole.
    EXPECT_EQ(h.find("c"), docs({R"({"_id": 1})"}));
    // Generic arguments are always accepted.
    h.ok(
        R"({"find": "c", "comment": "x", "maxTimeMS": 1000, "readConcern": {"level": "local"}, "$readPreference": {"mode": "primary"}})");
}

TEST(CommandFields, CollationIsRefusedUnlessSimple) {
    EngineHarness h;
    h.ok(R"({"insert": "c", "documents": [{"_id": 1, "s": "A"}]})");
    h.fails(R"({"find": "c", "filter": {"s": "a"}, "collation": {"locale": "en", "strength": 2}})",
            115);
    h.fails(R"({"aggregate": "c", "pipeline": [], "cursor": {}, "collation": {"locale": "fr"}})",
            115);
    h.fails(
        R"({"update": "c", "updates": [{"q": {}, "u": {"$set": {"a": 1}}, "collation": {"locale": "en"}}]})",
        115);
    EXPECT_EQ(h.find("c", R"("collation": {"locale": "simple"})").size(), 1u);
}

// ---- options that were accepted and ignored: now implemented or refused ----

TEST(ExprAndLet, ExprFiltersWithLetVariables) {
    EngineHarness h;
    h.ok(
        R"({"insert": "c", "documents": [{"_id": 1, "a": 1, "b": 2}, {"_id": 2, "a": 3, "b": 2}]})");
    EXPECT_EQ(h.find("c", R"("filter": {"$expr": {"$gt": ["$a", "$b"]}})"),
              docs({R"({"_id": 2, "a": 3, "b": 2})"}));
    EXPECT_EQ(
        h.find("c", R"("filter": {"$expr": {"$eq": ["$a", "$$target"]}}, "let": {"target": 1})"),
        docs({R"({"_id": 1, "a": 1, "b": 2})"}));
    Doc r = h.ok(
        R"({"aggregate": "c", "pipeline": [{"$match": {"$expr": {"$eq": ["$_id", "$$id"]}}}, {"$project": {"_id": 0, "v": "$$v"}}], "cursor": {}, "let": {"id": 2, "v": {"$add": [40, 2]}}})");
    EXPECT_EQ(EngineHarness::batch(r.get()), docs({R"({"v": 42})"}));
    h.ok(
        R"({"update": "c", "updates": [{"q": {"$expr": {"$eq": ["$a", "$$x"]}}, "u": [{"$set": {"b": "$$y"}}]}], "let": {"x": 3, "y": "set"}})");
    h.ok(
        R"({"delete": "c", "deletes": [{"q": {"$expr": {"$lt": ["$a", "$$x"]}}, "limit": 0}], "let": {"x": 2}})");
    EXPECT_EQ(h.find("c"), docs({R"({"_id": 2, "a": 3, "b": "set"})"}));
    h.fails(R"({"find": "c", "filter": {"$expr": {"$eq": ["$a", "$$undefined"]}}})", 17276);
}

TEST(Views, ReadThroughThePipelineAndRefuseWrites) {
    EngineHarness h;
    h.ok(
        R"({"insert": "src", "documents": [{"_id": 1, "a": 1}, {"_id": 2, "a": 2}, {"_id": 3, "a": 3}]})");
    h.ok(
        R"({"create": "v", "viewOn": "src", "pipeline": [{"$match": {"a": {"$gte": 2}}}, {"$project": {"a": 1, "twice": {"$multiply": ["$a", 2]}}}]})");
    h.ok(R"({"create": "vv", "viewOn": "v", "pipeline": [{"$match": {"twice": 6}}]})");
    EXPECT_EQ(h.find("v", R"("filter": {"a": 2})"), docs({R"({"_id": 2, "a": 2, "twice": 4})"}));
    EXPECT_EQ(h.find("vv"), docs({R"({"_id": 3, "a": 3, "twice": 6})"}));
    Doc n = h.ok(R"({"count": "v"})");
    EXPECT_EQ(get_int(n.get(), "n").value_or(0), 2);
    Doc agg = h.ok(
        R"({"aggregate": "v", "pipeline": [{"$group": {"_id": null, "s": {"$sum": "$twice"}}}], "cursor": {}})");
    EXPECT_EQ(EngineHarness::batch(agg.get()), docs({R"({"_id": null, "s": 10})"}));
    h.fails(R"({"insert": "v", "documents": [{"_id": 9}]})", 166);
    h.fails(R"({"update": "v", "updates": [{"q": {}, "u": {"$set": {"x": 1}}}]})", 166);
    h.fails(R"({"delete": "v", "deletes": [{"q": {}, "limit": 0}]})", 166);
    h.fails(R"({"createIndexes": "v", "indexes": [{"key": {"a": 1}, "name": "a_1"}]})", 166);
    h.fails(R"({"aggregate": "v", "pipeline": [{"$changeStream": {}}], "cursor": {}})", 166);
    Doc list = h.ok(R"({"listCollections": 1, "filter": {"name": "v"}})");
    auto entries = EngineHarness::batch(list.get());
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_NE(entries[0].find(R"("type" : "view")"), std::string::npos) << entries[0];
    EXPECT_NE(entries[0].find(R"("viewOn" : "src")"), std::string::npos) << entries[0];
    h.fails(R"({"create": "bad", "pipeline": []})", 2);
    h.fails(R"({"create": "bad", "viewOn": "src", "pipeline": [{"$bogus": 1}]})", 40324);
}

TEST(Validators, CreateAndCollModValidatorsAreEnforced) {
    EngineHarness h;
    h.ok(R"({"create": "c", "validator": {"a": {"$type": "int"}}})");
    h.ok(R"({"insert": "c", "documents": [{"_id": 1, "a": 1}]})");
    Doc r = h.ok(R"({"insert": "c", "documents": [{"_id": 2, "a": "no"}]})");
    EXPECT_NE(relaxed(r.get()).find(R"("code" : 121)"), std::string::npos) << relaxed(r.get());
    EXPECT_NE(relaxed(r.get()).find("errInfo"), std::string::npos) << relaxed(r.get());
    h.ok(
        R"({"insert": "c", "documents": [{"_id": 3, "a": "bypassed"}], "bypassDocumentValidation": true})");
    r = h.ok(R"({"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"a": "no"}}}]})");
    EXPECT_NE(relaxed(r.get()).find(R"("code" : 121)"), std::string::npos) << relaxed(r.get());
    h.fails(R"({"findAndModify": "c", "query": {"_id": 1}, "update": {"$set": {"a": "no"}}})", 121);
    // moderate: documents that already fail may be updated; action warn: everything passes.
    h.ok(R"({"collMod": "c", "validationLevel": "moderate"})");
    r = h.ok(R"({"update": "c", "updates": [{"q": {"_id": 3}, "u": {"$set": {"b": 1}}}]})");
    EXPECT_EQ(get_int(r.get(), "nModified").value_or(0), 1) << relaxed(r.get());
    h.ok(R"({"collMod": "c", "validator": {"a": {"$exists": true}}, "validationAction": "warn"})");
    r = h.ok(R"({"insert": "c", "documents": [{"_id": 4}]})");
    EXPECT_EQ(get_int(r.get(), "n").value_or(0), 1) << relaxed(r.get());
    h.fails(R"({"collMod": "c", "validationLevel": "sometimes"})", 2);
    h.fails(R"({"collMod": "missing", "validator": {}})", 26);
    h.fails(R"({"collMod": "c", "index": {"name": "x", "hidden": true}})", 115);
}

TEST(ReadConcern, SnapshotReadsReportTheirTimeAndRefuseHistory) {
    EngineHarness h;
    h.ok(R"({"insert": "c", "documents": [{"_id": 1}]})");
    Doc r = h.ok(R"({"find": "c", "readConcern": {"level": "snapshot"}})");
    bson_iter_t it;
    ASSERT_TRUE(bson_iter_init(&it, r.get()) &&
                bson_iter_find_descendant(&it, "cursor.atClusterTime", &it));
    ASSERT_TRUE(BSON_ITER_HOLDS_TIMESTAMP(&it));
    uint32_t t, i;
    bson_iter_timestamp(&it, &t, &i);
    std::string at =
        R"({"$timestamp": {"t": )" + std::to_string(t) + R"(, "i": )" + std::to_string(i) + "}}";
    // The same point in time again: served.
    h.ok(R"({"find": "c", "readConcern": {"level": "snapshot", "atClusterTime": )" + at + "}}");
    Doc d = h.ok(R"({"distinct": "c", "key": "_id", "readConcern": {"level": "snapshot"}})");
    EXPECT_TRUE(bson_has_field(d.get(), "atClusterTime"));
    // After a write, that point is history: a clear error, not the newer data.
    h.ok(R"({"insert": "c", "documents": [{"_id": 2}]})");
    h.fails(R"({"find": "c", "readConcern": {"level": "snapshot", "atClusterTime": )" + at + "}}",
            239);
    h.fails(R"({"count": "c", "readConcern": {"level": "snapshot"}})", 72);
}

TEST(ChangeStreams, ShowExpandedEventsIsRefusedNotIgnored) {
    EngineHarness h;
    h.ok(R"({"create": "c"})");
    h.fails(
        R"({"aggregate": "c", "pipeline": [{"$changeStream": {"showExpandedEvents": true}}], "cursor": {}})",
        40415);
    h.ok(
        R"({"aggregate": "c", "pipeline": [{"$changeStream": {"showExpandedEvents": false}}], "cursor": {}})");
}

TEST(WriteConcern, MoreNodesThanTheSetHasIsAWriteConcernError) {
    EngineHarness h;
    Doc r = h.ok(R"({"insert": "c", "documents": [{"_id": 1}], "writeConcern": {"w": 2}})");
    EXPECT_NE(relaxed(r.get()).find(R"("writeConcernError" : { "code" : 100)"), std::string::npos)
        << relaxed(r.get());
    r = h.ok(R"({"insert": "c", "documents": [{"_id": 2}], "writeConcern": {"w": "dc1"}})");
    EXPECT_NE(relaxed(r.get()).find(R"("code" : 79)"), std::string::npos) << relaxed(r.get());
    r = h.ok(
        R"({"insert": "c", "documents": [{"_id": 3}], "writeConcern": {"w": "majority", "j": true}})");
    EXPECT_FALSE(bson_has_field(r.get(), "writeConcernError"));
}

// ---- field order ----

TEST(UpdateFieldOrder, NewFieldsLandInLexicographicOrderWithNumbersByValue) {
    EngineHarness h;
    h.ok(R"({"insert": "c", "documents": [{"_id": 1, "m": 0}, {"_id": 2}, {"_id": 3}]})");
    // Top-level $set (the direct path).
    h.ok(
        R"({"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"b": 1, "a": 1, "10": 1, "9": 1, "m": 1}}}]})");
    // Dotted paths and several operators (the general path).
    h.ok(
        R"({"update": "c", "updates": [{"q": {"_id": 2}, "u": {"$set": {"z": 1, "x.b": 1, "x.a": 2}, "$inc": {"y": 1}}}]})");
    // An upsert.
    h.ok(
        R"({"update": "c", "updates": [{"q": {"_id": 4}, "u": {"$set": {"b": 1, "a": 2}}, "upsert": true}]})");
    EXPECT_EQ(h.find("c", R"("filter": {"_id": {"$ne": 3}})"),
              docs({R"({"_id": 1, "m": 1, "9": 1, "10": 1, "a": 1, "b": 1})",
                    R"({"_id": 2, "x": {"a": 2, "b": 1}, "y": 1, "z": 1})",
                    R"({"_id": 4, "a": 2, "b": 1})"}));
}

}  // namespace
}  // namespace standin
