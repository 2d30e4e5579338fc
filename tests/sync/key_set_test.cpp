// The verifier's keys: base64url, PEM public keys, JWKS documents (usable keys taken, others
// skipped with a reason), and which key a token's alg and kid select.
#include "sync/auth/key_set.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "common/status_macros.hpp"
#include "sync/auth/token_mint.hpp"
#include "sync/jwt_keys.hpp"

namespace outpost::sync::auth {
namespace {

using nlohmann::json;

// The one JWK of the public JWKS of PEM.
json jwk_of(const std::string& private_pem, const std::string& kid) {
    auto jwks = public_jwks(private_pem, kid);
    EXPECT_OK(jwks);
    return json::parse(jwks.value())["keys"][0];
}

std::string jwks_of(const std::vector<json>& keys) { return json{{"keys", keys}}.dump(); }

class KeySetTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        rsa_ = new test::KeyPair(test::rsa_key());
        ec_ = new test::KeyPair(test::ec_key("P-256"));
    }
    static void TearDownTestSuite() {
        delete rsa_;
        delete ec_;
    }
    static test::KeyPair* rsa_;
    static test::KeyPair* ec_;
};
test::KeyPair* KeySetTest::rsa_ = nullptr;
test::KeyPair* KeySetTest::ec_ = nullptr;

TEST(Base64Url, RoundTripsEveryPaddingLength) {
    const std::string bytes("\xfb\xff\x00\x3e\x3f\x10", 6);
    for (size_t n = 0; n <= bytes.size(); ++n) {
        const std::string in = bytes.substr(0, n);
        const std::string text = detail::base64url_encode(in);
        EXPECT_EQ(text.find('='), std::string::npos);
        auto back = detail::base64url_decode(text);
        ASSERT_TRUE(back.has_value()) << text;
        EXPECT_EQ(*back, in);
    }
    EXPECT_EQ(detail::base64url_encode("\xfb\xff"), "-_8");
    EXPECT_EQ(detail::base64url_decode("-_8"), std::string("\xfb\xff"));
}

TEST(Base64Url, RefusesWhatIsNotUnpaddedBase64Url) {
    EXPECT_FALSE(detail::base64url_decode("YQ=="));   // padding
    EXPECT_FALSE(detail::base64url_decode("+/8"));    // standard base64's alphabet
    EXPECT_FALSE(detail::base64url_decode("YWJjZ"));  // 4n + 1 characters
    EXPECT_FALSE(detail::base64url_decode(" YWJj"));  // whitespace
    EXPECT_FALSE(detail::base64url_decode(std::string("YW\0j", 4)));
    EXPECT_TRUE(detail::base64url_decode(""));
}

TEST_F(KeySetTest, LoadsRsaAndEcPublicKeysFromPem) {
    ASSERT_OK_AND_ASSIGN(VerifyKey rsa, load_public_key_pem(rsa_->public_pem));
    EXPECT_EQ(rsa.kind, VerifyKey::Kind::kRsa);
    EXPECT_EQ(rsa.bits, 2048);
    EXPECT_TRUE(rsa.fits("RS256"));
    EXPECT_TRUE(rsa.fits("RS512"));
    EXPECT_FALSE(rsa.fits("HS256"));
    EXPECT_FALSE(rsa.fits("ES256"));
    ASSERT_OK_AND_ASSIGN(VerifyKey ec, load_public_key_pem(ec_->public_pem));
    EXPECT_EQ(ec.kind, VerifyKey::Kind::kEc);
    EXPECT_EQ(ec.curve, "P-256");
    EXPECT_TRUE(ec.fits("ES256"));
    EXPECT_FALSE(ec.fits("ES384"));  // the curve decides, not the token's header
    EXPECT_FALSE(ec.fits("RS256"));
}

TEST_F(KeySetTest, LoadsThePublicKeyOfACertificate) {
    ASSERT_OK_AND_ASSIGN(VerifyKey ec, load_public_key_pem(test::certificate_pem(ec_->pkey.get())));
    EXPECT_EQ(ec.kind, VerifyKey::Kind::kEc);
    EXPECT_EQ(ec.curve, "P-256");
    ASSERT_OK_AND_ASSIGN(VerifyKey rsa,
                         load_public_key_pem(test::certificate_pem(rsa_->pkey.get())));
    EXPECT_EQ(rsa.kind, VerifyKey::Kind::kRsa);
}

TEST_F(KeySetTest, RefusesPrivateSmallAndGarbagePem) {
    auto priv = load_public_key_pem(rsa_->private_pem);
    EXPECT_CODE(priv, ErrorCode::kInvalidArgument);
    EXPECT_NE(priv.status().message().find("private key"), std::string::npos);
    auto small = load_public_key_pem(test::rsa_key(1024).public_pem);
    EXPECT_CODE(small, ErrorCode::kInvalidArgument);
    EXPECT_NE(small.status().message().find("1024"), std::string::npos);
    EXPECT_CODE(load_public_key_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
                ErrorCode::kInvalidArgument);
    EXPECT_CODE(load_public_key_pem(""), ErrorCode::kInvalidArgument);
    auto k1 = test::ec_key("secp256k1");  // not a JOSE curve
    ASSERT_NE(k1.pkey, nullptr);
    EXPECT_CODE(load_public_key_pem(k1.public_pem), ErrorCode::kInvalidArgument);
}

TEST_F(KeySetTest, JwksTakesRsaAndEcKeys) {
    std::vector<std::string> warnings;
    ASSERT_OK_AND_ASSIGN(
        auto keys,
        parse_jwks(jwks_of({jwk_of(rsa_->private_pem, "r1"), jwk_of(ec_->private_pem, "e1")}),
                   &warnings));
    EXPECT_TRUE(warnings.empty());
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys[0].kid, "r1");
    EXPECT_EQ(keys[0].kind, VerifyKey::Kind::kRsa);
    EXPECT_EQ(keys[0].bits, 2048);
    EXPECT_EQ(keys[1].kid, "e1");
    EXPECT_EQ(keys[1].kind, VerifyKey::Kind::kEc);
    EXPECT_EQ(keys[1].curve, "P-256");
    EXPECT_EQ(keys[1].jwk_alg, "ES256");
    for (const char* curve : {"P-384", "P-521"}) {
        ASSERT_OK_AND_ASSIGN(auto more,
                             parse_jwks(jwks_of({jwk_of(test::ec_key(curve).private_pem, "x")})));
        ASSERT_EQ(more.size(), 1u) << curve;
        EXPECT_EQ(more[0].curve, curve);
    }
}

TEST_F(KeySetTest, JwksSkipsOctEncryptionAndUnknownKeys) {
    json enc = jwk_of(rsa_->private_pem, "enc");
    enc["use"] = "enc";
    json wrap = jwk_of(rsa_->private_pem, "wrap");
    wrap.erase("use");
    wrap["key_ops"] = {"wrapKey"};
    json okp = {
        {"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}};
    json oct = {{"kty", "oct"}, {"kid", "h"}, {"k", "c2VjcmV0"}};
    json wrong_alg = jwk_of(rsa_->private_pem, "ra");
    wrong_alg["alg"] = "ES256";
    std::vector<std::string> warnings;
    ASSERT_OK_AND_ASSIGN(
        auto keys,
        parse_jwks(jwks_of({oct, enc, wrap, okp, wrong_alg, jwk_of(rsa_->private_pem, "good")}),
                   &warnings));
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(keys[0].kid, "good");
    ASSERT_EQ(warnings.size(), 5u);
    EXPECT_NE(warnings[0].find("oct"), std::string::npos) << warnings[0];
    EXPECT_NE(warnings[1].find("use"), std::string::npos) << warnings[1];
    EXPECT_NE(warnings[2].find("key_ops"), std::string::npos) << warnings[2];
    EXPECT_NE(warnings[3].find("OKP"), std::string::npos) << warnings[3];
    EXPECT_NE(warnings[4].find("alg ES256"), std::string::npos) << warnings[4];
}

TEST_F(KeySetTest, JwksRefusesSmallRsaAndPointsOffTheCurve) {
    json small = jwk_of(test::rsa_key(1024).private_pem, "small");
    json off = jwk_of(ec_->private_pem, "off");
    std::string y = *detail::base64url_decode(off["y"].get<std::string>());
    y.back() = static_cast<char>(y.back() ^ 1);
    off["y"] = detail::base64url_encode(y);
    json short_x = jwk_of(ec_->private_pem, "short");
    short_x["x"] = detail::base64url_encode(
        detail::base64url_decode(short_x["x"].get<std::string>())->substr(1));
    std::vector<std::string> warnings;
    ASSERT_OK_AND_ASSIGN(auto keys, parse_jwks(jwks_of({small, off, short_x}), &warnings));
    EXPECT_TRUE(keys.empty());
    ASSERT_EQ(warnings.size(), 3u);
    EXPECT_NE(warnings[0].find("1024 bits"), std::string::npos) << warnings[0];
    EXPECT_NE(warnings[1].find("'off'"), std::string::npos) << warnings[1];
    EXPECT_NE(warnings[2].find("32 bytes"), std::string::npos) << warnings[2];
}

TEST(KeySet, JwksRefusesDocumentsThatAreNotJwks) {
    for (const char* text : {"", "garbage", "[]", "{}", R"({"keys": {}})", R"({"keys": 1})"}) {
        EXPECT_CODE(parse_jwks(text), ErrorCode::kInvalidArgument);
    }
    EXPECT_CODE(parse_jwks(R"({"keys": [[[[[[[[[[]]]]]]]]]]})"), ErrorCode::kInvalidArgument);
    json many = {{"keys", json::array()}};
    for (int i = 0; i < 101; ++i) many["keys"].push_back({{"kty", "oct"}});
    EXPECT_CODE(parse_jwks(many.dump()), ErrorCode::kInvalidArgument);
    ASSERT_OK_AND_ASSIGN(auto none, parse_jwks(R"({"keys": []})"));
    EXPECT_TRUE(none.empty());
}

TEST_F(KeySetTest, SelectsByKidThenByFit) {
    ASSERT_OK_AND_ASSIGN(
        auto jwks,
        parse_jwks(jwks_of({jwk_of(rsa_->private_pem, "r1"), jwk_of(ec_->private_pem, "e1")})));
    KeySet set;
    set.has_jwks = true;
    set.jwks = jwks;
    ASSERT_NE(set.select("RS256", "r1"), nullptr);
    EXPECT_EQ(set.select("RS256", "r1")->kid, "r1");
    EXPECT_EQ(set.select("ES256", "r1")->kid, "r1");  // found; fits() then refuses it
    EXPECT_EQ(set.select("RS256", "nope"), nullptr);
    EXPECT_EQ(set.select("ES256", "")->kid, "e1");  // the only key that fits
    EXPECT_EQ(set.select("HS256", "r1"), nullptr);  // no shared key
    set.jwks.push_back(set.jwks[0]);
    set.jwks.back().kid = "r2";
    EXPECT_EQ(set.select("RS256", ""), nullptr);  // two fit: the token must name one

    KeySet pem_only;
    ASSERT_OK_AND_ASSIGN(pem_only.pem, load_public_key_pem(rsa_->public_pem));
    EXPECT_NE(pem_only.select("RS256", "any-kid"), nullptr);
    EXPECT_NE(pem_only.select("RS256", ""), nullptr);
    pem_only.shared = VerifyKey{};
    EXPECT_EQ(pem_only.select("HS512", "x"), &*pem_only.shared);
}

TEST_F(KeySetTest, VerifiesSignaturesOnlyWithTheRightKey) {
    ASSERT_OK_AND_ASSIGN(VerifyKey rsa, load_public_key_pem(rsa_->public_pem));
    const std::string token =
        test::sign_compact(R"({"alg":"RS256"})", R"({"sub":"a"})", "SHA256", rsa_->pkey.get());
    const size_t dot = token.rfind('.');
    const std::string sig = *detail::base64url_decode(token.substr(dot + 1));
    EXPECT_TRUE(verify_signature(rsa, "RS256", token.substr(0, dot), sig));
    EXPECT_FALSE(verify_signature(rsa, "RS384", token.substr(0, dot), sig));
    EXPECT_FALSE(verify_signature(rsa, "RS256", token.substr(0, dot - 1), sig));
    EXPECT_FALSE(verify_signature(rsa, "RS256", token.substr(0, dot), sig.substr(1)));
    ASSERT_OK_AND_ASSIGN(VerifyKey ec, load_public_key_pem(ec_->public_pem));
    EXPECT_FALSE(verify_signature(ec, "ES256", token.substr(0, dot), sig));  // wrong length
}

}  // namespace
}  // namespace outpost::sync::auth
