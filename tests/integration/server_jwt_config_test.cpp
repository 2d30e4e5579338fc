// outpost-server's JWT and sync-rules settings: the auth.jwt keys and syncRules, validate() and its
// warnings, and through the real program the refused starts (exit 2) and the auth line it logs.
#include <gtest/gtest.h>

#include "auth_setup.hpp"
#include "common/status_macros.hpp"
#include "config.hpp"
#include "integration/jwt_it_support.hpp"
#include "integration/sync_it_support.hpp"

namespace outpost::server {
namespace {

using it::kDeadline;

// A valid base: bound to loopback, JWT from a JWKS file.
Settings jwt_settings() {
    Settings s;
    s.binds = {"ws://127.0.0.1:1"};
    s.jwt.jwks = "jwks.json";
    return s;
}

// validate(S) fails with a message holding WHAT.
::testing::AssertionResult refused_with(const Settings& s, const std::string& what) {
    Status st = validate(s);
    if (st) return ::testing::AssertionFailure() << "accepted";
    if (st.message().find(what) == std::string::npos) {
        return ::testing::AssertionFailure() << "'" << st.message() << "' does not say " << what;
    }
    return ::testing::AssertionSuccess();
}

bool mentions(const std::vector<std::string>& lines, const std::string& what) {
    for (const auto& l : lines) {
        if (l.find(what) != std::string::npos) return true;
    }
    return false;
}

TEST(ServerJwtConfig, ReadsEveryJwtKey) {
    Settings s;
    ASSERT_OK(apply_config_json(R"({"auth": {"sharedSecret": "s", "jwt": {
        "publicKeyFile": "pub.pem", "jwks": "https://id.example/.well-known/jwks.json",
        "sharedKey": "0123456789abcdef0123456789abcdef", "algorithms": ["RS256", "HS256"],
        "audience": ["outpost", "api"], "issuer": "https://id.example/", "leewaySeconds": 30,
        "userClaim": "email"}}, "syncRules": "rules.json"})",
                                s));
    EXPECT_EQ(s.shared_secret, "s");
    EXPECT_EQ(s.jwt.public_key_file, "pub.pem");
    EXPECT_EQ(s.jwt.jwks, "https://id.example/.well-known/jwks.json");
    EXPECT_EQ(s.jwt.shared_key, "0123456789abcdef0123456789abcdef");
    EXPECT_EQ(s.jwt.algorithms, (std::vector<std::string>{"RS256", "HS256"}));
    EXPECT_EQ(s.jwt.audiences, (std::vector<std::string>{"outpost", "api"}));
    EXPECT_EQ(s.jwt.issuer, "https://id.example/");
    EXPECT_EQ(s.jwt.leeway_seconds, 30u);
    EXPECT_EQ(s.jwt.user_claim, "email");
    EXPECT_EQ(s.sync_rules_file, "rules.json");
    s.binds = {"ws://127.0.0.1:1"};
    EXPECT_OK(validate(s));

    ASSERT_OK(apply_config_json(R"({"auth": {"jwt": {"audience": "one"}}})", s));
    EXPECT_EQ(s.jwt.audiences, (std::vector<std::string>{"one"}));
}

TEST(ServerJwtConfig, DefaultsAreSubAndASixtySecondLeeway) {
    Settings s;
    EXPECT_FALSE(s.jwt.enabled());
    EXPECT_EQ(s.jwt.user_claim, "sub");
    EXPECT_EQ(s.jwt.leeway_seconds, 60u);
}

TEST(ServerJwtConfig, BadJwtKeysAreErrorsNamingTheKey) {
    struct Case {
        const char* json;
        const char* key;
    };
    for (const Case& c : {
             Case{R"({"auth": {"jwt": "x"}})", "auth.jwt"},
             Case{R"({"auth": {"jwt": {"jwk": "x"}}})", "auth.jwt.jwk"},
             Case{R"({"auth": {"jwt": {"audience": 3}}})", "auth.jwt.audience"},
             Case{R"({"auth": {"jwt": {"audience": ["a", 1]}}})", "auth.jwt.audience"},
             Case{R"({"auth": {"jwt": {"algorithms": "RS256"}}})", "auth.jwt.algorithms"},
             Case{R"({"auth": {"jwt": {"leewaySeconds": -5}}})", "auth.jwt.leewaySeconds"},
             Case{R"({"auth": {"jwt": {"issuer": false}}})", "auth.jwt.issuer"},
             Case{R"({"syncRules": {}})", "syncRules"},
         }) {
        Settings s;
        Status st = apply_config_json(c.json, s);
        EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << c.json;
        EXPECT_NE(st.message().find(std::string("'") + c.key + "'"), std::string::npos)
            << st.message();
    }
}

TEST(ServerJwtConfig, JwtAloneOrWithTheSecretIsAnAuthMethod) {
    Settings s = jwt_settings();
    EXPECT_OK(validate(s));
    s.shared_secret = "back-office";
    EXPECT_OK(validate(s));
    s = jwt_settings();
    s.jwt.jwks.clear();
    s.jwt.public_key_file = "pub.pem";
    EXPECT_OK(validate(s));
    s.jwt.public_key_file.clear();
    s.jwt.shared_key = std::string(32, 'k');
    EXPECT_OK(validate(s));
    s.jwt.shared_key.clear();
    EXPECT_TRUE(refused_with(s, "--jwt-jwks"));  // no method left: the message names JWT's flags
}

TEST(ServerJwtConfig, ValidateRefusesJwtSettingsThatCannotWork) {
    Settings s = jwt_settings();
    s.unsecured_no_authentication = true;
    EXPECT_TRUE(refused_with(s, "--unsecured-no-authentication"));

    s = jwt_settings();
    s.jwt.algorithms = {"RS256", "none"};
    EXPECT_TRUE(refused_with(s, "none"));
    s.jwt.algorithms = {"RS257"};
    EXPECT_TRUE(refused_with(s, "unknown algorithm 'RS257'"));
    s.jwt.algorithms = {"HS256"};
    EXPECT_TRUE(refused_with(s, "HS256 needs auth.jwt.sharedKey"));

    s = jwt_settings();
    s.jwt.shared_key = std::string(31, 'k');
    EXPECT_TRUE(refused_with(s, "at least 32"));
    s.jwt.shared_key = std::string(32, 'k');
    s.jwt.algorithms = {"HS256", "RS256"};
    EXPECT_OK(validate(s));

    s = jwt_settings();
    s.jwt.jwks.clear();
    s.jwt.shared_key = std::string(32, 'k');
    s.jwt.algorithms = {"ES256"};
    EXPECT_TRUE(refused_with(s, "needs a public key"));

    s = jwt_settings();
    s.jwt.leeway_seconds = 601;
    EXPECT_TRUE(refused_with(s, "leewaySeconds"));
    s.jwt.leeway_seconds = 600;
    EXPECT_OK(validate(s));

    s = jwt_settings();
    s.jwt.user_claim.clear();
    EXPECT_TRUE(refused_with(s, "userClaim"));

    s = jwt_settings();
    s.jwt.jwks = "http://id.example/jwks.json";
    EXPECT_TRUE(refused_with(s, "https://"));
    s.jwt.jwks = "http://127.0.0.1:8080/jwks.json";
    EXPECT_OK(validate(s));

    // JWT options without a key would be ignored silently: refused instead.
    s = Settings();
    s.binds = {"ws://127.0.0.1:1"};
    s.shared_secret = "x";
    s.jwt.audiences = {"outpost"};
    EXPECT_TRUE(refused_with(s, "without a key"));
}

TEST(ServerJwtConfig, WarnsAboutRulesWithoutJwtAndJwtWithoutAudience) {
    Settings s;
    s.binds = {"ws://127.0.0.1:1"};
    s.shared_secret = "x";
    EXPECT_TRUE(warnings(s).empty());
    s.sync_rules_file = "rules.json";
    ASSERT_OK(validate(s));  // a warning, not an error
    EXPECT_TRUE(mentions(warnings(s), "bypasses them"));

    s = jwt_settings();
    EXPECT_TRUE(mentions(warnings(s), "--jwt-audience"));
    s.jwt.audiences = {"outpost"};
    s.sync_rules_file = "rules.json";
    EXPECT_TRUE(warnings(s).empty());
}

// --- Through the program
// --------------------------------------------------------------------------

class ServerJwtProgram : public it::SyncIt {
  protected:
    it::RunResult run(std::vector<std::string> args) {
        args.insert(args.begin(), {OUTPOST_SERVER_BIN, "--db-directory", dir_.sub("data"), "--bind",
                                   "ws://127.0.0.1:0", "--admin-bind", "off"});
        return it::run_program(args, dir_.sub("run-" + std::to_string(++runs_) + ".log"),
                               kDeadline);
    }
    int runs_ = 0;
};

TEST_F(ServerJwtProgram, RulesThatDoNotFitTheModelStopTheStart) {
    // Task.owner is a relation: comparing it with the string $auth.sub is a type error.
    const std::string rules = it::write_file(
        dir_.sub("rules.json"), R"({"entities": {"Task": {"read": "owner == $auth.sub"}}})");
    auto r = run({"--model", OUTPOST_TASKS_MODEL, "--auth-shared-secret", "s", "--jwt-jwks",
                  it::write_file(dir_.sub("jwks.json"), R"({"keys": []})"), "--sync-rules", rules});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("Task.read"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("column"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("listening"), std::string::npos);
}

TEST_F(ServerJwtProgram, KeyFilesThatDoNotLoadStopTheStart) {
    auto missing = run({"--model", model_file_, "--jwt-public-key", dir_.sub("absent.pem")});
    EXPECT_EQ(missing.exit_code, 2) << missing.err;
    EXPECT_NE(missing.err.find("absent.pem"), std::string::npos) << missing.err;

    auto not_pem = run({"--model", model_file_, "--jwt-public-key",
                        it::write_file(dir_.sub("junk.pem"), "not a key")});
    EXPECT_EQ(not_pem.exit_code, 2) << not_pem.err;

    auto not_jwks = run({"--model", model_file_, "--jwt-jwks",
                         it::write_file(dir_.sub("junk.json"), R"({"kees": 1})")});
    EXPECT_EQ(not_jwks.exit_code, 2) << not_jwks.err;
    EXPECT_NE(not_jwks.err.find("JWKS"), std::string::npos) << not_jwks.err;

    auto none = run(
        {"--model", model_file_, "--jwt-jwks", dir_.sub("junk.json"), "--conf",
         it::write_file(dir_.sub("conf.json"), R"({"auth": {"jwt": {"algorithms": ["none"]}}})")});
    EXPECT_EQ(none.exit_code, 2) << none.err;
    EXPECT_NE(none.err.find("none"), std::string::npos) << none.err;
}

TEST_F(ServerJwtProgram, LogsTheAuthMethodsAtStart) {
    const std::string key = it::make_rsa_key(dir_.sub("key.pem"));
    const std::string jwks = it::write_file(
        dir_.sub("jwks.json"),
        it::outpost_token({"--key", key, "--kid", "k1", "--print-jwks"}, dir_.sub("jwks.log")));
    it::Process p;
    ASSERT_TRUE(p.spawn(
        {OUTPOST_SERVER_BIN, "--model", model_file_, "--db-directory", dir_.sub("data"), "--bind",
         "ws://127.0.0.1:0", "--auth-shared-secret", "s", "--jwt-jwks", jwks, "--jwt-audience",
         "outpost", "--jwt-issuer", "https://id.test/", "--admin-bind", "off"},
        dir_.sub("server.log")));
    auto line = p.read_line(kDeadline);
    ASSERT_TRUE(line.has_value()) << p.stderr_text();
    EXPECT_EQ(line->rfind("listening on ", 0), 0u) << *line;
    ASSERT_TRUE(it::wait_until([&] { return p.stderr_text().find("auth: ") != std::string::npos; },
                               kDeadline));
    const std::string log = p.stderr_text();
    EXPECT_NE(log.find("auth: shared secret, JWT (JWKS " + jwks +
                       ", 1 key; audience outpost; "
                       "issuer https://id.test/)"),
              std::string::npos)
        << log;
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait(kDeadline), 0);
}

TEST_F(ServerJwtProgram, RulesWithoutJwtStartWithAWarning) {
    const std::string rules = it::write_file(
        dir_.sub("rules.json"), R"({"entities": {"Task": {"read": "ownerId == $auth.sub"}}})");
    it::Process p;
    ASSERT_TRUE(p.spawn({OUTPOST_SERVER_BIN, "--model", OUTPOST_TASKS_MODEL, "--db-directory",
                         dir_.sub("data"), "--bind", "ws://127.0.0.1:0", "--auth-shared-secret",
                         "s", "--sync-rules", rules, "--admin-bind", "off"},
                        dir_.sub("server.log")));
    auto line = p.read_line(kDeadline);
    ASSERT_TRUE(line.has_value()) << p.stderr_text();
    EXPECT_EQ(line->rfind("listening on ", 0), 0u) << *line;
    EXPECT_NE(p.stderr_text().find("bypasses them"), std::string::npos) << p.stderr_text();
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait(kDeadline), 0);
}

}  // namespace
}  // namespace outpost::server
