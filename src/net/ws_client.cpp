#include "net/ws_client.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>

#include "net/url.hpp"

namespace outpost::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

struct EventLoop::Impl {
    asio::io_context ioc;
    asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
    std::vector<std::thread> threads;
};

EventLoop::EventLoop(unsigned threads) : impl_(std::make_unique<Impl>()) {
    if (threads == 0) threads = 1;
    for (unsigned i = 0; i < threads; ++i) {
        impl_->threads.emplace_back([this] {
            for (;;) {
                try {
                    impl_->ioc.run();
                    return;
                } catch (const std::exception&) {
                    continue;
                }
            }
        });
    }
}

EventLoop::~EventLoop() {
    impl_->work.reset();
    for (auto& t : impl_->threads) {
        if (t.get_id() == std::this_thread::get_id()) {
            t.detach();
        } else {
            t.join();
        }
    }
}

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

// The user's callbacks, shared with the sessions; detach() makes sure none runs after the client
// is gone (it waits for a running one, unless called from inside it).
struct Callbacks {
    WsClient::OpenHandler on_open;
    WsClient::MessageHandler on_message;
    WsClient::CloseHandler on_close;

    std::mutex mutex;
    bool detached = false;  // GUARDED_BY(mutex)
    std::atomic<std::thread::id> running{};

    template <class Fn>
    bool call(Fn&& fn, std::string& error) {
        std::lock_guard lock(mutex);
        if (detached) return true;
        running.store(std::this_thread::get_id());
        bool ok = false;
        try {
            fn();
            ok = true;
        } catch (const std::exception& e) {
            error = e.what();
        } catch (...) {
            error = "unknown exception";
        }
        running.store(std::thread::id{});
        return ok;
    }

    void detach() {
        if (running.load() == std::this_thread::get_id()) {
            detached = true;  // the mutex is held by this thread, in call()
            return;
        }
        std::lock_guard lock(mutex);
        detached = true;
    }
};

class ClientConnection {
public:
    virtual ~ClientConnection() = default;
    virtual void start() = 0;
    virtual bool post_send(Message message) = 0;
    virtual void post_close(std::uint16_t code, std::string reason) = 0;
};

// One connection attempt and, when it succeeds, the connection. All members are touched only on
// the strand, except open_ (read by send()).
template <class Stream>
class ClientSession final : public ClientConnection,
                            public std::enable_shared_from_this<ClientSession<Stream>> {
public:
    ClientSession(asio::io_context& ioc, std::shared_ptr<ssl::context> tls, const WsClientOptions& options,
                  detail::WsUrl url, std::shared_ptr<Callbacks> callbacks)
        : strand_(asio::make_strand(ioc)),
          resolver_(strand_),
          tls_(std::move(tls)),
          ws_(make_stream(strand_, tls_.get())),
          timer_(strand_),
          options_(options),
          url_(std::move(url)),
          callbacks_(std::move(callbacks)) {}

    void start() override {
        asio::dispatch(strand_, [self = this->shared_from_this()] { self->do_resolve(); });
    }

    bool post_send(Message message) override {
        if (!open_.load()) return false;
        asio::post(strand_, [self = this->shared_from_this(), m = std::move(message)] {
            self->enqueue(std::move(m));
        });
        return true;
    }

    void post_close(std::uint16_t code, std::string reason) override {
        asio::post(strand_, [self = this->shared_from_this(), code, r = std::move(reason)] {
            self->start_close(code, r);
        });
    }

private:
    static websocket::stream<Stream> make_stream(const asio::strand<asio::io_context::executor_type>& ex,
                                                 ssl::context* tls) {
        if constexpr (kIsTls<Stream>) {
            return websocket::stream<Stream>(ex, *tls);
        } else {
            return websocket::stream<Stream>(ex);
        }
    }

    void do_resolve() {
        timer_.expires_after(options_.connect_timeout);
        timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
            if (ec || self->open_.load() || self->finished_) return;
            self->timed_out_ = true;
            self->resolver_.cancel();
            self->force_close();
        });
        resolver_.async_resolve(
            url_.host, std::to_string(url_.port),
            beast::bind_front_handler(&ClientSession::on_resolve, this->shared_from_this()));
    }

    void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
        if (ec) return fail(ec, "resolve");
        if (closing_) return fail(asio::error::operation_aborted, "connect");
        beast::get_lowest_layer(ws_).async_connect(
            results,
            beast::bind_front_handler(&ClientSession::on_connect, this->shared_from_this()));
    }

    void on_connect(beast::error_code ec, const tcp::endpoint&) {
        if (ec) return fail(ec, "connect");
        if (closing_) return fail(asio::error::operation_aborted, "connect");
        beast::error_code ignored;
        beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ignored);
        if constexpr (kIsTls<Stream>) {
            auto& tls = ws_.next_layer();
            if (!SSL_set_tlsext_host_name(tls.native_handle(), url_.host.c_str())) {
                return fail(beast::error_code(static_cast<int>(::ERR_get_error()),
                                              asio::error::get_ssl_category()),
                            "tls server name");
            }
            tls.set_verify_mode(ssl::verify_peer, ignored);
            tls.set_verify_callback(ssl::host_name_verification(url_.host), ignored);
            tls.async_handshake(ssl::stream_base::client,
                                beast::bind_front_handler(&ClientSession::on_tls_handshake,
                                                          this->shared_from_this()));
        } else {
            do_ws_handshake();
        }
    }

    void on_tls_handshake(beast::error_code ec) {
        if (ec) return fail(ec, "tls handshake");
        do_ws_handshake();
    }

    void do_ws_handshake() {
        ws_.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
            req.set(http::field::user_agent, "outpost");
        }));
        const bool default_port = url_.port == (url_.tls ? 443 : 80);
        std::string host = url_.host.find(':') != std::string::npos ? '[' + url_.host + ']' : url_.host;
        if (!default_port) host += ':' + std::to_string(url_.port);
        ws_.async_handshake(host, url_.target,
                            beast::bind_front_handler(&ClientSession::on_handshake,
                                                      this->shared_from_this()));
    }

    void on_handshake(beast::error_code ec) {
        if (ec) return fail(ec, "websocket handshake");
        timer_.cancel();
        ws_.set_option(
            websocket::stream_base::timeout{options_.connect_timeout, options_.idle_timeout, true});
        ws_.read_message_max(options_.max_message_size);
        ws_.binary(true);
        // After the server's close frame Beast waits for TCP to end, with no time limit.
        ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
            if (kind == websocket::frame_type::close) {
                peer_closed_ = true;
                arm_close_timer();
            }
        });
        open_.store(true);
        if (closing_) {
            // close() came during the attempt: finish the handshake politely, then close.
            closing_ = false;
            start_close(close_code_, close_reason_);
        } else if (callbacks_->on_open) {
            std::string error;
            if (!callbacks_->call([&] { callbacks_->on_open(); }, error)) {
                start_close(kCloseInternalError, "on_open: " + error);
            }
        }
        do_read();
    }

    // No read starts once a close is under way (Beast allows a read pending before a close, not
    // one started after it); the close's completion then ends the session.
    void do_read() {
        if (closing_ || finished_) return;
        reading_ = true;
        ws_.async_read(buffer_,
                       beast::bind_front_handler(&ClientSession::on_read, this->shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        reading_ = false;
        if (ec) return fail(ec, "read");
        if (!ws_.got_binary()) {
            buffer_.consume(buffer_.size());
            start_close(kCloseUnsupportedData, "binary frames only");
            return do_read();
        }
        if (!closing_ && callbacks_->on_message) {
            const auto data = buffer_.data();
            const std::span<const std::uint8_t> bytes(
                static_cast<const std::uint8_t*>(data.data()), data.size());
            std::string error;
            if (!callbacks_->call([&] { callbacks_->on_message(bytes); }, error)) {
                start_close(kCloseInternalError, "on_message: " + error);
            }
        }
        buffer_.consume(buffer_.size());
        do_read();
    }

    void enqueue(Message message) {
        if (closing_ || finished_) return;
        queue_.push_back(std::move(message));
        if (!writing_) do_write();
    }

    void do_write() {
        writing_ = true;
        ws_.async_write(asio::buffer(*queue_.front()),
                        beast::bind_front_handler(&ClientSession::on_write,
                                                  this->shared_from_this()));
    }

    void on_write(beast::error_code ec, std::size_t) {
        writing_ = false;
        if (!queue_.empty()) queue_.pop_front();  // fail() may have emptied it meanwhile
        if (ec) {
            // A pending read reports the close; without one, this is the end.
            if (reading_) return force_close();
            return fail(ec, "write");
        }
        if (closing_) {
            if (close_pending_) send_close();
            return;
        }
        if (!queue_.empty()) do_write();
    }

    // Queued messages go out first, then the close frame.
    void start_close(std::uint16_t code, const std::string& reason) {
        if (closing_ || finished_) return;
        closing_ = true;
        close_code_ = code;
        close_reason_ = reason;
        if (!open_.load()) {
            // Still connecting: abandon the attempt (on_handshake may yet see closing_).
            resolver_.cancel();
            force_close();
            return;
        }
        if (writing_) {
            while (queue_.size() > 1) queue_.pop_back();
            close_pending_ = true;
            return;
        }
        send_close();
    }

    void send_close() {
        close_pending_ = false;
        queue_.clear();
        ws_.async_close(make_close_reason(close_code_, close_reason_),
                        [self = this->shared_from_this()](beast::error_code ec) {
                            // With a read pending, the read reports the close.
                            if (!self->reading_) self->fail(ec, "close");
                        });
        arm_close_timer();
    }

    // The closing handshake, ours or the server's, gets connect_timeout to finish.
    void arm_close_timer() {
        timer_.expires_after(options_.connect_timeout);
        timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
            if (!ec) self->force_close();
        });
    }

    void force_close() {
        beast::error_code ignored;
        beast::get_lowest_layer(ws_).socket().close(ignored);
    }

    // The single end of a connection attempt or connection: reports on_close once.
    void fail(beast::error_code ec, const char* what) {
        if (finished_) return;
        finished_ = true;
        timer_.cancel();
        const bool was_open = open_.exchange(false);
        std::uint16_t code = kCloseAbnormal;
        std::string reason;
        if (timed_out_) {
            reason = "connect timeout";
        } else if (closing_ && was_open) {
            code = close_code_;
            reason = close_reason_;
        } else if (closing_) {
            code = close_code_;
            reason = close_reason_.empty() ? "closed before connected" : close_reason_;
        } else if (ec == websocket::error::closed || peer_closed_) {
            // A close frame without a code is reported as 1005 (no status received).
            code = ws_.reason().code != 0 ? ws_.reason().code : kCloseNoStatus;
            reason = std::string(ws_.reason().reason.c_str());
        } else if (ec == websocket::error::message_too_big) {
            code = kCloseTooBig;
            reason = "message too big";
        } else {
            reason = std::string(what) + ": " + ec.message();
        }
        force_close();
        // The message being written stays alive until its write completes.
        queue_.erase(queue_.begin() + (writing_ && !queue_.empty() ? 1 : 0), queue_.end());
        if (callbacks_->on_close) {
            std::string error;
            (void)callbacks_->call([&] { callbacks_->on_close(code, reason); }, error);
        }
    }

    asio::strand<asio::io_context::executor_type> strand_;
    tcp::resolver resolver_;
    const std::shared_ptr<ssl::context> tls_;  // outlives ws_
    websocket::stream<Stream> ws_;
    asio::steady_timer timer_;
    const WsClientOptions options_;
    const detail::WsUrl url_;
    const std::shared_ptr<Callbacks> callbacks_;
    beast::flat_buffer buffer_;
    std::deque<Message> queue_;
    std::atomic<bool> open_{false};
    bool writing_ = false;
    bool reading_ = false;
    bool peer_closed_ = false;  // the peer's close frame came (ws_.reason() holds it)
    bool closing_ = false;
    bool close_pending_ = false;
    bool finished_ = false;
    bool timed_out_ = false;
    std::uint16_t close_code_ = kCloseNormal;
    std::string close_reason_;
};

// Reports a failed attempt (a bad URL, an unreadable CA file) through on_close, like a network
// failure, so callers have one path.
void report_failure(asio::io_context& ioc, const std::shared_ptr<Callbacks>& callbacks,
                    std::string reason) {
    asio::post(ioc, [callbacks, r = std::move(reason)] {
        if (!callbacks->on_close) return;
        std::string error;
        (void)callbacks->call([&] { callbacks->on_close(kCloseAbnormal, r); }, error);
    });
}

}  // namespace

struct WsClient::Impl {
    WsClientOptions options;
    std::shared_ptr<EventLoop> loop;
    std::shared_ptr<Callbacks> callbacks = std::make_shared<Callbacks>();
    std::mutex mutex;
    std::shared_ptr<ClientConnection> connection;  // GUARDED_BY(mutex)
    std::shared_ptr<ssl::context> tls;             // GUARDED_BY(mutex)
};

WsClient::WsClient(WsClientOptions options, std::shared_ptr<EventLoop> loop)
    : impl_(std::make_shared<Impl>()) {
    impl_->options = std::move(options);
    impl_->loop = loop ? std::move(loop) : std::make_shared<EventLoop>(1);
}

WsClient::~WsClient() {
    impl_->callbacks->detach();
    std::shared_ptr<ClientConnection> c;
    {
        std::lock_guard lock(impl_->mutex);
        c = std::move(impl_->connection);
    }
    if (c) c->post_close(kCloseGoingAway, "client closing");
}

void WsClient::set_on_open(OpenHandler handler) { impl_->callbacks->on_open = std::move(handler); }
void WsClient::set_on_message(MessageHandler handler) {
    impl_->callbacks->on_message = std::move(handler);
}
void WsClient::set_on_close(CloseHandler handler) {
    impl_->callbacks->on_close = std::move(handler);
}

void WsClient::connect(std::string url_text) {
    Impl& c = *impl_;
    asio::io_context& ioc = c.loop->impl().ioc;
    if (url_text.empty()) url_text = c.options.url;
    auto url = detail::parse_ws_url(url_text);
    if (!url) {
        report_failure(ioc, c.callbacks, "bad URL '" + url_text + "'");
        return;
    }
    std::lock_guard lock(c.mutex);
    if (url->tls && !c.tls) {
        c.tls = std::make_shared<ssl::context>(ssl::context::tls_client);
        beast::error_code ec;
        if (c.options.ca_file.empty()) {
            c.tls->set_default_verify_paths(ec);
        } else {
            c.tls->load_verify_file(c.options.ca_file, ec);
        }
        if (ec) {
            c.tls.reset();
            report_failure(ioc, c.callbacks, "cannot load CA certificates: " + ec.message());
            return;
        }
    }
    if (url->tls) {
        c.connection = std::make_shared<ClientSession<TlsStream>>(ioc, c.tls, c.options,
                                                                  std::move(*url), c.callbacks);
    } else {
        c.connection = std::make_shared<ClientSession<PlainStream>>(ioc, nullptr, c.options,
                                                                    std::move(*url), c.callbacks);
    }
    c.connection->start();
}

bool WsClient::send(std::span<const std::uint8_t> bytes) {
    return send(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
}

bool WsClient::send(std::vector<std::uint8_t> bytes) {
    std::shared_ptr<ClientConnection> c;
    {
        std::lock_guard lock(impl_->mutex);
        c = impl_->connection;
    }
    if (!c) return false;
    return c->post_send(std::make_shared<const std::vector<std::uint8_t>>(std::move(bytes)));
}

void WsClient::close(std::uint16_t code, std::string reason) {
    std::shared_ptr<ClientConnection> c;
    {
        std::lock_guard lock(impl_->mutex);
        c = impl_->connection;
    }
    if (c) c->post_close(code, std::move(reason));
}

}  // namespace outpost::net
