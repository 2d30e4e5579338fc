// Walking a condition without a store: the paths and parameters it names, its comparisons, and
// binding parameters to values (the sync rules bind $auth.* and $client.* per session).
#include <map>

#include "store/query_impl.hpp"

namespace outpost {

using detail::CondNode;
using NodePtr = std::shared_ptr<const CondNode>;

namespace {

void add_once(std::vector<std::string>& out, const std::string& s) {
    if (s.empty()) return;
    for (const auto& x : out) {
        if (x == s) return;
    }
    out.push_back(s);
}

// Calls FN for each comparison under N, in order.
void walk(const NodePtr& n, const std::function<void(const NodePtr&)>& fn) {
    if (n->kind == CondNode::Kind::kCompare) {
        fn(n);
        return;
    }
    for (const auto& c : n->children) walk(c, fn);
}

NodePtr constant(bool value) {
    auto n = std::make_shared<CondNode>();
    n->kind = value ? CondNode::Kind::kAnd : CondNode::Kind::kOr;  // empty AND: TRUE, OR: FALSE
    return n;
}
bool is_constant(const CondNode& n, bool value) {
    return n.children.empty() && n.kind == (value ? CondNode::Kind::kAnd : CondNode::Kind::kOr);
}

// How many operands an aliased comparison with operator OP takes: -1 for any number.
int alias_arity(QueryOp op) {
    switch (op) {
        case QueryOp::kIn:
            return -1;
        case QueryOp::kBetween:
            return 2;
        case QueryOp::kIsNull:
        case QueryOp::kIsNotNull:
            return 0;
        default:
            return 1;
    }
}

class Binder {
  public:
    using Binding = Condition::Binding;
    explicit Binder(const std::function<Binding(std::string_view)>& fn) : fn_(fn) {}

    // N with its parameters bound; N itself when nothing in it changed.
    NodePtr visit(const NodePtr& n) {
        switch (n->kind) {
            case CondNode::Kind::kCompare:
                return compare(n);
            case CondNode::Kind::kNot: {
                NodePtr c = visit(n->children[0]);
                if (c == n->children[0]) return n;
                if (is_constant(*c, true)) return constant(false);
                if (is_constant(*c, false)) return constant(true);
                auto out = std::make_shared<CondNode>();
                out->kind = CondNode::Kind::kNot;
                out->children.push_back(std::move(c));
                return out;
            }
            case CondNode::Kind::kAnd:
            case CondNode::Kind::kOr:
                return group(n);
        }
        return n;
    }

  private:
    const Binding& get(const std::string& name) {
        auto it = cache_.find(name);
        if (it == cache_.end()) it = cache_.emplace(name, fn_(name)).first;
        return it->second;
    }

    // Whether VALUES may stand in a comparison: a null compares with nothing.
    static bool comparable(const std::vector<Value>& values) {
        for (const auto& v : values) {
            if (v.is_null()) return false;
        }
        return true;
    }

    NodePtr compare(const NodePtr& n) {
        auto out = std::make_shared<CondNode>(*n);
        bool changed = false;
        if (!out->alias.empty()) {
            const Binding& b = get(out->alias);
            if (b.kind == Binding::Kind::kMissing) return constant(false);
            if (b.kind == Binding::Kind::kValues) {
                const int arity = alias_arity(out->op);
                if ((arity >= 0 && b.values.size() != static_cast<size_t>(arity)) || arity == 0 ||
                    !comparable(b.values)) {
                    return constant(false);
                }
                out->operands = b.values;
                out->slot_params.assign(b.values.size(), std::string());
                out->list_param.clear();
                out->alias.clear();
                changed = true;
            }
        }
        for (size_t i = 0; i < out->slot_params.size(); ++i) {
            if (out->slot_params[i].empty()) continue;
            const Binding& b = get(out->slot_params[i]);
            if (b.kind == Binding::Kind::kKeep) continue;
            if (b.kind == Binding::Kind::kMissing || b.values.size() != 1 || !comparable(b.values))
                return constant(false);
            out->operands[i] = b.values[0];
            out->slot_params[i].clear();
            changed = true;
        }
        if (!out->list_param.empty()) {
            const Binding& b = get(out->list_param);
            if (b.kind == Binding::Kind::kMissing || !comparable(b.values)) return constant(false);
            if (b.kind == Binding::Kind::kValues) {
                out->operands = b.values;
                out->slot_params.assign(b.values.size(), std::string());
                out->list_param.clear();
                changed = true;
            }
        }
        return changed ? out : n;
    }

    NodePtr group(const NodePtr& n) {
        const bool is_and = n->kind == CondNode::Kind::kAnd;
        std::vector<NodePtr> kids;
        bool changed = false;
        for (const auto& c : n->children) {
            kids.push_back(visit(c));
            changed = changed || kids.back() != c;
        }
        if (!changed) return n;
        // AND: TRUE parts drop out, a FALSE part decides; OR the other way round.
        auto out = std::make_shared<CondNode>();
        out->kind = n->kind;
        for (auto& k : kids) {
            if (is_constant(*k, is_and)) continue;
            if (is_constant(*k, !is_and)) return constant(!is_and);
            if (k->kind == n->kind) {
                for (const auto& g : k->children) out->children.push_back(g);
            } else {
                out->children.push_back(std::move(k));
            }
        }
        if (out->children.size() == 1) return out->children[0];
        return out;
    }

    const std::function<Binding(std::string_view)>& fn_;
    std::map<std::string, Binding, std::less<>> cache_;
};

}  // namespace

std::vector<std::string> Condition::paths() const {
    std::vector<std::string> out;
    walk(node_, [&](const NodePtr& n) { add_once(out, n->path); });
    return out;
}

std::vector<std::string> Condition::parameters() const {
    std::vector<std::string> out;
    walk(node_, [&](const NodePtr& n) {
        for (const auto& p : n->slot_params) add_once(out, p);
        add_once(out, n->list_param);
        add_once(out, n->alias);
    });
    return out;
}

std::vector<Condition> Condition::comparisons() const {
    std::vector<Condition> out;
    walk(node_, [&](const NodePtr& n) { out.push_back(Condition(n)); });
    return out;
}

Condition Condition::bind(const std::function<Binding(std::string_view name)>& fn) const {
    Binder b(fn);
    return Condition(b.visit(node_));
}

}  // namespace outpost
