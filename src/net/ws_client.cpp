#include "net/ws_client.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <exception>
#include <limits>
#include <thread>
#include <utility>

#include "common/mutex.hpp"
#include "net/url.hpp"
#include "net/ws_session.hpp"

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

using detail::Message;

// The user's callbacks, shared with the sessions; detach() makes sure none runs after the client
// is gone (it waits for a running one, unless called from inside it).
struct Callbacks {
    WsClient::OpenHandler on_open;
    WsClient::MessageHandler on_message;
    WsClient::CloseHandler on_close;

    Mutex mutex;
    bool detached OUTPOST_GUARDED_BY(mutex) = false;
    std::atomic<std::thread::id> running{};

    template <class Fn>
    bool call(Fn&& fn, std::string& error) OUTPOST_EXCLUDES(mutex) {
        MutexLock lock(mutex);
        if (detached) return true;
        running.store(std::this_thread::get_id());
        const bool ok = detail::call_guarded(std::forward<Fn>(fn), error);
        running.store(std::thread::id{});
        return ok;
    }

    void detach() {
        if (running.load() == std::this_thread::get_id()) {
            mutex.assert_held();  // by this thread, in call()
            detached = true;
            return;
        }
        MutexLock lock(mutex);
        detached = true;
    }
};

// One connection attempt and, when it succeeds, the connection: resolve, connect, TLS and WebSocket
// handshakes under connect_timeout, then the shared session. Reports to the client's callbacks.
template <class Stream>
class ClientSession final : public detail::WsSession<ClientSession<Stream>, Stream> {
    using Base = detail::WsSession<ClientSession<Stream>, Stream>;
    friend Base;

  public:
    ClientSession(asio::io_context& ioc, const std::shared_ptr<ssl::context>& tls,
                  const WsClientOptions& options, detail::WsUrl url,
                  std::shared_ptr<Callbacks> callbacks)
        : Base(tls, make_stream(asio::make_strand(ioc), tls.get()), limits(options)),
          resolver_(this->ws_.get_executor()),
          options_(options),
          url_(std::move(url)),
          callbacks_(std::move(callbacks)) {}

    void start() {
        asio::dispatch(this->ws_.get_executor(), [self = this->self()] { self->do_resolve(); });
    }

  private:
    static Stream make_stream(const asio::strand<asio::io_context::executor_type>& ex,
                              ssl::context* tls) {
        if constexpr (detail::kIsTls<Stream>) {
            return Stream(beast::tcp_stream(ex), *tls);
        } else {
            return Stream(ex);
        }
    }

    // The closing handshake gets connect_timeout; the client's send queue has no bound.
    static detail::SessionLimits limits(const WsClientOptions& o) {
        return {o.connect_timeout, o.idle_timeout, o.max_message_size,
                std::numeric_limits<std::size_t>::max()};
    }

    void do_resolve() {
        this->timer_.expires_after(options_.connect_timeout);
        this->timer_.async_wait([self = this->self()](beast::error_code ec) {
            if (ec || self->is_open() || self->finished_) return;
            self->timed_out_ = true;
            self->resolver_.cancel();
            self->force_close();
        });
        resolver_.async_resolve(
            url_.host, std::to_string(url_.port),
            beast::bind_front_handler(&ClientSession::on_resolve, this->self()));
    }

    void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
        if (ec) return this->fail(ec, "resolve");
        if (this->closing_) return this->fail(asio::error::operation_aborted, "connect");
        beast::get_lowest_layer(this->ws_).async_connect(
            results, beast::bind_front_handler(&ClientSession::on_connect, this->self()));
    }

    void on_connect(beast::error_code ec, const tcp::endpoint&) {
        if (ec) return this->fail(ec, "connect");
        if (this->closing_) return this->fail(asio::error::operation_aborted, "connect");
        beast::error_code ignored;
        beast::get_lowest_layer(this->ws_).socket().set_option(tcp::no_delay(true), ignored);
        if constexpr (detail::kIsTls<Stream>) {
            auto& tls = this->ws_.next_layer();
            if (!SSL_set_tlsext_host_name(tls.native_handle(), url_.host.c_str())) {
                return this->fail(beast::error_code(static_cast<int>(::ERR_get_error()),
                                                    asio::error::get_ssl_category()),
                                  "tls server name");
            }
            tls.set_verify_mode(ssl::verify_peer, ignored);
            tls.set_verify_callback(ssl::host_name_verification(url_.host), ignored);
            tls.async_handshake(
                ssl::stream_base::client,
                beast::bind_front_handler(&ClientSession::on_tls_handshake, this->self()));
        } else {
            do_ws_handshake();
        }
    }

    void on_tls_handshake(beast::error_code ec) {
        if (ec) return this->fail(ec, "tls handshake");
        do_ws_handshake();
    }

    void do_ws_handshake() {
        this->ws_.set_option(websocket::stream_base::decorator(
            [](websocket::request_type& req) { req.set(http::field::user_agent, "outpost"); }));
        const bool default_port = url_.port == (url_.tls ? 443 : 80);
        std::string host =
            url_.host.find(':') != std::string::npos ? '[' + url_.host + ']' : url_.host;
        if (!default_port) host += ':' + std::to_string(url_.port);
        this->ws_.async_handshake(
            host, url_.target,
            beast::bind_front_handler(&ClientSession::on_handshake, this->self()));
    }

    void on_handshake(beast::error_code ec) {
        if (ec) return this->fail(ec, "websocket handshake");
        this->timer_.cancel();
        this->configure_stream();
        this->handshake_done();
        this->mark_open();
        if (this->closing_) {
            // close() came during the attempt: finish the handshake politely, then close.
            this->closing_ = false;
            this->start_close(this->close_code_, this->close_reason_, false);
        } else if (callbacks_->on_open) {
            std::string error;
            if (!callbacks_->call([&] { callbacks_->on_open(); }, error)) {
                this->start_close(kCloseInternalError, "on_open: " + error, false);
            }
        }
        this->do_read();
    }

    bool deliver(std::span<const std::uint8_t> bytes, std::string& error) {
        if (!callbacks_->on_message) return true;
        return callbacks_->call([&] { callbacks_->on_message(bytes); }, error);
    }

    // Every attempt ends with on_close, also one that never connected.
    void on_end(bool, std::uint16_t code, const std::string& reason) {
        if (!callbacks_->on_close) return;
        std::string error;
        (void)callbacks_->call([&] { callbacks_->on_close(code, reason); }, error);
    }

    // Still connecting: abandon the attempt (on_handshake may yet see closing_).
    void abandon() {
        resolver_.cancel();
        this->force_close();
    }

    detail::SessionEnd end_status(beast::error_code ec, const char* what, bool was_open) {
        if (timed_out_) return {kCloseAbnormal, "connect timeout"};
        return Base::end_status(ec, what, was_open);
    }

    tcp::resolver resolver_;
    const WsClientOptions options_;
    const detail::WsUrl url_;
    const std::shared_ptr<Callbacks> callbacks_;
    bool timed_out_ = false;  // the connect timer fired
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
    Mutex mutex;
    std::shared_ptr<detail::Connection> connection OUTPOST_GUARDED_BY(mutex);
    std::shared_ptr<ssl::context> tls OUTPOST_GUARDED_BY(mutex);
};

WsClient::WsClient(WsClientOptions options, std::shared_ptr<EventLoop> loop)
    : impl_(std::make_shared<Impl>()) {
    impl_->options = std::move(options);
    impl_->loop = loop ? std::move(loop) : std::make_shared<EventLoop>(1);
}

WsClient::~WsClient() {
    impl_->callbacks->detach();
    std::shared_ptr<detail::Connection> c;
    {
        MutexLock lock(impl_->mutex);
        c = std::move(impl_->connection);
    }
    if (c) c->post_close(kCloseGoingAway, "client closing", false);
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
    MutexLock lock(c.mutex);
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
        auto session = std::make_shared<ClientSession<detail::TlsStream>>(
            ioc, c.tls, c.options, std::move(*url), c.callbacks);
        c.connection = session;
        session->start();
    } else {
        auto session = std::make_shared<ClientSession<detail::PlainStream>>(
            ioc, nullptr, c.options, std::move(*url), c.callbacks);
        c.connection = session;
        session->start();
    }
}

bool WsClient::send(std::span<const std::uint8_t> bytes) {
    return send(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
}

bool WsClient::send(std::vector<std::uint8_t> bytes) {
    std::shared_ptr<detail::Connection> c;
    {
        MutexLock lock(impl_->mutex);
        c = impl_->connection;
    }
    if (!c || !c->is_open()) return false;
    c->post_send(std::make_shared<const std::vector<std::uint8_t>>(std::move(bytes)));
    return true;
}

void WsClient::close(std::uint16_t code, std::string reason) {
    std::shared_ptr<detail::Connection> c;
    {
        MutexLock lock(impl_->mutex);
        c = impl_->connection;
    }
    if (c) c->post_close(code, std::move(reason), false);
}

}  // namespace outpost::net
