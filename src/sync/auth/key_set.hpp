#pragma once
// The keys a TokenVerifier checks signatures with (docs/auth.md), each parsed once when it is
// loaded: a PEM public key, a JWKS document's RSA and EC keys, and an HMAC shared key. Also
// base64url (RFC 4648 section 5, unpadded, as JWS uses it) over OpenSSL's base64.
//
// Thread-safety: a loaded VerifyKey and KeySet are immutable; verify_signature() may run on any
// number of threads at once with the same key.

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/status.hpp"

namespace outpost::sync::auth {

namespace detail {
// The bytes of unpadded base64url text; nullopt for a character outside [A-Za-z0-9_-] (padding
// included), a length that no encoding has (4n + 1), or text above 1 MiB.
std::optional<std::string> base64url_decode(std::string_view text);
// Unpadded base64url of BYTES.
std::string base64url_encode(std::string_view bytes);
// Whether every character of TEXT is one of [A-Za-z0-9_-].
bool is_base64url(std::string_view text);
}  // namespace detail

struct EvpPkeyFree {
    void operator()(EVP_PKEY* key) const;
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;

struct VerifyKey {
    enum class Kind { kHmac, kRsa, kEc };
    Kind kind = Kind::kHmac;
    std::string kid;      // JWKS: the key's kid ("" when it has none); PEM and HMAC: ""
    std::string jwk_alg;  // JWKS: the key's alg when it names one (then only that alg fits)
    std::string curve;    // kEc: "P-256", "P-384" or "P-521"
    int bits = 0;         // kRsa: the modulus size
    std::string secret;   // kHmac: the shared key
    std::shared_ptr<EVP_PKEY> pkey;  // kRsa, kEc: the public key, parsed once

    // Whether ALG (a JWS alg name, exact case) may be verified with this key: HS* only an HMAC
    // key, RS* only RSA, ES256/ES384/ES512 only P-256/P-384/P-521, and only the JWK's own alg
    // when it names one.
    bool fits(std::string_view alg) const;
};

// Parses PEM (SubjectPublicKeyInfo "BEGIN PUBLIC KEY", or an X.509 certificate) into a key.
// Errors: kInvalidArgument with the reason: not PEM, a private key, not RSA or EC, RSA below 2048
// bits, an EC curve other than P-256/P-384/P-521.
Result<VerifyKey> load_public_key_pem(std::string_view pem);

// Parses a JWKS document ({"keys": [...]}, at most 1 MiB and 100 keys). Keys it cannot use
// (`use` other than "sig", `key_ops` without "verify", kty "oct", unknown kty, crv or alg, RSA
// below 2048 bits, an EC point that is not on its curve, bad base64url) are skipped, each with a
// line in WARNINGS (when given). Errors: kInvalidArgument when TEXT is not such a document.
Result<std::vector<VerifyKey>> parse_jwks(std::string_view text,
                                          std::vector<std::string>* warnings = nullptr);

// One snapshot of every key a verifier knows.
struct KeySet {
    std::optional<VerifyKey> pem;     // the PEM public key
    std::optional<VerifyKey> shared;  // the HMAC shared key
    bool has_jwks = false;            // a JWKS source is configured (its keys may be none yet)
    std::vector<VerifyKey> jwks;

    // The key to verify a token with header ALG and KID, or nullptr when there is none (an
    // unknown key). HS*: the shared key, whatever the kid. RS* and ES*: with a JWKS and a kid,
    // the JWKS key with that kid; without a kid, the PEM key when there is one, else the only
    // JWKS key that fits ALG; without a JWKS, the PEM key for every kid. The key returned may
    // still not fit ALG (VerifyKey::fits).
    const VerifyKey* select(std::string_view alg, std::string_view kid) const;
};

// Checks SIGNATURE (the JWS signature bytes, already base64url-decoded) over SIGNING_INPUT
// ("header.payload") with KEY and ALG. REQUIRES: key.fits(alg). ES*: the signature is r || s,
// each as long as the curve's field (RFC 7518 section 3.4).
bool verify_signature(const VerifyKey& key, std::string_view alg, std::string_view signing_input,
                      std::string_view signature);

}  // namespace outpost::sync::auth
