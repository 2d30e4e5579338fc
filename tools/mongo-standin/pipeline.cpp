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

struct Acc {
    std::string op;
    bson_iter_t arg;
};

Result<std::vector<DocPtr>> run_group(const std::vector<DocPtr>& docs, const bson_iter_t* spec,
                                      const Vars* vars) {
    bson_iter_t f;
    if (!BSON_ITER_HOLDS_DOCUMENT(spec) || !bson_iter_recurse(spec, &f))
        return bad(15947, "a group's fields must be specified in an object");
    bson_iter_t id_expr{};
    bool has_id = false;
    std::vector<std::pair<std::string, Acc>> accs;
    while (bson_iter_next(&f)) {
        std::string k = bson_iter_key(&f);
        if (k == "_id") {
            id_expr = f;
            has_id = true;
            continue;
        }
        bson_iter_t a;
        if (!BSON_ITER_HOLDS_DOCUMENT(&f) || !bson_iter_recurse(&f, &a) || !bson_iter_next(&a))
            return bad(40234, "The field '" + k + "' must be an accumulator object");
        accs.emplace_back(k, Acc{bson_iter_key(&a), a});
    }
    if (!has_id) return bad(15955, "a group specification must include an _id");
    struct GroupState {
        Node id;
        std::vector<Node> values;
        std::vector<long long> counts;
        std::vector<bool> set;
    };
    std::vector<GroupState> groups;
    std::map<std::string, size_t> index;
    for (const auto& d : docs) {
        bson_t view;
        view_of(*d, &view);
        Node root = Node::from_bson(&view);
        auto idv = eval_expression(root, &id_expr, vars);
        if (!idv.ok()) return idv.error();
        Node id = idv.value() ? std::move(*idv.value()) : Node::null();
        Doc kd;
        id.append_to(kd.get(), "k");
        bson_iter_t ki;
        bson_iter_init(&ki, kd.get());
        bson_iter_next(&ki);
        std::string key = canonical_key(&ki);
        auto [pos, inserted] = index.emplace(key, groups.size());
        if (inserted) {
            GroupState g;
            g.id = id;
            g.values.resize(accs.size());
            g.counts.assign(accs.size(), 0);
            g.set.assign(accs.size(), false);
            groups.push_back(std::move(g));
        }
        GroupState& g = groups[pos->second];
        for (size_t i = 0; i < accs.size(); ++i) {
            const Acc& acc = accs[i].second;
            auto v = eval_expression(root, &acc.arg, vars);
            if (!v.ok()) return v.error();
            std::optional<Node>& val = v.value();
            Node& slot = g.values[i];
            if (acc.op == "$sum" || acc.op == "$avg") {
                if (!val || !val->is_number()) continue;
                if (!g.set[i]) {
                    slot = acc.op == "$avg" ? Node::dbl(val->as_double()) : *val;
                    g.set[i] = true;
                } else if (acc.op == "$avg" || slot.type == BSON_TYPE_DOUBLE ||
                           val->type == BSON_TYPE_DOUBLE) {
                    slot = Node::dbl(slot.as_double() + val->as_double());
                } else {
                    long long s = static_cast<long long>(slot.as_double()) +
                                  static_cast<long long>(val->as_double());
                    bool fits = s >= INT32_MIN && s <= INT32_MAX && slot.type == BSON_TYPE_INT32 &&
                                val->type == BSON_TYPE_INT32;
                    slot = fits ? Node::int32(static_cast<int32_t>(s)) : Node::int64(s);
                }
                g.counts[i]++;
            } else if (acc.op == "$min" || acc.op == "$max") {
                if (!val || val->type == BSON_TYPE_NULL) continue;
                if (!g.set[i] || (acc.op == "$min" ? compare_nodes(*val, slot) < 0
                                                   : compare_nodes(*val, slot) > 0)) {
                    slot = *val;
                    g.set[i] = true;
                }
            } else if (acc.op == "$first") {
                if (!g.set[i]) {
                    slot = val ? *val : Node::null();
                    g.set[i] = true;
                }
            } else if (acc.op == "$last") {
                slot = val ? *val : Node::null();
                g.set[i] = true;
            } else if (acc.op == "$push" || acc.op == "$addToSet") {
                if (!g.set[i]) {
                    slot = Node::array();
                    g.set[i] = true;
                }
                if (!val) continue;
                bool present = false;
                if (acc.op == "$addToSet")
                    for (auto& kv : slot.kids)
                        present = present || compare_nodes(kv.second, *val) == 0;
                if (!present) slot.kids.emplace_back(std::to_string(slot.kids.size()), *val);
            } else {
                return bad(15952, "unknown group operator '" + acc.op + "'");
            }
        }
    }
    std::vector<DocPtr> out;
    for (auto& g : groups) {
        Node d = Node::document();
        d.kids.emplace_back("_id", g.id);
        for (size_t i = 0; i < accs.size(); ++i) {
            const std::string& op = accs[i].second.op;
            Node v = g.values[i];
            if (!g.set[i]) {
                if (op == "$sum")
                    v = Node::int32(0);
                else if (op == "$push" || op == "$addToSet")
                    v = Node::array();
                else
                    v = Node::null();
            } else if (op == "$avg") {
                v = Node::dbl(v.as_double() / static_cast<double>(g.counts[i]));
            }
            d.kids.emplace_back(accs[i].first, std::move(v));
        }
        out.push_back(to_ptr(d));
    }
    return out;
}

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

Result<std::vector<DocPtr>> run_stages(std::vector<DocPtr> docs, const bson_t* stages,
                                       const Vars* vars) {
    bson_iter_t it;
    if (!bson_iter_init(&it, stages)) return docs;
    while (bson_iter_next(&it)) {
        bson_iter_t s;
        if (!bson_iter_recurse(&it, &s) || !bson_iter_next(&s)) continue;
        std::string name = bson_iter_key(&s);
        if (name == "$changeStream") continue;
        std::vector<DocPtr> out;
        if (name == "$match") {
            Doc f = iter_subdoc(&s);
            for (auto& d : docs) {
                bson_t view;
                view_of(*d, &view);
                auto m = matches(&view, f.get(), vars);
                if (!m.ok()) return m.error();
                if (m.value()) out.push_back(std::move(d));
            }
        } else if (name == "$project" || name == "$unset") {
            Doc spec;
            if (name == "$unset") {
                if (BSON_ITER_HOLDS_UTF8(&s)) {
                    BSON_APPEND_INT32(spec.get(), bson_iter_utf8(&s, nullptr), 0);
                } else if (BSON_ITER_HOLDS_ARRAY(&s)) {
                    bson_iter_t e;
                    bson_iter_recurse(&s, &e);
                    while (bson_iter_next(&e))
                        if (BSON_ITER_HOLDS_UTF8(&e))
                            BSON_APPEND_INT32(spec.get(), bson_iter_utf8(&e, nullptr), 0);
                } else {
                    return bad(31002, "$unset specification must be a string or an array");
                }
            } else {
                spec = iter_subdoc(&s);
            }
            auto pp = parse_projection(spec.get());
            if (!pp.ok()) return pp.error();
            for (auto& d : docs) {
                bson_t view;
                view_of(*d, &view);
                auto r = project_node(Node::from_bson(&view), pp.value(), vars);
                if (!r.ok()) return r.error();
                out.push_back(to_ptr(r.value()));
            }
        } else if (name == "$addFields" || name == "$set") {
            if (!BSON_ITER_HOLDS_DOCUMENT(&s))
                return bad(40272, name + " specification stage must be an object");
            for (auto& d : docs) {
                bson_t view;
                view_of(*d, &view);
                Node root = Node::from_bson(&view);
                Node result = root;
                bson_iter_t f;
                bson_iter_recurse(&s, &f);
                while (bson_iter_next(&f)) {
                    auto v = eval_expression(root, &f, vars);
                    if (!v.ok()) return v.error();
                    if (!v.value()) continue;
                    auto parts = split_path(bson_iter_key(&f));
                    if (parts.size() > 200) return bad(2, "field path is nested too deeply");
                    Node* cur = &result;
                    for (size_t i = 0; i + 1 < parts.size(); ++i) {
                        Node* nx = cur->find(parts[i]);
                        if (!nx || nx->type != BSON_TYPE_DOCUMENT)
                            nx = &cur->set(parts[i], Node::document());
                        cur = nx;
                    }
                    cur->set(parts.back(), std::move(*v.value()));
                }
                out.push_back(to_ptr(result));
            }
        } else if (name == "$replaceRoot" || name == "$replaceWith") {
            bson_iter_t e = s;
            if (name == "$replaceRoot") {
                if (!BSON_ITER_HOLDS_DOCUMENT(&s) || !bson_iter_recurse(&s, &e) ||
                    !bson_iter_find(&e, "newRoot"))
                    return bad(40231, "no newRoot specified for the $replaceRoot stage");
            }
            for (auto& d : docs) {
                bson_t view;
                view_of(*d, &view);
                auto v = eval_expression(Node::from_bson(&view), &e, vars);
                if (!v.ok()) return v.error();
                if (!v.value() || v.value()->type != BSON_TYPE_DOCUMENT)
                    return bad(40228, "'newRoot' expression must evaluate to an object");
                out.push_back(to_ptr(*v.value()));
            }
        } else if (name == "$sort") {
            Doc spec = iter_subdoc(&s);
            auto st = sort_docs(&docs, spec.get());
            if (!st.ok()) return st.error();
            out = std::move(docs);
        } else if (name == "$skip") {
            size_t n = static_cast<size_t>(std::max<int64_t>(0, iter_as_int64(&s)));
            if (n < docs.size()) out.assign(docs.begin() + static_cast<long>(n), docs.end());
        } else if (name == "$limit") {
            size_t n = static_cast<size_t>(std::max<int64_t>(0, iter_as_int64(&s)));
            if (n < docs.size()) docs.resize(n);
            out = std::move(docs);
        } else if (name == "$count") {
            if (!docs.empty()) {
                Doc d;
                BSON_APPEND_INT32(d.get(), bson_iter_utf8(&s, nullptr),
                                  static_cast<int32_t>(docs.size()));
                out.push_back(to_ptr(d));
            }
        } else if (name == "$group") {
            auto g = run_group(docs, &s, vars);
            if (!g.ok()) return g.error();
            out = std::move(g.value());
        } else if (name == "$redact") {
            out = std::move(docs);
        } else {
            return bad(40324, "Unrecognized pipeline stage name: '" + name + "'");
        }
        docs = std::move(out);
    }
    return docs;
}

}  // namespace standin
