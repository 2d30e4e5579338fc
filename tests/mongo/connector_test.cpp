// The connector against a MongoDB (a stand-in, or OUTPOST_TEST_MONGO_URI): outbound, inbound,
// echoes, positions, dead letters, faults (the import: connector_import_test.cpp).
#include "connector_fixture.hpp"

namespace outpost::mongo {
namespace {

TEST_F(ConnectorTest, CreateChecksOptions) {
    open();
    ConnectorOptions o;
    o.database = "db";
    EXPECT_EQ(Connector::create(store_, o).status().code(), ErrorCode::kInvalidArgument);
    o.url = "http://nope";
    EXPECT_EQ(Connector::create(store_, o).status().code(), ErrorCode::kInvalidArgument);
    o.url = "mongodb://127.0.0.1:1/";
    o.database = "a.b";
    auto bad_db = Connector::create(store_, o);
    ASSERT_FALSE(bad_db.is_ok());
    EXPECT_NE(bad_db.status().message().find("not a MongoDB database name"), std::string::npos);
}

// A standalone mongod (no replica set) has neither change streams nor transactions: the connector
// refuses it at start with a message that says what to do, and writes nothing.
TEST_F(ConnectorTest, StandaloneServerIsRefusedWithWhatToDo) {
    open();
    outpost::testing::StandInProcess::Options so;
    so.extra = {"--standalone"};
    outpost::testing::StandInProcess standalone(so);
    ConnectorOptions o;
    o.url = "mongodb://" + standalone.host_port() + "/?serverSelectionTimeoutMS=3000";
    o.database = "db";
    auto c = Connector::create(store_, o).value();
    Status s = c->check_deployment();
    EXPECT_EQ(s.code(), ErrorCode::kMongoDeployment) << s.to_string();
    EXPECT_NE(s.message().find("standalone server"), std::string::npos) << s.to_string();
    EXPECT_NE(s.message().find("--replSet"), std::string::npos) << s.to_string();
    Status started = c->start(nullptr);
    EXPECT_EQ(started.code(), ErrorCode::kMongoDeployment) << started.to_string();
    EXPECT_EQ(c->status().outbound_position, 0u);
}

TEST_F(ConnectorTest, UnreachableServerIsAClearError) {
    open();
    ConnectorOptions o;
    o.url = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300";
    o.database = "db";
    auto c = Connector::create(store_, o).value();
    Status s = c->check_deployment();
    EXPECT_EQ(s.code(), ErrorCode::kMongoConnection);
    EXPECT_NE(s.message().find("cannot reach MongoDB"), std::string::npos) << s.to_string();
    EXPECT_FALSE(c->start(nullptr).is_ok());
}

// A wait for a server that does not come ends when the connector is told to stop, well before the
// URL's serverSelectionTimeoutMS (30 s by default).
TEST_F(ConnectorTest, RequestStopEndsAWaitForAnUnreachableServer) {
    open();
    ConnectorOptions o;
    o.url = "mongodb://127.0.0.1:1/?replicaSet=rs0";
    o.database = "db";
    auto c = Connector::create(store_, o).value();
    for (int call = 0; call < 2; ++call) {
        auto done = std::async(std::launch::async, [&] {
            return call == 0 ? c->check_deployment() : c->run_import(nullptr).status();
        });
        c->request_stop();
        ASSERT_EQ(done.wait_for(std::chrono::seconds(10)), std::future_status::ready)
            << "call " << call;
        Status s = done.get();
        EXPECT_EQ(s.code(), ErrorCode::kIllegalState) << s.to_string();
    }
    c->stop();
}

// MongoDB killed under a running connector: stop() does not wait for libmongoc's server selection.
TEST_F(ConnectorTest, StopIsPromptAfterMongoDbWentAway) {
    if (mongo().external()) GTEST_SKIP() << "needs a stand-in to kill";
    // The URL with libmongoc's default timeouts.
    auto o = options();
    o.url = "mongodb://" + mongo().standin()->host_port() + "/?replicaSet=rs0";
    start(o);
    Gid a = put_item([](Object& obj) { (void)obj.set("name", Value("a")); });
    ASSERT_TRUE(wait_until([&] { return mongo().count("items", id_json(a)) == 1 && caught_up(); }));
    mongo().standin()->kill_now();
    ASSERT_TRUE(wait_until([&] { return !connector_->status().last_error.empty(); }));
    put_item(
        [](Object& obj) { (void)obj.set("name", Value("b")); });  // the writer has work to retry
    auto stopped = std::async(std::launch::async, [&] { connector_->stop(); });
    ASSERT_EQ(stopped.wait_for(std::chrono::seconds(10)), std::future_status::ready)
        << "stop() still waiting 10 s later";
    stopped.get();
    EXPECT_FALSE(connector_->status().running);
}

TEST_F(ConnectorTest, DeploymentCheckPassesOnAReplicaSet) {
    open();
    auto c = Connector::create(store_, options()).value();
    Status s = c->check_deployment();
    EXPECT_OK(s);
}

TEST_F(ConnectorTest, ServerIdIsMadeOnceAndKept) {
    open();
    auto a = Connector::create(store_, options()).value();
    auto b = Connector::create(store_, options()).value();
    EXPECT_FALSE(a->status().server_id.empty());
    EXPECT_EQ(a->status().server_id, b->status().server_id);
}

TEST_F(ConnectorTest, DevicePutBecomesADocumentWithMarkerFirst) {
    start();
    Gid owner = put_item([](Object& o) { (void)o.set("name", Value("owner")); });
    Gid g = put_item([&](Object& o) {
        (void)o.set("name", Value("milk"));
        (void)o.set("i32", Value(int64_t{3}));
        (void)o.set("tags", Value(Value::StringVector{"a", "b"}));
        (void)o.set("owner", Value(int64_t{1}));
    });
    ASSERT_TRUE(wait_until([&] { return mongo().count("items", id_json(g)) == 1; }));
    auto doc = mongo().find_one("items", id_json(g)).value();
    EXPECT_EQ(field_json(doc, "label"), R"({ "v" : "milk" })");
    EXPECT_EQ(field_json(doc, "i32"), R"({ "v" : 3 })");
    EXPECT_EQ(field_json(doc, "tags"), R"({ "v" : [ "a", "b" ] })");
    EXPECT_EQ(field_json(doc, "owner"),
              "{ \"v\" : " + id_json(owner).substr(10, id_json(owner).size() - 12) + " }");
    EXPECT_EQ(field_json(doc, "flag"),
              R"({ "v" : null })");  // a new object writes every mapped field
    EXPECT_EQ(field_json(doc, "children"), R"({ "v" : [  ] })");
    EXPECT_EQ(field_json(doc, "id"), "missing");  // the local id never reaches MongoDB
    ASSERT_TRUE(wait_until([&] { return caught_up(); }));
    auto marker = mongo().find_one(kMetaCollection,
                                   R"({"_id": "server:)" + connector_->status().server_id + "\"}");
    ASSERT_TRUE(marker.has_value());
    EXPECT_EQ(field_json(*marker, "position"), "{ \"v\" : " + std::to_string(head()) + " }");
    auto st = connector_->status();
    EXPECT_GE(st.outbound_txns, 1u);
    EXPECT_EQ(st.outbound_docs, 2u);
    EXPECT_EQ(st.outbound_records, 2u);
}

TEST_F(ConnectorTest, UpdatesTouchOnlyChangedFieldsAndUnmappedFieldsSurvive) {
    start();
    uint64_t id = 0;
    Gid g = put_item(
        [](Object& o) {
            (void)o.set("name", Value("a"));
            (void)o.set("i64", Value(int64_t{1}));
        },
        &id);
    ASSERT_TRUE(wait_until([&] { return mongo().count("items", id_json(g)) == 1; }));
    mongo().update("items", id_json(g),
                   R"({"$set": {"notInModel": {"keep": [1, 2]}, "alsoKept": "x"}})");
    ASSERT_TRUE(wait_until([&] { return connector_->status().inbound_events >= 1; }));
    auto box = store_->box("Item").value();
    auto o = box.get(id).value().value();
    (void)o.set("i64", Value(int64_t{2}));
    ASSERT_OK(box.put(o));
    ASSERT_TRUE(wait_until([&] {
        auto d = mongo().find_one("items", id_json(g));
        return d && field_json(*d, "i64") == R"({ "v" : 2 })";
    }));
    auto doc = mongo().find_one("items", id_json(g)).value();
    EXPECT_EQ(field_json(doc, "notInModel.keep"), R"({ "v" : [ 1, 2 ] })");
    EXPECT_EQ(field_json(doc, "alsoKept"), R"({ "v" : "x" })");
    EXPECT_EQ(field_json(doc, "label"), R"({ "v" : "a" })");
    // A remove deletes by _id.
    ASSERT_TRUE(box.remove(id).value());
    ASSERT_TRUE(wait_until([&] { return mongo().count("items", id_json(g)) == 0; }));
}

TEST_F(ConnectorTest, MongoInsertUpdateReplaceDeleteReachTheServer) {
    start();
    mongo().insert("items",
                   R"({"_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}, "label": "from mongo", "i32": 5,
                               "extra": {"a": {"b": 1}}, "unmapped": true})");
    Gid g = std::string("\x07", 1) +
            std::string("\x65\xa1\xb2\xc3\xd4\xe5\xf6\x07\x18\x29\x3a\x4b", 12);
    ASSERT_TRUE(wait_until([&] { return get("Item", g).has_value(); }));
    auto o = get("Item", g).value();
    EXPECT_EQ(o.get("name"), Value("from mongo"));
    EXPECT_EQ(o.get("i32"), Value(int64_t{5}));
    EXPECT_TRUE(o.get("flag").is_null());
    // The record is server history from the connector.
    auto recs = records();
    ASSERT_FALSE(recs.empty());
    EXPECT_EQ(recs.back().origin, kOrigin);
    EXPECT_TRUE(wait_until([&] { return commits_.load() >= 1; }));

    mongo().update("items", R"({"_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}})",
                   R"({"$set": {"i32": 6}, "$unset": {"label": ""}})");
    ASSERT_TRUE(wait_until([&] { return get("Item", g)->get("i32") == Value(int64_t{6}); }));
    EXPECT_TRUE(get("Item", g)->get("name").is_null());

    // A dotted path into a flex field reads the document.
    mongo().update("items", R"({"_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}})",
                   R"({"$set": {"extra.a.c": "x"}})");
    ASSERT_TRUE(wait_until([&] {
        return get("Item", g)->get("extra") ==
               Value(Flex(
                   Flex::Map{{"a", Flex(Flex::Map{{"b", Flex(int64_t{1})}, {"c", Flex("x")}})}}));
    }));
    EXPECT_GE(connector_->status().lookups, 1u);

    mongo().replace("items", R"({"_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}})",
                    R"({"label": "replaced"})");
    ASSERT_TRUE(wait_until([&] { return get("Item", g)->get("name") == Value("replaced"); }));
    EXPECT_TRUE(get("Item", g)->get("i32").is_null());

    mongo().remove("items", R"({"_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}})");
    ASSERT_TRUE(wait_until([&] { return !get("Item", g).has_value(); }));
    // Nothing of this went back to MongoDB: the connector skips its own records.
    ASSERT_TRUE(wait_until([&] { return caught_up(); }));
    EXPECT_EQ(connector_->status().outbound_docs, 0u);
}

TEST_F(ConnectorTest, EveryIdTypeArrives) {
    start();
    const char* ids[] = {R"({"$binary": {"base64": "AZChssPUfl+Ka3yNng8aKw==", "subType": "04"}})",
                         R"("a string")", R"({"$numberInt": "42"})",
                         R"({"$numberLong": "4200000000000"})",
                         R"({"$binary": {"base64": "AQID", "subType": "80"}})"};
    for (const char* id : ids)
        mongo().insert("Tag", std::string(R"({"_id": )") + id + R"(, "title": "t"})");
    ASSERT_TRUE(wait_until([&] { return store_->box("Tag").value().count().value() == 5; }));
    // And they go back out under the same _id.
    auto box = store_->box("Tag").value();
    auto rtxn = store_->begin_read().value();
    auto all = box.get_all(rtxn).value();
    rtxn.close();
    for (auto& o : all) {
        (void)o.set("weight", Value(1.5));
        ASSERT_OK(box.put(o));
    }
    ASSERT_TRUE(wait_until([&] { return mongo().count("Tag", R"({"weight": 1.5})") == 5; }));
    EXPECT_EQ(mongo().count("Tag"), 5);
}

TEST_F(ConnectorTest, MongoTransactionArrivesAsOneServerTransaction) {
    start();
    uint64_t before = head();
    mongo().transaction([&](Bson& opts) {
        bson_error_t err;
        for (int i = 0; i < 2; ++i) {
            Bson d = bson(R"({"_id": "t)" + std::to_string(i) + R"(", "label": "in txn"})");
            ASSERT_TRUE(mongoc_collection_insert_one(mongo().collection("items").get(), d.get(),
                                                     opts.get(), nullptr, &err))
                << err.message;
        }
        Bson tag = bson(R"({"_id": "tag", "title": "x", "items": ["t0", "t1", "t0"]})");
        ASSERT_TRUE(mongoc_collection_insert_one(mongo().collection("Tag").get(), tag.get(),
                                                 opts.get(), nullptr, &err))
            << err.message;
    });
    ASSERT_TRUE(wait_until([&] { return get("Tag", std::string("\x02tag")).has_value(); }));
    auto recs = records(before);
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].changes.objects.size(), 3u);
    // The counters follow the store's commit.
    ASSERT_TRUE(wait_until([&] { return connector_->status().inbound_events >= 3u; }));
    EXPECT_EQ(connector_->status().inbound_events, 3u);
    // The to-many keeps order and duplicates.
    auto tag = get("Tag", std::string("\x02tag")).value();
    auto items = tag.get_to_many("items");
    ASSERT_EQ(items.size(), 3u);
    EXPECT_EQ(items[0], items[2]);
    EXPECT_NE(items[0], items[1]);
}

TEST_F(ConnectorTest, UnknownRelationTargetsResolveWhenTheyArrive) {
    start();
    mongo().insert("items",
                   R"({"_id": "parent", "owner": "later", "children": ["later", "later2"]})");
    ASSERT_TRUE(wait_until([&] { return get("Item", std::string("\x02parent")).has_value(); }));
    auto parent = get("Item", std::string("\x02parent")).value();
    ASSERT_NE(parent.get("owner"), Value());
    EXPECT_EQ(parent.get_to_many("children").size(), 2u);
    mongo().insert("items", R"({"_id": "later", "label": "arrived"})");
    ASSERT_TRUE(wait_until([&] { return get("Item", std::string("\x02later")).has_value(); }));
    auto later = get("Item", std::string("\x02later")).value();
    EXPECT_EQ(parent.get("owner"), Value(static_cast<int64_t>(later.id)));
    EXPECT_EQ(parent.get_to_many("children")[0], later.id);
}

TEST_F(ConnectorTest, OwnWritesAreNotAppliedAgain) {
    start();
    for (int i = 0; i < 5; ++i) put_item([&](Object& o) { (void)o.set("i32", Value(int64_t{i})); });
    ASSERT_TRUE(wait_until([&] { return connector_->status().echoes_skipped >= 5; }));
    ASSERT_TRUE(wait_until([&] { return caught_up(); }));
    for (const auto& r : records())
        EXPECT_NE(r.origin, kOrigin) << "record " << r.position << " echoed back";
    EXPECT_EQ(connector_->status().inbound_events, 0u);
}

TEST_F(ConnectorTest, PositionsSurviveARestartWithoutLossOrRepeats) {
    start();
    for (int i = 0; i < 10; ++i)
        put_item([&](Object& o) { (void)o.set("i32", Value(int64_t{i})); });
    ASSERT_TRUE(wait_until([&] { return caught_up() && mongo().count("items") == 10; }));
    connector_->stop();
    // While stopped: device writes and MongoDB writes.
    for (int i = 0; i < 3; ++i)
        put_item([&](Object& o) { (void)o.set("i32", Value(int64_t{100 + i})); });
    mongo().insert("items", R"({"_id": "while-stopped", "label": "m"})");
    restart_connector(options());
    ASSERT_TRUE(
        wait_until([&] { return get("Item", std::string("\x02while-stopped")).has_value(); }));
    ASSERT_TRUE(wait_until([&] { return caught_up() && mongo().count("items") == 14; }));
    // The counters follow the store transaction that applied the event.
    EXPECT_TRUE(wait_until([&] { return connector_->status().inbound_events >= 1; }));
    auto st = connector_->status();
    EXPECT_EQ(st.outbound_docs, 3u);  // only the three new ones: nothing written twice
    EXPECT_EQ(st.inbound_events, 1u);
    EXPECT_FALSE(st.resume_token.empty());
}

TEST_F(ConnectorTest, ConcurrentEditsConvergeInMongoOrder) {
    start();
    uint64_t id = 0;
    Gid g = put_item(
        [](Object& o) {
            (void)o.set("name", Value("v0"));
            (void)o.set("i32", Value(int64_t{0}));
        },
        &id);
    ASSERT_TRUE(wait_until([&] { return mongo().count("items", id_json(g)) == 1 && caught_up(); }));
    connector_->stop();
    // The same field edited on both sides while the connector is down, and one field on each side.
    auto box = store_->box("Item").value();
    auto o = box.get(id).value().value();
    (void)o.set("name", Value("device"));
    (void)o.set("i64", Value(int64_t{64}));
    ASSERT_OK(box.put(o));
    mongo().update("items", id_json(g), R"({"$set": {"label": "mongo", "i32": 32}})");
    restart_connector(options());
    // The device's write reaches MongoDB after the MongoDB user's: it wins there, so it stays on
    // the server.
    ASSERT_TRUE(wait_until([&] {
        auto d = mongo().find_one("items", id_json(g));
        return caught_up() && d && field_json(*d, "label") == R"({ "v" : "device" })" &&
               get("Item", g)->get("i32") == Value(int64_t{32});
    }));
    auto doc = mongo().find_one("items", id_json(g)).value();
    auto obj = get("Item", g).value();
    EXPECT_EQ(obj.get("name"), Value("device"));
    EXPECT_EQ(field_json(doc, "i32"), R"({ "v" : 32 })");
    EXPECT_EQ(obj.get("i64"), Value(int64_t{64}));
    EXPECT_EQ(field_json(doc, "i64"), R"({ "v" : 64 })");
}

TEST_F(ConnectorTest, DeletesBeatConcurrentUpdatesOnBothSides) {
    start();
    uint64_t a_id = 0, b_id = 0;
    Gid a = put_item([](Object& o) { (void)o.set("name", Value("a")); }, &a_id);
    Gid b = put_item([](Object& o) { (void)o.set("name", Value("b")); }, &b_id);
    ASSERT_TRUE(wait_until([&] { return mongo().count("items") == 2 && caught_up(); }));
    connector_->stop();
    auto box = store_->box("Item").value();
    // a: updated on the device, deleted in MongoDB.
    auto oa = box.get(a_id).value().value();
    (void)oa.set("i32", Value(int64_t{1}));
    ASSERT_OK(box.put(oa));
    mongo().remove("items", id_json(a));
    // b: deleted on the device, updated in MongoDB.
    ASSERT_TRUE(box.remove(b_id).value());
    mongo().update("items", id_json(b), R"({"$set": {"i32": 2}})");
    restart_connector(options());
    ASSERT_TRUE(wait_until([&] {
        return caught_up() && connector_->status().inbound_events >= 2 &&
               mongo().count("items") == 0 && !get("Item", a).has_value() &&
               !get("Item", b).has_value();
    })) << "mongo has "
        << mongo().count("items") << ", server has a: " << get("Item", a).has_value()
        << ", b: " << get("Item", b).has_value();
}

TEST_F(ConnectorTest, QuietStreamStillStoresTheResumeToken) {
    start();
    ASSERT_TRUE(wait_until([&] { return !connector_->status().resume_token.empty(); }));
    auto txn = store_->begin_read().value();
    EXPECT_TRUE(get_meta(txn, "mongo:resume_token").value().has_value());
}

TEST_F(ConnectorTest, BadInboundChangesBecomeDeadLettersAndTheStreamGoesOn) {
    start();
    mongo().insert("items", R"({"_id": 1.5, "label": "double id"})");
    mongo().insert("items", R"({"_id": "wrong-type", "i32": "not a number"})");
    mongo().insert("items", R"({"_id": "too-big", "i8": 1000})");
    mongo().insert("items", R"({"_id": "fine", "label": "ok"})");
    ASSERT_TRUE(wait_until([&] {
        return get("Item", std::string("\x02"
                                       "fine"))
            .has_value();
    }));
    auto letters = kept_letters();
    ASSERT_EQ(letters.size(), 3u);
    EXPECT_NE(letters[0].reason.find("double cannot be a global id"), std::string::npos);
    EXPECT_NE(letters[1].reason.find("string does not fit int32"), std::string::npos)
        << letters[1].reason;
    EXPECT_EQ(letters[1].document_key, R"({ "_id" : "wrong-type" })");
    EXPECT_NE(letters[1].raw.find("\"operationType\" : \"insert\""), std::string::npos);
    EXPECT_NE(letters[2].reason.find("out of range for int8"), std::string::npos);
    EXPECT_FALSE(get("Item", std::string("\x02wrong-type")).has_value());
}

TEST_F(ConnectorTest, StrictConversionsStopTheStream) {
    auto o = options();
    o.strict_from_mongo = true;
    start(o);
    mongo().insert("items", R"({"_id": "bad", "i32": "x"})");
    mongo().insert("items", R"({"_id": "after", "label": "ok"})");
    ASSERT_TRUE(wait_until([&] { return !connector_->status().inbound_stopped.empty(); }));
    EXPECT_NE(connector_->status().inbound_stopped.find("does not fit int32"), std::string::npos);
    EXPECT_FALSE(get("Item", std::string("\x02"
                                         "after"))
                     .has_value());
    EXPECT_TRUE(kept_letters().empty());
}

TEST_F(ConnectorTest, OversizedValuesAreReportedAndTheRestIsWritten) {
    auto o = options();
    o.max_property_size = 64;
    start(o);
    Gid g = put_item([](Object& x) {
        (void)x.set("name", Value(std::string(1000, 'x')));
        (void)x.set("i32", Value(int64_t{7}));
    });
    ASSERT_TRUE(wait_until([&] { return mongo().count("items", id_json(g)) == 1; }));
    auto doc = mongo().find_one("items", id_json(g)).value();
    EXPECT_EQ(field_json(doc, "i32"), R"({ "v" : 7 })");
    EXPECT_EQ(field_json(doc, "label"), "missing");
    auto letters = kept_letters();
    ASSERT_EQ(letters.size(), 1u);
    EXPECT_EQ(letters[0].direction, "outbound");
    EXPECT_NE(letters[0].reason.find("maxPropertySizeToMongoDb"), std::string::npos);
}

TEST_F(ConnectorTest, DeeplyNestedJsonFromADeviceIsADeadLetterNotACrash) {
    start();
    // 12,000 levels in a jsonToNative string: appending it to BSON used to overflow the stack, and
    // the outbound writer replayed the record after every restart.
    const std::string deep = std::string(12'000, '[') + std::string(12'000, ']');
    Gid g = put_item([&](Object& x) {
        (void)x.set("doc", Value(deep));
        (void)x.set("i32", Value(int64_t{7}));
    });
    Gid after = put_item([](Object& x) { (void)x.set("name", Value("after")); });
    ASSERT_TRUE(
        wait_until([&] { return mongo().count("items", id_json(after)) == 1 && caught_up(); }));
    auto doc = mongo().find_one("items", id_json(g)).value();
    EXPECT_EQ(field_json(doc, "i32"), R"({ "v" : 7 })");
    EXPECT_EQ(field_json(doc, "doc"), "missing");
    auto letters = kept_letters();
    ASSERT_EQ(letters.size(), 1u);
    EXPECT_EQ(letters[0].direction, "outbound");
    EXPECT_NE(letters[0].reason.find("nests deeper than 64 levels"), std::string::npos)
        << letters[0].reason;
}

TEST_F(ConnectorTest, StrictConversionsToMongoBlockOutbound) {
    auto o = options();
    o.max_property_size = 64;
    o.strict_to_mongo = true;
    start(o);
    Gid ok = put_item([](Object& x) { (void)x.set("name", Value("small")); });
    ASSERT_TRUE(
        wait_until([&] { return mongo().count("items", id_json(ok)) == 1 && caught_up(); }));
    uint64_t before = connector_->status().outbound_position;
    Gid big = put_item([](Object& x) { (void)x.set("name", Value(std::string(1000, 'x'))); });
    Gid after = put_item([](Object& x) { (void)x.set("name", Value("after")); });
    ASSERT_TRUE(wait_until([&] {
        return connector_->status().last_error.find("outbound blocked") != std::string::npos;
    }));
    EXPECT_NE(connector_->status().last_error.find("maxPropertySizeToMongoDb"), std::string::npos);
    EXPECT_EQ(connector_->status().outbound_position,
              before);  // nothing after the value is written
    EXPECT_EQ(mongo().count("items", id_json(big)), 0);
    EXPECT_EQ(mongo().count("items", id_json(after)), 0);
    EXPECT_TRUE(kept_letters().empty());
}

TEST_F(ConnectorTest, WritesMongoRefusesBecomeOutboundDeadLetters) {
    start();
    Bson cmd = bson(
        R"({"createIndexes": "items", "indexes": [{"key": {"label": 1}, "name": "label_1", "unique": true}]})");
    Bson reply;
    bson_destroy(reply.get());
    bson_error_t err;
    ASSERT_TRUE(mongoc_client_command_simple(mongo().client(), mongo().database().c_str(),
                                             cmd.get(), nullptr, reply.get(), &err))
        << err.message;
    Gid a = put_item([](Object& x) { (void)x.set("name", Value("same")); });
    Gid b = put_item([](Object& x) { (void)x.set("name", Value("same")); });
    Gid c = put_item([](Object& x) { (void)x.set("name", Value("other")); });
    ASSERT_TRUE(wait_until([&] { return caught_up() && mongo().count("items", id_json(c)) == 1; }));
    EXPECT_EQ(mongo().count("items", id_json(a)), 1);
    EXPECT_EQ(mongo().count("items", id_json(b)), 0);
    auto letters = kept_letters();
    ASSERT_EQ(letters.size(), 1u);
    EXPECT_EQ(letters[0].direction, "outbound");
    EXPECT_EQ(letters[0].document_key, id_json(b));
    EXPECT_NE(letters[0].reason.find("11000"), std::string::npos) << letters[0].reason;
}

TEST_F(ConnectorTest, DroppedCollectionsAreReportedAndRemovedOnlyWhenConfigured) {
    auto o = options();
    o.remove_objects_of_dropped_collections = true;
    start(o);
    mongo().insert("Tag", R"({"_id": "t1", "title": "x"})");
    mongo().insert("items", R"({"_id": "i1"})");
    ASSERT_TRUE(wait_until([&] {
        return store_->box("Tag").value().count().value() == 1 &&
               store_->box("Item").value().count().value() == 1;
    }));
    bson_error_t err;
    ASSERT_TRUE(mongoc_collection_drop(mongo().collection("Tag").get(), &err)) << err.message;
    ASSERT_TRUE(wait_until([&] { return store_->box("Tag").value().count().value() == 0; }));
    EXPECT_EQ(store_->box("Item").value().count().value(), 1u);
    EXPECT_NE(connector_->status().last_error.find("drop of Tag"), std::string::npos)
        << connector_->status().last_error;

    restart_connector(options());  // without the option: reported, objects kept
    ASSERT_TRUE(mongoc_collection_drop(mongo().collection("items").get(), &err)) << err.message;
    ASSERT_TRUE(wait_until([&] {
        return connector_->status().last_error.find("drop of items") != std::string::npos;
    }));
    EXPECT_EQ(store_->box("Item").value().count().value(), 1u);
}

TEST_F(ConnectorTest, TwoServersOnOneDatabaseConverge) {
    open("a");
    auto store_b = testing::open_store(dir_.sub("b"), model_);
    auto oa = options(), ob = options();
    oa.server_id = "A";
    ob.server_id = "B";
    start(oa);
    auto b = Connector::create(store_b, ob).value();
    ASSERT_OK(b->start(nullptr));
    Gid g = put_item([](Object& o) { (void)o.set("name", Value("from A")); });
    auto on_b = [&]() -> std::optional<Object> {
        auto box = store_b->box("Item").value();
        auto txn = store_b->begin_read().value();
        auto id = local_id_of(txn, box, g).value();
        if (!id) return std::nullopt;
        return box.get(txn, *id).value();
    };
    ASSERT_TRUE(wait_until([&] { return on_b().has_value(); }));
    EXPECT_EQ(on_b()->get("name"), Value("from A"));
    // B edits; A sees it; each skips only its own.
    auto box_b = store_b->box("Item").value();
    auto ob_obj = on_b().value();
    (void)ob_obj.set("i32", Value(int64_t{9}));
    ASSERT_OK(box_b.put(ob_obj));
    ASSERT_TRUE(wait_until([&] { return get("Item", g)->get("i32") == Value(int64_t{9}); }));
    EXPECT_GE(connector_->status().echoes_skipped, 1u);
    // B's own stream reads its echo in its own time (A may have read the change first).
    EXPECT_TRUE(wait_until([&] { return b->status().echoes_skipped >= 1; }));
    b->stop();
}

TEST_F(ConnectorTest, TransientErrorsAndDroppedConnectionsAreRetried) {
    start();
    mongo().fail_point(
        R"({"failCommands": ["commitTransaction"], "errorCode": 112, "errorLabels": ["TransientTransactionError"]})");
    Gid a = put_item([](Object& o) { (void)o.set("name", Value("a")); });
    ASSERT_TRUE(wait_until([&] { return mongo().count("items", id_json(a)) == 1; }));
    mongo().fail_point(R"({"failCommands": ["update"], "closeConnection": true})",
                       R"({"times": 2})");
    Gid b = put_item([](Object& o) { (void)o.set("name", Value("b")); });
    ASSERT_TRUE(wait_until([&] { return mongo().count("items", id_json(b)) == 1; }));
    mongo().fail_point(
        R"({"failCommands": ["commitTransaction"], "errorCode": 91, "errorLabels": ["UnknownTransactionCommitResult"]})");
    Gid c = put_item([](Object& o) { (void)o.set("name", Value("c")); });
    ASSERT_TRUE(wait_until([&] { return mongo().count("items", id_json(c)) == 1 && caught_up(); }));
    EXPECT_GE(connector_->status().retries, 2u);
    EXPECT_EQ(mongo().count("items"), 3);
    // The change stream survives a closed connection on getMore too.
    mongo().fail_point(R"({"failCommands": ["getMore"], "closeConnection": true})");
    mongo().insert("items", R"({"_id": "after-getmore-failure"})");
    ASSERT_TRUE(wait_until([&] {
        return get("Item", std::string("\x02"
                                       "after-getmore-failure"))
            .has_value();
    }));
}

}  // namespace
}  // namespace outpost::mongo
