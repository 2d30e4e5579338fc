// libFuzzer target: any bytes as a token, against a verifier that holds generated RSA and EC keys
// (a JWKS with kids r1 and e1, and a PEM key) and an HS256 shared key; every algorithm is allowed.
// The verifier must answer each input with an Identity or a 500/501/502 Status, never crash, and
// an Identity always has a user. The corpus (fuzz/corpus/jwt_verify) holds HS256 tokens signed
// with kSharedKey, so that mutations reach the claim checks.
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "sync/auth/token_mint.hpp"
#include "sync/auth/token_verifier.hpp"
#include "sync/jwt_keys.hpp"

namespace {

using namespace outpost::sync::auth;

// The corpus's tokens were minted with this key (`outpost token --shared-key ...`).
constexpr const char* kSharedKey = "outpost-fuzz-shared-key-0123456789";
// A time at which the corpus's tokens are valid.
constexpr int64_t kNow = 1'796'700'000;

std::shared_ptr<TokenVerifier> make_verifier() {
    const auto rsa = outpost::test::rsa_key();
    const auto ec = outpost::test::ec_key("P-256");
    auto r = nlohmann::json::parse(public_jwks(rsa.private_pem, "r1").value())["keys"][0];
    auto e = nlohmann::json::parse(public_jwks(ec.private_pem, "e1").value())["keys"][0];
    JwtOptions o;
    o.jwks = nlohmann::json{{"keys", {r, e}}}.dump();
    o.public_key_pem = outpost::test::rsa_key().public_pem;
    o.shared_key = kSharedKey;
    o.algorithms = {"HS256", "HS384", "HS512", "RS256", "RS384",
                    "RS512", "ES256", "ES384", "ES512"};
    auto v = TokenVerifier::create(o);
    if (!v) {
        std::fprintf(stderr, "verifier: %s\n", v.status().to_string().c_str());
        std::abort();
    }
    v.value()->on_unknown_key([](const std::string&) {});
    return v.value();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::shared_ptr<TokenVerifier> verifier = make_verifier();
    const std::string token(reinterpret_cast<const char*>(data), size);
    auto id = verifier->verify(token, kNow);
    if (id.is_ok()) {
        if (id->user.empty() || id->kind != CredentialKind::kJwt) std::abort();
        return 0;
    }
    const auto code = id.status().code();
    if (code != outpost::ErrorCode::kAuthCredentialsRejected &&
        code != outpost::ErrorCode::kAuthTokenExpired &&
        code != outpost::ErrorCode::kAuthUnknownKey) {
        std::fprintf(stderr, "unexpected code: %s\n", id.status().to_string().c_str());
        std::abort();
    }
    return 0;
}
