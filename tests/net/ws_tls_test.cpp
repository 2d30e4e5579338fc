#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/status_macros.hpp"
#include "net_test_util.hpp"

namespace outpost::net::test {
namespace {

namespace fs = std::filesystem;

struct TlsEchoServer {
    explicit TlsEchoServer(const std::string& cert_dir) : server(options(cert_dir)) {
        server.set_on_message([this](ConnectionId id, std::span<const std::uint8_t> bytes) {
            server.send(id, bytes);
        });
        const Status st = server.start();
        EXPECT_OK(st) << st.message();
        if (st.is_ok()) url = server.bound_urls().at(0);
    }
    static WsServerOptions options(const std::string& cert_dir) {
        WsServerOptions o;
        o.urls = {"wss://127.0.0.1:0"};
        o.cert_dir = cert_dir;
        return o;
    }
    std::string url;
    WsServer server;
};

TEST(WsTls, EchoesOverWssWithATrustedSelfSignedCertificate) {
    CertDir certs;
    ASSERT_TRUE(certs.ok());
    TlsEchoServer s(certs.path());
    ASSERT_TRUE(s.url.starts_with("wss://127.0.0.1:")) << s.url;

    WsClientOptions options;
    options.url = s.url;
    options.ca_file = certs.cert();
    RecordingClient c(options);
    c.client.connect();
    ASSERT_TRUE(c.wait_open()) << c.close_reason;
    const Bytes big = pattern(1u << 20);
    ASSERT_TRUE(c.client.send(Bytes{}));
    ASSERT_TRUE(c.client.send(big));
    ASSERT_TRUE(c.wait_messages(2));
    std::lock_guard lock(c.waiter.mutex());
    EXPECT_TRUE(c.messages[0].empty());
    EXPECT_EQ(c.messages[1], big);
}

TEST(WsTls, RefusesAnUntrustedCertificate) {
    CertDir certs;
    CertDir other;
    ASSERT_TRUE(certs.ok() && other.ok());
    TlsEchoServer s(certs.path());

    WsClientOptions options;
    options.url = s.url;
    options.ca_file = other.cert();
    RecordingClient c(options);
    c.client.connect();
    ASSERT_TRUE(c.wait_close());
    EXPECT_FALSE(c.opened);
    EXPECT_EQ(c.close_code, kCloseAbnormal);
    EXPECT_NE(c.close_reason.find("tls"), std::string::npos) << c.close_reason;
}

TEST(WsTls, GarbageAndPlainWebSocketOnTheTlsPortAreRejected) {
    CertDir certs;
    ASSERT_TRUE(certs.ok());
    TlsEchoServer s(certs.path());
    {
        RawSocket raw(port_of(s.url));
        EXPECT_FALSE(raw.websocket_handshake());
    }
    WsClientOptions options;
    options.url = s.url;
    options.ca_file = certs.cert();
    RecordingClient c(options);
    c.client.connect();
    ASSERT_TRUE(c.wait_open()) << c.close_reason;
}

TEST(WsTls, StopClosesTlsClientsWithGoingAway) {
    CertDir certs;
    ASSERT_TRUE(certs.ok());
    TlsEchoServer s(certs.path());
    WsClientOptions options;
    options.url = s.url;
    options.ca_file = certs.cert();
    RecordingClient c(options);
    c.client.connect();
    ASSERT_TRUE(c.wait_open()) << c.close_reason;
    ASSERT_TRUE(c.client.send(Bytes{1}));
    ASSERT_TRUE(c.wait_messages(1));
    s.server.stop();
    ASSERT_TRUE(c.wait_close());
    EXPECT_EQ(c.close_code, kCloseGoingAway);
    s.server.run();
}

TEST(WsTls, AnswersHealthOverTls) {
    CertDir certs;
    ASSERT_TRUE(certs.ok());
    TlsEchoServer s(certs.path());
    const std::string cmd = "curl -sf --cacert '" + certs.cert() +
                            "' https://127.0.0.1:" + std::to_string(port_of(s.url)) +
                            "/health >/dev/null 2>&1";
    if (std::system("command -v curl >/dev/null 2>&1") != 0) GTEST_SKIP() << "no curl";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
}

TEST(WsTls, StartFailsWithoutTheCertificateFiles) {
    WsServerOptions o;
    o.urls = {"wss://127.0.0.1:0"};
    o.cert_dir = "/nonexistent-outpost-certs";
    WsServer server(o);
    const Status st = server.start();
    ASSERT_FALSE(st.is_ok());
    EXPECT_EQ(st.code(), ErrorCode::kIo);
    EXPECT_NE(st.message().find("cert.pem"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace outpost::net::test
