#include <gtest/gtest.h>

#include <set>

#include "net/ws_client.hpp"

namespace outpost::net {
namespace {

using namespace std::chrono_literals;

TEST(ReconnectPolicy, YieldsTheDocumentedDelaysCappedAtSixtySeconds) {
    ReconnectPolicy policy({"ws://a:1"});
    const std::vector<std::chrono::milliseconds> expected = {500ms, 1s,  2s,  4s,  8s,
                                                             15s,   30s, 60s, 60s, 60s};
    for (const auto& delay : expected) EXPECT_EQ(policy.next_delay(), delay);
}

TEST(ReconnectPolicy, ResetsAfterASuccessfulConnection) {
    ReconnectPolicy policy({"ws://a:1"});
    for (int i = 0; i < 4; ++i) (void)policy.next_delay();
    policy.reset();
    EXPECT_EQ(policy.next_delay(), 500ms);
    EXPECT_EQ(policy.next_delay(), 1s);
}

TEST(ReconnectPolicy, PicksEveryUrlAtRandom) {
    const std::vector<std::string> urls = {"ws://a:1", "ws://b:2", "wss://c:3"};
    ReconnectPolicy policy(urls, 42);
    std::set<std::string> seen;
    for (int i = 0; i < 200; ++i) {
        const std::string& url = policy.next_url();
        EXPECT_NE(std::find(urls.begin(), urls.end(), url), urls.end());
        seen.insert(url);
    }
    EXPECT_EQ(seen.size(), urls.size());
}

}  // namespace
}  // namespace outpost::net
