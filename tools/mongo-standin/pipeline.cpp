#include "pipeline.hpp"

#include <cctype>
#include <cmath>
#include <cstring>
#include <map>

#include "query_match.hpp"

namespace standin {

namespace {

Error bad(int code, std::string msg) { return Error{code, std::move(msg), {}}; }

// ---- projection tree ----

struct Proj {
    enum Kind { kInclude, kExclude, kExpr, kSub } kind = kSub;
    bson_iter_t expr{};
    std::string name;
    std::vector<Proj> kids;  // children in spec order
    Proj* child(const std::string& k);
    const Proj* find(const std::string& k) const;
};

Proj* Proj::child(const std::string& k) {
    for (auto& c : kids)
        if (c.name == k) return &c;
    kids.emplace_back();
    kids.back().name = k;
    return &kids.back();
}

const Proj* Proj::find(const std::string& k) const {
    for (const auto& c : kids)
        if (c.name == k) return &c;
    return nullptr;
}

struct ParsedProj {
    Proj root;
    bool inclusion = false;
    bool id_excluded = false;
    bool id_explicit = false;
};

// The tree keeps iterators into SPEC (the expressions of computed fields): SPEC must outlive it.
Result<ParsedProj> parse_projection(const bson_t* spec) {
    ParsedProj pp;
    bool any_include = false, any_exclude = false;
    std::string first_exclude, first_include;
    bson_iter_t it;
    if (!bson_iter_init(&it, spec)) return bad(2, "invalid projection");
    while (bson_iter_next(&it)) {
        std::string key = bson_iter_key(&it);
        Proj::Kind kind;
        if (iter_is_number(&it) || BSON_ITER_HOLDS_BOOL(&it)) {
            kind = iter_truthy(&it) ? Proj::kInclude : Proj::kExclude;
        } else if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
            bson_iter_t c;
            if (bson_iter_recurse(&it, &c) && bson_iter_next(&c) && bson_iter_key(&c)[0] != '$') {
                // Nested projection {a: {b: 1}} is the same as {"a.b": 1}. The nested spec is a
                // view into SPEC (never a copy): its iterators are kept in the tree and must stay
                // valid as long as SPEC does.
                bson_t sub;
                iter_view(&it, &sub);
                auto nested = parse_projection(&sub);
                if (!nested.ok()) return nested.error();
                Proj* p = pp.root.child(key);
                p->kind = Proj::kSub;
                p->kids = nested.value().root.kids;
                if (nested.value().inclusion)
                    any_include = true;
                else
                    any_exclude = true;
                continue;
            }
            kind = Proj::kExpr;
        } else {
            kind = Proj::kExpr;
        }
        if (key == "_id" && kind != Proj::kExpr) {
            pp.id_explicit = true;
            pp.id_excluded = kind == Proj::kExclude;
            if (kind == Proj::kExclude) continue;
        }
        if (kind == Proj::kExclude) {
            any_exclude = true;
            if (first_exclude.empty()) first_exclude = key;
        } else if (key != "_id" || kind == Proj::kExpr) {
            any_include = true;
            if (first_include.empty()) first_include = key;
        }
        auto parts = split_path(key);
        if (parts.size() > 200) return bad(2, "projection path is nested too deeply");
        Proj* p = &pp.root;
        for (const auto& part : parts) p = p->child(part);
        p->kind = kind;
        p->expr = it;
    }
    if (any_include && any_exclude) {
        if (!first_include.empty() && !first_exclude.empty())
            return bad(31254, "Cannot do exclusion on field " + first_exclude +
                                  " in inclusion projection");
    }
    pp.inclusion = any_include || (!any_exclude && pp.id_explicit && !pp.id_excluded);
    return pp;
}

Result<Node> project_include(const Node& root_doc, const Node& src, const Proj& p,
                             const Vars* vars);

Result<Node> project_include_value(const Node& root_doc, const Node& v, const Proj& p,
                                   const Vars* vars) {
    if (v.type == BSON_TYPE_DOCUMENT) return project_include(root_doc, v, p, vars);
    Node out = Node::array();
    for (const auto& kv : v.kids) {
        if (kv.second.type == BSON_TYPE_DOCUMENT || kv.second.type == BSON_TYPE_ARRAY) {
            auto r = project_include_value(root_doc, kv.second, p, vars);
            if (!r.ok()) return r;
            out.kids.emplace_back("", std::move(r.value()));
        }
    }
    out.renumber();
    return out;
}

Result<Node> project_include(const Node& root_doc, const Node& src, const Proj& p,
                             const Vars* vars) {
    Node out = Node::document();
    for (const auto& [k, v] : src.kids) {
        const Proj* sub = p.find(k);
        if (!sub) continue;
        if (sub->kind == Proj::kInclude) {
            out.kids.emplace_back(k, v);
        } else if (sub->kind == Proj::kSub &&
                   (v.type == BSON_TYPE_DOCUMENT || v.type == BSON_TYPE_ARRAY)) {
            auto r = project_include_value(root_doc, v, *sub, vars);
            if (!r.ok()) return r;
            out.kids.emplace_back(k, std::move(r.value()));
        }
    }
    for (const auto& sub : p.kids) {
        const std::string& k = sub.name;
        if (sub.kind == Proj::kExpr) {
            auto v = eval_expression(root_doc, &sub.expr, vars);
            if (!v.ok()) return v.error();
            if (v.value()) out.set(k, std::move(*v.value()));
        } else if (sub.kind == Proj::kSub) {
            bool has_expr = false;
            for (const auto& kv : sub.kids) has_expr = has_expr || kv.kind == Proj::kExpr;
            if (has_expr && !src.find(k)) {
                auto r = project_include(root_doc, Node::document(), sub, vars);
                if (!r.ok()) return r;
                out.set(k, std::move(r.value()));
            }
        }
    }
    return out;
}

Node project_exclude(const Node& src, const Proj& p) {
    Node out = src.type == BSON_TYPE_ARRAY ? Node::array() : Node::document();
    for (const auto& [k, v] : src.kids) {
        const Proj* sub = src.type == BSON_TYPE_DOCUMENT ? p.find(k) : nullptr;
        if (src.type == BSON_TYPE_ARRAY) {
            if (v.type == BSON_TYPE_DOCUMENT || v.type == BSON_TYPE_ARRAY)
                out.kids.emplace_back(k, project_exclude(v, p));
            else
                out.kids.emplace_back(k, v);
            continue;
        }
        if (!sub) {
            out.kids.emplace_back(k, v);
        } else if (sub->kind == Proj::kSub &&
                   (v.type == BSON_TYPE_DOCUMENT || v.type == BSON_TYPE_ARRAY)) {
            out.kids.emplace_back(k, project_exclude(v, *sub));
        } else if (sub->kind == Proj::kSub) {
            out.kids.emplace_back(k, v);
        }
    }
    return out;
}

Result<Node> project_node(const Node& doc, const ParsedProj& pp, const Vars* vars) {
    if (pp.inclusion) {
        auto r = project_include(doc, doc, pp.root, vars);
        if (!r.ok()) return r;
        Node out = std::move(r.value());
        if (!pp.id_excluded) {
            if (const Node* id = doc.find("_id"); id && !out.find("_id"))
                out.kids.insert(out.kids.begin(), {"_id", *id});
        } else {
            out.erase("_id");
        }
        return out;
    }
    Node out = project_exclude(doc, pp.root);
    if (pp.id_excluded) out.erase("_id");
    return out;
}

}  // namespace

Result<Doc> apply_projection(const bson_t* doc, const bson_t* projection, const Vars* vars) {
    auto pp = parse_projection(projection);
    if (!pp.ok()) return pp.error();
    Node n = Node::from_bson(doc);
    auto r = project_node(n, pp.value(), vars);
    if (!r.ok()) return r.error();
    return r.value().to_doc();
}

Status validate_projection(const bson_t* projection) {
    auto pp = parse_projection(projection);
    if (!pp.ok()) return pp.error();
    return ok_status();
}

namespace {

DocPtr to_ptr(const Node& n) { return std::make_shared<const std::string>(n.to_doc().bytes()); }
DocPtr to_ptr(const Doc& d) { return std::make_shared<const std::string>(d.bytes()); }

const char* kStages[] = {"$match", "$project", "$addFields",   "$set",
                         "$unset", "$sort",    "$skip",        "$limit",
                         "$count", "$group",   "$replaceRoot", "$replaceWith"};
const char* kChangeStreamStages[] = {"$match", "$project",     "$addFields",   "$set",
                                     "$unset", "$replaceRoot", "$replaceWith", "$redact"};

}  // namespace

Status validate_stages(const bson_t* stages, bool change_stream, const Vars* vars) {
    bson_iter_t it;
    if (!bson_iter_init(&it, stages))
        return bad(14, "'pipeline' option must be specified as an array");
    bool first = true;
    while (bson_iter_next(&it)) {
        bson_iter_t s;
        if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &s) || !bson_iter_next(&s))
            return bad(40323,
                       "A pipeline stage specification object must contain exactly one field.");
        std::string name = bson_iter_key(&s);
        bson_iter_t extra = s;
        if (bson_iter_next(&extra))
            return bad(40323,
                       "A pipeline stage specification object must contain exactly one field.");
        bool was_first = first;
        first = false;
        if (name == "$changeStream") {
            if (!was_first || !change_stream)
                return bad(40602, "$changeStream is only valid as the first stage in a pipeline");
            continue;
        }
        bool known = false;
        if (change_stream) {
            for (const char* k : kChangeStreamStages) known = known || name == k;
            if (!known) {
                for (const char* k : kStages) known = known || name == k;
                if (known)
                    return bad(31011,
                               "Stage " + name + " is not permitted in a $changeStream pipeline");
            }
        } else {
            for (const char* k : kStages) known = known || name == k;
        }
        if (!known) return bad(40324, "Unrecognized pipeline stage name: '" + name + "'");
        if (name == "$match") {
            if (!BSON_ITER_HOLDS_DOCUMENT(&s))
                return bad(15959, "the match filter must be an expression in an object");
            Doc f = iter_subdoc(&s);
            auto v = validate_filter(f.get(), vars);
            if (!v.ok()) return v;
        } else if (name == "$project") {
            if (!BSON_ITER_HOLDS_DOCUMENT(&s))
                return bad(15969, "$project specification must be an object");
            Doc f = iter_subdoc(&s);
            auto v = validate_projection(f.get());
            if (!v.ok()) return v;
        } else if (name == "$limit" || name == "$skip") {
            if (!iter_is_number(&s)) return bad(15957, name + " must be a number");
            if (iter_as_int64(&s) < 0 || (name == "$limit" && iter_as_int64(&s) == 0))
                return bad(15958, name + " must be positive");
        } else if (name == "$count") {
            if (!BSON_ITER_HOLDS_UTF8(&s) || bson_iter_utf8(&s, nullptr)[0] == '\0')
                return bad(40156, "the count field must be a non-empty string");
        }
    }
    return ok_status();
}

namespace {

using Docs = std::vector<DocPtr>;

Result<Docs> run_match(Docs& docs, const bson_iter_t* s, const Vars* vars) {
    Doc f = iter_subdoc(s);
    Docs out;
    for (auto& d : docs) {
        bson_t view;
        view_of(*d, &view);
        auto m = matches(&view, f.get(), vars);
        if (!m.ok()) return m.error();
        if (m.value()) out.push_back(std::move(d));
    }
    return out;
}

// The projection that $unset's field name or array of names stands for.
Result<Doc> unset_projection(const bson_iter_t* s) {
    Doc spec;
    if (BSON_ITER_HOLDS_UTF8(s)) {
        BSON_APPEND_INT32(spec.get(), bson_iter_utf8(s, nullptr), 0);
    } else if (BSON_ITER_HOLDS_ARRAY(s)) {
        bson_iter_t e;
        bson_iter_recurse(s, &e);
        while (bson_iter_next(&e))
            if (BSON_ITER_HOLDS_UTF8(&e))
                BSON_APPEND_INT32(spec.get(), bson_iter_utf8(&e, nullptr), 0);
    } else {
        return bad(31002, "$unset specification must be a string or an array");
    }
    return spec;
}

// $project, and $unset as the projection that excludes its fields.
Result<Docs> run_project(const std::string& name, const Docs& docs, const bson_iter_t* s,
                         const Vars* vars) {
    Doc spec;
    if (name == "$unset") {
        auto u = unset_projection(s);
        if (!u.ok()) return u.error();
        spec = std::move(u.value());
    } else {
        spec = iter_subdoc(s);
    }
    auto pp = parse_projection(spec.get());
    if (!pp.ok()) return pp.error();
    Docs out;
    for (const auto& d : docs) {
        bson_t view;
        view_of(*d, &view);
        auto r = project_node(Node::from_bson(&view), pp.value(), vars);
        if (!r.ok()) return r.error();
        out.push_back(to_ptr(r.value()));
    }
    return out;
}

// Sets each field of $addFields' specification S (a dotted path) in ROOT to its value.
Result<Node> add_fields(const Node& root, const bson_iter_t* s, const Vars* vars) {
    Node result = root;
    bson_iter_t f;
    bson_iter_recurse(s, &f);
    while (bson_iter_next(&f)) {
        auto v = eval_expression(root, &f, vars);
        if (!v.ok()) return v.error();
        if (!v.value()) continue;
        auto parts = split_path(bson_iter_key(&f));
        if (parts.size() > 200) return bad(2, "field path is nested too deeply");
        Node* cur = &result;
        for (size_t i = 0; i + 1 < parts.size(); ++i) {
            Node* nx = cur->find(parts[i]);
            if (!nx || nx->type != BSON_TYPE_DOCUMENT) nx = &cur->set(parts[i], Node::document());
            cur = nx;
        }
        cur->set(parts.back(), std::move(*v.value()));
    }
    return result;
}

// $addFields and its alias $set.
Result<Docs> run_add_fields(const std::string& name, const Docs& docs, const bson_iter_t* s,
                            const Vars* vars) {
    if (!BSON_ITER_HOLDS_DOCUMENT(s))
        return bad(40272, name + " specification stage must be an object");
    Docs out;
    for (const auto& d : docs) {
        bson_t view;
        view_of(*d, &view);
        auto r = add_fields(Node::from_bson(&view), s, vars);
        if (!r.ok()) return r.error();
        out.push_back(to_ptr(r.value()));
    }
    return out;
}

// $replaceRoot (its newRoot) and $replaceWith.
Result<Docs> run_replace_root(const std::string& name, const Docs& docs, const bson_iter_t* s,
                              const Vars* vars) {
    bson_iter_t e = *s;
    if (name == "$replaceRoot") {
        if (!BSON_ITER_HOLDS_DOCUMENT(s) || !bson_iter_recurse(s, &e) ||
            !bson_iter_find(&e, "newRoot"))
            return bad(40231, "no newRoot specified for the $replaceRoot stage");
    }
    Docs out;
    for (const auto& d : docs) {
        bson_t view;
        view_of(*d, &view);
        auto v = eval_expression(Node::from_bson(&view), &e, vars);
        if (!v.ok()) return v.error();
        if (!v.value() || v.value()->type != BSON_TYPE_DOCUMENT)
            return bad(40228, "'newRoot' expression must evaluate to an object");
        out.push_back(to_ptr(*v.value()));
    }
    return out;
}

// $sort, $skip, $limit and $count: stages that keep, reorder or count the documents.
Result<Docs> run_arrange(const std::string& name, Docs& docs, const bson_iter_t* s) {
    Docs out;
    if (name == "$sort") {
        Doc spec = iter_subdoc(s);
        auto st = sort_docs(&docs, spec.get());
        if (!st.ok()) return st.error();
        out = std::move(docs);
    } else if (name == "$skip") {
        size_t n = static_cast<size_t>(std::max<int64_t>(0, iter_as_int64(s)));
        if (n < docs.size()) out.assign(docs.begin() + static_cast<long>(n), docs.end());
    } else if (name == "$limit") {
        size_t n = static_cast<size_t>(std::max<int64_t>(0, iter_as_int64(s)));
        if (n < docs.size()) docs.resize(n);
        out = std::move(docs);
    } else if (name == "$count" && !docs.empty()) {
        Doc d;
        BSON_APPEND_INT32(d.get(), bson_iter_utf8(s, nullptr), static_cast<int32_t>(docs.size()));
        out.push_back(to_ptr(d));
    }
    return out;
}

// Runs the stage NAME (its specification at S) over DOCS.
Result<Docs> run_stage(const std::string& name, Docs& docs, const bson_iter_t* s,
                       const Vars* vars) {
    if (name == "$match") return run_match(docs, s, vars);
    if (name == "$project" || name == "$unset") return run_project(name, docs, s, vars);
    if (name == "$addFields" || name == "$set") return run_add_fields(name, docs, s, vars);
    if (name == "$replaceRoot" || name == "$replaceWith")
        return run_replace_root(name, docs, s, vars);
    if (name == "$sort" || name == "$skip" || name == "$limit" || name == "$count")
        return run_arrange(name, docs, s);
    if (name == "$group") return run_group(docs, s, vars);
    if (name == "$redact") return std::move(docs);
    return bad(40324, "Unrecognized pipeline stage name: '" + name + "'");
}

}  // namespace

Result<std::vector<DocPtr>> run_stages(std::vector<DocPtr> docs, const bson_t* stages,
                                       const Vars* vars) {
    bson_iter_t it;
    if (!bson_iter_init(&it, stages)) return docs;
    while (bson_iter_next(&it)) {
        bson_iter_t s;
        if (!bson_iter_recurse(&it, &s) || !bson_iter_next(&s)) continue;
        std::string name = bson_iter_key(&s);
        if (name == "$changeStream") continue;
        auto out = run_stage(name, docs, &s, vars);
        if (!out.ok()) return out.error();
        docs = std::move(out.value());
    }
    return docs;
}

}  // namespace standin
