#pragma once
// Status assertions for tests: ASSERT_OK, EXPECT_OK, ASSERT_OK_AND_ASSIGN, EXPECT_CODE. Each prints the
// failing Status.

#include <gtest/gtest.h>

#include <ostream>
#include <utility>

#include "outpost/status.hpp"

namespace outpost {

// gtest printer: error codes show by name and number.
inline void PrintTo(ErrorCode code, std::ostream* os) {
    *os << error_code_name(code) << " (" << static_cast<int>(code) << ")";
}

}  // namespace outpost

namespace outpost::test {

inline Status status_of(const Status& s) { return s; }
template <typename T>
Status status_of(const Result<T>& r) {
    return r.status();
}

}  // namespace outpost::test

#define OUTPOST_TEST_CONCAT_INNER(a, b) a##b
#define OUTPOST_TEST_CONCAT(a, b) OUTPOST_TEST_CONCAT_INNER(a, b)

// ASSERT_OK(status or result): fails the test with the status text when it is an error.
#define ASSERT_OK(expr) ASSERT_OK_IMPL(OUTPOST_TEST_CONCAT(assert_ok_, __LINE__), expr)
#define ASSERT_OK_IMPL(tmp, expr)                        \
    do {                                                 \
        ::outpost::Status tmp = ::outpost::test::status_of(expr); \
        ASSERT_TRUE(tmp.is_ok()) << tmp.to_string();     \
    } while (0)
#define EXPECT_OK(expr) EXPECT_OK_IMPL(OUTPOST_TEST_CONCAT(expect_ok_, __LINE__), expr)
#define EXPECT_OK_IMPL(tmp, expr)                        \
    do {                                                 \
        ::outpost::Status tmp = ::outpost::test::status_of(expr); \
        EXPECT_TRUE(tmp.is_ok()) << tmp.to_string();     \
    } while (0)

// ASSERT_OK_AND_ASSIGN(lhs, result): declares or assigns LHS from the value, or fails the test.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
    ASSERT_OK_AND_ASSIGN_IMPL(OUTPOST_TEST_CONCAT(assert_result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)                \
    auto tmp = (expr);                                           \
    ASSERT_TRUE(tmp.is_ok()) << tmp.status().to_string();        \
    lhs = std::move(tmp).value()

// EXPECT_CODE(status or result, ErrorCode::kX): the call failed with exactly that code.
#define EXPECT_CODE(expr, want) EXPECT_CODE_IMPL(OUTPOST_TEST_CONCAT(expect_code_, __LINE__), expr, want)
#define EXPECT_CODE_IMPL(tmp, expr, want)                                              \
    do {                                                                               \
        ::outpost::Status tmp = ::outpost::test::status_of(expr);                      \
        EXPECT_EQ(static_cast<int>(tmp.code()), static_cast<int>(want)) << tmp.to_string(); \
    } while (0)

