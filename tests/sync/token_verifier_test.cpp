// TokenVerifier: tokens from every accepted kind of key pass with their claims; each way a token
// can be wrong gets its code (500 rejected, 501 expired, 502 unknown key) and a message that never
// holds the token.
#include "sync/auth/token_verifier.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "common/status_macros.hpp"
#include "sync/auth/token_mint.hpp"
#include "sync/jwt_keys.hpp"

namespace outpost::sync::auth {
namespace {

using nlohmann::json;

constexpr int64_t kNow = 1'800'000'000;
const std::string kShared = "0123456789abcdef0123456789abcdef-dev";

class TokenVerifierTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        rsa_ = new test::KeyPair(test::rsa_key());
        ec_ = new test::KeyPair(test::ec_key("P-256"));
        auto r = json::parse(public_jwks(rsa_->private_pem, "r1").value())["keys"][0];
        auto e = json::parse(public_jwks(ec_->private_pem, "e1").value())["keys"][0];
        jwks_ = new std::string(json{{"keys", {r, e}}}.dump());
    }
    static void TearDownTestSuite() {
        delete rsa_;
        delete ec_;
        delete jwks_;
    }

    // A verifier over the JWKS (r1, e1) and the shared key, for audience "app" and issuer
    // "https://issuer".
    static JwtOptions options() {
        JwtOptions o;
        o.jwks = *jwks_;
        o.shared_key = kShared;
        o.audiences = {"app"};
        o.issuer = "https://issuer";
        return o;
    }
    static std::shared_ptr<TokenVerifier> verifier(JwtOptions o = options()) {
        auto v = TokenVerifier::create(std::move(o));
        EXPECT_OK(v);
        return v.is_ok() ? v.value() : nullptr;
    }
    // A token signed with the RSA key (kid r1) for alice, valid at kNow.
    static MintOptions mint() {
        MintOptions m;
        m.private_key_pem = rsa_->private_pem;
        m.kid = "r1";
        m.subject = "alice";
        m.issuer = "https://issuer";
        m.audiences = {"app"};
        m.issued_at_s = kNow - 10;
        m.ttl_s = 3600;
        return m;
    }
    static std::string token(const MintOptions& m) {
        auto t = mint_token(m);
        EXPECT_OK(t);
        return t.is_ok() ? t.value() : "";
    }
    // A token with CLAIMS (JSON) signed RS256 with kid r1 and HEADER_EXTRA header members.
    static std::string raw_token(const json& claims, json header = {{"alg", "RS256"}}) {
        if (!header.contains("kid")) header["kid"] = "r1";
        return test::sign_compact(header.dump(), claims.dump(), "SHA256", rsa_->pkey.get());
    }
    static json claims() {
        return {{"sub", "alice"},
                {"iss", "https://issuer"},
                {"aud", "app"},
                {"iat", kNow - 10},
                {"exp", kNow + 3600}};
    }

    static void expect_code(const Result<Identity>& r, ErrorCode code, const std::string& token,
                            const std::string& why_part = "") {
        EXPECT_EQ(static_cast<int>(r.status().code()), static_cast<int>(code))
            << r.status().to_string();
        const Status st = r.status();
        const std::string& msg = st.message();
        if (!token.empty()) {
            EXPECT_EQ(msg.find(token.substr(token.rfind('.') + 1)), std::string::npos) << msg;
        }
        if (!why_part.empty()) {
            EXPECT_NE(msg.find(why_part), std::string::npos) << msg;
        }
    }

    static test::KeyPair* rsa_;
    static test::KeyPair* ec_;
    static std::string* jwks_;
};
test::KeyPair* TokenVerifierTest::rsa_ = nullptr;
test::KeyPair* TokenVerifierTest::ec_ = nullptr;
std::string* TokenVerifierTest::jwks_ = nullptr;

TEST_F(TokenVerifierTest, Rs256TokenPassesWithItsClaims) {
    MintOptions m = mint();
    m.claims = {{"team", "red"},
                {"admin", "true"},
                {"level", "3"},
                {"realm_access", R"({"roles": ["dev", "ops"], "deep": {"x": {"y": 1}}})"},
                {"groups", R"(["a", 2, {"no": 1}])"}};
    ASSERT_OK_AND_ASSIGN(Identity id, verifier()->verify(token(m), kNow));
    EXPECT_EQ(id.kind, CredentialKind::kJwt);
    EXPECT_EQ(id.user, "alice");
    EXPECT_EQ(id.issuer, "https://issuer");
    EXPECT_EQ(id.expires_at_s, kNow - 10 + 3600);
    using V = std::vector<std::string>;
    EXPECT_EQ(id.claims["sub"], V{"alice"});
    EXPECT_EQ(id.claims["team"], V{"red"});
    EXPECT_EQ(id.claims["admin"], V{"true"});
    EXPECT_EQ(id.claims["level"], V{"3"});
    EXPECT_EQ(id.claims["aud"], V{"app"});
    EXPECT_EQ(id.claims["realm_access.roles"], (V{"dev", "ops"}));
    EXPECT_EQ(id.claims["realm_access.deep.x.y"], V{"1"});
    EXPECT_EQ(id.claims["groups"], (V{"a", "2"}));
}

TEST_F(TokenVerifierTest, Es256AndHs256TokensPass) {
    MintOptions es = mint();
    es.private_key_pem = ec_->private_pem;
    es.kid = "e1";
    ASSERT_OK_AND_ASSIGN(Identity a, verifier()->verify(token(es), kNow));
    EXPECT_EQ(a.user, "alice");
    MintOptions hs = mint();
    hs.private_key_pem.clear();
    hs.shared_key = kShared;
    hs.kid.clear();
    ASSERT_OK_AND_ASSIGN(Identity b, verifier()->verify(token(hs), kNow));
    EXPECT_EQ(b.user, "alice");
}

TEST_F(TokenVerifierTest, PemKeyVerifiesTokensWithAnyKid) {
    JwtOptions o;
    o.public_key_pem = ec_->public_pem;
    auto v = verifier(o);
    MintOptions m = mint();
    m.private_key_pem = ec_->private_pem;
    m.kid.clear();
    EXPECT_OK(v->verify(token(m), kNow));
    m.kid = "whatever";
    EXPECT_OK(v->verify(token(m), kNow));
}

TEST_F(TokenVerifierTest, ExpiredTokenGets501AndLeewayHolds) {
    MintOptions m = mint();
    m.issued_at_s = kNow - 4000;
    m.ttl_s = 3600;  // expired 400 s ago
    const std::string old = token(m);
    expect_code(verifier()->verify(old, kNow), ErrorCode::kAuthTokenExpired, old, "alice");
    m.issued_at_s = kNow - 3630;  // expired 30 s ago: inside the 60 s leeway
    EXPECT_OK(verifier()->verify(token(m), kNow));
    JwtOptions strict = options();
    strict.leeway = std::chrono::seconds(0);
    expect_code(verifier(strict)->verify(token(m), kNow), ErrorCode::kAuthTokenExpired, "");
}

TEST_F(TokenVerifierTest, TimeClaimsOutOfRangeAreRejected) {
    auto v = verifier();
    json c = claims();
    c["nbf"] = kNow + 600;
    const std::string early = raw_token(c);
    expect_code(v->verify(early, kNow), ErrorCode::kAuthCredentialsRejected, early, "nbf");
    c["nbf"] = kNow + 30;  // inside the leeway
    EXPECT_OK(v->verify(raw_token(c), kNow));
    c = claims();
    c["iat"] = kNow + 600;
    expect_code(v->verify(raw_token(c), kNow), ErrorCode::kAuthCredentialsRejected, "", "iat");
    c = claims();
    c.erase("exp");
    expect_code(v->verify(raw_token(c), kNow), ErrorCode::kAuthCredentialsRejected, "", "no exp");
    c = claims();
    c["exp"] = "tomorrow";
    expect_code(v->verify(raw_token(c), kNow), ErrorCode::kAuthCredentialsRejected, "", "exp");
    c = claims();
    c["exp"] = kNow + 0.5;  // NumericDate may be a real
    EXPECT_OK(v->verify(raw_token(c), kNow));
}

TEST_F(TokenVerifierTest, AudienceIsChecked) {
    auto v = verifier();
    json c = claims();
    c["aud"] = "other";
    expect_code(v->verify(raw_token(c), kNow), ErrorCode::kAuthCredentialsRejected, "", "aud");
    c.erase("aud");
    expect_code(v->verify(raw_token(c), kNow), ErrorCode::kAuthCredentialsRejected, "", "aud");
    c["aud"] = {"other", "app"};
    EXPECT_OK(v->verify(raw_token(c), kNow));
    c["aud"] = {"other", 7};
    expect_code(v->verify(raw_token(c), kNow), ErrorCode::kAuthCredentialsRejected, "", "aud");
    JwtOptions any = options();
    any.audiences.clear();
    c["aud"] = "other";
    EXPECT_OK(verifier(any)->verify(raw_token(c), kNow));
}

TEST_F(TokenVerifierTest, IssuerIsChecked) {
    json c = claims();
    c["iss"] = "https://evil";
    expect_code(verifier()->verify(raw_token(c), kNow), ErrorCode::kAuthCredentialsRejected, "",
                "issuer");
    c.erase("iss");
    expect_code(verifier()->verify(raw_token(c), kNow), ErrorCode::kAuthCredentialsRejected, "",
                "issuer");
}

TEST_F(TokenVerifierTest, UserClaimMustBeANonEmptyString) {
    auto v = verifier();
    for (json sub : {json(42), json(""), json::array({"alice"}), json(std::string(300, 'a')),
                     json("al\nice")}) {
        json c = claims();
        c["sub"] = sub;
        expect_code(v->verify(raw_token(c), kNow), ErrorCode::kAuthCredentialsRejected, "",
                    "claim sub");
    }
    json c = claims();
    c.erase("sub");
    expect_code(v->verify(raw_token(c), kNow), ErrorCode::kAuthCredentialsRejected, "",
                "claim sub");
    JwtOptions o = options();
    o.user_claim = "preferred_username";
    c["preferred_username"] = "bob";
    ASSERT_OK_AND_ASSIGN(Identity id, verifier(o)->verify(raw_token(c), kNow));
    EXPECT_EQ(id.user, "bob");
    o.user_claim = "user.name";  // a dotted path into an object
    c["user"] = {{"name", "carol"}};
    ASSERT_OK_AND_ASSIGN(Identity nested, verifier(o)->verify(raw_token(c), kNow));
    EXPECT_EQ(nested.user, "carol");
}

TEST_F(TokenVerifierTest, UnsignedAndOddHeadersAreRejected) {
    auto v = verifier();
    MintOptions none = mint();
    none.algorithm = "none";
    const std::string unsigned_token = token(none);
    ASSERT_EQ(unsigned_token.back(), '.');
    expect_code(v->verify(unsigned_token, kNow), ErrorCode::kAuthCredentialsRejected, "", "none");
    // The same with a signature segment attached.
    expect_code(v->verify(unsigned_token + "AAAA", kNow), ErrorCode::kAuthCredentialsRejected, "");
    expect_code(v->verify(raw_token(claims(), {{"alg", "rs256"}}), kNow),
                ErrorCode::kAuthCredentialsRejected, "", "not allowed");
    expect_code(v->verify(raw_token(claims(), {{"alg", "RS256"}, {"crit", {"exp"}}}), kNow),
                ErrorCode::kAuthCredentialsRejected, "", "crit");
    expect_code(v->verify(raw_token(claims(), {{"alg", "RS256"}, {"typ", "dpop+jwt"}}), kNow),
                ErrorCode::kAuthCredentialsRejected, "", "typ");
    expect_code(v->verify(raw_token(claims(), {{"alg", "RS256"}, {"kid", 5}}), kNow),
                ErrorCode::kAuthCredentialsRejected, "", "kid");
    expect_code(v->verify(raw_token(claims(), {{"alg", "PS256"}}), kNow),
                ErrorCode::kAuthCredentialsRejected, "", "not allowed");
    // RFC 9068 access tokens (Auth0, Keycloak) are JWTs too.
    EXPECT_OK(v->verify(raw_token(claims(), {{"alg", "RS256"}, {"typ", "at+jwt"}}), kNow));
    EXPECT_OK(v->verify(raw_token(claims(), {{"alg", "RS256"}, {"typ", "jwt"}}), kNow));
}

TEST_F(TokenVerifierTest, Hs256SignedWithTheRsaPublicKeyIsRejected) {
    MintOptions m = mint();
    m.private_key_pem.clear();
    m.shared_key = rsa_->public_pem;  // the public key as an HMAC key: the confusion attack
    m.algorithm = "HS256";
    const std::string forged = token(m);
    JwtOptions no_shared;
    no_shared.jwks = *jwks_;
    no_shared.public_key_pem = rsa_->public_pem;
    expect_code(verifier(no_shared)->verify(forged, kNow), ErrorCode::kAuthCredentialsRejected,
                forged, "HS256 is not allowed");
    JwtOptions shared = options();
    shared.public_key_pem = rsa_->public_pem;
    shared.algorithms = {"HS256", "RS256"};
    expect_code(verifier(shared)->verify(forged, kNow), ErrorCode::kAuthCredentialsRejected, forged,
                "signature");
}

TEST_F(TokenVerifierTest, AlgorithmMustFitTheKey) {
    // An ES384 header over a P-256 key (kid e1).
    const std::string es384 = test::sign_compact(json{{"alg", "ES384"}, {"kid", "e1"}}.dump(),
                                                 claims().dump(), "SHA384", ec_->pkey.get());
    expect_code(verifier()->verify(es384, kNow), ErrorCode::kAuthCredentialsRejected, es384,
                "does not fit");
    // RS256 naming the EC key.
    expect_code(verifier()->verify(raw_token(claims(), {{"alg", "RS256"}, {"kid", "e1"}}), kNow),
                ErrorCode::kAuthCredentialsRejected, "", "does not fit");
}

TEST_F(TokenVerifierTest, TamperedPayloadIsRejected) {
    const std::string good = token(mint());
    json c = claims();
    c["sub"] = "bob";
    const size_t d1 = good.find('.');
    const size_t d2 = good.rfind('.');
    const std::string tampered =
        good.substr(0, d1 + 1) + detail::base64url_encode(c.dump()) + good.substr(d2);
    auto r = verifier()->verify(tampered, kNow);
    expect_code(r, ErrorCode::kAuthCredentialsRejected, tampered, "signature");
    EXPECT_EQ(r.status().message().find("bob"), std::string::npos);  // not verified: not named
}

TEST_F(TokenVerifierTest, UnknownKidGets502AndTellsTheListener) {
    auto v = verifier();
    std::vector<std::string> told;
    v->on_unknown_key([&](const std::string& kid) {
        told.push_back(kid);
        EXPECT_EQ(v->jwks_kids().size(), 2u);  // outside the lock: this would deadlock otherwise
    });
    MintOptions m = mint();
    m.kid = "rotated";
    expect_code(v->verify(token(m), kNow), ErrorCode::kAuthUnknownKey, token(m), "rotated");
    EXPECT_EQ(told, std::vector<std::string>{"rotated"});
    EXPECT_OK(v->verify(token(mint()), kNow));
    EXPECT_EQ(told.size(), 1u);
}

TEST_F(TokenVerifierTest, MalformedTokensAreRejected) {
    auto v = verifier();
    const std::string good = token(mint());
    std::string big = good;
    big.insert(good.find('.') + 1, std::string(17 * 1024, 'A'));
    expect_code(v->verify(big, kNow), ErrorCode::kAuthCredentialsRejected, big, "bytes");
    std::string bad_char = good;
    bad_char[good.find('.') + 3] = '+';
    expect_code(v->verify(bad_char, kNow), ErrorCode::kAuthCredentialsRejected, "", "base64url");
    for (const std::string& t :
         {std::string(""), std::string("a.b"), std::string("a.b.c.d"), good + "=", " " + good,
          std::string("..."), std::string(".") + good.substr(good.find('.') + 1),
          std::string("e30.e30.")}) {
        expect_code(v->verify(t, kNow), ErrorCode::kAuthCredentialsRejected, "");
    }
}

TEST_F(TokenVerifierTest, SetJwksRotatesKeysAndGarbageKeepsTheOldSet) {
    auto v = verifier();
    const std::string r1 = token(mint());
    std::vector<std::string> warnings;
    EXPECT_CODE(v->set_jwks("<html>not json</html>", &warnings), ErrorCode::kInvalidArgument);
    EXPECT_OK(v->verify(r1, kNow));
    EXPECT_EQ(v->jwks_kids(), (std::vector<std::string>{"r1", "e1"}));
    test::KeyPair next = test::rsa_key();
    ASSERT_OK(v->set_jwks(public_jwks(next.private_pem, "r2").value(), &warnings));
    EXPECT_TRUE(warnings.empty());
    EXPECT_EQ(v->jwks_kids(), std::vector<std::string>{"r2"});
    EXPECT_CODE(v->verify(r1, kNow), ErrorCode::kAuthUnknownKey);
    MintOptions m = mint();
    m.private_key_pem = next.private_pem;
    m.kid = "r2";
    EXPECT_OK(v->verify(token(m), kNow));
}

TEST_F(TokenVerifierTest, CreateRefusesBadOptions) {
    auto refused = [](JwtOptions o, const std::string& part) {
        auto v = TokenVerifier::create(std::move(o));
        EXPECT_CODE(v, ErrorCode::kInvalidArgument);
        EXPECT_NE(v.status().message().find(part), std::string::npos) << v.status().message();
    };
    refused(JwtOptions{}, "no key");
    JwtOptions o = options();
    o.shared_key = "devkey";
    refused(o, "at least 32");
    o = options();
    o.algorithms = {"RS256", "none"};
    refused(o, "none");
    o.algorithms = {"PS256"};
    refused(o, "unknown algorithm");
    o = options();
    o.shared_key.clear();
    o.algorithms = {"HS256"};
    refused(o, "needs a shared key");
    o = options();
    o.leeway = std::chrono::seconds(601);
    refused(o, "leeway");
    o = options();
    o.public_key_pem = rsa_->private_pem;
    refused(o, "private key");
    o = options();
    o.jwks = "{}";
    refused(o, "keys");
    JwtOptions empty_jwks;  // keys to come from a fetcher
    empty_jwks.jwks = R"({"keys": []})";
    auto v = verifier(empty_jwks);
    EXPECT_CODE(v->verify(token(mint()), kNow), ErrorCode::kAuthUnknownKey);
}

TEST_F(TokenVerifierTest, VerifiesOnManyThreadsWhileKeysChange) {
    auto v = verifier();
    const std::string t = token(mint());
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
        threads.emplace_back([&] {
            for (int n = 0; n < 100; ++n) {
                if (!v->verify(t, kNow).is_ok()) ++failures;
            }
        });
    }
    for (int n = 0; n < 50; ++n) ASSERT_OK(v->set_jwks(*jwks_));
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0);
}

// Not a test: `auth_test --gtest_also_run_disabled_tests --gtest_filter='*VerifiesPerSecond*'`
// prints how many RS256 and ES256 tokens one thread verifies a second.
TEST_F(TokenVerifierTest, DISABLED_VerifiesPerSecond) {
    auto v = verifier();
    MintOptions es = mint();
    es.private_key_pem = ec_->private_pem;
    es.kid = "e1";
    const std::vector<std::pair<std::string, std::string>> tokens = {{"RS256", token(mint())},
                                                                     {"ES256", token(es)}};
    for (const auto& [name, t] : tokens) {
        const int n = 20'000;
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < n; ++i) ASSERT_OK(v->verify(t, kNow));
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("%s verifies/s (one thread): %.0f\n", name.c_str(), n / s);
    }
}

}  // namespace
}  // namespace outpost::sync::auth
