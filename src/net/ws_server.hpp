#pragma once

// WebSocket server over Boost.Beast (pimpl: no Asio/Beast types here).
//
// Operating rules:
// - Set the callbacks, then start(). Callbacks run on the server's I/O threads (or on the thread
// that
//   calls run() when threads == 0), one connection's callbacks never concurrently and in order:
//   on_open, then on_message*, then exactly one on_close.
// - send() and close() are thread-safe, may be called from callbacks, and never block on the
// network:
//   they queue work on the connection's strand.
// - Binary frames only. A text frame closes the connection with 1003, a message above
//   max_message_size with 1009, a send queue above max_send_queue_bytes with 1013 (the client
//   reconnects and catches up). Callbacks must not throw.
// - An HTTP GET of /health on a listening port answers `200 outpost`; other paths 404; other
//   methods 405 (a request body above 64 KiB: 413).
// - At most max_connections sockets are held at once; one more is accepted and closed at once
//   (ws:// first gets an HTTP 503). Failed accepts (no file descriptor left) pause accepting for
//   100 ms at a time. Both are reported through WsServerOptions::log, once per episode, and
//   counted in stats().

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "net/close_codes.hpp"
#include "outpost/status.hpp"

namespace outpost::net {

using ConnectionId = std::uint64_t;

struct WsServerOptions {
    // `ws://HOST:PORT` or `wss://HOST:PORT`; port 0 picks a free port (see bound_urls()).
    std::vector<std::string> urls;
    // Directory holding cert.pem (certificate chain) and key.pem; required when a URL is wss://.
    std::string cert_dir;
    // I/O threads started by start(); 0: the caller runs the loop with run().
    unsigned threads = 2;
    std::size_t max_message_size = 32u << 20;
    // Bytes queued for sending on one connection (not yet written to the socket) above which the
    // connection is closed with kCloseSendQueueFull.
    std::size_t max_send_queue_bytes = 64u << 20;
    // TLS, HTTP and WebSocket opening and closing handshakes each must finish within this time.
    std::chrono::milliseconds handshake_timeout{10'000};
    // Nothing received for this long closes the connection; a ping goes out at half of it.
    std::chrono::milliseconds idle_timeout{60'000};
    // Connections held at once, at most: WebSocket sessions and connections still in their TLS,
    // HTTP or WebSocket handshake. One more is refused at once. 0: no limit.
    std::size_t max_connections = 10'000;
    // Where the server reports what an operator should see (the connection limit reached, accepts
    // failing and working again); WARN tells a warning from a notice. Unset: nowhere. Called on the
    // I/O threads, possibly on several at once (one per listener): it must be thread-safe. An
    // exception from it loses the line.
    std::function<void(bool warn, const std::string& text)> log;
};

struct WsServerStats {
    std::size_t connections = 0;            // sockets held now (sessions and handshakes)
    std::uint64_t connections_refused = 0;  // refused at max_connections
    std::uint64_t accept_errors = 0;        // failed accepts (e.g. no file descriptor left)
};

class WsServer {
  public:
    // remote_address: `IP:PORT` (IPv6 in brackets).
    using OpenHandler = std::function<void(ConnectionId, const std::string& remote_address)>;
    using MessageHandler = std::function<void(ConnectionId, std::span<const std::uint8_t>)>;
    using CloseHandler =
        std::function<void(ConnectionId, std::uint16_t code, const std::string& reason)>;

    explicit WsServer(WsServerOptions options);
    // Stops (as stop()) and joins the I/O threads.
    ~WsServer();
    WsServer(const WsServer&) = delete;
    WsServer& operator=(const WsServer&) = delete;

    // REQUIRES: before start().
    void set_on_open(OpenHandler handler);
    void set_on_message(MessageHandler handler);
    void set_on_close(CloseHandler handler);

    // Binds every URL and starts accepting. Errors: kInvalidArgument (a bad URL, no URL, wss://
    // without a certificate directory), kIo (an unreadable certificate or key, a host that does not
    // resolve, a port that cannot be bound), kIllegalState (called a second time).
    [[nodiscard]] Status start();

    // The bound endpoints as URLs, e.g. `ws://127.0.0.1:40123`, in the order of options.urls.
    // REQUIRES: start() succeeded.
    std::vector<std::string> bound_urls() const;

    // Runs the I/O loop on the calling thread until stop() finishes (for threads == 0; with I/O
    // threads it waits for them to end).
    void run();

    // Stops accepting, closes every connection with 1001 (going away) and lets the loop finish.
    // Thread-safe and idempotent; callable from a callback or from a signal-handling thread (one
    // that got the signal with sigwait, not an async signal handler). Does not wait; the
    // destructor or run() waits (the destructor also for a stop() under way on another thread).
    void stop();

    // Queues a binary message (a copy of `bytes`). Returns false when the connection is unknown or
    // already closed. A message larger than max_send_queue_bytes always closes the connection.
    bool send(ConnectionId id, std::span<const std::uint8_t> bytes);
    bool send(ConnectionId id, std::vector<std::uint8_t> bytes);
    // The same without a copy: one buffer fanned out to many connections. REQUIRES: non-null.
    bool send_shared(ConnectionId id, std::shared_ptr<const std::vector<std::uint8_t>> message);

    // Starts the closing handshake with `code` once the messages queued before it are written
    // (they still reach the peer). Returns false when the connection is unknown.
    bool close(ConnectionId id, std::uint16_t code, std::string reason);

    // Open WebSocket connections.
    std::size_t connection_count() const;
    // Counters of the accept loop. Thread-safe.
    WsServerStats stats() const;
    // Bytes queued for sending on connection ID and not yet written to its socket (0 when unknown).
    std::size_t queued_bytes(ConnectionId id) const;

    struct Impl;

  private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace outpost::net
