// Token checks in the order that decides the codes: the compact form and its characters, the
// header (alg on the allow-list, no crit, typ), the key for (alg, kid) (502 when there is none),
// the key's type against alg, the signature (OpenSSL, on a key parsed once at load), then the
// claims: iss, aud, the user claim, nbf, iat, and exp last (501).
//
// libjwt 1.10 is not used here: it takes the algorithm from the token, re-reads a PEM key on every
// call (about 3,000 RS256 verifies a second on one core) and checks no claims. OpenSSL verifies
// the signature with the algorithm the key pins.
#include "sync/auth/token_verifier.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "common/mutex.hpp"
#include "model/json_nesting.hpp"
#include "sync/auth/key_set.hpp"

namespace outpost::sync::auth {

namespace {

using nlohmann::json;

constexpr int kMaxHeaderNesting = 4;
constexpr int kMaxPayloadNesting = 16;
constexpr int kMaxClaimDepth = 8;
constexpr size_t kMaxClaimEntries = 256;
constexpr size_t kMaxUserBytes = 256;
constexpr size_t kMaxKidBytes = 256;
constexpr std::chrono::seconds kMaxLeeway{600};

const std::set<std::string>& known_algorithms() {
    static const std::set<std::string> algs = {"HS256", "HS384", "HS512", "RS256", "RS384",
                                               "RS512", "ES256", "ES384", "ES512"};
    return algs;
}

Status reject(std::string why) {
    return Status(ErrorCode::kAuthCredentialsRejected, std::move(why));
}

// TEXT fit for a message: at most 64 bytes, anything but printable ASCII as '?'.
std::string printable(std::string_view text) {
    std::string out(text.substr(0, 64));
    for (char& c : out) {
        if (c < 0x20 || c > 0x7e) c = '?';
    }
    if (text.size() > 64) out += "...";
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

struct Jws {
    std::string_view header, payload, signature, signing_input;
};

Result<Jws> split_compact(std::string_view token) {
    if (token.empty()) return reject("token is empty");
    if (token.size() > kMaxTokenBytes) {
        return reject("token of " + std::to_string(token.size()) + " bytes (at most " +
                      std::to_string(kMaxTokenBytes) + ")");
    }
    const size_t d1 = token.find('.');
    const size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
    if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
        return reject("token is not a compact JWS (header.payload.signature)");
    }
    Jws jws{token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1), token.substr(d2 + 1),
            token.substr(0, d2)};
    if (!detail::is_base64url(jws.header) || !detail::is_base64url(jws.payload) ||
        !detail::is_base64url(jws.signature)) {
        return reject("token has a character outside base64url");
    }
    return jws;
}

// A JSON object from a base64url segment, or nullopt.
std::optional<json> json_object_of(std::string_view segment, int max_nesting) {
    auto text = detail::base64url_decode(segment);
    if (!text || !outpost::detail::json_nesting_within(*text, max_nesting)) return std::nullopt;
    json v = json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (v.is_discarded() || !v.is_object()) return std::nullopt;
    return v;
}

struct Header {
    std::string alg;
    std::string kid;
};

Result<Header> check_header(std::string_view segment, const std::set<std::string>& allowed) {
    auto head = json_object_of(segment, kMaxHeaderNesting);
    if (!head) return reject("token header is not a base64url JSON object");
    auto alg = head->find("alg");
    if (alg == head->end() || !alg->is_string()) return reject("token header has no alg");
    Header h{alg->get<std::string>(), ""};
    if (h.alg == "none") return reject("token is unsigned (alg none is never accepted)");
    if (allowed.count(h.alg) == 0) {
        return reject("token algorithm " + printable(h.alg) + " is not allowed");
    }
    if (head->contains("crit")) return reject("token header crit is not supported");
    if (auto typ = head->find("typ"); typ != head->end()) {
        const bool ok =
            typ->is_string() && (iequals(typ->get_ref<const std::string&>(), "JWT") ||
                                 iequals(typ->get_ref<const std::string&>(), "at+jwt") ||
                                 iequals(typ->get_ref<const std::string&>(), "application/at+jwt"));
        if (!ok) return reject("token header typ is not JWT or at+jwt");
    }
    if (auto kid = head->find("kid"); kid != head->end()) {
        if (!kid->is_string() || kid->get_ref<const std::string&>().size() > kMaxKidBytes) {
            return reject("token header kid is not a string of at most 256 bytes");
        }
        h.kid = kid->get<std::string>();
    }
    return h;
}

using Claims = decltype(Identity::claims);

std::string scalar_text(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
    return v.dump();
}

// Adds V at PATH to OUT: scalars as one value, arrays of scalars as several, objects member by
// member; null, arrays of containers, and parts deeper than kMaxClaimDepth are left out.
void flatten(const json& v, const std::string& path, int depth, Claims& out) {
    if (out.size() >= kMaxClaimEntries || v.is_null()) return;
    if (v.is_object()) {
        if (depth >= kMaxClaimDepth) return;
        for (const auto& [name, child] : v.items()) {
            flatten(child, path.empty() ? name : path + "." + name, depth + 1, out);
        }
        return;
    }
    std::vector<std::string> values;
    if (v.is_array()) {
        for (const auto& e : v) {
            if (e.is_primitive() && !e.is_null()) values.push_back(scalar_text(e));
        }
    } else {
        values.push_back(scalar_text(v));
    }
    out.emplace(path, std::move(values));
}

// The claim at PATH (a top-level name, or dotted names into nested objects), or nullptr.
const json* claim_at(const json& claims, const std::string& path) {
    if (auto it = claims.find(path); it != claims.end()) return &*it;
    const json* at = &claims;
    size_t start = 0;
    while (start <= path.size()) {
        const size_t dot = std::min(path.find('.', start), path.size());
        if (!at->is_object()) return nullptr;
        auto it = at->find(path.substr(start, dot - start));
        if (it == at->end()) return nullptr;
        at = &*it;
        start = dot + 1;
    }
    return at;
}

bool usable_user(const json* v) {
    if (v == nullptr || !v->is_string()) return false;
    const auto& s = v->get_ref<const std::string&>();
    return !s.empty() && s.size() <= kMaxUserBytes && std::none_of(s.begin(), s.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    });
}

}  // namespace

struct TokenVerifier::Impl {
    JwtOptions options;
    mutable Mutex mutex;
    std::shared_ptr<const KeySet> keys OUTPOST_GUARDED_BY(mutex);
    std::function<void(const std::string&)> unknown_key OUTPOST_GUARDED_BY(mutex);

    std::shared_ptr<const KeySet> snapshot() const {
        MutexLock lock(mutex);
        return keys;
    }
    void tell_unknown_key(const std::string& kid) const {
        std::function<void(const std::string&)> fn;
        {
            MutexLock lock(mutex);
            fn = unknown_key;
        }
        if (fn) fn(kid);
    }
    Result<Identity> check_claims(const json& claims, int64_t now_s) const;
};

Result<Identity> TokenVerifier::Impl::check_claims(const json& claims, int64_t now_s) const {
    const json* user = claim_at(claims, options.user_claim);
    const std::string who = usable_user(user)
                                ? "token of user " + printable(user->get<std::string>())
                                : std::string("token");
    Identity id;
    id.kind = CredentialKind::kJwt;
    if (auto iss = claims.find("iss"); iss != claims.end()) {
        if (!iss->is_string()) return reject(who + ": iss is not a string");
        id.issuer = iss->get<std::string>();
    }
    if (!options.issuer.empty() && id.issuer != options.issuer) {
        return reject(who + ": issuer '" + printable(id.issuer) + "' is not the one configured");
    }
    auto aud = claims.find("aud");
    std::vector<std::string> auds;
    if (aud != claims.end()) {
        if (aud->is_string()) {
            auds.push_back(aud->get<std::string>());
        } else if (aud->is_array()) {
            for (const auto& a : *aud) {
                if (!a.is_string()) return reject(who + ": aud holds a value that is not a string");
                auds.push_back(a.get<std::string>());
            }
        } else {
            return reject(who + ": aud is neither a string nor an array");
        }
    }
    if (!options.audiences.empty()) {
        const bool ours = std::any_of(auds.begin(), auds.end(), [&](const std::string& a) {
            return std::find(options.audiences.begin(), options.audiences.end(), a) !=
                   options.audiences.end();
        });
        if (!ours) return reject(who + ": aud names none of the configured audiences");
    }
    if (!usable_user(user)) {
        return reject("token: claim " + options.user_claim +
                      " is missing or not a non-empty string of at most 256 bytes");
    }
    id.user = user->get<std::string>();
    const auto leeway = static_cast<double>(options.leeway.count());
    const auto now = static_cast<double>(now_s);
    for (const char* name : {"nbf", "iat", "exp"}) {
        auto it = claims.find(name);
        if (it != claims.end() && !it->is_number())
            return reject(who + ": " + name + " is not a number");
    }
    if (auto nbf = claims.find("nbf"); nbf != claims.end() && nbf->get<double>() > now + leeway) {
        return reject(who + " is not valid yet (nbf is in the future)");
    }
    if (auto iat = claims.find("iat"); iat != claims.end() && iat->get<double>() > now + leeway) {
        return reject(who + " was issued in the future (iat)");
    }
    auto exp = claims.find("exp");
    if (exp == claims.end()) return reject(who + " has no exp");
    const double exp_s = std::clamp(exp->get<double>(), 0.0, 4e18);
    id.expires_at_s = static_cast<int64_t>(exp_s);
    if (now > exp_s + leeway) {
        return Status(ErrorCode::kAuthTokenExpired,
                      who + " expired " + std::to_string(now_s - id.expires_at_s) + " s ago");
    }
    flatten(claims, "", 0, id.claims);
    return id;
}

TokenVerifier::TokenVerifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TokenVerifier::~TokenVerifier() = default;

Result<std::shared_ptr<TokenVerifier>> TokenVerifier::create(JwtOptions options) {
    auto invalid = [](std::string why) {
        return Status(ErrorCode::kInvalidArgument, "JWT: " + std::move(why));
    };
    if (options.leeway < std::chrono::seconds(0) || options.leeway > kMaxLeeway) {
        return invalid("leeway must be 0 to 600 seconds");
    }
    if (options.user_claim.empty()) return invalid("the user claim is empty");
    if (!options.shared_key.empty() && options.shared_key.size() < 32) {
        return invalid("the shared key has " + std::to_string(options.shared_key.size()) +
                       " bytes (at least 32)");
    }
    if (options.algorithms.empty()) {
        options.algorithms = {"RS256", "RS384", "RS512", "ES256", "ES384"};
        if (!options.shared_key.empty()) options.algorithms.insert("HS256");
    }
    for (const auto& alg : options.algorithms) {
        if (alg == "none") return invalid("algorithm none is never accepted");
        if (known_algorithms().count(alg) == 0) return invalid("unknown algorithm " + alg);
        if (alg.substr(0, 2) == "HS" && options.shared_key.empty()) {
            return invalid("algorithm " + alg + " needs a shared key");
        }
    }
    auto keys = std::make_shared<KeySet>();
    if (!options.public_key_pem.empty()) {
        auto pem = load_public_key_pem(options.public_key_pem);
        if (!pem) return invalid("public key: " + pem.status().message());
        keys->pem = std::move(pem).value();
    }
    if (!options.jwks.empty()) {
        OUTPOST_ASSIGN_OR_RETURN(keys->jwks, parse_jwks(options.jwks));
        keys->has_jwks = true;
    }
    if (!options.shared_key.empty()) {
        VerifyKey shared;
        shared.kind = VerifyKey::Kind::kHmac;
        shared.secret = options.shared_key;
        keys->shared = std::move(shared);
    }
    if (!keys->pem && !keys->has_jwks && !keys->shared) {
        return invalid("no key: give a public key, a JWKS or a shared key");
    }
    auto impl = std::make_unique<Impl>();
    impl->options = std::move(options);
    {
        MutexLock lock(impl->mutex);
        impl->keys = std::move(keys);
    }
    return std::shared_ptr<TokenVerifier>(new TokenVerifier(std::move(impl)));
}

Result<Identity> TokenVerifier::verify(std::string_view token, int64_t now_s) const {
    OUTPOST_ASSIGN_OR_RETURN(Jws jws, split_compact(token));
    OUTPOST_ASSIGN_OR_RETURN(Header head, check_header(jws.header, impl_->options.algorithms));
    std::shared_ptr<const KeySet> keys = impl_->snapshot();
    const VerifyKey* key = keys->select(head.alg, head.kid);
    if (key == nullptr) {
        impl_->tell_unknown_key(head.kid);
        return Status(ErrorCode::kAuthUnknownKey,
                      "no key " +
                          (head.kid.empty() ? std::string("without a kid")
                                            : "with kid '" + printable(head.kid) + "'") +
                          " for " + head.alg);
    }
    if (!key->fits(head.alg)) {
        return reject("token algorithm " + head.alg + " does not fit key '" + printable(key->kid) +
                      "'");
    }
    auto signature = detail::base64url_decode(jws.signature);
    if (!signature || !verify_signature(*key, head.alg, jws.signing_input, *signature)) {
        return reject("token signature does not verify");
    }
    auto claims = json_object_of(jws.payload, kMaxPayloadNesting);
    if (!claims) return reject("token payload is not a base64url JSON object");
    return impl_->check_claims(*claims, now_s);
}

Status TokenVerifier::set_jwks(std::string_view text, std::vector<std::string>* warnings) {
    OUTPOST_ASSIGN_OR_RETURN(std::vector<VerifyKey> jwks, parse_jwks(text, warnings));
    MutexLock lock(impl_->mutex);
    auto next = std::make_shared<KeySet>(*impl_->keys);
    next->jwks = std::move(jwks);
    next->has_jwks = true;
    impl_->keys = std::move(next);
    return Status::ok();
}

std::vector<std::string> TokenVerifier::jwks_kids() const {
    std::vector<std::string> kids;
    for (const auto& key : impl_->snapshot()->jwks) kids.push_back(key.kid);
    return kids;
}

void TokenVerifier::on_unknown_key(std::function<void(const std::string& kid)> fn) {
    MutexLock lock(impl_->mutex);
    impl_->unknown_key = std::move(fn);
}

}  // namespace outpost::sync::auth
