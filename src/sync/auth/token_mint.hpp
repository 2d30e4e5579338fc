#pragma once
// Makes signed JSON Web Tokens for development and tests (`outpost token`, docs/auth.md).

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "outpost/status.hpp"

namespace outpost::sync::auth {

struct MintOptions {
    // The signing key: a PEM private key (RSA: RS256/384/512, EC: ES256/384) or, when empty, the
    // HS256 shared_key.
    std::string private_key_pem;
    std::string shared_key;
    std::string
        algorithm;    // empty: RS256 for RSA, ES256/ES384 by the EC curve, HS256 for a shared key
    std::string kid;  // header kid; empty: none
    std::string subject;                 // sub
    std::string issuer;                  // iss; empty: none
    std::vector<std::string> audiences;  // aud (one: a string; several: an array); empty: none
    // More claims, name -> value; a value that parses as JSON (number, true, [..]) is put as that,
    // any other as a string.
    std::vector<std::pair<std::string, std::string>> claims;
    int64_t issued_at_s = 0;   // iat (seconds since the epoch); 0: now
    int64_t ttl_s = 3600;      // exp = iat + ttl_s
    int64_t not_before_s = 0;  // nbf; 0: none
};

// The compact token (header.payload.signature). Errors: kInvalidArgument for a key that does not
// load, an algorithm that does not fit it, or a claim name that is not usable.
Result<std::string> mint_token(const MintOptions& options);

// The JWKS document ({"keys": [...]}) of the public half of PRIVATE_KEY_PEM (RSA or EC), with KID.
Result<std::string> public_jwks(const std::string& private_key_pem, const std::string& kid);

}  // namespace outpost::sync::auth
