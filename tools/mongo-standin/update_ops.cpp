#include "update_ops.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "query_match.hpp"
#include "update_top_level.hpp"
#include "wire.hpp"

namespace standin {

namespace {

using Path = std::vector<std::string>;

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

// Paths deeper than this are refused (documents never nest deeper than 200 levels).
constexpr size_t kMaxPathParts = 200;

// Setting a far array index pads with nulls; the server refuses to pad more than this.
constexpr size_t kMaxBackfill = 1500000;
Error backfill_error() {
    return Error{2, "can't backfill array to larger than 1500000 elements", {}};
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

// Builds {path: elem} (nested) for matching array elements against filters.
Doc wrap_at(const std::string& name, const Node& elem) {
    Doc d;
    elem.append_to(d.get(), name);
    return d;
}

struct Ctx {
    const UpdateSpec* spec;
    UpdateOutcome* out;
    Node* root;
};

// Expands $, $[] and $[id] in a path into concrete paths over the current document.
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

Node number_from(long double v, bson_type_t a, bson_type_t b) {
    if (a == BSON_TYPE_DOUBLE || b == BSON_TYPE_DOUBLE || a == BSON_TYPE_DECIMAL128 ||
        b == BSON_TYPE_DECIMAL128)
        return Node::dbl(static_cast<double>(v));
    if (a == BSON_TYPE_INT32 && b == BSON_TYPE_INT32 && v >= std::numeric_limits<int32_t>::min() &&
        v <= std::numeric_limits<int32_t>::max())
        return Node::int32(static_cast<int32_t>(v));
    if (v >= -9.2e18L && v <= 9.2e18L) return Node::int64(static_cast<int64_t>(v));
    return Node::dbl(static_cast<double>(v));
}

long double exact(const Node& n) {
    switch (n.type) {
        case BSON_TYPE_INT32:
            return n.scalar.value.v_int32;
        case BSON_TYPE_INT64:
            return static_cast<long double>(n.scalar.value.v_int64);
        default:
            return n.as_double();
    }
}

Status apply_one(Ctx& ctx, const std::string& op, const std::string& field,
                 const bson_iter_t* arg) {
    Path raw = split(field);
    if (raw.size() > kMaxPathParts)
        return Error{2, "update path is nested too deeply: " + field, {}};
    if (op == "$rename") {
        if (!BSON_ITER_HOLDS_UTF8(arg))
            return Error{2, "The 'to' field for $rename must be a string: " + field, {}};
        Path to = split(bson_iter_utf8(arg, nullptr));
        Node* src = get_node(*ctx.root, raw);
        if (!src) return ok_status();
        Node v = *src;
        unset_at(*ctx.root, raw);
        auto s = set_at(*ctx.root, to, std::move(v));
        if (!s.ok()) return s;
        ctx.out->removed_fields.push_back(field);
        record_set(ctx, to);
        return ok_status();
    }
    auto exp = expand(ctx, raw);
    if (!exp.ok()) return exp.error();
    for (const Path& p : exp.value()) {
        Node* cur = get_node(*ctx.root, p);
        Node before = cur ? *cur : Node();
        bool existed = cur != nullptr;
        // When the operation creates missing parents, the server reports the outermost created
        // field as a whole ({"x": {"y": 1}} rather than "x.y").
        size_t created_depth = p.size();
        if (!existed) {
            for (size_t i = 1; i < p.size(); ++i) {
                if (!get_node(*ctx.root, Path(p.begin(), p.begin() + static_cast<long>(i)))) {
                    created_depth = i;
                    break;
                }
            }
        }
        std::string dotted = join(p, p.size());
        Node argn = Node::from_iter(arg);
        if (op == "$set" || (op == "$setOnInsert" && ctx.spec->upsert_insert)) {
            auto s = set_at(*ctx.root, p, argn);
            if (!s.ok()) return s;
        } else if (op == "$setOnInsert") {
            continue;
        } else if (op == "$unset") {
            if (!existed) continue;
            unset_at(*ctx.root, p);
            ctx.out->removed_fields.push_back(dotted);
            continue;
        } else if (op == "$inc" || op == "$mul") {
            if (!argn.is_number())
                return Error{14,
                             std::string("Cannot ") + (op == "$inc" ? "increment" : "multiply") +
                                 " with non-numeric argument: {" + field + ": ...}",
                             {}};
            if (existed && !cur->is_number())
                return Error{14,
                             "Cannot apply " + op +
                                 " to a value of non-numeric type. {_id: ...} has the field '" +
                                 p.back() + "' of non-numeric type " + type_name(cur->type),
                             {}};
            Node result;
            if (!existed) {
                result = op == "$inc" ? argn : number_from(0, argn.type, argn.type);
            } else {
                long double v =
                    op == "$inc" ? exact(*cur) + exact(argn) : exact(*cur) * exact(argn);
                result = number_from(v, cur->type, argn.type);
            }
            auto s = set_at(*ctx.root, p, std::move(result));
            if (!s.ok()) return s;
        } else if (op == "$min" || op == "$max") {
            if (existed) {
                int c = compare_nodes(argn, *cur);
                if ((op == "$min" && c >= 0) || (op == "$max" && c <= 0)) continue;
            }
            auto s = set_at(*ctx.root, p, argn);
            if (!s.ok()) return s;
        } else if (op == "$currentDate") {
            Node v;
            bool ts = false;
            if (argn.type == BSON_TYPE_DOCUMENT) {
                const Node* t = argn.find("$type");
                if (t && t->type == BSON_TYPE_UTF8 &&
                    std::string(t->scalar.value.v_utf8.str) == "timestamp")
                    ts = true;
            }
            if (ts) {
                v.type = v.scalar.value_type = BSON_TYPE_TIMESTAMP;
                v.scalar.value.v_timestamp.timestamp = ts_secs(ctx.spec->now_ts);
                v.scalar.value.v_timestamp.increment = ts_inc(ctx.spec->now_ts);
            } else {
                v.type = v.scalar.value_type = BSON_TYPE_DATE_TIME;
                v.scalar.value.v_datetime = ctx.spec->now_ms;
            }
            auto s = set_at(*ctx.root, p, std::move(v));
            if (!s.ok()) return s;
        } else if (op == "$push" || op == "$addToSet") {
            if (existed && cur->type != BSON_TYPE_ARRAY)
                return Error{2,
                             "The field '" + dotted + "' must be an array but is of type " +
                                 type_name(cur->type) + " in document {_id: ...}",
                             {}};
            std::vector<Node> items;
            const Node* each = argn.type == BSON_TYPE_DOCUMENT ? argn.find("$each") : nullptr;
            if (each) {
                if (each->type != BSON_TYPE_ARRAY)
                    return Error{2, "The argument to $each in " + op + " must be an array", {}};
                for (const auto& kv : each->kids) items.push_back(kv.second);
            } else {
                items.push_back(argn);
            }
            Node arr = existed ? *cur : Node::array();
            size_t old_size = arr.kids.size();
            bool simple_append = true;
            if (op == "$addToSet") {
                for (auto& it : items) {
                    bool present = false;
                    for (auto& kv : arr.kids)
                        present = present || compare_nodes(kv.second, it) == 0;
                    if (!present) arr.kids.emplace_back("", std::move(it));
                }
            } else {
                const Node* pos = each ? argn.find("$position") : nullptr;
                size_t at = arr.kids.size();
                if (pos && pos->is_number()) {
                    long long pv = static_cast<long long>(pos->as_double());
                    if (pv < 0)
                        pv = std::max<long long>(0, static_cast<long long>(arr.kids.size()) + pv);
                    at = std::min<size_t>(static_cast<size_t>(pv), arr.kids.size());
                    if (at != arr.kids.size()) simple_append = false;
                }
                std::vector<std::pair<std::string, Node>> ins;
                for (auto& it : items) ins.emplace_back("", std::move(it));
                arr.kids.insert(arr.kids.begin() + static_cast<long>(at), ins.begin(), ins.end());
                if (const Node* sort = each ? argn.find("$sort") : nullptr) {
                    simple_append = false;
                    std::stable_sort(arr.kids.begin(), arr.kids.end(),
                                     [&](const auto& a, const auto& b) {
                                         if (sort->is_number()) {
                                             int c = compare_nodes(a.second, b.second);
                                             return sort->as_double() > 0 ? c < 0 : c > 0;
                                         }
                                         for (const auto& [k, dir] : sort->kids) {
                                             const Node* x = a.second.find(k);
                                             const Node* y = b.second.find(k);
                                             Node nx = x ? *x : Node(), ny = y ? *y : Node();
                                             int c = compare_nodes(nx, ny);
                                             if (c) return dir.as_double() > 0 ? c < 0 : c > 0;
                                         }
                                         return false;
                                     });
                }
                if (const Node* slice = each ? argn.find("$slice") : nullptr) {
                    long long n = static_cast<long long>(slice->as_double());
                    size_t sz = arr.kids.size();
                    if (n >= 0 && static_cast<size_t>(n) < sz) {
                        arr.kids.resize(static_cast<size_t>(n));
                        simple_append = false;
                    } else if (n < 0 && static_cast<size_t>(-n) < sz) {
                        arr.kids.erase(arr.kids.begin(), arr.kids.end() - static_cast<long>(-n));
                        simple_append = false;
                    }
                }
            }
            arr.renumber();
            if (existed && simple_append) {
                for (size_t i = old_size; i < arr.kids.size(); ++i)
                    ctx.out->updated_fields.set(dotted + "." + std::to_string(i),
                                                arr.kids[i].second);
                auto s = set_at(*ctx.root, p, std::move(arr));
                if (!s.ok()) return s;
                continue;
            }
            auto s = set_at(*ctx.root, p, std::move(arr));
            if (!s.ok()) return s;
        } else if (op == "$pull" || op == "$pullAll" || op == "$pop") {
            if (!existed) continue;
            if (cur->type != BSON_TYPE_ARRAY)
                return Error{
                    op == "$pop" ? 14 : 2, "Cannot apply " + op + " to a non-array value", {}};
            Node arr = *cur;
            if (op == "$pop") {
                if (!arr.kids.empty()) {
                    if (argn.as_double() < 0)
                        arr.kids.erase(arr.kids.begin());
                    else
                        arr.kids.pop_back();
                }
            } else if (op == "$pullAll") {
                if (argn.type != BSON_TYPE_ARRAY)
                    return Error{2, "$pullAll requires an array argument", {}};
                std::erase_if(arr.kids, [&](const auto& kv) {
                    for (const auto& x : argn.kids)
                        if (compare_nodes(kv.second, x.second) == 0) return true;
                    return false;
                });
            } else {
                bool doc_filter = false;
                if (argn.type == BSON_TYPE_DOCUMENT && !argn.kids.empty() &&
                    argn.kids[0].first[0] != '$')
                    doc_filter = true;
                Doc cond = argn.type == BSON_TYPE_DOCUMENT ? argn.to_doc() : Doc();
                Doc wrapped_filter;
                argn.append_to(wrapped_filter.get(), "v");
                Status err = ok_status();
                std::erase_if(arr.kids, [&](const auto& kv) {
                    if (doc_filter) {
                        if (kv.second.type != BSON_TYPE_DOCUMENT) return false;
                        Doc e = kv.second.to_doc();
                        auto m = matches(e.get(), cond.get());
                        if (!m.ok()) err = m.error();
                        return m.ok() && m.value();
                    }
                    Doc probe = wrap_at("v", kv.second);
                    auto m = matches(probe.get(), wrapped_filter.get());
                    if (!m.ok()) err = m.error();
                    return m.ok() && m.value();
                });
                if (!err.ok()) return err;
            }
            arr.renumber();
            auto s = set_at(*ctx.root, p, std::move(arr));
            if (!s.ok()) return s;
        } else {
            return Error{9,
                         "Unknown modifier: " + op +
                             ". Expected a valid update modifier or pipeline-style update "
                             "specified as an array",
                         {}};
        }
        Node* after = get_node(*ctx.root, p);
        if (after && (!existed || !identical(before, *after)))
            record_set(ctx, Path(p.begin(), p.begin() + static_cast<long>(created_depth)));
    }
    return ok_status();
}

bool paths_conflict(const std::string& a, const std::string& b) {
    if (a == b) return true;
    auto prefix = [](const std::string& x, const std::string& y) {
        return y.size() > x.size() && y.compare(0, x.size(), x) == 0 && y[x.size()] == '.';
    };
    return prefix(a, b) || prefix(b, a);
}

const char* kKnownOps[] = {"$set",      "$unset",  "$inc",         "$mul",         "$min",
                           "$max",      "$rename", "$currentDate", "$setOnInsert", "$push",
                           "$addToSet", "$pull",   "$pullAll",     "$pop"};

}  // namespace

namespace {

bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

// Compares one path component: numerically when both are made of digits.
int compare_component(std::string_view a, std::string_view b) {
    if (all_digits(a) && all_digits(b)) {
        while (a.size() > 1 && a[0] == '0') a.remove_prefix(1);
        while (b.size() > 1 && b[0] == '0') b.remove_prefix(1);
        if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    }
    int c = a.compare(b);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

}  // namespace

bool update_path_less(std::string_view a, std::string_view b) {
    while (true) {
        size_t da = a.find('.'), db = b.find('.');
        int c = compare_component(a.substr(0, da), b.substr(0, db));
        if (c != 0) return c < 0;
        if (da == std::string_view::npos || db == std::string_view::npos)
            return da == std::string_view::npos && db != std::string_view::npos;
        a.remove_prefix(da + 1);
        b.remove_prefix(db + 1);
    }
}

bool is_operator_update(const bson_t* update) {
    bson_iter_t it;
    return bson_iter_init(&it, update) && bson_iter_next(&it) && bson_iter_key(&it)[0] == '$';
}

Result<UpdateOutcome> apply_update(const bson_t* original, const UpdateSpec& spec) {
    UpdateOutcome out;
    bson_iter_t orig_id;
    bool has_id = bson_iter_init_find(&orig_id, original, "_id");
    if (!is_operator_update(spec.update)) {
        out.replacement = true;
        Doc nd;
        bson_iter_t it;
        if (has_id) append_value(nd.get(), "_id", &orig_id);
        if (bson_iter_init(&it, spec.update)) {
            while (bson_iter_next(&it)) {
                const char* k = bson_iter_key(&it);
                if (k[0] == '$') return Error{9, std::string("Unknown modifier: ") + k, {}};
                if (!std::strcmp(k, "_id")) {
                    if (has_id && compare_values(&it, &orig_id) != 0)
                        return Error{66,
                                     "After applying the update, the (immutable) field '_id' was "
                                     "found to have been altered to _id: ...",
                                     {}};
                    if (has_id) continue;
                }
                append_value(nd.get(), k, &it);
            }
        }
        out.modified =
            nd.get()->len != original->len ||
            std::memcmp(bson_get_data(nd.get()), bson_get_data(original), original->len) != 0;
        out.doc = std::move(nd);
        return out;
    }
    if (std::optional<Result<UpdateOutcome>> direct = apply_top_level_update(original, spec.update))
        return std::move(*direct);
    // Collect and check all (operator, path) pairs first.
    struct Item {
        std::string op, path;
        bson_iter_t arg;
    };
    std::vector<Item> items;
    std::vector<std::string> all_paths;
    bson_iter_t it;
    if (bson_iter_init(&it, spec.update)) {
        while (bson_iter_next(&it)) {
            std::string op = bson_iter_key(&it);
            bool known = false;
            for (const char* k : kKnownOps) known = known || op == k;
            if (!known)
                return Error{9,
                             "Unknown modifier: " + op +
                                 ". Expected a valid update modifier or pipeline-style update "
                                 "specified as an array",
                             {}};
            if (!BSON_ITER_HOLDS_DOCUMENT(&it))
                return Error{9,
                             "Modifiers operate on fields but we found type " +
                                 std::string(type_name(bson_iter_type(&it))) + " instead.",
                             {}};
            bson_iter_t f;
            bson_iter_recurse(&it, &f);
            while (bson_iter_next(&f)) {
                std::string path = bson_iter_key(&f);
                if (path.empty()) return Error{56, "An empty update path is not valid.", {}};
                std::vector<std::string> ps{path};
                if (op == "$rename" && BSON_ITER_HOLDS_UTF8(&f))
                    ps.emplace_back(bson_iter_utf8(&f, nullptr));
                for (const auto& p : ps) {
                    for (const auto& q : all_paths)
                        if (paths_conflict(p, q))
                            return Error{40,
                                         "Updating the path '" + p +
                                             "' would create a conflict at '" + q + "'",
                                         {}};
                }
                for (const auto& p : ps) all_paths.push_back(p);
                items.push_back(Item{op, path, f});
            }
        }
    }
    // MongoDB 5.0+ applies the fields in path order (not in the update's order), which decides
    // where new fields land.
    std::stable_sort(items.begin(), items.end(),
                     [](const Item& a, const Item& b) { return update_path_less(a.path, b.path); });
    Node root = Node::from_bson(original);
    Ctx ctx{&spec, &out, &root};
    for (auto& item : items) {
        auto s = apply_one(ctx, item.op, item.path, &item.arg);
        if (!s.ok()) return s.error();
    }
    // _id must not change and stays first.
    Node* new_id = root.find("_id");
    if (has_id) {
        Node oid = Node::from_iter(&orig_id);
        if (!new_id || !identical(*new_id, oid))
            return Error{
                66,
                "Performing an update on the path '_id' would modify the immutable field '_id'",
                {}};
    }
    if (new_id && root.kids[0].first != "_id") {
        auto pos = std::find_if(root.kids.begin(), root.kids.end(),
                                [](const auto& kv) { return kv.first == "_id"; });
        auto idkv = std::move(*pos);
        root.kids.erase(pos);
        root.kids.insert(root.kids.begin(), std::move(idkv));
    }
    out.updated_fields.erase("_id");
    out.doc = root.to_doc();
    if (!bson_structure_ok(bson_get_data(out.doc.get()), out.doc.get()->len))
        return Error{2, "the updated document would be nested deeper than 200 levels", {}};
    if (out.doc.get()->len > 16777216u)
        return Error{10334, "Resulting document after update is larger than 16777216", {}};
    out.modified =
        out.doc.get()->len != original->len ||
        std::memcmp(bson_get_data(out.doc.get()), bson_get_data(original), original->len) != 0;
    if (!out.modified) {
        out.updated_fields = Node::document();
        out.removed_fields.clear();
    }
    return out;
}

Doc upsert_seed(const bson_t* query) {
    // {_id: <scalar>} (every upsert by key) seeds {_id: <scalar>}, as the general path below does.
    bson_iter_t it;
    if (bson_iter_init(&it, query) && bson_iter_next(&it) && !std::strcmp(bson_iter_key(&it), "_id")) {
        bson_type_t t = bson_iter_type(&it);
        bson_iter_t rest = it;
        if (!bson_iter_next(&rest) && t != BSON_TYPE_DOCUMENT && t != BSON_TYPE_ARRAY && t != BSON_TYPE_REGEX) {
            Doc seed;
            append_value(seed.get(), "_id", &it);
            return seed;
        }
    }
    Doc eq = equality_seed(query);
    Node root = Node::document();
    if (bson_iter_init(&it, eq.get())) {
        while (bson_iter_next(&it)) {
            std::string k = bson_iter_key(&it);
            Path p = split(k);
            if (!set_at(root, p, Node::from_iter(&it)).ok()) continue;
        }
    }
    return root.to_doc();
}

}  // namespace standin
