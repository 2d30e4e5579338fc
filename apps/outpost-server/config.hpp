#pragma once
// outpost-server settings: the JSON config file (--conf) and the flags that override it.
// Every flag has a key; unknown keys are an error (docs/server.md lists them).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "outpost/status.hpp"

namespace outpost::server {

struct MongoSettings {
    std::string url;
    std::string database;
    bool automatic_initial_import = false;
    uint64_t max_property_size = 0;  // bytes; 0: no limit
    bool strict_from_mongo = false;
    bool strict_to_mongo = false;
    bool omit_null_to_mongo = false;
    bool empty_list_for_absent = false;
    bool remove_objects_of_dropped_collections = false;
    std::string server_id;  // keys this server's marker in __outpost_meta; empty: made once, kept
    bool enabled() const { return !url.empty(); }
};

// auth.jwt: JWT logins (docs/auth.md). On when a key source is set.
struct JwtSettings {
    std::string public_key_file;  // PEM public key, RSA or EC
    std::string jwks;             // a JWKS file, or an http(s) URL
    std::string shared_key;       // HS256 key (development), at least 32 bytes
    std::vector<std::string>
        algorithms;  // empty: RS256 RS384 RS512 ES256 ES384 (+HS256 with a shared key)
    std::vector<std::string> audiences;  // empty: aud not checked
    std::string issuer;                  // empty: iss not checked
    uint64_t leeway_seconds = 60;        // at most 600
    std::string user_claim = "sub";
    bool enabled() const {
        return !public_key_file.empty() || !jwks.empty() || !shared_key.empty();
    }
};

// The admin server (docs/server.md, docs/admin-api.md).
struct AdminUserSettings {
    std::string name;
    std::string password_hash;  // $argon2id$... (outpost-server admin-password-hash)
};

struct AdminSettings {
    std::string bind = "http://127.0.0.1:9980";  // http(s)://HOST:PORT, or "off"
    bool bind_given = false;                     // by --admin-bind or adminBind
    std::vector<AdminUserSettings> users;        // config admin.users
    std::string user;                            // --admin-user
    std::string password_file;                   // --admin-password-file
    bool has_account() const { return !users.empty() || !user.empty(); }
};

struct Settings {
    std::string model_file;
    std::vector<std::string> binds;  // default ws://127.0.0.1:9999
    std::string cert_dir;
    std::string db_directory = "outpost-data";
    bool unsecured_no_authentication = false;
    bool unsecured_allow_remote = false;  // confirms unsecured on a non-loopback bind
    std::string shared_secret;
    JwtSettings jwt;
    std::string sync_rules_file;  // empty: none (every session sees and writes everything)
    uint64_t history_size_max_mb = 1024;
    uint64_t login_timeout_seconds = 10;  // 0: none
    uint64_t max_connections = 10'000;    // 0: no limit
    std::string log_level = "info";
    MongoSettings mongo;
    AdminSettings admin;
    bool mongo_initial_import = false;  // --mongo-initial-import (flag only)
};

// Reads the JSON config in TEXT into SETTINGS (keys it names replace the defaults).
// Errors: kInvalidArgument naming the key (unknown key, wrong type) or the JSON error.
Status apply_config_json(const std::string& text, Settings& settings);
Status load_config_file(const std::string& path, Settings& settings);

// Checks the whole: an auth method (a secret, JWT or both; or the explicit unsecured flag alone), a
// ws:// or wss:// bind, unsecured only on loopback binds (127.0.0.0/8, ::1, localhost) unless
// unsecured_allow_remote confirms it, a certificate directory for wss://, a known log level, JWT
// settings that can work (known algorithms and never "none", HS* only with a shared key of at least
// 32 bytes, a leeway of at most 600 s, JWT options only with a key source, a JWKS URL over https or
// to a loopback host), an admin address (http(s)://HOST:PORT or off; https with a certificate
// directory; not loopback only with an admin account), --admin-user and --admin-password-file
// together, argon2id hashes in admin.users. The message says what to do.
Status validate(const Settings& settings);
// What a valid SETTINGS should still warn about at start (sync rules without JWT logins, JWT
// without an audience to check).
std::vector<std::string> warnings(const Settings& settings);

// True when HOST (of a bind URL, IPv6 without brackets) is a loopback address: 127.0.0.0/8, ::1
// (also IPv4-mapped) or the name localhost. Any other name, 0.0.0.0 and :: are not.
bool is_loopback_host(const std::string& host);

}  // namespace outpost::server
