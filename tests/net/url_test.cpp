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

}  // namespace
}  // namespace outpost::net::detail
