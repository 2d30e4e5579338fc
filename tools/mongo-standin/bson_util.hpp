// BSON helpers for the stand-in: an owning document handle, a mutable tree for updates and
// pipelines, the server's sort order and canonical keys for equality that crosses numeric types.
#pragma once

#include <bson/bson.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace standin {

// An error as the server reports it: numeric code, message, optional error labels.
struct Error {
    Error() = default;
    Error(int c, std::string m, std::vector<std::string> l = {}, std::string i = {})
        : code(c), msg(std::move(m)), labels(std::move(l)), info(std::move(i)) {}

    int code = 0;
    std::string msg;
    std::vector<std::string> labels;
    // Further fields of the error as the server reports them (keyPattern and keyValue of a
    // duplicate key, errInfo of a validation failure): the raw bytes of a BSON document whose
    // fields are appended to the error; empty for none.
    std::string info;
};

// Appends the fields of ERR.info to B.
void append_error_info(bson_t* b, const Error& err);

// Value or Error. Library code returns these instead of throwing.
template <class T>
class Result {
  public:
    Result(T v) : v_(std::move(v)) {}      // NOLINT: implicit by design
    Result(Error e) : v_(std::move(e)) {}  // NOLINT
    bool ok() const { return v_.index() == 0; }
    T& value() { return std::get<0>(v_); }
    const T& value() const { return std::get<0>(v_); }
    Error& error() { return std::get<1>(v_); }
    const Error& error() const { return std::get<1>(v_); }

  private:
    std::variant<T, Error> v_;
};

struct Unit {};
using Status = Result<Unit>;
inline Status ok_status() { return Unit{}; }

// The server's codeName for an error code ("Location<code>" for codes without a name).
std::string code_name(int code);

// Owning, movable bson_t. Never null after construction.
class Doc {
  public:
    Doc() : b_(bson_new()) {}
    explicit Doc(bson_t* adopt) : b_(adopt) {}
    static Doc from_bytes(const uint8_t* data, size_t len);  // copies; empty doc if invalid
    static Doc from_string(const std::string& bytes) {
        return from_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    }
    static Doc copy_of(const bson_t* b) { return Doc(bson_copy(b)); }
    Doc(Doc&& o) noexcept : b_(o.b_) { o.b_ = nullptr; }
    Doc& operator=(Doc&& o) noexcept {
        if (this != &o) {
            if (b_) bson_destroy(b_);
            b_ = o.b_;
            o.b_ = nullptr;
        }
        return *this;
    }
    Doc(const Doc& o) : b_(bson_copy(o.b_)) {}
    Doc& operator=(const Doc& o) {
        if (this != &o) *this = Doc(o);
        return *this;
    }
    ~Doc() {
        if (b_) bson_destroy(b_);
    }
    bson_t* get() { return b_; }
    const bson_t* get() const { return b_; }
    std::string bytes() const {
        return std::string(reinterpret_cast<const char*>(bson_get_data(b_)), b_->len);
    }
    std::string json() const;

  private:
    bson_t* b_;
};

// A document that costs nothing until set, shared on copy (change events hold several, mostly
// empty). get() returns an empty document when unset.
class LazyDoc {
  public:
    LazyDoc() = default;
    LazyDoc(Doc d) : p_(std::make_shared<const Doc>(std::move(d))) {}  // NOLINT: implicit by design
    LazyDoc& operator=(Doc d) {
        p_ = std::make_shared<const Doc>(std::move(d));
        return *this;
    }
    const bson_t* get() const {
        static const Doc* const kEmpty = new Doc();
        return p_ ? p_->get() : kEmpty->get();
    }
    bool empty() const { return !p_ || bson_empty(p_->get()); }

  private:
    std::shared_ptr<const Doc> p_;
};

// bson_iter_t gets its 128-byte alignment from a typedef attribute, which templates drop: a
// std::vector<bson_iter_t> hands out misaligned iterators. Iter carries the alignment in the type
// and converts to bson_iter_t* implicitly; keep iterators in containers only as IterList.
struct alignas(128) Iter : bson_iter_t {
    Iter() = default;
    Iter(const bson_iter_t& o) : bson_iter_t(o) {}  // NOLINT: implicit by design
};
using IterList = std::vector<Iter>;

// Read-only view over stored bytes (the bytes must outlive the view).
inline bool view_of(const std::string& bytes, bson_t* out) {
    return bson_init_static(out, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

using DocPtr = std::shared_ptr<const std::string>;  // immutable stored document (raw BSON)

// Mutable document tree. Scalars keep their exact bson_value_t (so -0.0 and NaN payloads survive).
struct Node {
    bson_type_t type = BSON_TYPE_NULL;
    bson_value_t scalar{};                           // owned copy when type is not document/array
    std::vector<std::pair<std::string, Node>> kids;  // document fields or array elements

    Node() { scalar.value_type = BSON_TYPE_NULL; }
    Node(const Node& o);
    Node& operator=(const Node& o);
    Node(Node&& o) noexcept;
    Node& operator=(Node&& o) noexcept;
    ~Node();

    static Node document() {
        Node n;
        n.type = BSON_TYPE_DOCUMENT;
        return n;
    }
    static Node array() {
        Node n;
        n.type = BSON_TYPE_ARRAY;
        return n;
    }
    static Node from_value(const bson_value_t* v);  // copies
    static Node from_iter(const bson_iter_t* it);   // copies (recurses into containers)
    static Node from_bson(const bson_t* b);         // a document
    static Node int32(int32_t v);
    static Node int64(int64_t v);
    static Node dbl(double v);
    static Node boolean(bool v);
    static Node string(std::string_view s);
    static Node null();

    bool is_container() const { return type == BSON_TYPE_DOCUMENT || type == BSON_TYPE_ARRAY; }
    bool is_number() const {
        return type == BSON_TYPE_INT32 || type == BSON_TYPE_INT64 || type == BSON_TYPE_DOUBLE ||
               type == BSON_TYPE_DECIMAL128;
    }
    double as_double() const;
    Node* find(std::string_view key);
    const Node* find(std::string_view key) const;
    Node& set(std::string_view key, Node v);  // replace in place or append
    bool erase(std::string_view key);
    void renumber();  // array keys back to "0","1",...

    Doc to_doc() const;  // requires document or array
    void append_to(bson_t* parent, std::string_view key) const;
};

// Variables of an aggregation expression ($$name): a command's `let`.
using Vars = std::map<std::string, Node>;

// Server sort order (MinKey < undefined < null < numbers < strings < object < array < binary <
// ...).
int type_rank(bson_type_t t);
int compare_values(const bson_iter_t* a, const bson_iter_t* b);
int compare_nodes(const Node& a, const Node& b);
int compare_docs(const bson_t* a, const bson_t* b);
bool values_equal(const bson_iter_t* a, const bson_iter_t* b);

// Canonical key of a value: equal (in the server's sense, numbers across types) iff keys are equal.
void append_canonical_key(const bson_iter_t* it, std::string& out);
std::string canonical_key(const bson_iter_t* it);

// Field lookup helpers on a bson_t.
bool find_field(const bson_t* b, const char* key, bson_iter_t* it);
std::optional<std::string> get_string(const bson_t* b, const char* key);
std::optional<int64_t> get_int(const bson_t* b, const char* key);  // any numeric type
std::optional<bool> get_bool(const bson_t* b, const char* key);    // truthy values
bool iter_truthy(const bson_iter_t* it);
bool iter_is_number(const bson_iter_t* it);
double iter_as_double(const bson_iter_t* it);
int64_t iter_as_int64(const bson_iter_t* it);
Doc iter_subdoc(const bson_iter_t* it);  // copies a document/array value; empty if not one
// Points OUT at an empty document (static bytes).
void empty_view(bson_t* out);
// Points OUT at a document/array value without copying (an empty document if not one); the
// iterated bytes must outlive OUT.
void iter_view(const bson_iter_t* it, bson_t* out);

// Append helpers.
void append_value(bson_t* b, std::string_view key, const bson_iter_t* it);
inline void append_str(bson_t* b, std::string_view key, std::string_view v) {
    bson_append_utf8(b, key.data(), static_cast<int>(key.size()), v.data(),
                     static_cast<int>(v.size()));
}
inline void append_doc(bson_t* b, std::string_view key, const bson_t* v) {
    bson_append_document(b, key.data(), static_cast<int>(key.size()), v);
}
inline void append_arr(bson_t* b, std::string_view key, const bson_t* v) {
    bson_append_array(b, key.data(), static_cast<int>(key.size()), v);
}

// Timestamps are packed as (seconds << 32) | increment.
inline uint32_t ts_secs(uint64_t ts) { return static_cast<uint32_t>(ts >> 32); }
inline uint32_t ts_inc(uint64_t ts) { return static_cast<uint32_t>(ts & 0xffffffffu); }
inline void append_ts(bson_t* b, std::string_view key, uint64_t ts) {
    bson_append_timestamp(b, key.data(), static_cast<int>(key.size()), ts_secs(ts), ts_inc(ts));
}

std::string hex_upper(const uint8_t* data, size_t n);
std::optional<std::vector<uint8_t>> from_hex(std::string_view s);

}  // namespace standin
