#include "net/ws_server.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "net/url.hpp"

namespace outpost::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

using Message = std::shared_ptr<const std::vector<std::uint8_t>>;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

template <class Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

// A close frame's reason holds at most 123 bytes.
websocket::close_reason make_close_reason(std::uint16_t code, const std::string& reason) {
    websocket::close_reason r;
    r.code = code;
    r.reason.assign(reason.data(), std::min<std::size_t>(reason.size(), r.reason.max_size()));
    return r;
}

std::string endpoint_text(const tcp::endpoint& ep) {
    const std::string address = ep.address().to_string();
    if (ep.address().is_v6()) return '[' + address + "]:" + std::to_string(ep.port());
    return address + ':' + std::to_string(ep.port());
}

// A connection the server can be asked to close (stop()) or send on.
class Connection {
public:
    virtual ~Connection() = default;
    virtual void post_send(Message message) = 0;
    virtual void post_close(std::uint16_t code, std::string reason, bool flush) = 0;
    virtual std::size_t queued_bytes() const = 0;
};

}  // namespace

class Listener;

struct WsServer::Impl {
    explicit Impl(WsServerOptions opts) : options(std::move(opts)) {}

    WsServerOptions options;
    OpenHandler on_open;
    MessageHandler on_message;
    CloseHandler on_close;
    std::optional<ssl::context> tls;

    mutable std::mutex mutex;
    bool started = false;                                                       // GUARDED_BY(mutex)
    bool stopping = false;                                                      // GUARDED_BY(mutex)
    std::unordered_map<ConnectionId, std::weak_ptr<Connection>> sessions;       // GUARDED_BY(mutex)
    std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> handshaking;  // GUARDED_BY(mutex)
    std::atomic<std::uint64_t> next_id{1};
    // Accepted sockets not yet closed (held by a ConnectionSlot), and the accept loop's counters.
    std::atomic<std::size_t> open_connections{0};
    std::atomic<std::uint64_t> connections_refused{0};
    std::atomic<std::uint64_t> accept_errors{0};
    // When the connection limit was last reported (steady clock, ms; 0: never).
    std::atomic<std::int64_t> limit_logged_ms{0};

    // Declared after everything the handlers use, so it is destroyed (with its handlers) first.
    asio::io_context ioc;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::vector<std::shared_ptr<Listener>> listeners;
    std::vector<std::string> bound;
    std::vector<std::thread> threads;

    // Runs the loop; a throwing handler (none should) does not end the thread.
    void run_loop() {
        for (;;) {
            try {
                ioc.run();
                return;
            } catch (const std::exception&) {
                continue;
            }
        }
    }

    // Registers a WebSocket session; false when the server is stopping.
    bool add_session(ConnectionId id, const std::shared_ptr<Connection>& c) {
        std::lock_guard lock(mutex);
        if (stopping) return false;
        sessions.emplace(id, c);
        return true;
    }
    void remove_session(ConnectionId id) {
        std::lock_guard lock(mutex);
        sessions.erase(id);
    }
    bool add_handshaking(std::uint64_t id, const std::shared_ptr<Connection>& c) {
        std::lock_guard lock(mutex);
        if (stopping) return false;
        handshaking.emplace(id, c);
        return true;
    }
    void remove_handshaking(std::uint64_t id) {
        std::lock_guard lock(mutex);
        handshaking.erase(id);
    }

    void log(bool warn, const std::string& text) const {
        if (!options.log) return;
        try {
            options.log(warn, text);
        } catch (const std::exception&) {
            // A logger that fails loses the line; the server goes on.
        }
    }
};

namespace {

using Impl = WsServer::Impl;

// One accepted socket, counted against max_connections from its accept until the session that holds
// it ends (it moves from the HTTP session to the WebSocket session).
class ConnectionSlot {
public:
    explicit ConnectionSlot(Impl& server) : server_(&server) {}
    ConnectionSlot(ConnectionSlot&& other) noexcept
        : server_(std::exchange(other.server_, nullptr)) {}
    ConnectionSlot& operator=(ConnectionSlot&&) = delete;
    ~ConnectionSlot() {
        if (server_) server_->open_connections.fetch_sub(1);
    }

private:
    Impl* server_;
};

// Calls a user callback; an exception from it closes the connection instead of escaping.
template <class Fn>
bool guarded(Fn&& fn, std::string& error) {
    try {
        fn();
        return true;
    } catch (const std::exception& e) {
        error = e.what();
    } catch (...) {
        error = "unknown exception";
    }
    return false;
}

// One WebSocket connection. Every member is touched only on the connection's strand, except
// queued_bytes_ and overflowed_ (atomics, updated by send() on any thread).
template <class Stream>
class WsSession final : public Connection, public std::enable_shared_from_this<WsSession<Stream>> {
public:
    WsSession(Impl& server, Stream&& stream, std::string remote, ConnectionSlot slot)
        : server_(server),
          ws_(std::move(stream)),
          close_timer_(ws_.get_executor()),
          id_(server.next_id.fetch_add(1)),
          remote_(std::move(remote)),
          slot_(std::move(slot)) {}

    std::size_t queued_bytes() const override { return queued_bytes_.load(); }

    void run(http::request<http::string_body> request) {
        request_ = std::move(request);
        beast::get_lowest_layer(ws_).expires_never();
        ws_.set_option(websocket::stream_base::timeout{server_.options.handshake_timeout,
                                                       server_.options.idle_timeout, true});
        ws_.set_option(websocket::stream_base::decorator(
            [](websocket::response_type& res) { res.set(http::field::server, "outpost"); }));
        ws_.read_message_max(server_.options.max_message_size);
        ws_.binary(true);
        // After the peer's close frame Beast waits for the peer to end TCP, with no time limit: a
        // peer that never does would hold the session forever.
        ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
            if (kind == websocket::frame_type::close) {
                peer_closed_ = true;
                arm_close_timer();
            }
        });
        ws_.async_accept(request_, beast::bind_front_handler(&WsSession::on_accept,
                                                             this->shared_from_this()));
    }

    void post_send(Message message) override {
        const std::size_t size = message->size();
        const std::size_t total = queued_bytes_.fetch_add(size) + size;
        if (total > server_.options.max_send_queue_bytes) {
            queued_bytes_.fetch_sub(size);
            if (!overflowed_.exchange(true)) {
                post_close(kCloseSendQueueFull, "send queue full", false);
            }
            return;
        }
        asio::post(ws_.get_executor(), [self = this->shared_from_this(), m = std::move(message)] {
            self->enqueue(std::move(m));
        });
    }

    void post_close(std::uint16_t code, std::string reason, bool flush) override {
        asio::post(ws_.get_executor(),
                   [self = this->shared_from_this(), code, r = std::move(reason), flush] {
                       self->start_close(code, r, flush);
                   });
    }

private:
    void on_accept(beast::error_code ec) {
        if (ec) return fail(ec, "websocket handshake");
        if (!server_.add_session(id_, this->shared_from_this())) {
            start_close(kCloseGoingAway, "server stopping", false);
            return do_read();
        }
        open_ = true;
        std::string error;
        if (server_.on_open &&
            !guarded([&] { server_.on_open(id_, remote_); }, error)) {
            start_close(kCloseInternalError, "on_open: " + error, false);
        }
        do_read();
    }

    // No read starts once a close is under way (Beast allows a read pending before a close, not
    // one started after it); the close's completion then ends the session.
    void do_read() {
        if (closing_ || finished_) return;
        reading_ = true;
        ws_.async_read(buffer_,
                       beast::bind_front_handler(&WsSession::on_read, this->shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        reading_ = false;
        if (ec) return fail(ec, "read");
        if (!ws_.got_binary()) {
            buffer_.consume(buffer_.size());
            start_close(kCloseUnsupportedData, "binary frames only", false);
            return do_read();
        }
        if (!closing_ && server_.on_message) {
            const auto data = buffer_.data();
            const std::span<const std::uint8_t> bytes(
                static_cast<const std::uint8_t*>(data.data()), data.size());
            std::string error;
            if (!guarded([&] { server_.on_message(id_, bytes); }, error)) {
                start_close(kCloseInternalError, "on_message: " + error, false);
            }
        }
        buffer_.consume(buffer_.size());
        do_read();
    }

    void enqueue(Message message) {
        if (closing_ || !open_ || close_after_flush_) {
            queued_bytes_.fetch_sub(message->size());
            return;
        }
        queue_.push_back(std::move(message));
        if (!writing_) do_write();
    }

    void do_write() {
        writing_ = true;
        ws_.async_write(asio::buffer(*queue_.front()),
                        beast::bind_front_handler(&WsSession::on_write, this->shared_from_this()));
    }

    void on_write(beast::error_code ec, std::size_t) {
        writing_ = false;
        if (!queue_.empty()) {  // fail() may have emptied it while the write was in flight
            queued_bytes_.fetch_sub(queue_.front()->size());
            queue_.pop_front();
        }
        if (ec) {
            // A pending read reports the close; without one, this is the end.
            if (reading_) return force_close();
            return fail(ec, "write");
        }
        if (closing_) return;
        if (!queue_.empty()) return do_write();
        if (close_after_flush_) {
            auto [code, reason] = std::move(*close_after_flush_);
            close_after_flush_.reset();
            start_close(code, reason, false);
        }
    }

    // Sends a close frame (after the queued messages when `flush`). The pending read ends with the
    // peer's answer, or the timer closes the socket when it does not come.
    void start_close(std::uint16_t code, const std::string& reason, bool flush) {
        if (closing_ || finished_) return;
        if (flush && (writing_ || !queue_.empty())) {
            if (!close_after_flush_) close_after_flush_.emplace(code, reason);
            return;
        }
        closing_ = true;
        close_code_ = code;
        close_reason_ = reason;
        while (queue_.size() > (writing_ ? 1u : 0u)) {
            queued_bytes_.fetch_sub(queue_.back()->size());
            queue_.pop_back();
        }
        ws_.async_close(make_close_reason(code, reason),
                        [self = this->shared_from_this()](beast::error_code ec) {
                            // With a read pending, the read reports the close.
                            if (!self->reading_) self->fail(ec, "close");
                        });
        arm_close_timer();
    }

    // The closing handshake, ours or the peer's, gets handshake_timeout to finish.
    void arm_close_timer() {
        close_timer_.expires_after(server_.options.handshake_timeout);
        close_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
            if (!ec) self->force_close();
        });
    }

    void force_close() {
        beast::error_code ignored;
        beast::get_lowest_layer(ws_).socket().close(ignored);
    }

    // The single end of a session: every read error comes here, once.
    void fail(beast::error_code ec, const char* what) {
        if (finished_) return;
        finished_ = true;
        close_timer_.cancel();
        std::uint16_t code = kCloseAbnormal;
        std::string reason;
        if (closing_) {
            code = close_code_;
            reason = close_reason_;
        } else if (ec == websocket::error::closed || peer_closed_) {
            // A close frame without a code is reported as 1005 (no status received).
            code = ws_.reason().code != 0 ? ws_.reason().code : kCloseNoStatus;
            reason = std::string(ws_.reason().reason.c_str());
        } else if (ec == websocket::error::message_too_big) {
            code = kCloseTooBig;
            reason = "message too big";
        } else if (ec == beast::error::timeout) {
            reason = std::string(what) + ": timeout";
        } else {
            reason = std::string(what) + ": " + ec.message();
        }
        force_close();
        // The message being written stays alive until its write completes.
        queue_.erase(queue_.begin() + (writing_ && !queue_.empty() ? 1 : 0), queue_.end());
        if (!open_) return;
        server_.remove_session(id_);
        if (server_.on_close) {
            std::string error;
            (void)guarded([&] { server_.on_close(id_, code, reason); }, error);
        }
    }

    Impl& server_;
    websocket::stream<Stream> ws_;
    asio::steady_timer close_timer_;
    const ConnectionId id_;
    const std::string remote_;
    ConnectionSlot slot_;
    http::request<http::string_body> request_;
    beast::flat_buffer buffer_;
    std::deque<Message> queue_;
    std::atomic<std::size_t> queued_bytes_{0};
    std::atomic<bool> overflowed_{false};
    bool writing_ = false;
    bool reading_ = false;
    bool peer_closed_ = false;  // the peer's close frame came (ws_.reason() holds it)
    bool open_ = false;
    bool closing_ = false;
    bool finished_ = false;
    std::optional<std::pair<std::uint16_t, std::string>> close_after_flush_;
    std::uint16_t close_code_ = kCloseAbnormal;
    std::string close_reason_;
};

// A request body above this gets 413 (no request to this port has a use for one).
constexpr std::uint64_t kMaxHttpBody = 64 * 1024;
// After a 413, the rest of the body is read and dropped, up to this much, so that closing the
// socket with unread data (a TCP reset) does not destroy the answer before the peer reads it.
constexpr std::size_t kMaxHttpDrain = 4u << 20;

// A new TCP connection: TLS handshake (wss), then one HTTP request, which is either a WebSocket
// upgrade (handed to a WsSession) or a plain request answered here.
template <class Stream>
class HttpSession final : public Connection,
                          public std::enable_shared_from_this<HttpSession<Stream>> {
public:
    HttpSession(Impl& server, Stream&& stream, std::string remote, ConnectionSlot slot)
        : server_(server),
          stream_(std::move(stream)),
          executor_(stream_.get_executor()),
          id_(server.next_id.fetch_add(1)),
          remote_(std::move(remote)),
          slot_(std::move(slot)) {}

    void run() {
        if (!server_.add_handshaking(id_, this->shared_from_this())) return;
        asio::dispatch(stream_.get_executor(),
                       beast::bind_front_handler(&HttpSession::start, this->shared_from_this()));
    }

    void post_send(Message) override {}
    std::size_t queued_bytes() const override { return 0; }

    void post_close(std::uint16_t, std::string, bool) override {
        // executor_, not stream_'s: the stream may have been handed over already.
        asio::post(executor_, [self = this->shared_from_this()] {
            if (!self->handed_over_) {
                beast::error_code ignored;
                beast::get_lowest_layer(self->stream_).socket().close(ignored);
            }
        });
    }

private:
    void start() {
        // The whole exchange (TLS handshake, request, answer, drain) gets handshake_timeout.
        beast::get_lowest_layer(stream_).expires_after(server_.options.handshake_timeout);
        if constexpr (kIsTls<Stream>) {
            stream_.async_handshake(ssl::stream_base::server,
                                    beast::bind_front_handler(&HttpSession::on_tls_handshake,
                                                              this->shared_from_this()));
        } else {
            do_read();
        }
    }

    void on_tls_handshake(beast::error_code ec) {
        if (ec) return fail(ec, "tls handshake");
        do_read();
    }

    void do_read() {
        parser_.emplace();
        parser_->header_limit(16 * 1024);
        parser_->body_limit(kMaxHttpBody);
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&HttpSession::on_read, this->shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == http::error::body_limit) {
            // The header was read: answer it, then drop the rest of the body.
            const auto& header = parser_->get();
            return respond(header.version(), http::status::payload_too_large,
                           "payload too large\n", true);
        }
        if (ec) return fail(ec, "http read");
        http::request<http::string_body> request = parser_->release();
        if (websocket::is_upgrade(request)) {
            handed_over_ = true;
            server_.remove_handshaking(id_);
            std::make_shared<WsSession<Stream>>(server_, std::move(stream_), std::move(remote_),
                                                std::move(slot_))
                ->run(std::move(request));
            return;
        }
        if (request.method() != http::verb::get) {
            respond(request.version(), http::status::method_not_allowed, "method not allowed\n",
                    false);
        } else if (request.target() == "/health") {
            respond(request.version(), http::status::ok, "outpost\n", false);
        } else {
            respond(request.version(), http::status::not_found, "not found\n", false);
        }
    }

    void respond(unsigned version, http::status status, const char* body, bool drain) {
        drain_ = drain;
        response_.version(version);
        response_.result(status);
        response_.keep_alive(false);
        response_.set(http::field::server, "outpost");
        response_.set(http::field::content_type, "text/plain");
        if (status == http::status::method_not_allowed) response_.set(http::field::allow, "GET");
        response_.body() = body;
        response_.prepare_payload();
        http::async_write(stream_, response_,
                          beast::bind_front_handler(&HttpSession::on_write,
                                                    this->shared_from_this()));
    }

    void on_write(beast::error_code ec, std::size_t) {
        if (ec) return fail(ec, "http write");
        beast::error_code ignored;
        beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ignored);
        if (drain_) return do_drain();
        finish();
    }

    // Reads and drops what the peer still sends, until it closes, the limit, or the timeout.
    void do_drain() {
        buffer_.consume(buffer_.size());
        if (drained_ >= kMaxHttpDrain) return finish();
        beast::get_lowest_layer(stream_).async_read_some(
            buffer_.prepare(16 * 1024),
            [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                self->drained_ += n;
                if (ec) return self->finish();
                self->do_drain();
            });
    }

    void fail(beast::error_code, const char*) {
        // Bad input from outside (garbage, a failed TLS handshake, a timeout) ends this
        // connection only.
        finish();
    }

    void finish() {
        beast::error_code ignored;
        beast::get_lowest_layer(stream_).socket().close(ignored);
        server_.remove_handshaking(id_);
    }

    Impl& server_;
    Stream stream_;
    const typename Stream::executor_type executor_;
    const std::uint64_t id_;
    std::string remote_;
    ConnectionSlot slot_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::response<http::string_body> response_;
    bool handed_over_ = false;
    bool drain_ = false;
    std::size_t drained_ = 0;
};

}  // namespace

class Listener : public std::enable_shared_from_this<Listener> {
public:
    Listener(Impl& server, bool tls)
        : server_(server),
          acceptor_(asio::make_strand(server.ioc)),
          retry_timer_(acceptor_.get_executor()),
          tls_(tls) {}

    Status bind(const tcp::endpoint& endpoint) {
        beast::error_code ec;
        acceptor_.open(endpoint.protocol(), ec);
        if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec) acceptor_.bind(endpoint, ec);
        if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
        if (ec) return Status(ErrorCode::kIo, ec.message(), ec.value());
        return Status::ok();
    }

    tcp::endpoint local_endpoint() const {
        beast::error_code ec;
        return acceptor_.local_endpoint(ec);
    }

    void run() {
        asio::dispatch(acceptor_.get_executor(),
                       beast::bind_front_handler(&Listener::do_accept, shared_from_this()));
    }

    void stop() {
        asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
            beast::error_code ignored;
            self->acceptor_.close(ignored);
            self->retry_timer_.cancel();
        });
    }

private:
    void do_accept() {
        acceptor_.async_accept(asio::make_strand(server_.ioc),
                               beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
    }

    void on_accept(beast::error_code ec, tcp::socket socket) {
        if (!acceptor_.is_open()) return;
        if (ec) {
            // Such as too many open files: neither the listener nor the server ends, but it
            // pauses instead of spinning, and says so once until an accept succeeds again.
            server_.accept_errors.fetch_add(1);
            if (failed_accepts_++ == 0) {
                server_.log(true, "accepting on " + endpoint_text(local_endpoint()) + " failed (" +
                                      ec.message() + "): new connections wait, retrying every " +
                                      std::to_string(kAcceptRetry.count()) + " ms");
            }
            retry_timer_.expires_after(kAcceptRetry);
            retry_timer_.async_wait([self = shared_from_this()](beast::error_code timer_ec) {
                if (!timer_ec && self->acceptor_.is_open()) self->do_accept();
            });
            return;
        }
        if (failed_accepts_ != 0) {
            server_.log(false, "accepting on " + endpoint_text(local_endpoint()) + " again after " +
                                   std::to_string(failed_accepts_) + " failed attempts");
            failed_accepts_ = 0;
        }
        const std::size_t limit = server_.options.max_connections;
        if (const std::size_t held = server_.open_connections.fetch_add(1);
            limit != 0 && held >= limit) {
            server_.open_connections.fetch_sub(1);
            refuse(std::move(socket));
        } else {
            ConnectionSlot slot(server_);
            beast::error_code ep_ec;
            const std::string remote = endpoint_text(socket.remote_endpoint(ep_ec));
            beast::error_code nd;
            socket.set_option(tcp::no_delay(true), nd);
            if (tls_) {
                std::make_shared<HttpSession<TlsStream>>(
                    server_, TlsStream(beast::tcp_stream(std::move(socket)), *server_.tls), remote,
                    std::move(slot))
                    ->run();
            } else {
                std::make_shared<HttpSession<PlainStream>>(
                    server_, beast::tcp_stream(std::move(socket)), remote, std::move(slot))
                    ->run();
            }
        }
        do_accept();
    }

    // At the connection limit: the socket is closed at once, after a 503 on ws:// (written only
    // if the socket takes it now; a TLS peer just sees the close). Reported at most every 10 s.
    void refuse(tcp::socket socket) {
        const std::uint64_t refused = server_.connections_refused.fetch_add(1) + 1;
        if (!tls_) {
            static const std::string k503 =
                "HTTP/1.1 503 Service Unavailable\r\nServer: outpost\r\nContent-Type: "
                "text/plain\r\nContent-Length: 21\r\nConnection: close\r\n\r\ntoo many "
                "connections\n";
            beast::error_code ignored;
            socket.non_blocking(true, ignored);
            socket.write_some(asio::buffer(k503), ignored);
            socket.shutdown(tcp::socket::shutdown_send, ignored);
        }
        beast::error_code ignored;
        socket.close(ignored);
        const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count();
        std::int64_t last = server_.limit_logged_ms.load();
        if ((last == 0 || now_ms - last >= kLimitLogInterval.count()) &&
            server_.limit_logged_ms.compare_exchange_strong(last, now_ms)) {
            server_.log(true, "connection limit of " +
                                  std::to_string(server_.options.max_connections) +
                                  " reached: new connections are refused (" +
                                  std::to_string(refused) + " refused since start)");
        }
    }

    static constexpr std::chrono::milliseconds kAcceptRetry{100};
    static constexpr std::chrono::milliseconds kLimitLogInterval{10'000};

    Impl& server_;
    tcp::acceptor acceptor_;
    asio::steady_timer retry_timer_;
    const bool tls_;
    std::uint64_t failed_accepts_ = 0;  // in a row, on the acceptor's strand
};

WsServer::WsServer(WsServerOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {}

WsServer::~WsServer() {
    stop();
    for (auto& t : impl_->threads) {
        if (t.get_id() == std::this_thread::get_id()) {
            t.detach();
        } else if (t.joinable()) {
            t.join();
        }
    }
}

void WsServer::set_on_open(OpenHandler handler) { impl_->on_open = std::move(handler); }
void WsServer::set_on_message(MessageHandler handler) { impl_->on_message = std::move(handler); }
void WsServer::set_on_close(CloseHandler handler) { impl_->on_close = std::move(handler); }

Status WsServer::start() {
    Impl& s = *impl_;
    {
        std::lock_guard lock(s.mutex);
        if (s.started) return Status(ErrorCode::kIllegalState, "server already started");
        s.started = true;
    }
    std::vector<detail::WsUrl> urls;
    for (const auto& text : s.options.urls) {
        auto url = detail::parse_ws_url(text);
        if (!url) {
            return Status(ErrorCode::kInvalidArgument,
                          "bad URL '" + text + "' (expected ws://HOST:PORT or wss://HOST:PORT)");
        }
        if (url->tls && !s.tls) {
            if (s.options.cert_dir.empty()) {
                return Status(ErrorCode::kInvalidArgument, "wss:// needs a certificate directory");
            }
            s.tls.emplace(ssl::context::tls_server);
            beast::error_code ec;
            s.tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                                   ssl::context::no_tlsv1_1,
                               ec);
            const std::string cert = s.options.cert_dir + "/cert.pem";
            const std::string key = s.options.cert_dir + "/key.pem";
            if (!ec) s.tls->use_certificate_chain_file(cert, ec);
            if (ec) {
                return Status(ErrorCode::kIo, "cannot use certificate " + cert + ": " + ec.message(),
                              ec.value());
            }
            s.tls->use_private_key_file(key, ssl::context::pem, ec);
            if (ec) {
                return Status(ErrorCode::kIo, "cannot use private key " + key + ": " + ec.message(),
                              ec.value());
            }
        }
        urls.push_back(std::move(*url));
    }
    if (urls.empty()) return Status(ErrorCode::kInvalidArgument, "no URL to listen on");

    tcp::resolver resolver(s.ioc);
    for (const auto& url : urls) {
        beast::error_code ec;
        auto results = resolver.resolve(url.host, std::to_string(url.port),
                                        tcp::resolver::passive | tcp::resolver::numeric_service, ec);
        if (ec || results.empty()) {
            return Status(ErrorCode::kIo,
                          "cannot resolve " + url.host + ": " + (ec ? ec.message() : "no address"),
                          ec.value());
        }
        auto listener = std::make_shared<Listener>(s, url.tls);
        const tcp::endpoint endpoint = results.begin()->endpoint();
        if (Status st = listener->bind(endpoint); !st) {
            return Status(ErrorCode::kIo,
                          "cannot listen on " + detail::format_ws_url(url.tls, url.host, url.port) +
                              ": " + st.message(),
                          st.cause());
        }
        const tcp::endpoint local = listener->local_endpoint();
        s.bound.push_back(detail::format_ws_url(url.tls, local.address().to_string(), local.port()));
        s.listeners.push_back(std::move(listener));
    }
    // Descriptors run out before the connection limit is reached: say so now, not under load.
    rlimit files{};
    if (s.options.max_connections != 0 && ::getrlimit(RLIMIT_NOFILE, &files) == 0 &&
        files.rlim_cur != RLIM_INFINITY && files.rlim_cur < s.options.max_connections + 64) {
        s.log(true, "the open-file limit (" + std::to_string(files.rlim_cur) +
                        ") is below the connection limit (" +
                        std::to_string(s.options.max_connections) +
                        ") plus a reserve of 64: raise it (ulimit -n) or lower the connection "
                        "limit");
    }
    s.work.emplace(s.ioc.get_executor());
    for (auto& listener : s.listeners) listener->run();
    for (unsigned i = 0; i < s.options.threads; ++i) {
        s.threads.emplace_back([&s] { s.run_loop(); });
    }
    return Status::ok();
}

std::vector<std::string> WsServer::bound_urls() const { return impl_->bound; }

void WsServer::run() {
    if (impl_->options.threads == 0) {
        impl_->run_loop();
        return;
    }
    for (auto& t : impl_->threads) {
        if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
    }
}

void WsServer::stop() {
    Impl& s = *impl_;
    std::vector<std::shared_ptr<Connection>> open;
    {
        std::lock_guard lock(s.mutex);
        if (s.stopping) return;
        s.stopping = true;
        for (auto& [id, weak] : s.sessions) {
            if (auto c = weak.lock()) open.push_back(std::move(c));
        }
        for (auto& [id, weak] : s.handshaking) {
            if (auto c = weak.lock()) open.push_back(std::move(c));
        }
        for (auto& listener : s.listeners) listener->stop();
        // Once the connections are gone the loop runs out of work and the threads end.
        s.work.reset();
    }
    for (auto& c : open) c->post_close(kCloseGoingAway, "server stopping", false);
}

bool WsServer::send(ConnectionId id, std::span<const std::uint8_t> bytes) {
    return send(id, std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
}

bool WsServer::send(ConnectionId id, std::vector<std::uint8_t> bytes) {
    return send_shared(id, std::make_shared<const std::vector<std::uint8_t>>(std::move(bytes)));
}

bool WsServer::send_shared(ConnectionId id, std::shared_ptr<const std::vector<std::uint8_t>> message) {
    std::shared_ptr<Connection> c;
    {
        std::lock_guard lock(impl_->mutex);
        auto it = impl_->sessions.find(id);
        if (it == impl_->sessions.end()) return false;
        c = it->second.lock();
    }
    if (!c) return false;
    c->post_send(std::move(message));
    return true;
}

bool WsServer::close(ConnectionId id, std::uint16_t code, std::string reason) {
    std::shared_ptr<Connection> c;
    {
        std::lock_guard lock(impl_->mutex);
        auto it = impl_->sessions.find(id);
        if (it == impl_->sessions.end()) return false;
        c = it->second.lock();
    }
    if (!c) return false;
    c->post_close(code, std::move(reason), true);
    return true;
}

std::size_t WsServer::queued_bytes(ConnectionId id) const {
    std::shared_ptr<Connection> c;
    {
        std::lock_guard lock(impl_->mutex);
        auto it = impl_->sessions.find(id);
        if (it == impl_->sessions.end()) return 0;
        c = it->second.lock();
    }
    return c ? c->queued_bytes() : 0;
}

std::size_t WsServer::connection_count() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->sessions.size();
}

WsServerStats WsServer::stats() const {
    WsServerStats out;
    out.connections = impl_->open_connections.load();
    out.connections_refused = impl_->connections_refused.load();
    out.accept_errors = impl_->accept_errors.load();
    return out;
}

}  // namespace outpost::net
