#pragma once
// Verifies the JSON Web Tokens that clients log in with (docs/auth.md): the algorithm against an
// allow-list and against the key's type, the signature (OpenSSL, with keys parsed once when they
// load), then iss, aud, the user claim, nbf, iat and exp (with a leeway).
//
// Keys: one PEM public key (RSA or EC), a JWKS document (RSA and EC keys chosen by `kid`; its text
// comes from a file or a URL, see jwks_fetcher.hpp), and an HS256 shared key (development). Several
// at once are fine.
//
// Thread-safety: verify() may run on any number of threads at once; set_jwks() swaps the key set
// under a mutex (a verify() in progress keeps the set it started with).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/status.hpp"
#include "sync/auth/identity.hpp"

namespace outpost::sync::auth {

// Tokens above this size are refused before anything else looks at them.
inline constexpr size_t kMaxTokenBytes = 16 * 1024;

struct JwtOptions {
    // PEM text of a public key (SubjectPublicKeyInfo, "BEGIN PUBLIC KEY"), RSA (>= 2048 bits) or EC
    // (P-256, P-384, P-521). Empty: none.
    std::string public_key_pem;
    // The text of a JWKS document ({"keys": [...]}) to start with. Empty: no JWKS. A document
    // without keys ({"keys": []}) configures a JWKS whose keys come later (set_jwks, JwksFetcher):
    // until then RS/ES tokens get kAuthUnknownKey.
    std::string jwks;
    // HS256/384/512 key (development). Empty: none. At least 32 bytes.
    std::string shared_key;
    // Algorithms accepted. Empty: RS256 RS384 RS512 ES256 ES384, plus HS256 when shared_key is set.
    // "none" is an error.
    std::set<std::string> algorithms;
    // Accepted audiences: the token's aud (a string or an array) must hold one. Empty: not checked.
    std::vector<std::string> audiences;
    // The issuer the token's iss must equal. Empty: not checked.
    std::string issuer;
    std::chrono::seconds leeway{60};  // at most 600
    std::string user_claim = "sub";
};

class TokenVerifier {
  public:
    // Errors: kInvalidArgument for a key that does not load (with the reason), a shared key under
    // 32 bytes, an unknown algorithm or "none", no key source at all, a leeway above 600 s.
    static Result<std::shared_ptr<TokenVerifier>> create(JwtOptions options);
    ~TokenVerifier();

    // Verifies TOKEN at NOW_S (seconds since the epoch). Errors: kAuthTokenExpired once
    // now_s > exp + leeway; kAuthUnknownKey when no key fits the token's kid and alg (then the
    // unknown-key listener is told); kAuthCredentialsRejected for everything else (malformed, above
    // kMaxTokenBytes, algorithm not allowed or not fitting the key, bad signature, nbf/iat in the
    // future, aud, iss, no exp, no user claim). Messages give the reason and, once the signature
    // verified, the user; never the token.
    Result<Identity> verify(std::string_view token, int64_t now_s) const;

    // Replaces the JWKS key set with the keys of TEXT. Errors: kInvalidArgument when TEXT is not a
    // JWKS document (the old set stays); keys it cannot use (other types, `use` not "sig", oct
    // keys) are skipped, and WARNINGS (when given) gets a line for each.
    Status set_jwks(std::string_view text, std::vector<std::string>* warnings = nullptr);
    // The kids of the JWKS key set, for logs.
    std::vector<std::string> jwks_kids() const;

    // Called (on the verifying thread, outside any lock) with the kid of a token that named a key
    // the set lacks, so that the JWKS can be fetched again. Set before use.
    void on_unknown_key(std::function<void(const std::string& kid)> fn);

  private:
    struct Impl;
    explicit TokenVerifier(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace outpost::sync::auth
