// Queries ordered by an indexed property: the matches come from a walk of the property's value
// index in key order, so a page (offset + limit) reads about that many objects instead of every
// match (query_eval.cpp sorts in memory otherwise).
#include <algorithm>
#include <vector>

#include "store/index_key.hpp"
#include "store/lmdb_util.hpp"
#include "store/query_impl.hpp"

namespace outpost::detail {

namespace {

ObjectReader reader_at(const EntityInfo& e, const MDB_val& v) {
    return Access::reader(&e, static_cast<const uint8_t*>(v.mv_data), v.mv_size);
}

// Whether the keys of a value index of P sort as the query orders P (query_eval.cpp's sort_value):
// integers (signed or unsigned, as the index keys them), dates, floats, and strings by their bytes
// (a key cut at kMaxStringKey bytes is sorted out by the whole values, order_cut_group). Not bools
// or relations.
bool index_sorts_like_order(const Property& p) {
    switch (p.type) {
        case PropertyType::kString:
        case PropertyType::kInt8:
        case PropertyType::kInt16:
        case PropertyType::kInt32:
        case PropertyType::kInt64:
        case PropertyType::kDate:
        case PropertyType::kDateNano:
        case PropertyType::kFloat:
        case PropertyType::kDouble:
            return true;
        default:
            return false;
    }
}

// Closes a cursor at the end of its scope.
struct CursorCloser {
    MDB_cursor* cursor;
    ~CursorCloser() { mdb_cursor_close(cursor); }
};

}  // namespace

const IndexInfo* order_index(const QueryImpl& q, const Plan& plan) {
    if (q.orders.size() != 1) return nullptr;
    const OrderKey& o = q.orders[0];
    if (o.is_id || !o.prop || (o.flags & kOrderCaseInsensitive)) return nullptr;
    if (!index_sorts_like_order(*o.prop)) return nullptr;
    const int at = q.info->index_of_prop[static_cast<size_t>(o.pos)];
    if (at < 0) return nullptr;
    const IndexInfo& idx = q.info->indexes[static_cast<size_t>(at)];
    if (idx.hash || idx.dbi == 0) return nullptr;
    // A plan on another index (or a union, or an id lookup) reads few candidates: sorting them is
    // cheaper than walking this index past every object that does not match.
    if (plan.kind == Plan::Kind::kScan) return &idx;
    if (plan.kind == Plan::Kind::kIndex && plan.leaf >= 0) {
        const Leaf& l = q.leaves[static_cast<size_t>(plan.leaf)];
        if (l.hops.empty() && !l.is_id && l.pos == o.pos) return &idx;
    }
    return nullptr;
}

namespace {

// Calls VISIT for every object of Q's entity whose property IDX is null, in id order, until VISIT
// returns false (then returns false).
Result<bool> visit_nulls(const QueryImpl& q, MDB_txn* txn, const IndexInfo& idx,
                         const std::function<Result<bool>(uint64_t, const MDB_val&)>& visit) {
    if (q.info->objects == 0) return true;
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(
        lmdb_status(mdb_cursor_open(txn, q.info->objects, &cur), "query order (nulls)"));
    CursorCloser closer{cur};
    MDB_val k, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        // Read through query_get_raw so a damaged object is an error when reads are verified.
        const uint64_t id = read_u64(k);
        OUTPOST_ASSIGN_OR_RETURN(auto raw, query_get_raw(txn, *q.info, id));
        if (!raw || !reader_at(*q.info, *raw).is_null(idx.prop_pos)) continue;
        OUTPOST_ASSIGN_OR_RETURN(bool more, visit(id, *raw));
        if (!more) return false;
    }
    if (rc != MDB_NOTFOUND) return lmdb_status(rc, "query order (nulls)");
    return true;
}

// IDS share a string key cut at kMaxStringKey bytes, which may stand for several values: orders
// them by their whole values (descending when DESC), ties by id.
Status order_cut_group(const QueryImpl& q, MDB_txn* txn, const IndexInfo& idx, bool desc,
                       std::vector<uint64_t>& ids) {
    std::vector<std::pair<std::string_view, uint64_t>> values;
    for (uint64_t id : ids) {
        OUTPOST_ASSIGN_OR_RETURN(auto raw, query_get_raw(txn, *q.info, id));
        if (raw) values.emplace_back(reader_at(*q.info, *raw).get_string(idx.prop_pos), id);
    }
    std::sort(values.begin(), values.end(), [desc](const auto& a, const auto& b) {
        const int c = a.first.compare(b.first);
        if (c != 0) return desc ? c > 0 : c < 0;
        return a.second < b.second;
    });
    ids.clear();
    for (const auto& [value, id] : values) ids.push_back(id);
    return Status::ok();
}

// Calls VISIT for the objects in index IDX of Q's entity, by key (descending when DESC), the ids
// of one key in ascending order, until VISIT returns false (then returns false).
Result<bool> visit_index(const QueryImpl& q, MDB_txn* txn, const IndexInfo& idx, bool desc,
                         const std::function<Result<bool>(uint64_t)>& visit) {
    MDB_cursor* cur;
    OUTPOST_RETURN_IF_ERROR(lmdb_status(mdb_cursor_open(txn, idx.dbi, &cur), "query order"));
    CursorCloser closer{cur};
    MDB_val k, v;
    std::vector<uint64_t> ids;
    int rc = mdb_cursor_get(cur, &k, &v, desc ? MDB_LAST : MDB_FIRST);
    while (rc == 0) {
        // The ids of this key (duplicates sort by their bytes, not as numbers). Positioned again by
        // the key: MDB_LAST leaves the cursor at its end, where MDB_NEXT_DUP finds nothing.
        ids.clear();
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
        for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) ids.push_back(read_u64(v));
        if (rc != MDB_NOTFOUND) break;
        std::sort(ids.begin(), ids.end());
        if (idx.prop->type == PropertyType::kString && k.mv_size > kMaxStringKey) {
            OUTPOST_RETURN_IF_ERROR(order_cut_group(q, txn, idx, desc, ids));
        }
        for (uint64_t id : ids) {
            OUTPOST_ASSIGN_OR_RETURN(bool more, visit(id));
            if (!more) return false;
        }
        // From the last duplicate of this key to the next key (the previous one when DESC).
        rc = mdb_cursor_get(cur, &k, &v, desc ? MDB_PREV_NODUP : MDB_NEXT_NODUP);
    }
    if (rc != MDB_NOTFOUND) return lmdb_status(rc, "query order");
    return true;
}

}  // namespace

Status for_each_match_in_index_order(const QueryImpl& q, MDB_txn* txn, const IndexInfo& idx,
                                     const std::function<bool(uint64_t, const ObjectReader&)>& fn) {
    const uint32_t flags = q.orders[0].flags;
    auto match = [&](uint64_t id, const MDB_val& raw) -> Result<bool> {
        const ObjectReader r = reader_at(*q.info, raw);
        OUTPOST_ASSIGN_OR_RETURN(bool m, eval_node(q, txn, q.root, id, r));
        return !m || fn(id, r);
    };
    auto nulls = [&]() { return visit_nulls(q, txn, idx, match); };
    if (flags & kOrderNullsFirst) {
        OUTPOST_ASSIGN_OR_RETURN(bool more, nulls());
        if (!more) return Status::ok();
    }
    OUTPOST_ASSIGN_OR_RETURN(
        bool more,
        visit_index(q, txn, idx, flags & kOrderDescending, [&](uint64_t id) -> Result<bool> {
            OUTPOST_ASSIGN_OR_RETURN(auto raw, query_get_raw(txn, *q.info, id));
            if (!raw) return true;
            return match(id, *raw);
        }));
    if (more && !(flags & kOrderNullsFirst)) OUTPOST_RETURN_IF_ERROR(nulls().status());
    return Status::ok();
}

}  // namespace outpost::detail
