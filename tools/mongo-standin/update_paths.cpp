// Paths of operator updates: splitting, finding and creating fields, and the positional operators.
#include "update_paths.hpp"

#include <cstring>
#include <optional>

#include "query_match.hpp"

namespace standin::update_paths {

Path split(const std::string& s) {
    Path p;
    std::string cur;
    for (char c : s) {
        if (c == '.') {
            p.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    p.push_back(cur);
    return p;
}

std::string join(const Path& p, size_t n) {
    std::string s;
    for (size_t i = 0; i < n && i < p.size(); ++i) {
        if (i) s += '.';
        s += p[i];
    }
    return s;
}

bool is_index(const std::string& s, size_t* idx) {
    if (s.empty() || s.size() > 9) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    *idx = static_cast<size_t>(std::stoul(s));
    return true;
}

bool identical(const Node& a, const Node& b) {
    if (a.type != b.type) return false;
    Doc x, y;
    a.append_to(x.get(), "v");
    b.append_to(y.get(), "v");
    return x.get()->len == y.get()->len &&
           std::memcmp(bson_get_data(x.get()), bson_get_data(y.get()), x.get()->len) == 0;
}

const char* type_name(bson_type_t t) {
    switch (t) {
        case BSON_TYPE_DOUBLE:
            return "double";
        case BSON_TYPE_UTF8:
            return "string";
        case BSON_TYPE_DOCUMENT:
            return "object";
        case BSON_TYPE_ARRAY:
            return "array";
        case BSON_TYPE_INT32:
            return "int";
        case BSON_TYPE_INT64:
            return "long";
        case BSON_TYPE_NULL:
            return "null";
        case BSON_TYPE_BOOL:
            return "bool";
        case BSON_TYPE_OID:
            return "objectId";
        case BSON_TYPE_DATE_TIME:
            return "date";
        default:
            return "other";
    }
}

Node* get_node(Node& root, const Path& p) {
    Node* cur = &root;
    for (const auto& part : p) {
        if (cur->type == BSON_TYPE_DOCUMENT) {
            cur = cur->find(part);
        } else if (cur->type == BSON_TYPE_ARRAY) {
            size_t i;
            if (!is_index(part, &i) || i >= cur->kids.size()) return nullptr;
            cur = &cur->kids[i].second;
        } else {
            return nullptr;
        }
        if (!cur) return nullptr;
    }
    return cur;
}

namespace {

// Setting a far array index pads with nulls; the server refuses to pad more than this.
constexpr size_t kMaxBackfill = 1500000;
Error backfill_error() {
    return Error{2, "can't backfill array to larger than 1500000 elements", {}};
}

// Finds or creates the parent of the last component; returns the container or an error.
Result<Node*> ensure_parent(Node& root, const Path& p) {
    Node* cur = &root;
    for (size_t i = 0; i + 1 < p.size(); ++i) {
        const std::string& part = p[i];
        Node* next = nullptr;
        if (cur->type == BSON_TYPE_DOCUMENT) {
            next = cur->find(part);
            if (!next) next = &cur->set(part, Node::document());
        } else if (cur->type == BSON_TYPE_ARRAY) {
            size_t idx;
            if (!is_index(part, &idx))
                return Error{
                    28,
                    "Cannot create field '" + part + "' in element {" + join(p, i) + ": [...]}",
                    {}};
            if (idx > cur->kids.size() + kMaxBackfill) return backfill_error();
            while (cur->kids.size() <= idx)
                cur->kids.emplace_back(std::to_string(cur->kids.size()), Node::null());
            next = &cur->kids[idx].second;
            if (next->type == BSON_TYPE_NULL && i + 1 < p.size()) *next = Node::document();
        }
        if (!next || !next->is_container())
            return Error{28,
                         "Cannot create field '" + p[i + 1] + "' in element {" + part + ": " +
                             (next ? type_name(next->type) : "null") + "}",
                         {}};
        cur = next;
    }
    return cur;
}

}  // namespace

Status set_at(Node& root, const Path& p, Node v) {
    auto parent = ensure_parent(root, p);
    if (!parent.ok()) return parent.error();
    Node* c = parent.value();
    if (c->type == BSON_TYPE_ARRAY) {
        size_t idx;
        if (!is_index(p.back(), &idx))
            return Error{2, "cannot use the part (" + p.back() + ") to traverse the element", {}};
        if (idx > c->kids.size() + kMaxBackfill) return backfill_error();
        while (c->kids.size() <= idx)
            c->kids.emplace_back(std::to_string(c->kids.size()), Node::null());
        c->kids[idx].second = std::move(v);
    } else {
        c->set(p.back(), std::move(v));
    }
    return ok_status();
}

void unset_at(Node& root, const Path& p) {
    Path parent_path(p.begin(), p.end() - 1);
    Node* parent = get_node(root, parent_path);
    if (!parent) return;
    if (parent->type == BSON_TYPE_DOCUMENT) {
        parent->erase(p.back());
    } else if (parent->type == BSON_TYPE_ARRAY) {
        size_t idx;
        if (is_index(p.back(), &idx) && idx < parent->kids.size())
            parent->kids[idx].second = Node::null();
    }
}

Doc wrap_at(const std::string& name, const Node& elem) {
    Doc d;
    elem.append_to(d.get(), name);
    return d;
}

namespace {

bool is_positional(const std::string& part) {
    return part == "$" || (part.size() >= 3 && part[0] == '$' && part[1] == '[');
}

Error no_positional_match() {
    return Error{2, "The positional operator did not find the match needed from the query.", {}};
}

Path with_index(const Path& d, size_t j) {
    Path np = d;
    np.push_back(std::to_string(j));
    return np;
}

// The query predicates under the array at PREFIX, renamed to start with "e" instead.
Doc positional_subfilter(const bson_t* query, const std::string& prefix) {
    Doc sub;
    bson_iter_t it;
    if (bson_iter_init(&it, query)) {
        while (bson_iter_next(&it)) {
            std::string k = bson_iter_key(&it);
            if (k == prefix || k.rfind(prefix + ".", 0) == 0) {
                std::string renamed = "e";
                renamed.append(k, prefix.size(), std::string::npos);
                append_value(sub.get(), renamed, &it);
            }
        }
    }
    return sub;
}

// "$": the first element of the array ARR at D that the query's predicates on it match.
Status expand_first_match(const bson_t* query, const Path& d, const Node& arr,
                          std::vector<Path>& next) {
    if (!query) return no_positional_match();
    Doc sub = positional_subfilter(query, join(d, d.size()));
    for (size_t j = 0; j < arr.kids.size(); ++j) {
        Node one = Node::array();
        one.kids.emplace_back("0", arr.kids[j].second);
        Doc probe = wrap_at("e", one);
        auto m = matches(probe.get(), sub.get());
        if (m.ok() && m.value()) {
            next.push_back(with_index(d, j));
            return ok_status();
        }
    }
    return no_positional_match();
}

// The first of ARRAY_FILTERS (may be null) whose first field is ID or a path under it.
std::optional<Doc> array_filter_for(const bson_t* array_filters, const std::string& id) {
    bson_iter_t af;
    if (!array_filters || !bson_iter_init(&af, array_filters)) return std::nullopt;
    while (bson_iter_next(&af)) {
        Doc f = iter_subdoc(&af);
        bson_iter_t k;
        if (bson_iter_init(&k, f.get()) && bson_iter_next(&k)) {
            std::string key = bson_iter_key(&k);
            if (key == id || key.rfind(id + ".", 0) == 0) return f;
        }
    }
    return std::nullopt;
}

// "$[id]" (the I-th part of P): every element of the array ARR at D that id's filter matches.
Status expand_filtered(const Ctx& ctx, const Path& p, size_t i, const Path& d, const Node& arr,
                       std::vector<Path>& next) {
    std::string id = p[i].substr(2, p[i].size() - 3);
    auto filter = array_filter_for(ctx.spec->array_filters, id);
    if (!filter)
        return Error{
            2,
            "No array filter found for identifier '" + id + "' in path '" + join(p, p.size()) + "'",
            {}};
    for (size_t j = 0; j < arr.kids.size(); ++j) {
        Doc probe = wrap_at(id, arr.kids[j].second);
        auto m = matches(probe.get(), filter->get());
        if (!m.ok()) return m.error();
        if (m.value()) next.push_back(with_index(d, j));
    }
    return ok_status();
}

// Appends to NEXT the concrete paths that the positional I-th part of P stands for under D.
Status expand_positional(const Ctx& ctx, const Path& p, size_t i, const Path& d,
                         std::vector<Path>& next) {
    const Node* arr = get_node(*ctx.root, d);
    if (!arr || arr->type != BSON_TYPE_ARRAY)
        return Error{2,
                     "The path '" + join(p, i) +
                         "' must exist in the document in order to apply array updates.",
                     {}};
    if (p[i] == "$") return expand_first_match(ctx.spec->query, d, *arr, next);
    if (p[i] == "$[]") {
        for (size_t j = 0; j < arr->kids.size(); ++j) next.push_back(with_index(d, j));
        return ok_status();
    }
    return expand_filtered(ctx, p, i, d, *arr, next);
}

}  // namespace

Result<std::vector<Path>> expand(Ctx& ctx, const Path& p) {
    std::vector<Path> done{Path{}};
    for (size_t i = 0; i < p.size(); ++i) {
        if (!is_positional(p[i])) {
            for (auto& d : done) d.push_back(p[i]);
            continue;
        }
        std::vector<Path> next;
        for (const auto& d : done) {
            Status st = expand_positional(ctx, p, i, d, next);
            if (!st.ok()) return st.error();
        }
        done = std::move(next);
    }
    return done;
}

void record_set(Ctx& ctx, const Path& p) {
    Node* n = get_node(*ctx.root, p);
    if (n) ctx.out->updated_fields.set(join(p, p.size()), *n);
}

}  // namespace standin::update_paths
