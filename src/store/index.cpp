// Index keys: an order-preserving byte encoding of one property value, so that LMDB's byte order is
// the value order (range scans for queries). Null values are not indexed.
//   integers (all widths, dates, relations): 0x01 + 8 bytes big-endian with the sign bit flipped
//                                            (unsigned properties: plain big-endian)
//   bool: 0x01 + 1 byte;  float/double: 0x01 + 8 bytes of the order-preserving double transform
//   string, value index: 0x01 + the UTF-8 bytes, cut at kMaxStringKey bytes (then verified on use)
//   string, hash index: 0x01 + 8-byte FNV-1a hash (verified on use)
// The leading byte keeps empty strings a valid (non-empty) LMDB key.
#include "store/index.hpp"

#include <bit>
#include <cmath>
#include <cstring>

#include "store/index_key.hpp"
#include "store/store_core.hpp"

namespace outpost::detail {

namespace {
void append_be64(std::string& out, uint64_t v) {
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
}  // namespace

uint64_t fnv1a64(std::string_view s) {
    uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}

uint64_t ordered_double_bits(double d) {
    if (d == 0) d = 0.0;  // -0.0 and 0.0 are one value
    uint64_t bits = std::bit_cast<uint64_t>(d);
    return (bits & (1ULL << 63)) ? ~bits : bits | (1ULL << 63);
}

std::string int_key(int64_t v, bool is_unsigned) {
    std::string k(1, '\x01');
    append_be64(k,
                is_unsigned ? static_cast<uint64_t>(v) : static_cast<uint64_t>(v) ^ (1ULL << 63));
    return k;
}

std::string double_key(double v) {
    std::string k(1, '\x01');
    append_be64(k, ordered_double_bits(v));
    return k;
}

std::string string_key(std::string_view v, bool hash) {
    std::string k(1, '\x01');
    if (hash) {
        append_be64(k, fnv1a64(v));
    } else {
        k.append(v.substr(0, kMaxStringKey));
    }
    return k;
}

bool string_key_is_exact(std::string_view v, bool hash) {
    return !hash && v.size() < kMaxStringKey;
}

std::optional<std::string> index_key(const IndexInfo& idx, const ObjectReader& reader) {
    if (reader.is_null(idx.prop_pos)) return std::nullopt;
    const Property& p = *idx.prop;
    switch (p.type) {
        case PropertyType::kString:
            return string_key(reader.get_string(idx.prop_pos), idx.hash);
        case PropertyType::kFloat:
        case PropertyType::kDouble:
            return double_key(reader.get_double(idx.prop_pos));
        case PropertyType::kBool:
            return int_key(reader.get_bool(idx.prop_pos) ? 1 : 0, true);
        default:
            return int_key(reader.get_int(idx.prop_pos), p.has(kFlagUnsigned));
    }
}

bool same_indexed_value(const IndexInfo& idx, const ObjectReader& a, const ObjectReader& b) {
    if (a.is_null(idx.prop_pos) || b.is_null(idx.prop_pos)) return false;
    if (idx.prop->type == PropertyType::kString) {
        return a.get_string(idx.prop_pos) == b.get_string(idx.prop_pos);
    }
    return index_key(idx, a) == index_key(idx, b);
}

std::string format_value(const Value& v) {
    if (v.is_null()) return "null";
    if (v.is<bool>()) return v.as<bool>() ? "true" : "false";
    if (v.is<int64_t>()) return std::to_string(v.as<int64_t>());
    if (v.is<double>()) return std::to_string(v.as<double>());
    if (v.is<std::string>()) {
        const auto& s = v.as<std::string>();
        return "\"" + (s.size() > 64 ? s.substr(0, 64) + "..." : s) + "\"";
    }
    return "(value)";
}

}  // namespace outpost::detail
