#pragma once
// outpost-server: the JWT verifier, the JWKS fetcher and the sync rules that the settings ask for
// (docs/server.md, docs/auth.md, docs/sync-rules.md), made before the server starts.

#include <functional>
#include <memory>
#include <string>

#include "config.hpp"
#include "outpost/model.hpp"
#include "outpost/status.hpp"
#include "sync/auth/jwks_fetcher.hpp"
#include "sync/auth/token_verifier.hpp"
#include "sync/rules/sync_rules.hpp"
#include "sync/server_core.hpp"

namespace outpost::server {

struct AuthSetup {
    std::shared_ptr<sync::auth::TokenVerifier> verifier;  // null without JWT
    std::unique_ptr<sync::auth::JwksFetcher> fetcher;     // null without a JWKS
    std::shared_ptr<const sync::rules::SyncRules> rules;  // null without sync rules
    // For the start log: "auth: shared secret, JWT (JWKS https://..., 2 keys)".
    std::string summary;
};

// Loads the public key file, the JWKS (the fetcher's first load; it then keeps the keys fresh on a
// thread of its own, logging to LOG) and the sync rules against MODEL. REQUIRES: validate(SETTINGS)
// passed. Errors, all configuration errors: kInvalidArgument for a key, JWKS or rules file that
// cannot be read or does not load (the rules' error names entity, rule and column).
Result<AuthSetup> set_up_auth(const Settings& settings, const Model& model,
                              std::function<void(bool error, const std::string&)> log);

// Sets the auth parts of OPTIONS from SETTINGS and SETUP: the shared secret, the unsecured mode,
// the token verifier and its leeway, the sync rules.
void apply_auth(const Settings& settings, const AuthSetup& setup, sync::ServerOptions& options);

}  // namespace outpost::server
