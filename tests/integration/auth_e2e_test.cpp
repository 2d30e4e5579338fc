// JWT logins end to end: a real outpost-server with --jwt-jwks FILE, --jwt-audience and
// --jwt-issuer; RSA keys made with openssl at test time; tokens and JWKS documents from `outpost
// token`; clients as `outpost sync` processes (and an in-process SyncClient where the test needs to
// write while it runs). Each bad token gets its code; a key rotation in the JWKS file lets the new
// key in; a session whose token expires ends with 4501 and resumes with the fresh token.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "integration/jwt_it_support.hpp"
#include "integration/sync_it_support.hpp"

namespace outpost::it {
namespace {

constexpr const char* kIssuer = "https://id.outpost.test/";
constexpr const char* kAudience = "outpost";

class JwtIt : public SyncIt {
  protected:
    JwtIt() {
        key_ = make_rsa_key(dir_.sub("key1.pem"));
        other_key_ = make_rsa_key(dir_.sub("key2.pem"));
        jwks_ = write_file(dir_.sub("jwks.json"), jwks_of({{key_, "k1"}}));
    }

    // The JWKS document of KEYS (private key file, kid), public halves only.
    std::string jwks_of(const std::vector<std::pair<std::string, std::string>>& keys) {
        nlohmann::json all = {{"keys", nlohmann::json::array()}};
        for (const auto& [key, kid] : keys) {
            auto one = nlohmann::json::parse(
                outpost_token({"--key", key, "--kid", kid, "--print-jwks"}, log("jwks")));
            for (auto& k : one["keys"]) all["keys"].push_back(k);
        }
        return all.dump();
    }

    // A token of SUB signed with key1 (kid k1) for the server's audience and issuer, with ARGS
    // added or overriding.
    std::string mint(const std::string& sub, std::vector<std::string> args = {}) {
        std::vector<std::string> all = {"--sub", sub};
        auto has = [&](const char* flag) {
            return std::find(args.begin(), args.end(), flag) != args.end();
        };
        if (!has("--key") && !has("--shared-key-file") && !has("--alg")) {
            all.insert(all.end(), {"--key", key_});
        }
        if (!has("--kid")) all.insert(all.end(), {"--kid", "k1"});
        if (!has("--aud")) all.insert(all.end(), {"--aud", kAudience});
        if (!has("--iss")) all.insert(all.end(), {"--iss", kIssuer});
        all.insert(all.end(), args.begin(), args.end());
        return outpost_token(all, log("token"));
    }

    // A server with the JWKS file, the audience and the issuer (and the shared secret for the
    // checking peer); LEEWAY_ZERO sets auth.jwt.leewaySeconds 0 so that expiry tests need no wait.
    std::unique_ptr<ServerProcess> start_server(bool leeway_zero = false) {
        ServerConfig c;
        c.extra = {"--jwt-jwks", jwks_, "--jwt-audience", kAudience, "--jwt-issuer", kIssuer};
        if (leeway_zero) {
            c.extra.push_back("--conf");
            c.extra.push_back(
                write_file(dir_.sub("leeway0.json"), R"({"auth": {"jwt": {"leewaySeconds": 0}}})"));
        }
        auto server = make_server("server", c);
        EXPECT_TRUE(server->start());
        return server;
    }

    // `outpost sync --until-synced` of store NAME with TOKEN.
    RunResult sync_with(const std::string& name, const std::string& token, int timeout_s = 30) {
        return run_program({OUTPOST_CLI_BIN, "sync", "--db", dir_.sub(name), "--model", model_file_,
                            "--url", server_->url(), "--token", token, "--until-synced",
                            "--timeout", std::to_string(timeout_s)},
                           log("sync"), kDeadline);
    }

    std::string log(const std::string& what) {
        return dir_.sub(what + "-" + std::to_string(++logs_) + ".log");
    }

    // Objects named NAME that the server has, seen through a shared-secret peer.
    bool server_has(const std::string& name) {
        Peer checker(dir_.sub("checker-" + std::to_string(++logs_)), model_, {server_->url()});
        checker.client->start();
        if (!checker.wait_synced()) return false;
        auto box = checker.store->box("Person").value();
        auto txn = checker.store->begin_read();
        auto all = box.get_all(*txn);
        if (!all) return false;
        for (const auto& o : *all) {
            if (o.get("name").as<std::string>() == name) return true;
        }
        return false;
    }

    std::string key_, other_key_, jwks_;
    std::unique_ptr<ServerProcess> server_;
    int logs_ = 0;
};

TEST_F(JwtIt, OutpostSyncWithATokenSyncs) {
    server_ = start_server();
    ASSERT_TRUE(run_program({OUTPOST_CLI_BIN, "put", "--db", dir_.sub("alice"), "--model",
                             model_file_, "Person", R"({"name": "from alice"})"},
                            log("put"), kDeadline)
                    .exit_code == 0);
    RunResult r = sync_with("alice", mint("alice"));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(server_has("from alice"));
}

// Every way a token can be wrong, through `outpost sync`: the code it reports, and the server's log
// never holds a token.
TEST_F(JwtIt, EachBadTokenGetsItsCode) {
    server_ = start_server();
    const std::string public_pem = public_key_of(key_, dir_.sub("key1.pub.pem"));
    // Alice's header and signature over bob's claims.
    const std::string alice = mint("alice");
    const std::string bob = mint("bob");
    const std::string tampered = alice.substr(0, alice.find('.')) +
                                 bob.substr(bob.find('.'), bob.rfind('.') - bob.find('.')) +
                                 alice.substr(alice.rfind('.'));
    struct Case {
        const char* what;
        std::string token;
        const char* code;  // as `outpost sync` prints it
    };
    const std::vector<Case> cases = {
        {"expired", mint("alice", {"--ttl=-1h"}), "login failed (501)"},
        {"not yet valid", mint("alice", {"--nbf-in", "1h"}), "login failed (500)"},
        {"wrong audience", mint("alice", {"--aud", "another-service"}), "login failed (500)"},
        {"wrong issuer", mint("alice", {"--iss", "https://evil.test/"}), "login failed (500)"},
        {"alg none", mint("alice", {"--alg", "none"}), "login failed (500)"},
        {"HS256 signed with the RSA public key",
         mint("alice", {"--shared-key-file", public_pem, "--alg", "HS256"}), "login failed (500)"},
        {"tampered payload", tampered, "login failed (500)"},
    };
    for (const Case& c : cases) {
        ASSERT_FALSE(c.token.empty()) << c.what;
        RunResult r = sync_with(std::string("bad-") + std::to_string(++logs_), c.token);
        EXPECT_EQ(r.exit_code, 1) << c.what << ": " << r.err;
        EXPECT_NE(r.err.find(c.code), std::string::npos) << c.what << ": " << r.err;
        const std::string signature = c.token.substr(c.token.rfind('.') + 1);
        if (!signature.empty()) {
            EXPECT_EQ(server_->log().find(signature), std::string::npos) << c.what;
        }
    }
    // The good token still gets in (the refusals did not block the address).
    RunResult ok = sync_with("good", alice);
    EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

// A key that the JWKS file gains after the start (a rotation) is let in: the unknown kid makes the
// server load the file again. A kid that is in no JWKS gets 502 (the client retries, so `outpost
// sync` runs into its timeout).
TEST_F(JwtIt, RotatedKeyIsLetInAndAnUnknownKidGets502) {
    server_ = start_server();
    write_file(jwks_, jwks_of({{key_, "k1"}, {other_key_, "k2"}}));
    RunResult rotated = sync_with("rotated", mint("alice", {"--key", other_key_, "--kid", "k2"}));
    EXPECT_EQ(rotated.exit_code, 0) << rotated.err;

    RunResult unknown = sync_with("unknown", mint("alice", {"--kid", "k9"}), 3);
    EXPECT_EQ(unknown.exit_code, 1) << unknown.err;
    EXPECT_NE(unknown.err.find("error (502)"), std::string::npos) << unknown.err;
    EXPECT_EQ(unknown.err.find("login failed"), std::string::npos) << unknown.err;
}

// `outpost sync --watch --token-file F` with a token that expires during the session: the server
// ends the session (4501), the tool reads the rewritten file and resumes; what was written before
// reached the server and what is written after reaches the tool.
TEST_F(JwtIt, ExpiredSessionResumesWithTheRewrittenTokenFile) {
    server_ = start_server(/*leeway_zero=*/true);
    ASSERT_EQ(run_program({OUTPOST_CLI_BIN, "put", "--db", dir_.sub("alice"), "--model",
                           model_file_, "Person", R"({"name": "before"})"},
                          log("put"), kDeadline)
                  .exit_code,
              0);
    const std::string fresh = mint("alice", {"--ttl", "1h"});
    const std::string token_file = write_file(dir_.sub("token"), mint("alice", {"--ttl", "8s"}));
    Process watch;
    ASSERT_TRUE(watch.spawn({OUTPOST_CLI_BIN, "sync", "--db", dir_.sub("alice"), "--url",
                             server_->url(), "--token-file", token_file, "--watch"},
                            log("watch")));
    ASSERT_TRUE(
        eventually([&] { return watch.stderr_text().find("up to date") != std::string::npos; },
                   "the first session is up"))
        << watch.stderr_text();
    write_file(token_file, fresh + "\n");  // renewed, as a cron job would
    EXPECT_TRUE(server_has("before"));
    ASSERT_TRUE(eventually(
        [&] { return watch.stderr_text().find("connection closed (4501)") != std::string::npos; },
        "the session ends when the token expires"))
        << watch.stderr_text();

    Peer writer(dir_.sub("writer"), model_, {server_->url()});
    writer.client->start();
    put(*writer.store, "Person", {{"name", Value(std::string("after"))}});
    ASSERT_TRUE(writer.wait_synced());
    std::string seen;
    while (auto line = watch.read_line(kDeadline)) {
        if (line->find("\"after\"") != std::string::npos) {
            seen = *line;
            break;
        }
    }
    EXPECT_NE(seen, "") << "the resumed session did not receive the write; stderr:\n"
                        << watch.stderr_text();
    EXPECT_EQ(watch.stderr_text().find("login failed"), std::string::npos) << watch.stderr_text();
    watch.signal(SIGTERM);
    EXPECT_EQ(watch.wait(kDeadline), 0);
}

// An in-process client whose provider reads the token file: writes made before the expiry and after
// it (while the client logs in again) all reach the server, once.
TEST_F(JwtIt, ExpiryMidSessionLosesNothing) {
    server_ = start_server(/*leeway_zero=*/true);
    const std::string fresh = mint("alice", {"--ttl", "1h"});
    const std::string token_file = write_file(dir_.sub("token"), mint("alice", {"--ttl", "8s"}));
    auto store = open_store(dir_.sub("alice"), model_);
    SyncClientOptions o;
    o.urls = {server_->url()};
    o.token_provider = [token_file] {
        std::ifstream in(token_file);
        std::string token;
        std::getline(in, token);
        return token;
    };
    auto client = SyncClient::create(store, o).value();
    std::atomic<int> expiries{0};
    client->on_error([&](ErrorCode code, const std::string&) {
        if (code == ErrorCode::kAuthTokenExpired) ++expiries;
    });
    client->start();
    for (int i = 0; i < 5; ++i)
        put(*store, "Person", {{"name", Value("before " + std::to_string(i))}});
    ASSERT_OK(client->wait_until_up_to_date(kDeadline));
    write_file(token_file, fresh);
    ASSERT_TRUE(eventually([&] { return expiries > 0; }, "the token expires"));
    for (int i = 0; i < 5; ++i)
        put(*store, "Person", {{"name", Value("after " + std::to_string(i))}});
    ASSERT_OK(client->wait_until_up_to_date(kDeadline));
    EXPECT_EQ(client->outgoing_queue_length(), 0u);
    client->stop();

    Peer checker(dir_.sub("checker"), model_, {server_->url()});
    checker.client->start();
    ASSERT_TRUE(checker.wait_synced());
    EXPECT_EQ(count(*checker.store, "Person"), 10u);
}

}  // namespace
}  // namespace outpost::it
