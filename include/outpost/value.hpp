#pragma once
// Property values for the dynamic object API (tools, sync, the MongoDB connector).

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace outpost {

using Bytes = std::vector<uint8_t>;

// A flex value: null, bool, integer, double, string, bytes, or nested arrays and maps (JSON-like).
// Stored as FlexBuffers; maps come back with their keys in sorted order.
struct Flex {
    using Array = std::vector<Flex>;
    using Map = std::vector<std::pair<std::string, Flex>>;
    using Variant =
        std::variant<std::monostate, bool, int64_t, double, std::string, Bytes, Array, Map>;
    Variant v;

    Flex() = default;
    Flex(std::nullptr_t) {}  // NOLINT
    Flex(bool b) : v(b) {}   // NOLINT
    template <typename I,
              std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
    Flex(I i) : v(static_cast<int64_t>(i)) {}   // NOLINT
    Flex(double d) : v(d) {}                    // NOLINT
    Flex(const char* s) : v(std::string(s)) {}  // NOLINT
    Flex(std::string s) : v(std::move(s)) {}    // NOLINT
    Flex(Bytes b) : v(std::move(b)) {}          // NOLINT
    Flex(Array a) : v(std::move(a)) {}          // NOLINT
    Flex(Map m) : v(std::move(m)) {}            // NOLINT

    bool is_null() const { return v.index() == 0; }
    friend bool operator==(const Flex&, const Flex&) = default;
};

// The deepest nesting of arrays and maps a flex value may have: a scalar has 0 levels, [] has 1,
// {"a": [1]} has 2. Deeper values are refused wherever they come from (a put, object JSON, a change
// set, a MongoDB document, a jsonToNative string), so every recursive walk over a value is bounded.
// A flex property at this depth stays well inside MongoDB's own limit of 100 levels per document.
inline constexpr int kMaxNestingDepth = 64;

// Whether F nests at most MAX levels of arrays and maps. Recurses at most MAX + 1 calls deep.
inline bool flex_nesting_within(const Flex& f, int max = kMaxNestingDepth) {
    if (const auto* a = std::get_if<Flex::Array>(&f.v)) {
        if (max <= 0) return false;
        for (const auto& e : *a) {
            if (!flex_nesting_within(e, max - 1)) return false;
        }
    } else if (const auto* m = std::get_if<Flex::Map>(&f.v)) {
        if (max <= 0) return false;
        for (const auto& [k, e] : *m) {
            if (!flex_nesting_within(e, max - 1)) return false;
        }
    }
    return true;
}

// One property value. Integers of every width (and dates, relations) are int64; float and double
// are double; vectors of integer types are vector<int64_t>, of float/double vector<double>.
struct Value {
    using IntVector = std::vector<int64_t>;
    using DoubleVector = std::vector<double>;
    using StringVector = std::vector<std::string>;
    using Variant = std::variant<std::monostate, bool, int64_t, double, std::string, Bytes,
                                 IntVector, DoubleVector, StringVector, Flex>;
    Variant v;

    Value() = default;
    Value(std::nullptr_t) {}  // NOLINT
    Value(bool b) : v(b) {}   // NOLINT
    template <typename I,
              std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
    Value(I i) : v(static_cast<int64_t>(i)) {}        // NOLINT
    Value(double d) : v(d) {}                         // NOLINT
    Value(float f) : v(static_cast<double>(f)) {}     // NOLINT
    Value(const char* s) : v(std::string(s)) {}       // NOLINT
    Value(std::string s) : v(std::move(s)) {}         // NOLINT
    Value(std::string_view s) : v(std::string(s)) {}  // NOLINT
    Value(Bytes b) : v(std::move(b)) {}               // NOLINT
    Value(IntVector x) : v(std::move(x)) {}           // NOLINT
    Value(DoubleVector x) : v(std::move(x)) {}        // NOLINT
    Value(StringVector x) : v(std::move(x)) {}        // NOLINT
    Value(Flex f) : v(std::move(f)) {}                // NOLINT

    bool is_null() const { return v.index() == 0; }
    template <typename T>
    bool is() const {
        return std::holds_alternative<T>(v);
    }
    template <typename T>
    const T& as() const {
        return std::get<T>(v);
    }
    friend bool operator==(const Value& a, const Value& b) = default;
};

}  // namespace outpost
