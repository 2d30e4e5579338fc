// The query planner: under an AND one indexed comparison drives and the whole condition filters its
// candidates; under an OR indexes serve only when every branch has one; otherwise a scan.
// Candidates are always checked against the full condition (string keys are cut at kMaxStringKey
// bytes, hash keys collide, and double/int conversions round).
#include <algorithm>
#include <cmath>
#include <limits>

#include "store/index_key.hpp"
#include "store/query_impl.hpp"

namespace outpost::detail {

namespace {

// Lower is cheaper. Equality finds few objects, a range possibly many.
constexpr int kNoIndex = 1 << 20;

bool is_range(QueryOp op) {
    return op == QueryOp::kLess || op == QueryOp::kLessOrEqual || op == QueryOp::kGreater ||
           op == QueryOp::kGreaterOrEqual || op == QueryOp::kBetween;
}

int op_score(QueryOp op) {
    switch (op) {
        case QueryOp::kEqual:
            return 1;
        case QueryOp::kIn:
            return 2;
        case QueryOp::kStartsWith:
            return 3;
        case QueryOp::kBetween:
            return 4;
        default:
            return is_range(op) ? 5 : kNoIndex;
    }
}

// The cost of driving the query by LEAF's own comparison, kNoIndex when it cannot drive.
int direct_score(const Leaf& l) {
    // An integer property compared with a fraction: only ranges (with rounded bounds) use the
    // index.
    bool int_with_fraction = l.double_mode && l.kind != ValKind::kDouble;
    if (int_with_fraction && (!is_range(l.op) || l.is_id)) return kNoIndex;
    if (l.is_id)
        return l.op == QueryOp::kEqual || l.op == QueryOp::kIn || is_range(l.op) ? op_score(l.op)
                                                                                 : kNoIndex;
    int ii = l.entity->index_of_prop[l.pos];
    if (ii < 0) return kNoIndex;
    const IndexInfo& idx = l.entity->indexes[ii];
    bool is_string = l.kind == ValKind::kString;
    if (is_string && !l.case_sensitive) return kNoIndex;
    if (idx.hash)
        return l.op == QueryOp::kEqual || l.op == QueryOp::kIn ? op_score(l.op) : kNoIndex;
    if (l.op == QueryOp::kStartsWith) return is_string ? op_score(l.op) : kNoIndex;
    if (l.kind != ValKind::kInt && l.kind != ValKind::kBool && l.kind != ValKind::kDouble &&
        !is_string) {
        return kNoIndex;
    }
    // Unsigned and bool keys are plain big-endian: equality works, signed range bounds would not.
    if (is_range(l.op) && (idx.prop->has(kFlagUnsigned) || l.kind == ValKind::kBool))
        return kNoIndex;
    return op_score(l.op);
}

// A path through relations is followed backwards from the index's candidates (each hop costs a
// lookup per object), so it drives only when nothing local does better.
int leaf_score(const Leaf& l) {
    int s = direct_score(l);
    if (s >= kNoIndex || l.hops.empty()) return s;
    return s + 5 + 2 * static_cast<int>(l.hops.size());
}

std::pair<int, Plan> plan_node(const QueryImpl& q, const QNode& n) {
    Plan p;
    switch (n.kind) {
        case QNode::Kind::kLeaf: {
            int s = leaf_score(q.leaves[n.leaf]);
            if (s >= kNoIndex) return {kNoIndex, p};
            p.kind = q.leaves[n.leaf].is_id ? Plan::Kind::kIdLookup : Plan::Kind::kIndex;
            p.leaf = n.leaf;
            return {s, p};
        }
        case QNode::Kind::kAnd: {
            int best = kNoIndex;
            for (const auto& c : n.children) {
                auto [s, cp] = plan_node(q, c);
                if (s < best) {
                    best = s;
                    p = std::move(cp);
                }
            }
            return {best, p};
        }
        case QNode::Kind::kOr: {
            if (n.children.empty()) return {kNoIndex, p};
            int total = 0;
            p.kind = Plan::Kind::kUnion;
            for (const auto& c : n.children) {
                auto [s, cp] = plan_node(q, c);
                if (s >= kNoIndex) return {kNoIndex, Plan()};
                total += s;
                p.branches.push_back(std::move(cp));
            }
            return {std::min(total, kNoIndex - 1), p};
        }
        case QNode::Kind::kNot:
            return {kNoIndex, p};
    }
    return {kNoIndex, p};
}

std::string int_index_key(const IndexInfo& idx, int64_t v) {
    return int_key(v, idx.prop->type == PropertyType::kBool || idx.prop->has(kFlagUnsigned));
}

int64_t clamp_to_int(double d) {
    if (d <= -9.2e18) return std::numeric_limits<int64_t>::min();
    if (d >= 9.2e18) return std::numeric_limits<int64_t>::max();
    return static_cast<int64_t>(d);
}

// The keys of LEAF's operands (equality, IN).
std::vector<std::string> point_keys(const Leaf& l, const IndexInfo& idx) {
    std::vector<std::string> keys;
    if (l.kind == ValKind::kString) {
        for (const auto& s : l.strings) keys.push_back(string_key(s, idx.hash));
    } else if (l.kind == ValKind::kDouble) {
        for (double d : l.doubles) keys.push_back(double_key(d));
    } else {
        for (int64_t i : l.ints) keys.push_back(int_index_key(idx, i));
    }
    return keys;
}

// Inclusive key bounds [lo, hi] covering LEAF's range; nullopt for an open side.
std::pair<std::optional<std::string>, std::optional<std::string>> range_keys(const Leaf& l,
                                                                             const IndexInfo& idx) {
    auto key_at = [&](size_t i, bool lower) -> std::string {
        if (l.kind == ValKind::kString) return string_key(l.strings[i], false);
        if (l.kind == ValKind::kDouble) return double_key(l.doubles[i]);
        if (l.double_mode) {
            double d = l.doubles[i];
            return int_index_key(idx, clamp_to_int(lower ? std::floor(d) : std::ceil(d)));
        }
        return int_index_key(idx, l.ints[i]);
    };
    switch (l.op) {
        case QueryOp::kLess:
        case QueryOp::kLessOrEqual:
            return {std::nullopt, key_at(0, false)};
        case QueryOp::kGreater:
        case QueryOp::kGreaterOrEqual:
            return {key_at(0, true), std::nullopt};
        default:
            return {key_at(0, true), key_at(1, false)};
    }
}

Result<std::vector<uint64_t>> index_candidates(const Leaf& l, MDB_txn* txn) {
    const IndexInfo& idx = l.entity->indexes[l.entity->index_of_prop[l.pos]];
    std::vector<uint64_t> out;
    if (idx.dbi == 0) return out;
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_cursor_open(txn, idx.dbi, &cur), "query index"));
    struct Close {
        MDB_cursor* c;
        ~Close() { mdb_cursor_close(c); }
    } close{cur};
    MDB_val k, v;
    if (l.op == QueryOp::kEqual || l.op == QueryOp::kIn) {
        for (const std::string& key : point_keys(l, idx)) {
            k = mdb_val(key.data(), key.size());
            for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == 0;
                 rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
                out.push_back(read_u64(v));
            }
        }
    } else {
        std::optional<std::string> lo, hi;
        bool prefix = l.op == QueryOp::kStartsWith;
        if (prefix) {
            lo = string_key(l.strings[0], false);
        } else {
            std::tie(lo, hi) = range_keys(l, idx);
        }
        int rc;
        if (lo) {
            k = mdb_val(lo->data(), lo->size());
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        } else {
            rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        }
        for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            std::string_view key = as_view(k);
            if (prefix && key.substr(0, lo->size()) != *lo) break;
            if (hi && key > std::string_view(*hi)) break;
            out.push_back(read_u64(v));
        }
        if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_status(rc, "query index");
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

Result<std::vector<uint64_t>> id_candidates(const Leaf& l, MDB_txn* txn) {
    std::vector<uint64_t> out;
    if (l.op == QueryOp::kEqual || l.op == QueryOp::kIn) {
        for (int64_t i : l.ints) {
            if (i > 0) out.push_back(static_cast<uint64_t>(i));
        }
    } else if (l.entity->objects != 0) {
        uint64_t lo = 0, hi = UINT64_MAX;
        auto bound = [](int64_t v) { return v < 0 ? 0 : static_cast<uint64_t>(v); };
        if (l.op == QueryOp::kLess || l.op == QueryOp::kLessOrEqual) {
            if (l.ints[0] < 0) return out;
            hi = bound(l.ints[0]);
        } else if (l.op == QueryOp::kGreater || l.op == QueryOp::kGreaterOrEqual) {
            lo = bound(l.ints[0]);
        } else {
            if (l.ints[1] < 0) return out;
            lo = bound(l.ints[0]);
            hi = bound(l.ints[1]);
        }
        MDB_cursor* cur;
        OUTPOST_RETURN_IF_ERROR(
            lmdb_status(mdb_cursor_open(txn, l.entity->objects, &cur), "query ids"));
        MDB_val k = mdb_val(&lo, 8), v;
        int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            uint64_t id = read_u64(k);
            if (id > hi) break;
            out.push_back(id);
        }
        mdb_cursor_close(cur);
        if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_status(rc, "query ids");
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::string node_text(const QueryImpl& q, const QNode& n) {
    switch (n.kind) {
        case QNode::Kind::kLeaf:
            return leaf_to_string(q.leaves[n.leaf]);
        case QNode::Kind::kNot:
            return "NOT (" + node_text(q, n.children[0]) + ")";
        default: {
            if (n.children.empty()) return n.kind == QNode::Kind::kAnd ? "TRUE" : "FALSE";
            if (n.children.size() == 1) return node_text(q, n.children[0]);
            std::string s;
            for (size_t i = 0; i < n.children.size(); ++i) {
                const QNode& c = n.children[i];
                if (i) s += n.kind == QNode::Kind::kAnd ? " AND " : " OR ";
                bool paren = (c.kind == QNode::Kind::kAnd || c.kind == QNode::Kind::kOr) &&
                             c.children.size() > 1;
                s += paren ? "(" + node_text(q, c) + ")" : node_text(q, c);
            }
            return s;
        }
    }
}

std::string plan_text(const QueryImpl& q, const Plan& p) {
    switch (p.kind) {
        case Plan::Kind::kScan:
            return "scan";
        case Plan::Kind::kIdLookup:
        case Plan::Kind::kIndex: {
            const Leaf& l = q.leaves[p.leaf];
            std::string s;
            if (p.kind == Plan::Kind::kIdLookup) {
                s = "id lookup";
                if (!l.hops.empty()) s += " of " + l.entity->entity->name;
            } else {
                const IndexInfo& idx = l.entity->indexes[l.entity->index_of_prop[l.pos]];
                s = "index " + l.entity->entity->name + "." + l.prop->name +
                    (idx.hash ? " [hash]" : "");
            }
            s += " (" + std::string(query_op_name(l.op)) + ")";
            if (!l.hops.empty()) s += " via " + l.path.substr(0, l.path.rfind('.'));
            return s;
        }
        case Plan::Kind::kUnion: {
            std::string s = "union of [";
            for (size_t i = 0; i < p.branches.size(); ++i)
                s += (i ? "; " : "") + plan_text(q, p.branches[i]);
            return s + "]";
        }
    }
    return "";
}

}  // namespace

Plan make_plan(const QueryImpl& q) {
    auto [score, plan] = plan_node(q, q.root);
    if (score >= kNoIndex) return Plan();
    return plan;
}

const Plan& plan_of(const QueryImpl& q) {
    if (!q.plan) q.plan = make_plan(q);
    return *q.plan;
}

Result<std::vector<uint64_t>> plan_candidates(const QueryImpl& q, const Plan& plan, MDB_txn* txn) {
    switch (plan.kind) {
        case Plan::Kind::kScan:
            return Status(ErrorCode::kInternal, "query: a scan has no candidate list");
        case Plan::Kind::kIndex:
        case Plan::Kind::kIdLookup: {
            const Leaf& l = q.leaves[plan.leaf];
            OUTPOST_ASSIGN_OR_RETURN(auto ids, plan.kind == Plan::Kind::kIndex
                                                   ? index_candidates(l, txn)
                                                   : id_candidates(l, txn));
            if (l.hops.empty()) return ids;
            return reverse_hops(l, txn, std::move(ids));
        }
        case Plan::Kind::kUnion: {
            std::vector<uint64_t> all;
            for (const auto& b : plan.branches) {
                OUTPOST_ASSIGN_OR_RETURN(auto ids, plan_candidates(q, b, txn));
                all.insert(all.end(), ids.begin(), ids.end());
            }
            std::sort(all.begin(), all.end());
            all.erase(std::unique(all.begin(), all.end()), all.end());
            return all;
        }
    }
    return std::vector<uint64_t>();
}

std::string explain_plan(const QueryImpl& q, const Plan& plan) {
    std::string s = q.info->entity->name + ": " + plan_text(q, plan);
    bool all = q.root.kind == QNode::Kind::kAnd && q.root.children.empty();
    if (!all)
        s += (plan.kind == Plan::Kind::kScan ? ", filter: " : " then filter: ") +
             node_text(q, q.root);
    if (!q.orders.empty()) {
        s += "; order by ";
        for (size_t i = 0; i < q.orders.size(); ++i) {
            const OrderKey& o = q.orders[i];
            s += (i ? ", " : "") + o.prop->name;
            if (o.flags & kOrderDescending) s += " desc";
            if (o.flags & kOrderCaseInsensitive) s += " ci";
            if (o.flags & kOrderNullsFirst) s += " nulls first";
        }
        if (const IndexInfo* idx = order_index(q, plan)) {
            s += " (walks index " + q.info->entity->name + "." + idx->prop->name + ")";
        }
    }
    if (q.offset) s += "; offset " + std::to_string(q.offset);
    if (q.limit != UINT64_MAX) s += "; limit " + std::to_string(q.limit);
    return s;
}

}  // namespace outpost::detail
