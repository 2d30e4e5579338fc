#pragma once
// Objects: the dynamic Object (values by property), and the zero-copy ObjectReader and the
// ObjectWriter that the typed API uses to read and write objects without going through Value.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/model.hpp"
#include "outpost/status.hpp"
#include "outpost/value.hpp"

namespace outpost {

namespace detail {
struct EntityInfo;
struct WriterState;
// The library's own way to its internals (src/store/access.hpp). Only the library defines it.
struct Access;
}  // namespace detail

// An object of one entity with its values in memory, addressed by property name, id or position.
// REQUIRES: the entity outlives the object (it belongs to the store's model; keep the store open).
class Object {
  public:
    explicit Object(const Entity& entity);

    const Entity& entity() const { return *entity_; }
    uint64_t id = 0;

    // Sets a value; an unknown name or id is an error (kUnknownProperty). Types are checked at put.
    Status set(std::string_view property, Value value);
    Status set_by_id(uint32_t property_id, Value value);
    // The value, or null for an unknown property.
    const Value& get(std::string_view property) const;
    const Value& get_by_id(uint32_t property_id) const;
    // Values by property position (entity().properties order). The id property's slot is unused.
    std::vector<Value>& values() { return values_; }
    const std::vector<Value>& values() const { return values_; }
    // To-many lists by relation position (entity().relations order).
    std::vector<std::vector<uint64_t>>& to_many() { return to_many_; }
    const std::vector<std::vector<uint64_t>>& to_many() const { return to_many_; }
    Status set_to_many(std::string_view relation, std::vector<uint64_t> ids);
    const std::vector<uint64_t>& get_to_many(std::string_view relation) const;

    friend bool operator==(const Object& a, const Object& b);

  private:
    const Entity* entity_;
    std::vector<Value> values_;
    std::vector<std::vector<uint64_t>> to_many_;
};

// Reads a stored object in place (zero-copy views into the store's memory map).
// Valid only while the transaction that produced it is open.
class ObjectReader {
  public:
    // Property positions are indexes into Entity::properties.
    bool is_null(int pos) const;
    bool get_bool(int pos) const;
    int64_t get_int(int pos) const;  // every integer type, date, dateNano, relation (0 = none)
    double get_double(int pos) const;
    std::string_view get_string(int pos) const;
    std::span<const uint8_t> get_bytes(int pos) const;
    std::vector<int64_t> get_int_vector(int pos) const;
    std::vector<double> get_double_vector(int pos) const;
    std::vector<std::string> get_string_vector(int pos) const;
    Flex get_flex(int pos) const;
    // Any property as a Value (null when absent).
    Value get_value(int pos) const;
    std::span<const uint8_t> raw() const { return {data_, size_}; }

  private:
    friend struct detail::Access;
    ObjectReader(const detail::EntityInfo* info, const uint8_t* data, size_t size)
        : info_(info), data_(data), size_(size) {}

    const detail::EntityInfo* info_;
    const uint8_t* data_;
    size_t size_;
};

// Builds the stored form of one object. Obtained from a box; set each property at most once.
class ObjectWriter {
  public:
    void set_bool(int pos, bool v);
    void set_int(int pos, int64_t v);  // range-checked for int8/16/32 when the object is finished
    void set_double(int pos, double v);
    void set_string(int pos, std::string_view v);
    void set_bytes(int pos, std::span<const uint8_t> v);
    void set_int_vector(int pos, std::span<const int64_t> v);
    void set_double_vector(int pos, std::span<const double> v);
    void set_string_vector(int pos, const std::vector<std::string>& v);
    void set_flex(int pos, const Flex& v);
    // Sets any value, checking that it fits the property's type.
    Status set_value(int pos, const Value& v);

  private:
    friend struct detail::Access;
    explicit ObjectWriter(detail::WriterState* state) : s_(state) {}

    detail::WriterState* s_;
};

}  // namespace outpost
