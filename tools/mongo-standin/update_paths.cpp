// Paths of operator updates: splitting, finding and creating fields, and the positional operators.
#include "update_paths.hpp"

#include <cstring>

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

Result<std::vector<Path>> expand(Ctx& ctx, const Path& p) {
    std::vector<Path> done{Path{}};
    for (size_t i = 0; i < p.size(); ++i) {
        const std::string& part = p[i];
        bool positional = part == "$" || (part.size() >= 3 && part[0] == '$' && part[1] == '[');
        if (!positional) {
            for (auto& d : done) d.push_back(part);
            continue;
        }
        std::vector<Path> next;
        for (auto& d : done) {
            Node* arr = get_node(*ctx.root, d);
            if (!arr || arr->type != BSON_TYPE_ARRAY)
                return Error{2,
                             "The path '" + join(p, i) +
                                 "' must exist in the document in order to apply array updates.",
                             {}};
            if (part == "$") {
                if (!ctx.spec->query)
                    return Error{
                        2,
                        "The positional operator did not find the match needed from the query.",
                        {}};
                // Sub-filter: the query predicates under this array's path.
                std::string prefix = join(d, d.size());
                Doc sub;
                bson_iter_t it;
                if (bson_iter_init(&it, ctx.spec->query)) {
                    while (bson_iter_next(&it)) {
                        std::string k = bson_iter_key(&it);
                        if (k == prefix || k.rfind(prefix + ".", 0) == 0) {
                            std::string renamed = "e";
                            renamed.append(k, prefix.size(), std::string::npos);
                            append_value(sub.get(), renamed, &it);
                        }
                    }
                }
                bool found = false;
                for (size_t j = 0; j < arr->kids.size() && !found; ++j) {
                    Node one = Node::array();
                    one.kids.emplace_back("0", arr->kids[j].second);
                    Doc probe = wrap_at("e", one);
                    auto m = matches(probe.get(), sub.get());
                    if (m.ok() && m.value()) {
                        Path np = d;
                        np.push_back(std::to_string(j));
                        next.push_back(np);
                        found = true;
                    }
                }
                if (!found)
                    return Error{
                        2,
                        "The positional operator did not find the match needed from the query.",
                        {}};
            } else if (part == "$[]") {
                for (size_t j = 0; j < arr->kids.size(); ++j) {
                    Path np = d;
                    np.push_back(std::to_string(j));
                    next.push_back(np);
                }
            } else {
                std::string id = part.substr(2, part.size() - 3);
                Doc filter;
                bool have = false;
                if (ctx.spec->array_filters) {
                    bson_iter_t af;
                    if (bson_iter_init(&af, ctx.spec->array_filters)) {
                        while (bson_iter_next(&af)) {
                            Doc f = iter_subdoc(&af);
                            bson_iter_t k;
                            if (bson_iter_init(&k, f.get()) && bson_iter_next(&k)) {
                                std::string key = bson_iter_key(&k);
                                if (key == id || key.rfind(id + ".", 0) == 0) {
                                    filter = std::move(f);
                                    have = true;
                                    break;
                                }
                            }
                        }
                    }
                }
                if (!have)
                    return Error{2,
                                 "No array filter found for identifier '" + id + "' in path '" +
                                     join(p, p.size()) + "'",
                                 {}};
                for (size_t j = 0; j < arr->kids.size(); ++j) {
                    Doc probe = wrap_at(id, arr->kids[j].second);
                    auto m = matches(probe.get(), filter.get());
                    if (!m.ok()) return m.error();
                    if (m.value()) {
                        Path np = d;
                        np.push_back(std::to_string(j));
                        next.push_back(np);
                    }
                }
            }
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
