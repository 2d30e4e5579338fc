#include "query_match.hpp"

#include "pipeline.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

namespace standin {

namespace {

Error bad(std::string msg) { return Error{2, std::move(msg), {}}; }

bool is_numeric_key(const char* s) {
    if (!*s) return false;
    for (const char* p = s; *p; ++p)
        if (*p < '0' || *p > '9') return false;
    return true;
}

void walk(const bson_iter_t* cur, const std::vector<std::string>& parts, size_t i, IterList* out,
          bool* missing) {
    if (i == parts.size()) {
        out->push_back(*cur);
        return;
    }
    bson_type_t t = bson_iter_type(cur);
    if (t == BSON_TYPE_DOCUMENT) {
        bson_iter_t child;
        if (bson_iter_recurse(cur, &child) && bson_iter_find(&child, parts[i].c_str())) {
            walk(&child, parts, i + 1, out, missing);
        } else {
            *missing = true;
        }
    } else if (t == BSON_TYPE_ARRAY) {
        bson_iter_t child;
        if (is_numeric_key(parts[i].c_str())) {
            if (bson_iter_recurse(cur, &child) && bson_iter_find(&child, parts[i].c_str())) {
                walk(&child, parts, i + 1, out, missing);
                return;
            }
        }
        bool any = false;
        if (bson_iter_recurse(cur, &child)) {
            while (bson_iter_next(&child)) {
                if (BSON_ITER_HOLDS_DOCUMENT(&child)) {
                    any = true;
                    walk(&child, parts, i, out, missing);
                }
            }
        }
        if (!any) *missing = true;
    } else {
        *missing = true;
    }
}

std::vector<std::string> split_path(const char* path) {
    std::vector<std::string> parts;
    std::string cur;
    for (const char* p = path; *p; ++p) {
        if (*p == '.') {
            parts.push_back(cur);
            cur.clear();
        } else {
            cur += *p;
        }
    }
    parts.push_back(cur);
    return parts;
}

// ---- regex (PCRE2, as the server uses PCRE) ----

struct Pcre2Deleter {
    void operator()(pcre2_code* c) const { pcre2_code_free(c); }
    void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
    void operator()(pcre2_match_context* m) const { pcre2_match_context_free(m); }
};
using CodePtr = std::unique_ptr<pcre2_code, Pcre2Deleter>;

// Compiled patterns by options + pattern; null when the pattern does not compile.
const pcre2_code* compiled_regex(const std::string& pattern, const std::string& options) {
    static thread_local std::map<std::string, CodePtr> cache;
    std::string key = options + '/' + pattern;
    auto it = cache.find(key);
    if (it != cache.end()) return it->second.get();
    uint32_t flags = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
    if (options.find('i') != std::string::npos) flags |= PCRE2_CASELESS;
    if (options.find('m') != std::string::npos) flags |= PCRE2_MULTILINE;
    if (options.find('s') != std::string::npos) flags |= PCRE2_DOTALL;
    if (options.find('x') != std::string::npos) flags |= PCRE2_EXTENDED;
    int err = 0;
    PCRE2_SIZE err_off = 0;
    CodePtr code(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), flags,
                               &err, &err_off, nullptr));
    if (cache.size() > 1000) cache.clear();
    auto* raw = code.get();
    cache.emplace(key, std::move(code));
    return raw;
}

bool regex_matches_value(const bson_iter_t* v, const std::string& pattern,
                         const std::string& options) {
    if (!BSON_ITER_HOLDS_UTF8(v) && !BSON_ITER_HOLDS_SYMBOL(v)) return false;
    uint32_t n;
    const char* s = BSON_ITER_HOLDS_UTF8(v) ? bson_iter_utf8(v, &n) : bson_iter_symbol(v, &n);
    const pcre2_code* re = compiled_regex(pattern, options);
    if (!re) return false;
    // Bounded backtracking: a pathological pattern fails to match instead of hanging the server.
    static thread_local std::unique_ptr<pcre2_match_context, Pcre2Deleter> context = [] {
        std::unique_ptr<pcre2_match_context, Pcre2Deleter> c(pcre2_match_context_create(nullptr));
        pcre2_set_match_limit(c.get(), 10000000);
        pcre2_set_depth_limit(c.get(), 100000);
        return c;
    }();
    std::unique_ptr<pcre2_match_data, Pcre2Deleter> md(
        pcre2_match_data_create_from_pattern(re, nullptr));
    int rc = pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(s), n, 0, 0, md.get(), context.get());
    return rc >= 0;
}

// ---- operators ----

// Calls f on each candidate and, for arrays, on each element. Returns true when f does for any.
template <class F>
bool any_value_or_element(const IterList& vals, F f) {
    for (const auto& v : vals) {
        if (f(&v)) return true;
        if (BSON_ITER_HOLDS_ARRAY(&v)) {
            bson_iter_t c;
            if (bson_iter_recurse(&v, &c)) {
                while (bson_iter_next(&c))
                    if (f(&c)) return true;
            }
        }
    }
    return false;
}

bool eq_match(const IterList& vals, bool missing, const bson_iter_t* target) {
    bson_type_t tt = bson_iter_type(target);
    if (tt == BSON_TYPE_NULL) {
        if (vals.empty() || missing) return true;
        return any_value_or_element(vals, [](const bson_iter_t* v) {
            return BSON_ITER_HOLDS_NULL(v) || bson_iter_type(v) == BSON_TYPE_UNDEFINED;
        });
    }
    if (tt == BSON_TYPE_REGEX) {
        const char* opts;
        const char* pat = bson_iter_regex(target, &opts);
        std::string p(pat), o(opts);
        return any_value_or_element(vals, [&](const bson_iter_t* v) {
            if (BSON_ITER_HOLDS_REGEX(v)) return values_equal(v, target);
            return regex_matches_value(v, p, o);
        });
    }
    return any_value_or_element(vals,
                                [&](const bson_iter_t* v) { return values_equal(v, target); });
}

bool cmp_match(const IterList& vals, bool missing, const bson_iter_t* target, const char* op) {
    bool gt = op[1] == 'g';
    bool inclusive = op[3] == 'e';
    if (BSON_ITER_HOLDS_NULL(target) && inclusive) return eq_match(vals, missing, target);
    bson_type_t tt = bson_iter_type(target);
    if (tt == BSON_TYPE_MINKEY || tt == BSON_TYPE_MAXKEY) {
        return any_value_or_element(vals, [&](const bson_iter_t* v) {
            int c = compare_values(v, target);
            return gt ? (inclusive ? c >= 0 : c > 0) : (inclusive ? c <= 0 : c < 0);
        });
    }
    return any_value_or_element(vals, [&](const bson_iter_t* v) {
        if (type_rank(bson_iter_type(v)) != type_rank(tt)) return false;
        if (iter_is_number(v) &&
            std::isnan(iter_as_double(v)) != std::isnan(iter_as_double(target)))
            return false;
        int c = compare_values(v, target);
        return gt ? (inclusive ? c >= 0 : c > 0) : (inclusive ? c <= 0 : c < 0);
    });
}

bool type_matches(const bson_iter_t* v, const bson_iter_t* spec) {
    bson_type_t t = bson_iter_type(v);
    if (BSON_ITER_HOLDS_UTF8(spec)) {
        static const std::map<std::string, int> names = {
            {"double", 1},      {"string", 2},     {"object", 3},
            {"array", 4},       {"binData", 5},    {"undefined", 6},
            {"objectId", 7},    {"bool", 8},       {"date", 9},
            {"null", 10},       {"regex", 11},     {"dbPointer", 12},
            {"javascript", 13}, {"symbol", 14},    {"javascriptWithScope", 15},
            {"int", 16},        {"timestamp", 17}, {"long", 18},
            {"decimal", 19},    {"minKey", -1},    {"maxKey", 127}};
        std::string s = bson_iter_utf8(spec, nullptr);
        if (s == "number") return iter_is_number(v);
        auto it = names.find(s);
        if (it == names.end()) return false;
        return (it->second == -1 ? t == BSON_TYPE_MINKEY : static_cast<int>(t) == it->second);
    }
    if (iter_is_number(spec)) {
        int64_t n = iter_as_int64(spec);
        if (n == -1) return t == BSON_TYPE_MINKEY;
        return static_cast<int64_t>(t) == n;
    }
    return false;
}

Result<bool> match_filter(const bson_t* doc, const bson_t* filter, const Vars* vars);

Result<bool> match_operators(const bson_t* doc, const char* path, const IterList& vals,
                             bool missing, const bson_iter_t* ops_it);

Result<bool> match_element_ops(const bson_iter_t* elem, const bson_iter_t* ops_it) {
    IterList vals;
    vals.push_back(*elem);
    return match_operators(nullptr, "", vals, false, ops_it);
}

// $in and $nin (NAME)
Result<bool> match_in(const IterList& vals, bool missing, const bson_iter_t* op, const char* name) {
    if (!BSON_ITER_HOLDS_ARRAY(op)) return bad(std::string(name) + " needs an array");
    bson_iter_t e;
    bool any = false;
    if (bson_iter_recurse(op, &e)) {
        while (bson_iter_next(&e)) {
            if (eq_match(vals, missing, &e)) {
                any = true;
                break;
            }
        }
    }
    return name[1] == 'i' ? any : !any;
}

// $type: a type (number or alias) or an array of them.
bool match_type(const IterList& vals, const bson_iter_t* op) {
    bool r = any_value_or_element(vals, [&](const bson_iter_t* v) {
        if (BSON_ITER_HOLDS_ARRAY(op)) {
            bson_iter_t e;
            if (bson_iter_recurse(op, &e))
                while (bson_iter_next(&e))
                    if (type_matches(v, &e)) return true;
            return false;
        }
        return type_matches(v, op);
    });
    if (!r && BSON_ITER_HOLDS_UTF8(op) && !std::strcmp(bson_iter_utf8(op, nullptr), "array")) {
        for (const auto& v : vals) r = r || BSON_ITER_HOLDS_ARRAY(&v);
    }
    return r;
}

// $elemMatch: an element of an array value matches operators ({$gt: 1}) or a query on documents.
Result<bool> match_elem_match(const IterList& vals, const bson_iter_t* op) {
    if (!BSON_ITER_HOLDS_DOCUMENT(op)) return bad("$elemMatch needs an Object");
    Doc sub = iter_subdoc(op);
    bson_iter_t first;
    bool operator_form = false;
    if (bson_iter_init(&first, sub.get()) && bson_iter_next(&first)) {
        const char* k = bson_iter_key(&first);
        operator_form = k[0] == '$' && std::strcmp(k, "$and") && std::strcmp(k, "$or") &&
                        std::strcmp(k, "$nor");
    }
    for (const auto& v : vals) {
        if (!BSON_ITER_HOLDS_ARRAY(&v)) continue;
        bson_iter_t e;
        if (!bson_iter_recurse(&v, &e)) continue;
        while (bson_iter_next(&e)) {
            Result<bool> m = false;
            if (operator_form) {
                m = match_element_ops(&e, op);
            } else if (BSON_ITER_HOLDS_DOCUMENT(&e)) {
                Doc ed = iter_subdoc(&e);
                m = match_filter(ed.get(), sub.get(), nullptr);
            }
            if (!m.ok() || m.value()) return m;
        }
    }
    return false;
}

Result<bool> match_size(const IterList& vals, const bson_iter_t* op) {
    if (!iter_is_number(op)) return bad("$size needs a number");
    int64_t n = iter_as_int64(op);
    bool r = false;
    for (const auto& v : vals) {
        if (!BSON_ITER_HOLDS_ARRAY(&v)) continue;
        Doc a = iter_subdoc(&v);
        if (static_cast<int64_t>(bson_count_keys(a.get())) == n) r = true;
    }
    return r;
}

// $all: every element (a value, or {$elemMatch: ...}) matches; an empty $all matches nothing.
Result<bool> match_all(const bson_t* doc, const char* path, const IterList& vals, bool missing,
                       const bson_iter_t* op) {
    if (!BSON_ITER_HOLDS_ARRAY(op)) return bad("$all needs an array");
    bson_iter_t e;
    bool all = true, any_elem = false;
    if (bson_iter_recurse(op, &e)) {
        while (bson_iter_next(&e)) {
            any_elem = true;
            if (BSON_ITER_HOLDS_DOCUMENT(&e)) {
                bson_iter_t inner;
                if (bson_iter_recurse(&e, &inner) && bson_iter_next(&inner) &&
                    !std::strcmp(bson_iter_key(&inner), "$elemMatch")) {
                    bson_t wrap = BSON_INITIALIZER;
                    Doc em = iter_subdoc(&e);
                    bson_append_document(&wrap, "x", 1, em.get());
                    bson_iter_t w;
                    bson_iter_init(&w, &wrap);
                    bson_iter_next(&w);
                    auto m = match_operators(doc, path, vals, missing, &w);
                    bson_destroy(&wrap);
                    if (!m.ok()) return m;
                    if (!m.value()) all = false;
                    continue;
                }
            }
            if (!eq_match(vals, missing, &e)) all = false;
        }
    }
    return all && any_elem;
}

Result<bool> match_mod(const IterList& vals, const bson_iter_t* op) {
    int64_t d = 0, rem = 0;
    bson_iter_t e;
    int n = 0;
    if (BSON_ITER_HOLDS_ARRAY(op) && bson_iter_recurse(op, &e)) {
        while (bson_iter_next(&e)) {
            if (!iter_is_number(&e)) return bad("malformed mod, not enough elements");
            (n == 0 ? d : rem) = iter_as_int64(&e);
            ++n;
        }
    }
    if (n != 2) return bad("malformed mod, not enough elements");
    if (d == 0) return bad("divisor cannot be 0");
    return any_value_or_element(vals, [&](const bson_iter_t* v) {
        return iter_is_number(v) && iter_as_int64(v) % d == rem;
    });
}

// One operator (NAME, argument OP) of a field's operator document, other than $regex/$options.
Result<bool> match_operator(const bson_t* doc, const char* path, const IterList& vals, bool missing,
                            const bson_iter_t* op, const char* name) {
    if (!std::strcmp(name, "$eq")) return eq_match(vals, missing, op);
    if (!std::strcmp(name, "$ne")) return !eq_match(vals, missing, op);
    if (!std::strcmp(name, "$gt") || !std::strcmp(name, "$gte") || !std::strcmp(name, "$lt") ||
        !std::strcmp(name, "$lte"))
        return cmp_match(vals, missing, op, name);
    if (!std::strcmp(name, "$in") || !std::strcmp(name, "$nin"))
        return match_in(vals, missing, op, name);
    if (!std::strcmp(name, "$exists")) return (!vals.empty()) == iter_truthy(op);
    if (!std::strcmp(name, "$type")) return match_type(vals, op);
    if (!std::strcmp(name, "$not")) {
        if (BSON_ITER_HOLDS_REGEX(op)) return !eq_match(vals, missing, op);
        if (!BSON_ITER_HOLDS_DOCUMENT(op)) return bad("$not needs a regex or a document");
        auto sub = match_operators(doc, path, vals, missing, op);
        if (!sub.ok()) return sub;
        return !sub.value();
    }
    if (!std::strcmp(name, "$elemMatch")) return match_elem_match(vals, op);
    if (!std::strcmp(name, "$size")) return match_size(vals, op);
    if (!std::strcmp(name, "$all")) return match_all(doc, path, vals, missing, op);
    if (!std::strcmp(name, "$mod")) return match_mod(vals, op);
    if (!std::strcmp(name, "$comment")) return true;
    return bad(std::string("unknown operator: ") + name);
}

Result<bool> match_operators(const bson_t* doc, const char* path, const IterList& vals,
                             bool missing, const bson_iter_t* ops_it) {
    bson_iter_t op;
    if (!bson_iter_recurse(ops_it, &op)) return bad("bad operator document");
    std::string regex_pattern, regex_options;
    bool has_regex = false;
    {
        bson_iter_t o;
        if (bson_iter_recurse(ops_it, &o) && bson_iter_find(&o, "$options")) {
            if (!BSON_ITER_HOLDS_UTF8(&o)) return bad("$options has to be a string");
            regex_options = bson_iter_utf8(&o, nullptr);
        }
    }
    while (bson_iter_next(&op)) {
        const char* name = bson_iter_key(&op);
        if (!std::strcmp(name, "$options")) continue;
        if (!std::strcmp(name, "$regex")) {
            has_regex = true;
            if (BSON_ITER_HOLDS_REGEX(&op)) {
                const char* o;
                regex_pattern = bson_iter_regex(&op, &o);
                if (regex_options.empty()) regex_options = o;
            } else if (BSON_ITER_HOLDS_UTF8(&op)) {
                regex_pattern = bson_iter_utf8(&op, nullptr);
            } else {
                return bad("$regex has to be a string");
            }
            continue;
        }
        auto r = match_operator(doc, path, vals, missing, &op, name);
        if (!r.ok() || !r.value()) return r;
    }
    if (has_regex) {
        if (!any_value_or_element(vals, [&](const bson_iter_t* v) {
                return regex_matches_value(v, regex_pattern, regex_options);
            }))
            return false;
    }
    return true;
}

bool is_operator_doc(const bson_iter_t* it) {
    if (!BSON_ITER_HOLDS_DOCUMENT(it)) return false;
    bson_iter_t c;
    return bson_iter_recurse(it, &c) && bson_iter_next(&c) && bson_iter_key(&c)[0] == '$';
}

Result<bool> match_filter(const bson_t* doc, const bson_t* filter, const Vars* vars) {
    bson_iter_t it;
    if (!bson_iter_init(&it, filter)) return bad("invalid filter");
    while (bson_iter_next(&it)) {
        const char* key = bson_iter_key(&it);
        if (key[0] == '$') {
            bool is_and = !std::strcmp(key, "$and"), is_or = !std::strcmp(key, "$or"),
                 is_nor = !std::strcmp(key, "$nor");
            if (!std::strcmp(key, "$comment")) continue;
            if (!std::strcmp(key, "$expr")) {
                // An aggregation expression over the whole document, with the let variables.
                auto v = eval_expression(Node::from_bson(doc), &it, vars);
                if (!v.ok()) return v.error();
                const auto& n = v.value();
                bool truthy = n && !(n->type == BSON_TYPE_NULL || n->type == BSON_TYPE_UNDEFINED ||
                                     (n->type == BSON_TYPE_BOOL && !n->scalar.value.v_bool) ||
                                     (n->is_number() && n->as_double() == 0));
                if (!truthy) return false;
                continue;
            }
            if (!is_and && !is_or && !is_nor)
                return bad(std::string("unknown top level operator: ") + key);
            if (!BSON_ITER_HOLDS_ARRAY(&it)) return bad(std::string(key) + " must be an array");
            bson_iter_t e;
            bool any = false, all = true, nonempty = false;
            if (bson_iter_recurse(&it, &e)) {
                while (bson_iter_next(&e)) {
                    nonempty = true;
                    if (!BSON_ITER_HOLDS_DOCUMENT(&e))
                        return bad("$and/$or/$nor entries need to be full objects");
                    Doc sub = iter_subdoc(&e);
                    auto m = match_filter(doc, sub.get(), vars);
                    if (!m.ok()) return m;
                    any = any || m.value();
                    all = all && m.value();
                }
            }
            if (!nonempty) return bad(std::string(key) + " must be a nonempty array");
            bool r = is_and ? all : (is_or ? any : !any);
            if (!r) return false;
            continue;
        }
        IterList vals;
        bool missing = false;
        values_at_path(doc, key, &vals, &missing);
        if (is_operator_doc(&it)) {
            auto m = match_operators(doc, key, vals, missing, &it);
            if (!m.ok()) return m;
            if (!m.value()) return false;
        } else {
            if (!eq_match(vals, missing, &it)) return false;
        }
    }
    return true;
}

}  // namespace

void values_at_path(const bson_t* doc, const char* path, IterList* out, bool* missing) {
    if (!std::strchr(path, '.')) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, doc, path))
            out->push_back(it);
        else
            *missing = true;
        return;
    }
    auto parts = split_path(path);
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, parts[0].c_str())) {
        *missing = true;
        return;
    }
    walk(&it, parts, 1, out, missing);
}

Result<bool> matches(const bson_t* doc, const bson_t* filter, const Vars* vars) {
    return match_filter(doc, filter, vars);
}

Status validate_filter(const bson_t* filter, const Vars* vars) {
    bson_t empty = BSON_INITIALIZER;
    auto r = match_filter(&empty, filter, vars);
    if (!r.ok()) return r.error();
    return ok_status();
}

Doc equality_seed(const bson_t* filter) {
    Doc out;
    bson_iter_t it;
    if (!bson_iter_init(&it, filter)) return out;
    while (bson_iter_next(&it)) {
        const char* key = bson_iter_key(&it);
        if (!std::strcmp(key, "$and") && BSON_ITER_HOLDS_ARRAY(&it)) {
            bson_iter_t e;
            if (bson_iter_recurse(&it, &e)) {
                while (bson_iter_next(&e)) {
                    if (!BSON_ITER_HOLDS_DOCUMENT(&e)) continue;
                    Doc sub = iter_subdoc(&e);
                    Doc seed = equality_seed(sub.get());
                    bson_concat(out.get(), seed.get());
                }
            }
            continue;
        }
        if (key[0] == '$') continue;
        if (is_operator_doc(&it)) {
            bson_iter_t op;
            if (bson_iter_recurse(&it, &op) && bson_iter_find(&op, "$eq"))
                append_value(out.get(), key, &op);
            continue;
        }
        if (BSON_ITER_HOLDS_REGEX(&it)) continue;
        append_value(out.get(), key, &it);
    }
    return out;
}

}  // namespace standin
