#include "config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "net/url.hpp"

namespace outpost::server {

namespace {

using nlohmann::json;

Status bad(const std::string& key, const std::string& what) {
    return Status(ErrorCode::kInvalidArgument, "config key '" + key + "': " + what);
}

Status read_string(const json& v, const std::string& key, std::string& out) {
    if (!v.is_string()) return bad(key, "expected a string");
    out = v.get<std::string>();
    return Status::ok();
}

Status read_bool(const json& v, const std::string& key, bool& out) {
    if (!v.is_boolean()) return bad(key, "expected true or false");
    out = v.get<bool>();
    return Status::ok();
}

Status read_uint(const json& v, const std::string& key, uint64_t& out) {
    if (!v.is_number_unsigned()) return bad(key, "expected a non-negative integer");
    out = v.get<uint64_t>();
    return Status::ok();
}

Status apply_mongo(const json& m, MongoSettings& s) {
    if (!m.is_object()) return bad("mongoDb", "expected an object");
    for (const auto& [key, v] : m.items()) {
        const std::string k = "mongoDb." + key;
        Status st;
        if (key == "url")
            st = read_string(v, k, s.url);
        else if (key == "database")
            st = read_string(v, k, s.database);
        else if (key == "automaticInitialImport")
            st = read_bool(v, k, s.automatic_initial_import);
        else if (key == "maxPropertySizeToMongoDb")
            st = read_uint(v, k, s.max_property_size);
        else if (key == "strictConversionsFromMongoDb")
            st = read_bool(v, k, s.strict_from_mongo);
        else if (key == "strictConversionsToMongoDb")
            st = read_bool(v, k, s.strict_to_mongo);
        else if (key == "omitNullValuesToMongoDb")
            st = read_bool(v, k, s.omit_null_to_mongo);
        else if (key == "emptyListForAbsentValuesFromMongoDb")
            st = read_bool(v, k, s.empty_list_for_absent);
        else if (key == "removeObjectsOfDroppedCollections")
            st = read_bool(v, k, s.remove_objects_of_dropped_collections);
        else if (key == "serverId")
            st = read_string(v, k, s.server_id);
        else
            return bad(k, "unknown key");
        if (!st) return st;
    }
    return Status::ok();
}

Status read_strings(const json& v, const std::string& key, std::vector<std::string>& out) {
    out.clear();
    if (v.is_string()) {
        out.push_back(v.get<std::string>());
        return Status::ok();
    }
    if (!v.is_array()) return bad(key, "expected a string or an array of strings");
    for (const auto& e : v) {
        if (!e.is_string()) return bad(key, "expected a string or an array of strings");
        out.push_back(e.get<std::string>());
    }
    return Status::ok();
}

Status apply_jwt(const json& j, JwtSettings& s) {
    if (!j.is_object()) return bad("auth.jwt", "expected an object");
    for (const auto& [key, v] : j.items()) {
        const std::string k = "auth.jwt." + key;
        Status st;
        if (key == "publicKeyFile")
            st = read_string(v, k, s.public_key_file);
        else if (key == "jwks")
            st = read_string(v, k, s.jwks);
        else if (key == "sharedKey")
            st = read_string(v, k, s.shared_key);
        else if (key == "algorithms") {
            if (!v.is_array()) return bad(k, "expected an array of strings");
            st = read_strings(v, k, s.algorithms);
        } else if (key == "audience")
            st = read_strings(v, k, s.audiences);
        else if (key == "issuer")
            st = read_string(v, k, s.issuer);
        else if (key == "leewaySeconds")
            st = read_uint(v, k, s.leeway_seconds);
        else if (key == "userClaim")
            st = read_string(v, k, s.user_claim);
        else
            return bad(k, "unknown key");
        if (!st) return st;
    }
    return Status::ok();
}

Status apply_auth(const json& a, Settings& s) {
    if (!a.is_object()) return bad("auth", "expected an object");
    for (const auto& [key, v] : a.items()) {
        Status st;
        if (key == "sharedSecret")
            st = read_string(v, "auth.sharedSecret", s.shared_secret);
        else if (key == "jwt")
            st = apply_jwt(v, s.jwt);
        else
            return bad("auth." + key, "unknown key");
        if (!st) return st;
    }
    return Status::ok();
}

Status apply_admin(const json& a, AdminSettings& s) {
    if (!a.is_object()) return bad("admin", "expected an object");
    for (const auto& [key, v] : a.items()) {
        if (key != "users") return bad("admin." + key, "unknown key");
        if (!v.is_array()) return bad("admin.users", "expected an array of {name, passwordHash}");
        s.users.clear();
        for (const auto& u : v) {
            if (!u.is_object()) return bad("admin.users", "expected {name, passwordHash} objects");
            AdminUserSettings user;
            for (const auto& [field, value] : u.items()) {
                Status st;
                if (field == "name")
                    st = read_string(value, "admin.users[].name", user.name);
                else if (field == "passwordHash")
                    st = read_string(value, "admin.users[].passwordHash", user.password_hash);
                else
                    return bad("admin.users[]." + field, "unknown key");
                if (!st) return st;
            }
            s.users.push_back(std::move(user));
        }
    }
    return Status::ok();
}

Status invalid(std::string what) { return Status(ErrorCode::kInvalidArgument, std::move(what)); }

// The admin part of validate().
Status validate_admin(const Settings& s) {
    const AdminSettings& a = s.admin;
    if (a.user.empty() != a.password_file.empty()) {
        return invalid(
            "--admin-user and --admin-password-file go together (the file holds the "
            "password on its first line)");
    }
    for (const auto& u : a.users) {
        if (u.name.empty()) return invalid("admin.users: an account without name");
        if (!u.password_hash.starts_with("$argon2id$")) {
            return invalid("admin.users: the passwordHash of '" + u.name +
                           "' is not an argon2id hash: make one with `outpost-server "
                           "admin-password-hash` (it reads the password on stdin)");
        }
    }
    if (a.bind == "off") return Status::ok();
    auto url = net::detail::parse_http_listen_url(a.bind);
    if (!url) {
        return invalid("--admin-bind " + a.bind +
                       ": expected http://HOST:PORT, https://HOST:PORT or off");
    }
    if (url->tls && s.cert_dir.empty()) {
        return invalid("--admin-bind " + a.bind + " needs --cert DIR holding cert.pem and key.pem");
    }
    if (!a.has_account() && !is_loopback_host(url->host)) {
        return invalid("--admin-bind " + a.bind +
                       " is not a loopback address and there is no admin account: add one "
                       "(--admin-user NAME --admin-password-file FILE, or admin.users in the "
                       "config) or bind the admin server to 127.0.0.1");
    }
    return Status::ok();
}

// The JWT part of validate().
Status validate_jwt(const Settings& s) {
    const JwtSettings& j = s.jwt;
    if (!j.enabled()) {
        if (!j.algorithms.empty() || !j.audiences.empty() || !j.issuer.empty()) {
            return invalid(
                "JWT settings (algorithms, --jwt-audience, --jwt-issuer) without a key: add "
                "--jwt-public-key FILE, --jwt-jwks FILE|URL or auth.jwt.sharedKey");
        }
        return Status::ok();
    }
    if (s.unsecured_no_authentication) {
        return invalid(
            "--unsecured-no-authentication (config unsecuredNoAuthentication) with JWT logins "
            "(auth.jwt): choose one");
    }
    static const std::set<std::string> kKnown = {"HS256", "HS384", "HS512", "RS256", "RS384",
                                                 "RS512", "ES256", "ES384", "ES512"};
    for (const auto& alg : j.algorithms) {
        if (alg == "none" || alg == "None" || alg == "NONE") {
            return invalid("auth.jwt.algorithms: none is never accepted (unsigned tokens)");
        }
        if (kKnown.count(alg) == 0) {
            return invalid("auth.jwt.algorithms: unknown algorithm '" + alg +
                           "' (known: HS256 HS384 HS512 RS256 RS384 RS512 ES256 ES384 ES512)");
        }
        if (alg.starts_with("HS") && j.shared_key.empty()) {
            return invalid("auth.jwt.algorithms: " + alg + " needs auth.jwt.sharedKey");
        }
        if (!alg.starts_with("HS") && j.public_key_file.empty() && j.jwks.empty()) {
            return invalid("auth.jwt.algorithms: " + alg +
                           " needs a public key: --jwt-public-key FILE or --jwt-jwks FILE|URL");
        }
    }
    if (!j.shared_key.empty() && j.shared_key.size() < 32) {
        return invalid("auth.jwt.sharedKey has " + std::to_string(j.shared_key.size()) +
                       " bytes: at least 32 (RFC 7518)");
    }
    if (j.leeway_seconds > 600) {
        return invalid("auth.jwt.leewaySeconds: at most 600 (10 minutes)");
    }
    if (j.user_claim.empty()) return invalid("auth.jwt.userClaim is empty");
    if (j.jwks.starts_with("http://")) {
        auto url = net::detail::parse_http_url(j.jwks);
        if (!url || !is_loopback_host(url->host)) {
            return invalid("--jwt-jwks " + j.jwks +
                           ": http:// only for loopback hosts (127.0.0.1, ::1, localhost); use "
                           "https://");
        }
    }
    return Status::ok();
}

}  // namespace

Status apply_config_json(const std::string& text, Settings& s) {
    json root;
    try {
        root = json::parse(text);
    } catch (const json::parse_error& e) {
        return Status(ErrorCode::kInvalidArgument,
                      std::string("config is not valid JSON: ") + e.what());
    }
    if (!root.is_object())
        return Status(ErrorCode::kInvalidArgument, "config must be a JSON object");
    for (const auto& [key, v] : root.items()) {
        Status st;
        if (key == "modelFile")
            st = read_string(v, key, s.model_file);
        else if (key == "bind") {
            s.binds.clear();
            if (v.is_string()) {
                s.binds.push_back(v.get<std::string>());
            } else if (v.is_array()) {
                for (const auto& b : v) {
                    if (!b.is_string())
                        return bad(key, "expected a URL string or an array of them");
                    s.binds.push_back(b.get<std::string>());
                }
            } else {
                return bad(key, "expected a URL string or an array of them");
            }
        } else if (key == "certificatePath")
            st = read_string(v, key, s.cert_dir);
        else if (key == "dbDirectory")
            st = read_string(v, key, s.db_directory);
        else if (key == "unsecuredNoAuthentication")
            st = read_bool(v, key, s.unsecured_no_authentication);
        else if (key == "unsecuredAllowRemote")
            st = read_bool(v, key, s.unsecured_allow_remote);
        else if (key == "auth")
            st = apply_auth(v, s);
        else if (key == "syncRules")
            st = read_string(v, key, s.sync_rules_file);
        else if (key == "historySizeMaxMb")
            st = read_uint(v, key, s.history_size_max_mb);
        else if (key == "loginTimeoutSeconds")
            st = read_uint(v, key, s.login_timeout_seconds);
        else if (key == "maxConnections")
            st = read_uint(v, key, s.max_connections);
        else if (key == "logLevel")
            st = read_string(v, key, s.log_level);
        else if (key == "mongoDb")
            st = apply_mongo(v, s.mongo);
        else if (key == "adminBind") {
            st = read_string(v, key, s.admin.bind);
            s.admin.bind_given = true;
        } else if (key == "admin")
            st = apply_admin(v, s.admin);
        else
            return bad(key, "unknown key");
        if (!st) return st;
    }
    return Status::ok();
}

Status load_config_file(const std::string& path, Settings& settings) {
    std::ifstream in(path);
    if (!in) return Status(ErrorCode::kIo, "cannot read config file " + path);
    std::stringstream text;
    text << in.rdbuf();
    Status st = apply_config_json(text.str(), settings);
    if (!st) return Status(st.code(), path + ": " + st.message());
    return Status::ok();
}

bool is_loopback_host(const std::string& host) {
    std::string lower = host;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "localhost") return true;
    in_addr v4{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
        return (ntohl(v4.s_addr) >> 24) == 127;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
        static const uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        static const uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(v6.s6_addr, kLoopback, 16) == 0) return true;
        return std::memcmp(v6.s6_addr, kMappedPrefix, 12) == 0 && v6.s6_addr[12] == 127;
    }
    return false;  // another name: it may resolve to any address
}

Status validate(const Settings& s) {
    if (s.shared_secret.empty() && !s.jwt.enabled() && !s.unsecured_no_authentication) {
        return Status(ErrorCode::kInvalidArgument,
                      "no authentication method: pass --auth-shared-secret SECRET (config "
                      "auth.sharedSecret), a JWT key (--jwt-public-key FILE, --jwt-jwks FILE|URL "
                      "or auth.jwt.sharedKey), or --unsecured-no-authentication to let anyone who "
                      "can reach the server sync (only for local development)");
    }
    OUTPOST_RETURN_IF_ERROR(validate_jwt(s));
    if (!s.shared_secret.empty() && s.unsecured_no_authentication) {
        return Status(ErrorCode::kInvalidArgument,
                      "both --auth-shared-secret (config auth.sharedSecret) and "
                      "--unsecured-no-authentication (config unsecuredNoAuthentication) are given: "
                      "choose one");
    }
    if (s.unsecured_allow_remote && !s.unsecured_no_authentication) {
        return Status(ErrorCode::kInvalidArgument,
                      "--unsecured-allow-remote (config unsecuredAllowRemote) only confirms "
                      "--unsecured-no-authentication, which is not given");
    }
    if (s.binds.empty()) return Status(ErrorCode::kInvalidArgument, "no --bind URL");
    for (const auto& b : s.binds) {
        auto url = net::detail::parse_ws_url(b);
        if (!url) {
            return Status(ErrorCode::kInvalidArgument,
                          "--bind " + b + ": expected ws://HOST:PORT or wss://HOST:PORT");
        }
        if (url->tls && s.cert_dir.empty()) {
            return Status(ErrorCode::kInvalidArgument,
                          "--bind " + b + " needs --cert DIR holding cert.pem and key.pem");
        }
        if (s.unsecured_no_authentication && !s.unsecured_allow_remote &&
            !is_loopback_host(url->host)) {
            return Status(ErrorCode::kInvalidArgument,
                          "--unsecured-no-authentication with --bind " + b +
                              ": that address is not loopback, so anyone who can reach it could "
                              "sync without credentials; bind to 127.0.0.1, ::1 or localhost, use "
                              "--auth-shared-secret, or add --unsecured-allow-remote (config "
                              "unsecuredAllowRemote) to confirm");
        }
    }
    static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    bool known = false;
    for (const char* l : kLevels) known = known || s.log_level == l;
    if (!known) {
        return Status(ErrorCode::kInvalidArgument,
                      "--log-level " + s.log_level +
                          ": expected trace, debug, info, warn, error, critical or off");
    }
    if (s.login_timeout_seconds > 86'400) {
        return Status(ErrorCode::kInvalidArgument,
                      "--login-timeout-seconds: at most 86400 (a day)");
    }
    if (s.mongo.enabled() && s.mongo.database.empty()) {
        return Status(ErrorCode::kInvalidArgument,
                      "--mongo-url needs --mongo-db (config mongoDb.database)");
    }
    return validate_admin(s);
}

std::vector<std::string> warnings(const Settings& s) {
    std::vector<std::string> out;
    if (!s.sync_rules_file.empty() && !s.jwt.enabled()) {
        out.push_back("sync rules (" + s.sync_rules_file +
                      ") without JWT logins: every session bypasses them (sessions that log in "
                      "with the shared secret see and write everything); add a JWT key source "
                      "(--jwt-public-key, --jwt-jwks or auth.jwt.sharedKey)");
    }
    if (s.jwt.enabled() && s.jwt.audiences.empty()) {
        out.push_back(
            "JWT: no --jwt-audience (auth.jwt.audience): a token minted for any other service "
            "of the same issuer is accepted too");
    }
    return out;
}

}  // namespace outpost::server
