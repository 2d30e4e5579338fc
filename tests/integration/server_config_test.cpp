// outpost-server settings: the JSON config (outpost_server_config) and, through the real program,
// flags over the file, refused starts and a clean SIGTERM.
#include <gtest/gtest.h>

#include "common/status_macros.hpp"
#include "config.hpp"
#include "integration/sync_it_support.hpp"

namespace outpost::server {
namespace {

using it::kDeadline;
using it::kSecret;

Status apply(const std::string& json, Settings& s) { return apply_config_json(json, s); }

Status apply(const std::string& json) {
    Settings s;
    return apply(json, s);
}

// The error names KEY.
::testing::AssertionResult rejects_naming(const std::string& json, const std::string& key) {
    Status st = apply(json);
    if (st) return ::testing::AssertionFailure() << json << " was accepted";
    if (st.code() != ErrorCode::kInvalidArgument) {
        return ::testing::AssertionFailure() << "code " << static_cast<int>(st.code());
    }
    if (st.message().find("'" + key + "'") == std::string::npos) {
        return ::testing::AssertionFailure() << "'" << st.message() << "' does not name " << key;
    }
    return ::testing::AssertionSuccess();
}

TEST(ServerConfig, ReadsEveryKey) {
    Settings s;
    Status st = apply(R"({
        "modelFile": "m.json", "bind": ["ws://127.0.0.1:1", "wss://0.0.0.0:2"],
        "certificatePath": "certs", "dbDirectory": "data", "unsecuredNoAuthentication": true,
        "unsecuredAllowRemote": true, "auth": {"sharedSecret": "s"}, "historySizeMaxMb": 7,
        "logLevel": "debug",
        "mongoDb": {"url": "mongodb://h", "database": "db", "automaticInitialImport": true,
                    "maxPropertySizeToMongoDb": 10, "strictConversionsFromMongoDb": true,
                    "strictConversionsToMongoDb": true, "omitNullValuesToMongoDb": true,
                    "emptyListForAbsentValuesFromMongoDb": true}})",
                      s);
    ASSERT_OK(st);
    EXPECT_EQ(s.model_file, "m.json");
    EXPECT_EQ(s.binds, (std::vector<std::string>{"ws://127.0.0.1:1", "wss://0.0.0.0:2"}));
    EXPECT_EQ(s.cert_dir, "certs");
    EXPECT_EQ(s.db_directory, "data");
    EXPECT_TRUE(s.unsecured_no_authentication);
    EXPECT_TRUE(s.unsecured_allow_remote);
    EXPECT_EQ(s.shared_secret, "s");
    EXPECT_EQ(s.history_size_max_mb, 7u);
    EXPECT_EQ(s.log_level, "debug");
    EXPECT_EQ(s.mongo.url, "mongodb://h");
    EXPECT_EQ(s.mongo.database, "db");
    EXPECT_TRUE(s.mongo.automatic_initial_import);
    EXPECT_EQ(s.mongo.max_property_size, 10u);
    EXPECT_TRUE(s.mongo.strict_from_mongo);
    EXPECT_TRUE(s.mongo.strict_to_mongo);
    EXPECT_TRUE(s.mongo.omit_null_to_mongo);
    EXPECT_TRUE(s.mongo.empty_list_for_absent);
    s.unsecured_no_authentication = false;  // a secret and the unsecured flag exclude each other
    s.unsecured_allow_remote = false;
    EXPECT_TRUE(validate(s)) << validate(s).to_string();
}

TEST(ServerConfig, KeysNotNamedKeepTheirValues) {
    Settings s;
    s.db_directory = "kept";
    ASSERT_TRUE(apply(R"({"bind": "ws://127.0.0.1:5"})", s));
    EXPECT_EQ(s.db_directory, "kept");
    EXPECT_EQ(s.binds, (std::vector<std::string>{"ws://127.0.0.1:5"}));
    EXPECT_EQ(s.history_size_max_mb, 1024u);
    EXPECT_EQ(s.log_level, "info");
}

TEST(ServerConfig, UnknownKeysAreErrorsNamingTheKey) {
    EXPECT_TRUE(rejects_naming(R"({"bindd": "ws://127.0.0.1:1"})", "bindd"));
    EXPECT_TRUE(rejects_naming(R"({"auth": {"secret": "x"}})", "auth.secret"));
    EXPECT_TRUE(rejects_naming(R"({"mongoDb": {"uri": "x"}})", "mongoDb.uri"));
}

TEST(ServerConfig, WrongTypesAreErrorsNamingTheKey) {
    EXPECT_TRUE(rejects_naming(R"({"modelFile": 3})", "modelFile"));
    EXPECT_TRUE(rejects_naming(R"({"bind": 5})", "bind"));
    EXPECT_TRUE(rejects_naming(R"({"bind": ["ws://127.0.0.1:1", 2]})", "bind"));
    EXPECT_TRUE(
        rejects_naming(R"({"unsecuredNoAuthentication": "yes"})", "unsecuredNoAuthentication"));
    EXPECT_TRUE(rejects_naming(R"({"auth": "s"})", "auth"));
    EXPECT_TRUE(rejects_naming(R"({"auth": {"sharedSecret": 1}})", "auth.sharedSecret"));
    EXPECT_TRUE(rejects_naming(R"({"historySizeMaxMb": "10"})", "historySizeMaxMb"));
    EXPECT_TRUE(rejects_naming(R"({"historySizeMaxMb": -1})", "historySizeMaxMb"));
    EXPECT_TRUE(rejects_naming(R"({"historySizeMaxMb": 1.5})", "historySizeMaxMb"));
    EXPECT_TRUE(rejects_naming(R"({"logLevel": null})", "logLevel"));
    EXPECT_TRUE(rejects_naming(R"({"mongoDb": []})", "mongoDb"));
    EXPECT_TRUE(rejects_naming(R"({"mongoDb": {"automaticInitialImport": 1}})",
                               "mongoDb.automaticInitialImport"));
}

TEST(ServerConfig, NotAJsonObjectIsAnError) {
    for (const char* text : {"", "{", "[]", "\"x\"", "{\"a\":1,}"}) {
        Status st = apply(text);
        EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << text;
    }
}

TEST(ServerConfig, MissingFileIsAnIoError) {
    Settings s;
    Status st = load_config_file("/nonexistent/outpost-server.json", s);
    EXPECT_EQ(st.code(), ErrorCode::kIo);
    EXPECT_NE(st.message().find("/nonexistent/outpost-server.json"), std::string::npos);
}

TEST(ServerConfig, ValidateSaysWhatToDo) {
    Settings s;
    s.binds = {"ws://127.0.0.1:1"};
    Status st = validate(s);
    ASSERT_FALSE(st);
    EXPECT_NE(st.message().find("--auth-shared-secret"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("--unsecured-no-authentication"), std::string::npos);

    s.shared_secret = "x";
    EXPECT_TRUE(validate(s));
    s.binds = {"wss://127.0.0.1:1"};
    st = validate(s);
    ASSERT_FALSE(st);
    EXPECT_NE(st.message().find("--cert"), std::string::npos) << st.message();
    s.cert_dir = "certs";
    EXPECT_TRUE(validate(s));
    s.binds = {"http://127.0.0.1:1"};
    EXPECT_FALSE(validate(s));
    s.binds = {};
    EXPECT_FALSE(validate(s));
    s.binds = {"ws://127.0.0.1:1"};
    s.log_level = "loud";
    st = validate(s);
    ASSERT_FALSE(st);
    EXPECT_NE(st.message().find("loud"), std::string::npos);
    s.log_level = "info";
    s.mongo.url = "mongodb://h";
    EXPECT_FALSE(validate(s));
    s.mongo.database = "db";
    EXPECT_TRUE(validate(s));
    s.shared_secret.clear();
    s.unsecured_no_authentication = true;
    EXPECT_TRUE(validate(s));
}

TEST(ServerConfig, SecretAndUnsecuredTogetherAreAnError) {
    Settings s;
    s.binds = {"ws://127.0.0.1:1"};
    s.shared_secret = "x";
    s.unsecured_no_authentication = true;
    Status st = validate(s);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(st.message().find("--auth-shared-secret"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("--unsecured-no-authentication"), std::string::npos)
        << st.message();
}

TEST(ServerConfig, LoopbackHosts) {
    for (const char* host : {"127.0.0.1", "127.1.2.3", "127.255.255.254", "::1", "localhost",
                             "LocalHost", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"}) {
        EXPECT_TRUE(is_loopback_host(host)) << host;
    }
    for (const char* host : {"0.0.0.0", "::", "10.0.0.5", "128.0.0.1", "192.168.1.1", "::2",
                             "::ffff:10.0.0.1", "fe80::1", "example.com", "localhost.example.com",
                             "127.0.0.1.example.com", "my-localhost", ""}) {
        EXPECT_FALSE(is_loopback_host(host)) << host;
    }
}

TEST(ServerConfig, UnsecuredOnANonLoopbackBindNeedsConfirmation) {
    Settings s;
    s.unsecured_no_authentication = true;
    for (const auto& binds :
         std::vector<std::vector<std::string>>{{"ws://0.0.0.0:9999"},
                                               {"ws://[::]:9999"},
                                               {"ws://10.0.0.5:9999"},
                                               {"ws://example.com:9999"},
                                               {"ws://127.0.0.1:1", "ws://0.0.0.0:2"}}) {
        s.binds = binds;
        s.unsecured_allow_remote = false;
        Status st = validate(s);
        ASSERT_FALSE(st) << binds.back();
        EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(st.message().find(binds.back()), std::string::npos) << st.message();
        EXPECT_NE(st.message().find("--unsecured-allow-remote"), std::string::npos) << st.message();
        s.unsecured_allow_remote = true;
        EXPECT_TRUE(validate(s)) << binds.back() << ": " << validate(s).to_string();
    }
    s.unsecured_allow_remote = false;
    for (const char* bind :
         {"ws://127.0.0.1:9999", "ws://127.0.0.2:0", "ws://[::1]:9999", "ws://localhost:9999"}) {
        s.binds = {bind};
        EXPECT_TRUE(validate(s)) << bind << ": " << validate(s).to_string();
    }
}

TEST(ServerConfig, AllowRemoteWithoutUnsecuredIsAnError) {
    Settings s;
    s.binds = {"ws://0.0.0.0:9999"};
    s.shared_secret = "x";
    s.unsecured_allow_remote = true;
    Status st = validate(s);
    ASSERT_FALSE(st);
    EXPECT_NE(st.message().find("--unsecured-allow-remote"), std::string::npos) << st.message();
    s.unsecured_allow_remote = false;
    EXPECT_TRUE(validate(s)) << "a secret may serve any address";
}

// --- Through the program
// --------------------------------------------------------------------------

class ServerProgram : public it::SyncIt {
  protected:
    it::RunResult run(std::vector<std::string> args) {
        // Tests run in parallel: none takes the default admin port.
        args.insert(args.begin(), {OUTPOST_SERVER_BIN, "--admin-bind", "off"});
        return it::run_program(args, dir_.sub("run-" + std::to_string(++runs_) + ".log"),
                               kDeadline);
    }
    int runs_ = 0;
};

TEST_F(ServerProgram, UnknownConfigKeyExitsWithUsageErrorNamingIt) {
    std::string conf =
        it::write_file(dir_.sub("conf.json"),
                       R"({"modelFile": "x", "auth": {"sharedSecret": "s"}, "colour": "blue"})");
    auto r = run({"--conf", conf});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("'colour'"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("listening"), std::string::npos);
}

TEST_F(ServerProgram, WrongTypeInConfigExitsWithUsageError) {
    std::string conf = it::write_file(dir_.sub("conf.json"), R"({"historySizeMaxMb": "big"})");
    auto r = run({"--conf", conf, "--unsecured-no-authentication"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("'historySizeMaxMb'"), std::string::npos) << r.err;
}

TEST_F(ServerProgram, RefusesToStartWithoutAuthentication) {
    auto r = run(
        {"--model", model_file_, "--db-directory", dir_.sub("data"), "--bind", "ws://127.0.0.1:0"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("--auth-shared-secret"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--unsecured-no-authentication"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("listening"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(dir_.sub("data") + "/data.mdb"))
        << "nothing is created before the settings are checked";
}

TEST_F(ServerProgram, UnsecuredOnANonLoopbackAddressIsRefused) {
    auto r = run({"--model", model_file_, "--db-directory", dir_.sub("data"), "--bind",
                  "ws://0.0.0.0:0", "--unsecured-no-authentication"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("ws://0.0.0.0:0"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--unsecured-allow-remote"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("listening"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(dir_.sub("data") + "/data.mdb"));

    // The same from a config file.
    std::string conf = it::write_file(
        dir_.sub("conf.json"),
        "{\"modelFile\": \"" + model_file_ + "\", \"dbDirectory\": \"" + dir_.sub("data") +
            "\", \"bind\": \"ws://[::]:0\", \"unsecuredNoAuthentication\": true}");
    r = run({"--conf", conf});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("unsecuredAllowRemote"), std::string::npos) << r.err;
}

TEST_F(ServerProgram, SecretAndUnsecuredTogetherAreRefused) {
    std::string conf = it::write_file(dir_.sub("conf.json"), R"({"auth": {"sharedSecret": "s"}})");
    auto r = run({"--conf", conf, "--model", model_file_, "--db-directory", dir_.sub("data"),
                  "--bind", "ws://127.0.0.1:0", "--unsecured-no-authentication"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("choose one"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("listening"), std::string::npos);
    // --unsecured-allow-remote alone confirms nothing.
    r = run({"--model", model_file_, "--db-directory", dir_.sub("data"), "--bind",
             "ws://127.0.0.1:0", "--auth-shared-secret", "s", "--unsecured-allow-remote"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("--unsecured-allow-remote"), std::string::npos) << r.err;
}

TEST_F(ServerProgram, WssWithoutCertificateIsRefused) {
    auto r = run({"--model", model_file_, "--db-directory", dir_.sub("data"), "--bind",
                  "wss://127.0.0.1:0", "--auth-shared-secret", "s"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("--cert"), std::string::npos) << r.err;
}

TEST_F(ServerProgram, UnknownFlagIsAUsageError) {
    auto r = run({"--model", model_file_, "--auth-shared-secret", "s", "--no-such-flag"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
}

TEST_F(ServerProgram, FlagsOverrideTheConfigFile) {
    // The file names the model, data directory, bind, log level and a secret; the flag's secret
    // wins.
    std::string conf = it::write_file(
        dir_.sub("conf.json"), "{\"modelFile\": \"" + model_file_ + "\", \"dbDirectory\": \"" +
                                   dir_.sub("data") +
                                   "\", \"bind\": \"ws://127.0.0.1:0\", \"logLevel\": \"warn\", "
                                   "\"auth\": {\"sharedSecret\": "
                                   "\"from-file\"}}");
    it::ServerProcess server(model_file_, dir_.sub("unused"), dir_.sub("server.log"),
                             it::ServerConfig{.secret = "from-flag", .extra = {"--conf", conf}});
    ASSERT_TRUE(server.start());
    // --model, --db-directory and --bind given by the fixture override the file too; the store goes
    // where the flag says.
    EXPECT_TRUE(std::filesystem::exists(dir_.sub("unused") + "/data.mdb"));

    it::Peer flag(dir_.sub("flag"), model_, {server.url()}, "from-flag");
    flag.client->start();
    EXPECT_TRUE(flag.wait_synced());
    it::Peer file(dir_.sub("file"), model_, {server.url()}, "from-file");
    file.client->start();
    EXPECT_EQ(file.client->wait_until_up_to_date(kDeadline).code(),
              ErrorCode::kAuthCredentialsRejected);
    flag.stop_client();
    file.stop_client();
    EXPECT_EQ(server.stop(), 0);
}

TEST_F(ServerProgram, ConfigFileAloneIsEnough) {
    std::string conf = it::write_file(
        dir_.sub("conf.json"),
        "{\"modelFile\": \"" + model_file_ + "\", \"dbDirectory\": \"" + dir_.sub("data") +
            "\", \"bind\": [\"ws://127.0.0.1:0\"], \"auth\": {\"sharedSecret\": \"from-file\"}}");
    it::Process p;
    ASSERT_TRUE(p.spawn({OUTPOST_SERVER_BIN, "--conf", conf, "--admin-bind", "off"},
                        dir_.sub("server.log")));
    auto line = p.read_line(kDeadline);
    ASSERT_TRUE(line.has_value()) << p.stderr_text();
    ASSERT_EQ(line->rfind("listening on ws://127.0.0.1:", 0), 0u) << *line;
    std::string url = line->substr(std::string("listening on ").size());
    EXPECT_NE(url, "ws://127.0.0.1:0") << "port 0 reports the port picked";
    it::Peer peer(dir_.sub("peer"), model_, {url}, "from-file");
    peer.client->start();
    EXPECT_TRUE(peer.wait_synced());
    peer.stop_client();
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait(kDeadline), 0);
    EXPECT_TRUE(std::filesystem::exists(dir_.sub("data") + "/data.mdb"));
}

TEST_F(ServerProgram, SigtermStopsCleanlyWithClientsConnected) {
    auto server = make_server();
    ASSERT_TRUE(server->start());
    auto a = make_peer("a", *server);
    ASSERT_TRUE(a->wait_synced());
    uint64_t id = it::put(*a->store, "Person", {{"name", "kept"}});
    Gid g = *it::gid(*a->store, "Person", id);
    ASSERT_TRUE(a->wait_synced());
    EXPECT_EQ(server->stop(), 0) << server->log();
    ASSERT_TRUE(eventually([&] { return a->client->state() == SyncState::kDisconnected; },
                           "the client notices"));
    a->stop_client();
    // Restarted on the same directory and port: the data is there.
    ASSERT_TRUE(server->start()) << server->log();
    auto b = make_peer("b", *server);
    ASSERT_TRUE(b->wait_synced());
    EXPECT_TRUE(it::find(*b->store, "Person", g).has_value());
}

TEST_F(ServerProgram, UnsecuredServerAcceptsAnyCredentials) {
    it::ServerConfig unsecured;
    unsecured.secret.clear();
    auto server = make_server("server", unsecured);
    ASSERT_TRUE(server->start());
    EXPECT_NE(server->log().find("UNSECURED"), std::string::npos) << server->log();
    auto a = make_peer("a", *server, true, "anything");
    EXPECT_TRUE(a->wait_synced());
}

TEST(ServerConfig, ReadsConnectionLimits) {
    Settings s;
    EXPECT_EQ(s.login_timeout_seconds, 10u);
    EXPECT_EQ(s.max_connections, 10'000u);
    Status st = apply(R"({"loginTimeoutSeconds": 3, "maxConnections": 500})", s);
    ASSERT_OK(st);
    EXPECT_EQ(s.login_timeout_seconds, 3u);
    EXPECT_EQ(s.max_connections, 500u);
    EXPECT_TRUE(rejects_naming(R"({"loginTimeoutSeconds": -1})", "loginTimeoutSeconds"));
    EXPECT_TRUE(rejects_naming(R"({"maxConnections": "many"})", "maxConnections"));
    s.shared_secret = "x";
    s.binds = {"ws://127.0.0.1:1"};
    s.login_timeout_seconds = 86'401;
    st = validate(s);
    EXPECT_FALSE(st);
    EXPECT_NE(st.message().find("--login-timeout-seconds"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace outpost::server
