// Logins by credential kind at the server core: the shared secret, a JWT (through the verifier
// seam), the codes of a refused token, the client id bound to its user, and sessions that end when
// their tokens expire.
#include <gtest/gtest.h>

#include <memory>

#include "common/status_macros.hpp"
#include "sync/raw_peer.hpp"
#include "sync/sync_harness.hpp"

namespace outpost::sync {
namespace {

using testing::SyncNet;

constexpr int64_t kAliceExpires = 1'000'000;  // seconds since the epoch

// A verifier that knows three tokens; anything else is rejected.
Result<auth::Identity> fake_verify(std::string_view token, int64_t now_s) {
    auto user = [&](std::string name) {
        auth::Identity id;
        id.kind = auth::CredentialKind::kJwt;
        id.user = std::move(name);
        id.issuer = "https://issuer.test/";
        id.expires_at_s = kAliceExpires;
        id.claims["sub"] = {id.user};
        return id;
    };
    const bool expired = now_s > kAliceExpires + 60;
    if (token == "token-alice" || token == "token-bob") {
        if (expired) return Status(ErrorCode::kAuthTokenExpired, "token expired");
        return user(token == "token-alice" ? "alice" : "bob");
    }
    if (token == "token-unknown-kid") return Status(ErrorCode::kAuthUnknownKey, "no key 'k9'");
    return Status(ErrorCode::kAuthCredentialsRejected, "signature does not verify");
}

struct AuthFixture {
    std::shared_ptr<int64_t> now_ms = std::make_shared<int64_t>(kAliceExpires * 1000 - 10'000);
    std::unique_ptr<SyncNet> net;
    Model model = testing::sync_model();

    explicit AuthFixture(std::string secret = "s3cret", uint32_t max_failed_logins = 10) {
        ServerOptions o = SyncNet::default_options();
        o.shared_secret = std::move(secret);
        o.verify_token = fake_verify;
        o.wall_clock_ms = [t = now_ms] { return *t; };
        o.max_failed_logins = max_failed_logins;
        net = std::make_unique<SyncNet>(model, o);
    }

    Login jwt_login(std::string token, uint8_t client = 9) {
        Login l = good_login(model, std::move(token));
        l.credential_kind = static_cast<uint8_t>(auth::CredentialKind::kJwt);
        l.client_id[0] = client;
        return l;
    }
    // Logs LOGIN in from ADDRESS; the peer stays connected.
    std::unique_ptr<RawPeer> log_in(const Login& login, std::string address = "10.0.0.1:1") {
        auto peer = std::make_unique<RawPeer>(net->server(), std::move(address));
        peer->send(net->server(), encode_message(login));
        peer->drain();
        return peer;
    }
    ErrorCode code_of(const Login& login, std::string address = "10.0.0.1:1") {
        auto peer = log_in(login, std::move(address));
        const LoginResult* r = peer->last<LoginResult>();
        EXPECT_NE(r, nullptr);
        net->server().on_disconnect(peer->session);
        return r ? r->code : ErrorCode::kOk;
    }
};

TEST(ServerAuth, AJwtLoginIsAdmittedAsItsUser) {
    AuthFixture f;
    auto peer = f.log_in(f.jwt_login("token-alice"));
    ASSERT_NE(peer->last<LoginResult>(), nullptr);
    EXPECT_EQ(peer->last<LoginResult>()->code, ErrorCode::kOk);
    EXPECT_FALSE(peer->closed);
    EXPECT_EQ(f.net->server().stats().jwt_logins, 1u);
}

TEST(ServerAuth, RefusedTokensGetTheirOwnCodes) {
    AuthFixture f;
    EXPECT_EQ(f.code_of(f.jwt_login("forged")), ErrorCode::kAuthCredentialsRejected);
    EXPECT_EQ(f.code_of(f.jwt_login("token-unknown-kid")), ErrorCode::kAuthUnknownKey);
    *f.now_ms = (kAliceExpires + 61) * 1000;
    EXPECT_EQ(f.code_of(f.jwt_login("token-alice")), ErrorCode::kAuthTokenExpired);
    EXPECT_EQ(f.net->server().stats().auth_expired, 1u);
    EXPECT_EQ(f.net->server().stats().auth_unknown_key, 1u);
}

TEST(ServerAuth, OnlyRejectedCredentialsCountTowardTheAddressLimit) {
    AuthFixture f("s3cret", /*max_failed_logins=*/2);
    *f.now_ms = (kAliceExpires + 61) * 1000;
    // Expired tokens and unknown keys (many users behind one address, a key rotation) never block.
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(f.code_of(f.jwt_login("token-alice")), ErrorCode::kAuthTokenExpired);
        EXPECT_EQ(f.code_of(f.jwt_login("token-unknown-kid")), ErrorCode::kAuthUnknownKey);
    }
    EXPECT_EQ(f.net->server().stats().logins_throttled, 0u);
    EXPECT_EQ(f.code_of(f.jwt_login("forged")), ErrorCode::kAuthCredentialsRejected);
    EXPECT_EQ(f.code_of(f.jwt_login("forged")), ErrorCode::kAuthCredentialsRejected);
    EXPECT_EQ(f.code_of(good_login(f.model)), ErrorCode::kAuthCredentialsRejected);
    EXPECT_EQ(f.net->server().stats().logins_throttled, 1u);
}

TEST(ServerAuth, AClientIdIsBoundToTheUserOfItsFirstJwtLogin) {
    AuthFixture f;
    EXPECT_EQ(f.code_of(f.jwt_login("token-alice", 7)), ErrorCode::kOk);
    EXPECT_EQ(f.code_of(f.jwt_login("token-alice", 7)), ErrorCode::kOk);
    Login as_bob = f.jwt_login("token-bob", 7);
    auto peer = f.log_in(as_bob);
    ASSERT_NE(peer->last<LoginResult>(), nullptr);
    EXPECT_EQ(peer->last<LoginResult>()->code, ErrorCode::kAuthCredentialsRejected);
    EXPECT_NE(peer->last<LoginResult>()->message.find("another user"), std::string::npos);
    EXPECT_TRUE(peer->closed);
    // Bob with an id of his own, and the back office with the secret on alice's id, are fine.
    EXPECT_EQ(f.code_of(f.jwt_login("token-bob", 8)), ErrorCode::kOk);
    Login secret = good_login(f.model);
    secret.client_id[0] = 7;
    secret.credential_kind = static_cast<uint8_t>(auth::CredentialKind::kSharedSecret);
    EXPECT_EQ(f.code_of(secret), ErrorCode::kOk);
}

// Logins that arrive together (one on_messages call) are checked one by one and their bindings
// committed once.
TEST(ServerAuth, LoginsThatArriveTogetherShareOneCommit) {
    AuthFixture f;
    std::vector<std::unique_ptr<RawPeer>> peers;
    std::vector<std::string> frames;
    const char* tokens[] = {"token-alice", "token-bob", "forged", "token-alice", "token-bob"};
    for (uint8_t i = 0; i < 5; ++i) {
        peers.push_back(std::make_unique<RawPeer>(f.net->server(), "10.0.0.1:1"));
        frames.push_back(encode_message(f.jwt_login(tokens[i], static_cast<uint8_t>(20 + i))));
    }
    std::vector<ServerCore::Incoming> incoming;
    for (size_t i = 0; i < peers.size(); ++i)
        incoming.push_back({peers[i]->session, bytes(frames[i])});
    f.net->server().on_messages(incoming);
    for (size_t i = 0; i < peers.size(); ++i) {
        peers[i]->drain();
        const LoginResult* r = peers[i]->last<LoginResult>();
        ASSERT_NE(r, nullptr) << i;
        EXPECT_EQ(r->code, i == 2 ? ErrorCode::kAuthCredentialsRejected : ErrorCode::kOk) << i;
        EXPECT_EQ(peers[i]->closed, i == 2) << i;
    }
    EXPECT_EQ(f.net->server().stats().login_commits, 1u);
    // The bindings were written: client 20 is alice's, and the refused login bound nothing.
    EXPECT_EQ(f.code_of(f.jwt_login("token-bob", 20)), ErrorCode::kAuthCredentialsRejected);
    EXPECT_EQ(f.code_of(f.jwt_login("token-bob", 22)), ErrorCode::kOk);
}

// Two logins of one client id in one group: the second is checked against the first's binding.
TEST(ServerAuth, ASecondLoginOfAClientIdInAGroupSeesTheFirstsBinding) {
    AuthFixture f;
    RawPeer alice(f.net->server(), "10.0.0.1:1"), bob(f.net->server(), "10.0.0.2:1");
    const std::string a = encode_message(f.jwt_login("token-alice", 7));
    const std::string b = encode_message(f.jwt_login("token-bob", 7));
    const ServerCore::Incoming incoming[] = {{alice.session, bytes(a)}, {bob.session, bytes(b)}};
    f.net->server().on_messages(incoming);
    alice.drain();
    bob.drain();
    ASSERT_NE(alice.last<LoginResult>(), nullptr);
    EXPECT_EQ(alice.last<LoginResult>()->code, ErrorCode::kOk);
    ASSERT_NE(bob.last<LoginResult>(), nullptr);
    EXPECT_EQ(bob.last<LoginResult>()->code, ErrorCode::kAuthCredentialsRejected);
    EXPECT_EQ(f.net->server().stats().login_commits, 1u);
}

TEST(ServerAuth, ASessionEndsWhenItsTokenExpires) {
    AuthFixture f;
    auto alice = f.log_in(f.jwt_login("token-alice"));
    Login back_office = good_login(f.model);
    back_office.client_id[0] = 10;
    auto secret = f.log_in(back_office, "10.0.0.2:1");
    *f.now_ms = (kAliceExpires + 60) * 1000;  // inside the leeway
    f.net->server().expire_sessions();
    alice->drain();
    EXPECT_FALSE(alice->closed);
    *f.now_ms = (kAliceExpires + 61) * 1000;
    f.net->server().expire_sessions();
    alice->drain();
    secret->drain();
    EXPECT_TRUE(alice->closed);
    EXPECT_EQ(alice->close_code, ErrorCode::kAuthTokenExpired);
    ASSERT_NE(alice->last<Error>(), nullptr);
    EXPECT_EQ(alice->last<Error>()->code, ErrorCode::kAuthTokenExpired);
    EXPECT_NE(alice->last<Error>()->reason.find("alice"), std::string::npos);
    EXPECT_FALSE(secret->closed) << "a shared-secret session has no expiry";
    EXPECT_EQ(f.net->server().stats().sessions_expired, 1u);
}

TEST(ServerAuth, AJwtOnlyServerRefusesTheSecret) {
    AuthFixture f(/*secret=*/"");
    Login secret = good_login(f.model);
    EXPECT_EQ(f.code_of(secret), ErrorCode::kAuthCredentialsRejected);
    EXPECT_EQ(f.code_of(f.jwt_login("token-alice")), ErrorCode::kOk);
}

TEST(ServerAuth, AVersion4ClientLogsInWithTheSecret) {
    AuthFixture f;
    Login v4 = good_login(f.model);
    v4.protocol_version = 4;
    v4.credential_kind = 0;
    EXPECT_EQ(f.code_of(v4), ErrorCode::kOk);
}

TEST(ServerAuth, AServerWithOnlyATokenVerifierStarts) {
    ServerOptions o;
    o.verify_token = fake_verify;
    auto dir = testing::TempDir();
    auto store = testing::open_store(dir.sub("s"), testing::sync_model());
    EXPECT_OK(ServerCore::create(store, o));
}

}  // namespace
}  // namespace outpost::sync
