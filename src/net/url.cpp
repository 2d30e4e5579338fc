#include "net/url.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <utility>

namespace outpost::net::detail {

namespace {

struct Parts {
    std::string host;
    std::uint16_t port = 0;
    std::string target = "/";
};

// HOST[:PORT][/PATH] after the scheme; IPv6 hosts in brackets. A missing port is DEFAULT_PORT.
std::optional<Parts> parse_after_scheme(std::string_view url, std::uint16_t default_port) {
    Parts out;
    const auto slash = url.find('/');
    std::string_view authority = url.substr(0, slash);
    if (slash != std::string_view::npos) out.target = std::string(url.substr(slash));

    std::string_view port_text;
    if (authority.starts_with('[')) {
        const auto end = authority.find(']');
        if (end == std::string_view::npos) return std::nullopt;
        out.host = std::string(authority.substr(1, end - 1));
        const std::string_view rest = authority.substr(end + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return std::nullopt;
            port_text = rest.substr(1);
        }
    } else {
        const auto colon = authority.rfind(':');
        out.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
        if (colon != std::string_view::npos && port_text.empty()) return std::nullopt;
    }
    if (out.host.empty()) return std::nullopt;
    if (port_text.empty()) {
        out.port = default_port;
    } else {
        unsigned value = 0;
        const auto [ptr, ec] =
            std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
        if (ec != std::errc() || ptr != port_text.data() + port_text.size() || value > 65535) {
            return std::nullopt;
        }
        out.port = static_cast<std::uint16_t>(value);
    }
    return out;
}

// http:// or https:// off URL: whether it is TLS, and the rest. Nullopt for another scheme, or a
// control character or space anywhere (no byte may end or split a request line).
std::optional<std::pair<bool, std::string_view>> split_http_scheme(std::string_view url) {
    if (std::any_of(url.begin(), url.end(),
                    [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
        return std::nullopt;
    }
    if (url.starts_with("http://")) return std::pair{false, url.substr(7)};
    if (url.starts_with("https://")) return std::pair{true, url.substr(8)};
    return std::nullopt;
}

// HOST:PORT, an IPv6 host in brackets.
std::string host_port(const std::string& host, std::uint16_t port) {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ':' + std::to_string(port);
}

}  // namespace

std::optional<WsUrl> parse_ws_url(std::string_view url) {
    bool tls = false;
    if (url.starts_with("ws://")) {
        url.remove_prefix(5);
    } else if (url.starts_with("wss://")) {
        tls = true;
        url.remove_prefix(6);
    } else {
        return std::nullopt;
    }
    auto parts = parse_after_scheme(url, tls ? 443 : 80);
    if (!parts) return std::nullopt;
    return WsUrl{tls, std::move(parts->host), parts->port, std::move(parts->target)};
}

std::string format_ws_url(bool tls, const std::string& host, std::uint16_t port) {
    return std::string(tls ? "wss://" : "ws://") + host_port(host, port);
}

std::optional<HttpUrl> parse_http_url(std::string_view url) {
    // The target goes into the request line as it is: no byte may end or split it.
    auto scheme = split_http_scheme(url);
    if (!scheme) return std::nullopt;
    const bool tls = scheme->first;
    url = scheme->second;
    url = url.substr(0, url.find('#'));
    // The authority ends at the first '/' or '?'; a query right after it gets the path "/".
    const auto end = url.find_first_of("/?");
    const std::string_view authority = url.substr(0, end);
    if (authority.find('@') != std::string_view::npos) return std::nullopt;
    auto parts = parse_after_scheme(authority, tls ? 443 : 80);
    if (!parts || parts->port == 0) return std::nullopt;
    HttpUrl out{tls, std::move(parts->host), parts->port, "/"};
    if (end != std::string_view::npos) {
        out.target = url[end] == '?' ? "/" : "";
        out.target += url.substr(end);
    }
    return out;
}

std::optional<HttpUrl> parse_http_listen_url(std::string_view url) {
    auto scheme = split_http_scheme(url);
    if (!scheme) return std::nullopt;
    const bool tls = scheme->first;
    url = scheme->second;
    if (url.ends_with('/')) url.remove_suffix(1);
    if (url.find_first_of("/?#@") != std::string_view::npos) return std::nullopt;
    // The port is required: a listening address without one is a mistake, not port 80.
    const bool bracketed = url.starts_with('[');
    const auto colon = url.rfind(':');
    if (colon == std::string_view::npos || (bracketed && colon < url.find(']'))) {
        return std::nullopt;
    }
    auto parts = parse_after_scheme(url, 0);
    if (!parts) return std::nullopt;
    return HttpUrl{tls, std::move(parts->host), parts->port, "/"};
}

std::string format_http_url(bool tls, const std::string& host, std::uint16_t port) {
    return std::string(tls ? "https://" : "http://") + host_port(host, port);
}

bool is_loopback_host(std::string_view host) {
    // inet_pton reads up to a NUL: "127.0.0.1\0.evil" must not pass as 127.0.0.1.
    if (host.find('\0') != std::string_view::npos) return false;
    std::string lower(host);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "localhost" || lower == "localhost.") return true;
    unsigned char v4[4];
    if (::inet_pton(AF_INET, lower.c_str(), v4) == 1) return v4[0] == 127;
    unsigned char v6[16];
    if (::inet_pton(AF_INET6, lower.c_str(), v6) != 1) return false;
    static constexpr unsigned char kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static constexpr unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(v6, kLoopback, 16) == 0) return true;
    return std::memcmp(v6, kMappedPrefix, 12) == 0 && v6[12] == 127;
}

}  // namespace outpost::net::detail
