// The connector's full import against a MongoDB (a stand-in, or OUTPOST_TEST_MONGO_URI): reading
// everything then streaming, progress, the automatic first import, and the import after the
// change stream's history was lost.
#include "connector_fixture.hpp"

namespace outpost::mongo {
namespace {

TEST_F(ConnectorTest, ImportReadsEverythingThenStreams) {
    for (int i = 0; i < 250; ++i) {
        mongo().insert("items", R"({"_id": {"$numberInt": ")" + std::to_string(i) +
                                    R"("}, "i32": )" + std::to_string(i) + "}");
    }
    open();
    // A server object that MongoDB does not have goes; one that MongoDB has differently is updated.
    auto box = store_->box("Item").value();
    Object stale = box.new_object();
    (void)stale.set("name", Value("stale"));
    ASSERT_OK(box.put(stale));
    auto o = options();
    o.import_batch = 100;
    auto c = Connector::create(store_, o).value();
    std::vector<ImportProgress> progress;
    auto stats = c->run_import([&](const ImportProgress& p) { progress.push_back(p); });
    ASSERT_OK(stats);
    EXPECT_EQ(stats->docs_read, 250u);
    EXPECT_EQ(stats->added, 250u);
    EXPECT_EQ(box.count().value(), 251u);
    ASSERT_FALSE(progress.empty());
    EXPECT_TRUE(progress.back().finished);
    EXPECT_EQ(progress.back().docs_done, 250u);
    EXPECT_NE(format_progress(progress.back()).find("all collections 250/250"), std::string::npos)
        << format_progress(progress.back());
    // The stale object was never written to MongoDB (the connector was not running), so it is
    // pending outbound and kept; MongoDB gets it once the connector runs.
    EXPECT_EQ(stats->removed, 0u);
    auto status = c->status();
    ASSERT_EQ(status.import_runs.size(), 1u);
    EXPECT_TRUE(status.import_runs[0].error.empty());
    // Changes made after the import's start point stream in.
    mongo().update("items", R"({"_id": 7})", R"({"$set": {"i32": 700}})");
    connector_ = std::move(c);
    ASSERT_OK(connector_->start(nullptr));
    ASSERT_TRUE(wait_until([&] {
        return get("Item", std::string("\x10\x07\x00\x00\x00", 5))->get("i32") ==
               Value(int64_t{700});
    }));
    ASSERT_TRUE(wait_until([&] { return mongo().count("items") == 251; }));
    // A second import while running: documents deleted in MongoDB behind the stream's back are
    // removed.
    connector_->stop();
    bson_error_t err;
    Bson all = bson(R"({"_id": {"$lt": 10}})");
    ASSERT_TRUE(mongoc_collection_delete_many(mongo().collection("items").get(), all.get(), nullptr,
                                              nullptr, &err));
    {
        // Forget the stream position, as if the oplog had moved on.
        ASSERT_OK(store_->write([](WriteTxn& t) { return remove_meta(t, "mongo:resume_token"); }));
    }
    ASSERT_OK(connector_->start(nullptr));
    auto again = connector_->run_import(nullptr);
    ASSERT_OK(again);
    EXPECT_EQ(again->removed, 10u);
    EXPECT_EQ(again->added, 0u);
    EXPECT_EQ(box.count().value(), 241u);
}

TEST_F(ConnectorTest, ImportOf100kDocumentsWithProgress) {
    const int kDocs = 100000;
    auto coll = mongo().collection("items");
    auto** docs = static_cast<bson_t**>(bson_malloc(sizeof(bson_t*) * 1000));
    for (int done = 0; done < kDocs; done += 1000) {
        for (int i = 0; i < 1000; ++i) {
            docs[i] = BCON_NEW("_id", BCON_INT32(done + i), "label", BCON_UTF8("imported"), "i32",
                               BCON_INT32(i), "tags", "[", BCON_UTF8("a"), "]", "unmapped",
                               BCON_BOOL(true));
        }
        bson_error_t err;
        bool ok = mongoc_collection_insert_many(coll.get(), const_cast<const bson_t**>(docs), 1000,
                                                nullptr, nullptr, &err);
        for (int i = 0; i < 1000; ++i) bson_destroy(docs[i]);
        ASSERT_TRUE(ok) << err.message;
    }
    bson_free(docs);
    open();
    auto c = Connector::create(store_, options()).value();
    std::vector<ImportProgress> progress;
    auto stats = c->run_import([&](const ImportProgress& p) {
        std::printf("%s\n", format_progress(p).c_str());
        progress.push_back(p);
    });
    ASSERT_OK(stats);
    std::printf("imported %llu documents in %.2f s (%.0f docs/s)\n",
                static_cast<unsigned long long>(stats->docs_read), stats->seconds,
                stats->docs_per_s);
    EXPECT_EQ(stats->docs_read, static_cast<uint64_t>(kDocs));
    EXPECT_EQ(stats->added, static_cast<uint64_t>(kDocs));
    EXPECT_EQ(store_->box("Item").value().count().value(), static_cast<uint64_t>(kDocs));
    ASSERT_FALSE(progress.empty());
    EXPECT_TRUE(progress.back().finished);
    EXPECT_EQ(progress.back().docs_total, static_cast<uint64_t>(kDocs));
    for (size_t i = 1; i < progress.size(); ++i)
        EXPECT_LE(progress[i - 1].docs_done, progress[i].docs_done);
    // A second import finds nothing to change.
    auto again = c->run_import(nullptr);
    ASSERT_OK(again);
    EXPECT_EQ(again->added + again->updated + again->removed, 0u);
}

TEST_F(ConnectorTest, AutomaticInitialImportOnFirstStart) {
    for (int i = 0; i < 20; ++i)
        mongo().insert("Tag", R"({"_id": "t)" + std::to_string(i) + R"(", "title": "x"})");
    auto o = logged(options());
    o.automatic_initial_import = true;
    start(o);
    ASSERT_TRUE(wait_until([&] { return store_->box("Tag").value().count().value() == 20; }));
    ASSERT_TRUE(wait_until([&] { return connector_->status().import_runs.size() == 1; }));
    auto run = connector_->status().import_runs[0];
    EXPECT_TRUE(run.automatic);
    EXPECT_NE(run.reason.find("automaticInitialImport"), std::string::npos) << run.reason;
    // The operator can tell from the log that it ran, why, and what it recovered.
    auto lines = info_lines("MongoDB import");
    EXPECT_TRUE(has_line(lines, {"MongoDB import started (automaticInitialImport"})) << all_log();
    EXPECT_TRUE(has_line(
        lines, {"MongoDB import: Tag (2/2) read: 20 documents read; objects 20 added, 0 updated, "
                "0 removed; 0 dead letters"}))
        << all_log();
    EXPECT_TRUE(has_line(lines, {"MongoDB import: items (1/2) read: 0 documents read"}))
        << all_log();
    EXPECT_TRUE(has_line(lines, {"MongoDB import finished (automaticInitialImport",
                                 "2 collections, 20 documents read; "
                                 "objects 20 added, 0 updated, 0 removed; 0 dead letters"}))
        << all_log();
}

// The progress of each collection counts that collection's documents: after 300 items, the line of
// the empty Tag collection reads 0/0, not 300/300.
TEST_F(ConnectorTest, ImportProgressCountsEachCollectionByItself) {
    for (int i = 0; i < 300; ++i)
        mongo().insert("items", R"({"_id": "i)" + std::to_string(i) + R"("})");
    open();
    auto o = logged(options());
    o.import_batch = 100;
    auto c = Connector::create(store_, o).value();
    std::vector<ImportProgress> progress;
    auto stats = c->run_import([&](const ImportProgress& p) { progress.push_back(p); });
    ASSERT_OK(stats);
    ASSERT_FALSE(progress.empty());
    bool items_read = false, tag_read = false;
    for (const auto& p : progress) {
        EXPECT_EQ(p.collections, 2u);
        EXPECT_LE(p.docs_done, p.docs_total);
        EXPECT_LE(p.collection_docs_done, p.collection_docs_total);
        if (p.collection == "items") {
            EXPECT_EQ(p.collection_index, 1u);
            EXPECT_EQ(p.collection_docs_done, p.docs_done);
            EXPECT_EQ(p.collection_docs_total, 300u);
            items_read = items_read || (p.collection_finished && p.collection_docs_done == 300);
        } else {
            ASSERT_EQ(p.collection, "Tag");
            EXPECT_EQ(p.collection_index, 2u);
            EXPECT_EQ(p.collection_docs_done, 0u);
            EXPECT_EQ(p.collection_docs_total, 0u);
            EXPECT_EQ(p.docs_done, 300u);
            if (p.collection_finished) {
                tag_read = true;
                std::string line = format_progress(p);
                EXPECT_NE(line.find("import Tag (2/2): docs 0/0"), std::string::npos) << line;
                EXPECT_NE(line.find("all collections 300/300"), std::string::npos) << line;
            }
        }
    }
    EXPECT_TRUE(items_read) << "no progress at the end of items";
    EXPECT_TRUE(tag_read) << "no progress at the end of Tag";
    EXPECT_TRUE(progress.back().finished);
    EXPECT_EQ(progress.back().docs_total, 300u);
    ASSERT_EQ(stats->by_collection.size(), 2u);
    EXPECT_EQ(stats->by_collection[0].collection, "items");
    EXPECT_EQ(stats->by_collection[0].docs_read, 300u);
    EXPECT_EQ(stats->by_collection[0].added, 300u);
    EXPECT_EQ(stats->by_collection[1].collection, "Tag");
    EXPECT_EQ(stats->by_collection[1].docs_read, 0u);
    // An import someone asked for logs the same lines as the automatic ones.
    auto lines = info_lines("MongoDB import");
    EXPECT_TRUE(has_line(lines, {"MongoDB import started (requested)"})) << all_log();
    EXPECT_TRUE(has_line(
        lines, {"MongoDB import: items (1/2) read: 300 documents read; objects 300 added"}))
        << all_log();
    EXPECT_TRUE(has_line(
        lines, {"MongoDB import finished (requested)", "300 documents read; objects 300 added"}))
        << all_log();
    EXPECT_EQ(c->status().import_runs.back().reason, "requested");
}

TEST_F(ConnectorTest, HistoryLostTriggersAnImportAndConverges) {
    standin_args_ = {"--oplog-size", "10"};
    start(logged(options()));
    Gid a = put_item([](Object& o) { (void)o.set("name", Value("before")); });
    ASSERT_TRUE(wait_until([&] { return mongo().count("items", id_json(a)) == 1 && caught_up(); }));
    connector_->stop();
    for (int i = 0; i < 30; ++i)
        mongo().insert("items", R"({"_id": "lost)" + std::to_string(i) + R"(", "i32": 1})");
    mongo().remove("items", id_json(a));
    Gid b = put_item([](Object& o) { (void)o.set("name", Value("device while stopped")); });
    if (mongo().external()) {
        // A real oplog does not shrink on demand: store a point that cannot be resumed instead.
        ASSERT_OK(store_->write([](WriteTxn& t) -> Status {
            Bson tok = bson(R"({"_data": "00"})");
            return put_meta(
                t, "mongo:resume_token",
                std::string_view(reinterpret_cast<const char*>(bson_get_data(tok.get())),
                                 tok.get()->len));
        }));
    }
    restart_connector(logged(options()));
    ASSERT_TRUE(wait_until([&] { return connector_->status().import_runs.size() == 1; }));
    auto run = connector_->status().import_runs[0];
    EXPECT_TRUE(run.automatic);
    EXPECT_TRUE(run.error.empty()) << run.error;
    // The log says that the import ran because the history was lost, and what it recovered: 30
    // documents added, the one deleted meanwhile removed. (The device's write may reach MongoDB
    // before the import reads: 30 or 31 documents read.)
    auto lines = info_lines("MongoDB import");
    EXPECT_TRUE(has_line(lines, {"MongoDB import started (change-stream history lost"}))
        << all_log();
    EXPECT_TRUE(has_line(
        lines, {"MongoDB import: items (1/2) read: ",
                " documents read; objects 30 added, 0 updated, 1 removed; 0 dead letters"}))
        << all_log();
    EXPECT_TRUE(has_line(lines, {"MongoDB import finished (change-stream history lost",
                                 "objects 30 added, 0 updated, 1 removed; 0 dead letters"}))
        << all_log();
    ASSERT_TRUE(wait_until([&] { return store_->box("Item").value().count().value() == 31; }));
    EXPECT_FALSE(get("Item", a).has_value());  // deleted in MongoDB while the history was lost
    ASSERT_TRUE(get("Item", b).has_value());   // the device's write was pending, so it stays ...
    ASSERT_TRUE(wait_until(
        [&] { return mongo().count("items", id_json(b)) == 1; }));  // ... and reaches MongoDB
    // The stream continues after the import.
    mongo().insert("items", R"({"_id": "after-import"})");
    ASSERT_TRUE(wait_until([&] {
        return get("Item", std::string("\x02"
                                       "after-import"))
            .has_value();
    }));
}

}  // namespace
}  // namespace outpost::mongo
