// outpost token: mints development tokens, or prints the JWKS of a key's public half.
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

#include "commands.hpp"
#include "sync/auth/token_mint.hpp"

namespace outpost::cli {

namespace {

Result<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status(ErrorCode::kIo, "cannot read " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

std::optional<int64_t> parse_duration_s(std::string_view text) {
    bool negative = false;
    if (!text.empty() && text.front() == '-') {
        negative = true;
        text.remove_prefix(1);
    }
    int64_t unit = 1;
    if (!text.empty()) {
        switch (text.back()) {
            case 's':
                unit = 1;
                break;
            case 'm':
                unit = 60;
                break;
            case 'h':
                unit = 3600;
                break;
            case 'd':
                unit = 86400;
                break;
            default:
                unit = 0;
        }
        if (unit != 0) text.remove_suffix(1);
        unit = unit == 0 ? 1 : unit;
    }
    if (text.empty() || text.size() > 9) return std::nullopt;
    int64_t n = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
    }
    return (negative ? -n : n) * unit;
}

Status token(const TokenOptions& o) {
    sync::auth::MintOptions m;
    if (!o.key_file.empty()) {
        OUTPOST_ASSIGN_OR_RETURN(m.private_key_pem, read_file(o.key_file));
    }
    if (o.print_jwks) {
        auto jwks = sync::auth::public_jwks(m.private_key_pem, o.kid);
        if (!jwks) return Status(jwks.status().code(), o.key_file + ": " + jwks.status().message());
        std::printf("%s\n", jwks.value().c_str());
        return Status::ok();
    }
    m.shared_key = o.shared_key;
    if (!o.shared_key_file.empty()) {
        OUTPOST_ASSIGN_OR_RETURN(m.shared_key, read_file(o.shared_key_file));
    }
    if (m.private_key_pem.empty() && !m.shared_key.empty() && m.shared_key.size() < 32) {
        std::fprintf(stderr,
                     "outpost token: warning: the shared key has %zu bytes; a server takes 32 or "
                     "more (this token is for development only)\n",
                     m.shared_key.size());
    }
    if (o.alg == "none") {
        std::fprintf(stderr,
                     "outpost token: warning: alg none: an unsigned token, which every "
                     "server refuses (for tests)\n");
    }
    m.algorithm = o.alg;
    m.kid = o.kid;
    m.subject = o.sub;
    m.issuer = o.iss;
    m.audiences = o.aud;
    for (const auto& claim : o.claims) {
        const size_t eq = claim.find('=');
        if (eq == std::string::npos || eq == 0) {
            return Status(ErrorCode::kInvalidArgument, "--claim " + claim + ": not NAME=VALUE");
        }
        m.claims.emplace_back(claim.substr(0, eq), claim.substr(eq + 1));
    }
    m.issued_at_s = static_cast<int64_t>(std::time(nullptr));
    m.ttl_s = parse_duration_s(o.ttl).value_or(3600);
    if (!o.nbf_in.empty()) m.not_before_s = m.issued_at_s + parse_duration_s(o.nbf_in).value_or(0);
    auto jwt = sync::auth::mint_token(m);
    if (!jwt) return jwt.status();
    std::printf("%s\n", jwt.value().c_str());
    return Status::ok();
}

}  // namespace outpost::cli
