#include "net/http_get.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "net/url.hpp"

namespace outpost::net {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

template <class Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

constexpr auto kWatchPeriod = std::chrono::milliseconds(20);
constexpr std::uint32_t kHeaderLimit = 16 * 1024;

// One GET: resolve, connect, TLS handshake (https), write, read the header, read the body. The
// deadline sits on the stream (it covers connect, handshake, write and read); a watchdog timer
// covers the lookup and the cancel flag. Every path ends in finish() with the result set.
template <class Stream>
class Fetch final : public std::enable_shared_from_this<Fetch<Stream>> {
  public:
    Fetch(asio::io_context& ioc, ssl::context* tls, const HttpGetOptions& options,
          detail::HttpUrl url)
        : options_(options),
          url_(std::move(url)),
          deadline_(Clock::now() + options.timeout),
          resolver_(ioc),
          watchdog_(ioc),
          stream_(make_stream(ioc, tls)) {
        parser_.body_limit(options_.max_body_bytes);
        parser_.header_limit(kHeaderLimit);
    }

    void start() {
        watch();
        resolver_.async_resolve(
            url_.host, std::to_string(url_.port),
            beast::bind_front_handler(&Fetch::on_resolve, this->shared_from_this()));
    }

    Result<HttpResponse> result() {
        if (!result_) return Status(ErrorCode::kInternal, "GET " + options_.url + ": no result");
        return std::move(*result_);
    }

  private:
    static Stream make_stream(asio::io_context& ioc, ssl::context* tls) {
        if constexpr (kIsTls<Stream>) {
            return Stream(beast::tcp_stream(ioc), *tls);
        } else {
            return Stream(ioc);
        }
    }

    // Ends the request once the deadline passed or *cancel turned true: whatever is pending
    // completes with an error and reaches fail().
    void watch() {
        watchdog_.expires_after(kWatchPeriod);
        watchdog_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
            if (ec || self->result_) return;
            const bool cancelled =
                self->options_.cancel != nullptr && self->options_.cancel->load();
            if (cancelled || Clock::now() >= self->deadline_) {
                self->stopped_ = cancelled ? Stop::kCancelled : Stop::kTimedOut;
                self->resolver_.cancel();
                beast::get_lowest_layer(self->stream_).cancel();
                return;
            }
            self->watch();
        });
    }

    void on_resolve(beast::error_code ec, const tcp::resolver::results_type& results) {
        if (ec) return fail(ec, "resolve");
        auto& tcp_stream = beast::get_lowest_layer(stream_);
        tcp_stream.expires_at(deadline_);
        tcp_stream.async_connect(
            results, beast::bind_front_handler(&Fetch::on_connect, this->shared_from_this()));
    }

    void on_connect(beast::error_code ec, const tcp::endpoint&) {
        if (ec) return fail(ec, "connect");
        if constexpr (kIsTls<Stream>) {
            // SNI carries names only (RFC 6066); the certificate check covers IP addresses too.
            beast::error_code not_ip;
            (void)asio::ip::make_address(url_.host, not_ip);
            if (not_ip && !SSL_set_tlsext_host_name(stream_.native_handle(), url_.host.c_str())) {
                return fail(beast::error_code(static_cast<int>(::ERR_get_error()),
                                              asio::error::get_ssl_category()),
                            "tls server name");
            }
            beast::error_code ignored;
            stream_.set_verify_mode(ssl::verify_peer, ignored);
            stream_.set_verify_callback(ssl::host_name_verification(url_.host), ignored);
            stream_.async_handshake(
                ssl::stream_base::client,
                beast::bind_front_handler(&Fetch::on_handshake, this->shared_from_this()));
        } else {
            do_write();
        }
    }

    void on_handshake(beast::error_code ec) {
        if (ec) return fail(ec, "tls handshake");
        do_write();
    }

    void do_write() {
        std::string host =
            url_.host.find(':') != std::string::npos ? '[' + url_.host + ']' : url_.host;
        if (url_.port != (url_.tls ? 443 : 80)) host += ':' + std::to_string(url_.port);
        request_ = {http::verb::get, url_.target, 11};
        request_.set(http::field::host, host);
        request_.set(http::field::user_agent, "outpost");
        request_.set(http::field::accept, "application/json");
        request_.set(http::field::connection, "close");
        http::async_write(stream_, request_,
                          beast::bind_front_handler(&Fetch::on_write, this->shared_from_this()));
    }

    void on_write(beast::error_code ec, std::size_t) {
        if (ec) return fail(ec, "write");
        http::async_read_header(
            stream_, buffer_, parser_,
            beast::bind_front_handler(&Fetch::on_header, this->shared_from_this()));
    }

    void on_header(beast::error_code ec, std::size_t) {
        if (ec) return fail(ec, "read");
        const unsigned status = parser_.get().result_int();
        if (status != 200) {
            std::string why = "HTTP " + std::to_string(status);
            if (status >= 300 && status < 400) why += " (redirects are not followed)";
            return finish(Status(ErrorCode::kIo, "GET " + options_.url + ": " + why));
        }
        http::async_read(stream_, buffer_, parser_,
                         beast::bind_front_handler(&Fetch::on_read, this->shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec) return fail(ec, "read");
        HttpResponse response;
        response.status = parser_.get().result_int();
        response.body = std::move(parser_.get().body());
        finish(std::move(response));
    }

    void fail(beast::error_code ec, const char* what) {
        std::string why;
        if (stopped_ == Stop::kCancelled) {
            why = "cancelled";
        } else if (stopped_ == Stop::kTimedOut || ec == beast::error::timeout) {
            why = "timed out after " + std::to_string(options_.timeout.count()) + " ms";
        } else if (ec == http::error::body_limit) {
            why = "body above " + std::to_string(options_.max_body_bytes) + " bytes";
        } else if (ec == http::error::header_limit) {
            why = "header above " + std::to_string(kHeaderLimit) + " bytes";
        } else {
            why = std::string(what) + ": " + ec.message();
        }
        finish(Status(ErrorCode::kIo, "GET " + options_.url + ": " + why, ec.value()));
    }

    void finish(Result<HttpResponse> result) {
        result_ = std::move(result);
        watchdog_.cancel();
        beast::error_code ignored;
        beast::get_lowest_layer(stream_).socket().close(ignored);
    }

    const HttpGetOptions& options_;
    const detail::HttpUrl url_;
    const Clock::time_point deadline_;
    tcp::resolver resolver_;
    asio::steady_timer watchdog_;
    Stream stream_;
    beast::flat_buffer buffer_;
    http::request<http::empty_body> request_;
    http::response_parser<http::string_body> parser_;
    enum class Stop { kNo, kTimedOut, kCancelled };
    Stop stopped_ = Stop::kNo;  // set when the watchdog ends the request
    std::optional<Result<HttpResponse>> result_;
};

template <class Stream>
Result<HttpResponse> run(ssl::context* tls, const HttpGetOptions& options, detail::HttpUrl url) {
    asio::io_context ioc;
    auto fetch = std::make_shared<Fetch<Stream>>(ioc, tls, options, std::move(url));
    fetch->start();
    ioc.run();
    return fetch->result();
}

}  // namespace

Result<HttpResponse> http_get(const HttpGetOptions& options) {
    auto url = detail::parse_http_url(options.url);
    if (!url) {
        return Status(ErrorCode::kInvalidArgument,
                      "'" + options.url + "' is not an http(s)://HOST[:PORT][/PATH] URL");
    }
    if (!url->tls) return run<PlainStream>(nullptr, options, std::move(*url));
    ssl::context tls(ssl::context::tls_client);
    beast::error_code ec;
    if (options.ca_file.empty()) {
        tls.set_default_verify_paths(ec);
    } else {
        tls.load_verify_file(options.ca_file, ec);
    }
    if (ec) {
        return Status(ErrorCode::kIo,
                      "GET " + options.url + ": cannot load CA certificates" +
                          (options.ca_file.empty() ? "" : " from " + options.ca_file) + ": " +
                          ec.message(),
                      ec.value());
    }
    return run<TlsStream>(&tls, options, std::move(*url));
}

}  // namespace outpost::net
