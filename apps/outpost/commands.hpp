#pragma once
// The outpost tool's commands; each prints its result to stdout.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/store.hpp"

namespace outpost::cli {

struct Options {
    std::string db;
    std::string model;
    std::string entity;
    std::string json;
    uint64_t id = 0;
    uint64_t limit = UINT64_MAX;
    // query
    std::string where;
    std::vector<std::string> order;  // "PROP[,desc][,ci][,nullsfirst]"
    uint64_t offset = 0;
    bool count = false;
    bool explain = false;
};

// Opens the store in o.db: with o.model when given (creating or evolving the store), else with the
// model it was last opened with; every object it reads is verified (StoreOptions::verify_objects).
Result<std::shared_ptr<Store>> open_store(const Options& o);

Status put(const Options& o);
Status get(const Options& o);
Status remove(const Options& o);
Status list(const Options& o);
Status stats(const Options& o);
Status model(const Options& o);
Status query(const Options& o);

// Exit codes of `outpost check` (docs/storage.md, "Checking a store").
constexpr int kCheckClean = 0;
constexpr int kCheckDamaged = 3;
// Checks the store in o.db (opened read-only): prints each damage found and a summary line to
// stdout, progress to stderr. Returns kCheckClean or kCheckDamaged (also when the store does not
// open because it is damaged), or the error that kept the check from running.
Result<int> check(const Options& o);

struct SyncOptions {
    Options store;  // db, model
    std::vector<std::string> urls;
    std::string secret;
    std::string token;                   // a JWT, sent instead of the secret
    std::string token_file;              // a file holding the JWT, read again before each reconnect
    std::vector<std::string> variables;  // NAME=VALUE filter variables
    std::string ca_file;
    bool until_synced = false;
    double timeout_s = 60;
    bool watch = false;
};
// --until-synced: connects, pushes and pulls until up to date (ok) or the timeout / a login failure
// (the error says why). --token-file: the file is read at start (an unreadable or empty file is an
// error) and again before each reconnect, so whoever renews the token only rewrites the file.
// --watch: syncs until SIGINT/SIGTERM, one JSON line per incoming change.
Status sync(const SyncOptions& o);

struct TokenOptions {
    std::string key_file;         // PEM private key (RSA or EC)
    std::string shared_key;       // HS256 key
    std::string shared_key_file;  // HS256 key: the bytes of a file
    std::string sub;
    std::vector<std::string> claims;  // NAME=VALUE; a VALUE that is JSON goes in as that
    std::string ttl = "1h";
    std::string nbf_in;  // nbf = now + this
    std::string kid;
    std::string iss;
    std::vector<std::string> aud;
    std::string alg;  // empty: from the key
    bool print_jwks = false;
};
// Prints a signed token (one line), or with print_jwks the JWKS of key_file's public half
// (docs/auth.md, "outpost token"). A shared key under 32 bytes works, with a warning on stderr.
Status token(const TokenOptions& o);
// Seconds of "90s", "30m", "1h", "2d" or "3600" (a leading '-' for the past); nullopt otherwise.
std::optional<int64_t> parse_duration_s(std::string_view text);

}  // namespace outpost::cli
