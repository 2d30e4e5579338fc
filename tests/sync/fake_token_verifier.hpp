#pragma once
// A stand-in for the JWT verifier (ServerOptions::verify_token) for tests that need a token's user
// and expiry, not its signature: "alice:1000123" is alice's token expiring at 1000123 (seconds
// since the epoch); a suffix ":stale" names a key the server does not know (yet); anything else is
// rejected.
#include <cstdint>
#include <string>
#include <string_view>

#include "outpost/status.hpp"
#include "sync/auth/identity.hpp"

namespace outpost::sync::testing {

inline Result<auth::Identity> fake_verify(std::string_view token, int64_t now_s) {
    const size_t colon = token.find(':');
    if (colon == std::string_view::npos || colon == 0) {
        return Status(ErrorCode::kAuthCredentialsRejected, "not a token");
    }
    std::string_view rest = token.substr(colon + 1);
    const size_t suffix = rest.find(':');
    if (suffix != std::string_view::npos && rest.substr(suffix + 1) == "stale") {
        return Status(ErrorCode::kAuthUnknownKey, "no key 'stale'");
    }
    auth::Identity id;
    id.kind = auth::CredentialKind::kJwt;
    id.user = std::string(token.substr(0, colon));
    id.expires_at_s = std::stoll(std::string(rest.substr(0, suffix)));
    id.claims["sub"] = {id.user};
    if (now_s > id.expires_at_s) return Status(ErrorCode::kAuthTokenExpired, "token expired");
    return id;
}

}  // namespace outpost::sync::testing
