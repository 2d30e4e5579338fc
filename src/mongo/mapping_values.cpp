// Values and _ids between the model and BSON, both ways (docs/mongo-mapping.md, "Values").
#include "mongo/mapping.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "model/json_nesting.hpp"
#include "mongo/mapping_util.hpp"

namespace outpost::mongo {
namespace {

using nlohmann::ordered_json;
using namespace mapping_detail;

// ---- outbound helpers

void append_flex(bson_t* out, const char* key, int klen, const Flex& f);

void append_flex_children(bson_t* doc, const Flex& f) {
    if (const auto* a = std::get_if<Flex::Array>(&f.v)) {
        char buf[16];
        for (size_t i = 0; i < a->size(); ++i) {
            const char* k;
            size_t kl = bson_uint32_to_string(static_cast<uint32_t>(i), &k, buf, sizeof buf);
            append_flex(doc, k, static_cast<int>(kl), (*a)[i]);
        }
    } else if (const auto* m = std::get_if<Flex::Map>(&f.v)) {
        for (const auto& [k, v] : *m) append_flex(doc, k.data(), key_len(k), v);
    }
}

void append_int(bson_t* out, const char* key, int klen, int64_t i) {
    if (i >= std::numeric_limits<int32_t>::min() && i <= std::numeric_limits<int32_t>::max()) {
        bson_append_int32(out, key, klen, static_cast<int32_t>(i));
    } else {
        bson_append_int64(out, key, klen, i);
    }
}

void append_flex(bson_t* out, const char* key, int klen, const Flex& f) {
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
                bson_append_null(out, key, klen);
            } else if constexpr (std::is_same_v<T, bool>) {
                bson_append_bool(out, key, klen, x);
            } else if constexpr (std::is_same_v<T, int64_t>) {
                append_int(out, key, klen, x);
            } else if constexpr (std::is_same_v<T, double>) {
                bson_append_double(out, key, klen, x);
            } else if constexpr (std::is_same_v<T, std::string>) {
                bson_append_utf8(out, key, klen, x.data(), static_cast<int>(x.size()));
            } else if constexpr (std::is_same_v<T, Bytes>) {
                bson_append_binary(out, key, klen, BSON_SUBTYPE_BINARY, x.data(), static_cast<uint32_t>(x.size()));
            } else if constexpr (std::is_same_v<T, Flex::Array>) {
                bson_t child;
                bson_append_array_begin(out, key, klen, &child);
                append_flex_children(&child, f);
                bson_append_array_end(out, &child);
            } else {
                bson_t child;
                bson_append_document_begin(out, key, klen, &child);
                append_flex_children(&child, f);
                bson_append_document_end(out, &child);
            }
        },
        f.v);
}

void append_json(bson_t* out, const char* key, int klen, const ordered_json& j) {
    switch (j.type()) {
        case ordered_json::value_t::null: bson_append_null(out, key, klen); break;
        case ordered_json::value_t::boolean: bson_append_bool(out, key, klen, j.get<bool>()); break;
        case ordered_json::value_t::number_integer: append_int(out, key, klen, j.get<int64_t>()); break;
        case ordered_json::value_t::number_unsigned: {
            uint64_t u = j.get<uint64_t>();
            if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                append_int(out, key, klen, static_cast<int64_t>(u));
            } else {
                bson_append_double(out, key, klen, static_cast<double>(u));
            }
            break;
        }
        case ordered_json::value_t::number_float: bson_append_double(out, key, klen, j.get<double>()); break;
        case ordered_json::value_t::string: {
            const auto& s = j.get_ref<const std::string&>();
            bson_append_utf8(out, key, klen, s.data(), static_cast<int>(s.size()));
            break;
        }
        case ordered_json::value_t::array: {
            bson_t child;
            bson_append_array_begin(out, key, klen, &child);
            char buf[16];
            uint32_t i = 0;
            for (const auto& e : j) {
                const char* k;
                size_t kl = bson_uint32_to_string(i++, &k, buf, sizeof buf);
                append_json(&child, k, static_cast<int>(kl), e);
            }
            bson_append_array_end(out, &child);
            break;
        }
        case ordered_json::value_t::object: {
            bson_t child;
            bson_append_document_begin(out, key, klen, &child);
            for (const auto& [k, v] : j.items()) append_json(&child, k.data(), key_len(k), v);
            bson_append_document_end(out, &child);
            break;
        }
        default: bson_append_null(out, key, klen); break;
    }
}

// ---- inbound helpers

struct FromCtx {
    bool strict;
    std::string_view field;
};

Result<int64_t> int_from(const bson_iter_t& it, std::string_view field, const char* want) {
    switch (bson_iter_type(&it)) {
        case BSON_TYPE_INT32: return static_cast<int64_t>(bson_iter_int32(&it));
        case BSON_TYPE_INT64: return bson_iter_int64(&it);
        case BSON_TYPE_DOUBLE: {
            double d = bson_iter_double(&it);
            if (std::isfinite(d) && d == std::trunc(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
                return static_cast<int64_t>(d);
            }
            return mapping_error("field " + std::string(field) + ": double " + std::to_string(d) +
                                 " is not a whole number for " + want);
        }
        default:
            return mapping_error("field " + std::string(field) + ": " + bson_type_name(bson_iter_type(&it)) +
                                 " does not fit " + want);
    }
}

Result<double> double_from(const bson_iter_t& it, std::string_view field, const char* want) {
    switch (bson_iter_type(&it)) {
        case BSON_TYPE_DOUBLE: return bson_iter_double(&it);
        case BSON_TYPE_INT32: return static_cast<double>(bson_iter_int32(&it));
        case BSON_TYPE_INT64: {
            int64_t i = bson_iter_int64(&it);
            auto d = static_cast<double>(i);
            if (d >= 9223372036854775808.0 || static_cast<int64_t>(d) != i) {
                return mapping_error("field " + std::string(field) + ": long " + std::to_string(i) +
                                     " does not fit a double without loss");
            }
            return d;
        }
        default:
            return mapping_error("field " + std::string(field) + ": " + bson_type_name(bson_iter_type(&it)) +
                                 " does not fit " + want);
    }
}

Result<int64_t> checked_width(int64_t v, const Property& p, std::string_view field) {
    int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
    bool uns = p.has(kFlagUnsigned);
    switch (element_type(p.type)) {
        case PropertyType::kInt8: lo = uns ? 0 : -128; hi = uns ? 255 : 127; break;
        case PropertyType::kInt16: lo = uns ? 0 : -32768; hi = uns ? 65535 : 32767; break;
        case PropertyType::kInt32: lo = uns ? 0 : std::numeric_limits<int32_t>::min();
            hi = uns ? 4294967295LL : std::numeric_limits<int32_t>::max(); break;
        default: break;
    }
    if (v < lo || v > hi) {
        return mapping_error("field " + std::string(field) + ": " + std::to_string(v) + " is out of range for " +
                             std::string(property_type_name(p.type)));
    }
    return v;
}

Result<Flex> flex_from(const bson_iter_t& it, const FromCtx& ctx, int depth);

Status too_deep(const FromCtx& ctx) {
    return mapping_error("field " + std::string(ctx.field) + ": nested deeper than " +
                         std::to_string(kMaxNestingDepth) + " levels");
}

// DEPTH (here and in flex_from, json_from): the documents and arrays around the value, at most
// kMaxNestingDepth in all, as for every flex value.
Result<Flex> flex_children(const bson_iter_t& parent, bool is_array, const FromCtx& ctx, int depth) {
    if (depth >= kMaxNestingDepth) return too_deep(ctx);
    bson_iter_t child;
    if (!bson_iter_recurse(&parent, &child)) return mapping_error("field " + std::string(ctx.field) + ": bad nested BSON");
    if (is_array) {
        Flex::Array a;
        while (bson_iter_next(&child)) {
            OUTPOST_ASSIGN_OR_RETURN(Flex f, flex_from(child, ctx, depth + 1));
            a.push_back(std::move(f));
        }
        return Flex(std::move(a));
    }
    Flex::Map m;
    while (bson_iter_next(&child)) {
        OUTPOST_ASSIGN_OR_RETURN(Flex f, flex_from(child, ctx, depth + 1));
        m.emplace_back(std::string(bson_iter_key(&child), bson_iter_key_len(&child)), std::move(f));
    }
    return Flex(std::move(m));
}

Result<Flex> flex_from(const bson_iter_t& it, const FromCtx& ctx, int depth) {
    bson_type_t t = bson_iter_type(&it);
    auto lossy = [&](Flex f) -> Result<Flex> {
        if (ctx.strict) {
            return mapping_error("field " + std::string(ctx.field) + ": " + bson_type_name(t) +
                                 " inside a flex value is converted with loss (strict conversions)");
        }
        return f;
    };
    switch (t) {
        case BSON_TYPE_NULL: return Flex();
        case BSON_TYPE_BOOL: return Flex(bson_iter_bool(&it));
        case BSON_TYPE_INT32: return Flex(static_cast<int64_t>(bson_iter_int32(&it)));
        case BSON_TYPE_INT64: return Flex(bson_iter_int64(&it));
        case BSON_TYPE_DOUBLE: return Flex(bson_iter_double(&it));
        case BSON_TYPE_UTF8: {
            uint32_t len;
            const char* s = bson_iter_utf8(&it, &len);
            return Flex(std::string(s, len));
        }
        case BSON_TYPE_BINARY: {
            bson_subtype_t st;
            uint32_t len;
            const uint8_t* data;
            bson_iter_binary(&it, &st, &len, &data);
            return Flex(Bytes(data, data + len));
        }
        case BSON_TYPE_DOCUMENT: return flex_children(it, false, ctx, depth);
        case BSON_TYPE_ARRAY: return flex_children(it, true, ctx, depth);
        case BSON_TYPE_OID: {
            const bson_oid_t* oid = bson_iter_oid(&it);
            return lossy(Flex(hex(oid->bytes, 12)));
        }
        case BSON_TYPE_DATE_TIME: return lossy(Flex(bson_iter_date_time(&it)));
        case BSON_TYPE_DECIMAL128: {
            bson_decimal128_t d;
            bson_iter_decimal128(&it, &d);
            char buf[BSON_DECIMAL128_STRING];
            bson_decimal128_to_string(&d, buf);
            return lossy(Flex(std::string(buf)));
        }
        case BSON_TYPE_TIMESTAMP: {
            uint32_t ts, inc;
            bson_iter_timestamp(&it, &ts, &inc);
            return lossy(Flex(static_cast<int64_t>((static_cast<uint64_t>(ts) << 32) | inc)));
        }
        case BSON_TYPE_SYMBOL: {
            uint32_t len;
            const char* s = bson_iter_symbol(&it, &len);
            return lossy(Flex(std::string(s, len)));
        }
        case BSON_TYPE_CODE: {
            uint32_t len;
            const char* s = bson_iter_code(&it, &len);
            return lossy(Flex(std::string(s, len)));
        }
        case BSON_TYPE_UNDEFINED: return lossy(Flex());
        default:
            return mapping_error("field " + std::string(ctx.field) + ": " + bson_type_name(t) +
                                 " cannot be held in a flex value");
    }
}

// JSON text is UTF-8: MongoDB may hold other bytes in a string, which JSON cannot carry.
Status not_utf8(const FromCtx& ctx) {
    return mapping_error("field " + std::string(ctx.field) +
                         ": a string inside the jsonToNative value is not valid UTF-8");
}

Result<ordered_json> json_from(const bson_iter_t& it, const FromCtx& ctx, int depth) {
    bson_type_t t = bson_iter_type(&it);
    auto lossy = [&](ordered_json j) -> Result<ordered_json> {
        if (ctx.strict) {
            return mapping_error("field " + std::string(ctx.field) + ": " + bson_type_name(t) +
                                 " inside a jsonToNative value is converted with loss (strict conversions)");
        }
        return j;
    };
    switch (t) {
        case BSON_TYPE_NULL: return ordered_json(nullptr);
        case BSON_TYPE_BOOL: return ordered_json(bson_iter_bool(&it));
        case BSON_TYPE_INT32: return ordered_json(bson_iter_int32(&it));
        case BSON_TYPE_INT64: return ordered_json(bson_iter_int64(&it));
        case BSON_TYPE_DOUBLE: {
            double d = bson_iter_double(&it);
            if (!std::isfinite(d)) return lossy(ordered_json(nullptr));
            return ordered_json(d);
        }
        case BSON_TYPE_UTF8: {
            uint32_t len;
            const char* s = bson_iter_utf8(&it, &len);
            if (!bson_utf8_validate(s, len, false)) return not_utf8(ctx);
            return ordered_json(std::string(s, len));
        }
        case BSON_TYPE_DOCUMENT:
        case BSON_TYPE_ARRAY: {
            if (depth >= kMaxNestingDepth) return too_deep(ctx);
            bson_iter_t child;
            if (!bson_iter_recurse(&it, &child)) return mapping_error("field " + std::string(ctx.field) + ": bad nested BSON");
            ordered_json j = t == BSON_TYPE_ARRAY ? ordered_json::array() : ordered_json::object();
            while (bson_iter_next(&child)) {
                OUTPOST_ASSIGN_OR_RETURN(ordered_json v, json_from(child, ctx, depth + 1));
                if (t == BSON_TYPE_ARRAY) {
                    j.push_back(std::move(v));
                    continue;
                }
                const char* key = bson_iter_key(&child);
                const uint32_t key_len = bson_iter_key_len(&child);
                if (!bson_utf8_validate(key, key_len, false)) return not_utf8(ctx);
                j[std::string(key, key_len)] = std::move(v);
            }
            return j;
        }
        case BSON_TYPE_OID: return lossy(ordered_json{{"$oid", hex(bson_iter_oid(&it)->bytes, 12)}});
        case BSON_TYPE_DATE_TIME: return lossy(ordered_json{{"$date", bson_iter_date_time(&it)}});
        case BSON_TYPE_DECIMAL128: {
            bson_decimal128_t d;
            bson_iter_decimal128(&it, &d);
            char buf[BSON_DECIMAL128_STRING];
            bson_decimal128_to_string(&d, buf);
            return lossy(ordered_json{{"$numberDecimal", std::string(buf)}});
        }
        default:
            return mapping_error("field " + std::string(ctx.field) + ": " + bson_type_name(t) +
                                 " cannot be written as JSON");
    }
}

}  // namespace

Status append_gid(bson_t* out, std::string_view key, const Gid& gid) {
    OUTPOST_RETURN_IF_ERROR(validate_gid(gid));
    const auto* p = reinterpret_cast<const uint8_t*>(gid.data()) + 1;
    size_t n = gid.size() - 1;
    const char* k = key.data();
    int kl = key_len(key);
    switch (static_cast<uint8_t>(gid[0])) {
        case 0x07: {
            bson_oid_t oid;
            std::memcpy(oid.bytes, p, 12);
            bson_append_oid(out, k, kl, &oid);
            break;
        }
        case 0x02: bson_append_utf8(out, k, kl, reinterpret_cast<const char*>(p), static_cast<int>(n)); break;
        case 0x10: {
            int32_t v;
            std::memcpy(&v, p, 4);
            bson_append_int32(out, k, kl, v);
            break;
        }
        case 0x12: {
            int64_t v;
            std::memcpy(&v, p, 8);
            bson_append_int64(out, k, kl, v);
            break;
        }
        default:
            bson_append_binary(out, k, kl, static_cast<bson_subtype_t>(p[0]), p + 1, static_cast<uint32_t>(n - 1));
            break;
    }
    return Status::ok();
}

Result<Gid> gid_from_bson(const bson_iter_t& it) {
    Gid g;
    switch (bson_iter_type(&it)) {
        case BSON_TYPE_OID:
            g.push_back(0x07);
            g.append(reinterpret_cast<const char*>(bson_iter_oid(&it)->bytes), 12);
            break;
        case BSON_TYPE_UTF8: {
            uint32_t len;
            const char* s = bson_iter_utf8(&it, &len);
            g.push_back(0x02);
            g.append(s, len);
            break;
        }
        case BSON_TYPE_INT32: {
            int32_t v = bson_iter_int32(&it);
            g.push_back(0x10);
            g.append(reinterpret_cast<const char*>(&v), 4);
            break;
        }
        case BSON_TYPE_INT64: {
            int64_t v = bson_iter_int64(&it);
            g.push_back(0x12);
            g.append(reinterpret_cast<const char*>(&v), 8);
            break;
        }
        case BSON_TYPE_BINARY: {
            bson_subtype_t st;
            uint32_t len;
            const uint8_t* data;
            bson_iter_binary(&it, &st, &len, &data);
            if (st == BSON_SUBTYPE_UUID && len != 16) return mapping_error("_id: a UUID must have 16 bytes");
            g.push_back(0x05);
            g.push_back(static_cast<char>(st));
            g.append(reinterpret_cast<const char*>(data), len);
            break;
        }
        default:
            return mapping_error(std::string("_id of type ") + bson_type_name(bson_iter_type(&it)) +
                                 " cannot be a global id (objectId, UUID, string, int, long or binary only)");
    }
    if (g.size() > 500) return mapping_error("_id longer than 499 bytes cannot be a global id");
    return g;
}

namespace {
Status append_value_impl(bson_t* out, std::string_view key, const Property& p, const Value& v) {
    const char* k = key.data();
    int kl = key_len(key);
    if (v.is_null()) {
        bson_append_null(out, k, kl);
        return Status::ok();
    }
    auto type_error = [&]() {
        return mapping_error("property " + p.name + ": value does not match its type " +
                             std::string(property_type_name(p.type)));
    };
    switch (p.type) {
        case PropertyType::kBool:
            if (!v.is<bool>()) return type_error();
            bson_append_bool(out, k, kl, v.as<bool>());
            return Status::ok();
        case PropertyType::kInt8:
        case PropertyType::kInt16:
        case PropertyType::kInt32:
            if (!v.is<int64_t>()) return type_error();
            append_int(out, k, kl, v.as<int64_t>());
            return Status::ok();
        case PropertyType::kInt64:
        case PropertyType::kDateNano:
            if (!v.is<int64_t>()) return type_error();
            if (p.external_type == ExternalType::kTimestamp) {
                auto u = static_cast<uint64_t>(v.as<int64_t>());
                bson_append_timestamp(out, k, kl, static_cast<uint32_t>(u >> 32), static_cast<uint32_t>(u));
            } else {
                bson_append_int64(out, k, kl, v.as<int64_t>());
            }
            return Status::ok();
        case PropertyType::kDate:
            if (!v.is<int64_t>()) return type_error();
            bson_append_date_time(out, k, kl, v.as<int64_t>());
            return Status::ok();
        case PropertyType::kFloat:
        case PropertyType::kDouble:
            if (!v.is<double>()) return type_error();
            bson_append_double(out, k, kl, v.as<double>());
            return Status::ok();
        case PropertyType::kString: {
            if (!v.is<std::string>()) return type_error();
            const std::string& s = v.as<std::string>();
            switch (p.external_type) {
                case ExternalType::kObjectId: {
                    if (s.size() != 24 || !bson_oid_is_valid(s.data(), s.size())) {
                        return mapping_error("property " + p.name + ": \"" + s + "\" is not an ObjectId (24 hex digits)");
                    }
                    bson_oid_t oid;
                    bson_oid_init_from_string(&oid, s.c_str());
                    bson_append_oid(out, k, kl, &oid);
                    return Status::ok();
                }
                case ExternalType::kUuid:
                case ExternalType::kUuidV4: {
                    uint8_t u[16];
                    if (!parse_uuid(s, u)) return mapping_error("property " + p.name + ": \"" + s + "\" is not a UUID");
                    bson_append_binary(out, k, kl, BSON_SUBTYPE_UUID, u, 16);
                    return Status::ok();
                }
                case ExternalType::kDecimal128: {
                    bson_decimal128_t d;
                    if (!bson_decimal128_from_string(s.c_str(), &d)) {
                        return mapping_error("property " + p.name + ": \"" + s + "\" is not a decimal number");
                    }
                    bson_append_decimal128(out, k, kl, &d);
                    return Status::ok();
                }
                case ExternalType::kJavaScript:
                    bson_append_code(out, k, kl, s.c_str());
                    return Status::ok();
                case ExternalType::kJsonToNative: {
                    // Checked before the parse: append_json recurses once per level.
                    if (!detail::json_nesting_within(s, kMaxNestingDepth)) {
                        return mapping_error("property " + p.name + ": a jsonToNative value nests deeper than " +
                                             std::to_string(kMaxNestingDepth) + " levels");
                    }
                    ordered_json j = ordered_json::parse(s, nullptr, false);
                    if (j.is_discarded() || (!j.is_object() && !j.is_array())) {
                        return mapping_error("property " + p.name + ": a jsonToNative value must be a JSON object or array");
                    }
                    append_json(out, k, kl, j);
                    return Status::ok();
                }
                default:
                    bson_append_utf8(out, k, kl, s.data(), static_cast<int>(s.size()));
                    return Status::ok();
            }
        }
        case PropertyType::kBytes: {
            if (!v.is<Bytes>()) return type_error();
            const Bytes& b = v.as<Bytes>();
            switch (p.external_type) {
                case ExternalType::kObjectId: {
                    if (b.size() != 12) return mapping_error("property " + p.name + ": an ObjectId needs 12 bytes");
                    bson_oid_t oid;
                    std::memcpy(oid.bytes, b.data(), 12);
                    bson_append_oid(out, k, kl, &oid);
                    return Status::ok();
                }
                case ExternalType::kUuid:
                case ExternalType::kUuidV4:
                    if (b.size() != 16) return mapping_error("property " + p.name + ": a UUID needs 16 bytes");
                    bson_append_binary(out, k, kl, BSON_SUBTYPE_UUID, b.data(), 16);
                    return Status::ok();
                case ExternalType::kDecimal128: {
                    if (b.size() != 16) return mapping_error("property " + p.name + ": a Decimal128 needs 16 bytes");
                    bson_decimal128_t d;
                    std::memcpy(&d.low, b.data(), 8);
                    std::memcpy(&d.high, b.data() + 8, 8);
                    bson_append_decimal128(out, k, kl, &d);
                    return Status::ok();
                }
                default:
                    bson_append_binary(out, k, kl, BSON_SUBTYPE_BINARY, b.data(), static_cast<uint32_t>(b.size()));
                    return Status::ok();
            }
        }
        case PropertyType::kFlex: {
            if (!v.is<Flex>()) return type_error();
            const Flex& f = v.as<Flex>();
            if (!flex_nesting_within(f)) {
                return mapping_error("property " + p.name + ": a flex value nests deeper than " +
                                     std::to_string(kMaxNestingDepth) + " levels");
            }
            if (p.external_type == ExternalType::kFlexMap && !std::holds_alternative<Flex::Map>(f.v)) {
                return mapping_error("property " + p.name + ": a flexMap value must be a map");
            }
            if (p.external_type == ExternalType::kFlexVector && !std::holds_alternative<Flex::Array>(f.v)) {
                return mapping_error("property " + p.name + ": a flexVector value must be an array");
            }
            append_flex(out, k, kl, f);
            return Status::ok();
        }
        case PropertyType::kRelation: {
            if (!v.is<Bytes>()) return type_error();
            const Bytes& b = v.as<Bytes>();
            Status st = append_gid(out, key, Gid(b.begin(), b.end()));
            if (!st) return mapping_error("property " + p.name + ": " + st.message());
            return Status::ok();
        }
        case PropertyType::kStringVector: {
            if (!v.is<Value::StringVector>()) return type_error();
            const auto& sv = v.as<Value::StringVector>();
            if (p.external_type == ExternalType::kRegex) {
                if (sv.size() != 2) return mapping_error("property " + p.name + ": a regex is [pattern, options]");
                bson_append_regex(out, k, kl, sv[0].c_str(), sv[1].c_str());
                return Status::ok();
            }
            bson_t arr;
            bson_append_array_begin(out, k, kl, &arr);
            char buf[16];
            for (size_t i = 0; i < sv.size(); ++i) {
                const char* ik;
                size_t ikl = bson_uint32_to_string(static_cast<uint32_t>(i), &ik, buf, sizeof buf);
                bson_append_utf8(&arr, ik, static_cast<int>(ikl), sv[i].data(), static_cast<int>(sv[i].size()));
            }
            bson_append_array_end(out, &arr);
            return Status::ok();
        }
        case PropertyType::kFloatVector:
        case PropertyType::kDoubleVector: {
            if (!v.is<Value::DoubleVector>()) return type_error();
            const auto& dv = v.as<Value::DoubleVector>();
            bson_t arr;
            bson_append_array_begin(out, k, kl, &arr);
            char buf[16];
            for (size_t i = 0; i < dv.size(); ++i) {
                const char* ik;
                size_t ikl = bson_uint32_to_string(static_cast<uint32_t>(i), &ik, buf, sizeof buf);
                bson_append_double(&arr, ik, static_cast<int>(ikl), dv[i]);
            }
            bson_append_array_end(out, &arr);
            return Status::ok();
        }
        case PropertyType::kInt8Vector:
        case PropertyType::kInt16Vector:
        case PropertyType::kInt32Vector:
        case PropertyType::kInt64Vector:
        case PropertyType::kDateVector: {
            if (!v.is<Value::IntVector>()) return type_error();
            const auto& iv = v.as<Value::IntVector>();
            bson_t arr;
            bson_append_array_begin(out, k, kl, &arr);
            char buf[16];
            for (size_t i = 0; i < iv.size(); ++i) {
                const char* ik;
                int ikl = static_cast<int>(bson_uint32_to_string(static_cast<uint32_t>(i), &ik, buf, sizeof buf));
                if (p.type == PropertyType::kDateVector) bson_append_date_time(&arr, ik, ikl, iv[i]);
                else if (p.type == PropertyType::kInt64Vector) bson_append_int64(&arr, ik, ikl, iv[i]);
                else append_int(&arr, ik, ikl, iv[i]);
            }
            bson_append_array_end(out, &arr);
            return Status::ok();
        }
    }
    return type_error();
}

}  // namespace

Status Mapping::append_value(bson_t* out, std::string_view key, const Property& p, const Value& v) const {
    if (options_.max_property_size == 0) return append_value_impl(out, key, p, v);
    bson_t tmp = BSON_INITIALIZER;
    Status st = append_value_impl(&tmp, key, p, v);
    if (st) {
        // An empty document plus one element: 4 (length) + 1 (type) + key + NUL + value + 1 (EOO).
        size_t size = tmp.len - 7 - key.size();
        if (size > options_.max_property_size) {
            st = Status(ErrorCode::kMongoTooLarge, "property " + p.name + ": value of " + std::to_string(size) +
                                                       " bytes is over maxPropertySizeToMongoDb (" +
                                                       std::to_string(options_.max_property_size) + ")");
        } else {
            bson_concat(out, &tmp);
        }
    }
    bson_destroy(&tmp);
    return st;
}


Result<Value> Mapping::value_from_bson(const Property& p, const bson_iter_t& it) const {
    const std::string& field = p.external_name.empty() ? p.name : p.external_name;
    bson_type_t t = bson_iter_type(&it);
    if (t == BSON_TYPE_NULL) return Value();
    auto mismatch = [&](const char* want) -> Status {
        return mapping_error("field " + field + ": " + bson_type_name(t) + " does not fit " +
                             std::string(property_type_name(p.type)) + (want[0] ? " (" : "") + want +
                             (want[0] ? ")" : ""));
    };
    FromCtx ctx{options_.strict_from_mongo, field};
    switch (p.type) {
        case PropertyType::kBool:
            if (t != BSON_TYPE_BOOL) return mismatch("");
            return Value(bson_iter_bool(&it));
        case PropertyType::kInt8:
        case PropertyType::kInt16:
        case PropertyType::kInt32: {
            OUTPOST_ASSIGN_OR_RETURN(int64_t i, int_from(it, field, property_type_name(p.type).data()));
            OUTPOST_ASSIGN_OR_RETURN(int64_t c, checked_width(i, p, field));
            return Value(c);
        }
        case PropertyType::kInt64:
            if (p.external_type == ExternalType::kTimestamp) {
                if (t != BSON_TYPE_TIMESTAMP) return mismatch("externalType timestamp");
                uint32_t ts, inc;
                bson_iter_timestamp(&it, &ts, &inc);
                return Value(static_cast<int64_t>((static_cast<uint64_t>(ts) << 32) | inc));
            }
            [[fallthrough]];
        case PropertyType::kDateNano: {
            OUTPOST_ASSIGN_OR_RETURN(int64_t i, int_from(it, field, property_type_name(p.type).data()));
            return Value(i);
        }
        case PropertyType::kDate:
            if (t != BSON_TYPE_DATE_TIME) return mismatch("");
            return Value(bson_iter_date_time(&it));
        case PropertyType::kFloat:
        case PropertyType::kDouble: {
            OUTPOST_ASSIGN_OR_RETURN(double d, double_from(it, field, property_type_name(p.type).data()));
            return Value(d);
        }
        case PropertyType::kString:
            switch (p.external_type) {
                case ExternalType::kObjectId:
                    if (t != BSON_TYPE_OID) return mismatch("externalType objectId");
                    return Value(hex(bson_iter_oid(&it)->bytes, 12));
                case ExternalType::kUuid:
                case ExternalType::kUuidV4: {
                    if (t != BSON_TYPE_BINARY) return mismatch("externalType uuid");
                    bson_subtype_t st;
                    uint32_t len;
                    const uint8_t* data;
                    bson_iter_binary(&it, &st, &len, &data);
                    if ((st != BSON_SUBTYPE_UUID && st != BSON_SUBTYPE_UUID_DEPRECATED) || len != 16) {
                        return mismatch("a UUID is binary subtype 4 of 16 bytes");
                    }
                    return Value(uuid_text(data));
                }
                case ExternalType::kDecimal128: {
                    if (t != BSON_TYPE_DECIMAL128) return mismatch("externalType decimal128");
                    bson_decimal128_t d;
                    bson_iter_decimal128(&it, &d);
                    char buf[BSON_DECIMAL128_STRING];
                    bson_decimal128_to_string(&d, buf);
                    return Value(std::string(buf));
                }
                case ExternalType::kJavaScript: {
                    if (t != BSON_TYPE_CODE) return mismatch("externalType javascript");
                    uint32_t len;
                    const char* s = bson_iter_code(&it, &len);
                    return Value(std::string(s, len));
                }
                case ExternalType::kJsonToNative: {
                    if (t != BSON_TYPE_DOCUMENT && t != BSON_TYPE_ARRAY) return mismatch("externalType jsonToNative");
                    OUTPOST_ASSIGN_OR_RETURN(ordered_json j, json_from(it, ctx, 0));
                    return Value(j.dump());
                }
                default: {
                    if (t != BSON_TYPE_UTF8) return mismatch("");
                    uint32_t len;
                    const char* s = bson_iter_utf8(&it, &len);
                    return Value(std::string(s, len));
                }
            }
        case PropertyType::kBytes:
            switch (p.external_type) {
                case ExternalType::kObjectId:
                    if (t != BSON_TYPE_OID) return mismatch("externalType objectId");
                    return Value(Bytes(bson_iter_oid(&it)->bytes, bson_iter_oid(&it)->bytes + 12));
                case ExternalType::kDecimal128: {
                    if (t != BSON_TYPE_DECIMAL128) return mismatch("externalType decimal128");
                    bson_decimal128_t d;
                    bson_iter_decimal128(&it, &d);
                    Bytes b(16);
                    std::memcpy(b.data(), &d.low, 8);
                    std::memcpy(b.data() + 8, &d.high, 8);
                    return Value(std::move(b));
                }
                default: {
                    if (t != BSON_TYPE_BINARY) return mismatch("");
                    bson_subtype_t st;
                    uint32_t len;
                    const uint8_t* data;
                    bson_iter_binary(&it, &st, &len, &data);
                    bool uuid_type = p.external_type == ExternalType::kUuid || p.external_type == ExternalType::kUuidV4;
                    if (uuid_type && ((st != BSON_SUBTYPE_UUID && st != BSON_SUBTYPE_UUID_DEPRECATED) || len != 16)) {
                        return mismatch("a UUID is binary subtype 4 of 16 bytes");
                    }
                    if (!uuid_type && p.external_type != ExternalType::kBinary && st != BSON_SUBTYPE_BINARY &&
                        st != BSON_SUBTYPE_BINARY_DEPRECATED) {
                        return mapping_error("field " + field + ": binary subtype " + std::to_string(st) +
                                             " needs externalType binary");
                    }
                    return Value(Bytes(data, data + len));
                }
            }
        case PropertyType::kFlex: {
            if (p.external_type == ExternalType::kFlexMap && t != BSON_TYPE_DOCUMENT) return mismatch("externalType flexMap");
            if (p.external_type == ExternalType::kFlexVector && t != BSON_TYPE_ARRAY) return mismatch("externalType flexVector");
            OUTPOST_ASSIGN_OR_RETURN(Flex f, flex_from(it, ctx, 0));
            return Value(std::move(f));
        }
        case PropertyType::kRelation: {
            auto g = gid_from_bson(it);
            if (!g) return mapping_error("field " + field + ": relation target " + g.status().message());
            return Value(Bytes(g->begin(), g->end()));
        }
        case PropertyType::kStringVector: {
            if (p.external_type == ExternalType::kRegex) {
                if (t != BSON_TYPE_REGEX) return mismatch("externalType regex");
                const char* opts;
                const char* pat = bson_iter_regex(&it, &opts);
                return Value(Value::StringVector{pat, opts});
            }
            if (t != BSON_TYPE_ARRAY) return mismatch("");
            bson_iter_t child;
            bson_iter_recurse(&it, &child);
            Value::StringVector sv;
            while (bson_iter_next(&child)) {
                if (bson_iter_type(&child) != BSON_TYPE_UTF8) {
                    return mapping_error("field " + field + ": element of type " + bson_type_name(bson_iter_type(&child)) +
                                         " in a string vector");
                }
                uint32_t len;
                const char* s = bson_iter_utf8(&child, &len);
                sv.emplace_back(s, len);
            }
            return Value(std::move(sv));
        }
        case PropertyType::kFloatVector:
        case PropertyType::kDoubleVector: {
            if (t != BSON_TYPE_ARRAY) return mismatch("");
            bson_iter_t child;
            bson_iter_recurse(&it, &child);
            Value::DoubleVector dv;
            while (bson_iter_next(&child)) {
                OUTPOST_ASSIGN_OR_RETURN(double d, double_from(child, field, "a double vector element"));
                dv.push_back(d);
            }
            return Value(std::move(dv));
        }
        case PropertyType::kInt8Vector:
        case PropertyType::kInt16Vector:
        case PropertyType::kInt32Vector:
        case PropertyType::kInt64Vector:
        case PropertyType::kDateVector: {
            if (t != BSON_TYPE_ARRAY) return mismatch("");
            bson_iter_t child;
            bson_iter_recurse(&it, &child);
            Value::IntVector iv;
            while (bson_iter_next(&child)) {
                if (p.type == PropertyType::kDateVector) {
                    if (bson_iter_type(&child) != BSON_TYPE_DATE_TIME) {
                        return mapping_error("field " + field + ": element of type " +
                                             bson_type_name(bson_iter_type(&child)) + " in a date vector");
                    }
                    iv.push_back(bson_iter_date_time(&child));
                    continue;
                }
                OUTPOST_ASSIGN_OR_RETURN(int64_t i, int_from(child, field, "an integer vector element"));
                OUTPOST_ASSIGN_OR_RETURN(int64_t c, checked_width(i, p, field));
                iv.push_back(c);
            }
            return Value(std::move(iv));
        }
    }
    return mismatch("");
}


}  // namespace outpost::mongo
