#pragma once
// The values of an object of a plain_log entity (EntityInfo::plain_log) read straight from its
// FlatBuffers table into the change-set encoding: what the change log writes for a new object
// (changelog.cpp) and what reading a record makes of a stored object (changelog_stored.cpp).

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>

#include "store/change_set_codec.hpp"
#include "store/store_core.hpp"

namespace outpost::detail {

template <typename T>
T load_le(const uint8_t* p) {
    T v;
    std::memcpy(&v, p,
                sizeof v);  // FlatBuffers is little-endian, like every platform Outpost builds on
    return v;
}

// The room put_plain_values may take for the table RAW of E.
inline size_t plain_values_bound(const EntityInfo& e, std::span<const uint8_t> raw) {
    // A value takes at most 16 bytes besides string and bytes payloads, which the table holds too.
    return 2 + 16 * e.entity->properties.size() + raw.size();
}

// Writes at P the property count, then (uid or uid index, value) for each non-null property of the
// table RAW of E but the id, then an empty to-many list count: the `object` production's tail after
// its put flags (docs/change-log.md). UID_OF(i) writes the uid (or its index) of property i at P
// and returns the end. Returns the end. REQUIRES: room for plain_values_bound bytes.
template <typename UidOf>
char* put_plain_values(char* p, const EntityInfo& e, std::span<const uint8_t> raw, UidOf&& uid_of) {
    const auto& props = e.entity->properties;
    const uint8_t* table = raw.data() + load_le<uint32_t>(raw.data());
    const uint8_t* vtable = table - load_le<int32_t>(table);
    const uint16_t vt_size = load_le<uint16_t>(vtable);
    char* count = p++;  // one byte: plain_log entities have fewer than 128 properties
    unsigned n = 0;
    for (size_t i = 0; i < props.size(); ++i) {
        const Property& prop = props[i];
        auto vt = static_cast<uint16_t>(4 + 2 * (prop.id.id - 1));
        uint16_t off = vt < vt_size ? load_le<uint16_t>(vtable + vt) : 0;
        if (off == 0 || vt == e.id_field) continue;  // null, or the id (the GID's field)
        const uint8_t* f = table + off;
        p = uid_of(p, i);
        ++n;
        bool u = prop.has(kFlagUnsigned);
        int64_t iv = 0;
        switch (prop.type) {
            case PropertyType::kBool:
                *p++ = static_cast<char>(load_le<uint8_t>(f) != 0 ? kTagTrue : kTagFalse);
                continue;
            case PropertyType::kFloat:
            case PropertyType::kDouble: {
                double d = prop.type == PropertyType::kFloat ? double{load_le<float>(f)}
                                                             : load_le<double>(f);
                uint64_t b = std::bit_cast<uint64_t>(d);
                *p++ = static_cast<char>(kTagDouble);
                for (int k = 0; k < 8; ++k) *p++ = static_cast<char>((b >> (8 * k)) & 0xff);
                continue;
            }
            case PropertyType::kString:
            case PropertyType::kBytes: {
                const uint8_t* v = f + load_le<uint32_t>(f);
                uint32_t len = load_le<uint32_t>(v);
                *p++ =
                    static_cast<char>(prop.type == PropertyType::kString ? kTagString : kTagBytes);
                p = put_varint(p, len);
                if (len != 0) std::memcpy(p, v + 4, len);
                p += len;
                continue;
            }
            // The integer as ObjectReader::get_int reads it.
            case PropertyType::kInt8:
                iv = u ? int64_t{load_le<uint8_t>(f)} : int64_t{load_le<int8_t>(f)};
                break;
            case PropertyType::kInt16:
                iv = u ? int64_t{load_le<uint16_t>(f)} : int64_t{load_le<int16_t>(f)};
                break;
            case PropertyType::kInt32:
                iv = u ? int64_t{load_le<uint32_t>(f)} : int64_t{load_le<int32_t>(f)};
                break;
            default:
                iv = load_le<int64_t>(f);
                break;
        }
        *p++ = static_cast<char>(kTagInt);
        p = put_varint(p, (static_cast<uint64_t>(iv) << 1) ^ static_cast<uint64_t>(iv >> 63));
    }
    *count = static_cast<char>(n);
    *p++ = 0;  // to-many lists are not in the table (log_to_many adds them to a new object's entry)
    return p;
}

}  // namespace outpost::detail
