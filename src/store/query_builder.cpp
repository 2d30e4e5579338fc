// The query builder: path resolution against the model, operand checks, and parameters.
#include <algorithm>
#include <cmath>

#include "store/query_impl.hpp"

namespace outpost {

using detail::CondNode;
using detail::EntityInfo;
using detail::Hop;
using detail::Leaf;
using detail::QNode;
using detail::QueryImpl;
using detail::ValKind;

namespace detail {

// ---- resolution ----

ValKind val_kind_of(const Property& p) {
    switch (p.type) {
        case PropertyType::kBool:
            return ValKind::kBool;
        case PropertyType::kFloat:
        case PropertyType::kDouble:
            return ValKind::kDouble;
        case PropertyType::kString:
            return ValKind::kString;
        case PropertyType::kBytes:
            return ValKind::kBytes;
        case PropertyType::kFlex:
            return ValKind::kFlex;
        case PropertyType::kFloatVector:
        case PropertyType::kDoubleVector:
            return ValKind::kDoubleVector;
        case PropertyType::kStringVector:
            return ValKind::kStringVector;
        default:
            return is_vector_type(p.type) ? ValKind::kIntVector : ValKind::kInt;
    }
}

namespace {

std::string fold(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

Status type_error(const Leaf& l, const std::string& what) {
    return Status(
        ErrorCode::kTypeMismatch,
        "query: " + l.path + " (" + std::string(property_type_name(l.prop->type)) + "): " + what);
}

bool is_numeric(ValKind k) {
    return k == ValKind::kInt || k == ValKind::kBool || k == ValKind::kDouble;
}

}  // namespace

namespace {

// Whether L's operator takes its number of operands and applies to its property's kind.
Status check_operator(const Leaf& l) {
    const ValKind k = l.kind;
    const QueryOp op = l.op;
    size_t want = 1;
    if (op == QueryOp::kIsNull || op == QueryOp::kIsNotNull) want = 0;
    if (op == QueryOp::kBetween) want = 2;
    if (op != QueryOp::kIn && l.operands.size() != want) {
        return Status(ErrorCode::kInvalidArgument, "query: " + l.path + " " +
                                                       std::string(query_op_name(op)) + " takes " +
                                                       std::to_string(want) + " operand(s), not " +
                                                       std::to_string(l.operands.size()));
    }
    bool ok = true;
    switch (op) {
        case QueryOp::kIsNull:
        case QueryOp::kIsNotNull:
            break;
        case QueryOp::kEqual:
        case QueryOp::kNotEqual:
            ok = is_numeric(k) || k == ValKind::kString || k == ValKind::kBytes;
            break;
        case QueryOp::kLess:
        case QueryOp::kLessOrEqual:
        case QueryOp::kGreater:
        case QueryOp::kGreaterOrEqual:
        case QueryOp::kBetween:
        case QueryOp::kIn:
            ok = is_numeric(k) || k == ValKind::kString;
            break;
        case QueryOp::kStartsWith:
        case QueryOp::kEndsWith:
        case QueryOp::kContains:
            ok = k == ValKind::kString;
            break;
        case QueryOp::kVectorContains:
            ok = k == ValKind::kIntVector || k == ValKind::kDoubleVector ||
                 k == ValKind::kStringVector;
            break;
    }
    if (!ok) return type_error(l, "operator " + std::string(query_op_name(op)) + " does not apply");
    return Status::ok();
}

// L's operands as numbers: doubles when one of them or the property is floating-point, else ints.
Status prepare_numbers(Leaf& l, ValKind ek) {
    l.double_mode = ek == ValKind::kDouble;
    for (const auto& v : l.operands) {
        if (v.is<double>()) {
            l.double_mode = true;
        } else if (!v.is<int64_t>() && !v.is<bool>()) {
            return type_error(l, "expected a number, got " + literal_text(v));
        }
    }
    for (const auto& v : l.operands) {
        int64_t i = v.is<bool>() ? (v.as<bool>() ? 1 : 0) : v.is<int64_t>() ? v.as<int64_t>() : 0;
        if (l.double_mode) {
            l.doubles.push_back(v.is<double>() ? v.as<double>() : static_cast<double>(i));
            if (std::isnan(l.doubles.back())) return type_error(l, "NaN is not a comparable value");
        } else {
            l.ints.push_back(i);
        }
    }
    if (l.op == QueryOp::kIn) {
        std::sort(l.ints.begin(), l.ints.end());
        std::sort(l.doubles.begin(), l.doubles.end());
    }
    return Status::ok();
}

// L's operands as strings (folded when the comparison ignores case).
Status prepare_strings(Leaf& l) {
    for (const auto& v : l.operands) {
        if (!v.is<std::string>()) return type_error(l, "expected a string, got " + literal_text(v));
        l.strings.push_back(l.case_sensitive ? v.as<std::string>() : fold(v.as<std::string>()));
    }
    if (l.op == QueryOp::kIn) std::sort(l.strings.begin(), l.strings.end());
    return Status::ok();
}

// L's operand as bytes (a string stands for its bytes).
Status prepare_bytes(Leaf& l) {
    const Value& v = l.operands[0];
    if (v.is<Bytes>()) {
        l.bytes = v.as<Bytes>();
    } else if (v.is<std::string>()) {
        l.bytes.assign(v.as<std::string>().begin(), v.as<std::string>().end());
    } else {
        return type_error(l, "expected bytes, got " + literal_text(v));
    }
    return Status::ok();
}

}  // namespace

Status prepare_leaf(Leaf& l) {
    l.kind = l.is_id ? ValKind::kInt : val_kind_of(*l.prop);
    OUTPOST_RETURN_IF_ERROR(check_operator(l));
    l.ints.clear();
    l.doubles.clear();
    l.strings.clear();
    l.bytes.clear();
    l.double_mode = false;
    if (!l.list_bound || std::find(l.bound.begin(), l.bound.end(), false) != l.bound.end()) {
        return Status::ok();  // prepared when the parameters get values
    }
    // The element kind that operands are compared with.
    const ValKind k = l.kind;
    ValKind ek = k;
    if (k == ValKind::kIntVector) ek = ValKind::kInt;
    if (k == ValKind::kDoubleVector) ek = ValKind::kDouble;
    if (k == ValKind::kStringVector) ek = ValKind::kString;
    if (is_numeric(ek)) return prepare_numbers(l, ek);
    if (ek == ValKind::kString) return prepare_strings(l);
    if (ek == ValKind::kBytes) return prepare_bytes(l);
    return Status::ok();
}

namespace {

std::vector<std::string> split_path(const std::string& path) {
    std::vector<std::string> out;
    size_t start = 0;
    while (true) {
        size_t dot = path.find('.', start);
        out.push_back(
            path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return out;
}

Status unknown(const std::string& path, const std::string& what) {
    return Status(ErrorCode::kUnknownProperty, "query: " + path + ": " + what);
}

// A leaf with N's comparison, its path not yet resolved.
Result<Leaf> leaf_of(const CondNode& n) {
    Leaf l;
    l.path = n.path;
    l.op = n.op;
    l.case_sensitive = n.case_sensitive;
    l.operands = n.operands;
    l.slot_params = n.slot_params;
    l.slot_params.resize(l.operands.size());
    l.bound.assign(l.operands.size(), true);
    for (size_t i = 0; i < l.slot_params.size(); ++i) l.bound[i] = l.slot_params[i].empty();
    l.list_param = n.list_param;
    l.list_bound = n.list_param.empty();
    l.alias = n.alias;
    for (size_t i = 0; i < l.operands.size(); ++i) {
        if (l.bound[i] && l.operands[i].is_null()) {
            return Status(ErrorCode::kInvalidArgument,
                          "query: " + n.path +
                              ": null is not a comparable value (use IS NULL / IS NOT NULL)");
        }
    }
    return l;
}

// The hop from CUR back to the objects of entity @SOURCE (SEG, "@Source") that point to it through
// their relation LINK.
Result<Hop> backlink_hop(const StoreImpl& store, const std::string& path, const EntityInfo* cur,
                         const std::string& seg, const std::string& link) {
    const EntityInfo* src = store.entity(seg.substr(1));
    if (!src)
        return Status(ErrorCode::kUnknownEntity, "query: " + path + ": no entity " + seg.substr(1));
    const IncomingLink* found = nullptr;
    for (const auto& in : cur->incoming) {
        if (in.source != src) continue;
        const std::string& name =
            in.to_many ? src->relations[in.pos].rel->name : src->entity->properties[in.pos].name;
        if (name == link) found = &in;
    }
    if (!found)
        return unknown(path,
                       seg.substr(1) + "." + link + " is not a relation to " + cur->entity->name);
    Hop h;
    h.kind = found->to_many ? Hop::Kind::kBacklinkToMany : Hop::Kind::kBacklinkToOne;
    h.from = cur;
    h.to = src;
    h.pos = found->pos;
    return h;
}

// The hop from CUR along its to-one property or to-many relation SEG.
Result<Hop> relation_hop(const StoreImpl& store, const std::string& path, const EntityInfo* cur,
                         const std::string& seg) {
    Hop h;
    h.from = cur;
    auto it = cur->prop_by_name.find(seg);
    if (it != cur->prop_by_name.end() &&
        cur->entity->properties[it->second].type == PropertyType::kRelation) {
        h.kind = Hop::Kind::kToOne;
        h.pos = it->second;
        h.to = store.entity(cur->entity->properties[it->second].target);
    } else {
        const RelationInfo* rel = nullptr;
        for (const auto& r : cur->relations) {
            if (r.rel->name == seg) rel = &r;
        }
        if (!rel) return unknown(path, seg + " is not a relation of " + cur->entity->name);
        h.kind = Hop::Kind::kToMany;
        h.pos = rel->pos;
        h.to = rel->target;
    }
    if (!h.to) return unknown(path, "relation " + seg + " has no target entity");
    return h;
}

// Points L at property SEG of CUR, the end of its path.
Status set_leaf_property(Leaf& l, const EntityInfo* cur, const std::string& seg) {
    auto it = cur->prop_by_name.find(seg);
    if (it == cur->prop_by_name.end()) {
        if (cur->entity->relation(seg)) {
            return unknown(
                l.path, seg + " is a to-many relation; compare a property of its target (" + seg +
                            ".name)");
        }
        return unknown(l.path, cur->entity->name + " has no property " + seg);
    }
    l.entity = cur;
    l.pos = it->second;
    l.prop = &cur->entity->properties[l.pos];
    l.is_id = l.prop->has(kFlagId);
    l.is_unsigned = l.is_id || l.prop->has(kFlagUnsigned);
    return Status::ok();
}

Result<Leaf> resolve_leaf(const StoreImpl& store, const EntityInfo* root, const CondNode& n) {
    OUTPOST_ASSIGN_OR_RETURN(Leaf l, leaf_of(n));
    auto segs = split_path(n.path);
    const EntityInfo* cur = root;
    for (size_t i = 0; i < segs.size();) {
        const std::string& s = segs[i];
        if (s.empty()) return unknown(n.path, "empty name in path");
        if (s[0] == '@') {
            if (i + 1 >= segs.size()) {
                // An unknown entity is reported first, as the path names it before the link.
                if (!store.entity(s.substr(1))) {
                    return Status(ErrorCode::kUnknownEntity,
                                  "query: " + n.path + ": no entity " + s.substr(1));
                }
                return unknown(n.path, "a backlink needs the link's name: " + s + ".link");
            }
            OUTPOST_ASSIGN_OR_RETURN(Hop h, backlink_hop(store, n.path, cur, s, segs[i + 1]));
            l.hops.push_back(h);
            cur = h.to;
            i += 2;
            if (i >= segs.size()) {
                return unknown(
                    n.path, "the path ends at a backlink; name a property of " + cur->entity->name);
            }
            continue;
        }
        if (i + 1 == segs.size()) {
            OUTPOST_RETURN_IF_ERROR(set_leaf_property(l, cur, s));
            break;
        }
        OUTPOST_ASSIGN_OR_RETURN(Hop h, relation_hop(store, n.path, cur, s));
        l.hops.push_back(h);
        cur = h.to;
        ++i;
    }
    OUTPOST_RETURN_IF_ERROR(prepare_leaf(l));
    return l;
}

Result<QNode> resolve_node(const StoreImpl& store, QueryImpl& q, const CondNode& n) {
    QNode out;
    switch (n.kind) {
        case CondNode::Kind::kCompare: {
            OUTPOST_ASSIGN_OR_RETURN(Leaf leaf, resolve_leaf(store, q.info, n));
            out.kind = QNode::Kind::kLeaf;
            out.leaf = static_cast<int>(q.leaves.size());
            q.leaves.push_back(std::move(leaf));
            return out;
        }
        case CondNode::Kind::kAnd:
            out.kind = QNode::Kind::kAnd;
            break;
        case CondNode::Kind::kOr:
            out.kind = QNode::Kind::kOr;
            break;
        case CondNode::Kind::kNot:
            out.kind = QNode::Kind::kNot;
            break;
    }
    for (const auto& c : n.children) {
        OUTPOST_ASSIGN_OR_RETURN(QNode child, resolve_node(store, q, *c));
        out.children.push_back(std::move(child));
    }
    return out;
}

}  // namespace
}  // namespace detail

// ---- QueryBuilder ----

QueryBuilder::QueryBuilder(DynamicBox box) : box_(std::move(box)) {}

QueryBuilder& QueryBuilder::where(Condition condition) {
    conditions_.push_back(std::move(condition));
    return *this;
}

QueryBuilder& QueryBuilder::where(std::string_view text) {
    auto c = parse_condition(text);
    if (c) {
        conditions_.push_back(std::move(c).value());
    } else if (parse_error_.is_ok()) {
        parse_error_ = c.status();
    }
    return *this;
}

QueryBuilder& QueryBuilder::order(std::string property, uint32_t flags) {
    orders_.push_back({std::move(property), flags});
    return *this;
}

QueryBuilder& QueryBuilder::offset(uint64_t n) {
    offset_ = n;
    return *this;
}

QueryBuilder& QueryBuilder::limit(uint64_t n) {
    limit_ = n;
    return *this;
}

Result<Query> QueryBuilder::build() const {
    OUTPOST_RETURN_IF_ERROR(parse_error_);
    auto q = std::make_unique<QueryImpl>();
    q->box.emplace(box_);
    q->info = detail::Access::info(box_);
    const detail::StoreImpl& store = *detail::Access::impl(*box_.store());
    Condition all = Condition::all_of(conditions_);
    OUTPOST_ASSIGN_OR_RETURN(q->root, detail::resolve_node(store, *q, *detail::Access::node(all)));
    for (const auto& o : orders_) {
        auto it = q->info->prop_by_name.find(o.property);
        if (it == q->info->prop_by_name.end()) {
            return Status(ErrorCode::kUnknownProperty,
                          "query: order: " + box_.entity().name + " has no property " + o.property);
        }
        detail::OrderKey k;
        k.pos = it->second;
        k.prop = &box_.entity().properties[k.pos];
        k.is_id = k.prop->has(kFlagId);
        k.flags = o.flags;
        ValKind vk = detail::val_kind_of(*k.prop);
        if (!k.is_id && vk != ValKind::kInt && vk != ValKind::kBool && vk != ValKind::kDouble &&
            vk != ValKind::kString && vk != ValKind::kBytes) {
            return Status(ErrorCode::kTypeMismatch,
                          "query: order: " + o.property + " (" +
                              std::string(property_type_name(k.prop->type)) + ") has no order");
        }
        q->orders.push_back(k);
    }
    q->offset = offset_;
    q->limit = limit_;
    return detail::Access::make_query(std::move(q));
}

// ---- Query: construction, parameters, plan ----

Query::Query(std::unique_ptr<detail::QueryImpl> impl) : impl_(std::move(impl)) {}
Query detail::Access::make_query(std::unique_ptr<QueryImpl> impl) { return Query(std::move(impl)); }
Query::Query(Query&&) noexcept = default;
Query& Query::operator=(Query&&) noexcept = default;
Query::~Query() = default;

const Entity& Query::entity() const { return *impl_->info->entity; }
void Query::set_offset(uint64_t n) { impl_->offset = n; }
void Query::set_limit(uint64_t n) { impl_->limit = n; }

namespace {

enum class ParamShape { kOne, kTwo, kList };

Status set_param(QueryImpl& q, std::string_view name, ParamShape shape,
                 const std::vector<Value>& values) {
    if (name.empty()) return Status(ErrorCode::kInvalidArgument, "query: a parameter needs a name");
    bool found = false;
    for (auto& leaf : q.leaves) {
        bool named = leaf.alias == name || leaf.list_param == name ||
                     std::find(leaf.slot_params.begin(), leaf.slot_params.end(), name) !=
                         leaf.slot_params.end();
        if (!named) continue;
        Leaf next = leaf;
        bool touched = false;
        if (next.alias == name) {
            bool fits = (shape == ParamShape::kList) == (next.op == QueryOp::kIn) &&
                        (shape == ParamShape::kTwo) == (next.op == QueryOp::kBetween) &&
                        next.op != QueryOp::kIsNull && next.op != QueryOp::kIsNotNull;
            if (!fits) {
                return Status(ErrorCode::kInvalidArgument,
                              "query: parameter " + std::string(name) + " of " + next.path + " " +
                                  std::string(query_op_name(next.op)) +
                                  " does not take that number of values");
            }
            next.operands = values;
            next.slot_params.assign(values.size(), std::string());
            next.bound.assign(values.size(), true);
            next.list_param.clear();
            next.list_bound = true;
            touched = true;
        }
        for (size_t i = 0; i < next.slot_params.size(); ++i) {
            if (next.slot_params[i] != name) continue;
            if (shape != ParamShape::kOne) {
                return Status(ErrorCode::kInvalidArgument,
                              "query: parameter $" + std::string(name) + " takes one value");
            }
            next.operands[i] = values[0];
            next.bound[i] = true;
            touched = true;
        }
        if (next.list_param == name) {
            if (shape != ParamShape::kList) {
                return Status(
                    ErrorCode::kInvalidArgument,
                    "query: parameter $" + std::string(name) + " of IN takes a list of values");
            }
            next.operands = values;
            next.slot_params.assign(values.size(), std::string());
            next.bound.assign(values.size(), true);
            next.list_bound = true;
            touched = true;
        }
        if (!touched) continue;
        for (const auto& v : values) {
            if (v.is_null()) {
                return Status(ErrorCode::kInvalidArgument, "query: parameter " + std::string(name) +
                                                               ": null is not a comparable value");
            }
        }
        OUTPOST_RETURN_IF_ERROR(detail::prepare_leaf(next));
        leaf = std::move(next);
        q.plan.reset();
        found = true;
    }
    if (!found) {
        return Status(ErrorCode::kNotFound, "query: no parameter named " + std::string(name));
    }
    return Status::ok();
}

}  // namespace

Status Query::set_parameter(std::string_view name, Value value) {
    return set_param(*impl_, name, ParamShape::kOne, {std::move(value)});
}
Status Query::set_parameter(std::string_view name, Value lo, Value hi) {
    return set_param(*impl_, name, ParamShape::kTwo, {std::move(lo), std::move(hi)});
}
Status Query::set_parameter(std::string_view name, std::vector<Value> values) {
    return set_param(*impl_, name, ParamShape::kList, values);
}

std::string Query::explain() const { return detail::explain_plan(*impl_, detail::plan_of(*impl_)); }

}  // namespace outpost
