// The update operators ($set, $unset, $inc ... $pop) applied to one field of a document.
#include <algorithm>
#include <limits>

#include "query_match.hpp"
#include "update_paths.hpp"

namespace standin::update_paths {

namespace {

// One concrete path an operator applies to (after $, $[] and $[id] are expanded).
struct Target {
    const std::string& op;     // "$inc", ...
    const std::string& field;  // the field as written in the update
    const Path& path;
    std::string dotted;
    const Node* cur;  // the current value; null when the field is missing
    const Node& arg;
};

// What is left to do after an operator ran: compare the field with its value before and report
// it as updated when it changed, or nothing (it reported its own changes, or changed nothing).
enum class Then { kReportIfChanged, kDone };

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

Result<Then> set_to(Ctx& ctx, const Target& t, Node v) {
    auto s = set_at(*ctx.root, t.path, std::move(v));
    if (!s.ok()) return s.error();
    return Then::kReportIfChanged;
}

Status apply_rename(Ctx& ctx, const std::string& field, const Path& from, const bson_iter_t* arg) {
    if (!BSON_ITER_HOLDS_UTF8(arg))
        return Error{2, "The 'to' field for $rename must be a string: " + field, {}};
    Path to = split(bson_iter_utf8(arg, nullptr));
    Node* src = get_node(*ctx.root, from);
    if (!src) return ok_status();
    Node v = *src;
    unset_at(*ctx.root, from);
    auto s = set_at(*ctx.root, to, std::move(v));
    if (!s.ok()) return s;
    ctx.out->removed_fields.push_back(field);
    record_set(ctx, to);
    return ok_status();
}

// $inc and $mul
Result<Then> apply_arithmetic(Ctx& ctx, const Target& t) {
    if (!t.arg.is_number())
        return Error{14,
                     std::string("Cannot ") + (t.op == "$inc" ? "increment" : "multiply") +
                         " with non-numeric argument: {" + t.field + ": ...}",
                     {}};
    if (t.cur && !t.cur->is_number())
        return Error{14,
                     "Cannot apply " + t.op +
                         " to a value of non-numeric type. {_id: ...} has the field '" +
                         t.path.back() + "' of non-numeric type " + type_name(t.cur->type),
                     {}};
    if (!t.cur)
        return set_to(ctx, t, t.op == "$inc" ? t.arg : number_from(0, t.arg.type, t.arg.type));
    long double v = t.op == "$inc" ? exact(*t.cur) + exact(t.arg) : exact(*t.cur) * exact(t.arg);
    return set_to(ctx, t, number_from(v, t.cur->type, t.arg.type));
}

Result<Then> apply_current_date(Ctx& ctx, const Target& t) {
    bool ts = false;
    if (t.arg.type == BSON_TYPE_DOCUMENT) {
        const Node* type = t.arg.find("$type");
        ts = type && type->type == BSON_TYPE_UTF8 &&
             std::string(type->scalar.value.v_utf8.str) == "timestamp";
    }
    Node v;
    if (ts) {
        v.type = v.scalar.value_type = BSON_TYPE_TIMESTAMP;
        v.scalar.value.v_timestamp.timestamp = ts_secs(ctx.spec->now_ts);
        v.scalar.value.v_timestamp.increment = ts_inc(ctx.spec->now_ts);
    } else {
        v.type = v.scalar.value_type = BSON_TYPE_DATE_TIME;
        v.scalar.value.v_datetime = ctx.spec->now_ms;
    }
    return set_to(ctx, t, std::move(v));
}

// $push's {$sort: 1 | -1 | {field: 1 | -1, ...}}
void sort_pushed(Node& arr, const Node& sort) {
    std::stable_sort(arr.kids.begin(), arr.kids.end(), [&](const auto& a, const auto& b) {
        if (sort.is_number()) {
            int c = compare_nodes(a.second, b.second);
            return sort.as_double() > 0 ? c < 0 : c > 0;
        }
        for (const auto& [k, dir] : sort.kids) {
            const Node* x = a.second.find(k);
            const Node* y = b.second.find(k);
            Node nx = x ? *x : Node(), ny = y ? *y : Node();
            int c = compare_nodes(nx, ny);
            if (c) return dir.as_double() > 0 ? c < 0 : c > 0;
        }
        return false;
    });
}

// $push's {$slice: n}; true when it removed elements.
bool slice_pushed(Node& arr, const Node& slice) {
    long long n = static_cast<long long>(slice.as_double());
    size_t sz = arr.kids.size();
    if (n >= 0 && static_cast<size_t>(n) < sz) {
        arr.kids.resize(static_cast<size_t>(n));
        return true;
    }
    if (n < 0 && static_cast<size_t>(-n) < sz) {
        arr.kids.erase(arr.kids.begin(), arr.kids.end() - static_cast<long>(-n));
        return true;
    }
    return false;
}

// $push of ITEMS into ARR with its $each modifiers ($position, $sort, $slice) from ARG; true
// when the result is ARR with ITEMS appended (reported element by element).
bool push_items(Node& arr, std::vector<Node> items, const Node& arg, bool each) {
    bool simple_append = true;
    const Node* pos = each ? arg.find("$position") : nullptr;
    size_t at = arr.kids.size();
    if (pos && pos->is_number()) {
        long long pv = static_cast<long long>(pos->as_double());
        if (pv < 0) pv = std::max<long long>(0, static_cast<long long>(arr.kids.size()) + pv);
        at = std::min<size_t>(static_cast<size_t>(pv), arr.kids.size());
        if (at != arr.kids.size()) simple_append = false;
    }
    std::vector<std::pair<std::string, Node>> ins;
    for (auto& it : items) ins.emplace_back("", std::move(it));
    arr.kids.insert(arr.kids.begin() + static_cast<long>(at), ins.begin(), ins.end());
    if (const Node* sort = each ? arg.find("$sort") : nullptr) {
        simple_append = false;
        sort_pushed(arr, *sort);
    }
    if (const Node* slice = each ? arg.find("$slice") : nullptr)
        simple_append = !slice_pushed(arr, *slice) && simple_append;
    return simple_append;
}

// $push and $addToSet
Result<Then> apply_push(Ctx& ctx, const Target& t) {
    if (t.cur && t.cur->type != BSON_TYPE_ARRAY)
        return Error{2,
                     "The field '" + t.dotted + "' must be an array but is of type " +
                         type_name(t.cur->type) + " in document {_id: ...}",
                     {}};
    std::vector<Node> items;
    const Node* each = t.arg.type == BSON_TYPE_DOCUMENT ? t.arg.find("$each") : nullptr;
    if (each) {
        if (each->type != BSON_TYPE_ARRAY)
            return Error{2, "The argument to $each in " + t.op + " must be an array", {}};
        for (const auto& kv : each->kids) items.push_back(kv.second);
    } else {
        items.push_back(t.arg);
    }
    Node arr = t.cur ? *t.cur : Node::array();
    size_t old_size = arr.kids.size();
    bool simple_append = true;
    if (t.op == "$addToSet") {
        for (auto& it : items) {
            bool present = false;
            for (auto& kv : arr.kids) present = present || compare_nodes(kv.second, it) == 0;
            if (!present) arr.kids.emplace_back("", std::move(it));
        }
    } else {
        simple_append = push_items(arr, std::move(items), t.arg, each != nullptr);
    }
    arr.renumber();
    if (t.cur && simple_append) {
        for (size_t i = old_size; i < arr.kids.size(); ++i)
            ctx.out->updated_fields.set(t.dotted + "." + std::to_string(i), arr.kids[i].second);
        auto s = set_at(*ctx.root, t.path, std::move(arr));
        if (!s.ok()) return s.error();
        return Then::kDone;
    }
    return set_to(ctx, t, std::move(arr));
}

// $pull: removes the elements of ARR that match ARG (a query on the elements, or a value).
Status pull_matching(Node& arr, const Node& arg) {
    bool doc_filter =
        arg.type == BSON_TYPE_DOCUMENT && !arg.kids.empty() && arg.kids[0].first[0] != '$';
    Doc cond = arg.type == BSON_TYPE_DOCUMENT ? arg.to_doc() : Doc();
    Doc wrapped_filter;
    arg.append_to(wrapped_filter.get(), "v");
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
    return err;
}

// $pull, $pullAll and $pop
Result<Then> apply_pull(Ctx& ctx, const Target& t) {
    if (!t.cur) return Then::kDone;
    if (t.cur->type != BSON_TYPE_ARRAY)
        return Error{t.op == "$pop" ? 14 : 2, "Cannot apply " + t.op + " to a non-array value", {}};
    Node arr = *t.cur;
    if (t.op == "$pop") {
        if (!arr.kids.empty()) {
            if (t.arg.as_double() < 0)
                arr.kids.erase(arr.kids.begin());
            else
                arr.kids.pop_back();
        }
    } else if (t.op == "$pullAll") {
        if (t.arg.type != BSON_TYPE_ARRAY)
            return Error{2, "$pullAll requires an array argument", {}};
        std::erase_if(arr.kids, [&](const auto& kv) {
            for (const auto& x : t.arg.kids)
                if (compare_nodes(kv.second, x.second) == 0) return true;
            return false;
        });
    } else {
        auto s = pull_matching(arr, t.arg);
        if (!s.ok()) return s.error();
    }
    arr.renumber();
    return set_to(ctx, t, std::move(arr));
}

Result<Then> apply_operator(Ctx& ctx, const Target& t) {
    const std::string& op = t.op;
    if (op == "$set" || (op == "$setOnInsert" && ctx.spec->upsert_insert))
        return set_to(ctx, t, t.arg);
    if (op == "$setOnInsert") return Then::kDone;
    if (op == "$unset") {
        if (!t.cur) return Then::kDone;
        unset_at(*ctx.root, t.path);
        ctx.out->removed_fields.push_back(t.dotted);
        return Then::kDone;
    }
    if (op == "$inc" || op == "$mul") return apply_arithmetic(ctx, t);
    if (op == "$min" || op == "$max") {
        if (t.cur) {
            int c = compare_nodes(t.arg, *t.cur);
            if ((op == "$min" && c >= 0) || (op == "$max" && c <= 0)) return Then::kDone;
        }
        return set_to(ctx, t, t.arg);
    }
    if (op == "$currentDate") return apply_current_date(ctx, t);
    if (op == "$push" || op == "$addToSet") return apply_push(ctx, t);
    if (op == "$pull" || op == "$pullAll" || op == "$pop") return apply_pull(ctx, t);
    return Error{9,
                 "Unknown modifier: " + op +
                     ". Expected a valid update modifier or pipeline-style update specified as "
                     "an array",
                 {}};
}

// When an operation creates missing parents, the server reports the outermost created field as
// a whole ({"x": {"y": 1}} rather than "x.y"): the number of parts of P that existed, plus one.
size_t reported_depth(Ctx& ctx, const Path& p, bool existed) {
    if (existed) return p.size();
    for (size_t i = 1; i < p.size(); ++i)
        if (!get_node(*ctx.root, Path(p.begin(), p.begin() + static_cast<long>(i)))) return i;
    return p.size();
}

}  // namespace

Status apply_one(Ctx& ctx, const std::string& op, const std::string& field,
                 const bson_iter_t* arg) {
    Path raw = split(field);
    if (raw.size() > kMaxPathParts)
        return Error{2, "update path is nested too deeply: " + field, {}};
    if (op == "$rename") return apply_rename(ctx, field, raw, arg);
    auto exp = expand(ctx, raw);
    if (!exp.ok()) return exp.error();
    Node argn = Node::from_iter(arg);
    for (const Path& p : exp.value()) {
        const Node* cur = get_node(*ctx.root, p);
        Node before = cur ? *cur : Node();
        size_t depth = reported_depth(ctx, p, cur != nullptr);
        Target t{op, field, p, join(p, p.size()), cur ? &before : nullptr, argn};
        auto then = apply_operator(ctx, t);
        if (!then.ok()) return then.error();
        if (then.value() == Then::kDone) continue;
        Node* after = get_node(*ctx.root, p);
        if (after && (!cur || !identical(before, *after)))
            record_set(ctx, Path(p.begin(), p.begin() + static_cast<long>(depth)));
    }
    return ok_status();
}

}  // namespace standin::update_paths
