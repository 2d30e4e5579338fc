// The answers of the admin server's own paths (docs/admin-api.md, "Session and server").

#include <cctype>
#include <chrono>
#include <exception>
#include <nlohmann/json.hpp>

#include "admin/admin_server_impl.hpp"
#include "admin/process_metrics.hpp"
#include "admin/ui_assets.hpp"

namespace outpost::admin::routes {

namespace {

using nlohmann::json;

Response with_cookie(Response r, const std::string& token, bool tls) {
    r.headers.emplace_back("Set-Cookie", session_cookie(token, tls));
    return r;
}

// "application/json", in any case, with or without parameters ("; charset=utf-8").
bool is_json_type(std::string_view type) {
    constexpr std::string_view kJson = "application/json";
    if (type.size() < kJson.size()) return false;
    for (size_t i = 0; i < kJson.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(type[i])) != kJson[i]) return false;
    }
    const std::string_view rest = type.substr(kJson.size());
    return rest.empty() || rest.front() == ';' || rest.front() == ' ';
}

}  // namespace

std::string session_cookie(const std::string& token, bool tls) {
    std::string cookie = std::string(kSessionCookie) + "=" + token;
    cookie += "; HttpOnly; SameSite=Strict; Path=/";
    if (token.empty()) cookie += "; Max-Age=0";
    if (tls) cookie += "; Secure";
    return cookie;
}

std::string printable(std::string_view text) {
    std::string out;
    for (char c : text.substr(0, 64)) {
        const auto u = static_cast<unsigned char>(c);
        out += u < 0x20 || u == 0x7f ? '?' : c;
    }
    return out;
}

Response login(AdminServer::Impl& s, Call& call) {
    const std::string& remote = call.request.remote;
    const auto now = std::chrono::steady_clock::now();
    if (s.throttle.blocked(remote, now)) {
        Response r = error_response(429, "too many failed logins: try again later");
        r.headers.emplace_back("Retry-After", std::to_string(s.options.login_block.count()));
        return r;
    }
    // A cross-site form can post text that looks like JSON but not with this type (that needs a
    // CORS preflight, which this server never grants): no login CSRF.
    const std::string* type = call.http.header("content-type");
    if (!type || !is_json_type(*type)) {
        return error_response(415, "a login is JSON: Content-Type: application/json");
    }
    const json body = json::parse(call.request.body, nullptr, false);
    if (!body.is_object() || !body.contains("user") || !body["user"].is_string() ||
        !body.contains("password") || !body["password"].is_string()) {
        return error_response(400, R"(expected {"user": "...", "password": "..."})");
    }
    const std::string user = body["user"].get<std::string>();
    std::optional<std::string> name;
    if (s.accounts.empty()) {
        name = "local";  // no accounts: everyone on loopback is admin
    } else {
        name = s.accounts.check(user, body["password"].get<std::string>());
    }
    if (!name) {
        s.throttle.failed(remote, now);
        s.log(true, "admin login failed for user '" + printable(user) + "' from " + remote);
        return error_response(401, "wrong user or password");
    }
    s.throttle.succeeded(remote);
    if (call.session) s.sessions.remove(call.session->token);
    const Session created = s.sessions.create(*name, now);
    s.log(false, "admin login: user '" + printable(*name) + "' from " + remote);
    return with_cookie(json_response(200, {{"user", created.user}, {"csrf", created.csrf}}),
                       created.token, call.http.tls);
}

Response logout(AdminServer::Impl& s, Call& call) {
    s.sessions.remove(call.session->token);
    s.log(false,
          "admin logout: user '" + printable(call.session->user) + "' from " + call.request.remote);
    Response r;
    r.status = 204;
    return with_cookie(std::move(r), "", call.http.tls);
}

Response session(const Call& call, const Session& session, bool created) {
    Response r = json_response(200, {{"user", session.user}, {"csrf", session.csrf}});
    if (created) return with_cookie(std::move(r), session.token, call.http.tls);
    return r;
}

Response status(AdminServer::Impl& s) {
    using namespace std::chrono;
    const double uptime = duration<double>(steady_clock::now() - s.started_at).count();
    const auto now_ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    json out = {{"version", s.options.version}, {"uptime_s", uptime}, {"now_ms", now_ms}};
    for (const auto& part : s.parts) part->add_status(out);
    return json_response(200, out);
}

Response metrics(AdminServer::Impl& s) {
    MetricsWriter w;
    for (const auto& part : s.parts) part->write_metrics(w);
    write_process_metrics(w);
    Response r;
    r.content_type = kMetricsContentType;
    r.body = w.take();
    return r;
}

Response static_file(const Call& call) {
    const std::string& path = call.request.path;
    auto asset = find_ui_asset(path == "/" ? "index.html" : std::string_view(path));
    if (!asset) {
        Response r;
        r.status = 404;
        r.content_type = "text/plain; charset=utf-8";
        r.body = "not found\n";
        return r;
    }
    Response r;
    r.content_type = std::string(asset->content_type);
    r.body = std::string(asset->body);
    return r;
}

Response parts(AdminServer::Impl& s, const Call& call) {
    for (const auto& part : s.parts) {
        if (auto answer = part->handle(call.request)) return std::move(*answer);
    }
    return error_response(404, "no such path: " + call.request.path);
}

}  // namespace outpost::admin::routes
