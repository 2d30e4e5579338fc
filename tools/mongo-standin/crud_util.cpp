#include "crud_util.hpp"

#include <cstring>

#include "pipeline.hpp"
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
Result<Vars> command_vars(const bson_t* cmd) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, cmd, "let")) return Vars{};
    return parse_let(&it);
}

Result<std::vector<DocPtr>> matching(const Collection* c, const Txn* txn, const bson_t* filter,
                                     size_t limit, const Vars* vars) {
    std::vector<DocPtr> out;
    if (!c) {
        auto v = validate_filter(filter, vars);
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
        auto m = matches(&v, filter, vars);
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
        auto v = validate_filter(filter, vars);
        if (!v.ok()) return v.error();
    }
    return out;
}

Status check_validator(const Collection& c, const CommandCtx& ctx, const bson_t* doc,
                       const bson_t* before) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, c.options.get(), "validator") || !BSON_ITER_HOLDS_DOCUMENT(&it))
        return ok_status();
    std::string level = get_string(c.options.get(), "validationLevel").value_or("strict");
    std::string action = get_string(c.options.get(), "validationAction").value_or("error");
    if (level == "off" || action == "warn") return ok_status();
    if (get_bool(ctx.cmd, "bypassDocumentValidation").value_or(false)) return ok_status();
    bson_t validator;
    iter_view(&it, &validator);
    auto m = matches(doc, &validator);
    if (!m.ok()) return m.error();
    if (m.value()) return ok_status();
    if (level == "moderate" && before) {
        auto was = matches(before, &validator);
        if (was.ok() && !was.value()) return ok_status();
    }
    Doc info, err_info;
    bson_iter_t id;
    if (bson_iter_init_find(&id, doc, "_id"))
        bson_append_iter(err_info.get(), "failingDocumentId", -1, &id);
    bson_t details;
    BSON_APPEND_DOCUMENT_BEGIN(err_info.get(), "details", &details);
    BSON_APPEND_UTF8(&details, "reason", "the document does not match the collection's validator");
    bson_append_document_end(err_info.get(), &details);
    BSON_APPEND_DOCUMENT(info.get(), "errInfo", err_info.get());
    return Error{121, "Document failed validation", {}, info.bytes()};
}

bool is_view(const Collection& c) { return bson_has_field(c.options.get(), "viewOn"); }

Error view_error(const Collection& c) {
    return Error{166, "Namespace " + c.db + "." + c.name + " is a view, not a collection", {}};
}

namespace {

Result<std::vector<DocPtr>> view_documents(Engine& e, const CommandCtx& c, const Collection& view,
                                           int depth) {
    if (depth > 20)
        return Error{165, "View depth too deep or view cycle detected; maximum depth is 20", {}};
    std::string source = get_string(view.options.get(), "viewOn").value_or("");
    Doc pipeline = subdoc(view.options.get(), "pipeline");
    std::vector<DocPtr> docs;
    if (Collection* src = e.find_collection(view.db, source, c.txn)) {
        if (is_view(*src)) {
            auto inner = view_documents(e, c, *src, depth + 1);
            if (!inner.ok()) return inner;
            docs = std::move(inner.value());
        } else {
            scan(*src, c.txn, [&](const DocPtr& d) {
                docs.push_back(d);
                return true;
            });
        }
    }
    return run_stages(std::move(docs), pipeline.get());
}

}  // namespace

Result<std::vector<DocPtr>> read_documents(Engine& e, const CommandCtx& c, const std::string& db,
                                           const std::string& name, const bson_t* filter,
                                           size_t limit, const Vars* vars) {
    bson_t empty;
    empty_view(&empty);
    if (!filter) filter = &empty;
    Collection* coll = e.find_collection(db, name, c.txn);
    if (!coll || !is_view(*coll)) return matching(coll, c.txn, filter, limit, vars);
    auto docs = view_documents(e, c, *coll, 0);
    if (!docs.ok()) return docs;
    if (bson_empty(filter)) {
        if (limit > 0 && docs.value().size() > limit) docs.value().resize(limit);
        return docs;
    }
    std::vector<DocPtr> out;
    for (const DocPtr& d : docs.value()) {
        bson_t v;
        view_of(*d, &v);
        auto m = matches(&v, filter, vars);
        if (!m.ok()) return m.error();
        if (m.value()) out.push_back(d);
        if (limit > 0 && out.size() >= limit) break;
    }
    if (out.empty()) {
        auto v = validate_filter(filter, vars);
        if (!v.ok()) return v.error();
    }
    return out;
}

}  // namespace standin::detail
