// Query results (objects, ids, count, first, unique) and property aggregates.
#include <algorithm>
#include <set>

#include "store/codec.hpp"
#include "store/index_key.hpp"
#include "store/query_impl.hpp"

namespace outpost {

using detail::QueryImpl;
using detail::ValKind;

namespace {

Result<MDB_txn*> usable(Txn& txn) {
    OUTPOST_RETURN_IF_ERROR(txn.check_usable());
    return detail::Access::state(txn)->txn;
}

template <typename Fn>
auto in_read_txn(QueryImpl& q, Fn&& fn) -> decltype(fn(std::declval<Txn&>())) {
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, q.box->store()->begin_read());
    return fn(txn);
}

// Runs Q with offset and limit replaced (restored afterwards).
Result<std::vector<uint64_t>> run_window(QueryImpl& q, MDB_txn* txn, uint64_t limit) {
    uint64_t saved = q.limit;
    q.limit = std::min(q.limit, limit);
    auto r = detail::run_query(q, txn);
    q.limit = saved;
    return r;
}

struct AggTarget {
    int pos = 0;
    bool is_id = false;
    bool is_unsigned = false;
    ValKind kind = ValKind::kInt;
};

Result<AggTarget> agg_target(const QueryImpl& q, std::string_view property, bool numeric_only) {
    auto it = q.info->prop_by_name.find(std::string(property));
    if (it == q.info->prop_by_name.end()) {
        return Status(ErrorCode::kUnknownProperty, "query: " + q.info->entity->name +
                                                       " has no property " + std::string(property));
    }
    const Property& p = q.info->entity->properties[it->second];
    AggTarget t;
    t.pos = it->second;
    t.is_id = p.has(kFlagId);
    t.is_unsigned = t.is_id || p.has(kFlagUnsigned);
    t.kind = t.is_id ? ValKind::kInt : detail::val_kind_of(p);
    bool ok = t.kind == ValKind::kInt || t.kind == ValKind::kBool || t.kind == ValKind::kDouble ||
              (!numeric_only && t.kind == ValKind::kString);
    if (!ok) {
        return Status(ErrorCode::kTypeMismatch, "query: cannot aggregate " + p.name + " (" +
                                                    std::string(property_type_name(p.type)) + ")");
    }
    return t;
}

// Calls FN(Value) with each non-null value of T in the results of Q.
template <typename Fn>
Status for_each_value(QueryImpl& q, Txn& txn, const AggTarget& t, Fn&& fn) {
    OUTPOST_ASSIGN_OR_RETURN(MDB_txn * mt, usable(txn));
    return detail::for_each_result(q, mt, [&](uint64_t id, const ObjectReader& r) {
        if (t.is_id) {
            fn(Value(static_cast<int64_t>(id)));
        } else if (!r.is_null(t.pos)) {
            switch (t.kind) {
                case ValKind::kDouble:
                    fn(Value(r.get_double(t.pos)));
                    break;
                case ValKind::kString:
                    fn(Value(std::string(r.get_string(t.pos))));
                    break;
                case ValKind::kBool:
                    fn(Value(r.get_bool(t.pos)));
                    break;
                default:
                    fn(Value(r.get_int(t.pos)));
                    break;
            }
        }
        return Status::ok();
    });
}

// Whether A orders before B (same kind; unsigned integers as unsigned).
bool value_less(const Value& a, const Value& b, bool is_unsigned) {
    if (a.is<int64_t>()) {
        return is_unsigned
                   ? static_cast<uint64_t>(a.as<int64_t>()) < static_cast<uint64_t>(b.as<int64_t>())
                   : a.as<int64_t>() < b.as<int64_t>();
    }
    if (a.is<double>())
        return detail::ordered_double_bits(a.as<double>()) <
               detail::ordered_double_bits(b.as<double>());
    if (a.is<bool>()) return !a.as<bool>() && b.as<bool>();
    return a.as<std::string>() < b.as<std::string>();
}

Result<std::optional<Value>> min_max(QueryImpl& q, Txn& txn, std::string_view property,
                                     bool want_max) {
    OUTPOST_ASSIGN_OR_RETURN(AggTarget t, agg_target(q, property, false));
    std::optional<Value> best;
    OUTPOST_RETURN_IF_ERROR(for_each_value(q, txn, t, [&](Value v) {
        if (!best || (want_max ? value_less(*best, v, t.is_unsigned)
                               : value_less(v, *best, t.is_unsigned))) {
            best = std::move(v);
        }
    }));
    return best;
}

}  // namespace

Result<std::vector<uint64_t>> Query::find_ids(Txn& txn) {
    OUTPOST_ASSIGN_OR_RETURN(MDB_txn * t, usable(txn));
    return detail::run_query(*impl_, t);
}

Status Query::for_each(Txn& txn, const std::function<Status(uint64_t, const ObjectReader&)>& fn) {
    OUTPOST_ASSIGN_OR_RETURN(MDB_txn * t, usable(txn));
    return detail::for_each_result(*impl_, t, fn);
}

Result<std::vector<Object>> Query::find(Txn& txn) {
    OUTPOST_ASSIGN_OR_RETURN(MDB_txn * t, usable(txn));
    return detail::run_query_objects(*impl_, t);
}

Result<uint64_t> Query::count(Txn& txn) {
    const QueryImpl& q = *impl_;
    if (q.root.kind == detail::QNode::Kind::kAnd && q.root.children.empty()) {
        // No condition: the table's entry count, without reading objects.
        OUTPOST_ASSIGN_OR_RETURN(MDB_txn * t, usable(txn));
        uint64_t n = 0;
        if (q.info->objects != 0) {
            MDB_stat st;
            OUTPOST_RETURN_IF_ERROR(
                detail::lmdb_status(mdb_stat(t, q.info->objects, &st), "query count"));
            n = st.ms_entries;
        }
        n = n > q.offset ? n - q.offset : 0;
        return std::min(n, q.limit);
    }
    OUTPOST_ASSIGN_OR_RETURN(auto ids, find_ids(txn));
    return static_cast<uint64_t>(ids.size());
}

Result<std::optional<Object>> Query::find_first(Txn& txn) {
    OUTPOST_ASSIGN_OR_RETURN(MDB_txn * t, usable(txn));
    OUTPOST_ASSIGN_OR_RETURN(auto ids, run_window(*impl_, t, 1));
    if (ids.empty()) return std::optional<Object>();
    return impl_->box->get(txn, ids[0]);
}

Result<std::optional<Object>> Query::find_unique(Txn& txn) {
    OUTPOST_ASSIGN_OR_RETURN(MDB_txn * t, usable(txn));
    OUTPOST_ASSIGN_OR_RETURN(auto ids, run_window(*impl_, t, 2));
    if (ids.empty()) return std::optional<Object>();
    if (ids.size() > 1) {
        return Status(ErrorCode::kIllegalState,
                      "query: more than one " + impl_->info->entity->name + " matches (" +
                          std::to_string(ids[0]) + ", " + std::to_string(ids[1]) + ", ...)");
    }
    return impl_->box->get(txn, ids[0]);
}

Result<bool> Query::matches(Txn& txn, uint64_t id) {
    OUTPOST_ASSIGN_OR_RETURN(MDB_txn * t, usable(txn));
    OUTPOST_RETURN_IF_ERROR(detail::check_bound(*impl_));
    OUTPOST_ASSIGN_OR_RETURN(auto raw, detail::query_get_raw(t, *impl_->info, id));
    if (!raw) return false;
    ObjectReader r = detail::Access::reader(impl_->info, static_cast<const uint8_t*>(raw->mv_data),
                                            raw->mv_size);
    return detail::eval_node(*impl_, t, impl_->root, id, r);
}

Result<bool> Query::matches(Txn& txn, const Object& object) {
    OUTPOST_ASSIGN_OR_RETURN(MDB_txn * t, usable(txn));
    OUTPOST_RETURN_IF_ERROR(detail::check_bound(*impl_));
    if (&object.entity() != impl_->info->entity &&
        object.entity().name != impl_->info->entity->name) {
        return Status(ErrorCode::kInvalidArgument, "query on " + impl_->info->entity->name +
                                                       " cannot match an object of " +
                                                       object.entity().name);
    }
    // Encoded like a put, so that matching reads it exactly as it would read the stored object.
    auto* ws = detail::writer_begin(*impl_->info);
    ObjectWriter w = detail::Access::writer(ws);
    OUTPOST_RETURN_IF_ERROR(detail::write_object(object, w));
    OUTPOST_ASSIGN_OR_RETURN(auto bytes, detail::writer_finish(ws));
    ObjectReader r = detail::Access::reader(impl_->info, bytes.data(), bytes.size());
    return detail::eval_node(*impl_, t, impl_->root, object.id, r);
}

Result<std::vector<Object>> Query::find() {
    return in_read_txn(*impl_, [&](Txn& t) { return find(t); });
}
Result<std::vector<uint64_t>> Query::find_ids() {
    return in_read_txn(*impl_, [&](Txn& t) { return find_ids(t); });
}
Result<uint64_t> Query::count() {
    return in_read_txn(*impl_, [&](Txn& t) { return count(t); });
}
Result<std::optional<Object>> Query::find_first() {
    return in_read_txn(*impl_, [&](Txn& t) { return find_first(t); });
}
Result<std::optional<Object>> Query::find_unique() {
    return in_read_txn(*impl_, [&](Txn& t) { return find_unique(t); });
}

Result<std::optional<Value>> Query::min(Txn& txn, std::string_view property) {
    return min_max(*impl_, txn, property, false);
}

Result<std::optional<Value>> Query::max(Txn& txn, std::string_view property) {
    return min_max(*impl_, txn, property, true);
}

Result<Value> Query::sum(Txn& txn, std::string_view property) {
    OUTPOST_ASSIGN_OR_RETURN(AggTarget t, agg_target(*impl_, property, true));
    if (t.kind == ValKind::kDouble) {
        double s = 0;
        OUTPOST_RETURN_IF_ERROR(
            for_each_value(*impl_, txn, t, [&](const Value& v) { s += v.as<double>(); }));
        return Value(s);
    }
    int64_t s = 0;
    uint64_t us = 0;
    bool overflow = false;
    OUTPOST_RETURN_IF_ERROR(for_each_value(*impl_, txn, t, [&](const Value& v) {
        int64_t x = v.is<bool>() ? (v.as<bool>() ? 1 : 0) : v.as<int64_t>();
        if (t.is_unsigned) {
            overflow = overflow || __builtin_add_overflow(us, static_cast<uint64_t>(x), &us);
        } else {
            overflow = overflow || __builtin_add_overflow(s, x, &s);
        }
    }));
    if (t.is_unsigned && us > static_cast<uint64_t>(INT64_MAX)) overflow = true;
    if (overflow) {
        return Status(ErrorCode::kValueOutOfRange,
                      "query: the sum of " + std::string(property) + " does not fit in int64");
    }
    return Value(t.is_unsigned ? static_cast<int64_t>(us) : s);
}

Result<std::optional<double>> Query::average(Txn& txn, std::string_view property) {
    OUTPOST_ASSIGN_OR_RETURN(AggTarget t, agg_target(*impl_, property, true));
    long double s = 0;
    uint64_t n = 0;
    OUTPOST_RETURN_IF_ERROR(for_each_value(*impl_, txn, t, [&](const Value& v) {
        ++n;
        if (v.is<double>()) {
            s += v.as<double>();
        } else if (v.is<bool>()) {
            s += v.as<bool>() ? 1 : 0;
        } else if (t.is_unsigned) {
            s += static_cast<long double>(static_cast<uint64_t>(v.as<int64_t>()));
        } else {
            s += static_cast<long double>(v.as<int64_t>());
        }
    }));
    if (n == 0) return std::optional<double>();
    return std::optional<double>(static_cast<double>(s / static_cast<long double>(n)));
}

Result<uint64_t> Query::count_distinct(Txn& txn, std::string_view property) {
    OUTPOST_ASSIGN_OR_RETURN(AggTarget t, agg_target(*impl_, property, false));
    std::set<std::string> seen;
    OUTPOST_RETURN_IF_ERROR(for_each_value(*impl_, txn, t, [&](const Value& v) {
        if (v.is<std::string>()) {
            seen.insert("s" + v.as<std::string>());
        } else if (v.is<double>()) {
            seen.insert("d" + detail::double_key(v.as<double>()));
        } else {
            seen.insert("i" +
                        detail::int_key(v.is<bool>() ? v.as<bool>() : v.as<int64_t>(), false));
        }
    }));
    return static_cast<uint64_t>(seen.size());
}

}  // namespace outpost
