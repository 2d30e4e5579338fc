#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace outpost::net::detail {

// A parsed `ws://HOST:PORT[/path]` or `wss://...` URL. IPv6 hosts come in brackets and are kept
// without them. A missing port means 80 (ws) or 443 (wss).
struct WsUrl {
    bool tls = false;
    std::string host;
    std::uint16_t port = 0;
    std::string target = "/";
};

// Returns std::nullopt for anything else (another scheme, a bad port, an empty host).
std::optional<WsUrl> parse_ws_url(std::string_view url);

// `ws://HOST:PORT` with IPv6 hosts in brackets.
std::string format_ws_url(bool tls, const std::string& host, std::uint16_t port);

// A parsed `http://HOST[:PORT][/path[?query]]` or `https://...` URL: as WsUrl, with the default
// ports 80 (http) and 443 (https). A fragment (`#...`) is dropped.
struct HttpUrl {
    bool tls = false;
    std::string host;
    std::uint16_t port = 0;
    std::string target = "/";
};

// Returns std::nullopt for anything else: another scheme, a bad or zero port, an empty host, user
// information (`user@host`), or a space or control character anywhere.
std::optional<HttpUrl> parse_http_url(std::string_view url);

// A URL a server listens on: `http://HOST:PORT` or `https://HOST:PORT` (a trailing `/` allowed;
// IPv6 in brackets), port 0 allowed (the system picks one). nullopt for anything else: no port, a
// path, a query, user information.
std::optional<HttpUrl> parse_http_listen_url(std::string_view url);

// `http://HOST:PORT` (https with TLS), IPv6 hosts in brackets.
std::string format_http_url(bool tls, const std::string& host, std::uint16_t port);

// True for `localhost`, an IPv4 address in 127.0.0.0/8 and `::1` (also as ::ffff:127.x.y.z): hosts
// that traffic to never leaves the machine. Names other than `localhost` are not resolved.
bool is_loopback_host(std::string_view host);

}  // namespace outpost::net::detail
