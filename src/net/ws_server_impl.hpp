#pragma once

// WsServer's state (internal to outpost_net): what ws_server.cpp (the public calls) and
// ws_server_accept.cpp (listeners, HTTP and WebSocket sessions) share.

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/mutex.hpp"
#include "net/ws_server.hpp"
#include "net/ws_session.hpp"
#include "outpost/status.hpp"

namespace outpost::net {

// Accepts on one endpoint and starts an HTTP session per connection (ws_server_accept.cpp).
class Listener : public std::enable_shared_from_this<Listener> {
  public:
    Listener(WsServer::Impl& server, bool tls);

    // Opens, binds and listens. Errors: kIo with the system error as cause.
    Status bind(const boost::asio::ip::tcp::endpoint& endpoint);
    boost::asio::ip::tcp::endpoint local_endpoint() const;
    // Starts accepting. REQUIRES: bind() succeeded.
    void run();
    // Closes the acceptor (on its strand). Thread-safe.
    void stop();

  private:
    void do_accept();
    void on_accept(boost::beast::error_code ec, boost::asio::ip::tcp::socket socket);
    void on_accept_error(boost::beast::error_code ec);
    void start_session(boost::asio::ip::tcp::socket socket);
    void refuse(boost::asio::ip::tcp::socket socket);

    static constexpr std::chrono::milliseconds kAcceptRetry{100};
    static constexpr std::chrono::milliseconds kLimitLogInterval{10'000};

    WsServer::Impl& server_;
    boost::asio::ip::tcp::acceptor acceptor_;
    boost::asio::steady_timer retry_timer_;
    const bool tls_;
    std::uint64_t failed_accepts_ = 0;  // in a row, on the acceptor's strand
};

struct WsServer::Impl {
    explicit Impl(WsServerOptions opts) : options(std::move(opts)) {}

    // Set before start(), then only read.
    WsServerOptions options;
    OpenHandler on_open;
    MessageHandler on_message;
    CloseHandler on_close;
    std::optional<boost::asio::ssl::context> tls;
    std::vector<std::string> bound;  // written by start()

    mutable Mutex mutex;
    bool started OUTPOST_GUARDED_BY(mutex) = false;
    bool stopping OUTPOST_GUARDED_BY(mutex) = false;
    std::unordered_map<ConnectionId, std::weak_ptr<detail::Connection>> sessions
        OUTPOST_GUARDED_BY(mutex);
    // Connections in their TLS or HTTP exchange, so that stop() ends them too.
    std::unordered_map<std::uint64_t, std::weak_ptr<detail::Connection>> handshaking
        OUTPOST_GUARDED_BY(mutex);
    std::atomic<std::uint64_t> next_id{1};
    // Accepted sockets not yet closed (held by a ConnectionSlot), and the accept loop's counters.
    std::atomic<std::size_t> open_connections{0};
    std::atomic<std::uint64_t> connections_refused{0};
    std::atomic<std::uint64_t> accept_errors{0};
    // When the connection limit was last reported (steady clock, ms; 0: never).
    std::atomic<std::int64_t> limit_logged_ms{0};

    // Declared after everything the handlers use, so it is destroyed (with its handlers) first.
    boost::asio::io_context ioc;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work
        OUTPOST_GUARDED_BY(mutex);
    std::vector<std::shared_ptr<Listener>> listeners OUTPOST_GUARDED_BY(mutex);
    std::vector<std::thread> threads;  // started by start(), joined by ~WsServer or run()

    // Runs the loop; a throwing handler (none should) does not end the thread.
    void run_loop();

    // Registers a WebSocket session; false when the server is stopping.
    bool add_session(ConnectionId id, const std::shared_ptr<detail::Connection>& c)
        OUTPOST_EXCLUDES(mutex);
    void remove_session(ConnectionId id) OUTPOST_EXCLUDES(mutex);
    // The session ID, or null when unknown or gone.
    std::shared_ptr<detail::Connection> find_session(ConnectionId id) const OUTPOST_EXCLUDES(mutex);
    bool add_handshaking(std::uint64_t id, const std::shared_ptr<detail::Connection>& c)
        OUTPOST_EXCLUDES(mutex);
    void remove_handshaking(std::uint64_t id) OUTPOST_EXCLUDES(mutex);

    // Calls options.log; a logger that throws loses the line.
    void log(bool warn, const std::string& text) const;
};

// One accepted socket, counted against max_connections from its accept until the session that holds
// it ends (it moves from the HTTP session to the WebSocket session).
class ConnectionSlot {
  public:
    explicit ConnectionSlot(WsServer::Impl& server) : server_(&server) {}
    ConnectionSlot(ConnectionSlot&& other) noexcept
        : server_(std::exchange(other.server_, nullptr)) {}
    ConnectionSlot& operator=(ConnectionSlot&&) = delete;
    ~ConnectionSlot() {
        if (server_) server_->open_connections.fetch_sub(1);
    }

  private:
    WsServer::Impl* server_;
};

}  // namespace outpost::net
