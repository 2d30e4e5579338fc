#include "admin/admin_server.hpp"

#include <sodium.h>

#include <exception>
#include <string_view>

#include "admin/admin_server_impl.hpp"
#include "admin/request_target.hpp"
#include "net/url.hpp"

namespace outpost::admin {

namespace {

// Every method but the safe ones may change something, also one no part knows (a part could
// treat it as a write).
bool is_change(const std::string& method) { return method != "GET" && method != "HEAD"; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// The value of cookie NAME in a Cookie header, or empty.
std::string cookie_value(const std::string* header, std::string_view name) {
    if (!header) return {};
    std::string_view rest = *header;
    while (!rest.empty()) {
        const auto semi = rest.find(';');
        const std::string_view pair = trim(rest.substr(0, semi));
        rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
        const auto eq = pair.find('=');
        if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name) {
            return std::string(trim(pair.substr(eq + 1)));
        }
    }
    return {};
}

// True when the Host header names a loopback host (with or without a port): what a browser sends
// for http://127.0.0.1:PORT, http://localhost:PORT or http://[::1]:PORT, and not for a name that
// an attacker's DNS points at 127.0.0.1.
bool loopback_host_header(const std::string* host) {
    if (!host || host->empty()) return false;
    std::string_view h = *host;
    std::string_view port;
    if (h.starts_with('[')) {
        const auto end = h.find(']');
        if (end == std::string_view::npos) return false;
        port = h.substr(end + 1);
        h = h.substr(1, end - 1);
    } else if (const auto colon = h.find(':'); colon != std::string_view::npos) {
        port = h.substr(colon);
        h = h.substr(0, colon);
    }
    // Nothing after the name but an optional ":PORT" of digits.
    if (!port.empty()) {
        if (port.size() < 2 || port.size() > 6 || port.front() != ':') return false;
        for (char c : port.substr(1)) {
            if (c < '0' || c > '9') return false;
        }
    }
    return net::detail::is_loopback_host(h);
}

// The security headers of every answer (also of those HttpServer makes itself).
std::vector<std::pair<std::string, std::string>> security_headers() {
    return {{"X-Content-Type-Options", "nosniff"},
            {"X-Frame-Options", "DENY"},
            {"Content-Security-Policy", "default-src 'self'"},
            {"Referrer-Policy", "no-referrer"}};
}

net::HttpServerResponse to_http(Response r, bool no_store) {
    net::HttpServerResponse out;
    out.status = r.status;
    out.headers = std::move(r.headers);
    out.headers.emplace_back("Content-Type", r.content_type);
    for (auto& h : security_headers()) out.headers.push_back(std::move(h));
    out.headers.emplace_back("Cache-Control", no_store ? "no-store" : "no-cache");
    out.body = std::move(r.body);
    return out;
}

Response method_not_allowed(const char* allowed) {
    Response r = error_response(405, std::string("method not allowed (allowed: ") + allowed + ")");
    r.headers.emplace_back("Allow", allowed);
    return r;
}

// What the Basic credentials of the Authorization header are: none, an account's, wrong, or from an
// address that is blocked. Failures count against the address as failed logins do.
enum class BasicAuth { kNone, kOk, kWrong, kBlocked };

BasicAuth check_basic(AdminServer::Impl& s, const Call& call) {
    const std::string* header = call.http.header("authorization");
    if (!header || !header->starts_with("Basic ")) return BasicAuth::kNone;
    const std::string encoded(trim(std::string_view(*header).substr(6)));
    std::string decoded(encoded.size(), '\0');
    std::size_t length = 0;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(decoded.data()), decoded.size(),
                          encoded.data(), encoded.size(), nullptr, &length, nullptr,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        return BasicAuth::kWrong;
    }
    decoded.resize(length);
    const auto colon = decoded.find(':');
    if (colon == std::string::npos) return BasicAuth::kWrong;
    const auto now = std::chrono::steady_clock::now();
    const std::string& remote = call.request.remote;
    if (s.throttle.blocked(remote, now)) return BasicAuth::kBlocked;
    const std::string user = decoded.substr(0, colon);
    if (s.accounts.check(user, std::string_view(decoded).substr(colon + 1))) {
        s.throttle.succeeded(remote);
        return BasicAuth::kOk;
    }
    s.throttle.failed(remote, now);
    s.log(true, "admin: /metrics Basic authentication failed for user '" + routes::printable(user) +
                    "' from " + remote);
    return BasicAuth::kWrong;
}

Response handle_metrics(AdminServer::Impl& s, Call& call) {
    if (call.request.method != "GET") return method_not_allowed("GET");
    if (!s.accounts.empty() && !call.session) {
        switch (check_basic(s, call)) {
            case BasicAuth::kOk:
                break;
            case BasicAuth::kBlocked:
                return error_response(429, "too many failed logins: try again later");
            case BasicAuth::kNone:
            case BasicAuth::kWrong: {
                Response r = error_response(401, "log in, or use HTTP Basic authentication");
                r.headers.emplace_back("WWW-Authenticate",
                                       "Basic realm=\"outpost admin\", charset=\"UTF-8\"");
                return r;
            }
        }
    }
    return routes::metrics(s);
}

// /api/...: the session, the CSRF token, then the server's own paths and the parts.
Response handle_api(AdminServer::Impl& s, Call& call) {
    Request& r = call.request;
    if (r.path == "/api/login") {
        if (r.method != "POST") return method_not_allowed("POST");
        return routes::login(s, call);
    }
    if (!call.session && s.accounts.empty() && r.path == "/api/session" && r.method == "GET") {
        const Session created = s.sessions.create("local", std::chrono::steady_clock::now());
        return routes::session(call, created, true);
    }
    if (call.session) {
        r.user = call.session->user;
    } else if (s.accounts.empty()) {
        r.user = "local";
    } else {
        return error_response(401, "not logged in");
    }
    if (is_change(r.method)) {
        const std::string* token = call.http.header("x-csrf-token");
        if (!call.session || !token || !tokens_equal(*token, call.session->csrf)) {
            return error_response(403, "CSRF token missing or wrong (header X-CSRF-Token)");
        }
    }
    if (r.path == "/api/logout") {
        if (r.method != "POST") return method_not_allowed("POST");
        return routes::logout(s, call);
    }
    if (r.path == "/api/session") {
        if (r.method != "GET") return method_not_allowed("GET");
        return routes::session(call, *call.session, false);
    }
    if (r.path == "/api/status") {
        if (r.method != "GET") return method_not_allowed("GET");
        return routes::status(s);
    }
    return routes::parts(s, call);
}

Response route(AdminServer::Impl& s, Call& call) {
    Request& r = call.request;
    if (!parse_target(call.http.target, r)) {
        return error_response(400, "bad request target (a path with valid %-escapes)");
    }
    if (s.accounts.empty() && !loopback_host_header(call.http.header("host"))) {
        return error_response(403,
                              "Host must be a loopback name or address (127.0.0.1, localhost, "
                              "[::1]) when the admin server has no accounts");
    }
    if (r.path == "/health") {
        Response health;
        health.content_type = "text/plain; charset=utf-8";
        health.body = "outpost\n";
        return health;
    }
    call.session = s.sessions.find(cookie_value(call.http.header("cookie"), kSessionCookie),
                                   std::chrono::steady_clock::now());
    if (r.path == "/metrics") return handle_metrics(s, call);
    if (r.path == "/api" || r.path.starts_with("/api/")) return handle_api(s, call);
    if (r.method != "GET") return method_not_allowed("GET");
    return routes::static_file(call);
}

}  // namespace

void AdminServer::Impl::log(bool warn, const std::string& text) const {
    if (!options.log) return;
    try {
        options.log(warn, text);
    } catch (const std::exception&) {
        // A logger that fails loses the line; the server goes on.
    }
}

AdminServer::AdminServer(AdminServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

AdminServer::~AdminServer() { stop(); }

void AdminServer::add_part(std::shared_ptr<ApiPart> part) {
    if (part) impl_->parts.push_back(std::move(part));
}

Status AdminServer::start() {
    Impl& s = *impl_;
    if (s.http) return Status(ErrorCode::kIllegalState, "admin server already started");
    OUTPOST_RETURN_IF_ERROR(init_crypto());
    auto url = net::detail::parse_http_listen_url(s.options.bind_url);
    if (!url) {
        return Status(ErrorCode::kInvalidArgument,
                      "admin bind " + s.options.bind_url +
                          ": expected http://HOST:PORT or https://HOST:PORT");
    }
    if (s.options.accounts.empty() && !net::detail::is_loopback_host(url->host)) {
        return Status(ErrorCode::kInvalidArgument,
                      "admin bind " + s.options.bind_url +
                          " is not a loopback address and there is no admin account: anyone who "
                          "can reach it would be admin; add an account or bind to 127.0.0.1");
    }
    for (const auto& a : s.options.accounts) {
        if (a.name.empty())
            return Status(ErrorCode::kInvalidArgument, "admin account without name");
        if (!is_password_hash(a.password_hash)) {
            return Status(ErrorCode::kInvalidArgument,
                          "admin account '" + a.name +
                              "': the password hash is not an argon2id hash ($argon2id$...)");
        }
    }
    net::HttpServerOptions o;
    o.url = s.options.bind_url;
    o.cert_dir = s.options.cert_dir;
    o.own_answer_headers = security_headers();
    o.own_answer_headers.emplace_back("Cache-Control", "no-store");
    auto http = std::make_unique<net::HttpServer>(
        o, [this](const net::HttpServerRequest& r) { return handle(r); });
    OUTPOST_RETURN_IF_ERROR(http->start());
    s.http = std::move(http);
    return Status::ok();
}

std::string AdminServer::bound_url() const {
    return impl_->http ? impl_->http->bound_url() : std::string();
}

void AdminServer::stop() {
    if (impl_ && impl_->http) impl_->http->stop();
}

net::HttpServerResponse AdminServer::handle(const net::HttpServerRequest& request) {
    Impl& s = *impl_;
    Call call{request, Request{}, std::nullopt};
    call.request.method = request.method;
    call.request.body = request.body;
    call.request.remote = request.remote_address;
    Response answer;
    try {
        answer = route(s, call);
    } catch (const std::exception& e) {
        s.log(true, std::string("admin: ") + request.method + " " + call.request.path +
                        " failed: " + e.what());
        answer = error_response(500, "internal server error");
    }
    const std::string& path = call.request.path;
    const bool no_store = path == "/metrics" || path == "/api" || path.starts_with("/api/");
    return to_http(std::move(answer), no_store);
}

}  // namespace outpost::admin
