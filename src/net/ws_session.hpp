#pragma once

// The WebSocket session that WsServer and WsClient share (internal to outpost_net: Beast types).
// One session is one connection on its own strand: it reads messages, writes a queue of messages
// whose bytes it counts, runs the closing handshake under a timer, and ends exactly once. The
// server and the client differ only in how a session starts (accept, or resolve, connect and
// handshake) and in the hooks below.

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "net/close_codes.hpp"

namespace outpost::net::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

using Message = std::shared_ptr<const std::vector<std::uint8_t>>;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

template <class Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

// A close frame's reason holds at most 123 bytes.
inline websocket::close_reason make_close_reason(std::uint16_t code, const std::string& reason) {
    websocket::close_reason r;
    r.code = code;
    r.reason.assign(reason.data(), std::min<std::size_t>(reason.size(), r.reason.max_size()));
    return r;
}

// Calls a user callback; an exception from it is returned in ERROR (false) instead of escaping.
template <class Fn>
bool call_guarded(Fn&& fn, std::string& error) {
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

// What an owner holds of a session, whatever its stream type. Thread-safe: each call queues work
// on the session's strand and never blocks on the network.
class Connection {
  public:
    virtual ~Connection() = default;
    // Queues a message; see WsSession::post_send.
    virtual void post_send(Message message) = 0;
    // Starts the closing handshake; with FLUSH, after the messages queued before it are written.
    virtual void post_close(std::uint16_t code, std::string reason, bool flush) = 0;
    // Bytes queued and not yet written to the socket.
    virtual std::size_t queued_bytes() const = 0;
    // The session was handed to its owner (on_open) and has not ended.
    virtual bool is_open() const = 0;
};

struct SessionLimits {
    // The closing handshake, ours or the peer's, must finish within this time (and so must
    // Beast's own handshakes once configure_stream() ran).
    std::chrono::milliseconds handshake_timeout;
    // Nothing received for this long ends the session; a ping goes out at half of it.
    std::chrono::milliseconds idle_timeout;
    std::size_t max_message_size;
    // Bytes queued above this close the session with kCloseSendQueueFull.
    std::size_t max_send_queue_bytes;
};

// How a session ended, as reported to its owner.
struct SessionEnd {
    std::uint16_t code;
    std::string reason;
};

// One WebSocket connection (CRTP: Derived is the server's or the client's session). Derived starts
// it on the strand and, once the WebSocket handshake is done, calls handshake_done(), mark_open()
// when its owner takes the session, and do_read(). Derived provides these hooks (called on the
// strand; Derived declares WsSession a friend):
//   bool deliver(std::span<const std::uint8_t> message, std::string& error)
//       hands a message to the owner; false with ERROR when the owner's callback threw.
//   void on_end(bool was_open, std::uint16_t code, const std::string& reason)
//       the single end of the session; WAS_OPEN: mark_open() had been called.
//   void abandon()
//       a close before the handshake is done: stop what is under way (the socket is to close).
// and may hide end_status() to describe some ends its own way.
//
// Every member is touched only on the strand, except queued_bytes_, overflowed_ and open_ (atomics
// that post_send(), post_close() and is_open() use on any thread).
template <class Derived, class Stream>
class WsSession : public Connection, public std::enable_shared_from_this<Derived> {
  public:
    // Queues MESSAGE behind the others. When the bytes queued would exceed max_send_queue_bytes,
    // the message is dropped and the session closes with kCloseSendQueueFull (once).
    void post_send(Message message) override {
        const std::size_t size = message->size();
        const std::size_t total = queued_bytes_.fetch_add(size) + size;
        if (total > limits_.max_send_queue_bytes) {
            queued_bytes_.fetch_sub(size);
            if (!overflowed_.exchange(true)) {
                post_close(kCloseSendQueueFull, "send queue full", false);
            }
            return;
        }
        asio::post(ws_.get_executor(), [self = self(), m = std::move(message)]() mutable {
            self->enqueue(std::move(m));
        });
    }

    void post_close(std::uint16_t code, std::string reason, bool flush) override {
        asio::post(ws_.get_executor(), [self = self(), code, r = std::move(reason), flush] {
            self->start_close(code, r, flush);
        });
    }

    std::size_t queued_bytes() const override { return queued_bytes_.load(); }
    bool is_open() const override { return open_.load(); }

  protected:
    // TLS: the context STREAM was made with, kept alive as long as the stream (may be null when
    // its owner outlives the session).
    WsSession(std::shared_ptr<asio::ssl::context> tls, Stream&& stream, SessionLimits limits)
        : tls_(std::move(tls)),
          ws_(std::move(stream)),
          timer_(ws_.get_executor()),
          limits_(limits) {}

    std::shared_ptr<Derived> self() { return this->shared_from_this(); }
    Derived& derived() { return static_cast<Derived&>(*this); }

    // Binary messages up to max_message_size, the timeouts, and the peer's close frame noticed as
    // it comes.
    void configure_stream() {
        ws_.set_option(
            websocket::stream_base::timeout{limits_.handshake_timeout, limits_.idle_timeout, true});
        ws_.read_message_max(limits_.max_message_size);
        ws_.binary(true);
        // After the peer's close frame Beast waits for the peer to end TCP, with no time limit: a
        // peer that never does would hold the session forever.
        ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
            if (kind == websocket::frame_type::close) {
                peer_closed_ = true;
                arm_close_timer();
            }
        });
    }

    // From now on a close sends a close frame (before, it abandons the attempt).
    void handshake_done() { handshaken_ = true; }
    // The owner has the session: messages go to it, sends are taken, the end is reported.
    void mark_open() { open_.store(true); }

    // No read starts once a close is under way (Beast allows a read pending before a close, not
    // one started after it); the close's completion then ends the session.
    void do_read() {
        if (closing_ || finished_) return;
        reading_ = true;
        ws_.async_read(buffer_,
                       [self = self()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    // Sends a close frame (after the queued messages when `flush`; otherwise only the message
    // being written goes first, Beast orders the close behind it). The pending read ends with the
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
        if (!handshaken_) {
            derived().abandon();
            return;
        }
        while (queue_.size() > (writing_ ? 1u : 0u)) {
            queued_bytes_.fetch_sub(queue_.back()->size());
            queue_.pop_back();
        }
        ws_.async_close(make_close_reason(code, reason), [self = self()](beast::error_code ec) {
            // With a read pending, the read reports the close.
            if (!self->reading_) self->fail(ec, "close");
        });
        arm_close_timer();
    }

    void force_close() {
        beast::error_code ignored;
        beast::get_lowest_layer(ws_).socket().close(ignored);
    }

    // The single end of a session: every read error comes here, once.
    void fail(beast::error_code ec, const char* what) {
        if (finished_) return;
        finished_ = true;
        timer_.cancel();
        const bool was_open = open_.exchange(false);
        SessionEnd end = derived().end_status(ec, what, was_open);
        force_close();
        // The message being written stays alive until its write completes.
        queue_.erase(queue_.begin() + (writing_ && !queue_.empty() ? 1 : 0), queue_.end());
        derived().on_end(was_open, end.code, end.reason);
    }

    // The code and reason reported for an end caused by EC in operation WHAT.
    SessionEnd end_status(beast::error_code ec, const char* what, bool was_open) {
        if (closing_) {
            if (!was_open && close_reason_.empty()) return {close_code_, "closed before connected"};
            return {close_code_, close_reason_};
        }
        if (ec == websocket::error::closed || peer_closed_) {
            // A close frame without a code is reported as 1005 (no status received).
            const websocket::close_reason& r = ws_.reason();
            return {r.code != 0 ? static_cast<std::uint16_t>(r.code) : kCloseNoStatus,
                    std::string(r.reason.c_str())};
        }
        if (ec == websocket::error::message_too_big) return {kCloseTooBig, "message too big"};
        if (ec == beast::error::timeout) return {kCloseAbnormal, std::string(what) + ": timeout"};
        return {kCloseAbnormal, std::string(what) + ": " + ec.message()};
    }

    const std::shared_ptr<asio::ssl::context> tls_;  // outlives ws_
    websocket::stream<Stream> ws_;
    // The closing handshake's timer (Derived may use it before the handshake is done).
    asio::steady_timer timer_;
    bool closing_ = false;
    bool finished_ = false;
    std::uint16_t close_code_ = kCloseAbnormal;
    std::string close_reason_;

  private:
    void on_read(beast::error_code ec) {
        reading_ = false;
        if (ec) return fail(ec, "read");
        if (!ws_.got_binary()) {
            buffer_.consume(buffer_.size());
            start_close(kCloseUnsupportedData, "binary frames only", false);
            return do_read();
        }
        if (!closing_) {
            const auto data = buffer_.data();
            const std::span<const std::uint8_t> bytes(static_cast<const std::uint8_t*>(data.data()),
                                                      data.size());
            std::string error;
            if (!derived().deliver(bytes, error)) {
                start_close(kCloseInternalError, "on_message: " + error, false);
            }
        }
        buffer_.consume(buffer_.size());
        do_read();
    }

    void enqueue(Message message) {
        if (closing_ || finished_ || !open_.load() || close_after_flush_) {
            queued_bytes_.fetch_sub(message->size());
            return;
        }
        queue_.push_back(std::move(message));
        if (!writing_) do_write();
    }

    void do_write() {
        writing_ = true;
        ws_.async_write(asio::buffer(*queue_.front()),
                        [self = self()](beast::error_code ec, std::size_t) { self->on_write(ec); });
    }

    void on_write(beast::error_code ec) {
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

    // The closing handshake, ours or the peer's, gets handshake_timeout to finish.
    void arm_close_timer() {
        timer_.expires_after(limits_.handshake_timeout);
        timer_.async_wait([self = self()](beast::error_code ec) {
            if (!ec) self->force_close();
        });
    }

    const SessionLimits limits_;
    beast::flat_buffer buffer_;
    std::deque<Message> queue_;
    std::atomic<std::size_t> queued_bytes_{0};
    std::atomic<bool> overflowed_{false};
    std::atomic<bool> open_{false};
    bool handshaken_ = false;
    bool writing_ = false;
    bool reading_ = false;
    bool peer_closed_ = false;  // the peer's close frame came (ws_.reason() holds it)
    std::optional<std::pair<std::uint16_t, std::string>> close_after_flush_;
};

}  // namespace outpost::net::detail
