#include "net/ws_server.hpp"

#include <sys/resource.h>

#include <exception>
#include <thread>
#include <utility>

#include "net/server_tls.hpp"
#include "net/url.hpp"
#include "net/ws_server_impl.hpp"

namespace outpost::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

void WsServer::Impl::run_loop() {
    for (;;) {
        try {
            ioc.run();
            return;
        } catch (const std::exception&) {
            continue;
        }
    }
}

bool WsServer::Impl::add_session(ConnectionId id, const std::shared_ptr<detail::Connection>& c) {
    MutexLock lock(mutex);
    if (stopping) return false;
    sessions.emplace(id, c);
    return true;
}

void WsServer::Impl::remove_session(ConnectionId id) {
    MutexLock lock(mutex);
    sessions.erase(id);
}

std::shared_ptr<detail::Connection> WsServer::Impl::find_session(ConnectionId id) const {
    MutexLock lock(mutex);
    auto it = sessions.find(id);
    return it == sessions.end() ? nullptr : it->second.lock();
}

bool WsServer::Impl::add_handshaking(std::uint64_t id,
                                     const std::shared_ptr<detail::Connection>& c) {
    MutexLock lock(mutex);
    if (stopping) return false;
    handshaking.emplace(id, c);
    return true;
}

void WsServer::Impl::remove_handshaking(std::uint64_t id) {
    MutexLock lock(mutex);
    handshaking.erase(id);
}

void WsServer::Impl::log(bool warn, const std::string& text) const {
    if (!options.log) return;
    try {
        options.log(warn, text);
    } catch (const std::exception&) {
        // A logger that fails loses the line; the server goes on.
    }
}

namespace {

// Descriptors run out before the connection limit is reached: say so now, not under load.
void warn_about_file_limit(const WsServer::Impl& s) {
    rlimit files{};
    if (s.options.max_connections != 0 && ::getrlimit(RLIMIT_NOFILE, &files) == 0 &&
        files.rlim_cur != RLIM_INFINITY && files.rlim_cur < s.options.max_connections + 64) {
        s.log(true, "the open-file limit (" + std::to_string(files.rlim_cur) +
                        ") is below the connection limit (" +
                        std::to_string(s.options.max_connections) +
                        ") plus a reserve of 64: raise it (ulimit -n) or lower the connection "
                        "limit");
    }
}

}  // namespace

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
        MutexLock lock(s.mutex);
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
        if (url->tls && s.options.cert_dir.empty()) {
            return Status(ErrorCode::kInvalidArgument, "wss:// needs a certificate directory");
        }
        if (url->tls && !s.tls) {
            OUTPOST_RETURN_IF_ERROR(detail::make_server_tls(s.options.cert_dir, s.tls));
        }
        urls.push_back(std::move(*url));
    }
    if (urls.empty()) return Status(ErrorCode::kInvalidArgument, "no URL to listen on");

    std::vector<std::shared_ptr<Listener>> listeners;
    tcp::resolver resolver(s.ioc);
    for (const auto& url : urls) {
        beast::error_code ec;
        auto results =
            resolver.resolve(url.host, std::to_string(url.port),
                             tcp::resolver::passive | tcp::resolver::numeric_service, ec);
        if (ec || results.empty()) {
            return Status(ErrorCode::kIo,
                          "cannot resolve " + url.host + ": " + (ec ? ec.message() : "no address"),
                          ec.value());
        }
        auto listener = std::make_shared<Listener>(s, url.tls);
        if (Status st = listener->bind(results.begin()->endpoint()); !st) {
            return Status(ErrorCode::kIo,
                          "cannot listen on " + detail::format_ws_url(url.tls, url.host, url.port) +
                              ": " + st.message(),
                          st.cause());
        }
        const tcp::endpoint local = listener->local_endpoint();
        s.bound.push_back(
            detail::format_ws_url(url.tls, local.address().to_string(), local.port()));
        listeners.push_back(std::move(listener));
    }
    warn_about_file_limit(s);
    {
        MutexLock lock(s.mutex);
        s.work.emplace(s.ioc.get_executor());
        s.listeners = listeners;
    }
    for (auto& listener : listeners) listener->run();
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
    // All under the mutex, also dropping the references to the connections: the connections may
    // end meanwhile and let run() return, and the destructor's stop() then waits here, so that the
    // last reference to a connection never goes after the I/O context.
    MutexLock lock(s.mutex);
    if (s.stopping) return;
    s.stopping = true;
    for (auto& listener : s.listeners) listener->stop();
    // Once the connections are gone the loop runs out of work and the threads end.
    s.work.reset();
    for (const auto* table : {&s.sessions, &s.handshaking}) {
        for (const auto& [id, weak] : *table) {
            if (auto c = weak.lock()) c->post_close(kCloseGoingAway, "server stopping", false);
        }
    }
}

bool WsServer::send(ConnectionId id, std::span<const std::uint8_t> bytes) {
    return send(id, std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
}

bool WsServer::send(ConnectionId id, std::vector<std::uint8_t> bytes) {
    return send_shared(id, std::make_shared<const std::vector<std::uint8_t>>(std::move(bytes)));
}

bool WsServer::send_shared(ConnectionId id,
                           std::shared_ptr<const std::vector<std::uint8_t>> message) {
    std::shared_ptr<detail::Connection> c = impl_->find_session(id);
    if (!c) return false;
    c->post_send(std::move(message));
    return true;
}

bool WsServer::close(ConnectionId id, std::uint16_t code, std::string reason) {
    std::shared_ptr<detail::Connection> c = impl_->find_session(id);
    if (!c) return false;
    c->post_close(code, std::move(reason), true);
    return true;
}

std::size_t WsServer::queued_bytes(ConnectionId id) const {
    std::shared_ptr<detail::Connection> c = impl_->find_session(id);
    return c ? c->queued_bytes() : 0;
}

std::size_t WsServer::connection_count() const {
    MutexLock lock(impl_->mutex);
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
