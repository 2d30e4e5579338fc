#pragma once
// The pieces of the change-set encoding (docs/change-log.md) that the store's change log writes
// directly, one object at a time, while a write transaction runs (changelog.cpp).

#include <bit>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "outpost/changelog.hpp"

namespace outpost::detail {

inline constexpr uint8_t kChangeSetMagic = 0xC5;
inline constexpr uint8_t kChangeSetVersion = 1;  // uids inline: sync messages
inline constexpr uint8_t kChangeSetVersionUidTable =
    2;  // uids by index into a table: change-log records
// The kind of a change-log entry that names new objects by their local ids (a run of consecutive
// ids) instead of carrying their values (docs/change-log.md, "Stored entries"); only records in a
// store hold it, never a sync message.
inline constexpr uint8_t kEntryStored = 3;

// The uid table of a version-2 change set: every entity, property and relation uid once, objects
// refer to them by index.
class UidTable {
  public:
    uint32_t index(uint64_t uid) {
        auto [it, added] = index_.try_emplace(uid, static_cast<uint32_t>(uids_.size()));
        if (added) uids_.push_back(uid);
        return it->second;
    }
    const std::vector<uint64_t>& uids() const { return uids_; }

  private:
    std::vector<uint64_t> uids_;
    std::unordered_map<uint64_t, uint32_t> index_;
};

// Value tags.
enum ChangeTag : uint8_t {
    kTagNull = 0,
    kTagFalse = 1,
    kTagTrue = 2,
    kTagInt = 3,
    kTagDouble = 4,
    kTagString = 5,
    kTagBytes = 6,
    kTagIntVector = 7,
    kTagDoubleVector = 8,
    kTagStringVector = 9,
    kTagFlex = 10,
    kTagArray = 11,
    kTagMap = 12,
};

// Writes varint(V) at P (room for 10 bytes); returns the end.
inline char* put_varint(char* p, uint64_t v) {
    while (v >= 0x80) {
        *p++ = static_cast<char>((v & 0x7f) | 0x80);
        v >>= 7;
    }
    *p++ = static_cast<char>(v);
    return p;
}

// Appends encoded pieces to a string it does not own.
class ChangeSetWriter {
  public:
    explicit ChangeSetWriter(std::string& out) : out_(&out) {}

    void u8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
    void varint(uint64_t v) {
        char buf[10];
        size_t n = 0;
        while (v >= 0x80) {
            buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
            v >>= 7;
        }
        buf[n++] = static_cast<char>(v);
        out_->append(buf, n);
    }
    void zigzag(int64_t v) {
        varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
    }
    void f64(double d) {
        uint64_t b = std::bit_cast<uint64_t>(d);
        char buf[8];
        for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>((b >> (8 * i)) & 0xff);
        out_->append(buf, 8);
    }
    void bytes(const void* p, size_t n) {
        varint(n);
        out_->append(static_cast<const char*>(p), n);
    }
    void str(const std::string& s) { bytes(s.data(), s.size()); }
    void value(const Value& v);
    void flex(const Flex& f);
    // One object of a change set (the `object` production); with TABLE, uids as indexes into it
    // (version 2), added to it as needed.
    void object(const ObjectChange& o, UidTable* table = nullptr);

  private:
    std::string* out_;
};

// Appends to OUT the puts that a stored entry (kEntryStored) names: COUNT new objects of the entity
// ENTITY_UID from local id FIRST on.
using StoredObjectReader = std::function<Status(uint64_t entity_uid, uint64_t first, uint64_t count,
                                                std::vector<ObjectChange>& out)>;

// decode_change_set for a change-log record: stored entries are read through STORED.
Result<ChangeSet> decode_record(std::span<const uint8_t> data, const StoredObjectReader& stored);

// Decodes exactly one `object` of a change set (as ChangeSetWriter::object writes it), with the
// same checks as decode_change_set; UIDS: the uid table of a version-2 object, null for version 1.
Result<ObjectChange> decode_object_change(std::span<const uint8_t> data,
                                          const std::vector<uint64_t>* uids);

}  // namespace outpost::detail
