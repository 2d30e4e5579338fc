// `outpost token`: the built tool's tokens and JWKS pass the verifier; a short shared key works
// with a warning; bad usage exits 2.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/process.hpp"
#include "common/status_macros.hpp"
#include "common/temp_dir.hpp"
#include "sync/auth/key_set.hpp"
#include "sync/auth/token_verifier.hpp"
#include "sync/jwt_keys.hpp"

namespace outpost::sync::auth {
namespace {

struct ToolRun {
    int rc = -1;
    std::string out;  // stdout without the last newline
    std::string err;
};

ToolRun run_tool(const test::TempDir& dir, std::vector<std::string> args) {
    args.insert(args.begin(), {OUTPOST_TOOL_PATH, "token"});
    auto r = test::run_program(args, dir.sub("stderr.txt"), std::chrono::seconds(60));
    std::error_code ec;
    std::filesystem::remove(dir.sub("stderr.txt"), ec);
    if (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return {r.exit_code.value_or(-1), r.out, r.err};
}

std::string write_file(const test::TempDir& dir, const std::string& name, const std::string& text) {
    const auto path = dir.sub(name);
    std::ofstream(path) << text;
    return path;
}

int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

TEST(TokenTool, RsaTokenVerifiesAgainstItsJwks) {
    test::TempDir dir;
    const std::string key = write_file(dir, "key.pem", test::rsa_key().private_pem);
    ToolRun jwks = run_tool(dir, {"--key", key, "--kid", "k1", "--print-jwks"});
    ASSERT_EQ(jwks.rc, 0) << jwks.err;
    ToolRun tok = run_tool(
        dir, {"--key", key, "--kid", "k1", "--sub", "alice", "--claim", "team=red", "--claim",
              "level=3", "--aud", "app", "--iss", "https://dev", "--ttl", "30m"});
    ASSERT_EQ(tok.rc, 0) << tok.err;
    EXPECT_EQ(tok.out.find('\n'), std::string::npos);
    JwtOptions o;
    o.jwks = jwks.out;
    o.audiences = {"app"};
    o.issuer = "https://dev";
    ASSERT_OK_AND_ASSIGN(auto verifier, TokenVerifier::create(o));
    ASSERT_OK_AND_ASSIGN(Identity id, verifier->verify(tok.out, now_s()));
    EXPECT_EQ(id.user, "alice");
    EXPECT_EQ(id.claims["team"], std::vector<std::string>{"red"});
    EXPECT_EQ(id.claims["level"], std::vector<std::string>{"3"});
    EXPECT_NEAR(static_cast<double>(id.expires_at_s - now_s()), 1800.0, 60.0);

    ToolRun expired = run_tool(dir, {"--key", key, "--kid", "k1", "--sub", "alice", "--aud", "app",
                                     "--iss", "https://dev", "--ttl", "-2h"});
    ASSERT_EQ(expired.rc, 0) << expired.err;
    EXPECT_CODE(verifier->verify(expired.out, now_s()), ErrorCode::kAuthTokenExpired);
    ToolRun early = run_tool(dir, {"--key", key, "--kid", "k1", "--sub", "alice", "--aud", "app",
                                   "--iss", "https://dev", "--nbf-in", "1h"});
    ASSERT_EQ(early.rc, 0) << early.err;
    EXPECT_CODE(verifier->verify(early.out, now_s()), ErrorCode::kAuthCredentialsRejected);
}

TEST(TokenTool, EcTokenVerifiesAgainstThePublicPem) {
    test::TempDir dir;
    test::KeyPair k = test::ec_key("P-384");
    ToolRun tok =
        run_tool(dir, {"--key", write_file(dir, "ec.pem", k.private_pem), "--sub", "bob"});
    ASSERT_EQ(tok.rc, 0) << tok.err;
    auto header = detail::base64url_decode(tok.out.substr(0, tok.out.find('.')));
    ASSERT_TRUE(header.has_value());
    EXPECT_NE(header->find("ES384"), std::string::npos) << *header;
    JwtOptions o;
    o.public_key_pem = k.public_pem;
    ASSERT_OK_AND_ASSIGN(auto verifier, TokenVerifier::create(o));
    ASSERT_OK_AND_ASSIGN(Identity id, verifier->verify(tok.out, now_s()));
    EXPECT_EQ(id.user, "bob");
}

TEST(TokenTool, SharedKeysOfAnyLengthMintWithAWarningWhenShort) {
    test::TempDir dir;
    ToolRun dev = run_tool(dir, {"--shared-key", "devkey", "--sub", "alice", "--ttl", "1h"});
    ASSERT_EQ(dev.rc, 0) << dev.err;
    EXPECT_EQ(std::count(dev.out.begin(), dev.out.end(), '.'), 2);
    EXPECT_NE(dev.err.find("warning"), std::string::npos) << dev.err;

    const std::string key = "0123456789abcdef0123456789abcdef";
    ToolRun ok = run_tool(dir, {"--shared-key", key, "--sub", "alice", "--ttl", "3600"});
    ASSERT_EQ(ok.rc, 0) << ok.err;
    EXPECT_EQ(ok.err, "");
    JwtOptions o;
    o.shared_key = key;
    ASSERT_OK_AND_ASSIGN(auto verifier, TokenVerifier::create(o));
    ASSERT_OK_AND_ASSIGN(Identity id, verifier->verify(ok.out, now_s()));
    EXPECT_EQ(id.user, "alice");
}

TEST(TokenTool, BadUsageExitsTwo) {
    test::TempDir dir;
    EXPECT_EQ(run_tool(dir, {"--shared-key", "k", "--sub", "a", "--ttl", "soon"}).rc, 2);
    EXPECT_EQ(run_tool(dir, {"--shared-key", "k"}).rc, 2);           // no --sub
    EXPECT_EQ(run_tool(dir, {"--sub", "a"}).rc, 2);                  // no key
    EXPECT_EQ(run_tool(dir, {"--print-jwks", "--kid", "k"}).rc, 2);  // no --key
    ToolRun missing = run_tool(dir, {"--key", dir.sub("none.pem"), "--sub", "a"});
    EXPECT_EQ(missing.rc, 1);
    EXPECT_NE(missing.err.find("cannot read"), std::string::npos) << missing.err;
    ToolRun bad_alg = run_tool(dir, {"--shared-key", "k", "--sub", "a", "--alg", "RS256"});
    EXPECT_EQ(bad_alg.rc, 1);
    EXPECT_NE(bad_alg.err.find("does not fit"), std::string::npos) << bad_alg.err;
}

}  // namespace
}  // namespace outpost::sync::auth
