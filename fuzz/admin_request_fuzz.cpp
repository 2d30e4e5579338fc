// libFuzzer target: any request to the admin server (without accounts, so no password hashing
// slows the run) gets an answer: a status from 200 to 599 with the security headers, a Host that
// is not loopback never gets past 400/403, and a change never reaches a part without the session's
// CSRF token. Input: lines of method, target, Host, Cookie, X-CSRF-Token, Authorization; the rest
// is the body.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "admin/admin_server.hpp"

namespace {

using namespace outpost;

// Answers everything under /api/part/, counting changes.
class CountingPart : public admin::ApiPart {
  public:
    std::optional<admin::Response> handle(const admin::Request& r) override {
        if (!r.path.starts_with("/api/part/")) return std::nullopt;
        if (r.method != "GET") ++changes;
        return admin::json_response(200, {{"path", r.path}, {"segments", r.segments.size()}});
    }
    void add_status(nlohmann::json& status) override { status["part"] = changes; }
    void write_metrics(admin::MetricsWriter& out) override {
        out.counter("outpost_fuzz_changes_total", "Changes.", changes);
    }
    int changes = 0;
};

std::string_view next_line(std::string_view& rest) {
    const auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    return line;
}

// True when HOST cannot be a loopback name or address: it has a letter that is neither in
// "localhost" nor a hex digit (so it is some other DNS name).
bool surely_not_loopback(std::string_view host) {
    for (char c : host) {
        const char l = static_cast<char>(c | 0x20);
        if (l >= 'a' && l <= 'z' &&
            std::string_view("abcdefhlost").find(l) == std::string_view::npos) {
            return true;
        }
    }
    return false;
}

void fail(const char* what, const std::string& detail) {
    std::fprintf(stderr, "%s: %s\n", what, detail.c_str());
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static auto part = std::make_shared<CountingPart>();
    static admin::AdminServer* server = [] {
        admin::AdminServerOptions o;
        o.bind_url = "http://127.0.0.1:0";
        auto* s = new admin::AdminServer(o);  // never started: handle() only
        s->add_part(part);
        return s;
    }();
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    net::HttpServerRequest r;
    r.method = std::string(next_line(rest));
    r.target = std::string(next_line(rest));
    const std::string host(next_line(rest));
    r.headers["host"] = host;
    if (auto cookie = next_line(rest); !cookie.empty()) r.headers["cookie"] = std::string(cookie);
    if (auto csrf = next_line(rest); !csrf.empty()) r.headers["x-csrf-token"] = std::string(csrf);
    if (auto auth = next_line(rest); !auth.empty()) r.headers["authorization"] = std::string(auth);
    r.body = std::string(rest);
    r.remote_address = "127.0.0.1";

    const int changes_before = part->changes;
    net::HttpServerResponse answer = server->handle(r);
    if (answer.status < 200 || answer.status > 599) fail("status", std::to_string(answer.status));
    bool frame_header = false;
    for (const auto& [name, value] : answer.headers) frame_header |= name == "X-Frame-Options";
    if (!frame_header) fail("no X-Frame-Options", r.target);
    if (surely_not_loopback(host) && answer.status != 400 && answer.status != 403) {
        fail("a non-loopback Host was served", host + " " + r.target);
    }
    // Without a session made by GET /api/session (whose random token the input cannot know) no
    // change reaches the part.
    if (part->changes != changes_before) fail("a change without the CSRF token", r.target);
    return 0;
}
