// Values from BSON to the model (docs/mongo-mapping.md, "Values"): type checks, lossless widths,
// and bounded nesting; the other way is mapping_values.cpp.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "mongo/mapping.hpp"
#include "mongo/mapping_util.hpp"

namespace outpost::mongo {
namespace {

using nlohmann::ordered_json;
using namespace mapping_detail;

// ---- inbound helpers

struct FromCtx {
    bool strict;
    std::string_view field;
};

Result<int64_t> int_from(const bson_iter_t& it, std::string_view field, const char* want) {
    switch (bson_iter_type(&it)) {
        case BSON_TYPE_INT32:
            return static_cast<int64_t>(bson_iter_int32(&it));
        case BSON_TYPE_INT64:
            return bson_iter_int64(&it);
        case BSON_TYPE_DOUBLE: {
            double d = bson_iter_double(&it);
            if (std::isfinite(d) && d == std::trunc(d) && d >= -9223372036854775808.0 &&
                d < 9223372036854775808.0) {
                return static_cast<int64_t>(d);
            }
            return mapping_error("field " + std::string(field) + ": double " + std::to_string(d) +
                                 " is not a whole number for " + want);
        }
        default:
            return mapping_error("field " + std::string(field) + ": " +
                                 bson_type_name(bson_iter_type(&it)) + " does not fit " + want);
    }
}

Result<double> double_from(const bson_iter_t& it, std::string_view field, const char* want) {
    switch (bson_iter_type(&it)) {
        case BSON_TYPE_DOUBLE:
            return bson_iter_double(&it);
        case BSON_TYPE_INT32:
            return static_cast<double>(bson_iter_int32(&it));
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
            return mapping_error("field " + std::string(field) + ": " +
                                 bson_type_name(bson_iter_type(&it)) + " does not fit " + want);
    }
}

Result<int64_t> checked_width(int64_t v, const Property& p, std::string_view field) {
    int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
    bool uns = p.has(kFlagUnsigned);
    switch (element_type(p.type)) {
        case PropertyType::kInt8:
            lo = uns ? 0 : -128;
            hi = uns ? 255 : 127;
            break;
        case PropertyType::kInt16:
            lo = uns ? 0 : -32768;
            hi = uns ? 65535 : 32767;
            break;
        case PropertyType::kInt32:
            lo = uns ? 0 : std::numeric_limits<int32_t>::min();
            hi = uns ? 4294967295LL : std::numeric_limits<int32_t>::max();
            break;
        default:
            break;
    }
    if (v < lo || v > hi) {
        return mapping_error("field " + std::string(field) + ": " + std::to_string(v) +
                             " is out of range for " + std::string(property_type_name(p.type)));
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
Result<Flex> flex_children(const bson_iter_t& parent, bool is_array, const FromCtx& ctx,
                           int depth) {
    if (depth >= kMaxNestingDepth) return too_deep(ctx);
    bson_iter_t child;
    if (!bson_iter_recurse(&parent, &child))
        return mapping_error("field " + std::string(ctx.field) + ": bad nested BSON");
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
            return mapping_error(
                "field " + std::string(ctx.field) + ": " + bson_type_name(t) +
                " inside a flex value is converted with loss (strict conversions)");
        }
        return f;
    };
    switch (t) {
        case BSON_TYPE_NULL:
            return Flex();
        case BSON_TYPE_BOOL:
            return Flex(bson_iter_bool(&it));
        case BSON_TYPE_INT32:
            return Flex(static_cast<int64_t>(bson_iter_int32(&it)));
        case BSON_TYPE_INT64:
            return Flex(bson_iter_int64(&it));
        case BSON_TYPE_DOUBLE:
            return Flex(bson_iter_double(&it));
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
        case BSON_TYPE_DOCUMENT:
            return flex_children(it, false, ctx, depth);
        case BSON_TYPE_ARRAY:
            return flex_children(it, true, ctx, depth);
        case BSON_TYPE_OID: {
            const bson_oid_t* oid = bson_iter_oid(&it);
            return lossy(Flex(hex(oid->bytes, 12)));
        }
        case BSON_TYPE_DATE_TIME:
            return lossy(Flex(bson_iter_date_time(&it)));
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
        case BSON_TYPE_UNDEFINED:
            return lossy(Flex());
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
            return mapping_error(
                "field " + std::string(ctx.field) + ": " + bson_type_name(t) +
                " inside a jsonToNative value is converted with loss (strict conversions)");
        }
        return j;
    };
    switch (t) {
        case BSON_TYPE_NULL:
            return ordered_json(nullptr);
        case BSON_TYPE_BOOL:
            return ordered_json(bson_iter_bool(&it));
        case BSON_TYPE_INT32:
            return ordered_json(bson_iter_int32(&it));
        case BSON_TYPE_INT64:
            return ordered_json(bson_iter_int64(&it));
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
            if (!bson_iter_recurse(&it, &child))
                return mapping_error("field " + std::string(ctx.field) + ": bad nested BSON");
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
        case BSON_TYPE_OID:
            return lossy(ordered_json{{"$oid", hex(bson_iter_oid(&it)->bytes, 12)}});
        case BSON_TYPE_DATE_TIME:
            return lossy(ordered_json{{"$date", bson_iter_date_time(&it)}});
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

// ---- values by property type

// The BSON value IT for property P (named FIELD in MongoDB), of BSON type T.
struct FromField {
    const Property& p;
    const bson_iter_t& it;
    const std::string& field;
    bson_type_t t;
    FromCtx ctx;

    Status mismatch(const char* want) const {
        return mapping_error("field " + field + ": " + bson_type_name(t) + " does not fit " +
                             std::string(property_type_name(p.type)) + (want[0] ? " (" : "") +
                             want + (want[0] ? ")" : ""));
    }
};

// A scalar property (bool, integer, date, floating point).
Result<Value> scalar_from(const FromField& f) {
    const Property& p = f.p;
    const bson_iter_t& it = f.it;
    switch (p.type) {
        case PropertyType::kBool:
            if (f.t != BSON_TYPE_BOOL) return f.mismatch("");
            return Value(bson_iter_bool(&it));
        case PropertyType::kInt8:
        case PropertyType::kInt16:
        case PropertyType::kInt32: {
            OUTPOST_ASSIGN_OR_RETURN(int64_t i,
                                     int_from(it, f.field, property_type_name(p.type).data()));
            OUTPOST_ASSIGN_OR_RETURN(int64_t c, checked_width(i, p, f.field));
            return Value(c);
        }
        case PropertyType::kInt64:
            if (p.external_type == ExternalType::kTimestamp) {
                if (f.t != BSON_TYPE_TIMESTAMP) return f.mismatch("externalType timestamp");
                uint32_t ts, inc;
                bson_iter_timestamp(&it, &ts, &inc);
                return Value(static_cast<int64_t>((static_cast<uint64_t>(ts) << 32) | inc));
            }
            [[fallthrough]];
        case PropertyType::kDateNano: {
            OUTPOST_ASSIGN_OR_RETURN(int64_t i,
                                     int_from(it, f.field, property_type_name(p.type).data()));
            return Value(i);
        }
        case PropertyType::kDate:
            if (f.t != BSON_TYPE_DATE_TIME) return f.mismatch("");
            return Value(bson_iter_date_time(&it));
        default: {  // kFloat, kDouble
            OUTPOST_ASSIGN_OR_RETURN(double d,
                                     double_from(it, f.field, property_type_name(p.type).data()));
            return Value(d);
        }
    }
}

// A string property, by its external type.
Result<Value> string_from(const FromField& f) {
    const bson_iter_t& it = f.it;
    switch (f.p.external_type) {
        case ExternalType::kObjectId:
            if (f.t != BSON_TYPE_OID) return f.mismatch("externalType objectId");
            return Value(hex(bson_iter_oid(&it)->bytes, 12));
        case ExternalType::kUuid:
        case ExternalType::kUuidV4: {
            if (f.t != BSON_TYPE_BINARY) return f.mismatch("externalType uuid");
            bson_subtype_t st;
            uint32_t len;
            const uint8_t* data;
            bson_iter_binary(&it, &st, &len, &data);
            if ((st != BSON_SUBTYPE_UUID && st != BSON_SUBTYPE_UUID_DEPRECATED) || len != 16) {
                return f.mismatch("a UUID is binary subtype 4 of 16 bytes");
            }
            return Value(uuid_text(data));
        }
        case ExternalType::kDecimal128: {
            if (f.t != BSON_TYPE_DECIMAL128) return f.mismatch("externalType decimal128");
            bson_decimal128_t d;
            bson_iter_decimal128(&it, &d);
            char buf[BSON_DECIMAL128_STRING];
            bson_decimal128_to_string(&d, buf);
            return Value(std::string(buf));
        }
        case ExternalType::kJavaScript: {
            if (f.t != BSON_TYPE_CODE) return f.mismatch("externalType javascript");
            uint32_t len;
            const char* s = bson_iter_code(&it, &len);
            return Value(std::string(s, len));
        }
        case ExternalType::kJsonToNative: {
            if (f.t != BSON_TYPE_DOCUMENT && f.t != BSON_TYPE_ARRAY)
                return f.mismatch("externalType jsonToNative");
            OUTPOST_ASSIGN_OR_RETURN(ordered_json j, json_from(it, f.ctx, 0));
            return Value(j.dump());
        }
        default: {
            if (f.t != BSON_TYPE_UTF8) return f.mismatch("");
            uint32_t len;
            const char* s = bson_iter_utf8(&it, &len);
            return Value(std::string(s, len));
        }
    }
}

// A bytes property, by its external type.
Result<Value> bytes_from(const FromField& f) {
    const bson_iter_t& it = f.it;
    const ExternalType external = f.p.external_type;
    switch (external) {
        case ExternalType::kObjectId:
            if (f.t != BSON_TYPE_OID) return f.mismatch("externalType objectId");
            return Value(Bytes(bson_iter_oid(&it)->bytes, bson_iter_oid(&it)->bytes + 12));
        case ExternalType::kDecimal128: {
            if (f.t != BSON_TYPE_DECIMAL128) return f.mismatch("externalType decimal128");
            bson_decimal128_t d;
            bson_iter_decimal128(&it, &d);
            Bytes b(16);
            std::memcpy(b.data(), &d.low, 8);
            std::memcpy(b.data() + 8, &d.high, 8);
            return Value(std::move(b));
        }
        default: {
            if (f.t != BSON_TYPE_BINARY) return f.mismatch("");
            bson_subtype_t st;
            uint32_t len;
            const uint8_t* data;
            bson_iter_binary(&it, &st, &len, &data);
            bool uuid_type = external == ExternalType::kUuid || external == ExternalType::kUuidV4;
            if (uuid_type &&
                ((st != BSON_SUBTYPE_UUID && st != BSON_SUBTYPE_UUID_DEPRECATED) || len != 16)) {
                return f.mismatch("a UUID is binary subtype 4 of 16 bytes");
            }
            if (!uuid_type && external != ExternalType::kBinary && st != BSON_SUBTYPE_BINARY &&
                st != BSON_SUBTYPE_BINARY_DEPRECATED) {
                return mapping_error("field " + f.field + ": binary subtype " + std::to_string(st) +
                                     " needs externalType binary");
            }
            return Value(Bytes(data, data + len));
        }
    }
}

Result<Value> string_vector_from(const FromField& f) {
    if (f.p.external_type == ExternalType::kRegex) {
        if (f.t != BSON_TYPE_REGEX) return f.mismatch("externalType regex");
        const char* opts;
        const char* pat = bson_iter_regex(&f.it, &opts);
        return Value(Value::StringVector{pat, opts});
    }
    if (f.t != BSON_TYPE_ARRAY) return f.mismatch("");
    bson_iter_t child;
    bson_iter_recurse(&f.it, &child);
    Value::StringVector sv;
    while (bson_iter_next(&child)) {
        if (bson_iter_type(&child) != BSON_TYPE_UTF8) {
            return mapping_error("field " + f.field + ": element of type " +
                                 bson_type_name(bson_iter_type(&child)) + " in a string vector");
        }
        uint32_t len;
        const char* s = bson_iter_utf8(&child, &len);
        sv.emplace_back(s, len);
    }
    return Value(std::move(sv));
}

Result<Value> double_vector_from(const FromField& f) {
    if (f.t != BSON_TYPE_ARRAY) return f.mismatch("");
    bson_iter_t child;
    bson_iter_recurse(&f.it, &child);
    Value::DoubleVector dv;
    while (bson_iter_next(&child)) {
        OUTPOST_ASSIGN_OR_RETURN(double d, double_from(child, f.field, "a double vector element"));
        dv.push_back(d);
    }
    return Value(std::move(dv));
}

// Integer and date vectors.
Result<Value> int_vector_from(const FromField& f) {
    if (f.t != BSON_TYPE_ARRAY) return f.mismatch("");
    bson_iter_t child;
    bson_iter_recurse(&f.it, &child);
    Value::IntVector iv;
    while (bson_iter_next(&child)) {
        if (f.p.type == PropertyType::kDateVector) {
            if (bson_iter_type(&child) != BSON_TYPE_DATE_TIME) {
                return mapping_error("field " + f.field + ": element of type " +
                                     bson_type_name(bson_iter_type(&child)) + " in a date vector");
            }
            iv.push_back(bson_iter_date_time(&child));
            continue;
        }
        OUTPOST_ASSIGN_OR_RETURN(int64_t i, int_from(child, f.field, "an integer vector element"));
        OUTPOST_ASSIGN_OR_RETURN(int64_t c, checked_width(i, f.p, f.field));
        iv.push_back(c);
    }
    return Value(std::move(iv));
}

}  // namespace

Result<Value> Mapping::value_from_bson(const Property& p, const bson_iter_t& it) const {
    const std::string& field = p.external_name.empty() ? p.name : p.external_name;
    bson_type_t t = bson_iter_type(&it);
    if (t == BSON_TYPE_NULL) return Value();
    const FromField f{p, it, field, t, FromCtx{options_.strict_from_mongo, field}};
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
            return scalar_from(f);
        case PropertyType::kString:
            return string_from(f);
        case PropertyType::kBytes:
            return bytes_from(f);
        case PropertyType::kFlex: {
            if (p.external_type == ExternalType::kFlexMap && t != BSON_TYPE_DOCUMENT) {
                return f.mismatch("externalType flexMap");
            }
            if (p.external_type == ExternalType::kFlexVector && t != BSON_TYPE_ARRAY) {
                return f.mismatch("externalType flexVector");
            }
            OUTPOST_ASSIGN_OR_RETURN(Flex flex, flex_from(it, f.ctx, 0));
            return Value(std::move(flex));
        }
        case PropertyType::kRelation: {
            auto g = gid_from_bson(it);
            if (!g)
                return mapping_error("field " + field + ": relation target " +
                                     g.status().message());
            return Value(Bytes(g->begin(), g->end()));
        }
        case PropertyType::kStringVector:
            return string_vector_from(f);
        case PropertyType::kFloatVector:
        case PropertyType::kDoubleVector:
            return double_vector_from(f);
        case PropertyType::kInt8Vector:
        case PropertyType::kInt16Vector:
        case PropertyType::kInt32Vector:
        case PropertyType::kInt64Vector:
        case PropertyType::kDateVector:
            return int_vector_from(f);
    }
    return f.mismatch("");
}

}  // namespace outpost::mongo
