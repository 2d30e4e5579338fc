// The accepting side of WsServer: listeners, the HTTP exchange of a new connection (TLS, /health,
// 404/405/413) and the server's WebSocket session.

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <span>
#include <string>
#include <utility>

#include "net/ws_server_impl.hpp"

namespace outpost::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Impl = WsServer::Impl;

namespace {

std::string endpoint_text(const tcp::endpoint& ep) {
    const std::string address = ep.address().to_string();
    if (ep.address().is_v6()) return '[' + address + "]:" + std::to_string(ep.port());
    return address + ':' + std::to_string(ep.port());
}

// The server's WebSocket session: accepts the upgrade request, registers with the server (which
// owns it from then on, by ID) and reports to the server's callbacks.
template <class Stream>
class ServerSession final : public detail::WsSession<ServerSession<Stream>, Stream> {
    using Base = detail::WsSession<ServerSession<Stream>, Stream>;
    friend Base;

  public:
    ServerSession(Impl& server, Stream&& stream, std::string remote, ConnectionSlot slot)
        : Base(nullptr, std::move(stream), limits(server.options)),
          server_(server),
          id_(server.next_id.fetch_add(1)),
          remote_(std::move(remote)),
          slot_(std::move(slot)) {}

    void run(http::request<http::string_body> request) {
        request_ = std::move(request);
        beast::get_lowest_layer(this->ws_).expires_never();
        this->configure_stream();
        this->ws_.set_option(websocket::stream_base::decorator(
            [](websocket::response_type& res) { res.set(http::field::server, "outpost"); }));
        this->ws_.async_accept(
            request_, [self = this->self()](beast::error_code ec) { self->on_accept(ec); });
    }

  private:
    static detail::SessionLimits limits(const WsServerOptions& o) {
        return {o.handshake_timeout, o.idle_timeout, o.max_message_size, o.max_send_queue_bytes};
    }

    void on_accept(beast::error_code ec) {
        if (ec) return this->fail(ec, "websocket handshake");
        this->handshake_done();
        if (!server_.add_session(id_, this->self())) {
            this->start_close(kCloseGoingAway, "server stopping", false);
            return this->do_read();
        }
        this->mark_open();
        std::string error;
        if (server_.on_open &&
            !detail::call_guarded([&] { server_.on_open(id_, remote_); }, error)) {
            this->start_close(kCloseInternalError, "on_open: " + error, false);
        }
        this->do_read();
    }

    bool deliver(std::span<const std::uint8_t> bytes, std::string& error) {
        if (!server_.on_message) return true;
        return detail::call_guarded([&] { server_.on_message(id_, bytes); }, error);
    }

    // A session the server never took (stopping) ends silently.
    void on_end(bool was_open, std::uint16_t code, const std::string& reason) {
        if (!was_open) return;
        server_.remove_session(id_);
        if (server_.on_close) {
            std::string error;
            (void)detail::call_guarded([&] { server_.on_close(id_, code, reason); }, error);
        }
    }

    // Not reached: the session is created after the handshake's request and closes only after
    // accepting it.
    void abandon() { this->force_close(); }

    Impl& server_;
    const ConnectionId id_;
    const std::string remote_;
    ConnectionSlot slot_;
    http::request<http::string_body> request_;
};

// A request body above this gets 413 (no request to this port has a use for one).
constexpr std::uint64_t kMaxHttpBody = 64 * 1024;
// After a 413, the rest of the body is read and dropped, up to this much, so that closing the
// socket with unread data (a TCP reset) does not destroy the answer before the peer reads it.
constexpr std::size_t kMaxHttpDrain = 4u << 20;

// A new TCP connection: TLS handshake (wss), then one HTTP request, which is either a WebSocket
// upgrade (handed to a ServerSession) or a plain request answered here.
template <class Stream>
class HttpSession final : public detail::Connection,
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

    void post_send(detail::Message) override {}
    std::size_t queued_bytes() const override { return 0; }
    bool is_open() const override { return false; }

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
        if constexpr (detail::kIsTls<Stream>) {
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
        http::async_read(
            stream_, buffer_, *parser_,
            beast::bind_front_handler(&HttpSession::on_read, this->shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == http::error::body_limit) {
            // The header was read: answer it, then drop the rest of the body.
            const auto& header = parser_->get();
            return respond(header.version(), http::status::payload_too_large, "payload too large\n",
                           true);
        }
        if (ec) return fail(ec, "http read");
        http::request<http::string_body> request = parser_->release();
        if (websocket::is_upgrade(request)) {
            handed_over_ = true;
            server_.remove_handshaking(id_);
            std::make_shared<ServerSession<Stream>>(server_, std::move(stream_), std::move(remote_),
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
        http::async_write(
            stream_, response_,
            beast::bind_front_handler(&HttpSession::on_write, this->shared_from_this()));
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

Listener::Listener(Impl& server, bool tls)
    : server_(server),
      acceptor_(asio::make_strand(server.ioc)),
      retry_timer_(acceptor_.get_executor()),
      tls_(tls) {}

Status Listener::bind(const tcp::endpoint& endpoint) {
    beast::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Status(ErrorCode::kIo, ec.message(), ec.value());
    return Status::ok();
}

tcp::endpoint Listener::local_endpoint() const {
    beast::error_code ec;
    return acceptor_.local_endpoint(ec);
}

void Listener::run() {
    asio::dispatch(acceptor_.get_executor(),
                   beast::bind_front_handler(&Listener::do_accept, shared_from_this()));
}

void Listener::stop() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
        beast::error_code ignored;
        self->acceptor_.close(ignored);
        self->retry_timer_.cancel();
    });
}

void Listener::do_accept() {
    acceptor_.async_accept(asio::make_strand(server_.ioc),
                           beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
}

void Listener::on_accept(beast::error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open()) return;
    if (ec) return on_accept_error(ec);
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
        start_session(std::move(socket));
    }
    do_accept();
}

// Such as too many open files: neither the listener nor the server ends, but it pauses instead of
// spinning, and says so once until an accept succeeds again.
void Listener::on_accept_error(beast::error_code ec) {
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
}

// REQUIRES: the socket is counted in open_connections.
void Listener::start_session(tcp::socket socket) {
    ConnectionSlot slot(server_);
    beast::error_code ep_ec;
    const std::string remote = endpoint_text(socket.remote_endpoint(ep_ec));
    beast::error_code nd;
    socket.set_option(tcp::no_delay(true), nd);
    if (tls_) {
        std::make_shared<HttpSession<detail::TlsStream>>(
            server_, detail::TlsStream(beast::tcp_stream(std::move(socket)), *server_.tls), remote,
            std::move(slot))
            ->run();
    } else {
        std::make_shared<HttpSession<detail::PlainStream>>(
            server_, beast::tcp_stream(std::move(socket)), remote, std::move(slot))
            ->run();
    }
}

// At the connection limit: the socket is closed at once, after a 503 on ws:// (written only
// if the socket takes it now; a TLS peer just sees the close). Reported at most every 10 s.
void Listener::refuse(tcp::socket socket) {
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
        server_.log(true, "connection limit of " + std::to_string(server_.options.max_connections) +
                              " reached: new connections are refused (" + std::to_string(refused) +
                              " refused since start)");
    }
}

}  // namespace outpost::net
