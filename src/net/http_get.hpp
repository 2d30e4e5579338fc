#pragma once
// A small HTTP(S) GET client (Beast stays inside src/net): fetches a JWKS document. Blocking: runs
// its own I/O on the calling thread. No redirects are followed.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>

#include "outpost/status.hpp"

namespace outpost::net {

struct HttpGetOptions {
    std::string url;      // http:// or https://
    std::string ca_file;  // https: CA certificates to trust instead of the system's
    std::chrono::milliseconds timeout{5'000};  // the whole request: connect, TLS, write, read
    size_t max_body_bytes = size_t{1} << 20;
    // When given: the request ends (kIo "cancelled") soon after *cancel turns true, so that a
    // thread waiting on a slow peer can be stopped. Checked every 20 ms.
    const std::atomic<bool>* cancel = nullptr;
};

struct HttpResponse {
    unsigned status = 0;
    std::string body;
};

// Errors: kInvalidArgument for a URL that is not http(s)://HOST[:PORT][/PATH]; kIo (with the
// reason) when it cannot connect, the TLS handshake or the host name check fails, the timeout
// passes, the body is larger than max_body_bytes, or the status is not 200. The timeout does not
// cover the host name lookup (getaddrinfo cannot be interrupted): a hung resolver delays the
// return until it answers.
Result<HttpResponse> http_get(const HttpGetOptions& options);

}  // namespace outpost::net
