// Object <-> JSON, the format documented in docs/object-json.md.
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "model/json_nesting.hpp"
#include "outpost/json.hpp"

namespace outpost {
namespace {

using nlohmann::ordered_json;

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

ordered_json double_to_json(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    return d;
}

ordered_json flex_to_json(const Flex& f) {
    return std::visit(
        [](const auto& x) -> ordered_json {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
                return nullptr;
            } else if constexpr (std::is_same_v<T, double>) {
                return double_to_json(x);
            } else if constexpr (std::is_same_v<T, Bytes>) {
                return base64_encode(x);
            } else if constexpr (std::is_same_v<T, Flex::Array>) {
                ordered_json a = ordered_json::array();
                for (const auto& e : x) a.push_back(flex_to_json(e));
                return a;
            } else if constexpr (std::is_same_v<T, Flex::Map>) {
                ordered_json m = ordered_json::object();
                for (const auto& [k, e] : x) m[k] = flex_to_json(e);
                return m;
            } else {
                return x;
            }
        },
        f.v);
}

// DEPTH: the arrays and maps around J. Values nested deeper than kMaxNestingDepth are refused
// before they are built, so no walk over a Flex recurses without bound.
Result<Flex> flex_from_json(const ordered_json& j, int depth, const std::string& where) {
    switch (j.type()) {
        case ordered_json::value_t::null:
            return Flex();
        case ordered_json::value_t::boolean:
            return Flex(j.get<bool>());
        case ordered_json::value_t::number_integer:
            return Flex(j.get<int64_t>());
        case ordered_json::value_t::number_unsigned: {
            uint64_t u = j.get<uint64_t>();
            if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                return Flex(static_cast<double>(u));
            }
            return Flex(static_cast<int64_t>(u));
        }
        case ordered_json::value_t::number_float:
            return Flex(j.get<double>());
        case ordered_json::value_t::string:
            return Flex(j.get<std::string>());
        case ordered_json::value_t::array:
        case ordered_json::value_t::object:
            break;
        default:
            return Flex();
    }
    if (depth >= kMaxNestingDepth) {
        return Status(
            ErrorCode::kInvalidArgument,
            where + ": flex values nest at most " + std::to_string(kMaxNestingDepth) + " levels");
    }
    if (j.is_array()) {
        Flex::Array a;
        a.reserve(j.size());
        for (const auto& e : j) {
            OUTPOST_ASSIGN_OR_RETURN(Flex f, flex_from_json(e, depth + 1, where));
            a.push_back(std::move(f));
        }
        return Flex(std::move(a));
    }
    Flex::Map m;
    m.reserve(j.size());
    for (auto it = j.begin(); it != j.end(); ++it) {
        OUTPOST_ASSIGN_OR_RETURN(Flex f, flex_from_json(it.value(), depth + 1, where));
        m.emplace_back(it.key(), std::move(f));
    }
    return Flex(std::move(m));
}

ordered_json value_to_json(const Property& p, const Value& v) {
    if (v.is_null()) return nullptr;
    if (v.is<bool>()) return v.as<bool>();
    if (v.is<int64_t>()) {
        if (p.has(kFlagUnsigned) && p.type == PropertyType::kInt64)
            return static_cast<uint64_t>(v.as<int64_t>());
        return v.as<int64_t>();
    }
    if (v.is<double>()) return double_to_json(v.as<double>());
    if (v.is<std::string>()) return v.as<std::string>();
    if (v.is<Bytes>()) return base64_encode(v.as<Bytes>());
    if (v.is<Value::IntVector>()) return v.as<Value::IntVector>();
    if (v.is<Value::DoubleVector>()) {
        ordered_json a = ordered_json::array();
        for (double d : v.as<Value::DoubleVector>()) a.push_back(double_to_json(d));
        return a;
    }
    if (v.is<Value::StringVector>()) return v.as<Value::StringVector>();
    return flex_to_json(v.as<Flex>());
}

Result<double> double_from_json(const ordered_json& j, const std::string& where) {
    if (j.is_number()) return j.get<double>();
    if (j.is_string()) {
        auto s = j.get<std::string>();
        if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
        if (s == "Infinity") return std::numeric_limits<double>::infinity();
        if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
    }
    return Status(ErrorCode::kTypeMismatch, where + ": expected a number");
}

Result<int64_t> int_from_json(const ordered_json& j, const std::string& where) {
    if (j.is_number_integer()) {
        if (j.is_number_unsigned()) return static_cast<int64_t>(j.get<uint64_t>());
        return j.get<int64_t>();
    }
    if (j.is_number_float()) {
        double d = j.get<double>();
        if (d == std::floor(d) && std::abs(d) < 9.2e18) return static_cast<int64_t>(d);
    }
    return Status(ErrorCode::kTypeMismatch, where + ": expected an integer");
}

Result<Value> value_from_json(const Property& p, const ordered_json& j, const std::string& where) {
    if (j.is_null()) return Value();
    auto mismatch = [&](const char* want) {
        return Status(ErrorCode::kTypeMismatch, where + ": expected " + want + ", got " + j.dump());
    };
    switch (p.type) {
        case PropertyType::kBool:
            if (!j.is_boolean()) return mismatch("true or false");
            return Value(j.get<bool>());
        case PropertyType::kFloat:
        case PropertyType::kDouble: {
            OUTPOST_ASSIGN_OR_RETURN(double d, double_from_json(j, where));
            return Value(d);
        }
        case PropertyType::kString:
            if (!j.is_string()) return mismatch("a string");
            return Value(j.get<std::string>());
        case PropertyType::kBytes: {
            if (!j.is_string()) return mismatch("a base64 string");
            auto b = base64_decode(j.get<std::string>());
            if (!b) return Status(ErrorCode::kTypeMismatch, where + ": " + b.status().message());
            return Value(std::move(b).value());
        }
        case PropertyType::kFlex: {
            OUTPOST_ASSIGN_OR_RETURN(Flex f, flex_from_json(j, 0, where));
            return Value(std::move(f));
        }
        case PropertyType::kStringVector: {
            if (!j.is_array()) return mismatch("an array of strings");
            Value::StringVector out;
            for (const auto& e : j) {
                if (!e.is_string()) return mismatch("an array of strings");
                out.push_back(e.get<std::string>());
            }
            return Value(std::move(out));
        }
        case PropertyType::kFloatVector:
        case PropertyType::kDoubleVector: {
            if (!j.is_array()) return mismatch("an array of numbers");
            Value::DoubleVector out;
            for (const auto& e : j) {
                OUTPOST_ASSIGN_OR_RETURN(double d, double_from_json(e, where));
                out.push_back(d);
            }
            return Value(std::move(out));
        }
        default:
            if (is_vector_type(p.type)) {
                if (!j.is_array()) return mismatch("an array of integers");
                Value::IntVector out;
                for (const auto& e : j) {
                    OUTPOST_ASSIGN_OR_RETURN(int64_t i, int_from_json(e, where));
                    out.push_back(i);
                }
                return Value(std::move(out));
            }
            OUTPOST_ASSIGN_OR_RETURN(int64_t i, int_from_json(j, where));
            return Value(i);
    }
}

}  // namespace

std::string base64_encode(std::span<const uint8_t> data) {
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < data.size(); i += 3) {
        uint32_t n = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        out += kB64[(n >> 18) & 63];
        out += kB64[(n >> 12) & 63];
        out += kB64[(n >> 6) & 63];
        out += kB64[n & 63];
    }
    if (i < data.size()) {
        uint32_t n = data[i] << 16;
        if (i + 1 < data.size()) n |= data[i + 1] << 8;
        out += kB64[(n >> 18) & 63];
        out += kB64[(n >> 12) & 63];
        out += i + 1 < data.size() ? kB64[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

Result<Bytes> base64_decode(std::string_view text) {
    auto val = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+' || c == '-') return 62;
        if (c == '/' || c == '_') return 63;
        return -1;
    };
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    Bytes out;
    out.reserve(text.size() * 3 / 4);
    uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        int v = val(c);
        if (v < 0) return Status(ErrorCode::kInvalidArgument, "not valid base64");
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
        }
    }
    if (bits >= 6) return Status(ErrorCode::kInvalidArgument, "not valid base64 (bad length)");
    return out;
}

std::string object_to_json(const Object& object) {
    ordered_json j;
    const Entity& e = object.entity();
    for (size_t i = 0; i < e.properties.size(); ++i) {
        const Property& p = e.properties[i];
        if (p.has(kFlagId)) {
            j[p.name] = object.id;
            continue;
        }
        j[p.name] = value_to_json(p, object.values()[i]);
    }
    for (size_t i = 0; i < e.relations.size(); ++i) j[e.relations[i].name] = object.to_many()[i];
    return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

Status object_update_from_json(Object& target, std::string_view json) {
    // Work on a copy: a rejected key leaves TARGET as it was.
    Object object = target;
    const Entity& e = object.entity();
    // The object itself is one level; a flex property holds at most kMaxNestingDepth more.
    if (!detail::json_nesting_within(json, kMaxNestingDepth + 1)) {
        return {ErrorCode::kInvalidArgument,
                e.name + ": the JSON nests deeper than " + std::to_string(kMaxNestingDepth + 1) +
                    " levels (flex values nest at most " + std::to_string(kMaxNestingDepth) + ")"};
    }
    ordered_json j = ordered_json::parse(json, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return {ErrorCode::kInvalidArgument, e.name + ": the object must be a JSON object"};
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& key = it.key();
        std::string where = e.name + "." + key;
        if (const Property* p = e.property(key)) {
            if (p->has(kFlagId)) {
                if (it->is_null()) {
                    object.id = 0;
                    continue;
                }
                OUTPOST_ASSIGN_OR_RETURN(int64_t id, int_from_json(*it, where));
                if (id < 0) return {ErrorCode::kInvalidArgument, where + ": ids are positive"};
                object.id = static_cast<uint64_t>(id);
                continue;
            }
            OUTPOST_ASSIGN_OR_RETURN(Value v, value_from_json(*p, *it, where));
            object.values()[static_cast<size_t>(p - e.properties.data())] = std::move(v);
        } else if (const Relation* r = e.relation(key)) {
            std::vector<uint64_t> ids;
            if (!it->is_null()) {
                if (!it->is_array())
                    return {ErrorCode::kTypeMismatch, where + ": expected an array of ids"};
                for (const auto& x : *it) {
                    OUTPOST_ASSIGN_OR_RETURN(int64_t id, int_from_json(x, where));
                    ids.push_back(static_cast<uint64_t>(id));
                }
            }
            object.to_many()[static_cast<size_t>(r - e.relations.data())] = std::move(ids);
        } else {
            return {ErrorCode::kUnknownProperty,
                    "entity " + e.name + " has no property \"" + key + "\""};
        }
    }
    target = std::move(object);
    return Status::ok();
}

}  // namespace outpost
