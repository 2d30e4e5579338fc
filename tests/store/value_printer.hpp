#pragma once
// gtest printers for Value and Flex, so failed comparisons show the values instead of raw bytes.

#include <ostream>
#include <string>
#include <type_traits>
#include <variant>

#include "outpost/value.hpp"

namespace outpost {

inline void print_text(const std::string& s, std::ostream* os) {
    *os << '"';
    size_t shown = 0;
    for (unsigned char c : s) {
        if (++shown > 80) {
            *os << "...(" << s.size() << " bytes)";
            break;
        }
        if (c < 0x20 || c == 0x7f) {
            *os << "\\x"
                << "0123456789abcdef"[c >> 4] << "0123456789abcdef"[c & 15];
        } else {
            *os << c;
        }
    }
    *os << '"';
}

inline void PrintTo(const Flex& f, std::ostream* os) {
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
                *os << "null";
            } else if constexpr (std::is_same_v<T, bool>) {
                *os << (x ? "true" : "false");
            } else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
                *os << x;
            } else if constexpr (std::is_same_v<T, std::string>) {
                print_text(x, os);
            } else if constexpr (std::is_same_v<T, Bytes>) {
                *os << "bytes[" << x.size() << "]";
            } else if constexpr (std::is_same_v<T, Flex::Array>) {
                *os << '[';
                for (size_t i = 0; i < x.size(); ++i) {
                    if (i) *os << ", ";
                    PrintTo(x[i], os);
                }
                *os << ']';
            } else {
                *os << '{';
                for (size_t i = 0; i < x.size(); ++i) {
                    if (i) *os << ", ";
                    print_text(x[i].first, os);
                    *os << ": ";
                    PrintTo(x[i].second, os);
                }
                *os << '}';
            }
        },
        f.v);
}

inline void PrintTo(const Value& v, std::ostream* os) {
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
                *os << "null";
            } else if constexpr (std::is_same_v<T, bool>) {
                *os << (x ? "true" : "false");
            } else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
                *os << x;
            } else if constexpr (std::is_same_v<T, std::string>) {
                print_text(x, os);
            } else if constexpr (std::is_same_v<T, Bytes>) {
                *os << "bytes[" << x.size() << "]";
            } else if constexpr (std::is_same_v<T, Flex>) {
                *os << "flex ";
                PrintTo(x, os);
            } else {
                *os << '[';
                for (size_t i = 0; i < x.size(); ++i) {
                    if (i) *os << ", ";
                    if constexpr (std::is_same_v<T, Value::StringVector>) {
                        print_text(x[i], os);
                    } else {
                        *os << x[i];
                    }
                }
                *os << ']';
            }
        },
        v.v);
}

}  // namespace outpost
