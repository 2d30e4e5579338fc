#include "crud_util.hpp"

#include <cstring>

#include "query_match.hpp"
#include "storage.hpp"

namespace standin::detail {

std::string coll_arg(const CommandCtx& c) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, c.cmd, c.name.c_str()) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, nullptr);
    return std::string();
}

Doc subdoc(const bson_t* b, const char* key) {
    bson_iter_t it;
    if (bson_iter_init_find(&it, b, key) &&
        (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)))
        return iter_subdoc(&it);
    return Doc();
}

bool has_field(const bson_t* b, const char* key) {
    bson_iter_t it;
    return bson_iter_init_find(&it, b, key) && !BSON_ITER_HOLDS_NULL(&it);
}

Doc id_doc(const bson_t* doc) {
    Doc d;
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, "_id")) bson_append_iter(d.get(), "_id", 3, &it);
    return d;
}

namespace {

// The first $-prefixed field name inside an _id document (at any depth), as the server's storage
// validation finds it; DBRef fields ($ref, $id, $db) are allowed. Empty when there is none.
std::string dollar_field_in(const bson_iter_t* container, int depth = 0) {
    bson_iter_t c;
    if (depth > 200 || !bson_iter_recurse(container, &c)) return std::string();
    while (bson_iter_next(&c)) {
        std::string_view k(bson_iter_key(&c), bson_iter_key_len(&c));
        if (!k.empty() && k[0] == '$' && k != "$ref" && k != "$id" && k != "$db")
            return std::string(k);
        if (BSON_ITER_HOLDS_DOCUMENT(&c) || BSON_ITER_HOLDS_ARRAY(&c)) {
            std::string inner = dollar_field_in(&c, depth + 1);
            if (!inner.empty()) return inner;
        }
    }
    return std::string();
}

}  // namespace

// Puts _id first, generating an ObjectId when missing.
Result<DocPtr> prepare_insert(const bson_t* doc) {
    if (doc->len > 16 * 1024 * 1024)
        return Error{10334,
                     "object to insert too large. size in bytes: " + std::to_string(doc->len) +
                         ", max size: 16777216",
                     {}};
    bson_iter_t it;
    bool has_id = bson_iter_init_find(&it, doc, "_id");
    if (has_id) {
        if (BSON_ITER_HOLDS_ARRAY(&it))
            return Error{53, "The '_id' value cannot be of type array", {}};
        if (BSON_ITER_HOLDS_REGEX(&it)) return Error{53, "can't use a regex for _id", {}};
        if (bson_iter_type(&it) == BSON_TYPE_UNDEFINED)
            return Error{53, "can't use a undefined for _id", {}};
        if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
            std::string dollar = dollar_field_in(&it);
            if (!dollar.empty())
                return Error{52,
                             "_id fields may not contain '$'-prefixed fields: " + dollar +
                                 " is not valid for storage.",
                             {}};
        }
        bson_iter_t first;
        bson_iter_init(&first, doc);
        bson_iter_next(&first);
        if (!std::strcmp(bson_iter_key(&first), "_id")) {
            return std::make_shared<const std::string>(
                reinterpret_cast<const char*>(bson_get_data(doc)), doc->len);
        }
    }
    Doc out;
    if (has_id) {
        bson_append_iter(out.get(), "_id", 3, &it);
    } else {
        bson_oid_t oid;
        bson_oid_init(&oid, nullptr);
        BSON_APPEND_OID(out.get(), "_id", &oid);
    }
    bson_copy_to_excluding_noinit(doc, out.get(), "_id", NULL);
    return std::make_shared<const std::string>(out.bytes());
}

void append_write_error(bson_t* arr, size_t& count, int32_t index, const Error& err) {
    bson_t we;
    std::string k = std::to_string(count++);
    bson_append_document_begin(arr, k.c_str(), static_cast<int>(k.size()), &we);
    BSON_APPEND_INT32(&we, "index", index);
    BSON_APPEND_INT32(&we, "code", err.code);
    append_str(&we, "errmsg", err.msg);
    append_error_info(&we, err);
    bson_append_document_end(arr, &we);
}

// The documents matching `filter`, in natural order (at most `limit` when > 0).
Result<std::vector<DocPtr>> matching(const Collection* c, const Txn* txn, const bson_t* filter,
                                     size_t limit) {
    std::vector<DocPtr> out;
    if (!c) {
        auto v = validate_filter(filter);
        if (!v.ok()) return v.error();
        return out;
    }
    // Fast path: {_id: <scalar>}.
    bson_iter_t it;
    if (bson_count_keys(filter) == 1 && bson_iter_init_find(&it, filter, "_id") &&
        !BSON_ITER_HOLDS_DOCUMENT(&it) && !BSON_ITER_HOLDS_ARRAY(&it) &&
        !BSON_ITER_HOLDS_REGEX(&it) && !BSON_ITER_HOLDS_NULL(&it)) {
        if (DocPtr d = lookup(*c, txn, canonical_key(&it))) out.push_back(d);
        return out;
    }
    Error err;
    bool failed = false;
    scan(*c, txn, [&](const DocPtr& d) {
        bson_t v;
        view_of(*d, &v);
        auto m = matches(&v, filter);
        if (!m.ok()) {
            err = m.error();
            failed = true;
            return false;
        }
        if (m.value()) out.push_back(d);
        return limit == 0 || out.size() < limit;
    });
    if (failed) return err;
    if (out.empty()) {
        auto v = validate_filter(filter);
        if (!v.ok()) return v.error();
    }
    return out;
}

}  // namespace standin::detail
