#include "server.hpp"

#include <sys/resource.h>

#include <boost/asio.hpp>
#include <cstdio>
#include <deque>
#include <functional>
#include <iostream>

#include "log.hpp"
#include "wire.hpp"

namespace standin {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

std::atomic<int32_t> g_next_connection_id{1};

// Group commit: replies to commands whose log records are not yet on disk wait here; one
// write + fdatasync per event-loop turn releases all of them.
class Committer {
  public:
    Committer(asio::io_context& io, Engine& engine) : io_(io), engine_(engine) {}

    // Runs `done(true)` once everything logged so far is durable (at once without a log), or
    // `done(false)` when the log could not be written.
    void after_durable(std::function<void(bool)> done) {
        if (!engine_.log_pending() && waiting_.empty()) return done(true);
        waiting_.push_back(std::move(done));
        if (scheduled_) return;
        scheduled_ = true;
        asio::post(io_, [this] {
            scheduled_ = false;
            bool ok = engine_.flush_log().ok();
            auto waiting = std::move(waiting_);
            waiting_.clear();
            for (auto& f : waiting) f(ok);
        });
    }

  private:
    asio::io_context& io_;
    Engine& engine_;
    std::vector<std::function<void(bool)>> waiting_;
    bool scheduled_ = false;
};

class Connection : public std::enable_shared_from_this<Connection> {
  public:
    Connection(tcp::socket sock, Engine& engine, Committer& committer)
        : sock_(std::move(sock)),
          engine_(engine),
          committer_(committer),
          timer_(sock_.get_executor()) {
        info_.connection_id = g_next_connection_id++;
        boost::system::error_code ec;
        auto ep = sock_.remote_endpoint(ec);
        if (!ec) info_.peer = ep.address().to_string() + ":" + std::to_string(ep.port());
        sock_.set_option(tcp::no_delay(true), ec);
    }

    void start() { read_header(); }

  private:
    void read_header() {
        auto self = shared_from_this();
        asio::async_read(sock_, asio::buffer(header_),
                         [self](boost::system::error_code ec, std::size_t) {
                             if (ec) return self->close();
                             self->on_header();
                         });
    }

    void on_header() {
        auto h = parse_header(header_);
        if (!h.ok()) {
            log_info("closing connection " + std::to_string(info_.connection_id) + ": " +
                     h.error().msg);
            return close();
        }
        header_info_ = h.value();
        body_.resize(static_cast<size_t>(header_info_.length) - kHeaderSize);
        auto self = shared_from_this();
        asio::async_read(sock_, asio::buffer(body_),
                         [self](boost::system::error_code ec, std::size_t) {
                             if (ec) return self->close();
                             self->on_body();
                         });
    }

    void on_body() {
        ParseFailure failure;
        auto r = parse_message(header_info_, body_.data(), body_.size(), &failure);
        if (!r.ok()) {
            if (!failure.reply) {
                log_info("closing connection " + std::to_string(info_.connection_id) + ": " +
                         r.error().msg);
                return close();
            }
            Doc reply = error_reply(failure.error);
            return send(header_info_.opcode == kOpQuery
                            ? build_op_reply(next_id(), header_info_.request_id, reply.get())
                            : build_op_msg(next_id(), header_info_.request_id, reply.get()),
                        0);
        }
        request_ = std::move(r.value());
        deadline_ = Clock::time_point{};
        execute(false);
    }

    static Doc error_reply(const Error& e) {
        Doc d;
        BSON_APPEND_DOUBLE(d.get(), "ok", 0.0);
        append_str(d.get(), "errmsg", e.msg);
        BSON_APPEND_INT32(d.get(), "code", e.code);
        append_str(d.get(), "codeName", code_name(e.code));
        return d;
    }

    void execute(bool rerun) {
        Outcome o = engine_.run(request_, info_, rerun, deadline_);
        if (o.close) return close();
        if (o.park) {
            deadline_ = o.park_until;
            std::weak_ptr<Connection> weak = shared_from_this();
            waiter_ = engine_.add_waiter([weak] {
                if (auto s = weak.lock()) s->timer_.cancel();
            });
            timer_.expires_at(deadline_);
            auto self = shared_from_this();
            timer_.async_wait([self](boost::system::error_code) {
                self->engine_.remove_waiter(self->waiter_);
                if (!self->sock_.is_open()) return;
                self->execute(true);
            });
            return;
        }
        std::string bytes;
        if (!request_.more_to_come) {
            bytes = request_.opcode == kOpQuery
                        ? build_op_reply(next_id(), request_.request_id, o.reply.get())
                        : build_op_msg(next_id(), request_.request_id, o.reply.get());
        }
        auto self = shared_from_this();
        committer_.after_durable(
            [self, bytes = std::move(bytes), delay = o.delay_ms](bool durable) mutable {
                if (!durable) return self->close();  // never acknowledge what is not on disk
                if (self->request_.more_to_come) return self->read_header();
                self->send(std::move(bytes), delay);
            });
    }

    void send(std::string bytes, int64_t delay_ms) {
        out_ = std::move(bytes);
        auto self = shared_from_this();
        auto do_write = [self] {
            asio::async_write(self->sock_, asio::buffer(self->out_),
                              [self](boost::system::error_code ec, std::size_t) {
                                  if (ec) return self->close();
                                  self->read_header();
                              });
        };
        if (delay_ms > 0) {
            timer_.expires_after(std::chrono::milliseconds(delay_ms));
            timer_.async_wait([self, do_write](boost::system::error_code) { do_write(); });
        } else {
            do_write();
        }
    }

    void close() {
        boost::system::error_code ec;
        timer_.cancel();
        sock_.shutdown(tcp::socket::shutdown_both, ec);
        sock_.close(ec);
    }

    static int32_t next_id() {
        static int32_t id = 1;
        return id++;
    }

    tcp::socket sock_;
    Engine& engine_;
    Committer& committer_;
    asio::steady_timer timer_;
    ConnInfo info_;
    uint8_t header_[kHeaderSize] = {};
    MsgHeader header_info_;
    std::vector<uint8_t> body_;
    Request request_;
    Clock::time_point deadline_{};
    uint64_t waiter_ = 0;
    std::string out_;
};

void raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

}  // namespace

struct Server::Impl {
    explicit Impl(Options o)
        : engine(std::move(o)),
          committer(io, engine),
          acceptor(io),
          signals(io, SIGTERM, SIGINT),
          ticker(io) {}

    void accept() {
        acceptor.async_accept([this](boost::system::error_code ec, tcp::socket sock) {
            if (ec) {
                if (ec == asio::error::operation_aborted) return;
                log_error("accept: " + ec.message());
            } else {
                std::make_shared<Connection>(std::move(sock), engine, committer)->start();
            }
            accept();
        });
    }

    void tick() {
        ticker.expires_after(std::chrono::seconds(1));
        ticker.async_wait([this](boost::system::error_code ec) {
            if (ec) return;
            engine.tick();
            tick();
        });
    }

    Engine engine;
    asio::io_context io{1};
    Committer committer;
    tcp::acceptor acceptor;
    asio::signal_set signals;
    asio::steady_timer ticker;
};

Server::Server(Options opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}
Server::~Server() = default;

int Server::run() {
    Impl& s = *impl_;
    raise_fd_limit();
    auto st = s.engine.open();
    if (!st.ok()) {
        log_error("cannot open data directory: " + st.error().msg);
        return 1;
    }
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(s.engine.options().bind, ec);
    if (ec) {
        log_error("bad --bind address " + s.engine.options().bind);
        return 2;
    }
    tcp::endpoint ep(addr, s.engine.options().port);
    s.acceptor.open(ep.protocol(), ec);
    if (!ec) s.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) s.acceptor.bind(ep, ec);
    if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        log_error("cannot listen on " + s.engine.options().bind + ":" +
                  std::to_string(s.engine.options().port) + ": " + ec.message());
        return 1;
    }
    auto local = s.acceptor.local_endpoint();
    std::string host_port = local.address().to_string() + ":" + std::to_string(local.port());
    s.engine.set_advertised(host_port);
    s.signals.async_wait([&s](boost::system::error_code, int sig) {
        log_info("signal " + std::to_string(sig) + ": shutting down");
        boost::system::error_code ignored;
        s.acceptor.close(ignored);
        s.io.stop();
    });
    s.accept();
    s.tick();
    std::printf("listening on %s\n", host_port.c_str());
    std::fflush(stdout);
    s.io.run();
    s.engine.tick();  // flushes the write-ahead log
    return 0;
}

}  // namespace standin
