// Aggregation expressions ($path, $$variables, operators) and the command's `let` variables.
#include <cctype>
#include <cstdio>
#include <ctime>

#include "pipeline.hpp"
#include "query_match.hpp"

namespace standin {

std::vector<std::string> split_path(const std::string& s) {
    std::vector<std::string> p;
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

namespace {

using MaybeNode = std::optional<Node>;
using Args = std::vector<MaybeNode>;

Error bad(int code, std::string msg) { return Error{code, std::move(msg), {}}; }

MaybeNode path_value(const Node& n, const std::vector<std::string>& parts, size_t i) {
    if (i == parts.size()) return n;
    if (n.type == BSON_TYPE_DOCUMENT) {
        const Node* c = n.find(parts[i]);
        if (!c) return std::nullopt;
        return path_value(*c, parts, i + 1);
    }
    if (n.type == BSON_TYPE_ARRAY) {
        Node out = Node::array();
        for (const auto& kv : n.kids) {
            if (kv.second.type != BSON_TYPE_DOCUMENT && kv.second.type != BSON_TYPE_ARRAY) continue;
            auto v = path_value(kv.second, parts, i);
            if (v) out.kids.emplace_back("", std::move(*v));
        }
        out.renumber();
        return out;
    }
    return std::nullopt;
}

// $$variable[.path]: ROOT and CURRENT (the document), NOW, REMOVE (missing), or one of the
// command's let variables. PATH is the string after "$$".
Result<MaybeNode> eval_variable(const Node& root, const std::string& path, const Vars* vars) {
    auto parts = split_path(path);
    const std::string& name = parts[0];
    MaybeNode value;
    if (name == "ROOT" || name == "CURRENT") {
        value = root;
    } else if (name == "REMOVE") {
        return MaybeNode();
    } else if (name == "NOW") {
        Node now;
        now.type = now.scalar.value_type = BSON_TYPE_DATE_TIME;
        now.scalar.value.v_datetime = static_cast<int64_t>(std::time(nullptr)) * 1000;
        value = std::move(now);
    } else if (vars) {
        auto v = vars->find(name);
        if (v != vars->end()) value = v->second;
    }
    if (!value) return bad(17276, "Use of undefined variable: " + name);
    if (parts.size() == 1) return value;
    return path_value(*value, parts, 1);
}

// A string expression: "$a.b" (a field path), "$$name" (a variable) or a literal.
Result<MaybeNode> eval_string(const Node& root, const bson_iter_t* expr, const Vars* vars) {
    uint32_t n;
    const char* s = bson_iter_utf8(expr, &n);
    if (n == 0 || s[0] != '$') return MaybeNode(Node::from_iter(expr));
    std::string path(s + 1, n - 1);
    if (path.rfind("$", 0) == 0) return eval_variable(root, path.substr(1), vars);
    return path_value(root, split_path(path), 0);
}

Result<Args> eval_args(const Node& root, const bson_iter_t* arg, const Vars* vars) {
    Args out;
    if (BSON_ITER_HOLDS_ARRAY(arg)) {
        bson_iter_t e;
        bson_iter_recurse(arg, &e);
        while (bson_iter_next(&e)) {
            auto v = eval_expression(root, &e, vars);
            if (!v.ok()) return v.error();
            out.push_back(std::move(v.value()));
        }
    } else {
        auto v = eval_expression(root, arg, vars);
        if (!v.ok()) return v.error();
        out.push_back(std::move(v.value()));
    }
    return out;
}

bool node_truthy(const MaybeNode& n) {
    if (!n) return false;
    switch (n->type) {
        case BSON_TYPE_BOOL:
            return n->scalar.value.v_bool;
        case BSON_TYPE_NULL:
        case BSON_TYPE_UNDEFINED:
            return false;
        case BSON_TYPE_INT32:
        case BSON_TYPE_INT64:
        case BSON_TYPE_DOUBLE:
        case BSON_TYPE_DECIMAL128:
            return n->as_double() != 0;
        default:
            return true;
    }
}

Node arg_at(const Args& args, size_t i) {
    return i < args.size() && args[i] ? *args[i] : Node::null();
}

// $add $multiply $subtract $divide
Result<MaybeNode> eval_arithmetic(const std::string& op, const Args& args) {
    bool any_double = false, any_long = false;
    long double acc = (op == "$multiply") ? 1 : 0;
    for (size_t i = 0; i < args.size(); ++i) {
        Node v = arg_at(args, i);
        if (v.type == BSON_TYPE_NULL) return MaybeNode(Node::null());
        if (!v.is_number()) return bad(14, op + " only supports numeric types");
        any_double = any_double || v.type == BSON_TYPE_DOUBLE || v.type == BSON_TYPE_DECIMAL128;
        any_long = any_long || v.type == BSON_TYPE_INT64;
        long double x = v.type == BSON_TYPE_INT64 ? static_cast<long double>(v.scalar.value.v_int64)
                                                  : v.as_double();
        if (op == "$add")
            acc += x;
        else if (op == "$multiply")
            acc *= x;
        else if (i == 0)
            acc = x;
        else if (op == "$subtract")
            acc -= x;
        else {
            if (x == 0) return bad(2, "can't $divide by zero");
            acc /= x;
            any_double = true;
        }
    }
    if (any_double) return MaybeNode(Node::dbl(static_cast<double>(acc)));
    if (!any_long && acc >= INT32_MIN && acc <= INT32_MAX)
        return MaybeNode(Node::int32(static_cast<int32_t>(acc)));
    return MaybeNode(Node::int64(static_cast<int64_t>(acc)));
}

Result<MaybeNode> eval_concat(const Args& args) {
    std::string s;
    for (size_t i = 0; i < args.size(); ++i) {
        Node v = arg_at(args, i);
        if (v.type == BSON_TYPE_NULL) return MaybeNode(Node::null());
        if (v.type != BSON_TYPE_UTF8) return bad(16702, "$concat only supports strings");
        s.append(v.scalar.value.v_utf8.str, v.scalar.value.v_utf8.len);
    }
    return MaybeNode(Node::string(s));
}

bool is_comparison(const std::string& op) {
    return op == "$eq" || op == "$ne" || op == "$gt" || op == "$gte" || op == "$lt" ||
           op == "$lte" || op == "$cmp";
}

MaybeNode eval_comparison(const std::string& op, const Args& args) {
    int r = compare_nodes(arg_at(args, 0), arg_at(args, 1));
    if (op == "$cmp") return MaybeNode(Node::int32(r));
    bool b = op == "$eq"    ? r == 0
             : op == "$ne"  ? r != 0
             : op == "$gt"  ? r > 0
             : op == "$gte" ? r >= 0
             : op == "$lt"  ? r < 0
                            : r <= 0;
    return MaybeNode(Node::boolean(b));
}

// $cond, as {if, then, else} (ARG, evaluated here) or as [if, then, else] (ARGS).
Result<MaybeNode> eval_cond(const Node& root, const bson_iter_t* arg, const Args& args,
                            const Vars* vars) {
    if (BSON_ITER_HOLDS_DOCUMENT(arg)) {
        bson_iter_t f;
        MaybeNode cond, then, els;
        bson_iter_recurse(arg, &f);
        while (bson_iter_next(&f)) {
            auto v = eval_expression(root, &f, vars);
            if (!v.ok()) return v;
            std::string k = bson_iter_key(&f);
            (k == "if" ? cond : k == "then" ? then : els) = v.value();
        }
        return node_truthy(cond) ? then : els;
    }
    return node_truthy(args.size() > 0 ? args[0] : std::nullopt)
               ? (args.size() > 1 ? args[1] : std::nullopt)
               : (args.size() > 2 ? args[2] : std::nullopt);
}

Result<MaybeNode> eval_in(const Args& args) {
    Node v = arg_at(args, 0), arr = arg_at(args, 1);
    if (arr.type != BSON_TYPE_ARRAY)
        return bad(40081, "$in requires an array as a second argument");
    bool found = false;
    for (auto& kv : arr.kids) found = found || compare_nodes(kv.second, v) == 0;
    return MaybeNode(Node::boolean(found));
}

MaybeNode eval_array_elem_at(const Args& args) {
    Node arr = arg_at(args, 0), idx = arg_at(args, 1);
    if (arr.type != BSON_TYPE_ARRAY || !idx.is_number()) return MaybeNode(Node::null());
    long long i = static_cast<long long>(idx.as_double());
    if (i < 0) i += static_cast<long long>(arr.kids.size());
    if (i < 0 || i >= static_cast<long long>(arr.kids.size())) return MaybeNode();
    return MaybeNode(arr.kids[static_cast<size_t>(i)].second);
}

MaybeNode eval_to_string(const Args& args) {
    Node v = arg_at(args, 0);
    if (v.type == BSON_TYPE_UTF8) return MaybeNode(v);
    if (v.type == BSON_TYPE_OID) {
        char buf[25];
        bson_oid_to_string(&v.scalar.value.v_oid, buf);
        return MaybeNode(Node::string(buf));
    }
    if (v.is_number()) {
        if (v.type == BSON_TYPE_DOUBLE) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%g", v.as_double());
            return MaybeNode(Node::string(buf));
        }
        return MaybeNode(Node::string(std::to_string(static_cast<long long>(v.as_double()))));
    }
    return MaybeNode(Node::null());
}

MaybeNode eval_type(const Args& args) {
    static const char* names[] = {"missing",   "double",     "string",    "object",
                                  "array",     "binData",    "undefined", "objectId",
                                  "bool",      "date",       "null",      "regex",
                                  "dbPointer", "javascript", "symbol",    "javascriptWithScope",
                                  "int",       "timestamp",  "long",      "decimal"};
    if (args.empty() || !args[0]) return MaybeNode(Node::string("missing"));
    int t = static_cast<int>(args[0]->type);
    if (t >= 1 && t <= 19) return MaybeNode(Node::string(names[t]));
    return MaybeNode(Node::string(t == 0xff ? "minKey" : "maxKey"));
}

// The operator OP whose argument C (the operator's element) evaluated to ARGS.
Result<MaybeNode> eval_operator(const Node& root, const std::string& op, const bson_iter_t* c,
                                const Args& args, const Vars* vars) {
    if (op == "$add" || op == "$multiply" || op == "$subtract" || op == "$divide")
        return eval_arithmetic(op, args);
    if (op == "$concat") return eval_concat(args);
    if (is_comparison(op)) return eval_comparison(op, args);
    if (op == "$and" || op == "$or") {
        bool acc = op == "$and";
        for (auto& a : args) acc = op == "$and" ? (acc && node_truthy(a)) : (acc || node_truthy(a));
        return MaybeNode(Node::boolean(acc));
    }
    if (op == "$not")
        return MaybeNode(Node::boolean(!node_truthy(args.empty() ? std::nullopt : args[0])));
    if (op == "$cond") return eval_cond(root, c, args, vars);
    if (op == "$ifNull") {
        for (auto& a : args)
            if (a && a->type != BSON_TYPE_NULL) return a;
        return MaybeNode(Node::null());
    }
    if (op == "$size") {
        Node v = arg_at(args, 0);
        if (v.type != BSON_TYPE_ARRAY) return bad(17124, "The argument to $size must be an array");
        return MaybeNode(Node::int32(static_cast<int32_t>(v.kids.size())));
    }
    if (op == "$in") return eval_in(args);
    if (op == "$arrayElemAt") return eval_array_elem_at(args);
    if (op == "$toString") return eval_to_string(args);
    if (op == "$type") return eval_type(args);
    return bad(168, "Unrecognized expression '" + op + "'");
}

Result<MaybeNode> eval_array(const Node& root, const bson_iter_t* expr, const Vars* vars) {
    Node out = Node::array();
    bson_iter_t e;
    bson_iter_recurse(expr, &e);
    while (bson_iter_next(&e)) {
        auto v = eval_expression(root, &e, vars);
        if (!v.ok()) return v;
        out.kids.emplace_back("", v.value() ? std::move(*v.value()) : Node::null());
    }
    out.renumber();
    return MaybeNode(std::move(out));
}

// A document whose first key does not start with '$': each field is an expression.
Result<MaybeNode> eval_document(const Node& root, const bson_iter_t* expr, const Vars* vars) {
    Node out = Node::document();
    bson_iter_t c;
    bson_iter_recurse(expr, &c);
    while (bson_iter_next(&c)) {
        auto v = eval_expression(root, &c, vars);
        if (!v.ok()) return v;
        if (v.value()) out.kids.emplace_back(bson_iter_key(&c), std::move(*v.value()));
    }
    return MaybeNode(std::move(out));
}

}  // namespace

Result<std::optional<Node>> eval_expression(const Node& root, const bson_iter_t* expr,
                                            const Vars* vars) {
    if (BSON_ITER_HOLDS_UTF8(expr)) return eval_string(root, expr, vars);
    if (BSON_ITER_HOLDS_ARRAY(expr)) return eval_array(root, expr, vars);
    if (!BSON_ITER_HOLDS_DOCUMENT(expr)) return MaybeNode(Node::from_iter(expr));
    bson_iter_t c;
    bson_iter_recurse(expr, &c);
    if (!bson_iter_next(&c)) return MaybeNode(Node::document());
    std::string op = bson_iter_key(&c);
    if (op[0] != '$') return eval_document(root, expr, vars);
    if (op == "$literal") return MaybeNode(Node::from_iter(&c));
    auto args = eval_args(root, &c, vars);
    if (!args.ok()) return args.error();
    return eval_operator(root, op, &c, args.value(), vars);
}

Result<Vars> parse_let(const bson_iter_t* let) {
    Vars vars;
    if (!BSON_ITER_HOLDS_DOCUMENT(let))
        return bad(14, "BSON field 'let' is the wrong type, expected type 'object'");
    bson_iter_t it;
    bson_iter_recurse(let, &it);
    Node empty = Node::document();
    while (bson_iter_next(&it)) {
        std::string name = bson_iter_key(&it);
        bool valid = !name.empty() && (std::islower(static_cast<unsigned char>(name[0])) ||
                                       static_cast<unsigned char>(name[0]) >= 0x80);
        for (char ch : name)
            valid = valid && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' ||
                              static_cast<unsigned char>(ch) >= 0x80);
        if (!valid)
            return bad(16867,
                       "'" + name + "' starts with an invalid character for a user variable name");
        auto v = eval_expression(empty, &it, &vars);
        if (!v.ok()) return v.error();
        vars[name] = v.value() ? std::move(*v.value()) : Node::null();
    }
    return vars;
}

}  // namespace standin
