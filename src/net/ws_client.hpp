#pragma once

// WebSocket client over Boost.Beast (pimpl: no Asio/Beast types here), and the reconnect policy.
//
// Operating rules:
// - Set the callbacks, then connect(). Callbacks run on the client's I/O thread, never
//   concurrently: on_open once the WebSocket handshake is done, on_message for each binary
//   message, and exactly one on_close per connect() (also when the connection attempt failed:
//   code 1006 and a reason that says why). After on_close, connect() may be called again.
// - send() and close() are thread-safe and never block on the network.
// - After the destructor returns no callback runs. Callbacks must not throw.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "net/close_codes.hpp"

namespace outpost::net {

// I/O threads that several clients can share (one client alone makes its own with one thread).
class EventLoop {
  public:
    explicit EventLoop(unsigned threads = 1);
    // Joins the threads; REQUIRES: every client using the loop is destroyed first.
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    struct Impl;
    Impl& impl() { return *impl_; }

  private:
    std::unique_ptr<Impl> impl_;
};

struct WsClientOptions {
    // `ws://HOST:PORT[/path]` or `wss://HOST:PORT[/path]`.
    std::string url;
    // wss://: a PEM file of CA certificates to trust instead of the system's; for tests this may be
    // the server's self-signed certificate itself. Empty: the system's default trust store.
    std::string ca_file;
    // TCP connect, TLS and WebSocket handshakes together must finish within this time.
    std::chrono::milliseconds connect_timeout{10'000};
    std::size_t max_message_size = 32u << 20;
    // Nothing received for this long closes the connection; a ping goes out at half of it.
    std::chrono::milliseconds idle_timeout{60'000};
};

class WsClient {
  public:
    using OpenHandler = std::function<void()>;
    using MessageHandler = std::function<void(std::span<const std::uint8_t>)>;
    using CloseHandler = std::function<void(std::uint16_t code, const std::string& reason)>;

    // `loop` may be null: the client then runs its own one-thread loop.
    explicit WsClient(WsClientOptions options, std::shared_ptr<EventLoop> loop = nullptr);
    ~WsClient();
    WsClient(const WsClient&) = delete;
    WsClient& operator=(const WsClient&) = delete;

    // REQUIRES: no connection attempt in progress (before connect(), or after on_close).
    void set_on_open(OpenHandler handler);
    void set_on_message(MessageHandler handler);
    void set_on_close(CloseHandler handler);

    // Starts connecting to options.url (or `url` when not empty). Returns at once; the outcome
    // comes as on_open or on_close. REQUIRES: no attempt in progress.
    void connect(std::string url = {});

    // Queues a binary message; false when not connected.
    bool send(std::span<const std::uint8_t> bytes);
    bool send(std::vector<std::uint8_t> bytes);

    // Starts the closing handshake (or abandons a connection attempt).
    void close(std::uint16_t code = kCloseNormal, std::string reason = {});

    struct Impl;

  private:
    std::shared_ptr<Impl> impl_;
};

// Backoff between connection attempts: 0.5, 1, 2, 4, 8, 15, 30, 60 s, then 60 s; reset() after a
// successful connection starts over. next_url() picks one of the URLs at random for each attempt.
// Not thread-safe.
class ReconnectPolicy {
  public:
    explicit ReconnectPolicy(std::vector<std::string> urls = {},
                             std::uint64_t seed = std::random_device{}());

    std::chrono::milliseconds next_delay();
    void reset();
    // REQUIRES: at least one URL.
    const std::string& next_url();

  private:
    std::vector<std::string> urls_;
    std::size_t attempt_ = 0;
    std::mt19937_64 rng_;
};

}  // namespace outpost::net
