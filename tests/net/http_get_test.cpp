#include "net/http_get.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "common/process.hpp"
#include "common/status_macros.hpp"
#include "net_test_util.hpp"

namespace outpost::net::test {
namespace {

using outpost::test::LoopbackListener;

// A WsServer on 127.0.0.1 (ws:// or, with CERT_DIR, wss://); it answers GET /health itself.
struct HealthServer {
    explicit HealthServer(const std::string& cert_dir = "") : server(options(cert_dir)) {
        const Status st = server.start();
        EXPECT_OK(st);
        if (st.is_ok()) port = port_of(server.bound_urls().at(0));
    }
    static WsServerOptions options(const std::string& cert_dir) {
        WsServerOptions o;
        o.urls = {cert_dir.empty() ? "ws://127.0.0.1:0" : "wss://127.0.0.1:0"};
        o.cert_dir = cert_dir;
        return o;
    }
    std::string url(const std::string& scheme, const std::string& path,
                    const std::string& host = "127.0.0.1") const {
        return scheme + "://" + host + ":" + std::to_string(port) + path;
    }
    WsServer server;
    std::uint16_t port = 0;
};

HttpGetOptions get(std::string url, std::string ca_file = "") {
    HttpGetOptions o;
    o.url = std::move(url);
    o.ca_file = std::move(ca_file);
    return o;
}

TEST(HttpGet, GetsHealthOverHttp) {
    HealthServer s;
    ASSERT_NE(s.port, 0);
    ASSERT_OK_AND_ASSIGN(HttpResponse r, http_get(get(s.url("http", "/health"))));
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, "outpost\n");
}

TEST(HttpGet, GetsHealthOverHttpsTrustingTheServersCertificate) {
    CertDir certs;
    ASSERT_TRUE(certs.ok());
    HealthServer s(certs.path());
    ASSERT_NE(s.port, 0);
    ASSERT_OK_AND_ASSIGN(HttpResponse r, http_get(get(s.url("https", "/health"), certs.cert())));
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, "outpost\n");
    // By name: the name goes out as SNI and is checked against the certificate's DNS entry.
    ASSERT_OK_AND_ASSIGN(r, http_get(get(s.url("https", "/health", "localhost"), certs.cert())));
    EXPECT_EQ(r.body, "outpost\n");
}

TEST(HttpGet, AnotherCaFailsWithIo) {
    CertDir certs;
    CertDir other;
    ASSERT_TRUE(certs.ok() && other.ok());
    HealthServer s(certs.path());
    auto r = http_get(get(s.url("https", "/health"), other.cert()));
    EXPECT_CODE(r, ErrorCode::kIo);
    EXPECT_NE(r.status().message().find("tls handshake"), std::string::npos)
        << r.status().to_string();
}

TEST(HttpGet, ACertificateForAnotherHostFailsWithIo) {
    CertDir certs("DNS:example.com");
    ASSERT_TRUE(certs.ok());
    HealthServer s(certs.path());
    auto r = http_get(get(s.url("https", "/health"), certs.cert()));
    EXPECT_CODE(r, ErrorCode::kIo);
    EXPECT_NE(r.status().message().find("tls handshake"), std::string::npos)
        << r.status().to_string();
}

TEST(HttpGet, APeerThatNeverAnswersTimesOut) {
    LoopbackListener silent;  // connect completes in the backlog; nobody reads or writes
    ASSERT_NE(silent.port(), 0);
    for (const std::string scheme : {"http", "https"}) {
        HttpGetOptions o = get(scheme + "://127.0.0.1:" + std::to_string(silent.port()) + "/");
        o.timeout = std::chrono::milliseconds(200);
        auto r = http_get(o);
        EXPECT_CODE(r, ErrorCode::kIo);
        EXPECT_NE(r.status().message().find("timed out after 200 ms"), std::string::npos)
            << r.status().to_string();
    }
}

TEST(HttpGet, ACancelFlagEndsTheRequest) {
    LoopbackListener silent;
    ASSERT_NE(silent.port(), 0);
    std::atomic<bool> cancel{true};
    HttpGetOptions o = get("http://127.0.0.1:" + std::to_string(silent.port()) + "/");
    o.timeout = std::chrono::hours(1);
    o.cancel = &cancel;
    auto r = http_get(o);
    EXPECT_CODE(r, ErrorCode::kIo);
    EXPECT_NE(r.status().message().find("cancelled"), std::string::npos) << r.status().to_string();
}

TEST(HttpGet, ABodyOverTheLimitFails) {
    HealthServer s;
    HttpGetOptions o = get(s.url("http", "/health"));
    o.max_body_bytes = 4;
    auto r = http_get(o);
    EXPECT_CODE(r, ErrorCode::kIo);
    EXPECT_NE(r.status().message().find("body above 4 bytes"), std::string::npos)
        << r.status().to_string();
    o.max_body_bytes = 8;  // exactly "outpost\n"
    EXPECT_OK(http_get(o));
}

TEST(HttpGet, AStatusOtherThan200Fails) {
    HealthServer s;
    auto r = http_get(get(s.url("http", "/no-such-page")));
    EXPECT_CODE(r, ErrorCode::kIo);
    EXPECT_NE(r.status().message().find("HTTP 404"), std::string::npos) << r.status().to_string();
}

TEST(HttpGet, ARefusedConnectionFailsWithIo) {
    std::uint16_t port = 0;
    {
        LoopbackListener closed;
        port = closed.port();
    }
    ASSERT_NE(port, 0);
    auto r = http_get(get("http://127.0.0.1:" + std::to_string(port) + "/"));
    EXPECT_CODE(r, ErrorCode::kIo);
    EXPECT_NE(r.status().message().find("connect"), std::string::npos) << r.status().to_string();
}

TEST(HttpGet, ABadUrlIsInvalidArgument) {
    for (const char* url :
         {"", "ftp://127.0.0.1/", "ws://127.0.0.1:1/", "http://", "http://:80/", "http://a:0/",
          "http://a:99999/", "http://user@a/", "http://a/ b", "http://a/\r\nX: y"}) {
        SCOPED_TRACE(url);
        EXPECT_CODE(http_get(get(url)), ErrorCode::kInvalidArgument);
    }
}

TEST(HttpGet, AMissingCaFileFailsWithIo) {
    auto r = http_get(get("https://127.0.0.1:1/", "/nonexistent/ca.pem"));
    EXPECT_CODE(r, ErrorCode::kIo);
    EXPECT_NE(r.status().message().find("CA certificates"), std::string::npos)
        << r.status().to_string();
}

}  // namespace
}  // namespace outpost::net::test
