// Values and _ids from the model to BSON (docs/mongo-mapping.md, "Values"); the other way is
// mapping_from_bson.cpp.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "model/json_nesting.hpp"
#include "mongo/mapping.hpp"
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
                bson_append_binary(out, key, klen, BSON_SUBTYPE_BINARY, x.data(),
                                   static_cast<uint32_t>(x.size()));
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
        case ordered_json::value_t::null:
            bson_append_null(out, key, klen);
            break;
        case ordered_json::value_t::boolean:
            bson_append_bool(out, key, klen, j.get<bool>());
            break;
        case ordered_json::value_t::number_integer:
            append_int(out, key, klen, j.get<int64_t>());
            break;
        case ordered_json::value_t::number_unsigned: {
            uint64_t u = j.get<uint64_t>();
            if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                append_int(out, key, klen, static_cast<int64_t>(u));
            } else {
                bson_append_double(out, key, klen, static_cast<double>(u));
            }
            break;
        }
        case ordered_json::value_t::number_float:
            bson_append_double(out, key, klen, j.get<double>());
            break;
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
        default:
            bson_append_null(out, key, klen);
            break;
    }
}

// ---- values by property type

Status type_error(const Property& p) {
    return mapping_error("property " + p.name + ": value does not match its type " +
                         std::string(property_type_name(p.type)));
}

// A string property, by its external type.
Status append_string(bson_t* out, const char* k, int kl, const Property& p, const std::string& s) {
    switch (p.external_type) {
        case ExternalType::kObjectId: {
            if (s.size() != 24 || !bson_oid_is_valid(s.data(), s.size())) {
                return mapping_error("property " + p.name + ": \"" + s +
                                     "\" is not an ObjectId (24 hex digits)");
            }
            bson_oid_t oid;
            bson_oid_init_from_string(&oid, s.c_str());
            bson_append_oid(out, k, kl, &oid);
            return Status::ok();
        }
        case ExternalType::kUuid:
        case ExternalType::kUuidV4: {
            uint8_t u[16];
            if (!parse_uuid(s, u))
                return mapping_error("property " + p.name + ": \"" + s + "\" is not a UUID");
            bson_append_binary(out, k, kl, BSON_SUBTYPE_UUID, u, 16);
            return Status::ok();
        }
        case ExternalType::kDecimal128: {
            bson_decimal128_t d;
            if (!bson_decimal128_from_string(s.c_str(), &d)) {
                return mapping_error("property " + p.name + ": \"" + s +
                                     "\" is not a decimal number");
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
                return mapping_error("property " + p.name +
                                     ": a jsonToNative value nests deeper than " +
                                     std::to_string(kMaxNestingDepth) + " levels");
            }
            ordered_json j = ordered_json::parse(s, nullptr, false);
            if (j.is_discarded() || (!j.is_object() && !j.is_array())) {
                return mapping_error("property " + p.name +
                                     ": a jsonToNative value must be a JSON object or array");
            }
            append_json(out, k, kl, j);
            return Status::ok();
        }
        default:
            bson_append_utf8(out, k, kl, s.data(), static_cast<int>(s.size()));
            return Status::ok();
    }
}

// A bytes property, by its external type.
Status append_bytes(bson_t* out, const char* k, int kl, const Property& p, const Bytes& b) {
    switch (p.external_type) {
        case ExternalType::kObjectId: {
            if (b.size() != 12)
                return mapping_error("property " + p.name + ": an ObjectId needs 12 bytes");
            bson_oid_t oid;
            std::memcpy(oid.bytes, b.data(), 12);
            bson_append_oid(out, k, kl, &oid);
            return Status::ok();
        }
        case ExternalType::kUuid:
        case ExternalType::kUuidV4:
            if (b.size() != 16)
                return mapping_error("property " + p.name + ": a UUID needs 16 bytes");
            bson_append_binary(out, k, kl, BSON_SUBTYPE_UUID, b.data(), 16);
            return Status::ok();
        case ExternalType::kDecimal128: {
            if (b.size() != 16)
                return mapping_error("property " + p.name + ": a Decimal128 needs 16 bytes");
            bson_decimal128_t d;
            std::memcpy(&d.low, b.data(), 8);
            std::memcpy(&d.high, b.data() + 8, 8);
            bson_append_decimal128(out, k, kl, &d);
            return Status::ok();
        }
        default:
            bson_append_binary(out, k, kl, BSON_SUBTYPE_BINARY, b.data(),
                               static_cast<uint32_t>(b.size()));
            return Status::ok();
    }
}

Status append_flex_value(bson_t* out, const char* k, int kl, const Property& p, const Flex& f) {
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

// An array of N elements, each appended by APPEND_ONE(array, key, key length, index).
template <class AppendOne>
void append_array(bson_t* out, const char* k, int kl, size_t n, AppendOne append_one) {
    bson_t arr;
    bson_append_array_begin(out, k, kl, &arr);
    char buf[16];
    for (size_t i = 0; i < n; ++i) {
        const char* ik;
        int ikl =
            static_cast<int>(bson_uint32_to_string(static_cast<uint32_t>(i), &ik, buf, sizeof buf));
        append_one(&arr, ik, ikl, i);
    }
    bson_append_array_end(out, &arr);
}

// A vector property (string, floating point or integer elements).
Status append_vector(bson_t* out, const char* k, int kl, const Property& p, const Value& v) {
    switch (p.type) {
        case PropertyType::kStringVector: {
            if (!v.is<Value::StringVector>()) return type_error(p);
            const auto& sv = v.as<Value::StringVector>();
            if (p.external_type == ExternalType::kRegex) {
                if (sv.size() != 2)
                    return mapping_error("property " + p.name + ": a regex is [pattern, options]");
                bson_append_regex(out, k, kl, sv[0].c_str(), sv[1].c_str());
                return Status::ok();
            }
            append_array(
                out, k, kl, sv.size(), [&](bson_t* arr, const char* ik, int ikl, size_t i) {
                    bson_append_utf8(arr, ik, ikl, sv[i].data(), static_cast<int>(sv[i].size()));
                });
            return Status::ok();
        }
        case PropertyType::kFloatVector:
        case PropertyType::kDoubleVector: {
            if (!v.is<Value::DoubleVector>()) return type_error(p);
            const auto& dv = v.as<Value::DoubleVector>();
            append_array(out, k, kl, dv.size(),
                         [&](bson_t* arr, const char* ik, int ikl, size_t i) {
                             bson_append_double(arr, ik, ikl, dv[i]);
                         });
            return Status::ok();
        }
        default: {  // integer and date vectors
            if (!v.is<Value::IntVector>()) return type_error(p);
            const auto& iv = v.as<Value::IntVector>();
            append_array(out, k, kl, iv.size(),
                         [&](bson_t* arr, const char* ik, int ikl, size_t i) {
                             if (p.type == PropertyType::kDateVector)
                                 bson_append_date_time(arr, ik, ikl, iv[i]);
                             else if (p.type == PropertyType::kInt64Vector)
                                 bson_append_int64(arr, ik, ikl, iv[i]);
                             else
                                 append_int(arr, ik, ikl, iv[i]);
                         });
            return Status::ok();
        }
    }
}

// A scalar property (bool, integer, date, floating point).
Status append_scalar(bson_t* out, const char* k, int kl, const Property& p, const Value& v) {
    switch (p.type) {
        case PropertyType::kBool:
            if (!v.is<bool>()) return type_error(p);
            bson_append_bool(out, k, kl, v.as<bool>());
            return Status::ok();
        case PropertyType::kInt8:
        case PropertyType::kInt16:
        case PropertyType::kInt32:
            if (!v.is<int64_t>()) return type_error(p);
            append_int(out, k, kl, v.as<int64_t>());
            return Status::ok();
        case PropertyType::kInt64:
        case PropertyType::kDateNano:
            if (!v.is<int64_t>()) return type_error(p);
            if (p.external_type == ExternalType::kTimestamp) {
                auto u = static_cast<uint64_t>(v.as<int64_t>());
                bson_append_timestamp(out, k, kl, static_cast<uint32_t>(u >> 32),
                                      static_cast<uint32_t>(u));
            } else {
                bson_append_int64(out, k, kl, v.as<int64_t>());
            }
            return Status::ok();
        case PropertyType::kDate:
            if (!v.is<int64_t>()) return type_error(p);
            bson_append_date_time(out, k, kl, v.as<int64_t>());
            return Status::ok();
        default:  // kFloat, kDouble
            if (!v.is<double>()) return type_error(p);
            bson_append_double(out, k, kl, v.as<double>());
            return Status::ok();
    }
}

Status append_value_impl(bson_t* out, std::string_view key, const Property& p, const Value& v) {
    const char* k = key.data();
    int kl = key_len(key);
    if (v.is_null()) {
        bson_append_null(out, k, kl);
        return Status::ok();
    }
    switch (p.type) {
        case PropertyType::kBool:
        case PropertyType::kInt8:
        case PropertyType::kInt16:
        case PropertyType::kInt32:
        case PropertyType::kInt64:
        case PropertyType::kDateNano:
        case PropertyType::kDate:
        case PropertyType::kFloat:
        case PropertyType::kDouble:
            return append_scalar(out, k, kl, p, v);
        case PropertyType::kString:
            if (!v.is<std::string>()) return type_error(p);
            return append_string(out, k, kl, p, v.as<std::string>());
        case PropertyType::kBytes:
            if (!v.is<Bytes>()) return type_error(p);
            return append_bytes(out, k, kl, p, v.as<Bytes>());
        case PropertyType::kFlex:
            if (!v.is<Flex>()) return type_error(p);
            return append_flex_value(out, k, kl, p, v.as<Flex>());
        case PropertyType::kRelation: {
            if (!v.is<Bytes>()) return type_error(p);
            const Bytes& b = v.as<Bytes>();
            Status st = append_gid(out, key, Gid(b.begin(), b.end()));
            if (!st) return mapping_error("property " + p.name + ": " + st.message());
            return Status::ok();
        }
        case PropertyType::kStringVector:
        case PropertyType::kFloatVector:
        case PropertyType::kDoubleVector:
        case PropertyType::kInt8Vector:
        case PropertyType::kInt16Vector:
        case PropertyType::kInt32Vector:
        case PropertyType::kInt64Vector:
        case PropertyType::kDateVector:
            return append_vector(out, k, kl, p, v);
    }
    return type_error(p);
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
        case 0x02:
            bson_append_utf8(out, k, kl, reinterpret_cast<const char*>(p), static_cast<int>(n));
            break;
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
            bson_append_binary(out, k, kl, static_cast<bson_subtype_t>(p[0]), p + 1,
                               static_cast<uint32_t>(n - 1));
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
            if (st == BSON_SUBTYPE_UUID && len != 16)
                return mapping_error("_id: a UUID must have 16 bytes");
            g.push_back(0x05);
            g.push_back(static_cast<char>(st));
            g.append(reinterpret_cast<const char*>(data), len);
            break;
        }
        default:
            return mapping_error(
                std::string("_id of type ") + bson_type_name(bson_iter_type(&it)) +
                " cannot be a global id (objectId, UUID, string, int, long or binary only)");
    }
    if (g.size() > 500) return mapping_error("_id longer than 499 bytes cannot be a global id");
    return g;
}

Status Mapping::append_value(bson_t* out, std::string_view key, const Property& p,
                             const Value& v) const {
    if (options_.max_property_size == 0) return append_value_impl(out, key, p, v);
    bson_t tmp = BSON_INITIALIZER;
    Status st = append_value_impl(&tmp, key, p, v);
    if (st) {
        // An empty document plus one element: 4 (length) + 1 (type) + key + NUL + value + 1 (EOO).
        size_t size = tmp.len - 7 - key.size();
        if (size > options_.max_property_size) {
            st = Status(ErrorCode::kMongoTooLarge,
                        "property " + p.name + ": value of " + std::to_string(size) +
                            " bytes is over maxPropertySizeToMongoDb (" +
                            std::to_string(options_.max_property_size) + ")");
        } else {
            bson_concat(out, &tmp);
        }
    }
    bson_destroy(&tmp);
    return st;
}

}  // namespace outpost::mongo
