#pragma once
// Who a sync session belongs to: what its Login's credentials proved (docs/auth.md).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace outpost::sync::auth {

// What a Login carries (Login::credential_kind on the wire, since protocol 5).
enum class CredentialKind : uint8_t {
    kNone = 0,  // nothing checked (--unsecured-no-authentication); a version 4 client sends 0
    kSharedSecret = 1,  // the server's shared secret: the session sees and writes everything
    kJwt = 2,           // a JSON Web Token: the session is a user, under the sync rules
};

struct Identity {
    CredentialKind kind = CredentialKind::kNone;
    // kJwt: the value of the user claim (JwtOptions::user_claim, `sub` by default); else empty.
    std::string user;
    std::string issuer;        // kJwt: the `iss` claim, empty when the token has none
    int64_t expires_at_s = 0;  // kJwt: the `exp` claim (seconds since the epoch); 0: never expires
    // kJwt: the token's claims flattened to dotted paths of string values: {"team": ["red"],
    // "realm_access.roles": ["admin", "dev"], "sub": ["alice"]}. Numbers are their JSON text,
    // booleans "true"/"false"; arrays of scalars become several values; deeper or larger parts are
    // left out. The sync rules read them as $auth.<path>.
    std::map<std::string, std::vector<std::string>, std::less<>> claims;
};

}  // namespace outpost::sync::auth
