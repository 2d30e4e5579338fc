#pragma once
// Keeps a TokenVerifier's JWKS key set fresh (docs/auth.md): loads it from a file or an HTTP(S) URL
// at start, again every hour, and again when a token names an unknown kid (at most once a minute).
// A failed load keeps the keys there are. Runs on a thread of its own.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "outpost/status.hpp"
#include "sync/auth/token_verifier.hpp"

namespace outpost::sync::auth {

struct JwksFetcherOptions {
    std::string source;   // a file path, or an http:// (loopback hosts only) or https:// URL
    std::string ca_file;  // https: CAs to trust instead of the system's
    std::chrono::seconds refresh_interval{3600};
    // The least time between two loads asked for by unknown kids.
    std::chrono::seconds unknown_key_interval{60};
    std::chrono::milliseconds timeout{5'000};
    // Log lines ("JWKS https://...: 2 keys (kid a, b)", failures and their retries).
    std::function<void(bool error, const std::string&)> log;
    // Called on the fetcher's thread after each load that changed the key set (not for the load
    // in start(), which is done before start() returns).
    std::function<void()> on_keys_updated;
};

class JwksFetcher {
  public:
    // Loads SOURCE once before it returns. Errors: kInvalidArgument for a source that is neither a
    // readable file nor an http(s) URL, or an http:// URL whose host is not a loopback address;
    // a file that is not a JWKS document. A URL that does not answer is not an error here: it is
    // retried (1, 2, 4 ... 60 s) while logins that need it get kAuthUnknownKey.
    // Sets VERIFIER's unknown-key listener.
    static Result<std::unique_ptr<JwksFetcher>> start(std::shared_ptr<TokenVerifier> verifier,
                                                      JwksFetcherOptions options);
    ~JwksFetcher();  // stops the thread

    // Loads so far, successful or not, the one in start() included (for tests and logs).
    uint64_t loads() const;

  private:
    struct Impl;
    explicit JwksFetcher(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace outpost::sync::auth
