#pragma once
// Status assertions for tests, one style everywhere:
//   ASSERT_OK(status or result) / EXPECT_OK(...)   fail with the Status text when it is an error;
//                                                  more context streams in: ASSERT_OK(r) << path;
//   ASSERT_OK_AND_ASSIGN(lhs, result)              declares or assigns LHS from the value, or
//   fails; EXPECT_CODE(status or result, ErrorCode::kX)   the call failed with exactly that code.

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

// Predicate formatter of ASSERT_OK/EXPECT_OK: success, or the expression and its Status text.
template <typename T>
::testing::AssertionResult is_ok(const char* expr_text, const T& value) {
    Status st = status_of(value);
    if (st.is_ok()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << expr_text << ": " << st.to_string();
}

}  // namespace outpost::test

#define OUTPOST_TEST_CONCAT_INNER(a, b) a##b
#define OUTPOST_TEST_CONCAT(a, b) OUTPOST_TEST_CONCAT_INNER(a, b)

// gtest's else-blocker. GCC still wants braces when one of these is the whole body of an if.
#define OUTPOST_TEST_ELSE_BLOCKER \
    switch (0)                    \
    case 0:                       \
    default:
#define ASSERT_OK(expr) OUTPOST_TEST_ELSE_BLOCKER ASSERT_PRED_FORMAT1(::outpost::test::is_ok, expr)
#define EXPECT_OK(expr) OUTPOST_TEST_ELSE_BLOCKER EXPECT_PRED_FORMAT1(::outpost::test::is_ok, expr)

#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
    ASSERT_OK_AND_ASSIGN_IMPL(OUTPOST_TEST_CONCAT(assert_result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)              \
    auto tmp = (expr);                                         \
    ASSERT_PRED_FORMAT1(::outpost::test::is_ok, tmp) << #expr; \
    lhs = std::move(tmp).value()

#define EXPECT_CODE(expr, want) \
    EXPECT_CODE_IMPL(OUTPOST_TEST_CONCAT(expect_code_, __LINE__), expr, want)
#define EXPECT_CODE_IMPL(tmp, expr, want)                                                   \
    do {                                                                                    \
        ::outpost::Status tmp = ::outpost::test::status_of(expr);                           \
        EXPECT_EQ(static_cast<int>(tmp.code()), static_cast<int>(want)) << tmp.to_string(); \
    } while (0)
