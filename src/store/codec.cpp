// The object codec: objects are FlatBuffers tables with one field per property, the field's vtable
// slot being the property id - 1 (so renames and removals never move data). An absent field is
// null. Flex values are FlexBuffers stored as a byte vector.
#include "store/codec.hpp"

#include <flatbuffers/flatbuffers.h>
#include <flatbuffers/flexbuffers.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "store/store_core.hpp"

namespace outpost {
namespace detail {
namespace {

flatbuffers::voffset_t vt_offset(const Property& p) {
    return static_cast<flatbuffers::voffset_t>(4 + 2 * (p.id.id - 1));
}

void write_flex(flexbuffers::Builder& fb, const Flex& f) {
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
                fb.Null();
            } else if constexpr (std::is_same_v<T, bool>) {
                fb.Bool(x);
            } else if constexpr (std::is_same_v<T, int64_t>) {
                fb.Int(x);
            } else if constexpr (std::is_same_v<T, double>) {
                fb.Double(x);
            } else if constexpr (std::is_same_v<T, std::string>) {
                fb.String(x.data(), x.size());
            } else if constexpr (std::is_same_v<T, Bytes>) {
                fb.Blob(x.data(), x.size());
            } else if constexpr (std::is_same_v<T, Flex::Array>) {
                auto start = fb.StartVector();
                for (const auto& e : x) write_flex(fb, e);
                fb.EndVector(start, false, false);
            } else {
                // FlexBuffers maps need distinct keys: the first of duplicate keys wins.
                std::set<std::string_view> seen;
                auto start = fb.StartMap();
                for (const auto& [k, e] : x) {
                    if (!seen.insert(k).second) continue;
                    fb.Key(k.data(), k.size());
                    write_flex(fb, e);
                }
                fb.EndMap(start);
            }
        },
        f.v);
}

// DEPTH: the arrays and maps around R. Stored values nest at most kMaxNestingDepth levels (see
// set_flex); a deeper container can only come from damaged bytes and reads as null.
Flex read_flex(const flexbuffers::Reference& r, int depth = 0) {
    switch (r.GetType()) {
        case flexbuffers::FBT_NULL:
            return Flex();
        case flexbuffers::FBT_BOOL:
            return Flex(r.AsBool());
        case flexbuffers::FBT_INT:
        case flexbuffers::FBT_INDIRECT_INT:
            return Flex(r.AsInt64());
        case flexbuffers::FBT_UINT:
        case flexbuffers::FBT_INDIRECT_UINT:
            return Flex(static_cast<int64_t>(r.AsUInt64()));
        case flexbuffers::FBT_FLOAT:
        case flexbuffers::FBT_INDIRECT_FLOAT:
            return Flex(r.AsDouble());
        case flexbuffers::FBT_STRING:
        case flexbuffers::FBT_KEY:
            return Flex(r.AsString().str());
        case flexbuffers::FBT_BLOB: {
            auto b = r.AsBlob();
            return Flex(Bytes(b.data(), b.data() + b.size()));
        }
        case flexbuffers::FBT_MAP: {
            if (depth >= kMaxNestingDepth) return Flex();
            auto m = r.AsMap();
            auto keys = m.Keys();
            auto vals = m.Values();
            Flex::Map out;
            out.reserve(m.size());
            for (size_t i = 0; i < m.size(); ++i) {
                out.emplace_back(keys[i].AsKey(), read_flex(vals[i], depth + 1));
            }
            return Flex(std::move(out));
        }
        default:
            if (r.IsAnyVector()) {
                if (depth >= kMaxNestingDepth) return Flex();
                auto v = r.AsVector();
                Flex::Array out;
                out.reserve(v.size());
                for (size_t i = 0; i < v.size(); ++i) out.push_back(read_flex(v[i], depth + 1));
                return Flex(std::move(out));
            }
            return Flex();
    }
}

const flatbuffers::Table* table_of(const uint8_t* data) {
    return flatbuffers::GetRoot<flatbuffers::Table>(data);
}

}  // namespace

struct WriterState {
    struct Pending {
        flatbuffers::voffset_t vt;
        PropertyType type;
        bool is_offset;
        union {
            int64_t i;
            double d;
            uint32_t off;
        };
    };
    flatbuffers::FlatBufferBuilder builder{256};
    flexbuffers::Builder flex{256};
    std::vector<Pending> pending;
    const EntityInfo* info = nullptr;
    Status error;

    const Property& prop(int pos) const { return info->entity->properties[pos]; }
    void fail(Status s) {
        if (error.is_ok()) error = std::move(s);
    }
    Pending& add(int pos, bool is_offset) {
        Pending p{};
        p.vt = vt_offset(prop(pos));
        p.type = prop(pos).type;
        p.is_offset = is_offset;
        return pending.emplace_back(p);
    }
    void add_scalar(int pos, int64_t i) { add(pos, false).i = i; }
    void add_double(int pos, double d) { add(pos, false).d = d; }
    void add_offset(int pos, uint32_t off) { add(pos, true).off = off; }
};

namespace {
thread_local WriterState tl_writer;

bool fits(PropertyType t, int64_t v, bool is_unsigned) {
    switch (t) {
        case PropertyType::kInt8:
            return is_unsigned ? (v >= 0 && v <= 255) : (v >= -128 && v <= 127);
        case PropertyType::kInt16:
            return is_unsigned ? (v >= 0 && v <= 65535) : (v >= -32768 && v <= 32767);
        case PropertyType::kInt32:
            return is_unsigned ? (v >= 0 && v <= 4294967295LL)
                               : (v >= std::numeric_limits<int32_t>::min() &&
                                  v <= std::numeric_limits<int32_t>::max());
        default:
            return true;
    }
}

Status out_of_range(const EntityInfo& info, const Property& p, int64_t v) {
    return {ErrorCode::kValueOutOfRange, info.entity->name + "." + p.name + ": value " +
                                             std::to_string(v) + " does not fit type " +
                                             std::string(property_type_name(p.type))};
}
}  // namespace

WriterState* writer_begin(const EntityInfo& info) {
    WriterState* s = &tl_writer;
    s->builder.Clear();
    s->builder.ForceDefaults(true);
    s->pending.clear();
    s->info = &info;
    s->error = Status::ok();
    return s;
}

Result<std::span<const uint8_t>> writer_finish(WriterState* s) {
    if (!s->error.is_ok()) return s->error;
    auto& b = s->builder;
    auto start = b.StartTable();
    const uint16_t id_field = s->info->id_field;
    // Larger scalars first keeps alignment padding small.
    for (const auto& p : s->pending) {
        if (p.vt == id_field)
            continue;  // the id is the key; in synced records this field is the GID's
        if (p.is_offset) {
            b.AddOffset(p.vt, flatbuffers::Offset<void>(p.off));
            continue;
        }
        switch (p.type) {
            case PropertyType::kBool:
                b.AddElement<uint8_t>(p.vt, p.i ? 1 : 0);
                break;
            case PropertyType::kInt8:
                b.AddElement<int8_t>(p.vt, static_cast<int8_t>(p.i));
                break;
            case PropertyType::kInt16:
                b.AddElement<int16_t>(p.vt, static_cast<int16_t>(p.i));
                break;
            case PropertyType::kInt32:
                b.AddElement<int32_t>(p.vt, static_cast<int32_t>(p.i));
                break;
            case PropertyType::kFloat:
                b.AddElement<float>(p.vt, static_cast<float>(p.d));
                break;
            case PropertyType::kDouble:
                b.AddElement<double>(p.vt, p.d);
                break;
            default:
                b.AddElement<int64_t>(p.vt, p.i);
                break;
        }
    }
    // The GID's field: put_bytes points it at the GID it appends to the record.
    if (s->info->gid_in_record) b.AddElement<uint32_t>(id_field, 0);
    auto end = b.EndTable(start);
    b.Finish(flatbuffers::Offset<flatbuffers::Table>(end));
    return std::span<const uint8_t>(b.GetBufferPointer(), b.GetSize());
}

}  // namespace detail

using detail::WriterState;

// ---- ObjectWriter ----

void ObjectWriter::set_bool(int pos, bool v) { s_->add_scalar(pos, v ? 1 : 0); }

void ObjectWriter::set_int(int pos, int64_t v) {
    const Property& p = s_->prop(pos);
    if (p.type == PropertyType::kRelation && v == 0) return;  // 0 = no target = null
    if (!detail::fits(p.type, v, p.has(kFlagUnsigned))) {
        s_->fail(detail::out_of_range(*s_->info, p, v));
        return;
    }
    s_->add_scalar(pos, v);
}

void ObjectWriter::set_double(int pos, double v) {
    const Property& p = s_->prop(pos);
    if (p.type == PropertyType::kFloat && std::isfinite(v) &&
        std::abs(v) > static_cast<double>(std::numeric_limits<float>::max())) {
        s_->fail(Status(ErrorCode::kValueOutOfRange, s_->info->entity->name + "." + p.name +
                                                         ": value " + std::to_string(v) +
                                                         " does not fit type float"));
        return;
    }
    s_->add_double(pos, v);
}

void ObjectWriter::set_string(int pos, std::string_view v) {
    s_->add_offset(pos, s_->builder.CreateString(v.data(), v.size()).o);
}

void ObjectWriter::set_bytes(int pos, std::span<const uint8_t> v) {
    s_->add_offset(pos, s_->builder.CreateVector(v.data(), v.size()).o);
}

void ObjectWriter::set_int_vector(int pos, std::span<const int64_t> v) {
    const Property& p = s_->prop(pos);
    auto& b = s_->builder;
    PropertyType et = element_type(p.type);
    for (int64_t x : v) {
        if (!detail::fits(et, x, p.has(kFlagUnsigned))) {
            s_->fail(detail::out_of_range(*s_->info, p, x));
            return;
        }
    }
    auto narrow = [&](auto tag) {
        using T = decltype(tag);
        std::vector<T> tmp(v.begin(), v.end());
        return b.CreateVector(tmp).o;
    };
    uint32_t off = 0;
    switch (et) {
        case PropertyType::kInt8:
            off = narrow(int8_t{});
            break;
        case PropertyType::kInt16:
            off = narrow(int16_t{});
            break;
        case PropertyType::kInt32:
            off = narrow(int32_t{});
            break;
        default:
            off = b.CreateVector(v.data(), v.size()).o;
            break;
    }
    s_->add_offset(pos, off);
}

void ObjectWriter::set_double_vector(int pos, std::span<const double> v) {
    const Property& p = s_->prop(pos);
    if (p.type == PropertyType::kFloatVector) {
        for (double d : v) {
            if (std::isfinite(d) &&
                std::abs(d) > static_cast<double>(std::numeric_limits<float>::max())) {
                s_->fail(Status(ErrorCode::kValueOutOfRange, s_->info->entity->name + "." + p.name +
                                                                 ": value " + std::to_string(d) +
                                                                 " does not fit type float"));
                return;
            }
        }
    }
    auto& b = s_->builder;
    uint32_t off;
    if (p.type == PropertyType::kFloatVector) {
        std::vector<float> tmp(v.begin(), v.end());
        off = b.CreateVector(tmp).o;
    } else {
        off = b.CreateVector(v.data(), v.size()).o;
    }
    s_->add_offset(pos, off);
}

void ObjectWriter::set_string_vector(int pos, const std::vector<std::string>& v) {
    s_->add_offset(pos, s_->builder.CreateVectorOfStrings(v).o);
}

namespace detail {
namespace {
// FlexBuffers map keys are C strings: a key holding a NUL byte cannot be stored.
// REQUIRES: F nests at most kMaxNestingDepth levels (the recursion follows it).
bool flex_keys_storable(const Flex& f) {
    if (const auto* a = std::get_if<Flex::Array>(&f.v)) {
        for (const auto& e : *a) {
            if (!flex_keys_storable(e)) return false;
        }
    } else if (const auto* m = std::get_if<Flex::Map>(&f.v)) {
        for (const auto& [k, e] : *m) {
            if (k.find('\0') != std::string::npos || !flex_keys_storable(e)) return false;
        }
    }
    return true;
}
}  // namespace
}  // namespace detail

void ObjectWriter::set_flex(int pos, const Flex& v) {
    if (!flex_nesting_within(v)) {
        const Property& p = s_->prop(pos);
        s_->fail(Status(ErrorCode::kInvalidArgument,
                        s_->info->entity->name + "." + p.name + ": flex values nest at most " +
                            std::to_string(kMaxNestingDepth) + " levels"));
        return;
    }
    if (!detail::flex_keys_storable(v)) {
        const Property& p = s_->prop(pos);
        s_->fail(Status(
            ErrorCode::kInvalidArgument,
            s_->info->entity->name + "." + p.name + ": flex map keys may not contain NUL bytes"));
        return;
    }
    auto& fb = s_->flex;
    fb.Clear();
    detail::write_flex(fb, v);
    fb.Finish();
    const auto& buf = fb.GetBuffer();
    s_->add_offset(pos, s_->builder.CreateVector(buf.data(), buf.size()).o);
}

Status ObjectWriter::set_value(int pos, const Value& v) {
    const Property& p = s_->prop(pos);
    if (v.is_null()) return Status::ok();
    auto mismatch = [&](const char* got) {
        return Status(ErrorCode::kTypeMismatch,
                      s_->info->entity->name + "." + p.name + ": expected " +
                          std::string(property_type_name(p.type)) + ", got " + got);
    };
    switch (p.type) {
        case PropertyType::kBool:
            if (!v.is<bool>()) return mismatch("another type");
            set_bool(pos, v.as<bool>());
            break;
        case PropertyType::kInt8:
        case PropertyType::kInt16:
        case PropertyType::kInt32:
        case PropertyType::kInt64:
        case PropertyType::kDate:
        case PropertyType::kDateNano:
        case PropertyType::kRelation:
            if (!v.is<int64_t>()) return mismatch("a non-integer");
            set_int(pos, v.as<int64_t>());
            break;
        case PropertyType::kFloat:
        case PropertyType::kDouble:
            if (v.is<double>()) {
                set_double(pos, v.as<double>());
            } else if (v.is<int64_t>()) {
                set_double(pos, static_cast<double>(v.as<int64_t>()));
            } else {
                return mismatch("a non-number");
            }
            break;
        case PropertyType::kString:
            if (!v.is<std::string>()) return mismatch("a non-string");
            set_string(pos, v.as<std::string>());
            break;
        case PropertyType::kBytes:
            if (!v.is<Bytes>()) return mismatch("non-bytes");
            set_bytes(pos, v.as<Bytes>());
            break;
        case PropertyType::kFlex:
            if (v.is<Flex>()) {
                set_flex(pos, v.as<Flex>());
            } else if (v.is<bool>()) {
                set_flex(pos, Flex(v.as<bool>()));
            } else if (v.is<int64_t>()) {
                set_flex(pos, Flex(v.as<int64_t>()));
            } else if (v.is<double>()) {
                set_flex(pos, Flex(v.as<double>()));
            } else if (v.is<std::string>()) {
                set_flex(pos, Flex(v.as<std::string>()));
            } else {
                return mismatch("a value that is not flex");
            }
            break;
        case PropertyType::kInt8Vector:
        case PropertyType::kInt16Vector:
        case PropertyType::kInt32Vector:
        case PropertyType::kInt64Vector:
        case PropertyType::kDateVector:
            if (!v.is<Value::IntVector>()) return mismatch("a non-integer vector");
            set_int_vector(pos, v.as<Value::IntVector>());
            break;
        case PropertyType::kFloatVector:
        case PropertyType::kDoubleVector:
            if (v.is<Value::DoubleVector>()) {
                set_double_vector(pos, v.as<Value::DoubleVector>());
            } else if (v.is<Value::IntVector>()) {
                const auto& iv = v.as<Value::IntVector>();
                std::vector<double> dv(iv.begin(), iv.end());
                set_double_vector(pos, dv);
            } else {
                return mismatch("a non-number vector");
            }
            break;
        case PropertyType::kStringVector:
            if (!v.is<Value::StringVector>()) return mismatch("a non-string vector");
            set_string_vector(pos, v.as<Value::StringVector>());
            break;
    }
    return s_->error;
}

// ---- ObjectReader ----

namespace {
const Property& reader_prop(const detail::EntityInfo* info, int pos) {
    return info->entity->properties[pos];
}
}  // namespace

bool ObjectReader::is_null(int pos) const {
    return !detail::table_of(data_)->CheckField(detail::vt_offset(reader_prop(info_, pos)));
}

bool ObjectReader::get_bool(int pos) const {
    return detail::table_of(data_)->GetField<uint8_t>(detail::vt_offset(reader_prop(info_, pos)),
                                                      0) != 0;
}

int64_t ObjectReader::get_int(int pos) const {
    const Property& p = reader_prop(info_, pos);
    const auto* t = detail::table_of(data_);
    auto vt = detail::vt_offset(p);
    bool u = p.has(kFlagUnsigned);
    switch (p.type) {
        case PropertyType::kBool:
            return t->GetField<uint8_t>(vt, 0);
        case PropertyType::kInt8:
            return u ? static_cast<int64_t>(static_cast<uint8_t>(t->GetField<int8_t>(vt, 0)))
                     : t->GetField<int8_t>(vt, 0);
        case PropertyType::kInt16:
            return u ? static_cast<int64_t>(static_cast<uint16_t>(t->GetField<int16_t>(vt, 0)))
                     : t->GetField<int16_t>(vt, 0);
        case PropertyType::kInt32:
            return u ? static_cast<int64_t>(static_cast<uint32_t>(t->GetField<int32_t>(vt, 0)))
                     : t->GetField<int32_t>(vt, 0);
        case PropertyType::kFloat:
            return static_cast<int64_t>(t->GetField<float>(vt, 0));
        case PropertyType::kDouble:
            return static_cast<int64_t>(t->GetField<double>(vt, 0));
        default:
            return t->GetField<int64_t>(vt, 0);
    }
}

double ObjectReader::get_double(int pos) const {
    const Property& p = reader_prop(info_, pos);
    const auto* t = detail::table_of(data_);
    auto vt = detail::vt_offset(p);
    if (p.type == PropertyType::kFloat) return t->GetField<float>(vt, 0);
    if (p.type == PropertyType::kDouble) return t->GetField<double>(vt, 0);
    return static_cast<double>(get_int(pos));
}

std::string_view ObjectReader::get_string(int pos) const {
    const auto* s = detail::table_of(data_)->GetPointer<const flatbuffers::String*>(
        detail::vt_offset(reader_prop(info_, pos)));
    return s ? std::string_view(s->data(), s->size()) : std::string_view();
}

std::span<const uint8_t> ObjectReader::get_bytes(int pos) const {
    const auto* v = detail::table_of(data_)->GetPointer<const flatbuffers::Vector<uint8_t>*>(
        detail::vt_offset(reader_prop(info_, pos)));
    return v ? std::span<const uint8_t>(v->data(), v->size()) : std::span<const uint8_t>();
}

std::vector<int64_t> ObjectReader::get_int_vector(int pos) const {
    const Property& p = reader_prop(info_, pos);
    const auto* t = detail::table_of(data_);
    auto vt = detail::vt_offset(p);
    bool u = p.has(kFlagUnsigned);
    std::vector<int64_t> out;
    auto copy = [&](auto tag) {
        using T = decltype(tag);
        const auto* v = t->GetPointer<const flatbuffers::Vector<T>*>(vt);
        if (!v) return;
        out.reserve(v->size());
        for (auto x : *v) {
            if (u) {
                out.push_back(static_cast<int64_t>(static_cast<std::make_unsigned_t<T>>(x)));
            } else {
                out.push_back(static_cast<int64_t>(x));
            }
        }
    };
    switch (element_type(p.type)) {
        case PropertyType::kInt8:
            copy(int8_t{});
            break;
        case PropertyType::kInt16:
            copy(int16_t{});
            break;
        case PropertyType::kInt32:
            copy(int32_t{});
            break;
        default:
            copy(int64_t{});
            break;
    }
    return out;
}

std::vector<double> ObjectReader::get_double_vector(int pos) const {
    const Property& p = reader_prop(info_, pos);
    const auto* t = detail::table_of(data_);
    auto vt = detail::vt_offset(p);
    std::vector<double> out;
    if (p.type == PropertyType::kFloatVector) {
        if (const auto* v = t->GetPointer<const flatbuffers::Vector<float>*>(vt)) {
            out.assign(v->begin(), v->end());
        }
    } else if (const auto* v = t->GetPointer<const flatbuffers::Vector<double>*>(vt)) {
        out.assign(v->begin(), v->end());
    }
    return out;
}

std::vector<std::string> ObjectReader::get_string_vector(int pos) const {
    const auto* v =
        detail::table_of(data_)
            ->GetPointer<const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>*>(
                detail::vt_offset(reader_prop(info_, pos)));
    std::vector<std::string> out;
    if (v) {
        out.reserve(v->size());
        for (const auto* s : *v) out.emplace_back(s->data(), s->size());
    }
    return out;
}

Flex ObjectReader::get_flex(int pos) const {
    auto b = get_bytes(pos);
    if (b.empty()) return Flex();
    return detail::read_flex(flexbuffers::GetRoot(b.data(), b.size()));
}

Value ObjectReader::get_value(int pos) const {
    const Property& p = reader_prop(info_, pos);
    if (is_null(pos)) return Value();
    switch (p.type) {
        case PropertyType::kBool:
            return Value(get_bool(pos));
        case PropertyType::kFloat:
        case PropertyType::kDouble:
            return Value(get_double(pos));
        case PropertyType::kString:
            return Value(std::string(get_string(pos)));
        case PropertyType::kBytes: {
            auto b = get_bytes(pos);
            return Value(Bytes(b.begin(), b.end()));
        }
        case PropertyType::kFlex:
            return Value(get_flex(pos));
        case PropertyType::kInt8Vector:
        case PropertyType::kInt16Vector:
        case PropertyType::kInt32Vector:
        case PropertyType::kInt64Vector:
        case PropertyType::kDateVector:
            return Value(get_int_vector(pos));
        case PropertyType::kFloatVector:
        case PropertyType::kDoubleVector:
            return Value(get_double_vector(pos));
        case PropertyType::kStringVector:
            return Value(get_string_vector(pos));
        default:
            return Value(get_int(pos));
    }
}

namespace detail {

void read_object(const ObjectReader& reader, Object& object) {
    auto& vals = object.values();
    for (size_t i = 0; i < vals.size(); ++i) {
        if (object.entity().properties[i].has(kFlagId)) continue;
        vals[i] = reader.get_value(static_cast<int>(i));
    }
}

Status write_object(const Object& object, ObjectWriter& w) {
    const auto& vals = object.values();
    for (size_t i = 0; i < vals.size(); ++i) {
        if (object.entity().properties[i].has(kFlagId)) continue;
        OUTPOST_RETURN_IF_ERROR(w.set_value(static_cast<int>(i), vals[i]));
    }
    return Status::ok();
}

}  // namespace detail

}  // namespace outpost
