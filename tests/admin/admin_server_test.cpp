#include "admin/admin_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "admin/accounts.hpp"
#include "admin/ui_assets.hpp"
#include "common/http_client.hpp"
#include "common/status_macros.hpp"
#include "net/url.hpp"

namespace outpost::admin {
namespace {

using nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

// A part of the API for the tests: GET /api/fake/echo answers what it saw, POST /api/fake/items
// counts (a change the tests check did or did not happen), GET /api/fake/throw throws.
class FakePart : public ApiPart {
  public:
    std::optional<Response> handle(const Request& r) override {
        if (r.segments.size() < 2 || r.segments[0] != "api" || r.segments[1] != "fake") {
            return std::nullopt;
        }
        if (r.path == "/api/fake/echo") {
            json q = json::object();
            for (const auto& [k, v] : r.query) q[k] = v;
            return json_response(200, {{"user", r.user},
                                       {"segments", r.segments},
                                       {"query", q},
                                       {"remote", r.remote},
                                       {"method", r.method}});
        }
        if (r.path == "/api/fake/items" && r.method == "POST") {
            ++items;
            return json_response(201, {{"items", items.load()}});
        }
        if (r.path == "/api/fake/throw") throw std::runtime_error("part failed");
        return std::nullopt;  // another part may answer
    }
    void add_status(json& status) override { status["fake"] = {{"items", items.load()}}; }
    void write_metrics(MetricsWriter& out) override {
        out.counter("outpost_fake_items_total", "Items the fake part made.", items.load());
    }
    std::atomic<int> items{0};
};

// A second part that answers only what the first does not.
class SecondPart : public ApiPart {
  public:
    std::optional<Response> handle(const Request& r) override {
        if (r.path == "/api/second") return json_response(200, {{"part", "second"}});
        return std::nullopt;
    }
    void add_status(json& status) override { status["second"] = {{"ok", true}}; }
    void write_metrics(MetricsWriter&) override {}
};

const std::string& alice_hash() {
    static const std::string hash = hash_password("correct horse").value();
    return hash;
}

struct Fixture {
    explicit Fixture(bool with_accounts = true) {
        AdminServerOptions o;
        o.bind_url = "http://127.0.0.1:0";
        o.version = "9.8.7";
        if (with_accounts) o.accounts = {{"alice", alice_hash()}};
        o.log = [this](bool warn, const std::string& text) {
            std::lock_guard lock(log_mutex);
            log += (warn ? "W " : "I ") + text + "\n";
        };
        server = std::make_unique<AdminServer>(o);
        server->add_part(part);
        server->add_part(std::make_shared<SecondPart>());
    }

    net::HttpServerResponse call(const std::string& method, const std::string& target,
                                 Headers headers = {}, std::string body = "",
                                 std::string remote = "10.0.0.7", bool tls = false) {
        net::HttpServerRequest r;
        r.method = method;
        r.target = target;
        r.body = std::move(body);
        r.remote_address = std::move(remote);
        r.tls = tls;
        r.headers["host"] = "127.0.0.1:9980";
        if (!r.body.empty()) r.headers["content-type"] = "application/json";
        for (auto& [name, value] : headers) r.headers[name] = value;
        return server->handle(r);
    }

    // Logs in; returns {cookie header value, csrf}.
    std::pair<std::string, std::string> login(const std::string& remote = "10.0.0.7") {
        auto r = call("POST", "/api/login", {},
                      json{{"user", "alice"}, {"password", "correct horse"}}.dump(), remote);
        EXPECT_EQ(r.status, 200) << r.body;
        return {cookie_of(r), json::parse(r.body).value("csrf", "")};
    }

    static std::string header(const net::HttpServerResponse& r, const std::string& name) {
        for (const auto& [n, v] : r.headers) {
            if (n == name) return v;
        }
        return {};
    }
    // "outpost_admin=TOKEN" from the Set-Cookie header.
    static std::string cookie_of(const net::HttpServerResponse& r) {
        const std::string set = header(r, "Set-Cookie");
        return set.substr(0, set.find(';'));
    }

    std::shared_ptr<FakePart> part = std::make_shared<FakePart>();
    std::mutex log_mutex;
    std::string log;
    std::unique_ptr<AdminServer> server;
};

json body_of(const net::HttpServerResponse& r) { return json::parse(r.body, nullptr, false); }

TEST(AdminServer, LoginSetsAnHttpOnlyStrictCookieAndReturnsTheCsrfToken) {
    Fixture f;
    auto r = f.call("POST", "/api/login", {}, R"({"user": "alice", "password": "correct horse"})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(body_of(r)["user"], "alice");
    EXPECT_EQ(body_of(r)["csrf"].get<std::string>().size(), 64u);
    const std::string cookie = Fixture::header(r, "Set-Cookie");
    EXPECT_TRUE(cookie.starts_with("outpost_admin=")) << cookie;
    EXPECT_EQ(cookie.substr(14, 64).find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_NE(cookie.find("; HttpOnly"), std::string::npos) << cookie;
    EXPECT_NE(cookie.find("; SameSite=Strict"), std::string::npos) << cookie;
    EXPECT_NE(cookie.find("; Path=/"), std::string::npos) << cookie;
    EXPECT_EQ(cookie.find("Secure"), std::string::npos) << cookie;
    // The session works: GET /api/session answers the same user and token.
    auto s = f.call("GET", "/api/session", {{"cookie", Fixture::cookie_of(r)}});
    ASSERT_EQ(s.status, 200) << s.body;
    EXPECT_EQ(body_of(s)["csrf"], body_of(r)["csrf"]);
    EXPECT_NE(f.log.find("admin login: user 'alice' from 10.0.0.7"), std::string::npos) << f.log;
    EXPECT_EQ(f.log.find("correct horse"), std::string::npos) << f.log;

    // Over https the cookie is also Secure.
    auto tls = f.call("POST", "/api/login", {}, R"({"user": "alice", "password": "correct horse"})",
                      "10.0.0.8", true);
    EXPECT_NE(Fixture::header(tls, "Set-Cookie").find("; Secure"), std::string::npos);
}

TEST(AdminServer, WrongOrMissingCredentialsGet401AndChangeNothing) {
    Fixture f;
    for (const char* body : {R"({"user": "alice", "password": "wrong"})",
                             R"({"user": "bob", "password": "correct horse"})"}) {
        auto r = f.call("POST", "/api/login", {}, body);
        EXPECT_EQ(r.status, 401) << body;
        EXPECT_EQ(body_of(r)["error"]["status"], 401);
        EXPECT_EQ(Fixture::header(r, "Set-Cookie"), "");
    }
    EXPECT_NE(f.log.find("admin login failed for user 'bob' from 10.0.0.7"), std::string::npos);
    EXPECT_EQ(f.log.find("wrong"), std::string::npos) << f.log;
    // Malformed login bodies: 400.
    for (const char* body :
         {"", "{", "[]", R"({"user": 1, "password": "x"})", R"({"user": "a"})"}) {
        EXPECT_EQ(f.call("POST", "/api/login", {{"content-type", "application/json"}}, body).status,
                  400)
            << body;
    }
    // A login that is not JSON by its type (what a cross-site form can send): 415, no session.
    for (const char* type :
         {"text/plain", "application/x-www-form-urlencoded", "application/jsonx"}) {
        auto r = f.call("POST", "/api/login", {{"content-type", type}},
                        R"({"user": "alice", "password": "correct horse"})");
        EXPECT_EQ(r.status, 415) << type;
        EXPECT_EQ(Fixture::header(r, "Set-Cookie"), "") << type;
    }
    EXPECT_EQ(f.call("POST", "/api/login", {{"content-type", "Application/JSON; charset=utf-8"}},
                     R"({"user": "alice", "password": "correct horse"})")
                  .status,
              200);
    EXPECT_EQ(f.call("GET", "/api/login").status, 405);
    // Without a session: 401 everywhere under /api/, and the part's POST did nothing.
    EXPECT_EQ(f.call("GET", "/api/status").status, 401);
    EXPECT_EQ(f.call("GET", "/api/session").status, 401);
    EXPECT_EQ(f.call("GET", "/api/fake/echo").status, 401);
    EXPECT_EQ(f.call("POST", "/api/fake/items", {{"x-csrf-token", "x"}}).status, 401);
    EXPECT_EQ(f.call("GET", "/api/fake/echo", {{"cookie", "outpost_admin=" + std::string(64, 'a')}})
                  .status,
              401);
    EXPECT_EQ(f.part->items, 0);
}

TEST(AdminServer, TooManyFailedLoginsFromOneAddressGet429) {
    Fixture f;
    const std::string wrong = R"({"user": "alice", "password": "nope"})";
    const std::string right = R"({"user": "alice", "password": "correct horse"})";
    for (int i = 0; i < 5; ++i) EXPECT_EQ(f.call("POST", "/api/login", {}, wrong).status, 401);
    // Blocked: even the right password gets 429 now, without a check.
    auto blocked = f.call("POST", "/api/login", {}, right);
    EXPECT_EQ(blocked.status, 429);
    EXPECT_EQ(Fixture::header(blocked, "Retry-After"), "60");
    EXPECT_EQ(Fixture::header(blocked, "Set-Cookie"), "");
    // Another address is not blocked.
    EXPECT_EQ(f.call("POST", "/api/login", {}, right, "10.0.0.9").status, 200);
}

TEST(AdminServer, ChangesNeedTheSessionsCsrfToken) {
    Fixture f;
    auto [cookie, csrf] = f.login();
    EXPECT_EQ(f.call("POST", "/api/fake/items", {{"cookie", cookie}}).status, 403);
    EXPECT_EQ(
        f.call("POST", "/api/fake/items", {{"cookie", cookie}, {"x-csrf-token", "bad"}}).status,
        403);
    std::string other = csrf;
    other[0] = other[0] == 'a' ? 'b' : 'a';
    EXPECT_EQ(
        f.call("DELETE", "/api/fake/items", {{"cookie", cookie}, {"x-csrf-token", other}}).status,
        403);
    // Any method but GET and HEAD needs it, also one no part knows.
    EXPECT_EQ(f.call("FROB", "/api/fake/items", {{"cookie", cookie}}).status, 403);
    EXPECT_EQ(f.part->items, 0);
    auto ok = f.call("POST", "/api/fake/items", {{"cookie", cookie}, {"x-csrf-token", csrf}});
    EXPECT_EQ(ok.status, 201) << ok.body;
    EXPECT_EQ(f.part->items, 1);
    // Another session's token does not do.
    auto [cookie2, csrf2] = f.login("10.0.0.8");
    EXPECT_EQ(
        f.call("POST", "/api/fake/items", {{"cookie", cookie}, {"x-csrf-token", csrf2}}).status,
        403);
    EXPECT_EQ(f.part->items, 1);
}

TEST(AdminServer, LogoutEndsTheSession) {
    Fixture f;
    auto [cookie, csrf] = f.login();
    EXPECT_EQ(f.call("POST", "/api/logout", {{"cookie", cookie}}).status, 403);  // no token
    auto out = f.call("POST", "/api/logout", {{"cookie", cookie}, {"x-csrf-token", csrf}});
    EXPECT_EQ(out.status, 204);
    EXPECT_NE(Fixture::header(out, "Set-Cookie").find("Max-Age=0"), std::string::npos);
    EXPECT_EQ(f.call("GET", "/api/session", {{"cookie", cookie}}).status, 401);
}

TEST(AdminServer, RoutesOtherApiPathsToThePartsInTurn) {
    Fixture f;
    auto [cookie, csrf] = f.login();
    auto r = f.call("GET", "/api/fake/echo?where=name%20%3D%20%22a%2Fb%22&limit=5&q=a+b&flag",
                    {{"cookie", cookie}});
    ASSERT_EQ(r.status, 200) << r.body;
    json b = body_of(r);
    EXPECT_EQ(b["user"], "alice");
    EXPECT_EQ(b["remote"], "10.0.0.7");
    EXPECT_EQ(b["query"]["where"], "name = \"a/b\"");
    EXPECT_EQ(b["query"]["limit"], "5");
    EXPECT_EQ(b["query"]["q"], "a b");
    EXPECT_EQ(b["query"]["flag"], "");
    // An escaped slash stays inside its segment.
    auto seg = f.call("GET", "/api/fake/echo/../x%2Fy", {{"cookie", cookie}});
    EXPECT_EQ(seg.status, 404);  // the fake part answers /api/fake/echo only
    auto second = f.call("GET", "/api/second", {{"cookie", cookie}});
    EXPECT_EQ(body_of(second)["part"], "second");
    // No part answers: 404 as JSON.
    auto none = f.call("GET", "/api/nothing/here", {{"cookie", cookie}});
    EXPECT_EQ(none.status, 404);
    EXPECT_EQ(body_of(none)["error"]["status"], 404);
    EXPECT_EQ(Fixture::header(none, "Content-Type"), "application/json");
    // A bad escape: 400.
    EXPECT_EQ(f.call("GET", "/api/fake/echo?x=%zz", {{"cookie", cookie}}).status, 400);
    EXPECT_EQ(f.call("GET", "/api/fake/%4", {{"cookie", cookie}}).status, 400);
    // A part that throws: 500 as JSON, logged; the server goes on.
    auto thrown = f.call("GET", "/api/fake/throw", {{"cookie", cookie}});
    EXPECT_EQ(thrown.status, 500);
    EXPECT_EQ(body_of(thrown)["error"]["status"], 500);
    EXPECT_NE(f.log.find("part failed"), std::string::npos);
    EXPECT_EQ(f.call("GET", "/api/second", {{"cookie", cookie}}).status, 200);
}

TEST(AdminServer, StatusMergesWhatEachPartAdds) {
    Fixture f;
    auto [cookie, csrf] = f.login();
    ASSERT_EQ(
        f.call("POST", "/api/fake/items", {{"cookie", cookie}, {"x-csrf-token", csrf}}).status,
        201);
    auto r = f.call("GET", "/api/status", {{"cookie", cookie}});
    ASSERT_EQ(r.status, 200) << r.body;
    json b = body_of(r);
    EXPECT_EQ(b["version"], "9.8.7");
    EXPECT_TRUE(b["uptime_s"].is_number());
    EXPECT_GE(b["uptime_s"].get<double>(), 0.0);
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    EXPECT_NEAR(b["now_ms"].get<double>(), static_cast<double>(now_ms), 60'000);
    EXPECT_EQ(b["fake"]["items"], 1);
    EXPECT_EQ(b["second"]["ok"], true);
    EXPECT_EQ(Fixture::header(r, "Cache-Control"), "no-store");
    EXPECT_EQ(f.call("POST", "/api/status", {{"cookie", cookie}, {"x-csrf-token", csrf}}).status,
              405);
}

std::string basic(const std::string& user_password) {
    static const char* kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < user_password.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(user_password[i]) << 16) |
                           (static_cast<unsigned char>(user_password[i + 1]) << 8) |
                           static_cast<unsigned char>(user_password[i + 2]);
        for (int k = 18; k >= 0; k -= 6) out += kAlphabet[(v >> k) & 63];
    }
    const std::size_t rest = user_password.size() - i;
    if (rest > 0) {
        unsigned v = static_cast<unsigned char>(user_password[i]) << 16;
        if (rest == 2) v |= static_cast<unsigned char>(user_password[i + 1]) << 8;
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return "Basic " + out;
}

TEST(AdminServer, MetricsNeedASessionOrBasicAuth) {
    Fixture f;
    auto none = f.call("GET", "/metrics");
    EXPECT_EQ(none.status, 401);
    EXPECT_TRUE(Fixture::header(none, "WWW-Authenticate").starts_with("Basic realm="));
    EXPECT_EQ(f.call("GET", "/metrics", {{"authorization", basic("alice:wrong")}}).status, 401);
    EXPECT_EQ(f.call("GET", "/metrics", {{"authorization", "Basic !!!"}}).status, 401);

    auto r = f.call("GET", "/metrics", {{"authorization", basic("alice:correct horse")}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(Fixture::header(r, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_NE(r.body.find("# TYPE outpost_fake_items_total counter\noutpost_fake_items_total 0\n"),
              std::string::npos)
        << r.body;
    for (const char* family : {"process_resident_memory_bytes", "process_open_fds",
                               "process_start_time_seconds", "process_cpu_seconds_total"}) {
        EXPECT_NE(r.body.find(std::string("# TYPE ") + family), std::string::npos) << family;
    }
    // The start time is a time since the epoch, in the past.
    const auto at = r.body.find("\nprocess_start_time_seconds ");
    ASSERT_NE(at, std::string::npos);
    const double start = std::stod(r.body.substr(at + 28));
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    EXPECT_GT(start, now - 86400 * 365);
    EXPECT_LE(start, now + 1);

    auto [cookie, csrf] = f.login("10.0.0.8");
    EXPECT_EQ(f.call("GET", "/metrics", {{"cookie", cookie}}).status, 200);
}

TEST(AdminServer, WithoutAccountsEveryRequestIsLocalButTheHostMustBeLoopback) {
    Fixture f(false);
    for (const char* host :
         {"evil.example", "evil.example:9980", "127.0.0.1.evil.example:9980", "10.0.0.1:9980", "",
          "127.0.0.1:9x80", "127.0.0.1:", "[::1]x", "[::1]:", "localhost:1234567", "[::1"}) {
        auto r = f.call("GET", "/api/status", {{"host", host}});
        EXPECT_EQ(r.status, 403) << host;
        EXPECT_EQ(f.call("GET", "/", {{"host", host}}).status, 403) << host;
    }
    for (const char* host : {"127.0.0.1:9980", "localhost:9980", "[::1]:9980", "localhost"}) {
        EXPECT_EQ(f.call("GET", "/api/status", {{"host", host}}).status, 200) << host;
    }
    EXPECT_EQ(f.call("GET", "/metrics").status, 200);
    auto echo = f.call("GET", "/api/fake/echo");
    EXPECT_EQ(body_of(echo)["user"], "local");
    // Changes still need a session's CSRF token; GET /api/session makes the session.
    EXPECT_EQ(f.call("POST", "/api/fake/items", {{"x-csrf-token", "x"}}).status, 403);
    auto s = f.call("GET", "/api/session");
    ASSERT_EQ(s.status, 200);
    EXPECT_EQ(body_of(s)["user"], "local");
    const std::string cookie = Fixture::cookie_of(s);
    ASSERT_TRUE(cookie.starts_with("outpost_admin=")) << cookie;
    const std::string csrf = body_of(s)["csrf"];
    EXPECT_EQ(f.call("POST", "/api/fake/items", {{"cookie", cookie}}).status, 403);
    EXPECT_EQ(
        f.call("POST", "/api/fake/items", {{"cookie", cookie}, {"x-csrf-token", csrf}}).status,
        201);
    EXPECT_EQ(f.part->items, 1);
}

TEST(AdminServer, ServesTheUiFilesWithTheirContentTypesAndSecurityHeaders) {
    Fixture f;
    auto index = f.call("GET", "/");
    ASSERT_EQ(index.status, 200);
    EXPECT_EQ(Fixture::header(index, "Content-Type"), "text/html; charset=utf-8");
    EXPECT_NE(index.body.find("<title>Outpost admin</title>"), std::string::npos);
    EXPECT_EQ(f.call("GET", "/index.html").body, index.body);
    EXPECT_EQ(Fixture::header(index, "X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(Fixture::header(index, "X-Frame-Options"), "DENY");
    EXPECT_EQ(Fixture::header(index, "Content-Security-Policy"), "default-src 'self'");
    auto missing = f.call("GET", "/no/such/file.js");
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(Fixture::header(missing, "X-Frame-Options"), "DENY");
    EXPECT_EQ(f.call("GET", "/../CMakeLists.txt").status, 404);
    EXPECT_EQ(f.call("POST", "/index.html").status, 405);
    auto health = f.call("GET", "/health");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.body, "outpost\n");
}

TEST(UiAssets, ContentTypesByExtension) {
    EXPECT_EQ(content_type_for("index.html"), "text/html; charset=utf-8");
    EXPECT_EQ(content_type_for("js/app.js"), "text/javascript; charset=utf-8");
    EXPECT_EQ(content_type_for("style.css"), "text/css; charset=utf-8");
    EXPECT_EQ(content_type_for("logo.svg"), "image/svg+xml");
    EXPECT_EQ(content_type_for("a/b.png"), "image/png");
    EXPECT_EQ(content_type_for("favicon.ico"), "image/x-icon");
    EXPECT_EQ(content_type_for("manifest.json"), "application/json");
    EXPECT_EQ(content_type_for("README"), "application/octet-stream");
    EXPECT_EQ(content_type_for(".html"), "application/octet-stream");
    EXPECT_GE(ui_asset_count(), 1u);
    EXPECT_TRUE(find_ui_asset("/index.html").has_value());
    EXPECT_FALSE(find_ui_asset("").has_value());
}

TEST(AdminServer, StartRefusesANonLoopbackBindWithoutAccountsAndBadHashes) {
    AdminServerOptions o;
    o.bind_url = "http://0.0.0.0:0";
    AdminServer open(o);
    Status st = open.start();
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(st.message().find("no admin account"), std::string::npos) << st.message();

    o.accounts = {{"alice", "plain-text-password"}};
    AdminServer bad_hash(o);
    EXPECT_EQ(bad_hash.start().code(), ErrorCode::kInvalidArgument);

    o.bind_url = "ftp://127.0.0.1:0";
    o.accounts = {{"alice", alice_hash()}};
    AdminServer bad_url(o);
    EXPECT_EQ(bad_url.start().code(), ErrorCode::kInvalidArgument);
}

TEST(AdminServer, ServesOverHttp) {
    AdminServerOptions o;
    o.bind_url = "http://127.0.0.1:0";
    o.accounts = {{"alice", alice_hash()}};
    AdminServer server(o);
    ASSERT_OK(server.start());
    const std::string url = server.bound_url();
    ASSERT_TRUE(url.starts_with("http://127.0.0.1:")) << url;
    const auto port = net::detail::parse_http_listen_url(url).value().port;
    EXPECT_EQ(test::http_request(port, "GET", "/health").body, "outpost\n");
    auto login =
        test::http_request(port, "POST", "/api/login", {{"Content-Type", "application/json"}},
                           R"({"user": "alice", "password": "correct horse"})");
    ASSERT_EQ(login.status, 200) << login.body;
    const std::string set_cookie = login.header("set-cookie");
    auto status = test::http_request(port, "GET", "/api/status",
                                     {{"Cookie", set_cookie.substr(0, set_cookie.find(';'))}});
    ASSERT_EQ(status.status, 200) << status.body;
    EXPECT_EQ(json::parse(status.body)["version"], "");
    EXPECT_EQ(status.header("cache-control"), "no-store");
    // A body above 1 MiB: 413 before any handler, with the security headers too.
    auto big = test::http_request(port, "POST", "/api/login", {}, std::string((1u << 20) + 1, 'x'));
    EXPECT_EQ(big.status, 413);
    EXPECT_EQ(big.header("x-frame-options"), "DENY");
}

}  // namespace
}  // namespace outpost::admin
