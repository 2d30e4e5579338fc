#include "net/http_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>

#include "common/status_macros.hpp"
#include "net/http_get.hpp"
#include "net/url.hpp"
#include "net_test_util.hpp"

namespace outpost::net::test {
namespace {

// A server whose handler echoes what it saw (method, target, a header, body size) and records the
// last request.
struct EchoHttpServer {
    explicit EchoHttpServer(HttpServerOptions o = {}) : server(with_url(std::move(o)), handler()) {
        const Status st = server.start();
        EXPECT_OK(st) << st.message();
        if (st.is_ok()) {
            url = server.bound_url();
            port = detail::parse_http_listen_url(url).value().port;
        }
    }
    static HttpServerOptions with_url(HttpServerOptions o) {
        if (o.url.empty()) o.url = "http://127.0.0.1:0";
        return o;
    }
    HttpServer::Handler handler() {
        return [this](const HttpServerRequest& r) {
            {
                std::lock_guard lock(mutex);
                last = r;
                ++calls;
            }
            if (r.target == "/throw") throw std::runtime_error("boom");
            HttpServerResponse out;
            out.status = r.target == "/missing" ? 404 : 200;
            out.headers.emplace_back("Content-Type", "text/plain");
            out.headers.emplace_back("X-Evil", "a\r\nInjected: yes");
            out.headers.emplace_back("Set-Cookie", "a=1");
            out.headers.emplace_back("Set-Cookie", "b=2");
            const std::string* agent = r.header("x-test");
            out.body = r.method + " " + r.target + " " + (agent ? *agent : "-") + " " +
                       std::to_string(r.body.size());
            return out;
        };
    }
    HttpServerRequest last_request() {
        std::lock_guard lock(mutex);
        return last;
    }

    std::mutex mutex;
    HttpServerRequest last;
    std::atomic<int> calls{0};
    std::string url;
    std::uint16_t port = 0;
    HttpServer server;  // last: stopped first
};

// One HTTP/1.1 answer read off a raw socket (Content-Length bodies only).
struct RawAnswer {
    int status = 0;
    std::string head;
    std::string body;
};

RawAnswer read_answer(RawSocket& s) {
    RawAnswer a;
    a.head = s.read_until("\r\n\r\n");
    if (a.head.size() < 12) return a;
    a.status = std::stoi(a.head.substr(9, 3));
    const auto at = a.head.find("Content-Length: ");
    if (at != std::string::npos) {
        a.body = s.read_some_bytes(std::stoul(a.head.substr(at + 16)));
    }
    return a;
}

TEST(HttpServer, AnswersWithTheHandlersResponse) {
    EchoHttpServer s;
    ASSERT_TRUE(s.url.starts_with("http://127.0.0.1:")) << s.url;
    RawSocket c(s.port);
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(
        c.write_all("POST /a/b?x=1%20 HTTP/1.1\r\nHost: h\r\nX-Test: yes\r\nCookie: a=1\r\n"
                    "Cookie: b=2\r\nContent-Length: 5\r\n\r\nhello"));
    RawAnswer a = read_answer(c);
    EXPECT_EQ(a.status, 200) << a.head;
    EXPECT_EQ(a.body, "POST /a/b?x=1%20 yes 5");
    EXPECT_NE(a.head.find("Set-Cookie: a=1\r\n"), std::string::npos) << a.head;
    EXPECT_NE(a.head.find("Set-Cookie: b=2\r\n"), std::string::npos) << a.head;
    // A header value with a line break is dropped, never sent as two headers.
    EXPECT_EQ(a.head.find("Injected"), std::string::npos) << a.head;
    HttpServerRequest r = s.last_request();
    EXPECT_EQ(r.body, "hello");
    EXPECT_EQ(r.remote_address, "127.0.0.1");
    EXPECT_FALSE(r.tls);
    ASSERT_NE(r.header("cookie"), nullptr);
    EXPECT_EQ(*r.header("cookie"), "a=1; b=2");
    EXPECT_EQ(*r.header("host"), "h");
}

TEST(HttpServer, KeepsTheConnectionAliveForSeveralRequests) {
    EchoHttpServer s;
    RawSocket c(s.port);
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(c.write_all("GET /n" + std::to_string(i) + " HTTP/1.1\r\nHost: h\r\n\r\n"));
        RawAnswer a = read_answer(c);
        EXPECT_EQ(a.status, 200);
        EXPECT_EQ(a.body, "GET /n" + std::to_string(i) + " - 0");
    }
    // Pipelined: both answered, in order.
    ASSERT_TRUE(
        c.write_all("GET /p1 HTTP/1.1\r\nHost: h\r\n\r\nGET /missing HTTP/1.1\r\nHost: "
                    "h\r\nConnection: close\r\n\r\n"));
    EXPECT_EQ(read_answer(c).body, "GET /p1 - 0");
    RawAnswer last = read_answer(c);
    EXPECT_EQ(last.status, 404);
    EXPECT_NE(last.head.find("Connection: close"), std::string::npos) << last.head;
    EXPECT_TRUE(c.wait_eof());
}

TEST(HttpServer, MalformedRequestGets400AndTheConnectionCloses) {
    EchoHttpServer s;
    RawSocket c(s.port);
    ASSERT_TRUE(c.write_all("THIS IS NOT HTTP\r\n\r\n"));
    EXPECT_EQ(read_answer(c).status, 400);
    EXPECT_TRUE(c.wait_eof());

    RawSocket absolute(s.port);
    ASSERT_TRUE(absolute.write_all("GET http://evil/ HTTP/1.1\r\nHost: h\r\n\r\n"));
    EXPECT_EQ(read_answer(absolute).status, 400);
    EXPECT_TRUE(absolute.wait_eof());
    EXPECT_EQ(s.calls, 0);
}

TEST(HttpServer, OversizedBodyGets413AndOversizedHeader431) {
    HttpServerOptions o;
    o.max_body_bytes = 1000;
    EchoHttpServer s(o);
    RawSocket c(s.port);
    ASSERT_TRUE(c.write_all("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n" +
                            std::string(1001, 'x')));
    EXPECT_EQ(read_answer(c).status, 413);
    EXPECT_TRUE(c.wait_eof());

    RawSocket big_header(s.port);
    ASSERT_TRUE(big_header.write_all(
        "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(17 * 1024, 'y') + "\r\n\r\n"));
    EXPECT_EQ(read_answer(big_header).status, 431);
    EXPECT_TRUE(big_header.wait_eof());

    // A body at the limit is served.
    RawSocket fits(s.port);
    ASSERT_TRUE(fits.write_all("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n" +
                               std::string(1000, 'x')));
    EXPECT_EQ(read_answer(fits).body, "POST / - 1000");
}

TEST(HttpServer, AHandlerThatThrowsGives500AndTheServerGoesOn) {
    EchoHttpServer s;
    RawSocket c(s.port);
    ASSERT_TRUE(c.write_all("GET /throw HTTP/1.1\r\nHost: h\r\n\r\n"));
    EXPECT_EQ(read_answer(c).status, 500);
    ASSERT_TRUE(c.write_all("GET /ok HTTP/1.1\r\nHost: h\r\n\r\n"));
    EXPECT_EQ(read_answer(c).body, "GET /ok - 0");
}

TEST(HttpServer, ClosesAConnectionThatSendsNothingWithinTheReadTimeout) {
    HttpServerOptions o;
    o.read_timeout = std::chrono::milliseconds(200);
    EchoHttpServer s(o);
    RawSocket idle(s.port);
    ASSERT_TRUE(idle.connected());
    EXPECT_TRUE(idle.wait_eof());  // the socket's own receive timeout (5 s) is far above 200 ms
    // A half request is cut too.
    RawSocket slow(s.port);
    ASSERT_TRUE(slow.write_all("GET / HTTP/1.1\r\nHost: "));
    EXPECT_TRUE(slow.wait_eof());
    EXPECT_EQ(s.calls, 0);
}

TEST(HttpServer, RefusesConnectionsAboveTheCap) {
    HttpServerOptions o;
    o.max_connections = 2;
    EchoHttpServer s(o);
    RawSocket a(s.port);
    RawSocket b(s.port);
    ASSERT_TRUE(a.write_all("GET /a HTTP/1.1\r\nHost: h\r\n\r\n"));
    ASSERT_TRUE(b.write_all("GET /b HTTP/1.1\r\nHost: h\r\n\r\n"));
    ASSERT_EQ(read_answer(a).status, 200);
    ASSERT_EQ(read_answer(b).status, 200);
    RawSocket third(s.port);
    EXPECT_EQ(read_answer(third).status, 503);
    EXPECT_TRUE(third.wait_eof());
    // Once one closes, a new connection is served.
    a.shutdown();
    Waiter w;
    ASSERT_TRUE(w.wait_for([&] { return s.server.connection_count() < 2; }));
    RawSocket fourth(s.port);
    ASSERT_TRUE(fourth.write_all("GET /d HTTP/1.1\r\nHost: h\r\n\r\n"));
    EXPECT_EQ(read_answer(fourth).body, "GET /d - 0");
}

TEST(HttpServer, RefusesBadUrlsAndATakenPort) {
    for (const char* bad : {"ws://127.0.0.1:0", "http://127.0.0.1", "http://127.0.0.1:0/admin",
                            "http://:0", "127.0.0.1:0", "http://127.0.0.1:99999"}) {
        HttpServerOptions o;
        o.url = bad;
        HttpServer server(o, nullptr);
        const Status st = server.start();
        EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << bad << ": " << st.message();
    }
    EchoHttpServer first;
    HttpServerOptions o;
    o.url = first.url;
    HttpServer second(o, nullptr);
    const Status st = second.start();
    EXPECT_EQ(st.code(), ErrorCode::kIo);
    EXPECT_EQ(st.cause(), EADDRINUSE) << st.message();
    EXPECT_NE(st.message().find(first.url), std::string::npos) << st.message();

    HttpServerOptions no_cert;
    no_cert.url = "https://127.0.0.1:0";
    HttpServer tls_server(no_cert, nullptr);
    EXPECT_EQ(tls_server.start().code(), ErrorCode::kInvalidArgument);
}

TEST(HttpServer, ServesHttpsWithACertificateDirectory) {
    CertDir certs;
    ASSERT_TRUE(certs.ok());
    HttpServerOptions o;
    o.url = "https://127.0.0.1:0";
    o.cert_dir = certs.path();
    EchoHttpServer s(o);
    ASSERT_TRUE(s.url.starts_with("https://127.0.0.1:")) << s.url;

    HttpGetOptions get;
    get.url = s.url + "/over/tls";
    get.ca_file = certs.cert();
    auto answer = http_get(get);
    ASSERT_OK(answer);
    EXPECT_EQ(answer->body, "GET /over/tls - 0");
    EXPECT_TRUE(s.last_request().tls);

    // Plain HTTP on the TLS port is not a request.
    RawSocket plain(s.port);
    ASSERT_TRUE(plain.write_all("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    EXPECT_TRUE(plain.wait_eof());
    EXPECT_EQ(s.calls, 1);
}

}  // namespace
}  // namespace outpost::net::test
