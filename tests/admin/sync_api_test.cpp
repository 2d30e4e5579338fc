// SyncApi over a real store and a real SyncServer on 127.0.0.1, with real SyncClients where a
// device must see what the admin does.
#include "admin/sync_api.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/models.hpp"
#include "common/objects.hpp"
#include "common/status_macros.hpp"
#include "common/temp_dir.hpp"
#include "common/wait.hpp"
#include "outpost/changelog.hpp"
#include "outpost/query.hpp"
#include "outpost/sync_client.hpp"
#include "sync/fake_token_verifier.hpp"
#include "sync/sync_server.hpp"

namespace outpost::admin {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::wait_until;

std::shared_ptr<Store> open_store(const std::string& dir) {
    StoreOptions o;
    o.no_sync = true;
    auto s = Store::open(dir, test::sync_model({.item = true}), o);
    EXPECT_OK(s);
    return s.value();
}

// A request as the admin server hands it to a part.
Request request(std::string method, std::string path, std::map<std::string, std::string> query = {},
                std::string body = {}) {
    Request r;
    r.method = std::move(method);
    r.path = std::move(path);
    size_t start = 0;
    while (start < r.path.size()) {
        size_t slash = r.path.find('/', start);
        if (slash == std::string::npos) slash = r.path.size();
        if (slash > start) r.segments.push_back(r.path.substr(start, slash - start));
        start = slash + 1;
    }
    r.query = std::move(query);
    r.body = std::move(body);
    r.user = "alice";
    r.remote = "127.0.0.1:5555";
    return r;
}

json body_of(const Response& r) { return json::parse(r.body); }

// The Person with NAME in STORE, if any.
std::optional<Object> person_named(Store& store, const std::string& name) {
    auto box = store.box("Person").value();
    auto q = QueryBuilder(box).where(prop("name").equal(Value(name))).build();
    EXPECT_OK(q);
    auto found = q->find_first();
    EXPECT_OK(found);
    if (!found) return std::nullopt;
    return std::move(found).value();
}

int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The value of the sample that starts LINE_START in metrics TEXT, -1 when there is none.
double sample_value(const std::string& text, const std::string& line_start) {
    const size_t at = text.find("\n" + line_start + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + line_start.size() + 2));
}

class SyncApiTest : public ::testing::Test {
  protected:
    virtual void configure(sync::SyncServerOptions&) {}

    void SetUp() override {
        store_ = open_store(dir_.sub("server"));
        sync::SyncServerOptions so;
        so.core.shared_secret = "s3cret";
        so.net.urls = {"ws://127.0.0.1:0"};
        configure(so);
        auto server = sync::SyncServer::create(store_, so);
        ASSERT_OK(server);
        server_ = std::move(server).value();
        ASSERT_OK(server_->start());
        url_ = server_->bound_urls().front();
        api_ = std::make_unique<SyncApi>(store_, server_.get());
    }
    void TearDown() override {
        for (auto& c : clients_) c->stop();
        clients_.clear();
        api_.reset();
        server_.reset();
    }

    Response call(const Request& r) {
        auto answer = api_->handle(r);
        EXPECT_TRUE(answer.has_value()) << r.method << " " << r.path;
        return answer ? *answer : Response{599, "", "", {}};
    }
    Response get(const std::string& path, std::map<std::string, std::string> query = {}) {
        return call(request("GET", path, std::move(query)));
    }

    // A device on its own store, started (after BEFORE_START, which may set listeners); waits
    // until it is up to date.
    SyncClient& device(const std::string& name, const std::string& secret = "s3cret",
                       bool wait = true, const std::string& token = "",
                       const std::function<void(SyncClient&)>& before_start = {}) {
        stores_.push_back(open_store(dir_.sub(name)));
        SyncClientOptions o;
        o.urls = {url_};
        o.credentials = secret;
        o.token = token;
        auto c = SyncClient::create(stores_.back(), o);
        EXPECT_OK(c);
        clients_.push_back(std::move(c).value());
        if (before_start) before_start(*clients_.back());
        clients_.back()->start();
        if (wait) {
            EXPECT_OK(clients_.back()->wait_until_up_to_date(30s));
        }
        return *clients_.back();
    }

    std::string metrics() {
        MetricsWriter w;
        api_->write_metrics(w);
        return w.take();
    }

    test::TempDir dir_;
    std::shared_ptr<Store> store_;
    std::unique_ptr<sync::SyncServer> server_;
    std::string url_;
    std::unique_ptr<SyncApi> api_;
    std::vector<std::shared_ptr<Store>> stores_;
    std::vector<std::unique_ptr<SyncClient>> clients_;
};

TEST_F(SyncApiTest, ModelListsEntitiesPropertiesRelationsAndCounts) {
    test::put(*store_, "Person", {{"name", Value("Ann")}});
    test::put(*store_, "Person", {{"name", Value("Bob")}});
    Response r = get("/api/model");
    ASSERT_EQ(r.status, 200) << r.body;
    json m = body_of(r);
    std::map<std::string, json> by_name;
    for (const auto& e : m["entities"]) by_name[e["name"]] = e;
    ASSERT_TRUE(by_name.count("Person"));
    const json& person = by_name["Person"];
    EXPECT_EQ(person["count"], 2);
    EXPECT_EQ(person["sync"], true);
    EXPECT_EQ(person["mongo_collection"], "Person");
    EXPECT_EQ(person["uid"], store_->model().entity("Person")->id.to_string());
    bool saw_name = false;
    for (const auto& p : person["properties"]) {
        if (p["name"] != "name") continue;
        saw_name = true;
        EXPECT_EQ(p["type"], "string");
        EXPECT_EQ(p["flags"], json::array({"indexed"}));
        EXPECT_TRUE(p.contains("index_uid"));
    }
    EXPECT_TRUE(saw_name);
    ASSERT_EQ(by_name["Note"]["relations"].size(), 1u);
    EXPECT_EQ(by_name["Note"]["relations"][0]["name"], "readers");
    EXPECT_EQ(by_name["Note"]["relations"][0]["target"], "Person");
    EXPECT_EQ(by_name["Draft"]["sync"], false);
    EXPECT_FALSE(by_name["Draft"].contains("mongo_collection"));
    EXPECT_EQ(by_name["Draft"]["count"], 0);
}

TEST_F(SyncApiTest, ListsObjectsWithWhereOrderDescendingOffsetAndLimit) {
    for (int age : {30, 10, 50, 20, 40}) {
        test::put(*store_, "Person",
                  {{"name", Value("p" + std::to_string(age))}, {"age", Value(age)}});
    }
    Response r = get(
        "/api/entities/Person/objects",
        {{"where", "age >= 20"}, {"order", "age"}, {"desc", "1"}, {"offset", "1"}, {"limit", "2"}});
    ASSERT_EQ(r.status, 200) << r.body;
    json page = body_of(r);
    EXPECT_EQ(page["entity"], "Person");
    EXPECT_EQ(page["total"], 4);
    EXPECT_EQ(page["offset"], 1);
    EXPECT_EQ(page["limit"], 2);
    ASSERT_EQ(page["items"].size(), 2u);
    EXPECT_EQ(page["items"][0]["age"], 40);
    EXPECT_EQ(page["items"][1]["age"], 30);
    EXPECT_EQ(page["items"][0]["name"], "p40");

    // No parameters: every object in id order, limit 50.
    json all = body_of(get("/api/entities/Person/objects"));
    EXPECT_EQ(all["total"], 5);
    EXPECT_EQ(all["limit"], 50);
    ASSERT_EQ(all["items"].size(), 5u);
    EXPECT_EQ(all["items"][0]["age"], 30);

    EXPECT_EQ(get("/api/entities/Person/objects", {{"limit", "x"}}).status, 400);
    EXPECT_EQ(get("/api/entities/Person/objects", {{"offset", "-1"}}).status, 400);
    EXPECT_EQ(get("/api/entities/Person/objects", {{"desc", "maybe"}}).status, 400);
    EXPECT_EQ(get("/api/entities/Person/objects", {{"order", "nope"}}).status, 400);
}

TEST_F(SyncApiTest, BadQueryIs400WithTheParsersMessageAndColumn) {
    const std::string bad = "age >= 3 AND (name == ";
    auto parsed = parse_condition(bad);
    ASSERT_FALSE(parsed.is_ok());
    Response r = get("/api/entities/Person/objects", {{"where", bad}});
    ASSERT_EQ(r.status, 400) << r.body;
    json e = body_of(r)["error"];
    EXPECT_EQ(e["status"], 400);
    EXPECT_EQ(e["message"], parsed.status().message());
    ASSERT_TRUE(e.contains("column")) << r.body;
    EXPECT_EQ(
        parsed.status().message().find("column " + std::to_string(e["column"].get<int>()) + ":"),
        std::string("query syntax: ").size());
    EXPECT_GT(e["column"].get<int>(), 1);

    // A property the entity lacks is refused too (no column: it is not a syntax error).
    Response unknown = get("/api/entities/Person/objects", {{"where", "height > 3"}});
    EXPECT_EQ(unknown.status, 400) << unknown.body;
    // A parameter has no value here.
    Response param = get("/api/entities/Person/objects", {{"where", "age == $x"}});
    EXPECT_EQ(param.status, 400) << param.body;
}

TEST_F(SyncApiTest, UnknownEntityOrIdIs404) {
    uint64_t id = test::put(*store_, "Person", {{"name", Value("Ann")}});
    EXPECT_EQ(get("/api/entities/Nope/objects").status, 404);
    EXPECT_EQ(get("/api/entities/Nope/objects/1").status, 404);
    EXPECT_EQ(get("/api/entities/Person/objects/" + std::to_string(id + 100)).status, 404);
    EXPECT_EQ(get("/api/entities/Person/objects/abc").status, 404);
    EXPECT_EQ(get("/api/entities/Person/objects/0").status, 404);
    EXPECT_EQ(call(request("PUT", "/api/entities/Person/objects/999", {}, R"({"age": 1})")).status,
              404);
    EXPECT_EQ(call(request("DELETE", "/api/entities/Person/objects/999")).status, 404);
    EXPECT_EQ(call(request("POST", "/api/entities/Nope/objects", {}, "{}")).status, 404);
    EXPECT_EQ(get("/api/entities/Person/things").status, 404);
    EXPECT_EQ(get("/api/entities/Person/objects/" + std::to_string(id)).status, 200);
    EXPECT_EQ(test::count(*store_, "Person"), 1u);
}

TEST_F(SyncApiTest, OversizedLimitIsCapped) {
    ASSERT_OK(store_->write([&](WriteTxn& txn) {
        auto box = store_->box("Item").value();
        for (int i = 0; i < 1005; ++i) {
            Object o = box.new_object();
            OUTPOST_RETURN_IF_ERROR(o.set("n", Value(int64_t{i})));
            OUTPOST_RETURN_IF_ERROR(box.put(txn, o).status());
        }
        return Status::ok();
    }));
    Response r = get("/api/entities/Item/objects", {{"limit", "1000000"}});
    ASSERT_EQ(r.status, 200);
    json page = body_of(r);
    EXPECT_EQ(page["limit"], SyncApi::kMaxLimit);
    EXPECT_EQ(page["items"].size(), SyncApi::kMaxLimit);
    EXPECT_EQ(page["total"], 1005);
    // Ordered by the indexed property, last page.
    json tail = body_of(
        get("/api/entities/Item/objects", {{"order", "n"}, {"desc", "true"}, {"offset", "1000"}}));
    ASSERT_EQ(tail["items"].size(), 5u);
    EXPECT_EQ(tail["items"][0]["n"], 4);
    EXPECT_EQ(tail["items"][4]["n"], 0);
    json history = body_of(get("/api/history", {{"limit", "999999"}}));
    EXPECT_EQ(history["limit"], SyncApi::kMaxLimit);
}

TEST_F(SyncApiTest, CreateUpdateDeleteAndRefuseBodiesThatDoNotFit) {
    Response created =
        call(request("POST", "/api/entities/Person/objects", {}, R"({"name": "Ann", "age": 3})"));
    ASSERT_EQ(created.status, 201) << created.body;
    json ann = body_of(created);
    const uint64_t id = ann["id"];
    ASSERT_NE(id, 0u);
    EXPECT_EQ(ann["name"], "Ann");
    const std::string path = "/api/entities/Person/objects/" + std::to_string(id);
    EXPECT_EQ(body_of(get(path)), ann);

    // A property left out keeps its value.
    Response updated = call(request("PUT", path, {}, R"({"age": 4})"));
    ASSERT_EQ(updated.status, 200) << updated.body;
    EXPECT_EQ(body_of(updated)["age"], 4);
    EXPECT_EQ(body_of(updated)["name"], "Ann");

    // Bodies that do not fit: 400, nothing written.
    auto head = [&] {
        auto txn = store_->begin_read();
        return ChangeLog::last_position(*txn).value();
    };
    const uint64_t before = head();
    for (const char* bad : {R"({"age": "old"})", R"({"height": 3})", R"({"age": 99999999999})",
                            "{not json", R"({"id": 77, "age": 5})", "[1, 2]"}) {
        Response r = call(request("PUT", path, {}, bad));
        EXPECT_EQ(r.status, 400) << bad << " -> " << r.body;
        EXPECT_TRUE(body_of(r)["error"].contains("message"));
    }
    EXPECT_EQ(call(request("POST", "/api/entities/Person/objects", {}, R"({"id": 5})")).status,
              400);
    EXPECT_EQ(call(request("POST", "/api/entities/Person/objects", {}, R"({"age": [1]})")).status,
              400);
    EXPECT_EQ(head(), before);
    EXPECT_EQ(body_of(get(path))["age"], 4);
    EXPECT_EQ(test::count(*store_, "Person"), 1u);

    Response removed = call(request("DELETE", path));
    EXPECT_EQ(removed.status, 204);
    EXPECT_EQ(get(path).status, 404);
    EXPECT_EQ(test::count(*store_, "Person"), 0u);

    // Three writes, three history records, each with origin admin.
    json history = body_of(get("/api/history"));
    ASSERT_EQ(history["items"].size(), 3u);
    for (const auto& item : history["items"]) {
        EXPECT_EQ(item["origin"], SyncApi::kOrigin);
        EXPECT_EQ(item["entities"]["Person"], 1);
    }
    EXPECT_EQ(call(request("PATCH", path)).status, 405);
    EXPECT_EQ(call(request("DELETE", "/api/model")).status, 405);
    EXPECT_FALSE(api_->handle(request("GET", "/api/mongo")).has_value());
    EXPECT_FALSE(api_->handle(request("GET", "/index.html")).has_value());
}

TEST_F(SyncApiTest, AdminWritesAndDeletesReachAConnectedDevice) {
    device("phone");
    Store& phone = *stores_.back();
    Response created =
        call(request("POST", "/api/entities/Person/objects", {}, R"({"name": "Ann", "age": 3})"));
    ASSERT_EQ(created.status, 201) << created.body;
    const std::string path =
        "/api/entities/Person/objects/" + std::to_string(body_of(created)["id"].get<uint64_t>());
    ASSERT_TRUE(wait_until([&] { return person_named(phone, "Ann").has_value(); }, 30s));

    ASSERT_EQ(call(request("PUT", path, {}, R"({"age": 7})")).status, 200);
    ASSERT_TRUE(wait_until(
        [&] {
            auto p = person_named(phone, "Ann");
            return p && p->get("age") == Value(int32_t{7});
        },
        30s));

    ASSERT_EQ(call(request("DELETE", path)).status, 204);
    ASSERT_TRUE(wait_until([&] { return test::count(phone, "Person") == 0; }, 30s));

    // The device's own write reaches the server and the admin sees it.
    test::put(phone, "Person", {{"name", Value("Bea")}});
    ASSERT_TRUE(wait_until(
        [&] {
            return body_of(get("/api/entities/Person/objects",
                               {{"where", "name == \"Bea\""}}))["total"] == 1;
        },
        30s));
}

TEST_F(SyncApiTest, ClientsListShowsAConnectedDeviceAndDisconnectDropsIt) {
    EXPECT_EQ(body_of(get("/api/clients"))["items"].size(), 0u);
    // Shared with the listener: the client outlives this body (TearDown stops it).
    auto disconnects = std::make_shared<std::atomic<int>>(0);
    SyncClient& phone = device("phone", "s3cret", true, "", [disconnects](SyncClient& c) {
        c.on_state_change([disconnects](SyncState s) {
            if (s == SyncState::kDisconnected) ++*disconnects;
        });
    });
    test::put(*stores_.back(), "Person", {{"name", Value("Ann")}});
    ASSERT_OK(phone.wait_until_up_to_date(30s));

    json client;
    ASSERT_TRUE(wait_until(
        [&] {
            json items = body_of(get("/api/clients"))["items"];
            if (items.size() != 1 || items[0]["last_acked_seq"] == 0) return false;
            client = items[0];
            return true;
        },
        10s))
        << get("/api/clients").body;
    EXPECT_EQ(client["client_id"].get<std::string>().size(), 32u);
    EXPECT_TRUE(client["user"].is_null());  // a shared-secret session has no user
    EXPECT_EQ(client["address"].get<std::string>().rfind("127.0.0.1:", 0), 0u);
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    EXPECT_LE(client["connected_ms"].get<int64_t>(), now_ms);
    EXPECT_GT(client["connected_ms"].get<int64_t>(), now_ms - 60'000);
    EXPECT_GE(client["protocol_version"].get<int>(), 1);
    EXPECT_EQ(client["last_acked_seq"], 1);
    EXPECT_EQ(client["lag_records"], 0);
    EXPECT_GT(client["bytes_in"].get<uint64_t>(), 0u);
    EXPECT_GT(client["bytes_out"].get<uint64_t>(), 0u);
    EXPECT_EQ(client["full_sync"], false);
    json status;
    api_->add_status(status);
    EXPECT_EQ(status["sync"]["clients_connected"], 1);

    const std::string id = client["client_id"];
    EXPECT_EQ(call(request("POST", "/api/clients/" + std::string(32, '0') + "/disconnect")).status,
              404);
    EXPECT_EQ(call(request("GET", "/api/clients/" + id + "/disconnect")).status, 405);
    EXPECT_EQ(call(request("POST", "/api/clients/" + id + "/disconnect")).status, 204);
    // Gone: the client is dropped (it comes back later as a new session, after its backoff).
    ASSERT_TRUE(wait_until(
        [&] {
            const json list = body_of(get("/api/clients"));
            for (const auto& c : list["items"]) {
                if (c["session"] == client["session"]) return false;
            }
            return true;
        },
        10s));
    ASSERT_TRUE(wait_until([&] { return *disconnects > 0; }, 10s));
}

TEST_F(SyncApiTest, HistoryListsRecordsNewestFirstOrForwardFromASeq) {
    for (int i = 0; i < 3; ++i) {
        ASSERT_OK(store_->write([&](WriteTxn& txn) {
            auto box = store_->box("Item").value();
            for (int k = 0; k <= i; ++k) {
                Object o = box.new_object();
                OUTPOST_RETURN_IF_ERROR(o.set("n", Value(int64_t{k})));
                OUTPOST_RETURN_IF_ERROR(box.put(txn, o).status());
            }
            return Status::ok();
        }));
    }
    ASSERT_EQ(
        call(request("POST", "/api/entities/Person/objects", {}, R"({"name": "Ann"})")).status,
        201);

    json newest = body_of(get("/api/history", {{"limit", "2"}}));
    EXPECT_EQ(newest["first_seq"], 1);
    EXPECT_EQ(newest["last_seq"], 4);
    ASSERT_EQ(newest["items"].size(), 2u);
    EXPECT_EQ(newest["items"][0]["seq"], 4);
    EXPECT_EQ(newest["items"][0]["origin"], "admin");
    EXPECT_EQ(newest["items"][0]["entities"], json({{"Person", 1}}));
    EXPECT_EQ(newest["items"][1]["seq"], 3);
    EXPECT_EQ(newest["items"][1]["origin"], "");
    EXPECT_EQ(newest["items"][1]["entities"], json({{"Item", 3}}));
    EXPECT_GT(newest["items"][1]["bytes"].get<uint64_t>(), 0u);

    json forward = body_of(get("/api/history", {{"from", "2"}, {"limit", "2"}}));
    ASSERT_EQ(forward["items"].size(), 2u);
    EXPECT_EQ(forward["items"][0]["seq"], 2);
    EXPECT_EQ(forward["items"][1]["seq"], 3);
    EXPECT_EQ(forward["items"][0]["entities"], json({{"Item", 2}}));
    EXPECT_EQ(get("/api/history", {{"from", "x"}}).status, 400);

    // The server notes when it fans a record out: the admin's write is told to it at once.
    ASSERT_TRUE(wait_until(
        [&] {
            return !body_of(get("/api/history", {{"from", "4"}}))["items"][0]["time_ms"].is_null();
        },
        10s));
}

TEST_F(SyncApiTest, StatusHasStoreHistoryAndServerFigures) {
    test::put(*store_, "Person", {{"name", Value("Ann")}});
    json status;
    api_->add_status(status);
    const json& s = status["sync"];
    EXPECT_EQ(s["store"]["path"], store_->dir());
    EXPECT_GT(s["store"]["size_bytes"].get<uint64_t>(), 0u);
    EXPECT_GT(s["store"]["map_size_bytes"].get<uint64_t>(),
              s["store"]["map_used_bytes"].get<uint64_t>());
    EXPECT_EQ(s["history"]["last_seq"], 1);
    EXPECT_EQ(s["history"]["first_seq"], 1);
    EXPECT_EQ(s["history"]["records"], 1);
    EXPECT_GT(s["history"]["bytes"].get<uint64_t>(), 0u);
    EXPECT_EQ(s["clients_connected"], 0);
    for (const char* k : {"push_txns_per_s", "applied_changes_per_s", "fanout_changes_per_s",
                          "logins_total", "full_syncs_total"}) {
        EXPECT_TRUE(s.contains(k)) << k;
    }
}

TEST_F(SyncApiTest, MetricsHaveEveryFamilyCountLoginsAndPassPromtool) {
    SyncClient& a = device("a");
    device("b");
    test::put(*stores_[0], "Person", {{"name", Value("Ann")}});
    ASSERT_OK(a.wait_until_up_to_date(30s));
    ASSERT_TRUE(wait_until([&] { return test::count(*stores_[1], "Person") == 1; }, 30s));
    device("intruder", "wrong", false);

    std::string text;
    ASSERT_TRUE(wait_until(
        [&] {
            text = metrics();
            return text.find("outpost_logins_total{result=\"rejected\"} 1\n") !=
                       std::string::npos &&
                   text.find("outpost_fanout_changes_total 1\n") != std::string::npos;
        },
        30s))
        << text;
    for (const char* family :
         {"outpost_clients_connected 2\n", "outpost_logins_total{result=\"ok\"} 2\n",
          "outpost_push_txns_total 1\n", "outpost_push_apply_seconds_count 1\n",
          "outpost_push_apply_seconds_bucket{le=\"+Inf\"} 1\n", "outpost_history_seq 1\n",
          "# TYPE outpost_history_bytes gauge\n", "outpost_full_syncs_total 2\n",
          "# TYPE outpost_push_apply_seconds histogram\n"}) {
        EXPECT_NE(text.find(family), std::string::npos) << family << " in\n" << text;
    }
    EXPECT_EQ(text.find("outpost_mongodb_"), std::string::npos);

    FILE* promtool = ::popen("/usr/bin/promtool check metrics", "w");
    ASSERT_NE(promtool, nullptr);
    ASSERT_EQ(std::fwrite(text.data(), 1, text.size(), promtool), text.size());
    const int rc = ::pclose(promtool);
    ASSERT_TRUE(WIFEXITED(rc)) << rc;
    EXPECT_EQ(WEXITSTATUS(rc), 0) << text;
}

// Requests from several admin threads at once, while a device pushes: every answer is right, and
// every write arrives once.
TEST_F(SyncApiTest, ServesRequestsFromSeveralThreadsWhileADevicePushes) {
    SyncClient& phone = device("phone");
    Store& phone_store = *stores_.back();
    constexpr int kThreads = 4, kRounds = 25, kPushes = 50;
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kRounds; ++i) {
                const std::string name = "admin-" + std::to_string(t) + "-" + std::to_string(i);
                const std::string body = json({{"name", name}}).dump();
                auto answers = {
                    api_->handle(request("POST", "/api/entities/Person/objects", {}, body)),
                    api_->handle(request("GET", "/api/entities/Person/objects",
                                         {{"where", "name ^= \"admin\""}, {"limit", "5"}})),
                    api_->handle(request("GET", "/api/clients")),
                    api_->handle(request("GET", "/api/history")),
                    api_->handle(request("GET", "/api/model")),
                };
                for (const auto& a : answers) {
                    if (!a || (a->status != 200 && a->status != 201)) ++bad;
                }
                MetricsWriter w;
                api_->write_metrics(w);
                json status;
                api_->add_status(status);
                if (w.text().find("outpost_push_txns_total") == std::string::npos) ++bad;
            }
        });
    }
    for (int i = 0; i < kPushes; ++i) {
        test::put(phone_store, "Item", {{"n", Value(int64_t{i})}});
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(bad, 0);
    ASSERT_OK(phone.wait_until_up_to_date(30s));
    EXPECT_EQ(test::count(*store_, "Item"), static_cast<uint64_t>(kPushes));
    EXPECT_EQ(test::count(*store_, "Person"), static_cast<uint64_t>(kThreads * kRounds));
    ASSERT_TRUE(wait_until(
        [&] { return test::count(phone_store, "Person") == uint64_t{kThreads * kRounds}; }, 30s));
}

class SyncApiTokenTest : public SyncApiTest {
  protected:
    void configure(sync::SyncServerOptions& o) override {
        o.core.verify_token = sync::testing::fake_verify;
    }
};

TEST_F(SyncApiTokenTest, ClientsShowTheTokensUserAndLoginsCountByResult) {
    device("alice", "", true, "alice:" + std::to_string(now_s() + 3600));
    device("stale", "", false, "bob:" + std::to_string(now_s() + 3600) + ":stale");
    device("late", "", false, "carol:" + std::to_string(now_s() - 100));
    std::string text;
    ASSERT_TRUE(wait_until(
        [&] {
            text = metrics();
            return sample_value(text, "outpost_logins_total{result=\"unknown_key\"}") >= 1 &&
                   sample_value(text, "outpost_logins_total{result=\"expired\"}") >= 1;
        },
        30s))
        << text;
    EXPECT_EQ(sample_value(text, "outpost_logins_total{result=\"ok\"}"), 1);
    EXPECT_EQ(sample_value(text, "outpost_logins_total{result=\"rejected\"}"), 0);
    EXPECT_EQ(sample_value(text, "outpost_clients_connected"), 1);
    json items = body_of(get("/api/clients"))["items"];
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(items[0]["user"], "alice");
}

// With no server (a store only) the data paths work; there are no clients.
TEST(SyncApiWithoutServer, ServesDataAndNoClients) {
    test::TempDir dir;
    auto store = open_store(dir.sub("s"));
    SyncApi api(store, nullptr);
    auto created =
        api.handle(request("POST", "/api/entities/Person/objects", {}, R"({"name": "A"})"));
    ASSERT_TRUE(created);
    EXPECT_EQ(created->status, 201);
    auto list = api.handle(request("GET", "/api/entities/Person/objects"));
    ASSERT_TRUE(list);
    EXPECT_EQ(body_of(*list)["total"], 1);
    auto clients = api.handle(request("GET", "/api/clients"));
    ASSERT_TRUE(clients);
    EXPECT_EQ(body_of(*clients)["items"].size(), 0u);
    EXPECT_EQ(api.handle(request("POST", "/api/clients/ab/disconnect"))->status, 404);
    MetricsWriter w;
    api.write_metrics(w);
    EXPECT_NE(w.text().find("outpost_history_seq 1\n"), std::string::npos);
}

}  // namespace
}  // namespace outpost::admin
