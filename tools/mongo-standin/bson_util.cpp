#include "bson_util.hpp"

#include <cmath>
#include <cstring>

namespace standin {

void append_error_info(bson_t* b, const Error& err) {
    if (err.info.empty()) return;
    bson_t info;
    if (bson_init_static(&info, reinterpret_cast<const uint8_t*>(err.info.data()), err.info.size()))
        bson_concat(b, &info);
}

Doc Doc::from_bytes(const uint8_t* data, size_t len) {
    bson_t* b = bson_new_from_data(data, len);
    return b ? Doc(b) : Doc();
}

std::string Doc::json() const {
    size_t n = 0;
    char* s = bson_as_canonical_extended_json(b_, &n);
    std::string out = s ? std::string(s, n) : std::string();
    bson_free(s);
    return out;
}

// ---- Node ----

Node::Node(const Node& o) : type(o.type), kids(o.kids) {
    if (o.is_container() || o.scalar.value_type == BSON_TYPE_EOD) {
        scalar.value_type = BSON_TYPE_NULL;
    } else {
        bson_value_copy(&o.scalar, &scalar);
    }
}

Node& Node::operator=(const Node& o) {
    if (this != &o) {
        Node tmp(o);
        *this = std::move(tmp);
    }
    return *this;
}

Node::Node(Node&& o) noexcept : type(o.type), scalar(o.scalar), kids(std::move(o.kids)) {
    o.type = BSON_TYPE_NULL;
    o.scalar = bson_value_t{};
    o.scalar.value_type = BSON_TYPE_NULL;
}

Node& Node::operator=(Node&& o) noexcept {
    if (this != &o) {
        if (!is_container()) bson_value_destroy(&scalar);
        type = o.type;
        scalar = o.scalar;
        kids = std::move(o.kids);
        o.type = BSON_TYPE_NULL;
        o.scalar = bson_value_t{};
        o.scalar.value_type = BSON_TYPE_NULL;
    }
    return *this;
}

Node::~Node() {
    if (!is_container()) bson_value_destroy(&scalar);
}

Node Node::from_value(const bson_value_t* v) {
    Node n;
    n.type = v->value_type;
    if (n.is_container()) {
        bson_t b;
        if (bson_init_static(&b, v->value.v_doc.data, v->value.v_doc.data_len)) {
            bson_iter_t it;
            if (bson_iter_init(&it, &b)) {
                while (bson_iter_next(&it)) n.kids.emplace_back(bson_iter_key(&it), from_iter(&it));
            }
        }
        n.scalar.value_type = BSON_TYPE_NULL;
    } else {
        bson_value_copy(v, &n.scalar);
    }
    return n;
}

Node Node::from_iter(const bson_iter_t* it) {
    Node n;
    n.type = bson_iter_type(it);
    if (n.is_container()) {
        bson_iter_t child;
        if (bson_iter_recurse(it, &child)) {
            while (bson_iter_next(&child))
                n.kids.emplace_back(bson_iter_key(&child), from_iter(&child));
        }
    } else {
        bson_value_copy(bson_iter_value(const_cast<bson_iter_t*>(it)), &n.scalar);
    }
    return n;
}

Node Node::from_bson(const bson_t* b) {
    Node n = document();
    bson_iter_t it;
    if (bson_iter_init(&it, b)) {
        while (bson_iter_next(&it)) n.kids.emplace_back(bson_iter_key(&it), from_iter(&it));
    }
    return n;
}

Node Node::int32(int32_t v) {
    Node n;
    n.type = n.scalar.value_type = BSON_TYPE_INT32;
    n.scalar.value.v_int32 = v;
    return n;
}
Node Node::int64(int64_t v) {
    Node n;
    n.type = n.scalar.value_type = BSON_TYPE_INT64;
    n.scalar.value.v_int64 = v;
    return n;
}
Node Node::dbl(double v) {
    Node n;
    n.type = n.scalar.value_type = BSON_TYPE_DOUBLE;
    n.scalar.value.v_double = v;
    return n;
}
Node Node::boolean(bool v) {
    Node n;
    n.type = n.scalar.value_type = BSON_TYPE_BOOL;
    n.scalar.value.v_bool = v;
    return n;
}
Node Node::string(std::string_view s) {
    bson_value_t v{};
    v.value_type = BSON_TYPE_UTF8;
    v.value.v_utf8.str = const_cast<char*>(s.data());
    v.value.v_utf8.len = static_cast<uint32_t>(s.size());
    return from_value(&v);
}
Node Node::null() { return Node(); }

double Node::as_double() const {
    switch (type) {
        case BSON_TYPE_INT32:
            return scalar.value.v_int32;
        case BSON_TYPE_INT64:
            return static_cast<double>(scalar.value.v_int64);
        case BSON_TYPE_DOUBLE:
            return scalar.value.v_double;
        case BSON_TYPE_DECIMAL128: {
            char buf[BSON_DECIMAL128_STRING];
            bson_decimal128_to_string(&scalar.value.v_decimal128, buf);
            return std::strtod(buf, nullptr);
        }
        default:
            return 0;
    }
}

Node* Node::find(std::string_view key) {
    for (auto& [k, v] : kids)
        if (k == key) return &v;
    return nullptr;
}
const Node* Node::find(std::string_view key) const {
    for (const auto& [k, v] : kids)
        if (k == key) return &v;
    return nullptr;
}
Node& Node::set(std::string_view key, Node v) {
    if (Node* n = find(key)) {
        *n = std::move(v);
        return *n;
    }
    kids.emplace_back(std::string(key), std::move(v));
    return kids.back().second;
}
bool Node::erase(std::string_view key) {
    for (auto it = kids.begin(); it != kids.end(); ++it) {
        if (it->first == key) {
            kids.erase(it);
            return true;
        }
    }
    return false;
}
void Node::renumber() {
    for (size_t i = 0; i < kids.size(); ++i) kids[i].first = std::to_string(i);
}

void Node::append_to(bson_t* parent, std::string_view key) const {
    int klen = static_cast<int>(key.size());
    if (type == BSON_TYPE_DOCUMENT) {
        bson_t child;
        bson_append_document_begin(parent, key.data(), klen, &child);
        for (const auto& [k, v] : kids) v.append_to(&child, k);
        bson_append_document_end(parent, &child);
    } else if (type == BSON_TYPE_ARRAY) {
        bson_t child;
        bson_append_array_begin(parent, key.data(), klen, &child);
        size_t i = 0;
        for (const auto& kv : kids) kv.second.append_to(&child, std::to_string(i++));
        bson_append_array_end(parent, &child);
    } else {
        bson_append_value(parent, key.data(), klen, &scalar);
    }
}

Doc Node::to_doc() const {
    Doc d;
    if (type == BSON_TYPE_ARRAY) {
        size_t i = 0;
        for (const auto& kv : kids) kv.second.append_to(d.get(), std::to_string(i++));
    } else {
        for (const auto& [k, v] : kids) v.append_to(d.get(), k);
    }
    return d;
}

// ---- lookups ----

bool find_field(const bson_t* b, const char* key, bson_iter_t* it) {
    return bson_iter_init_find(it, b, key);
}

std::optional<std::string> get_string(const bson_t* b, const char* key) {
    bson_iter_t it;
    if (!find_field(b, key, &it) || !BSON_ITER_HOLDS_UTF8(&it)) return std::nullopt;
    uint32_t n;
    const char* s = bson_iter_utf8(&it, &n);
    return std::string(s, n);
}

bool iter_is_number(const bson_iter_t* it) {
    bson_type_t t = bson_iter_type(it);
    return t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64 || t == BSON_TYPE_DOUBLE ||
           t == BSON_TYPE_DECIMAL128;
}

int64_t iter_as_int64(const bson_iter_t* it) {
    switch (bson_iter_type(it)) {
        case BSON_TYPE_INT32:
            return bson_iter_int32(it);
        case BSON_TYPE_INT64:
            return bson_iter_int64(it);
        case BSON_TYPE_DOUBLE: {
            double d = bson_iter_double(it);
            if (std::isnan(d)) return 0;
            if (d >= 9.2e18) return INT64_MAX;
            if (d <= -9.2e18) return INT64_MIN;
            return static_cast<int64_t>(d);
        }
        case BSON_TYPE_DECIMAL128:
            return static_cast<int64_t>(iter_as_double(it));
        case BSON_TYPE_BOOL:
            return bson_iter_bool(it) ? 1 : 0;
        default:
            return 0;
    }
}

std::optional<int64_t> get_int(const bson_t* b, const char* key) {
    bson_iter_t it;
    if (!find_field(b, key, &it) || !iter_is_number(&it)) return std::nullopt;
    return iter_as_int64(&it);
}

bool iter_truthy(const bson_iter_t* it) {
    switch (bson_iter_type(it)) {
        case BSON_TYPE_BOOL:
            return bson_iter_bool(it);
        case BSON_TYPE_INT32:
        case BSON_TYPE_INT64:
        case BSON_TYPE_DOUBLE:
        case BSON_TYPE_DECIMAL128:
            return iter_as_double(it) != 0;
        case BSON_TYPE_NULL:
        case BSON_TYPE_UNDEFINED:
        case BSON_TYPE_EOD:
            return false;
        default:
            return true;
    }
}

std::optional<bool> get_bool(const bson_t* b, const char* key) {
    bson_iter_t it;
    if (!find_field(b, key, &it)) return std::nullopt;
    return iter_truthy(&it);
}

void empty_view(bson_t* out) {
    static const uint8_t kEmpty[5] = {5, 0, 0, 0, 0};
    bson_init_static(out, kEmpty, sizeof kEmpty);
}

void iter_view(const bson_iter_t* it, bson_t* out) {
    uint32_t len = 0;
    const uint8_t* data = nullptr;
    if (BSON_ITER_HOLDS_DOCUMENT(it))
        bson_iter_document(it, &len, &data);
    else if (BSON_ITER_HOLDS_ARRAY(it))
        bson_iter_array(it, &len, &data);
    if (!data || !bson_init_static(out, data, len)) empty_view(out);
}

Doc iter_subdoc(const bson_iter_t* it) {
    uint32_t len = 0;
    const uint8_t* data = nullptr;
    if (BSON_ITER_HOLDS_DOCUMENT(it))
        bson_iter_document(it, &len, &data);
    else if (BSON_ITER_HOLDS_ARRAY(it))
        bson_iter_array(it, &len, &data);
    else
        return Doc();
    return Doc::from_bytes(data, len);
}

void append_value(bson_t* b, std::string_view key, const bson_iter_t* it) {
    bson_append_iter(b, key.data(), static_cast<int>(key.size()), it);
}

std::string hex_upper(const uint8_t* data, size_t n) {
    static const char* digits = "0123456789ABCDEF";
    std::string s(n * 2, '0');
    for (size_t i = 0; i < n; ++i) {
        s[2 * i] = digits[data[i] >> 4];
        s[2 * i + 1] = digits[data[i] & 15];
    }
    return s;
}

std::optional<std::vector<uint8_t>> from_hex(std::string_view s) {
    if (s.size() % 2) return std::nullopt;
    auto nib = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    std::vector<uint8_t> out(s.size() / 2);
    for (size_t i = 0; i < out.size(); ++i) {
        int h = nib(s[2 * i]), l = nib(s[2 * i + 1]);
        if (h < 0 || l < 0) return std::nullopt;
        out[i] = static_cast<uint8_t>(h * 16 + l);
    }
    return out;
}

}  // namespace standin
