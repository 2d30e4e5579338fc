#include "admin/sessions.hpp"

#include <gtest/gtest.h>

#include <set>

#include "admin/accounts.hpp"
#include "admin/request_target.hpp"

namespace outpost::admin {
namespace {

using namespace std::chrono_literals;

TEST(SessionTable, SessionsEndAfterTheIdleTimeAndUseKeepsThemAlive) {
    SessionTable table(3600s, 10);
    const SteadyTime t0{};
    Session s = table.create("alice", t0);
    EXPECT_EQ(s.token.size(), 64u);
    EXPECT_EQ(s.csrf.size(), 64u);
    EXPECT_NE(s.token, s.csrf);
    ASSERT_TRUE(table.find(s.token, t0 + 3599s).has_value());
    // Used at 3599 s: alive until 3599 + 3600.
    ASSERT_TRUE(table.find(s.token, t0 + 7198s).has_value());
    EXPECT_FALSE(table.find(s.token, t0 + 7198s + 3600s).has_value());
    EXPECT_EQ(table.size(), 0u);
    EXPECT_FALSE(table.find("", t0).has_value());
    EXPECT_FALSE(table.find(std::string(64, '0'), t0).has_value());
}

TEST(SessionTable, AtTheBoundTheLeastRecentlyUsedSessionEnds) {
    SessionTable table(3600s, 3);
    const SteadyTime t0{};
    Session a = table.create("a", t0);
    Session b = table.create("b", t0 + 1s);
    Session c = table.create("c", t0 + 2s);
    ASSERT_TRUE(table.find(a.token, t0 + 3s));  // a is now the most recently used
    Session d = table.create("d", t0 + 4s);
    EXPECT_EQ(table.size(), 3u);
    EXPECT_TRUE(table.find(a.token, t0 + 5s));
    EXPECT_FALSE(table.find(b.token, t0 + 5s));
    EXPECT_TRUE(table.find(c.token, t0 + 5s));
    EXPECT_TRUE(table.find(d.token, t0 + 5s));
}

TEST(SessionTable, TokensAreRandom) {
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) seen.insert(random_token());
    EXPECT_EQ(seen.size(), 100u);
    EXPECT_TRUE(tokens_equal("abc", "abc"));
    EXPECT_FALSE(tokens_equal("abc", "abd"));
    EXPECT_FALSE(tokens_equal("abc", "abcd"));
}

TEST(LoginThrottle, BlocksAnAddressAfterTooManyFailuresWithinTheWindow) {
    LoginThrottle throttle(3, 60s, 60s);
    const SteadyTime t0{};
    throttle.failed("a", t0);
    throttle.failed("a", t0 + 10s);
    EXPECT_FALSE(throttle.blocked("a", t0 + 11s));
    // The first failure has left the window: two within it, not blocked.
    throttle.failed("a", t0 + 61s);
    EXPECT_FALSE(throttle.blocked("a", t0 + 62s));
    throttle.failed("a", t0 + 62s);
    EXPECT_TRUE(throttle.blocked("a", t0 + 63s));
    EXPECT_FALSE(throttle.blocked("b", t0 + 63s));
    EXPECT_TRUE(throttle.blocked("a", t0 + 121s));
    EXPECT_FALSE(throttle.blocked("a", t0 + 122s));
}

TEST(LoginThrottle, ASuccessForgetsTheFailuresAndTheTableIsBounded) {
    LoginThrottle throttle(2, 60s, 60s, 100);
    const SteadyTime t0{};
    throttle.failed("a", t0);
    throttle.succeeded("a");
    throttle.failed("a", t0 + 1s);
    EXPECT_FALSE(throttle.blocked("a", t0 + 2s));
    // Many addresses: the table stays bounded and the newest still count.
    for (int i = 0; i < 1000; ++i) throttle.failed("x" + std::to_string(i), t0 + 2s);
    throttle.failed("x999", t0 + 3s);
    EXPECT_TRUE(throttle.blocked("x999", t0 + 4s));
}

TEST(Accounts, HashesVerifyAndRefuseWrongPasswords) {
    auto hash = hash_password("s3cret");
    ASSERT_TRUE(hash.is_ok());
    EXPECT_TRUE(hash->starts_with("$argon2id$")) << *hash;
    EXPECT_TRUE(is_password_hash(*hash));
    EXPECT_TRUE(verify_password("s3cret", *hash));
    EXPECT_FALSE(verify_password("s3cret ", *hash));
    EXPECT_FALSE(verify_password("s3cret", "not a hash"));
    EXPECT_FALSE(hash_password("").is_ok());
    AccountList accounts({{"alice", *hash}});
    EXPECT_EQ(accounts.check("alice", "s3cret"), "alice");
    EXPECT_FALSE(accounts.check("alice", "wrong"));
    EXPECT_FALSE(accounts.check("bob", "s3cret"));
}

TEST(RequestTarget, SplitsBeforeDecodingAndDecodesTheQuery) {
    Request r;
    ASSERT_TRUE(
        parse_target("/api//entities/A%2FB/objects/7?where=x%3D1+y&limit=&limit=3#frag", r));
    EXPECT_EQ(r.path, "/api//entities/A/B/objects/7");
    EXPECT_EQ(r.segments, (std::vector<std::string>{"api", "entities", "A/B", "objects", "7"}));
    EXPECT_EQ(r.query.at("where"), "x=1 y");
    EXPECT_EQ(r.query.at("limit"), "3");
    EXPECT_TRUE(parse_target("/", r));
    EXPECT_TRUE(r.segments.empty());
    EXPECT_TRUE(r.query.empty());
    EXPECT_FALSE(parse_target("api", r));
    EXPECT_FALSE(parse_target("/a%", r));
    EXPECT_FALSE(parse_target("/a%2", r));
    EXPECT_FALSE(parse_target("/a?b=%G0", r));
    EXPECT_EQ(percent_decode("a+b%20c", false), "a+b c");
    EXPECT_EQ(percent_decode("a+b%20c", true), "a b c");
}

}  // namespace
}  // namespace outpost::admin
