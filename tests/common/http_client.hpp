#pragma once
// A blocking HTTP/1.1 client for tests over a plain socket to 127.0.0.1: one request per
// connection (Connection: close), the answer read to the end of the stream, with a receive
// timeout. Header names of the answer are lower case.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace outpost::test {

struct HttpReply {
    int status = 0;  // 0: no answer (cannot connect, timeout, garbage)
    std::multimap<std::string, std::string> headers;
    std::string body;

    // The first value of header NAME (lower case), or empty.
    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

inline HttpReply parse_http_reply(const std::string& raw) {
    HttpReply reply;
    const auto head_end = raw.find("\r\n\r\n");
    if (head_end == std::string::npos || !raw.starts_with("HTTP/1.1 ") || raw.size() < 12) {
        return reply;
    }
    reply.status = std::stoi(raw.substr(9, 3));
    std::size_t pos = raw.find("\r\n") + 2;
    while (pos < head_end) {
        const auto eol = raw.find("\r\n", pos);
        const std::string line = raw.substr(pos, eol - pos);
        pos = eol + 2;
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        reply.headers.emplace(std::move(name), std::move(value));
    }
    reply.body = raw.substr(head_end + 4);
    return reply;
}

// Sends METHOD TARGET with HEADERS (and Host: 127.0.0.1:PORT unless HEADERS has a Host) and BODY.
inline HttpReply http_request(std::uint16_t port, const std::string& method,
                              const std::string& target, const HttpHeaders& headers = {},
                              const std::string& body = "") {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return {};
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return {};
    }
    std::string request = method + " " + target + " HTTP/1.1\r\n";
    bool has_host = false;
    for (const auto& [name, value] : headers) {
        has_host = has_host || name == "Host" || name == "host";
        request += name + ": " + value + "\r\n";
    }
    if (!has_host) request += "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
    request += "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    request += body;
    std::size_t sent = 0;
    while (sent < request.size()) {
        const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
    }
    std::string raw;
    char buf[16384];
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        raw.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return parse_http_reply(raw);
}

}  // namespace outpost::test
