// SyncClient logging in with JSON Web Tokens and filter variables, against a SyncServer whose token
// verifier is a fake (tokens "user:exp[:suffix]"), over WebSocket on 127.0.0.1.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "common/status_macros.hpp"
#include "common/wait.hpp"
#include "net/ws_server.hpp"
#include "outpost/sync_client.hpp"
#include "sync/fake_token_verifier.hpp"
#include "sync/sync_harness.hpp"
#include "sync/sync_server.hpp"

namespace outpost::sync {
namespace {

using namespace std::chrono_literals;
using ::outpost::test::wait_until;

constexpr int64_t kStart = 1'000'000;  // the server's wall clock at the start, seconds

std::string token_of(const std::string& user, int64_t expires_s, const std::string& suffix = "") {
    return user + ":" + std::to_string(expires_s) + (suffix.empty() ? "" : ":" + suffix);
}

// A SyncServer with the fake verifier, no leeway and a wall clock the test moves.
struct TokenServer {
    testing::TempDir dir;
    Model model = testing::sync_model();
    std::shared_ptr<std::atomic<int64_t>> now_ms =
        std::make_shared<std::atomic<int64_t>>(kStart * 1000);
    std::shared_ptr<Store> store = testing::open_store(dir.sub("server"), model);
    std::unique_ptr<SyncServer> server;
    std::string url;

    TokenServer() {
        SyncServerOptions o;
        o.core.shared_secret = "s3cret";
        o.core.verify_token = testing::fake_verify;
        o.core.token_leeway = 0s;
        o.core.wall_clock_ms = [t = now_ms] { return t->load(); };
        o.net.urls = {"ws://127.0.0.1:0"};
        auto s = SyncServer::create(store, o);
        EXPECT_OK(s);
        server = std::move(s).value();
        EXPECT_OK(server->start());
        url = server->bound_urls().front();
    }
    ~TokenServer() { server->stop(); }

    std::shared_ptr<Store> client_store(const std::string& name) {
        return testing::open_store(dir.sub(name), model);
    }
};

// Hands out tokens; it may hold a caller until released, like a provider that asks an identity
// provider over the network.
class TokenSource {
  public:
    explicit TokenSource(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {}

    std::string next() {
        std::unique_lock lock(mu_);
        ++calls_;
        cv_.notify_all();
        cv_.wait(lock, [&] { return !held_; });
        const size_t i = std::min(calls_ - 1, tokens_.size() - 1);
        return tokens_[i];
    }
    std::function<std::string()> provider() {
        return [this] { return next(); };
    }
    void hold() {
        std::lock_guard lock(mu_);
        held_ = true;
    }
    void release() {
        std::lock_guard lock(mu_);
        held_ = false;
        cv_.notify_all();
    }
    bool wait_calls(size_t n) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, 30s, [&] { return calls_ >= n; });
    }
    size_t calls() {
        std::lock_guard lock(mu_);
        return calls_;
    }

  private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::string> tokens_;
    size_t calls_ = 0;
    bool held_ = false;
};

std::unique_ptr<SyncClient> make_client(std::shared_ptr<Store> store, SyncClientOptions o) {
    auto c = SyncClient::create(std::move(store), std::move(o));
    EXPECT_OK(c);
    return std::move(c).value();
}

void put_people(Store& store, int from, int n) {
    for (int i = from; i < from + n; ++i)
        testing::put(store, "Person", {{"age", Value(static_cast<int64_t>(i))}});
}

TEST(SyncClientAuth, LogsInWithATokenAndSyncs) {
    TokenServer srv;
    auto store = srv.client_store("a");
    put_people(*store, 0, 3);
    SyncClientOptions o;
    o.urls = {srv.url};
    o.token = token_of("alice", kStart + 3600);
    auto client = make_client(store, o);
    client->start();
    ASSERT_OK(client->wait_until_up_to_date(30s));
    EXPECT_EQ(testing::count(*srv.store, "Person"), 3u);
    EXPECT_EQ(srv.server->stats().jwt_logins, 1u);
    client->stop();
}

TEST(SyncClientAuth, RejectedTokenIsALoginFailure) {
    TokenServer srv;
    SyncClientOptions o;
    o.urls = {srv.url};
    o.token = "not-a-token";
    o.credentials = "s3cret";  // not sent: the token is
    auto client = make_client(srv.client_store("a"), o);
    client->start();
    Status st = client->wait_until_up_to_date(30s);
    EXPECT_EQ(st.code(), ErrorCode::kAuthCredentialsRejected) << st.to_string();
    client->stop();
}

// The session ends when the token expires (Error 501, close 4501); the client takes a fresh token
// from its provider at once and logs in again; what was written meanwhile goes out, exactly once.
TEST(SyncClientAuth, ExpiredTokenIsRefreshedAndTheQueueSurvives) {
    TokenServer srv;
    auto store = srv.client_store("a");
    TokenSource tokens({token_of("alice", kStart + 10), token_of("alice", kStart + 3600)});
    SyncClientOptions o;
    o.urls = {srv.url};
    o.token_provider = tokens.provider();
    auto client = make_client(store, o);
    std::atomic<int> failures{0};
    client->on_login_failure([&](ErrorCode, const std::string&) { ++failures; });
    client->start();
    put_people(*store, 0, 5);
    ASSERT_OK(client->wait_until_up_to_date(30s));
    ASSERT_EQ(tokens.calls(), 1u);  // before the first attempt: no token was given

    tokens.hold();
    srv.now_ms->store((kStart + 11) * 1000);  // the token has expired
    ASSERT_TRUE(tokens.wait_calls(2)) << "the provider was not asked after the expiry";
    put_people(*store, 5, 5);  // while the client waits for its fresh token
    tokens.release();

    ASSERT_OK(client->wait_until_up_to_date(30s));
    EXPECT_TRUE(wait_until([&] { return testing::count(*srv.store, "Person") == 10u; }, 30s));
    EXPECT_EQ(client->outgoing_queue_length(), 0u);
    const ServerStats stats = srv.server->stats();
    EXPECT_EQ(stats.sessions_expired, 1u);
    EXPECT_EQ(stats.jwt_logins, 2u);
    EXPECT_EQ(stats.pushes_skipped, 0u);
    EXPECT_EQ(tokens.calls(), 2u);  // asked once for the expiry, not again for the reconnect
    EXPECT_EQ(failures, 0);
    client->stop();
}

// A token whose key the server does not know yet is no login failure: the client backs off, asks
// its provider again before the reconnect and gets in with the next token.
TEST(SyncClientAuth, UnknownKeyIsRetriedWithAFreshTokenFromTheProvider) {
    TokenServer srv;
    TokenSource tokens(
        {token_of("alice", kStart + 3600, "stale"), token_of("alice", kStart + 3600, "ok")});
    SyncClientOptions o;
    o.urls = {srv.url};
    o.token_provider = tokens.provider();
    auto client = make_client(srv.client_store("a"), o);
    std::mutex mu;
    std::vector<ErrorCode> errors;
    std::atomic<int> failures{0};
    client->on_error([&](ErrorCode code, const std::string&) {
        std::lock_guard lock(mu);
        errors.push_back(code);
    });
    client->on_login_failure([&](ErrorCode, const std::string&) { ++failures; });
    client->start();
    ASSERT_OK(client->wait_until_up_to_date(30s));
    EXPECT_EQ(tokens.calls(), 2u);
    EXPECT_EQ(failures, 0);
    std::lock_guard lock(mu);
    EXPECT_NE(std::find(errors.begin(), errors.end(), ErrorCode::kAuthUnknownKey), errors.end());
    client->stop();
}

// set_token replaces the token for the next login, also one that was refused.
TEST(SyncClientAuth, SetTokenReplacesARefusedToken) {
    TokenServer srv;
    SyncClientOptions o;
    o.urls = {srv.url};
    o.token = token_of("alice", kStart - 1);  // expired already
    auto client = make_client(srv.client_store("a"), o);
    client->start();
    EXPECT_EQ(client->wait_until_up_to_date(30s).code(), ErrorCode::kAuthTokenExpired);
    client->set_token(token_of("alice", kStart + 3600));
    ASSERT_OK(client->wait_until_up_to_date(30s));
    client->stop();
}

// A server that answers every Login with LoginResult ok and keeps the Logins.
class LoginRecorder {
  public:
    LoginRecorder() : ws_(options()) {
        ws_.set_on_message([this](net::ConnectionId id, std::span<const uint8_t> frame) {
            auto m = decode_message(frame);
            if (!m || !std::holds_alternative<Login>(*m)) return;
            {
                std::lock_guard lock(mu_);
                logins_.push_back(std::get<Login>(*m));
            }
            LoginResult ok;
            const std::string bytes = encode_message(ok);
            ws_.send(id, std::vector<uint8_t>(bytes.begin(), bytes.end()));
        });
        EXPECT_OK(ws_.start());
    }
    std::string url() const { return ws_.bound_urls().front(); }
    std::vector<Login> logins() {
        std::lock_guard lock(mu_);
        return logins_;
    }

  private:
    static net::WsServerOptions options() {
        net::WsServerOptions o;
        o.urls = {"ws://127.0.0.1:0"};
        o.threads = 1;
        return o;
    }
    std::mutex mu_;
    std::vector<Login> logins_;
    net::WsServer ws_;
};

TEST(SyncClientAuth, FilterVariablesGoWithEveryLoginAndAChangeLogsInAgain) {
    LoginRecorder server;
    testing::TempDir dir;
    SyncClientOptions o;
    o.urls = {server.url()};
    o.token = "alice:1";
    o.filter_variables = {{"project", "p1"}, {"region", "eu"}};
    auto client = make_client(testing::open_store(dir.sub("a"), testing::sync_model()), o);
    client->start();
    ASSERT_TRUE(wait_until([&] { return client->state() == SyncState::kLoggedIn; }, 30s));
    auto logins = server.logins();
    ASSERT_EQ(logins.size(), 1u);
    EXPECT_EQ(logins[0].credential_kind, static_cast<uint8_t>(auth::CredentialKind::kJwt));
    EXPECT_EQ(logins[0].credentials, "alice:1");
    EXPECT_EQ(logins[0].variables, (FilterVariables{{"project", "p1"}, {"region", "eu"}}));

    ASSERT_OK(client->set_filter_variable("project", "p2"));
    ASSERT_TRUE(wait_until([&] { return server.logins().size() == 2u; }, 30s));
    EXPECT_EQ(server.logins()[1].variables, (FilterVariables{{"project", "p2"}, {"region", "eu"}}));

    ASSERT_TRUE(wait_until([&] { return client->state() == SyncState::kLoggedIn; }, 30s));
    client->remove_filter_variable("region");
    ASSERT_TRUE(wait_until([&] { return server.logins().size() == 3u; }, 30s));
    EXPECT_EQ(server.logins()[2].variables, (FilterVariables{{"project", "p2"}}));

    // Setting a value it already has changes nothing: no new login.
    ASSERT_TRUE(wait_until([&] { return client->state() == SyncState::kLoggedIn; }, 30s));
    ASSERT_OK(client->set_filter_variable("project", "p2"));
    client->remove_filter_variable("absent");
    EXPECT_EQ(client->outgoing_queue_length(), 0u);  // runs what the worker had queued
    EXPECT_EQ(server.logins().size(), 3u);
    client->stop();
}

TEST(SyncClientAuth, SharedSecretLoginsSayTheirKind) {
    LoginRecorder server;
    testing::TempDir dir;
    SyncClientOptions o;
    o.urls = {server.url()};
    o.credentials = "s3cret";
    auto client = make_client(testing::open_store(dir.sub("a"), testing::sync_model()), o);
    client->start();
    ASSERT_TRUE(wait_until([&] { return server.logins().size() == 1u; }, 30s));
    EXPECT_EQ(server.logins()[0].credential_kind,
              static_cast<uint8_t>(auth::CredentialKind::kSharedSecret));
    EXPECT_EQ(server.logins()[0].credentials, "s3cret");
    client->stop();
}

TEST(SyncClientAuth, BadFilterVariablesAreRefused) {
    testing::TempDir dir;
    auto store = testing::open_store(dir.sub("a"), testing::sync_model());
    SyncClientOptions o;
    o.urls = {"ws://127.0.0.1:1"};
    o.filter_variables = {{"9lives", "x"}};
    auto bad = SyncClient::create(store, o);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);

    o.filter_variables.clear();
    auto client = make_client(store, o);
    EXPECT_EQ(client->set_filter_variable("", "x").code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(client->set_filter_variable("a-b", "x").code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(client->set_filter_variable(std::string(65, 'a'), "x").code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(client->set_filter_variable("big", std::string(1025, 'x')).code(),
              ErrorCode::kInvalidArgument);
    for (int i = 0; i < 32; ++i)
        ASSERT_OK(client->set_filter_variable("v" + std::to_string(i), ""));
    EXPECT_EQ(client->set_filter_variable("v32", "x").code(), ErrorCode::kInvalidArgument);
    ASSERT_OK(client->set_filter_variable("v31", "replaced"));  // replacing stays within the limit
}

}  // namespace
}  // namespace outpost::sync
