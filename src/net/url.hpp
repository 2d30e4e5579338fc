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

}  // namespace outpost::net::detail
