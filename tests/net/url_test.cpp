#include "net/url.hpp"

#include <gtest/gtest.h>

namespace outpost::net::detail {
namespace {

TEST(WsUrl, ParsesHostPortAndPath) {
    auto url = parse_ws_url("ws://127.0.0.1:9999");
    ASSERT_TRUE(url);
    EXPECT_FALSE(url->tls);
    EXPECT_EQ(url->host, "127.0.0.1");
    EXPECT_EQ(url->port, 9999);
    EXPECT_EQ(url->target, "/");

    url = parse_ws_url("wss://example.com/sync");
    ASSERT_TRUE(url);
    EXPECT_TRUE(url->tls);
    EXPECT_EQ(url->port, 443);
    EXPECT_EQ(url->target, "/sync");

    url = parse_ws_url("ws://[::1]:0");
    ASSERT_TRUE(url);
    EXPECT_EQ(url->host, "::1");
    EXPECT_EQ(url->port, 0);
    EXPECT_EQ(format_ws_url(false, "::1", 80), "ws://[::1]:80");
}

TEST(WsUrl, RejectsOtherSchemesAndBadPorts) {
    EXPECT_FALSE(parse_ws_url("http://a:1"));
    EXPECT_FALSE(parse_ws_url("ws://:1"));
    EXPECT_FALSE(parse_ws_url("ws://a:"));
    EXPECT_FALSE(parse_ws_url("ws://a:65536"));
    EXPECT_FALSE(parse_ws_url("ws://a:12x"));
    EXPECT_FALSE(parse_ws_url("ws://[::1"));
}

TEST(HttpUrl, ParsesSchemesDefaultPortsAndTargets) {
    auto url = parse_http_url("http://127.0.0.1:8080/.well-known/jwks.json?x=1#top");
    ASSERT_TRUE(url);
    EXPECT_FALSE(url->tls);
    EXPECT_EQ(url->host, "127.0.0.1");
    EXPECT_EQ(url->port, 8080);
    EXPECT_EQ(url->target, "/.well-known/jwks.json?x=1");

    url = parse_http_url("https://example.com");
    ASSERT_TRUE(url);
    EXPECT_TRUE(url->tls);
    EXPECT_EQ(url->port, 443);
    EXPECT_EQ(url->target, "/");

    url = parse_http_url("http://example.com?q");
    ASSERT_TRUE(url);
    EXPECT_EQ(url->host, "example.com");
    EXPECT_EQ(url->port, 80);
    EXPECT_EQ(url->target, "/?q");

    url = parse_http_url("http://[::1]:81/k");
    ASSERT_TRUE(url);
    EXPECT_EQ(url->host, "::1");
    EXPECT_EQ(url->port, 81);
}

TEST(HttpUrl, RejectsOtherSchemesCredentialsAndControlCharacters) {
    EXPECT_FALSE(parse_http_url("ws://a/"));
    EXPECT_FALSE(parse_http_url("HTTP://a/"));
    EXPECT_FALSE(parse_http_url("http://"));
    EXPECT_FALSE(parse_http_url("http://a:0/"));
    EXPECT_FALSE(parse_http_url("http://a:/"));
    EXPECT_FALSE(parse_http_url("https://user:pw@a/"));
    EXPECT_FALSE(parse_http_url("http://a/x y"));
    EXPECT_FALSE(parse_http_url("http://a/x\nHost: b"));
    EXPECT_FALSE(parse_http_url("http://[::1/"));
}

TEST(HttpUrl, KnowsLoopbackHosts) {
    for (const char* host : {"localhost", "LocalHost", "127.0.0.1", "127.1.2.3", "::1",
                             "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"}) {
        EXPECT_TRUE(is_loopback_host(host)) << host;
    }
    for (const char* host : {"", "example.com", "localhost.example.com", "128.0.0.1", "10.0.0.1",
                             "::2", "::ffff:10.0.0.1", "0.0.0.0", "::", "127.0.0.1.nip.io"}) {
        EXPECT_FALSE(is_loopback_host(host)) << host;
    }
    using namespace std::string_view_literals;
    EXPECT_FALSE(is_loopback_host("127.0.0.1\0.evil.example"sv));
    EXPECT_FALSE(is_loopback_host("localhost\0"sv));
}

TEST(HttpUrl, ParsesListenUrls) {
    auto url = parse_http_listen_url("http://127.0.0.1:0");
    ASSERT_TRUE(url);
    EXPECT_FALSE(url->tls);
    EXPECT_EQ(url->host, "127.0.0.1");
    EXPECT_EQ(url->port, 0);
    url = parse_http_listen_url("https://[::1]:9980/");
    ASSERT_TRUE(url);
    EXPECT_TRUE(url->tls);
    EXPECT_EQ(url->host, "::1");
    EXPECT_EQ(url->port, 9980);
    for (const char* bad : {"http://127.0.0.1", "http://[::1]", "http://h:80/x", "http://h:1?x",
                            "http://u@h:1", "ws://h:1", "http://h:65536", "http://:1", "off"}) {
        EXPECT_FALSE(parse_http_listen_url(bad)) << bad;
    }
    EXPECT_EQ(format_http_url(true, "::1", 5), "https://[::1]:5");
    EXPECT_EQ(format_http_url(false, "127.0.0.1", 80), "http://127.0.0.1:80");
}

}  // namespace
}  // namespace outpost::net::detail
