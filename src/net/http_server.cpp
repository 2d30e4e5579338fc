// HttpServer: one acceptor, one session per connection (each on its own strand), keep-alive, and
// the limits of http_server.hpp.

#include "net/http_server.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <exception>
#include <optional>
#include <thread>
#include <type_traits>

#include "common/mutex.hpp"
#include "net/server_tls.hpp"
#include "net/url.hpp"

namespace outpost::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

struct HttpServer::Impl {
    Impl(HttpServerOptions opts, Handler h) : options(std::move(opts)), handler(std::move(h)) {}

    // Set before start(), then only read. Declared before ioc: the sessions that the I/O
    // context's handlers hold use them when they are destroyed with it.
    HttpServerOptions options;
    Handler handler;
    std::optional<ssl::context> tls;
    std::string bound;
    std::atomic<std::size_t> open_connections{0};

    Mutex mutex;
    bool started OUTPOST_GUARDED_BY(mutex) = false;
    bool stopped OUTPOST_GUARDED_BY(mutex) = false;

    asio::io_context ioc;
    std::optional<tcp::acceptor> acceptor;  // on its strand; closed by stop() once threads end
    std::optional<asio::steady_timer> retry_timer;  // on the acceptor's strand
    std::vector<std::thread> threads;

    void do_accept();
    void on_accept(beast::error_code ec, tcp::socket socket);
};

namespace {

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

template <class Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

// After an answer that closes the connection, what the peer still sends is read and dropped (up to
// this much, or until the read timeout), so that closing with unread data (a TCP reset) does not
// destroy the answer before the peer reads it.
constexpr std::size_t kMaxDrain = 4u << 20;

// One accepted socket, counted against max_connections until its session ends.
class ConnectionSlot {
  public:
    explicit ConnectionSlot(std::atomic<std::size_t>& count) : count_(&count) {}
    ConnectionSlot(ConnectionSlot&& other) noexcept
        : count_(std::exchange(other.count_, nullptr)) {}
    ConnectionSlot& operator=(ConnectionSlot&&) = delete;
    ~ConnectionSlot() {
        if (count_) count_->fetch_sub(1);
    }

  private:
    std::atomic<std::size_t>* count_;
};

bool has_line_break(const std::string& s) { return s.find_first_of("\r\n") != std::string::npos; }

std::string to_string(beast::string_view s) { return std::string(s.data(), s.size()); }

std::string lower(beast::string_view s) {
    std::string out = to_string(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

HttpServerResponse plain_answer(const HttpServerOptions& options, int status, std::string body) {
    HttpServerResponse r;
    r.status = status;
    r.headers = options.own_answer_headers;
    r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
    r.body = std::move(body);
    return r;
}

template <class Stream>
class Session final : public std::enable_shared_from_this<Session<Stream>> {
  public:
    Session(HttpServer::Impl& server, Stream&& stream, std::string remote, ConnectionSlot slot)
        : server_(server),
          stream_(std::move(stream)),
          remote_(std::move(remote)),
          slot_(std::move(slot)) {}

    void run() {
        asio::dispatch(stream_.get_executor(),
                       beast::bind_front_handler(&Session::start, this->shared_from_this()));
    }

  private:
    auto& socket_layer() { return beast::get_lowest_layer(stream_); }

    void start() {
        socket_layer().expires_after(server_.options.read_timeout);
        if constexpr (kIsTls<Stream>) {
            stream_.async_handshake(
                ssl::stream_base::server,
                beast::bind_front_handler(&Session::on_handshake, this->shared_from_this()));
        } else {
            do_read();
        }
    }

    void on_handshake(beast::error_code ec) {
        if (ec) return close();
        do_read();
    }

    void do_read() {
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(server_.options.max_header_bytes));
        parser_->body_limit(server_.options.max_body_bytes);
        socket_layer().expires_after(server_.options.read_timeout);
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&Session::on_read, this->shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == http::error::body_limit) {
            return respond(plain_answer(server_.options, 413, "request body too large\n"), true);
        }
        if (ec == http::error::header_limit) {
            return respond(plain_answer(server_.options, 431, "request header too large\n"), true);
        }
        if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
            return close();
        }
        if (ec && ec.category() == http::make_error_code(http::error::bad_target).category()) {
            return respond(plain_answer(server_.options, 400, "malformed request\n"), true);
        }
        if (ec) return close();  // a timeout, a reset, a TLS error
        const http::request<http::string_body>& req = parser_->get();
        if (req.target().empty() || req.target().front() != '/') {
            return respond(plain_answer(server_.options, 400, "the target must be a path\n"), true);
        }
        respond(call_handler(req), !req.keep_alive());
    }

    HttpServerResponse call_handler(const http::request<http::string_body>& req) {
        HttpServerRequest r;
        r.method = to_string(req.method_string());
        r.target = to_string(req.target());
        for (const auto& field : req) {
            std::string name = lower(field.name_string());
            auto [it, added] = r.headers.emplace(name, to_string(field.value()));
            if (!added) {
                it->second += name == "cookie" ? "; " : ", ";
                it->second += to_string(field.value());
            }
        }
        r.body = req.body();
        r.remote_address = remote_;
        r.tls = kIsTls<Stream>;
        try {
            if (server_.handler) return server_.handler(r);
            return plain_answer(server_.options, 404, "not found\n");
        } catch (const std::exception&) {
            return plain_answer(server_.options, 500, "internal server error\n");
        }
    }

    void respond(HttpServerResponse answer, bool close_after) {
        close_after_ = close_after;
        response_ = {};
        const int status = answer.status >= 100 && answer.status <= 599 ? answer.status : 500;
        response_.result(static_cast<unsigned>(status));
        response_.version(11);
        response_.set(http::field::server, "outpost");
        for (auto& [name, value] : answer.headers) {
            // A header a handler built from outside input must not split the answer.
            if (name.empty() || has_line_break(name) || has_line_break(value)) continue;
            response_.insert(name, value);
        }
        response_.body() = std::move(answer.body);
        response_.keep_alive(!close_after);
        response_.prepare_payload();
        socket_layer().expires_after(server_.options.write_timeout);
        http::async_write(stream_, response_,
                          beast::bind_front_handler(&Session::on_write, this->shared_from_this()));
    }

    void on_write(beast::error_code ec, std::size_t) {
        if (ec) return close();
        if (!close_after_) return do_read();
        beast::error_code ignored;
        socket_layer().socket().shutdown(tcp::socket::shutdown_send, ignored);
        socket_layer().expires_after(server_.options.read_timeout);
        do_drain();
    }

    // Reads and drops what the peer still sends, until it closes, the limit, or the timeout.
    void do_drain() {
        buffer_.consume(buffer_.size());
        if (drained_ >= kMaxDrain) return close();
        socket_layer().async_read_some(
            buffer_.prepare(16 * 1024),
            [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                self->drained_ += n;
                if (ec) return self->close();
                self->do_drain();
            });
    }

    void close() {
        beast::error_code ignored;
        socket_layer().socket().shutdown(tcp::socket::shutdown_both, ignored);
        socket_layer().socket().close(ignored);
    }

    HttpServer::Impl& server_;
    Stream stream_;
    const std::string remote_;
    ConnectionSlot slot_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::response<http::string_body> response_;
    bool close_after_ = false;
    std::size_t drained_ = 0;
};

}  // namespace

void HttpServer::Impl::do_accept() {
    acceptor->async_accept(asio::make_strand(ioc),
                           beast::bind_front_handler(&Impl::on_accept, this));
}

void HttpServer::Impl::on_accept(beast::error_code ec, tcp::socket socket) {
    if (!acceptor->is_open()) return;
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
        const std::size_t limit = options.max_connections;
        if (const std::size_t held = open_connections.fetch_add(1); limit != 0 && held >= limit) {
            open_connections.fetch_sub(1);
            beast::error_code ignored;
            if (!tls) {
                static const std::string k503 =
                    "HTTP/1.1 503 Service Unavailable\r\nServer: outpost\r\nContent-Type: "
                    "text/plain\r\nContent-Length: 21\r\nConnection: close\r\n\r\ntoo many "
                    "connections\n";
                socket.non_blocking(true, ignored);
                socket.write_some(asio::buffer(k503), ignored);
                socket.shutdown(tcp::socket::shutdown_send, ignored);
            }
            socket.close(ignored);
        } else {
            ConnectionSlot slot(open_connections);
            beast::error_code ep_ec;
            std::string remote = socket.remote_endpoint(ep_ec).address().to_string();
            if (tls) {
                std::make_shared<Session<TlsStream>>(
                    *this, TlsStream(beast::tcp_stream(std::move(socket)), *tls), std::move(remote),
                    std::move(slot))
                    ->run();
            } else {
                std::make_shared<Session<PlainStream>>(*this, beast::tcp_stream(std::move(socket)),
                                                       std::move(remote), std::move(slot))
                    ->run();
            }
        }
    }
    if (ec) {
        // Such as no descriptor left: retried after a pause instead of spinning; connections that
        // end meanwhile free descriptors.
        retry_timer->expires_after(std::chrono::milliseconds(100));
        retry_timer->async_wait([this](beast::error_code timer_ec) {
            if (!timer_ec && acceptor->is_open()) do_accept();
        });
        return;
    }
    do_accept();
}

HttpServer::HttpServer(HttpServerOptions options, Handler handler)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::start() {
    Impl& s = *impl_;
    {
        MutexLock lock(s.mutex);
        if (s.started) return Status(ErrorCode::kIllegalState, "server already started");
        s.started = true;
    }
    auto url = detail::parse_http_listen_url(s.options.url);
    if (!url) {
        return Status(
            ErrorCode::kInvalidArgument,
            "bad URL '" + s.options.url + "' (expected http://HOST:PORT or https://HOST:PORT)");
    }
    if (url->tls) {
        if (s.options.cert_dir.empty()) {
            return Status(ErrorCode::kInvalidArgument,
                          "https:// needs a certificate directory (cert.pem, key.pem)");
        }
        OUTPOST_RETURN_IF_ERROR(detail::make_server_tls(s.options.cert_dir, s.tls));
    }
    beast::error_code ec;
    tcp::resolver resolver(s.ioc);
    auto results = resolver.resolve(url->host, std::to_string(url->port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
        return Status(ErrorCode::kIo,
                      "cannot resolve " + url->host + ": " + (ec ? ec.message() : "no address"),
                      ec.value());
    }
    const std::string wanted = detail::format_http_url(url->tls, url->host, url->port);
    s.acceptor.emplace(asio::make_strand(s.ioc));
    s.retry_timer.emplace(s.acceptor->get_executor());
    const tcp::endpoint endpoint = results.begin()->endpoint();
    s.acceptor->open(endpoint.protocol(), ec);
    if (!ec) s.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) s.acceptor->bind(endpoint, ec);
    if (!ec) s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        return Status(ErrorCode::kIo, "cannot listen on " + wanted + ": " + ec.message(),
                      ec.value());
    }
    const tcp::endpoint local = s.acceptor->local_endpoint(ec);
    s.bound = detail::format_http_url(url->tls, local.address().to_string(), local.port());
    asio::dispatch(s.acceptor->get_executor(), [&s] { s.do_accept(); });
    for (unsigned i = 0; i < std::max(1u, s.options.threads); ++i) {
        s.threads.emplace_back([&s] {
            for (;;) {
                try {
                    s.ioc.run();
                    return;
                } catch (const std::exception&) {
                    continue;  // a handler that threw (none should): the loop goes on
                }
            }
        });
    }
    return Status::ok();
}

std::string HttpServer::bound_url() const { return impl_->bound; }

void HttpServer::stop() {
    Impl& s = *impl_;
    {
        MutexLock lock(s.mutex);
        if (s.stopped) return;
        s.stopped = true;
    }
    // The connections still open end when the I/O context (and the handlers holding them) go.
    s.ioc.stop();
    for (auto& t : s.threads) {
        if (t.joinable()) t.join();
    }
    if (s.acceptor) {
        beast::error_code ignored;
        s.acceptor->close(ignored);
    }
}

std::size_t HttpServer::connection_count() const { return impl_->open_connections.load(); }

}  // namespace outpost::net
