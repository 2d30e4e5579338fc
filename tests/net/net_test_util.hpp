#pragma once

// Helpers for the net tests: waiting on conditions with deadlines, recording client events and a
// raw TCP socket for bytes that no well-behaved client sends.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "net/url.hpp"
#include "net/ws_client.hpp"
#include "net/ws_server.hpp"

namespace outpost::net::test {

using namespace std::chrono_literals;
using Bytes = std::vector<std::uint8_t>;

inline constexpr auto kDeadline = 20s;

// A mutex and condition variable: change state under lock(), then notify; wait_for() returns
// whether the predicate held before the deadline.
class Waiter {
  public:
    template <class Fn>
    void update(Fn&& fn) {
        {
            std::lock_guard lock(mutex_);
            fn();
        }
        cv_.notify_all();
    }
    template <class Pred>
    bool wait_for(Pred&& pred, std::chrono::milliseconds timeout = kDeadline) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, timeout, std::forward<Pred>(pred));
    }
    std::mutex& mutex() { return mutex_; }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
};

// A client with its events recorded.
struct RecordingClient {
    explicit RecordingClient(WsClientOptions options, std::shared_ptr<EventLoop> loop = nullptr)
        : client(std::move(options), std::move(loop)) {
        client.set_on_open([this] { waiter.update([&] { opened = true; }); });
        client.set_on_message([this](std::span<const std::uint8_t> bytes) {
            waiter.update([&] { messages.emplace_back(bytes.begin(), bytes.end()); });
        });
        client.set_on_close([this](std::uint16_t code, const std::string& reason) {
            waiter.update([&] {
                ++closes;
                close_code = code;
                close_reason = reason;
            });
        });
    }

    bool wait_open() {
        return waiter.wait_for([&] { return opened || closes > 0; }) && opened;
    }
    bool wait_messages(std::size_t n) {
        return waiter.wait_for([&] { return messages.size() >= n; });
    }
    bool wait_close() {
        return waiter.wait_for([&] { return closes > 0; });
    }

    Waiter waiter;
    bool opened = false;
    std::vector<Bytes> messages;
    int closes = 0;
    std::uint16_t close_code = 0;
    std::string close_reason;
    WsClient client;  // last: destroyed first, so no callback sees a dead member
};

// A blocking TCP socket to 127.0.0.1:port with a receive timeout.
class RawSocket {
  public:
    explicit RawSocket(std::uint16_t port, int rcvbuf = 0) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        timeval tv{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    }
    ~RawSocket() {
        if (fd_ >= 0) ::close(fd_);
    }
    RawSocket(const RawSocket&) = delete;
    RawSocket& operator=(const RawSocket&) = delete;

    bool connected() const { return connected_; }
    void shutdown() { ::shutdown(fd_, SHUT_RDWR); }

    bool write_all(const void* data, std::size_t size) {
        const auto* p = static_cast<const char*>(data);
        while (size > 0) {
            const ssize_t n = ::send(fd_, p, size, MSG_NOSIGNAL);
            if (n <= 0) return false;
            p += n;
            size -= static_cast<std::size_t>(n);
        }
        return true;
    }
    bool write_all(const std::string& s) { return write_all(s.data(), s.size()); }

    // Reads until `n` bytes, end of stream, an error or the receive timeout.
    std::string read_some_bytes(std::size_t n) {
        std::string out;
        char buf[4096];
        while (out.size() < n) {
            const ssize_t got = ::recv(fd_, buf, std::min(sizeof buf, n - out.size()), 0);
            if (got <= 0) break;
            out.append(buf, static_cast<std::size_t>(got));
        }
        return out;
    }
    // Reads until `marker` appears (included) or the stream ends.
    std::string read_until(const std::string& marker) {
        std::string out;
        char c;
        while (out.find(marker) == std::string::npos) {
            if (::recv(fd_, &c, 1, 0) != 1) break;
            out += c;
        }
        return out;
    }
    // True when the peer closed the connection (reads drain what is left first).
    bool wait_eof() {
        char buf[4096];
        for (;;) {
            const ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
            if (got == 0) return true;
            if (got < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
        }
    }

    // The opening WebSocket handshake, by hand; true on `101`.
    bool websocket_handshake() {
        write_all(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        return read_until("\r\n\r\n").starts_with("HTTP/1.1 101");
    }

    // One masked client frame (payload below 126 bytes).
    bool write_frame(std::uint8_t opcode, const std::string& payload) {
        std::string frame;
        frame += static_cast<char>(0x80 | opcode);
        frame += static_cast<char>(0x80 | payload.size());
        const char mask[4] = {1, 2, 3, 4};
        frame.append(mask, 4);
        for (std::size_t i = 0; i < payload.size(); ++i)
            frame += static_cast<char>(payload[i] ^ mask[i % 4]);
        return write_all(frame);
    }

    // Reads one server frame (unmasked, payload below 126 bytes): {opcode, payload}.
    std::optional<std::pair<int, std::string>> read_frame() {
        const std::string head = read_some_bytes(2);
        if (head.size() != 2) return std::nullopt;
        const std::size_t len = static_cast<std::uint8_t>(head[1]) & 0x7f;
        if (len >= 126) return std::nullopt;
        return std::make_pair(static_cast<std::uint8_t>(head[0]) & 0x0f, read_some_bytes(len));
    }

  private:
    int fd_ = -1;
    bool connected_ = false;
};

// A temporary directory holding a self-signed certificate (cert.pem, key.pem) made by `openssl
// req`, by default for 127.0.0.1 and localhost.
class CertDir {
  public:
    explicit CertDir(const std::string& subject_alt_name = "IP:127.0.0.1,DNS:localhost") {
        namespace fs = std::filesystem;
        dir_ = fs::temp_directory_path() /
               ("outpost-net-test-" + std::to_string(std::random_device{}()));
        fs::create_directories(dir_);
        const std::string cmd =
            "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1"
            " -addext subjectAltName=" +
            subject_alt_name + " -keyout '" + (dir_ / "key.pem").string() + "' -out '" +
            (dir_ / "cert.pem").string() + "' >/dev/null 2>&1";
        ok_ = std::system(cmd.c_str()) == 0 && fs::exists(dir_ / "cert.pem");
    }
    ~CertDir() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    CertDir(const CertDir&) = delete;
    CertDir& operator=(const CertDir&) = delete;

    bool ok() const { return ok_; }
    std::string path() const { return dir_.string(); }
    std::string cert() const { return (dir_ / "cert.pem").string(); }

  private:
    std::filesystem::path dir_;
    bool ok_ = false;
};

inline std::uint16_t port_of(const std::string& url) {
    return detail::parse_ws_url(url).value().port;
}

inline Bytes pattern(std::size_t size, std::uint8_t seed = 0) {
    Bytes out(size);
    for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>(i * 31 + seed);
    return out;
}

}  // namespace outpost::net::test
