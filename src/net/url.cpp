#include "net/url.hpp"

#include <charconv>

namespace outpost::net::detail {

std::optional<WsUrl> parse_ws_url(std::string_view url) {
    WsUrl out;
    if (url.starts_with("ws://")) {
        url.remove_prefix(5);
    } else if (url.starts_with("wss://")) {
        out.tls = true;
        url.remove_prefix(6);
    } else {
        return std::nullopt;
    }
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
        out.port = out.tls ? 443 : 80;
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

std::string format_ws_url(bool tls, const std::string& host, std::uint16_t port) {
    std::string out = tls ? "wss://" : "ws://";
    if (host.find(':') != std::string::npos) {
        out += '[' + host + ']';
    } else {
        out += host;
    }
    out += ':' + std::to_string(port);
    return out;
}

}  // namespace outpost::net::detail
