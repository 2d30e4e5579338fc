// The $group stage: documents grouped by their _id expression, with accumulators $sum $avg $min
// $max $first $last $push $addToSet.
#include <map>

#include "pipeline.hpp"
#include "query_match.hpp"

namespace standin {

namespace {

Error bad(int code, std::string msg) { return Error{code, std::move(msg), {}}; }

DocPtr to_ptr(const Node& n) { return std::make_shared<const std::string>(n.to_doc().bytes()); }

struct Acc {
    std::string op;
    bson_iter_t arg;
};

// A $group specification: the _id expression and the accumulators, in order, by output field.
struct GroupSpec {
    bson_iter_t id_expr{};
    std::vector<std::pair<std::string, Acc>> accs;
};

Result<GroupSpec> parse_group_spec(const bson_iter_t* spec) {
    bson_iter_t f;
    if (!BSON_ITER_HOLDS_DOCUMENT(spec) || !bson_iter_recurse(spec, &f))
        return bad(15947, "a group's fields must be specified in an object");
    GroupSpec gs;
    bool has_id = false;
    while (bson_iter_next(&f)) {
        std::string k = bson_iter_key(&f);
        if (k == "_id") {
            gs.id_expr = f;
            has_id = true;
            continue;
        }
        bson_iter_t a;
        if (!BSON_ITER_HOLDS_DOCUMENT(&f) || !bson_iter_recurse(&f, &a) || !bson_iter_next(&a))
            return bad(40234, "The field '" + k + "' must be an accumulator object");
        gs.accs.emplace_back(k, Acc{bson_iter_key(&a), a});
    }
    if (!has_id) return bad(15955, "a group specification must include an _id");
    return gs;
}

// One group: its _id and, per accumulator, the value so far, how many values it took (for $avg)
// and whether it took any.
struct GroupState {
    Node id;
    std::vector<Node> values;
    std::vector<long long> counts;
    std::vector<bool> set;
};

// The key that groups documents whose _id values are equal.
std::string group_key(const Node& id) {
    Doc kd;
    id.append_to(kd.get(), "k");
    bson_iter_t ki;
    bson_iter_init(&ki, kd.get());
    bson_iter_next(&ki);
    return canonical_key(&ki);
}

// $sum and $avg: adds a number; a sum of two int32 that fits stays an int32.
void accumulate_sum(const std::string& op, const std::optional<Node>& val, GroupState& g,
                    size_t i) {
    Node& slot = g.values[i];
    if (!val || !val->is_number()) return;
    if (!g.set[i]) {
        slot = op == "$avg" ? Node::dbl(val->as_double()) : *val;
        g.set[i] = true;
    } else if (op == "$avg" || slot.type == BSON_TYPE_DOUBLE || val->type == BSON_TYPE_DOUBLE) {
        slot = Node::dbl(slot.as_double() + val->as_double());
    } else {
        long long s =
            static_cast<long long>(slot.as_double()) + static_cast<long long>(val->as_double());
        bool fits = s >= INT32_MIN && s <= INT32_MAX && slot.type == BSON_TYPE_INT32 &&
                    val->type == BSON_TYPE_INT32;
        slot = fits ? Node::int32(static_cast<int32_t>(s)) : Node::int64(s);
    }
    g.counts[i]++;
}

// $push and $addToSet: appends the value (for $addToSet, when no equal value is there yet).
void accumulate_array(const std::string& op, const std::optional<Node>& val, GroupState& g,
                      size_t i) {
    Node& slot = g.values[i];
    if (!g.set[i]) {
        slot = Node::array();
        g.set[i] = true;
    }
    if (!val) return;
    bool present = false;
    if (op == "$addToSet")
        for (auto& kv : slot.kids) present = present || compare_nodes(kv.second, *val) == 0;
    if (!present) slot.kids.emplace_back(std::to_string(slot.kids.size()), *val);
}

// Feeds VAL (absent when the expression had no value) to accumulator I of group G.
Status accumulate(const std::string& op, const std::optional<Node>& val, GroupState& g, size_t i) {
    Node& slot = g.values[i];
    if (op == "$sum" || op == "$avg") {
        accumulate_sum(op, val, g, i);
    } else if (op == "$min" || op == "$max") {
        if (!val || val->type == BSON_TYPE_NULL) return ok_status();
        if (!g.set[i] ||
            (op == "$min" ? compare_nodes(*val, slot) < 0 : compare_nodes(*val, slot) > 0)) {
            slot = *val;
            g.set[i] = true;
        }
    } else if (op == "$first") {
        if (!g.set[i]) {
            slot = val ? *val : Node::null();
            g.set[i] = true;
        }
    } else if (op == "$last") {
        slot = val ? *val : Node::null();
        g.set[i] = true;
    } else if (op == "$push" || op == "$addToSet") {
        accumulate_array(op, val, g, i);
    } else {
        return bad(15952, "unknown group operator '" + op + "'");
    }
    return ok_status();
}

// The output document of group G: its _id, then each accumulator's result.
Node finish_group(const GroupState& g, const GroupSpec& gs) {
    Node d = Node::document();
    d.kids.emplace_back("_id", g.id);
    for (size_t i = 0; i < gs.accs.size(); ++i) {
        const std::string& op = gs.accs[i].second.op;
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
        d.kids.emplace_back(gs.accs[i].first, std::move(v));
    }
    return d;
}

}  // namespace

Result<std::vector<DocPtr>> run_group(const std::vector<DocPtr>& docs, const bson_iter_t* spec,
                                      const Vars* vars) {
    auto parsed = parse_group_spec(spec);
    if (!parsed.ok()) return parsed.error();
    const GroupSpec& gs = parsed.value();
    std::vector<GroupState> groups;
    std::map<std::string, size_t> index;
    for (const auto& d : docs) {
        bson_t view;
        view_of(*d, &view);
        Node root = Node::from_bson(&view);
        auto idv = eval_expression(root, &gs.id_expr, vars);
        if (!idv.ok()) return idv.error();
        Node id = idv.value() ? std::move(*idv.value()) : Node::null();
        auto [pos, inserted] = index.emplace(group_key(id), groups.size());
        if (inserted) {
            GroupState g;
            g.id = id;
            g.values.resize(gs.accs.size());
            g.counts.assign(gs.accs.size(), 0);
            g.set.assign(gs.accs.size(), false);
            groups.push_back(std::move(g));
        }
        GroupState& g = groups[pos->second];
        for (size_t i = 0; i < gs.accs.size(); ++i) {
            const Acc& acc = gs.accs[i].second;
            auto v = eval_expression(root, &acc.arg, vars);
            if (!v.ok()) return v.error();
            auto st = accumulate(acc.op, v.value(), g, i);
            if (!st.ok()) return st.error();
        }
    }
    std::vector<DocPtr> out;
    for (const auto& g : groups) out.push_back(to_ptr(finish_group(g, gs)));
    return out;
}

}  // namespace standin
