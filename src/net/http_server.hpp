#pragma once

// A small HTTP/1.1 server over Boost.Beast (pimpl: no Asio/Beast types here), for the admin API.
//
// Operating rules:
// - Construct with the options and a handler, then start(). The handler runs on the server's I/O
//   threads, possibly on several at once (threads > 1): it must be thread-safe and should be fast
//   (a slow one holds up the other connections of its thread). An exception from it becomes a 500.
// - Keep-alive: a connection serves requests one after another until the client asks to close,
//   an error, or read_timeout passes without a whole request.
// - Limits: a header above max_header_bytes gets 431, a body above max_body_bytes 413, a request
//   Beast cannot parse (or with a target that is not a path) 400; each of those closes the
//   connection. At most max_connections sockets are held; one more is closed at once (after a 503
//   over plain HTTP).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "outpost/status.hpp"

namespace outpost::net {

struct HttpServerRequest {
    std::string method;  // as sent, e.g. GET, POST
    std::string target;  // path and query as sent (not decoded), always starting with '/'
    // Header names in lower case. A header sent more than once: its values joined by ", " (for
    // cookie: "; ").
    std::map<std::string, std::string> headers;
    std::string body;
    std::string remote_address;  // the peer's IP address (IPv6 without brackets)
    bool tls = false;            // came over https://

    // The value of header NAME (lower case), or nullptr.
    const std::string* header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? nullptr : &it->second;
    }
};

struct HttpServerResponse {
    int status = 200;
    // Sent as given (Content-Length and Connection are set by the server).
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

struct HttpServerOptions {
    // `http://HOST:PORT` or `https://HOST:PORT`; port 0 picks a free port (see bound_url()).
    std::string url;
    // Directory holding cert.pem (certificate chain) and key.pem; required for https://.
    std::string cert_dir;
    unsigned threads = 1;
    std::size_t max_header_bytes = 16 * 1024;
    std::size_t max_body_bytes = 1u << 20;
    // A whole request (and the TLS handshake before the first) must arrive within this time, and
    // an idle keep-alive connection is closed after it.
    std::chrono::milliseconds read_timeout{30'000};
    // Writing an answer must finish within this time.
    std::chrono::milliseconds write_timeout{30'000};
    std::size_t max_connections = 256;  // 0: no limit
    // Headers of the answers the server makes itself (400, 413, 431, 500), e.g. security headers.
    std::vector<std::pair<std::string, std::string>> own_answer_headers;
};

class HttpServer {
  public:
    using Handler = std::function<HttpServerResponse(const HttpServerRequest&)>;

    HttpServer(HttpServerOptions options, Handler handler);
    // Stops and joins the I/O threads. REQUIRES: not called from the handler.
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds and starts serving. Errors: kInvalidArgument (a bad URL, https:// without a
    // certificate directory), kIo (an unreadable certificate or key, a host that does not
    // resolve, a port that cannot be bound: cause() holds the errno, e.g. EADDRINUSE),
    // kIllegalState (called a second time).
    [[nodiscard]] Status start();

    // The bound address, e.g. `http://127.0.0.1:40123`. REQUIRES: start() succeeded.
    std::string bound_url() const;

    // Stops accepting and ends every connection (a handler running finishes first). Idempotent;
    // waits for the I/O threads. REQUIRES: not called from the handler.
    void stop();

    // Sockets held now (for tests and diagnostics). Thread-safe.
    std::size_t connection_count() const;

    struct Impl;

  private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace outpost::net
