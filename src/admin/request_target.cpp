#include "admin/request_target.hpp"

namespace outpost::admin {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool parse_query(std::string_view query, Request& request) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        auto key = percent_decode(pair.substr(0, eq), true);
        auto value = percent_decode(
            eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
        if (!key || !value) return false;
        request.query[*key] = std::move(*value);
    }
    return true;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '%') {
            if (i + 2 >= text.size()) return std::nullopt;
            const int hi = hex_value(text[i + 1]);
            const int lo = hex_value(text[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

bool parse_target(std::string_view target, Request& request) {
    target = target.substr(0, target.find('#'));
    if (!target.starts_with('/')) return false;
    const auto question = target.find('?');
    const std::string_view raw_path = target.substr(0, question);
    auto path = percent_decode(raw_path, false);
    if (!path) return false;
    request.path = std::move(*path);
    request.segments.clear();
    std::string_view rest = raw_path;
    while (!rest.empty()) {
        const auto slash = rest.find('/');
        const std::string_view segment = rest.substr(0, slash);
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
        if (segment.empty()) continue;
        auto decoded = percent_decode(segment, false);
        if (!decoded) return false;
        request.segments.push_back(std::move(*decoded));
    }
    request.query.clear();
    if (question == std::string_view::npos) return true;
    return parse_query(target.substr(question + 1), request);
}

}  // namespace outpost::admin
