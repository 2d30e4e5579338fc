#pragma once
// The object codec (codec.cpp): objects as FlatBuffers tables, and the GID that a synced object's
// record holds (gid.cpp). The record layout is documented in docs/storage.md.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "outpost/object.hpp"
#include "outpost/status.hpp"

namespace outpost::detail {

struct EntityInfo;
struct WriterState;
// Starts an object of entity INFO in the calling thread's writer.
WriterState* writer_begin(const EntityInfo& info);
// Finishes it: the stored bytes (valid until the next writer_begin on this thread), or the first
// error.
Result<std::span<const uint8_t>> writer_finish(WriterState* s);

// Fills OBJECT's values from READER.
void read_object(const ObjectReader& reader, Object& object);
// Writes OBJECT's values into W.
Status write_object(const Object& object, ObjectWriter& w);

// GIDs in object records (format 2): the id property's field of a synced object's FlatBuffers table
// is an offset to a [ubyte] vector after the table's bytes that holds the GID. The writer leaves a
// placeholder field there (writer_finish), which put_bytes points at the GID it appends.
// The position of the id property's field in the table BYTES, or 0 when it has none.
size_t record_gid_field(const EntityInfo& e, const uint8_t* bytes, size_t size);
// The GID a stored record holds, or nullopt (records of format 1, records without one).
std::optional<std::string_view> record_gid(const EntityInfo& e, const uint8_t* bytes, size_t size);
// record_gid of a record written while E was synced, whether or not it is now.
std::optional<std::string_view> record_gid_at(const EntityInfo& e, const uint8_t* bytes,
                                              size_t size);
// The size of a record made of SIZE bytes of table and a GID of GID_SIZE bytes.
size_t record_size_with_gid(size_t size, size_t gid_size);
// Writes the table BYTES with the GID appended into DST (record_size_with_gid bytes), pointing the
// field at FIELD (from record_gid_field) at it.
void write_record_with_gid(uint8_t* dst, std::span<const uint8_t> bytes, size_t field,
                           std::string_view gid);

}  // namespace outpost::detail
