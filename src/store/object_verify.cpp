// Verification of stored objects against their entity (object_verify.hpp). The layout checked here
// is the one codec.cpp writes and docs/storage.md describes.
#include "store/object_verify.hpp"

#include <flatbuffers/flatbuffers.h>
#include <flatbuffers/flexbuffers.h>

#include <cstring>
#include <vector>

#include "store/store_core.hpp"

namespace outpost::detail {
namespace {

using flatbuffers::Offset;
using flatbuffers::String;
using flatbuffers::Vector;
using flatbuffers::Verifier;

uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;  // FlatBuffers is little-endian, like every platform Outpost builds on
}
uint16_t load_u16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}

// FlexBuffers' verifier counts levels of vectors (maps, arrays, strings, blobs): a string inside
// kMaxStoredFlexDepth arrays and maps sits at level kMaxStoredFlexDepth + 1, the deepest the writer
// stores.
constexpr size_t kMaxFlexLevels = kMaxStoredFlexDepth + 1;

bool flex_ok(const Vector<uint8_t>* bytes) {
    if (bytes->size() == 0) return true;  // read as null
    // The reuse tracker marks what was verified, so that keys shared by many maps (the builder
    // shares them) are checked once: without it a damaged buffer can make verification quadratic.
    std::vector<uint8_t> verified;
    flexbuffers::Verifier fv(bytes->data(), bytes->size(), &verified, true, kMaxFlexLevels);
    return fv.VerifyBuffer();
}

ObjectDamage damage(int pos, const char* what) { return ObjectDamage{pos, what}; }

const char* outside(FieldCheck::Kind kind) {
    switch (kind) {
        case FieldCheck::kScalar:
            return "the value lies outside the object's table";
        case FieldCheck::kString:
            return "the string is cut off or lies outside the record";
        case FieldCheck::kVector:
            return "the vector lies outside the record";
        case FieldCheck::kStringVector:
            return "a string of the vector is cut off or lies outside the record";
        case FieldCheck::kFlex:
            return "the flex value lies outside the record";
    }
    return "the field lies outside the record";
}

}  // namespace

std::vector<FieldCheck> field_checks_of(const Entity& entity) {
    std::vector<FieldCheck> out;
    for (size_t i = 0; i < entity.properties.size(); ++i) {
        const Property& p = entity.properties[i];
        // The id is the key, not a field (a synced record's GID is checked apart).
        if (p.has(kFlagId)) continue;
        FieldCheck c;
        c.slot = static_cast<uint16_t>(4 + 2 * (p.id.id - 1));
        c.pos = static_cast<int32_t>(i);
        using T = PropertyType;
        switch (p.type) {
            case T::kBool:
            case T::kInt8:
                c.width = 1;
                break;
            case T::kInt16:
                c.width = 2;
                break;
            case T::kInt32:
            case T::kFloat:
                c.width = 4;
                break;
            case T::kInt64:
            case T::kDouble:
            case T::kDate:
            case T::kDateNano:
            case T::kRelation:
                c.width = 8;
                break;
            case T::kString:
                c.kind = FieldCheck::kString;
                c.width = 1;
                break;
            case T::kBytes:
                c.kind = FieldCheck::kVector;
                c.width = 1;
                break;
            case T::kFlex:
                c.kind = FieldCheck::kFlex;
                c.width = 1;
                break;
            case T::kInt8Vector:
                c.kind = FieldCheck::kVector;
                c.width = 1;
                break;
            case T::kInt16Vector:
                c.kind = FieldCheck::kVector;
                c.width = 2;
                break;
            case T::kInt32Vector:
            case T::kFloatVector:
                c.kind = FieldCheck::kVector;
                c.width = 4;
                break;
            case T::kInt64Vector:
            case T::kDateVector:
            case T::kDoubleVector:
                c.kind = FieldCheck::kVector;
                c.width = 8;
                break;
            case T::kStringVector:
                c.kind = FieldCheck::kStringVector;
                c.width = 4;
                break;
        }
        c.field_width = c.kind == FieldCheck::kScalar ? c.width : 4;
        out.push_back(c);
    }
    return out;
}

namespace {

// The object the offset field at AT (inside the table, so AT <= SIZE - 4) points to, checked as the
// field of C; ok() when it is sound.
ObjectDamage check_target(const FieldCheck& c, const uint8_t* data, size_t size, size_t at) {
    const uint32_t rel = load_u32(data + at);
    if (rel == 0 || rel > size - at - 1) return damage(c.pos, outside(c.kind));
    const uint8_t* p = data + at + rel;
    Verifier v(data, size);
    bool ok = true;
    switch (c.kind) {
        case FieldCheck::kScalar:
            break;
        case FieldCheck::kString:
            ok = v.VerifyString(reinterpret_cast<const String*>(p));
            break;
        case FieldCheck::kVector:
            ok = v.VerifyVectorOrString(p, c.width);
            break;
        case FieldCheck::kStringVector: {
            const auto* vec = reinterpret_cast<const Vector<Offset<String>>*>(p);
            ok = v.VerifyVector(vec) && v.VerifyVectorOfStrings(vec);
            break;
        }
        case FieldCheck::kFlex:
            if (!v.VerifyVectorOrString(p, 1)) return damage(c.pos, outside(c.kind));
            if (!flex_ok(reinterpret_cast<const Vector<uint8_t>*>(p))) {
                return damage(c.pos,
                              "the flex value is not a valid FlexBuffer (damaged, or nested deeper "
                              "than 64 levels)");
            }
            break;
    }
    return ok ? ObjectDamage{} : damage(c.pos, outside(c.kind));
}

}  // namespace

// The table and vtable are checked here as flatbuffers::Verifier::VerifyTableStart does, and more
// strictly: the table's inline size (the vtable's second entry) must lie inside the record too, so
// that each field needs one comparison with it (with StoreOptions::verify_objects this runs on
// every read: it is kept short, bench/RESULTS.md). What offsets point at (strings, vectors) is
// checked by flatbuffers::Verifier, FlexBuffers by flexbuffers::Verifier. Alignment is checked
// relative to the record's start, as the builder aligns (LMDB keeps values only 2-byte aligned).
ObjectDamage find_object_damage(const EntityInfo& e, const uint8_t* data, size_t size) {
    if (data == nullptr || size < 8) return damage(-1, "the record is too short to hold an object");
    if (size >= FLATBUFFERS_MAX_BUFFER_SIZE) {
        return damage(-1, "the record is larger than an object can be");
    }
    const uint32_t table = load_u32(data);
    if (table == 0 || table % 4 != 0 || table > size - 4) {
        return damage(-1, "the table offset points outside the record");
    }
    const int64_t vtable =
        static_cast<int64_t>(table) - static_cast<int32_t>(load_u32(data + table));
    if (vtable < 0 || vtable % 2 != 0 || vtable > static_cast<int64_t>(size) - 4) {
        return damage(-1, "the vtable lies outside the record");
    }
    const uint8_t* vt = data + vtable;
    const uint32_t vt_size = load_u16(vt);
    const uint32_t table_size = load_u16(vt + 2);
    if (vt_size < 4 || vt_size % 2 != 0 || static_cast<uint64_t>(vtable) + vt_size > size ||
        table_size < 4 || uint64_t{table} + table_size > size) {
        return damage(-1, "the table or its vtable lies outside the record");
    }
    // A field (vtable entry at an even SLOT below VT_SIZE, non-zero) of WIDTH bytes lies inside the
    // table, after its vtable offset, aligned to WIDTH.
    auto field_fits = [&](uint32_t off, uint32_t width) {
        return off >= 4 && off + width <= table_size && ((table + off) & (width - 1)) == 0;
    };
    for (const FieldCheck& c : e.field_checks) {
        if (c.slot >= vt_size) continue;  // absent: the vtable ends before it
        const uint32_t off = load_u16(vt + c.slot);
        if (off == 0) continue;
        if (!field_fits(off, c.field_width)) return damage(c.pos, outside(c.kind));
        if (c.kind == FieldCheck::kScalar) continue;
        if (ObjectDamage d = check_target(c, data, size, table + off); !d.ok()) return d;
    }
    // A synced record's GID (format 2): an offset to a [ubyte] vector after the table. Records of
    // format 1, or written while the entity was local-only, have no such field; record_gid reads it
    // with checks of its own, this makes the damage visible.
    if (e.gid_in_record && e.id_field < vt_size) {
        const uint32_t off = load_u16(vt + e.id_field);
        FieldCheck gid;
        gid.kind = FieldCheck::kVector;
        gid.width = 1;
        gid.pos = e.id_pos;
        if (off != 0 && (!field_fits(off, 4) || !check_target(gid, data, size, table + off).ok())) {
            return damage(e.id_pos, "the global id lies outside the record");
        }
    }
    return ObjectDamage{};
}

std::string object_damage_reason(const EntityInfo& e, const ObjectDamage& d) {
    std::string msg;
    if (d.pos >= 0 && static_cast<size_t>(d.pos) < e.entity->properties.size()) {
        const Property& p = e.entity->properties[static_cast<size_t>(d.pos)];
        msg += "property " + p.name + " (" + std::string(property_type_name(p.type)) + "): ";
    }
    return msg + (d.what ? d.what : "unknown damage");
}

Status verify_object(const EntityInfo& e, uint64_t id, const uint8_t* data, size_t size) {
    ObjectDamage d = find_object_damage(e, data, size);
    if (d.ok()) return Status::ok();
    return Status(ErrorCode::kCorrupt, "damaged object " + e.entity->name + " " +
                                           std::to_string(id) + ": " + object_damage_reason(e, d));
}

}  // namespace outpost::detail
