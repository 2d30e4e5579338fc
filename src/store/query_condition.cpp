// Conditions (the shared, unresolved tree), PropertyRef, and the text form of conditions.
#include <cstdio>

#include "store/query_impl.hpp"

namespace outpost {

using detail::CondNode;
using detail::EntityInfo;
using detail::Hop;
using detail::Leaf;
using detail::QNode;
using detail::QueryImpl;
using detail::ValKind;

std::string_view query_op_name(QueryOp op) {
    switch (op) {
        case QueryOp::kEqual:
            return "==";
        case QueryOp::kNotEqual:
            return "!=";
        case QueryOp::kLess:
            return "<";
        case QueryOp::kLessOrEqual:
            return "<=";
        case QueryOp::kGreater:
            return ">";
        case QueryOp::kGreaterOrEqual:
            return ">=";
        case QueryOp::kBetween:
            return "BETWEEN";
        case QueryOp::kIn:
            return "IN";
        case QueryOp::kIsNull:
            return "IS NULL";
        case QueryOp::kIsNotNull:
            return "IS NOT NULL";
        case QueryOp::kStartsWith:
            return "^=";
        case QueryOp::kEndsWith:
            return "$=";
        case QueryOp::kContains:
            return "*=";
        case QueryOp::kVectorContains:
            return "CONTAINS";
    }
    return "?";
}

// ---- Condition ----

Condition Condition::compare(std::string path, QueryOp op, std::vector<Value> operands,
                             bool case_sensitive) {
    auto n = std::make_shared<CondNode>();
    n->kind = CondNode::Kind::kCompare;
    n->path = std::move(path);
    n->op = op;
    n->slot_params.assign(operands.size(), std::string());
    n->operands = std::move(operands);
    n->case_sensitive = case_sensitive;
    return Condition(std::move(n));
}

namespace {
Condition group(CondNode::Kind kind, std::vector<Condition> conditions) {
    auto n = std::make_shared<CondNode>();
    n->kind = kind;
    for (auto& c : conditions) {
        // Flatten nested groups of the same kind: (a AND b) AND c is a AND b AND c.
        if (detail::Access::node(c)->kind == kind) {
            for (const auto& ch : detail::Access::node(c)->children) n->children.push_back(ch);
        } else {
            n->children.push_back(detail::Access::node(c));
        }
    }
    return detail::Access::condition(std::move(n));
}
}  // namespace

Condition Condition::all_of(std::vector<Condition> conditions) {
    return group(CondNode::Kind::kAnd, std::move(conditions));
}
Condition Condition::any_of(std::vector<Condition> conditions) {
    return group(CondNode::Kind::kOr, std::move(conditions));
}
Condition Condition::negate(Condition condition) {
    auto n = std::make_shared<CondNode>();
    n->kind = CondNode::Kind::kNot;
    n->children.push_back(condition.node());
    return Condition(std::move(n));
}

Condition Condition::alias(std::string name) const {
    if (node_->kind != CondNode::Kind::kCompare) return *this;
    auto n = std::make_shared<CondNode>(*node_);
    n->alias = std::move(name);
    return Condition(std::move(n));
}

std::string Condition::to_string() const { return detail::cond_to_string(*node_); }

Condition operator&&(const Condition& a, const Condition& b) { return Condition::all_of({a, b}); }
Condition operator||(const Condition& a, const Condition& b) { return Condition::any_of({a, b}); }
Condition operator!(const Condition& a) { return Condition::negate(a); }

// ---- PropertyRef ----

Condition PropertyRef::equal(Value v, bool cs) const {
    return Condition::compare(path_, QueryOp::kEqual, {std::move(v)}, cs);
}
Condition PropertyRef::not_equal(Value v, bool cs) const {
    return Condition::compare(path_, QueryOp::kNotEqual, {std::move(v)}, cs);
}
Condition PropertyRef::less(Value v) const {
    return Condition::compare(path_, QueryOp::kLess, {std::move(v)});
}
Condition PropertyRef::less_or_equal(Value v) const {
    return Condition::compare(path_, QueryOp::kLessOrEqual, {std::move(v)});
}
Condition PropertyRef::greater(Value v) const {
    return Condition::compare(path_, QueryOp::kGreater, {std::move(v)});
}
Condition PropertyRef::greater_or_equal(Value v) const {
    return Condition::compare(path_, QueryOp::kGreaterOrEqual, {std::move(v)});
}
Condition PropertyRef::between(Value lo, Value hi) const {
    return Condition::compare(path_, QueryOp::kBetween, {std::move(lo), std::move(hi)});
}
Condition PropertyRef::in(std::vector<Value> values, bool cs) const {
    return Condition::compare(path_, QueryOp::kIn, std::move(values), cs);
}
Condition PropertyRef::is_null() const { return Condition::compare(path_, QueryOp::kIsNull); }
Condition PropertyRef::is_not_null() const {
    return Condition::compare(path_, QueryOp::kIsNotNull);
}
Condition PropertyRef::starts_with(std::string s, bool cs) const {
    return Condition::compare(path_, QueryOp::kStartsWith, {Value(std::move(s))}, cs);
}
Condition PropertyRef::ends_with(std::string s, bool cs) const {
    return Condition::compare(path_, QueryOp::kEndsWith, {Value(std::move(s))}, cs);
}
Condition PropertyRef::contains(std::string s, bool cs) const {
    return Condition::compare(path_, QueryOp::kContains, {Value(std::move(s))}, cs);
}
Condition PropertyRef::vector_contains(Value element, bool cs) const {
    return Condition::compare(path_, QueryOp::kVectorContains, {std::move(element)}, cs);
}

namespace detail {

// ---- text form ----

namespace {
std::string quote(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

}  // namespace

std::string literal_text(const Value& v) {
    if (v.is_null()) return "null";
    if (v.is<bool>()) return v.as<bool>() ? "true" : "false";
    if (v.is<int64_t>()) return std::to_string(v.as<int64_t>());
    if (v.is<double>()) {
        double d = v.as<double>();
        char buf[40];
        std::snprintf(buf, sizeof buf, "%.17g", d);
        std::string s = buf;
        if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
        return s;
    }
    if (v.is<std::string>()) return quote(v.as<std::string>());
    return "<value>";
}

namespace {

std::string operand(const std::vector<Value>& ops, const std::vector<std::string>& params,
                    size_t i) {
    if (i < params.size() && !params[i].empty()) return "$" + params[i];
    return i < ops.size() ? literal_text(ops[i]) : "?";
}

std::string compare_text(const std::string& path, QueryOp op, const std::vector<Value>& ops,
                         const std::vector<std::string>& params, const std::string& list_param,
                         bool cs) {
    std::string s = path + " " + std::string(query_op_name(op));
    switch (op) {
        case QueryOp::kIsNull:
        case QueryOp::kIsNotNull:
            return s;
        case QueryOp::kBetween:
            s += " " + operand(ops, params, 0) + " AND " + operand(ops, params, 1);
            break;
        case QueryOp::kIn:
            if (!list_param.empty()) {
                s += " $" + list_param;
            } else {
                s += " (";
                for (size_t i = 0; i < ops.size(); ++i)
                    s += (i ? ", " : "") + operand(ops, params, i);
                s += ")";
            }
            break;
        default:
            s += " " + operand(ops, params, 0);
    }
    if (!cs) s += " CI";
    return s;
}
}  // namespace

std::string cond_to_string(const CondNode& n) {
    switch (n.kind) {
        case CondNode::Kind::kCompare:
            return compare_text(n.path, n.op, n.operands, n.slot_params, n.list_param,
                                n.case_sensitive);
        case CondNode::Kind::kNot:
            return "NOT (" + cond_to_string(*n.children[0]) + ")";
        case CondNode::Kind::kAnd:
        case CondNode::Kind::kOr: {
            if (n.children.empty()) return n.kind == CondNode::Kind::kAnd ? "TRUE" : "FALSE";
            if (n.children.size() == 1) return cond_to_string(*n.children[0]);
            std::string s;
            const char* sep = n.kind == CondNode::Kind::kAnd ? " AND " : " OR ";
            for (size_t i = 0; i < n.children.size(); ++i) {
                const auto& c = *n.children[i];
                bool paren = (c.kind == CondNode::Kind::kAnd || c.kind == CondNode::Kind::kOr) &&
                             c.children.size() > 1;
                if (i) s += sep;
                s += paren ? "(" + cond_to_string(c) + ")" : cond_to_string(c);
            }
            return s;
        }
    }
    return "";
}

std::string leaf_to_string(const Leaf& l) {
    return compare_text(l.path, l.op, l.operands, l.slot_params, l.list_param, l.case_sensitive);
}
}  // namespace detail
}  // namespace outpost
