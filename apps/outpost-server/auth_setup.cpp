#include "auth_setup.hpp"

#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

namespace outpost::server {

namespace {

// An empty key set: the JWKS fetcher's first load fills it before the server starts.
constexpr const char* kEmptyJwks = R"({"keys":[]})";

Result<std::string> read_file(const std::string& what, const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status(ErrorCode::kInvalidArgument, what + " " + path + ": cannot read it");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string joined(const std::vector<std::string>& parts, const char* separator) {
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : separator) + p;
    return out;
}

std::string describe(const Settings& s, const AuthSetup& setup) {
    std::vector<std::string> methods;
    if (!s.shared_secret.empty()) methods.emplace_back("shared secret");
    if (setup.verifier) {
        std::vector<std::string> keys;
        if (!s.jwt.jwks.empty()) {
            const size_t n = setup.verifier->jwks_kids().size();
            keys.push_back("JWKS " + s.jwt.jwks + ", " + std::to_string(n) +
                           (n == 1 ? " key" : " keys"));
        }
        if (!s.jwt.public_key_file.empty()) keys.push_back("public key " + s.jwt.public_key_file);
        if (!s.jwt.shared_key.empty()) keys.emplace_back("shared key");
        if (!s.jwt.audiences.empty()) keys.push_back("audience " + joined(s.jwt.audiences, ", "));
        if (!s.jwt.issuer.empty()) keys.push_back("issuer " + s.jwt.issuer);
        methods.push_back("JWT (" + joined(keys, "; ") + ")");
    }
    if (methods.empty()) methods.emplace_back("none (unsecured)");
    return "auth: " + joined(methods, ", ");
}

Status set_up_jwt(const Settings& s, std::function<void(bool, const std::string&)> log,
                  AuthSetup& setup) {
    sync::auth::JwtOptions o;
    if (!s.jwt.public_key_file.empty()) {
        OUTPOST_ASSIGN_OR_RETURN(o.public_key_pem,
                                 read_file("--jwt-public-key", s.jwt.public_key_file));
    }
    if (!s.jwt.jwks.empty()) o.jwks = kEmptyJwks;
    o.shared_key = s.jwt.shared_key;
    o.algorithms.insert(s.jwt.algorithms.begin(), s.jwt.algorithms.end());
    o.audiences = s.jwt.audiences;
    o.issuer = s.jwt.issuer;
    o.leeway = std::chrono::seconds(s.jwt.leeway_seconds);
    o.user_claim = s.jwt.user_claim;
    auto verifier = sync::auth::TokenVerifier::create(std::move(o));
    if (!verifier) return Status(ErrorCode::kInvalidArgument, verifier.status().message());
    setup.verifier = std::move(verifier).value();
    if (s.jwt.jwks.empty()) return Status::ok();
    sync::auth::JwksFetcherOptions fo;
    fo.source = s.jwt.jwks;
    fo.log = std::move(log);
    auto fetcher = sync::auth::JwksFetcher::start(setup.verifier, std::move(fo));
    if (!fetcher) return Status(ErrorCode::kInvalidArgument, fetcher.status().message());
    setup.fetcher = std::move(fetcher).value();
    return Status::ok();
}

}  // namespace

Result<AuthSetup> set_up_auth(const Settings& s, const Model& model,
                              std::function<void(bool error, const std::string&)> log) {
    AuthSetup setup;
    if (s.jwt.enabled()) OUTPOST_RETURN_IF_ERROR(set_up_jwt(s, std::move(log), setup));
    if (!s.sync_rules_file.empty()) {
        OUTPOST_ASSIGN_OR_RETURN(std::string text, read_file("--sync-rules", s.sync_rules_file));
        auto rules = sync::rules::SyncRules::load(text, model);
        if (!rules) {
            return Status(ErrorCode::kInvalidArgument,
                          s.sync_rules_file + ": " + rules.status().message());
        }
        setup.rules = std::move(rules).value();
    }
    setup.summary = describe(s, setup);
    return setup;
}

void apply_auth(const Settings& s, const AuthSetup& setup, sync::ServerOptions& options) {
    options.shared_secret = s.shared_secret;
    options.allow_unauthenticated =
        s.unsecured_no_authentication && s.shared_secret.empty() && !setup.verifier;
    if (setup.verifier) {
        options.verify_token = [v = setup.verifier](std::string_view token, int64_t now_s) {
            return v->verify(token, now_s);
        };
        options.token_leeway = std::chrono::seconds(s.jwt.leeway_seconds);
    }
    options.rules = setup.rules;
}

}  // namespace outpost::server
