#pragma once
// Verification of stored objects: a record read from disk may be damaged (bytes flipped, cut
// short), and the zero-copy ObjectReader trusts the offsets it finds. These checks make sure that
// every field the reader can follow stays inside the record (docs/storage.md, "Verification").

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "outpost/model.hpp"
#include "outpost/status.hpp"
#include "outpost/value.hpp"

namespace outpost::detail {

struct EntityInfo;

// How one property's field is checked, prepared once per entity (EntityInfo::field_checks) so that
// verifying a record walks a short array instead of the model.
struct FieldCheck {
    enum Kind : uint8_t { kScalar, kString, kVector, kStringVector, kFlex };
    uint16_t slot = 0;  // the field's vtable offset
    Kind kind = kScalar;
    uint8_t field_width = 0;  // of the field in the table: the scalar's, or 4 for an offset
    uint8_t width = 0;        // of a vector's elements (1 for strings, bytes and flex)
    int32_t pos = 0;          // the property's position in the entity
};
// The checks of every property of ENTITY but the id (whose field, in synced records, holds the
// GID).
std::vector<FieldCheck> field_checks_of(const Entity& entity);

// The deepest flex value a record may hold: the bound of every flex value (kMaxNestingDepth, also
// the writer's and the change-log decoder's): arrays and maps nest at most 64 levels.
inline constexpr int kMaxStoredFlexDepth = kMaxNestingDepth;

// What is wrong with a record: the position of the property at fault (-1: the table itself or the
// id property's global id) and a short reason. ok() when nothing is.
struct ObjectDamage {
    int pos = -1;
    const char* what = nullptr;
    bool ok() const { return what == nullptr; }
};

// Checks that the SIZE bytes at DATA are a well-formed object of entity E as ObjectReader reads it:
// the table and its vtable, every field of the model's properties by type (scalars within the
// record, strings terminated, vectors and strings of vectors within the record, flex values that
// FlexBuffers' verifier accepts and that nest no deeper than kMaxStoredFlexDepth), and the global
// id field of a synced record. Fields of properties the model no longer has are not looked at.
ObjectDamage find_object_damage(const EntityInfo& e, const uint8_t* data, size_t size);

// find_object_damage as a Status: kCorrupt naming the entity, ID, the property and the reason.
Status verify_object(const EntityInfo& e, uint64_t id, const uint8_t* data, size_t size);

// DAMAGE in words: "property text (string): the string is cut off or lies outside the record".
std::string object_damage_reason(const EntityInfo& e, const ObjectDamage& damage);

}  // namespace outpost::detail
