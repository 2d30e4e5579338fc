#pragma once
// Small helpers shared by mapping.cpp (documents and updates) and mapping_values.cpp (values,
// _ids).
#include <cstdint>
#include <string>
#include <string_view>

#include "mongo/mapping.hpp"

namespace outpost::mongo::mapping_detail {

inline Status mapping_error(std::string msg) { return {ErrorCode::kMongoMapping, std::move(msg)}; }

inline const char* bson_type_name(bson_type_t t) {
    switch (t) {
        case BSON_TYPE_DOUBLE:
            return "double";
        case BSON_TYPE_UTF8:
            return "string";
        case BSON_TYPE_DOCUMENT:
            return "document";
        case BSON_TYPE_ARRAY:
            return "array";
        case BSON_TYPE_BINARY:
            return "binary";
        case BSON_TYPE_UNDEFINED:
            return "undefined";
        case BSON_TYPE_OID:
            return "objectId";
        case BSON_TYPE_BOOL:
            return "bool";
        case BSON_TYPE_DATE_TIME:
            return "date";
        case BSON_TYPE_NULL:
            return "null";
        case BSON_TYPE_REGEX:
            return "regex";
        case BSON_TYPE_DBPOINTER:
            return "dbPointer";
        case BSON_TYPE_CODE:
            return "javascript";
        case BSON_TYPE_SYMBOL:
            return "symbol";
        case BSON_TYPE_CODEWSCOPE:
            return "javascriptWithScope";
        case BSON_TYPE_INT32:
            return "int";
        case BSON_TYPE_TIMESTAMP:
            return "timestamp";
        case BSON_TYPE_INT64:
            return "long";
        case BSON_TYPE_DECIMAL128:
            return "decimal";
        case BSON_TYPE_MAXKEY:
            return "maxKey";
        case BSON_TYPE_MINKEY:
            return "minKey";
        default:
            return "eod";
    }
}

inline int key_len(std::string_view key) { return static_cast<int>(key.size()); }

inline std::string hex(const uint8_t* p, size_t n) {
    static const char* d = "0123456789abcdef";
    std::string s;
    s.reserve(n * 2);
    for (size_t i = 0; i < n; ++i) {
        s += d[p[i] >> 4];
        s += d[p[i] & 15];
    }
    return s;
}

inline std::string uuid_text(const uint8_t* u) {
    std::string h = hex(u, 16);
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
           "-" + h.substr(20);
}

inline bool parse_uuid(std::string_view s, uint8_t out[16]) {
    size_t n = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        char ch = s[i];
        if (ch == '-') {
            if (i != 8 && i != 13 && i != 18 && i != 23) return false;
            continue;
        }
        int v;
        if (ch >= '0' && ch <= '9')
            v = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            v = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F')
            v = ch - 'A' + 10;
        else
            return false;
        if (n >= 32) return false;
        if (n % 2 == 0)
            out[n / 2] = static_cast<uint8_t>(v << 4);
        else
            out[n / 2] = static_cast<uint8_t>(out[n / 2] | v);
        ++n;
    }
    return n == 32 && (s.size() == 32 || s.size() == 36);
}

}  // namespace outpost::mongo::mapping_detail
