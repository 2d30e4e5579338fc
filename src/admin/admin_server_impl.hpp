#pragma once
// AdminServer's state and its routes (internal to the admin server): admin_server.cpp has the
// server and the authentication of a request, admin_routes.cpp the answers of the server's own
// paths.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admin/accounts.hpp"
#include "admin/admin_server.hpp"
#include "admin/sessions.hpp"

namespace outpost::admin {

struct AdminServer::Impl {
    explicit Impl(AdminServerOptions o)
        : options(std::move(o)),
          accounts(options.accounts),
          sessions(options.session_idle, options.max_sessions),
          throttle(options.max_failed_logins, options.login_window, options.login_block) {}

    AdminServerOptions options;
    AccountList accounts;
    SessionTable sessions;
    LoginThrottle throttle;
    std::vector<std::shared_ptr<ApiPart>> parts;  // set before start(), then only read
    const std::chrono::steady_clock::time_point started_at = std::chrono::steady_clock::now();
    std::unique_ptr<net::HttpServer> http;

    void log(bool warn, const std::string& text) const;
};

// One request on its way through the server.
struct Call {
    const net::HttpServerRequest& http;
    Request request;
    std::optional<Session> session;  // from the cookie
};

namespace routes {

// POST /api/login.
Response login(AdminServer::Impl& s, Call& call);
// POST /api/logout (REQUIRES: a session).
Response logout(AdminServer::Impl& s, Call& call);
// GET /api/session: SESSION's user and CSRF token, and its cookie when NEW.
Response session(const Call& call, const Session& session, bool created);
// GET /api/status.
Response status(AdminServer::Impl& s);
// GET /metrics (REQUIRES: authorized).
Response metrics(AdminServer::Impl& s);
// The UI's files (any path outside /api/ and the paths above).
Response static_file(const Call& call);
// The first part's answer to CALL, or 404.
Response parts(AdminServer::Impl& s, const Call& call);

// The Set-Cookie value of a session (Secure over TLS); an empty TOKEN clears the cookie.
std::string session_cookie(const std::string& token, bool tls);
// A log-safe form of text from outside (a user name): control characters replaced, at most 64
// bytes.
std::string printable(std::string_view text);

}  // namespace routes

}  // namespace outpost::admin
