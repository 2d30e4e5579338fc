#pragma once
// The admin server (docs/admin-api.md, "Session and server"): serves the admin API, GET /metrics
// and the web UI's files on its own HTTP(S) address, with admin accounts, cookie sessions, CSRF
// tokens and a throttle of failed logins. What the API knows of the sync server and the MongoDB
// connector comes from its parts (ApiPart), which it offers each /api/ request in turn.
//
// Operating rules:
// - Construct, add_part() each part, then start(). Requests are served on the server's own I/O
//   thread(s); a part's handle() runs there (never on the sync worker).
// - With no account the server runs only on a loopback address: every request is user `local`,
//   and a request whose Host header is not a loopback name or address gets 403 (DNS rebinding).
// - Every answer carries X-Content-Type-Options, X-Frame-Options and Content-Security-Policy;
//   /api/ and /metrics answers also Cache-Control: no-store.
// - Logs name the user and the address of logins, never a password.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "admin/accounts.hpp"
#include "admin/api_part.hpp"
#include "net/http_server.hpp"
#include "outpost/status.hpp"

namespace outpost::admin {

// The session cookie's name.
inline constexpr const char* kSessionCookie = "outpost_admin";

struct AdminServerOptions {
    std::string bind_url = "http://127.0.0.1:9980";  // http:// or https://; port 0 picks one
    std::string cert_dir;                            // cert.pem and key.pem, for https://
    std::vector<AdminAccount> accounts;              // empty: loopback only, user `local`
    std::string version;                             // GET /api/status's "version"
    // Sessions unused this long end; at most max_sessions are held (the least recently used one
    // ends first).
    std::chrono::seconds session_idle{12 * 3600};
    std::size_t max_sessions = 256;
    // max_failed_logins failed logins (POST /api/login, or Basic auth on /metrics) from one
    // address within login_window block that address (429) for login_block.
    int max_failed_logins = 5;
    std::chrono::seconds login_window{60};
    std::chrono::seconds login_block{60};
    // Where logins, refusals and failing parts are reported; WARN tells a warning from a notice.
    // Unset: nowhere. Called on the I/O thread: it must be thread-safe.
    std::function<void(bool warn, const std::string& text)> log;
};

class AdminServer {
  public:
    explicit AdminServer(AdminServerOptions options);
    // Stops (as stop()).
    ~AdminServer();
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;

    // Adds a part; parts are asked in the order they were added. REQUIRES: before start(),
    // non-null.
    void add_part(std::shared_ptr<ApiPart> part);

    // Checks the accounts and binds. Errors: kInvalidArgument (no account on a bind address that
    // is not loopback, a password hash that is not an argon2id string, a bad URL, https:// without
    // a certificate directory), kIo (the port cannot be bound: cause() holds the errno, e.g.
    // EADDRINUSE), kIllegalState (called a second time).
    [[nodiscard]] Status start();

    // The bound address, e.g. `http://127.0.0.1:9980`. REQUIRES: start() succeeded.
    std::string bound_url() const;

    // Stops serving (a request being answered finishes first). Idempotent.
    void stop();

    // Answers one request as the server does for the network (used by the server itself, and by
    // tests without a socket). Thread-safe.
    net::HttpServerResponse handle(const net::HttpServerRequest& request);

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace outpost::admin
