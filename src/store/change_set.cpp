// The binary change-set format (docs/change-log.md): used by change-log records and sync messages.
#include <bit>
#include <cstring>

#include "outpost/changelog.hpp"
#include "store/change_set_codec.hpp"

namespace outpost {
namespace {

constexpr uint8_t kMagic = detail::kChangeSetMagic;
constexpr uint8_t kVersion = detail::kChangeSetVersion;

enum Tag : uint8_t {
    kNull = detail::kTagNull,
    kFalse = detail::kTagFalse,
    kTrue = detail::kTagTrue,
    kInt = detail::kTagInt,
    kDouble = detail::kTagDouble,
    kString = detail::kTagString,
    kBytes = detail::kTagBytes,
    kIntVector = detail::kTagIntVector,
    kDoubleVector = detail::kTagDoubleVector,
    kStringVector = detail::kTagStringVector,
    kFlex = detail::kTagFlex,
    kArray = detail::kTagArray,
    kMap = detail::kTagMap,
};

// The scalar kinds that values and flex share; returns false for other alternatives.
template <typename T>
bool write_scalar(detail::ChangeSetWriter& w, const T& x) {
    if constexpr (std::is_same_v<T, std::monostate>) {
        w.u8(kNull);
    } else if constexpr (std::is_same_v<T, bool>) {
        w.u8(x ? kTrue : kFalse);
    } else if constexpr (std::is_same_v<T, int64_t>) {
        w.u8(kInt);
        w.zigzag(x);
    } else if constexpr (std::is_same_v<T, double>) {
        w.u8(kDouble);
        w.f64(x);
    } else if constexpr (std::is_same_v<T, std::string>) {
        w.u8(kString);
        w.str(x);
    } else if constexpr (std::is_same_v<T, Bytes>) {
        w.u8(kBytes);
        w.bytes(x.data(), x.size());
    } else {
        return false;
    }
    return true;
}

class Reader {
  public:
    Reader(const uint8_t* p, size_t n) : p_(p), end_(p + n) {}
    bool ok() const { return ok_; }
    bool at_end() const { return p_ == end_; }
    size_t left() const { return static_cast<size_t>(end_ - p_); }
    std::string error;

    bool fail(const char* what) {
        if (ok_) error = what;
        ok_ = false;
        p_ = end_;
        return false;
    }
    uint8_t u8() {
        if (p_ >= end_) return fail("truncated"), 0;
        return *p_++;
    }
    uint64_t varint() {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p_ >= end_) return fail("truncated varint"), 0;
            uint8_t b = *p_++;
            v |= static_cast<uint64_t>(b & 0x7f) << shift;
            if (!(b & 0x80)) return v;
        }
        return fail("varint too long"), 0;
    }
    // A count of elements that each take at least one byte: bounded by the bytes left.
    uint64_t count() {
        uint64_t n = varint();
        if (n > left()) return fail("count larger than the data"), 0;
        return n;
    }
    int64_t zigzag() {
        uint64_t u = varint();
        return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
    }
    double f64() {
        if (left() < 8) return fail("truncated double"), 0;
        uint64_t b = 0;
        for (int i = 0; i < 8; ++i) b |= static_cast<uint64_t>(p_[i]) << (8 * i);
        p_ += 8;
        return std::bit_cast<double>(b);
    }
    std::string str() {
        uint64_t n = varint();
        if (n > left()) return fail("truncated string"), std::string();
        std::string s(reinterpret_cast<const char*>(p_), n);
        p_ += n;
        return s;
    }

    // Decodes the scalar kinds that values and flex share into OUT; false for another tag.
    template <typename Out>
    bool scalar(uint8_t tag, Out& out) {
        switch (tag) {
            case kNull:
                out = Out();
                return true;
            case kFalse:
                out = Out(false);
                return true;
            case kTrue:
                out = Out(true);
                return true;
            case kInt:
                out = Out(zigzag());
                return true;
            case kDouble:
                out = Out(f64());
                return true;
            case kString:
                out = Out(str());
                return true;
            case kBytes: {
                std::string s = str();
                out = Out(Bytes(s.begin(), s.end()));
                return true;
            }
            default:
                return false;
        }
    }

    // DEPTH: the arrays and maps around this value; at most kMaxNestingDepth levels decode.
    Flex flex(int depth) {
        uint8_t tag = u8();
        Flex f;
        if (scalar(tag, f)) return f;
        if ((tag == kArray || tag == kMap) && depth >= kMaxNestingDepth) {
            return fail("flex nested too deeply"), Flex();
        }
        if (tag == kArray) {
            uint64_t n = count();
            Flex::Array a;
            for (uint64_t i = 0; i < n && ok_; ++i) a.push_back(flex(depth + 1));
            return Flex(std::move(a));
        }
        if (tag == kMap) {
            uint64_t n = count();
            Flex::Map m;
            for (uint64_t i = 0; i < n && ok_; ++i) {
                std::string k = str();
                m.emplace_back(std::move(k), flex(depth + 1));
            }
            return Flex(std::move(m));
        }
        return fail("unknown flex tag"), Flex();
    }

    Value value() {
        uint8_t tag = u8();
        Value v;
        if (scalar(tag, v)) return v;
        switch (tag) {
            case kIntVector: {
                uint64_t n = count();
                Value::IntVector iv;
                iv.reserve(n);
                for (uint64_t i = 0; i < n && ok_; ++i) iv.push_back(zigzag());
                return Value(std::move(iv));
            }
            case kDoubleVector: {
                uint64_t n = varint();
                if (n > left() / 8) return fail("truncated double vector"), Value();
                Value::DoubleVector dv;
                dv.reserve(n);
                for (uint64_t i = 0; i < n; ++i) dv.push_back(f64());
                return Value(std::move(dv));
            }
            case kStringVector: {
                uint64_t n = count();
                Value::StringVector sv;
                for (uint64_t i = 0; i < n && ok_; ++i) sv.push_back(str());
                return Value(std::move(sv));
            }
            case kFlex:
                return Value(flex(0));
            default:
                return fail("unknown value tag"), Value();
        }
    }

  private:
    const uint8_t* p_;
    const uint8_t* end_;
    bool ok_ = true;
};

}  // namespace

namespace detail {

void ChangeSetWriter::flex(const Flex& f) {
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, Flex::Array>) {
                u8(kArray);
                varint(x.size());
                for (const auto& e : x) flex(e);
            } else if constexpr (std::is_same_v<T, Flex::Map>) {
                u8(kMap);
                varint(x.size());
                for (const auto& [k, e] : x) {
                    str(k);
                    flex(e);
                }
            } else {
                write_scalar(*this, x);
            }
        },
        f.v);
}

void ChangeSetWriter::value(const Value& v) {
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, Value::IntVector>) {
                u8(kIntVector);
                varint(x.size());
                for (int64_t i : x) zigzag(i);
            } else if constexpr (std::is_same_v<T, Value::DoubleVector>) {
                u8(kDoubleVector);
                varint(x.size());
                for (double d : x) f64(d);
            } else if constexpr (std::is_same_v<T, Value::StringVector>) {
                u8(kStringVector);
                varint(x.size());
                for (const auto& s : x) str(s);
            } else if constexpr (std::is_same_v<T, Flex>) {
                u8(kFlex);
                flex(x);
            } else {
                write_scalar(*this, x);
            }
        },
        v.v);
}

void ChangeSetWriter::object(const ObjectChange& o, UidTable* table) {
    auto uid = [&](uint64_t u) { varint(table ? table->index(u) : u); };
    u8(o.kind);
    uid(o.entity_uid);
    str(o.gid);
    if (o.kind != ObjectChange::kPut) return;
    u8(o.is_new ? 1 : 0);
    varint(o.properties.size());
    for (const auto& p : o.properties) {
        uid(p.property_uid);
        value(p.value);
    }
    varint(o.to_many.size());
    for (const auto& r : o.to_many) {
        uid(r.relation_uid);
        varint(r.targets.size());
        for (const auto& g : r.targets) str(g);
    }
}

}  // namespace detail

std::string encode_change_set(const ChangeSet& changes) {
    std::string out;
    out.reserve(16 + changes.objects.size() * 64);
    detail::ChangeSetWriter w(out);
    w.u8(kMagic);
    w.u8(kVersion);
    w.varint(changes.objects.size());
    for (const auto& o : changes.objects) w.object(o);
    return out;
}

namespace {

Status corrupt(const std::string& what) {
    return Status(ErrorCode::kCorrupt, "change set: " + what);
}

// Reads a uid: inline (version 1) or as an index into UIDS (version 2).
uint64_t read_uid(Reader& r, const std::vector<uint64_t>* uids) {
    uint64_t v = r.varint();
    if (!uids || !r.ok()) return v;
    if (v >= uids->size()) return r.fail("uid index out of range"), 0;
    return (*uids)[v];
}

// Reads one object of KIND (its first byte, read) into O. A failure of R (truncation, bad tags, a
// uid index out of range) is left in R; a bad kind or GID is returned. UIDS: the uid table (version
// 2), or null (version 1).
Status read_object(Reader& r, ObjectChange& o, const std::vector<uint64_t>* uids, uint8_t kind) {
    if (kind != ObjectChange::kPut && kind != ObjectChange::kRemove) {
        if (r.ok()) return corrupt("unknown change kind " + std::to_string(kind));
        return Status::ok();
    }
    o.kind = static_cast<ObjectChange::Kind>(kind);
    o.entity_uid = read_uid(r, uids);
    o.gid = r.str();
    if (r.ok()) {
        Status st = validate_gid(o.gid);
        if (!st) return corrupt(st.message());
    }
    if (o.kind == ObjectChange::kPut) {
        uint8_t flags = r.u8();
        if (flags > 1) r.fail("unknown put flags");
        o.is_new = flags & 1;
        uint64_t np = r.count();
        for (uint64_t j = 0; j < np && r.ok(); ++j) {
            PropertyChange pc;
            pc.property_uid = read_uid(r, uids);
            pc.value = r.value();
            o.properties.push_back(std::move(pc));
        }
        uint64_t nr = r.count();
        for (uint64_t j = 0; j < nr && r.ok(); ++j) {
            ToManyChange tc;
            tc.relation_uid = read_uid(r, uids);
            uint64_t nt = r.count();
            for (uint64_t k = 0; k < nt && r.ok(); ++k) tc.targets.push_back(r.str());
            o.to_many.push_back(std::move(tc));
        }
    }
    return Status::ok();
}

}  // namespace

namespace {

Result<ChangeSet> decode(std::span<const uint8_t> data, const detail::StoredObjectReader* stored) {
    Reader r(data.data(), data.size());
    if (r.u8() != kMagic) return corrupt("bad magic byte");
    uint8_t version = r.u8();
    if (!r.ok()) return corrupt(r.error);
    if (version != kVersion && version != detail::kChangeSetVersionUidTable) {
        return corrupt("unsupported version " + std::to_string(version));
    }
    std::vector<uint64_t> uids;
    if (version == detail::kChangeSetVersionUidTable) {
        uint64_t nu = r.count();
        uids.reserve(nu);
        for (uint64_t i = 0; i < nu && r.ok(); ++i) uids.push_back(r.varint());
    }
    const std::vector<uint64_t>* table =
        version == detail::kChangeSetVersionUidTable ? &uids : nullptr;
    ChangeSet cs;
    uint64_t n = r.count();
    for (uint64_t i = 0; i < n && r.ok(); ++i) {
        uint8_t kind = r.u8();
        if (kind == detail::kEntryStored && stored) {
            uint64_t entity_uid = read_uid(r, table);
            uint64_t first = r.varint(), count = r.varint();
            if (!r.ok()) break;
            if (first == 0 || count > UINT64_MAX - first)
                return corrupt("stored entry ids out of range");
            OUTPOST_RETURN_IF_ERROR((*stored)(entity_uid, first, count, cs.objects));
            continue;
        }
        ObjectChange o;
        OUTPOST_RETURN_IF_ERROR(read_object(r, o, table, kind));
        if (!r.ok()) break;
        cs.objects.push_back(std::move(o));
    }
    if (!r.ok()) return corrupt(r.error);
    if (!r.at_end()) return corrupt("trailing bytes");
    return cs;
}

}  // namespace

Result<ChangeSet> decode_change_set(std::span<const uint8_t> data) { return decode(data, nullptr); }

namespace detail {
Result<ChangeSet> decode_record(std::span<const uint8_t> data, const StoredObjectReader& stored) {
    return decode(data, &stored);
}
}  // namespace detail

namespace detail {

Result<ObjectChange> decode_object_change(std::span<const uint8_t> data,
                                          const std::vector<uint64_t>* uids) {
    Reader r(data.data(), data.size());
    ObjectChange o;
    OUTPOST_RETURN_IF_ERROR(read_object(r, o, uids, r.u8()));
    if (!r.ok()) return corrupt(r.error);
    if (!r.at_end()) return corrupt("trailing bytes");
    return o;
}

}  // namespace detail

}  // namespace outpost
