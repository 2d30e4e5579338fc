// MongoApi against a real connector and a MongoDB (the stand-in, or OUTPOST_TEST_MONGO_URI): the
// state, dead letters kept in the store (listed, kept across a restart, retried, discarded),
// imports started from the API, and the outpost_mongodb_* metrics.
#include "admin/mongo_api.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/status_macros.hpp"
#include "mongo/mapping.hpp"
#include "mongo/mongo_env.hpp"

namespace outpost::admin {
namespace {

using mongo::testing::wait_until;
using nlohmann::json;

Request request(const std::string& method, const std::string& target) {
    Request r;
    r.method = method;
    size_t q = target.find('?');
    r.path = target.substr(0, q);
    size_t at = 0;
    while (at < r.path.size()) {
        size_t next = r.path.find('/', at);
        if (next == std::string::npos) next = r.path.size();
        if (next > at) r.segments.push_back(r.path.substr(at, next - at));
        at = next + 1;
    }
    if (q != std::string::npos) {
        std::string query = target.substr(q + 1);
        size_t p = 0;
        while (p < query.size()) {
            size_t amp = query.find('&', p);
            if (amp == std::string::npos) amp = query.size();
            std::string kv = query.substr(p, amp - p);
            size_t eq = kv.find('=');
            r.query[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
            p = amp + 1;
        }
    }
    r.user = "test";
    r.remote = "127.0.0.1";
    return r;
}

class MongoApiTest : public ::testing::Test {
  protected:
    void TearDown() override { close(); }

    mongo::ConnectorOptions options() {
        mongo::ConnectorOptions o;
        o.url = mongo_.uri();
        o.database = mongo_.database();
        o.max_await_ms = 100;
        o.import_batch = 50;
        o.log = [](bool, const std::string&) {};
        return o;
    }
    // Opens the store (again) and starts a connector with O and its API part over it.
    void open() { open(options()); }
    void open(mongo::ConnectorOptions o) {
        store_ = mongo::testing::open_store(dir_.sub("store"), model_);
        ASSERT_TRUE(store_);
        auto c = mongo::Connector::create(store_, std::move(o));
        ASSERT_OK(c);
        connector_ = std::move(c).value();
        ASSERT_OK(connector_->start(nullptr));
        api_ = std::make_unique<MongoApi>(*connector_);
        ASSERT_TRUE(wait_until([&] { return get("/api/mongo")["state"] == "streaming"; }))
            << get("/api/mongo").dump();
    }
    void close() {
        api_.reset();
        if (connector_) connector_->stop();
        connector_.reset();
        store_.reset();
    }

    Response call(const std::string& method, const std::string& target) {
        auto r = api_->handle(request(method, target));
        EXPECT_TRUE(r.has_value()) << method << " " << target;
        return r.value_or(Response{});
    }
    json get(const std::string& target) {
        Response r = call("GET", target);
        EXPECT_EQ(r.status, 200) << target << ": " << r.body;
        return json::parse(r.body, nullptr, false);
    }
    json letters() { return get("/api/mongo/dead-letters"); }
    // The letter about DOCUMENT_KEY, or null.
    json letter_for(const std::string& key) {
        const json page = letters();
        for (const auto& item : page["items"]) {
            if (item["document_key"] == key) return item;
        }
        return nullptr;
    }
    std::optional<Object> object(const Gid& g) {
        auto box = store_->box("Item").value();
        auto txn = store_->begin_read().value();
        auto id = local_id_of(txn, box, g).value();
        if (!id) return std::nullopt;
        return box.get(txn, *id).value();
    }
    static Gid string_gid(const std::string& s) { return "\x02" + s; }

    mongo::testing::MongoServer mongo_{{}};
    mongo::testing::TempDir dir_;
    Model model_ = mongo::testing::mongo_mapping_model();
    std::shared_ptr<Store> store_;
    std::unique_ptr<mongo::Connector> connector_;
    std::unique_ptr<MongoApi> api_;
};

TEST(MongoApiUrl, PasswordIsRemoved) {
    EXPECT_EQ(
        mongo::url_without_password("mongodb://alice:s3cret@db1:27017,db2/app?replicaSet=rs0"),
        "mongodb://alice:***@db1:27017,db2/app?replicaSet=rs0");
    EXPECT_EQ(mongo::url_without_password("mongodb+srv://bob:p%40ss@cluster.example.net/"),
              "mongodb+srv://bob:***@cluster.example.net/");
    // A raw '/' or '@' in the password (the format wants them encoded) is still cut whole.
    EXPECT_EQ(mongo::url_without_password("mongodb://u:pa/ss@word@host/db"),
              "mongodb://u:***@host/db");
    EXPECT_EQ(mongo::url_without_password("mongodb://user@host/db"), "mongodb://user@host/db");
    EXPECT_EQ(mongo::url_without_password("mongodb://127.0.0.1:1/?replicaSet=rs0"),
              "mongodb://127.0.0.1:1/?replicaSet=rs0");
}

TEST_F(MongoApiTest, StatusOfAStoppedConnectorHidesThePassword) {
    store_ = mongo::testing::open_store(dir_.sub("store"), model_);
    ASSERT_TRUE(store_);
    auto o = options();
    o.url = "mongodb://alice:s3cret@127.0.0.1:1/?replicaSet=rs0";
    auto c = mongo::Connector::create(store_, o);
    ASSERT_OK(c);
    connector_ = std::move(c).value();
    api_ = std::make_unique<MongoApi>(*connector_);
    json s = get("/api/mongo");
    EXPECT_EQ(s["state"], "stopped");
    EXPECT_EQ(s["url"], "mongodb://alice:***@127.0.0.1:1/?replicaSet=rs0");
    EXPECT_EQ(s.dump().find("s3cret"), std::string::npos);
    json status = json::object();
    api_->add_status(status);
    EXPECT_EQ(status["mongo"]["url"], s["url"]);
    // Starting an import needs a started connector.
    EXPECT_EQ(call("POST", "/api/mongo/imports").status, 409);
}

TEST_F(MongoApiTest, StatusHasItsShape) {
    open();
    mongo_.insert("items", R"({"_id": "a", "label": "one"})");
    ASSERT_TRUE(wait_until([&] { return object(string_gid("a")).has_value(); }));
    ASSERT_TRUE(wait_until([&] { return get("/api/mongo")["inbound"]["events_total"] == 1; }));
    json s = get("/api/mongo");
    EXPECT_EQ(s["state"], "streaming");
    EXPECT_EQ(s["url"], mongo_.uri());  // no password in it
    EXPECT_EQ(s["database"], mongo_.database());
    EXPECT_TRUE(s["server_id"].is_string() && !s["server_id"].get<std::string>().empty());
    EXPECT_EQ(s["last_error"], "");
    const json& in = s["inbound"];
    EXPECT_EQ(in["txns_total"], 1);
    EXPECT_TRUE(in["lag_s"].is_number());
    EXPECT_GE(in["lag_s"].get<double>(), 0.0);
    EXPECT_EQ(in["lag_basis"], "applied");
    EXPECT_GT(in["last_event_ms"].get<int64_t>(), 0);
    EXPECT_TRUE(in["echoes_skipped"].is_number());
    EXPECT_NE(in["resume_token"].get<std::string>(), "");
    const json& out = s["outbound"];
    for (const char* k : {"position", "server_head", "lag_records", "docs_total", "txns_total"})
        EXPECT_TRUE(out[k].is_number_unsigned()) << k;
    EXPECT_EQ(s["dead_letters"], 0);
    EXPECT_TRUE(s["retries"].is_number());
    json status = json::object();
    api_->add_status(status);
    EXPECT_EQ(status["mongo"]["database"], mongo_.database());
}

TEST_F(MongoApiTest, StateIsFailingWhileMongoDbIsGoneAndStreamingWhenItIsBack) {
    if (!mongo_.standin()) GTEST_SKIP() << "stops and starts the stand-in";
    open();
    ASSERT_TRUE(mongo_.standin()->stop());
    ASSERT_TRUE(wait_until([&] { return get("/api/mongo")["state"] == "failing"; }))
        << get("/api/mongo").dump();
    EXPECT_NE(get("/api/mongo")["last_error"], "");
    ASSERT_TRUE(mongo_.standin()->start());  // same port, empty: the stream's point is gone
    ASSERT_TRUE(wait_until([&] { return get("/api/mongo")["state"] == "streaming"; }))
        << get("/api/mongo").dump();
    mongo_.insert("items", R"({"_id": "back", "i32": 1})");
    ASSERT_TRUE(wait_until([&] { return object(string_gid("back")).has_value(); }));
}

TEST_F(MongoApiTest, UnknownPathsAndMethods) {
    open();
    EXPECT_FALSE(api_->handle(request("GET", "/api/status")).has_value());
    EXPECT_FALSE(api_->handle(request("GET", "/api/mongoose")).has_value());
    EXPECT_EQ(call("GET", "/api/mongo/nothing").status, 404);
    EXPECT_EQ(call("GET", "/api/mongo/dead-letters/1/retry/x").status, 404);
    EXPECT_EQ(call("GET", "/api/mongo/imports/1").status, 404);
    Response r = call("POST", "/api/mongo");
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(json::parse(r.body)["error"]["status"], 405);
    EXPECT_EQ(call("PUT", "/api/mongo/imports").status, 405);
    EXPECT_EQ(call("GET", "/api/mongo/dead-letters/1/retry").status, 405);
    EXPECT_EQ(call("POST", "/api/mongo/dead-letters").status, 405);
    EXPECT_EQ(call("GET", "/api/mongo/dead-letters/1").status, 405);
    EXPECT_EQ(call("DELETE", "/api/mongo/dead-letters/999").status, 404);
    EXPECT_EQ(call("DELETE", "/api/mongo/dead-letters/abc").status, 404);
    EXPECT_EQ(call("POST", "/api/mongo/dead-letters/-1/retry").status, 404);
    EXPECT_EQ(call("POST", "/api/mongo/dead-letters/99999999999999999999999/retry").status, 404);
    EXPECT_EQ(call("GET", "/api/mongo/dead-letters?limit=x").status, 400);
    EXPECT_EQ(call("GET", "/api/mongo/dead-letters?offset=-3").status, 400);
    EXPECT_EQ(get("/api/mongo/dead-letters?limit=100000")["limit"], MongoApi::kMaxLimit);
}

TEST_F(MongoApiTest, DeadLetterSurvivesARestartAndIsAppliedWhenFixed) {
    open();
    mongo_.insert("items", R"({"_id": "bad", "label": "hello", "i32": "not a number"})");
    ASSERT_TRUE(wait_until([&] { return letters()["total"] == 1; }));
    json l = letter_for(R"({ "_id" : "bad" })");
    ASSERT_FALSE(l.is_null()) << letters().dump();
    EXPECT_EQ(l["direction"], "inbound");
    EXPECT_EQ(l["collection"], "items");
    EXPECT_NE(l["reason"].get<std::string>().find("does not fit int32"), std::string::npos);
    EXPECT_NE(l["raw"].get<std::string>().find("not a number"), std::string::npos);
    EXPECT_GT(l["time_ms"].get<int64_t>(), 0);
    EXPECT_EQ(get("/api/mongo")["dead_letters"], 1);
    EXPECT_FALSE(object(string_gid("bad")).has_value());

    // Kept in the store: a new connector over the reopened store lists the same letter.
    close();
    open();
    json again = letter_for(R"({ "_id" : "bad" })");
    ASSERT_FALSE(again.is_null()) << letters().dump();
    EXPECT_EQ(again["id"], l["id"]);
    EXPECT_EQ(again["reason"], l["reason"]);
    EXPECT_EQ(get("/api/mongo")["dead_letters"], 1);

    // Fixed in MongoDB: the update event alone carries only i32; the retry reads the whole
    // document (its label too).
    mongo_.update("items", R"({"_id": "bad"})", R"({"$set": {"i32": 5}})");
    ASSERT_TRUE(wait_until([&] {
        auto o = object(string_gid("bad"));
        return o && o->get("i32") == Value(int64_t{5});
    }));
    EXPECT_TRUE(object(string_gid("bad"))->get("name").is_null());
    uint64_t head = 0;
    {
        auto txn = store_->begin_read().value();
        head = ChangeLog::last_position(txn).value();
    }
    Response r = call("POST", "/api/mongo/dead-letters/" + l["id"].dump() + "/retry");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["result"], "applied");
    EXPECT_EQ(object(string_gid("bad"))->get("name"), Value(std::string("hello")));
    EXPECT_EQ(letters()["total"], 0);
    EXPECT_EQ(get("/api/mongo")["dead_letters"], 0);
    auto txn = store_->begin_read().value();
    auto recs = ChangeLog::read(txn, head, 10).value();
    ASSERT_FALSE(recs.empty());
    EXPECT_EQ(recs.front().origin, mongo::kOrigin);
    ASSERT_EQ(recs.front().changes.objects.size(), 1u);
    EXPECT_EQ(recs.front().changes.objects[0].gid, string_gid("bad"));
    // Gone: a second retry and a discard find nothing.
    EXPECT_EQ(call("POST", "/api/mongo/dead-letters/" + l["id"].dump() + "/retry").status, 404);
    EXPECT_EQ(call("DELETE", "/api/mongo/dead-letters/" + l["id"].dump()).status, 404);
}

TEST_F(MongoApiTest, RetryThatStillFailsIsAConflictAndKeepsTheLetter) {
    open();
    mongo_.insert("items", R"({"_id": "big", "i8": 1000})");
    mongo_.insert("items", R"({"_id": 1.5, "label": "double id"})");
    ASSERT_TRUE(wait_until([&] { return letters()["total"] == 2; }));
    for (const char* key : {R"({ "_id" : "big" })", R"({ "_id" : 1.5 })"}) {
        json l = letter_for(key);
        ASSERT_FALSE(l.is_null()) << key << " in " << letters().dump();
        Response r = call("POST", "/api/mongo/dead-letters/" + l["id"].dump() + "/retry");
        EXPECT_EQ(r.status, 409) << r.body;
        json err = json::parse(r.body)["error"];
        EXPECT_EQ(err["status"], 409);
        EXPECT_FALSE(err["message"].get<std::string>().empty());
        EXPECT_FALSE(letter_for(key).is_null()) << key;
    }
    EXPECT_NE(
        json::parse(call("POST", "/api/mongo/dead-letters/" +
                                     letter_for(R"({ "_id" : "big" })")["id"].dump() + "/retry")
                        .body)["error"]["message"]
            .get<std::string>()
            .find("out of range for int8"),
        std::string::npos);
    EXPECT_FALSE(object(string_gid("big")).has_value());
    EXPECT_EQ(get("/api/mongo")["dead_letters"], 2);
}

TEST_F(MongoApiTest, DeleteDiscardsALetter) {
    open();
    mongo_.insert("items", R"({"_id": "x", "i32": "no"})");
    mongo_.insert("items", R"({"_id": "y", "i32": "no"})");
    ASSERT_TRUE(wait_until([&] { return letters()["total"] == 2; }));
    json page = get("/api/mongo/dead-letters?limit=1");
    ASSERT_EQ(page["items"].size(), 1u);
    EXPECT_EQ(page["total"], 2);
    EXPECT_EQ(page["items"][0]["document_key"], R"({ "_id" : "y" })");  // newest first
    EXPECT_EQ(get("/api/mongo/dead-letters?offset=1&limit=1")["items"][0]["document_key"],
              R"({ "_id" : "x" })");
    std::string id = letter_for(R"({ "_id" : "x" })")["id"].dump();
    Response r = call("DELETE", "/api/mongo/dead-letters/" + id);
    EXPECT_EQ(r.status, 204);
    EXPECT_TRUE(r.body.empty());
    EXPECT_TRUE(letter_for(R"({ "_id" : "x" })").is_null());
    EXPECT_FALSE(letter_for(R"({ "_id" : "y" })").is_null());
    EXPECT_EQ(get("/api/mongo")["dead_letters"], 1);
    EXPECT_EQ(call("DELETE", "/api/mongo/dead-letters/" + id).status, 404);
}

TEST_F(MongoApiTest, ImportStartedFromTheApiShowsProgressAndIsListed) {
    open();
    for (int i = 0; i < 120; ++i)
        mongo_.insert("items", R"({"_id": "i)" + std::to_string(i) + R"(", "i32": 1})");
    ASSERT_TRUE(wait_until([&] { return get("/api/mongo")["inbound"]["events_total"] == 120; }));
    EXPECT_TRUE(get("/api/mongo/imports")["running"].is_null());
    // Every find (the import reads collections with finds) answers 300 ms late, so the import
    // runs long enough to be seen.
    mongo_.fail_point(
        R"({"failCommands": ["find"], "blockConnection": true, "blockTimeMS": 300,
            "closeConnection": false})",
        R"("alwaysOn")");
    Response r = call("POST", "/api/mongo/imports");
    ASSERT_EQ(r.status, 202) << r.body;
    ASSERT_TRUE(wait_until([&] {
        json run = get("/api/mongo/imports")["running"];
        return !run.is_null() && run["docs_done"].get<uint64_t>() >= 120;
    })) << get("/api/mongo/imports").dump();
    json run = get("/api/mongo/imports")["running"];
    EXPECT_EQ(run["reason"], "requested");
    EXPECT_EQ(run["collections"], 2);
    EXPECT_GE(run["docs_total"].get<uint64_t>(), 120u);
    EXPECT_GT(run["started_ms"].get<int64_t>(), 0);
    EXPECT_EQ(get("/api/mongo")["state"], "importing");
    EXPECT_EQ(call("POST", "/api/mongo/imports").status, 409);
    ASSERT_TRUE(wait_until([&] { return get("/api/mongo/imports")["items"].size() == 1; }));
    mongo_.fail_point("{}", R"("off")");
    json imports = get("/api/mongo/imports");
    EXPECT_TRUE(imports["running"].is_null());
    json done = imports["items"][0];
    EXPECT_EQ(done["error"], "");
    EXPECT_EQ(done["automatic"], false);
    EXPECT_EQ(done["docs_read"], 120);
    EXPECT_EQ(done["collections"], 2);
    EXPECT_GE(done["finished_ms"].get<int64_t>(), done["started_ms"].get<int64_t>());
    ASSERT_TRUE(wait_until([&] { return get("/api/mongo")["state"] == "streaming"; }));
    // Sync kept running: a change after the import still arrives.
    mongo_.insert("items", R"({"_id": "after", "i32": 2})");
    ASSERT_TRUE(wait_until([&] { return object(string_gid("after")).has_value(); }));
}

TEST_F(MongoApiTest, OutboundLetterIsWrittenAgainOnRetry) {
    auto small = options();
    small.max_property_size = 64;
    open(small);
    // A device's put arriving at the server, with a label too large for MongoDB here.
    auto box = store_->box("Item").value();
    Object o = box.new_object();
    ASSERT_OK(o.set("name", Value(std::string(1000, 'x'))));
    ASSERT_OK(o.set("i32", Value(int64_t{7})));
    auto id = box.put(o);
    ASSERT_OK(id);
    Gid g;
    {
        auto txn = store_->begin_read().value();
        g = gid_of(txn, box, *id).value().value();
    }
    mongo::detail::Bson key;
    ASSERT_OK(mongo::append_gid(key.get(), "_id", g));
    ASSERT_TRUE(wait_until([&] { return !letter_for(key.json()).is_null(); })) << letters().dump();
    json l = letter_for(key.json());
    EXPECT_EQ(l["direction"], "outbound");
    ASSERT_TRUE(wait_until([&] { return mongo_.count("items", key.json()) == 1; }));
    EXPECT_EQ(mongo::testing::field_json(*mongo_.find_one("items", key.json()), "label"),
              "missing");
    const std::string retry = "/api/mongo/dead-letters/" + l["id"].dump() + "/retry";
    // Still too large: 409, kept.
    Response r = call("POST", retry);
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_NE(r.body.find("maxPropertySizeToMongoDb"), std::string::npos) << r.body;
    EXPECT_FALSE(letter_for(key.json()).is_null());

    // With the limit lifted (a restart with other options), the retry writes the object's state.
    close();
    open();
    r = call("POST", retry);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(letter_for(key.json()).is_null());
    auto doc = mongo_.find_one("items", key.json());
    ASSERT_TRUE(doc.has_value());
    EXPECT_EQ(mongo::testing::field_json(*doc, "label"),
              R"({ "v" : ")" + std::string(1000, 'x') + R"(" })");
    EXPECT_EQ(mongo::testing::field_json(*doc, "i32"), R"({ "v" : 7 })");
}

// The metrics text, checked by Prometheus' own checker.
TEST_F(MongoApiTest, MetricsPassPromtool) {
    open();
    mongo_.insert("items", R"({"_id": "m", "i32": "bad"})");
    ASSERT_TRUE(wait_until([&] { return letters()["total"] == 1; }));
    MetricsWriter w;
    api_->write_metrics(w);
    const std::string text = w.text();
    for (const char* name :
         {"outpost_mongodb_inbound_events_total ", "outpost_mongodb_inbound_lag_seconds ",
          "outpost_mongodb_outbound_docs_total ", "outpost_mongodb_outbound_lag_records ",
          "outpost_mongodb_dead_letters 1\n", "outpost_mongodb_import_docs_total ",
          "outpost_mongodb_state{state=\"streaming\"} 1\n"}) {
        EXPECT_NE(text.find(name), std::string::npos) << name << " in\n" << text;
    }
    std::string path = dir_.sub("metrics.txt");
    std::ofstream(path) << text;
    std::string cmd = "/usr/bin/promtool check metrics < " + path + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string output;
    char buf[512];
    while (fgets(buf, sizeof buf, p)) output += buf;
    int rc = pclose(p);
    EXPECT_EQ(rc, 0) << output << "\n" << text;
}

}  // namespace
}  // namespace outpost::admin
