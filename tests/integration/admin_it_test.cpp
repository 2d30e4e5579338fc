// outpost-server's admin server end to end: --admin-bind, accounts from a password file and from
// the config, login over HTTP, /api/status, /metrics checked by promtool, and the starts that are
// refused.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/http_client.hpp"
#include "net/http_get.hpp"
#include "net/url.hpp"
#include "sync_it_support.hpp"

namespace outpost {
namespace {

using nlohmann::json;
using test::http_request;

constexpr const char* kAdminPrefix = "admin listening on ";

class AdminIt : public it::SyncIt {
  protected:
    void SetUp() override { it::write_file(dir_.sub("password"), "correct horse\n"); }

    std::vector<std::string> server_args(std::vector<std::string> extra) {
        std::vector<std::string> args = {
            OUTPOST_SERVER_BIN, "--model", model_file_,        "--db-directory",
            dir_.sub("data"),   "--bind",  "ws://127.0.0.1:0", "--auth-shared-secret",
            it::kSecret};
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
    }

    // Starts the server and reads the admin port from its `admin listening on` line.
    ::testing::AssertionResult start(std::vector<std::string> extra, bool tls = false) {
        if (!server_.spawn(server_args(std::move(extra)), dir_.sub("server.log"))) {
            return ::testing::AssertionFailure() << "fork failed";
        }
        while (auto line = server_.read_line(it::kDeadline)) {
            if (line->rfind(kAdminPrefix, 0) != 0) continue;
            admin_url_ = line->substr(std::string(kAdminPrefix).size());
            auto url = net::detail::parse_http_listen_url(admin_url_);
            if (!url || url->host != "127.0.0.1" || url->port == 0 || url->tls != tls) {
                return ::testing::AssertionFailure() << "bad line: " << *line;
            }
            port_ = url->port;
            return ::testing::AssertionSuccess();
        }
        return ::testing::AssertionFailure() << "no `admin listening on` line; log:\n"
                                             << server_.stderr_text();
    }

    // Logs in as alice; returns the cookie ("outpost_admin=...").
    std::string login(const std::string& password = "correct horse") {
        auto r = http_request(port_, "POST", "/api/login", {{"Content-Type", "application/json"}},
                              json{{"user", "alice"}, {"password", password}}.dump());
        if (r.status != 200) return "";
        const std::string set = r.header("set-cookie");
        return set.substr(0, set.find(';'));
    }

    // Runs promtool check metrics on TEXT: its exit code and output.
    it::RunResult promtool(const std::string& text) {
        const std::string file = it::write_file(dir_.sub("metrics.txt"), text);
        return it::run_program(
            {"/bin/sh", "-c", std::string(PROMTOOL) + " check metrics < " + file},
            dir_.sub("promtool.log"), it::kDeadline);
    }

    it::Process server_;
    std::string admin_url_;
    uint16_t port_ = 0;
};

TEST_F(AdminIt, LogsInOverHttpAndServesStatusAndValidMetrics) {
    ASSERT_TRUE(start({"--admin-bind", "http://127.0.0.1:0", "--admin-user", "alice",
                       "--admin-password-file", dir_.sub("password")}));
    EXPECT_EQ(http_request(port_, "GET", "/health").body, "outpost\n");
    EXPECT_EQ(http_request(port_, "GET", "/api/status").status, 401);
    EXPECT_EQ(login("wrong"), "");
    const std::string cookie = login();
    ASSERT_FALSE(cookie.empty()) << server_.stderr_text();

    auto status = http_request(port_, "GET", "/api/status", {{"Cookie", cookie}});
    ASSERT_EQ(status.status, 200) << status.body;
    EXPECT_EQ(status.header("content-type"), "application/json");
    const json s = json::parse(status.body, nullptr, false);
    ASSERT_TRUE(s.is_object()) << status.body;
    EXPECT_TRUE(s["version"].is_string());
    EXPECT_FALSE(s["version"].get<std::string>().empty());
    EXPECT_TRUE(s["uptime_s"].is_number());
    EXPECT_TRUE(s["now_ms"].is_number_integer());

    EXPECT_EQ(http_request(port_, "GET", "/metrics").status, 401);
    // "alice:correct horse" in base64.
    auto metrics = http_request(port_, "GET", "/metrics",
                                {{"Authorization", "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ=="}});
    ASSERT_EQ(metrics.status, 200) << metrics.body;
    EXPECT_EQ(metrics.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_NE(metrics.body.find("\nprocess_resident_memory_bytes "), std::string::npos);
    EXPECT_NE(metrics.body.find("\nprocess_open_fds "), std::string::npos);
    EXPECT_NE(metrics.body.find("\nprocess_start_time_seconds "), std::string::npos);
    it::RunResult check = promtool(metrics.body);
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err << "\n" << metrics.body;
    EXPECT_EQ(http_request(port_, "GET", "/metrics", {{"Cookie", cookie}}).status, 200);

    auto index = http_request(port_, "GET", "/");
    EXPECT_EQ(index.status, 200);
    EXPECT_NE(index.body.find("Outpost admin"), std::string::npos);

    const std::string log = server_.stderr_text();
    EXPECT_NE(log.find("admin login failed for user 'alice' from 127.0.0.1"), std::string::npos)
        << log;
    EXPECT_EQ(log.find("correct horse"), std::string::npos) << log;
    server_.signal(SIGTERM);
    EXPECT_EQ(server_.wait(it::kDeadline), 0);
}

TEST_F(AdminIt, AccountsFromTheConfigWithAHashFromAdminPasswordHash) {
    it::RunResult hash = it::run_program(
        {"/bin/sh", "-c",
         "printf 'correct horse\\n' | " + std::string(OUTPOST_SERVER_BIN) + " admin-password-hash"},
        dir_.sub("hash.log"), it::kDeadline);
    ASSERT_EQ(hash.exit_code, 0) << hash.err;
    std::string h = hash.out.substr(0, hash.out.find('\n'));
    ASSERT_TRUE(h.starts_with("$argon2id$")) << hash.out;
    const std::string conf = it::write_file(
        dir_.sub("conf.json"),
        json{{"adminBind", "http://127.0.0.1:0"},
             {"admin", {{"users", json::array({{{"name", "alice"}, {"passwordHash", h}}})}}}}
            .dump());
    ASSERT_TRUE(start({"--conf", conf}));
    EXPECT_FALSE(login().empty());
    EXPECT_EQ(login("correct horse!"), "");
}

TEST_F(AdminIt, WithoutAccountsOnLoopbackEveryoneIsLocal) {
    ASSERT_TRUE(start({"--admin-bind", "http://127.0.0.1:0"}));
    auto status = http_request(port_, "GET", "/api/status");
    EXPECT_EQ(status.status, 200) << status.body;
    // A name an attacker's DNS points at 127.0.0.1 is refused.
    EXPECT_EQ(http_request(port_, "GET", "/api/status",
                           {{"Host", "rebind.example:" + std::to_string(port_)}})
                  .status,
              403);
    auto metrics = http_request(port_, "GET", "/metrics");
    ASSERT_EQ(metrics.status, 200);
    it::RunResult check = promtool(metrics.body);
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

TEST_F(AdminIt, ServesHttpsWithTheCertificateOfCert) {
    const std::string certs = dir_.sub("certs");
    std::filesystem::create_directories(certs);
    it::RunResult made = it::run_program(
        {"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", certs + "/key.pem",
         "-out", certs + "/cert.pem"},
        dir_.sub("openssl.log"), it::kDeadline);
    ASSERT_EQ(made.exit_code, 0) << made.err;
    ASSERT_TRUE(start({"--cert", certs, "--admin-bind", "https://127.0.0.1:0", "--admin-user",
                       "alice", "--admin-password-file", dir_.sub("password")},
                      true));
    EXPECT_TRUE(admin_url_.starts_with("https://127.0.0.1:")) << admin_url_;
    net::HttpGetOptions get;
    get.url = admin_url_ + "/health";
    get.ca_file = certs + "/cert.pem";
    auto health = net::http_get(get);
    ASSERT_TRUE(health.is_ok()) << health.status().to_string();
    EXPECT_EQ(health->body, "outpost\n");
    // Plain HTTP on the TLS port gets no answer.
    EXPECT_EQ(http_request(port_, "GET", "/health").status, 0);
}

TEST_F(AdminIt, AnExplicitPortThatIsTakenStopsTheStart) {
    test::LoopbackListener taken;
    const std::string url = "http://127.0.0.1:" + std::to_string(taken.port());
    it::RunResult r =
        it::run_program(server_args({"--admin-bind", url}), dir_.sub("run.log"), it::kDeadline);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("cannot listen on " + url), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("listening on"), std::string::npos) << r.out;
}

TEST_F(AdminIt, ANonLoopbackBindWithoutAnAccountIsRefused) {
    it::RunResult r = it::run_program(server_args({"--admin-bind", "http://0.0.0.0:0"}),
                                      dir_.sub("run.log"), it::kDeadline);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("no admin account"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");

    // Bad values: a URL that is not http(s), https without --cert, a user without a password file,
    // a password hash that is not argon2id.
    for (std::vector<std::string> bad : std::vector<std::vector<std::string>>{
             {"--admin-bind", "ws://127.0.0.1:0"},
             {"--admin-bind", "https://127.0.0.1:0"},
             {"--admin-user", "alice"},
         }) {
        it::RunResult refused =
            it::run_program(server_args(bad), dir_.sub("bad.log"), it::kDeadline);
        EXPECT_EQ(refused.exit_code, 2) << bad[0] << " " << refused.err;
    }
    const std::string conf =
        it::write_file(dir_.sub("conf.json"),
                       R"({"admin": {"users": [{"name": "alice", "passwordHash": "hunter2"}]}})");
    it::RunResult plain =
        it::run_program(server_args({"--conf", conf}), dir_.sub("plain.log"), it::kDeadline);
    EXPECT_EQ(plain.exit_code, 2);
    EXPECT_NE(plain.err.find("admin-password-hash"), std::string::npos) << plain.err;
}

}  // namespace
}  // namespace outpost
