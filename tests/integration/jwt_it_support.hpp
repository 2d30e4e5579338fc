#pragma once
// JWT helpers of the integration tests: keys made with openssl at test time (never checked in),
// tokens and JWKS documents from `outpost token` (docs/auth.md).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "integration/sync_it_support.hpp"

namespace outpost::it {

inline constexpr const char* kOpenssl = "/usr/bin/openssl";

// The stdout of ARGV without its final line break; a failed run fails the test (with its stderr).
inline std::string output_of(std::vector<std::string> argv, const std::string& log_file) {
    RunResult r = run_program(argv, log_file, kDeadline);
    EXPECT_EQ(r.exit_code, 0) << argv[0] << " " << (argv.size() > 1 ? argv[1] : "") << ": "
                              << r.err;
    while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == '\r')) r.out.pop_back();
    return r.out;
}

// A new 2048-bit RSA private key in PATH (PEM).
inline std::string make_rsa_key(const std::string& path) {
    output_of({kOpenssl, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
               path},
              path + ".log");
    return path;
}

// The public half of private key KEY in PATH (PEM, "BEGIN PUBLIC KEY").
inline std::string public_key_of(const std::string& key, const std::string& path) {
    output_of({kOpenssl, "pkey", "-in", key, "-pubout", "-out", path}, path + ".log");
    return path;
}

// `outpost token ARGS`: a token (or, with --print-jwks, a JWKS document).
inline std::string outpost_token(std::vector<std::string> args, const std::string& log_file) {
    args.insert(args.begin(), {OUTPOST_CLI_BIN, "token"});
    return output_of(args, log_file);
}

}  // namespace outpost::it
