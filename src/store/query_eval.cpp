// Query evaluation: matching objects in place (zero-copy readers on the memory map), following
// relations for link paths, ordering, offset and limit, and the result forms and aggregates.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "store/codec.hpp"
#include "store/index_key.hpp"
#include "store/query_impl.hpp"

namespace outpost {
namespace detail {

namespace {

constexpr int kUnordered = 2;

template <typename T>
int three_way(const T& a, const T& b) {
    if (a < b) return -1;
    if (b < a) return 1;
    if (a == b) return 0;
    return kUnordered;  // NaN
}

int cmp_int(int64_t stored, bool is_unsigned, int64_t lit) {
    if (!is_unsigned) return three_way(stored, lit);
    if (lit < 0) return 1;
    return three_way(static_cast<uint64_t>(stored), static_cast<uint64_t>(lit));
}

// Applies a comparison operator to CMP(i), the order of the stored value against operand i.
template <typename Cmp>
bool apply(QueryOp op, size_t n, const Cmp& cmp) {
    switch (op) {
        case QueryOp::kEqual:
            return cmp(0) == 0;
        case QueryOp::kNotEqual:
            return cmp(0) != 0;
        case QueryOp::kLess:
            return cmp(0) == -1;
        case QueryOp::kLessOrEqual: {
            int c = cmp(0);
            return c == -1 || c == 0;
        }
        case QueryOp::kGreater:
            return cmp(0) == 1;
        case QueryOp::kGreaterOrEqual: {
            int c = cmp(0);
            return c == 1 || c == 0;
        }
        case QueryOp::kBetween: {
            int lo = cmp(0), hi = cmp(1);
            return (lo == 1 || lo == 0) && (hi == -1 || hi == 0);
        }
        case QueryOp::kIn:
            for (size_t i = 0; i < n; ++i) {
                if (cmp(i) == 0) return true;
            }
            return false;
        default:
            return false;
    }
}

void fold_into(std::string_view s, std::string& out) {
    out.assign(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
}

bool match_string(const Leaf& l, std::string_view s) {
    thread_local std::string folded;
    if (!l.case_sensitive) {
        fold_into(s, folded);
        s = folded;
    }
    const auto& lits = l.strings;
    switch (l.op) {
        case QueryOp::kStartsWith:
            return s.substr(0, lits[0].size()) == lits[0];
        case QueryOp::kEndsWith:
            return s.size() >= lits[0].size() && s.substr(s.size() - lits[0].size()) == lits[0];
        case QueryOp::kContains:
            return s.find(lits[0]) != std::string_view::npos;
        case QueryOp::kIn:
            return std::binary_search(lits.begin(), lits.end(), s);
        default:
            return apply(l.op, lits.size(),
                         [&](size_t i) { return three_way(s, std::string_view(lits[i])); });
    }
}

bool match_double(const Leaf& l, double x) {
    return apply(l.op, l.doubles.size(), [&](size_t i) { return three_way(x, l.doubles[i]); });
}

bool match_int(const Leaf& l, int64_t raw) {
    if (l.double_mode) {
        double x = l.is_unsigned ? static_cast<double>(static_cast<uint64_t>(raw))
                                 : static_cast<double>(raw);
        return match_double(l, x);
    }
    if (l.op == QueryOp::kIn && !l.is_unsigned)
        return std::binary_search(l.ints.begin(), l.ints.end(), raw);
    return apply(l.op, l.ints.size(),
                 [&](size_t i) { return cmp_int(raw, l.is_unsigned, l.ints[i]); });
}

// Compares the leaf's property of object ID (stored as R) with the leaf's operands.
bool match_leaf(const Leaf& l, uint64_t id, const ObjectReader& r) {
    bool null = l.is_id ? false : r.is_null(l.pos);
    if (l.op == QueryOp::kIsNull) return null;
    if (l.op == QueryOp::kIsNotNull) return !null;
    if (null) return false;
    switch (l.kind) {
        case ValKind::kInt:
        case ValKind::kBool:
            return match_int(l, l.is_id ? static_cast<int64_t>(id) : r.get_int(l.pos));
        case ValKind::kDouble:
            return match_double(l, r.get_double(l.pos));
        case ValKind::kString:
            return match_string(l, r.get_string(l.pos));
        case ValKind::kBytes: {
            auto b = r.get_bytes(l.pos);
            bool eq = b.size() == l.bytes.size() && std::equal(b.begin(), b.end(), l.bytes.begin());
            return l.op == QueryOp::kEqual ? eq : !eq;
        }
        case ValKind::kIntVector: {
            auto v = r.get_int_vector(l.pos);
            if (l.double_mode) {
                return std::any_of(v.begin(), v.end(), [&](int64_t x) {
                    return (l.is_unsigned ? static_cast<double>(static_cast<uint64_t>(x))
                                          : static_cast<double>(x)) == l.doubles[0];
                });
            }
            return std::find(v.begin(), v.end(), l.ints[0]) != v.end();
        }
        case ValKind::kDoubleVector: {
            auto v = r.get_double_vector(l.pos);
            return std::find(v.begin(), v.end(), l.doubles[0]) != v.end();
        }
        case ValKind::kStringVector: {
            std::string f;
            for (const auto& s : r.get_string_vector(l.pos)) {
                if (!l.case_sensitive) {
                    fold_into(s, f);
                    if (f == l.strings[0]) return true;
                } else if (s == l.strings[0]) {
                    return true;
                }
            }
            return false;
        }
        case ValKind::kFlex:
            return false;
    }
    return false;
}

ObjectReader reader_of(const EntityInfo& e, const MDB_val& v) {
    return detail::Access::reader(&e, static_cast<const uint8_t*>(v.mv_data), v.mv_size);
}

Result<std::vector<uint64_t>> dup_values(MDB_txn* txn, MDB_dbi dbi, const MDB_val& key) {
    std::vector<uint64_t> out;
    if (dbi == 0) return out;
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_cursor_open(txn, dbi, &cur), "query link"));
    MDB_val k = key, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) out.push_back(read_u64(v));
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) return lmdb_status(rc, "query link");
    return out;
}

// The ids that hop H leads to from object ID (stored as R).
Result<std::vector<uint64_t>> hop_targets(MDB_txn* txn, const Hop& h, uint64_t id,
                                          const ObjectReader& r) {
    std::vector<uint64_t> out;
    switch (h.kind) {
        case Hop::Kind::kToOne:
            if (!r.is_null(h.pos) && r.get_int(h.pos) != 0)
                out.push_back(static_cast<uint64_t>(r.get_int(h.pos)));
            return out;
        case Hop::Kind::kToMany: {
            const RelationInfo& rel = h.from->relations[h.pos];
            if (rel.list_dbi == 0) return out;
            MDB_val k = mdb_val(&id, 8), v;
            int rc = mdb_get(txn, rel.list_dbi, &k, &v);
            if (rc == MDB_NOTFOUND) return out;
            OUTPOST_RETURN_IF_ERROR(lmdb_status(rc, "query link " + rel.rel->name));
            out.resize(v.mv_size / 8);
            if (!out.empty()) std::memcpy(out.data(), v.mv_data, out.size() * 8);
            return out;
        }
        case Hop::Kind::kBacklinkToOne: {
            const IndexInfo& idx = h.to->indexes[h.to->index_of_prop[h.pos]];
            std::string key = int_key(static_cast<int64_t>(id), idx.prop->has(kFlagUnsigned));
            return dup_values(txn, idx.dbi, mdb_val(key.data(), key.size()));
        }
        case Hop::Kind::kBacklinkToMany:
            return dup_values(txn, h.to->relations[h.pos].backlink_dbi, mdb_val(&id, 8));
    }
    return out;
}

Result<bool> match_path(MDB_txn* txn, const Leaf& l, size_t hop, uint64_t id,
                        const ObjectReader& r) {
    if (hop == l.hops.size()) return match_leaf(l, id, r);
    const Hop& h = l.hops[hop];
    OUTPOST_ASSIGN_OR_RETURN(auto targets, hop_targets(txn, h, id, r));
    for (uint64_t t : targets) {
        OUTPOST_ASSIGN_OR_RETURN(auto raw, query_get_raw(txn, *h.to, t));
        if (!raw) continue;
        OUTPOST_ASSIGN_OR_RETURN(bool m, match_path(txn, l, hop + 1, t, reader_of(*h.to, *raw)));
        if (m) return true;
    }
    return false;
}

// One sort key value of one object.
struct SortValue {
    bool null = true;
    int64_t i = 0;
    uint64_t u = 0;  // unsigned integers, double order bits
    std::string s;
};

struct Row {
    uint64_t id;
    std::vector<SortValue> keys;
    std::span<const uint8_t> raw;  // the stored object
};

SortValue sort_value(const OrderKey& o, uint64_t id, const ObjectReader& r) {
    SortValue v;
    if (o.is_id) {
        v.null = false;
        v.u = id;
        return v;
    }
    if (r.is_null(o.pos)) return v;
    v.null = false;
    switch (val_kind_of(*o.prop)) {
        case ValKind::kDouble:
            v.u = ordered_double_bits(r.get_double(o.pos));
            break;
        case ValKind::kString:
            if (o.flags & kOrderCaseInsensitive) {
                fold_into(r.get_string(o.pos), v.s);
            } else {
                v.s.assign(r.get_string(o.pos));
            }
            break;
        case ValKind::kBytes: {
            auto b = r.get_bytes(o.pos);
            v.s.assign(reinterpret_cast<const char*>(b.data()), b.size());
            break;
        }
        default:
            if (o.prop->has(kFlagUnsigned)) {
                v.u = static_cast<uint64_t>(r.get_int(o.pos));
            } else {
                v.i = r.get_int(o.pos);
            }
    }
    return v;
}

bool row_less(const std::vector<OrderKey>& orders, const Row& a, const Row& b) {
    for (size_t k = 0; k < orders.size(); ++k) {
        const SortValue& x = a.keys[k];
        const SortValue& y = b.keys[k];
        bool nulls_first = orders[k].flags & kOrderNullsFirst;
        if (x.null != y.null) return x.null == nulls_first;
        if (x.null) continue;
        int c = x.i != y.i   ? (x.i < y.i ? -1 : 1)
                : x.u != y.u ? (x.u < y.u ? -1 : 1)
                             : x.s.compare(y.s);
        if (c == 0) continue;
        return (orders[k].flags & kOrderDescending) ? c > 0 : c < 0;
    }
    return a.id < b.id;
}

// Matches every candidate (all objects for a scan) and calls FN(id, reader) for each match, in id
// order, until FN returns false.
template <typename Fn>
Status for_each_match(const QueryImpl& q, MDB_txn* txn, Fn&& fn) {
    const Plan& plan = plan_of(q);
    if (plan.kind == Plan::Kind::kScan) {
        if (q.info->objects == 0) return Status::ok();
        MDB_cursor* cur;
        OUTPOST_RETURN_IF_ERROR(
            lmdb_status(mdb_cursor_open(txn, q.info->objects, &cur), "query scan"));
        MDB_val k, v;
        int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        Status st;
        for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            uint64_t id = read_u64(k);
            if (q.info->verify_reads) {
                st = verify_object(*q.info, id, static_cast<const uint8_t*>(v.mv_data), v.mv_size);
                if (!st) break;
            }
            ObjectReader r = reader_of(*q.info, v);
            auto m = eval_node(q, txn, q.root, id, r);
            if (!m) {
                st = m.status();
                break;
            }
            if (*m && !fn(id, r)) break;
        }
        mdb_cursor_close(cur);
        OUTPOST_RETURN_IF_ERROR(st);
        if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_status(rc, "query scan");
        return Status::ok();
    }
    OUTPOST_ASSIGN_OR_RETURN(auto ids, plan_candidates(q, plan, txn));
    for (uint64_t id : ids) {
        OUTPOST_ASSIGN_OR_RETURN(auto raw, query_get_raw(txn, *q.info, id));
        if (!raw) continue;
        ObjectReader r = reader_of(*q.info, *raw);
        OUTPOST_ASSIGN_OR_RETURN(bool m, eval_node(q, txn, q.root, id, r));
        if (m && !fn(id, r)) break;
    }
    return Status::ok();
}

}  // namespace

Result<std::optional<MDB_val>> query_get_raw(MDB_txn* txn, const EntityInfo& e, uint64_t id) {
    if (e.objects == 0 || id == 0) return std::optional<MDB_val>();
    MDB_val k = mdb_val(&id, 8), v;
    int rc = mdb_get(txn, e.objects, &k, &v);
    if (rc == MDB_NOTFOUND) return std::optional<MDB_val>();
    OUTPOST_RETURN_IF_LMDB_ERROR(rc, "reading " + e.entity->name + " " + std::to_string(id));
    if (e.verify_reads) {
        OUTPOST_RETURN_IF_ERROR(
            verify_object(e, id, static_cast<const uint8_t*>(v.mv_data), v.mv_size));
    }
    return std::optional<MDB_val>(v);
}

Result<bool> eval_node(const QueryImpl& q, MDB_txn* txn, const QNode& n, uint64_t id,
                       const ObjectReader& r) {
    switch (n.kind) {
        case QNode::Kind::kLeaf: {
            const Leaf& l = q.leaves[n.leaf];
            if (l.hops.empty()) return match_leaf(l, id, r);
            return match_path(txn, l, 0, id, r);
        }
        case QNode::Kind::kNot: {
            OUTPOST_ASSIGN_OR_RETURN(bool m, eval_node(q, txn, n.children[0], id, r));
            return !m;
        }
        case QNode::Kind::kAnd:
        case QNode::Kind::kOr: {
            bool is_and = n.kind == QNode::Kind::kAnd;
            for (const auto& c : n.children) {
                OUTPOST_ASSIGN_OR_RETURN(bool m, eval_node(q, txn, c, id, r));
                if (m != is_and) return m;
            }
            return is_and;
        }
    }
    return false;
}

Result<std::vector<uint64_t>> reverse_hops(const Leaf& l, MDB_txn* txn, std::vector<uint64_t> ids) {
    for (size_t k = l.hops.size(); k-- > 0;) {
        const Hop& h = l.hops[k];
        std::vector<uint64_t> prev;
        for (uint64_t id : ids) {
            std::vector<uint64_t> found;
            switch (h.kind) {
                case Hop::Kind::kToOne: {
                    // Sources whose to-one property points to ID: the relation property's index.
                    int ii = h.from->index_of_prop[h.pos];
                    if (ii < 0)
                        return Status(ErrorCode::kInternal,
                                      "query: relation property without index");
                    const IndexInfo& idx = h.from->indexes[ii];
                    std::string key =
                        int_key(static_cast<int64_t>(id), idx.prop->has(kFlagUnsigned));
                    OUTPOST_ASSIGN_OR_RETURN(
                        found, dup_values(txn, idx.dbi, mdb_val(key.data(), key.size())));
                    break;
                }
                case Hop::Kind::kToMany: {
                    OUTPOST_ASSIGN_OR_RETURN(
                        found,
                        dup_values(txn, h.from->relations[h.pos].backlink_dbi, mdb_val(&id, 8)));
                    break;
                }
                case Hop::Kind::kBacklinkToOne:
                case Hop::Kind::kBacklinkToMany: {
                    // ID is a source object (of h.to); the object it points to is what we are
                    // after.
                    OUTPOST_ASSIGN_OR_RETURN(auto raw, query_get_raw(txn, *h.to, id));
                    if (!raw) break;
                    ObjectReader r = reader_of(*h.to, *raw);
                    Hop forward;
                    forward.kind = h.kind == Hop::Kind::kBacklinkToOne ? Hop::Kind::kToOne
                                                                       : Hop::Kind::kToMany;
                    forward.from = h.to;
                    forward.to = h.from;
                    forward.pos = h.pos;
                    OUTPOST_ASSIGN_OR_RETURN(found, hop_targets(txn, forward, id, r));
                    break;
                }
            }
            prev.insert(prev.end(), found.begin(), found.end());
        }
        std::sort(prev.begin(), prev.end());
        prev.erase(std::unique(prev.begin(), prev.end()), prev.end());
        ids = std::move(prev);
    }
    return ids;
}

Status check_bound(const QueryImpl& q) {
    for (const auto& l : q.leaves) {
        if (!l.list_bound) {
            return Status(ErrorCode::kIllegalState,
                          "query: parameter $" + l.list_param + " has no value");
        }
        for (size_t i = 0; i < l.bound.size(); ++i) {
            if (!l.bound[i]) {
                return Status(ErrorCode::kIllegalState,
                              "query: parameter $" + l.slot_params[i] + " has no value");
            }
        }
    }
    return Status::ok();
}

namespace {

// Calls EMIT(id, reader) for each result in order, offset and limit applied. Readers point into the
// memory map and stay valid while the transaction is open and not written to, so ordered results
// are not read twice.
template <typename Emit>
Status run_matches(const QueryImpl& q, MDB_txn* txn, Emit&& emit) {
    OUTPOST_RETURN_IF_ERROR(check_bound(q));
    if (q.limit == 0) return Status::ok();
    const uint64_t end = q.offset + q.limit < q.offset ? UINT64_MAX : q.offset + q.limit;
    if (q.orders.empty()) {
        uint64_t seen = 0;
        Status st;
        OUTPOST_RETURN_IF_ERROR(for_each_match(q, txn, [&](uint64_t id, const ObjectReader& r) {
            if (seen++ >= q.offset) st = emit(id, r);
            return st.is_ok() && seen < end;
        }));
        return st;
    }
    if (const IndexInfo* idx = order_index(q, plan_of(q))) {
        uint64_t seen = 0;
        Status st;
        OUTPOST_RETURN_IF_ERROR(
            for_each_match_in_index_order(q, txn, *idx, [&](uint64_t id, const ObjectReader& r) {
                if (seen++ >= q.offset) st = emit(id, r);
                return st.is_ok() && seen < end;
            }));
        return st;
    }
    std::vector<Row> rows;
    OUTPOST_RETURN_IF_ERROR(for_each_match(q, txn, [&](uint64_t id, const ObjectReader& r) {
        Row row{id, {}, r.raw()};
        row.keys.reserve(q.orders.size());
        for (const auto& o : q.orders) row.keys.push_back(sort_value(o, id, r));
        rows.push_back(std::move(row));
        return true;
    }));
    auto less = [&](const Row& a, const Row& b) { return row_less(q.orders, a, b); };
    if (end < rows.size()) {
        std::partial_sort(rows.begin(), rows.begin() + static_cast<ptrdiff_t>(end), rows.end(),
                          less);
        rows.resize(end);
    } else {
        std::sort(rows.begin(), rows.end(), less);
    }
    for (size_t i = q.offset; i < rows.size(); ++i) {
        OUTPOST_RETURN_IF_ERROR(emit(
            rows[i].id, detail::Access::reader(q.info, rows[i].raw.data(), rows[i].raw.size())));
    }
    return Status::ok();
}

}  // namespace

Result<std::vector<uint64_t>> run_query(const QueryImpl& q, MDB_txn* txn) {
    std::vector<uint64_t> out;
    OUTPOST_RETURN_IF_ERROR(run_matches(q, txn, [&](uint64_t id, const ObjectReader&) {
        out.push_back(id);
        return Status::ok();
    }));
    return out;
}

Status for_each_result(const QueryImpl& q, MDB_txn* txn,
                       const std::function<Status(uint64_t, const ObjectReader&)>& fn) {
    return run_matches(q, txn, fn);
}

Result<std::vector<Object>> run_query_objects(const QueryImpl& q, MDB_txn* txn) {
    std::vector<Object> out;
    OUTPOST_RETURN_IF_ERROR(run_matches(q, txn, [&](uint64_t id, const ObjectReader& r) -> Status {
        Object o(*q.info->entity);
        o.id = id;
        read_object(r, o);
        for (const auto& rel : q.info->relations) {
            Hop h;
            h.kind = Hop::Kind::kToMany;
            h.from = q.info;
            h.pos = rel.pos;
            OUTPOST_ASSIGN_OR_RETURN(o.to_many()[rel.pos], hop_targets(txn, h, id, r));
        }
        out.push_back(std::move(o));
        return Status::ok();
    }));
    return out;
}

}  // namespace detail
}  // namespace outpost
