#pragma once
// Query internals shared by query_builder.cpp (conditions, resolution, parameters), query_parse.cpp
// (the text syntax), query_plan.cpp (index or scan) and query_eval.cpp (matching, order,
// aggregates).
#include <lmdb.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "outpost/query.hpp"
#include "store/store_core.hpp"

namespace outpost::detail {

// The unresolved condition tree that Condition shares.
struct CondNode {
    enum class Kind { kAnd, kOr, kNot, kCompare };
    Kind kind = Kind::kCompare;
    std::vector<std::shared_ptr<const CondNode>> children;  // kAnd, kOr, kNot (one child)
    // kCompare:
    std::string path;
    QueryOp op = QueryOp::kEqual;
    std::vector<Value> operands;
    std::vector<std::string> slot_params;  // per operand: a `$name` parameter, or empty
    std::string list_param;                // `IN $name`: the whole operand list is a parameter
    bool case_sensitive = true;
    std::string alias;
};

// One step of a path through relations, from entity `from` to entity `to`.
struct Hop {
    enum class Kind { kToOne, kToMany, kBacklinkToOne, kBacklinkToMany };
    Kind kind = Kind::kToOne;
    const EntityInfo* from = nullptr;
    const EntityInfo* to = nullptr;
    // kToOne: property position in `from`; kToMany: relation position in `from`;
    // kBacklinkToOne: property position in `to` (the source); kBacklinkToMany: relation position in
    // `to`.
    int pos = 0;
};

// How a property's values are compared.
enum class ValKind {
    kInt,
    kDouble,
    kBool,
    kString,
    kBytes,
    kIntVector,
    kDoubleVector,
    kStringVector,
    kFlex
};

// A resolved comparison.
struct Leaf {
    std::string path;
    std::vector<Hop> hops;
    const EntityInfo* entity = nullptr;  // holds the property (the last hop's `to`, or the query's)
    int pos = 0;
    const Property* prop = nullptr;
    bool is_id = false;
    bool is_unsigned = false;
    ValKind kind = ValKind::kInt;
    QueryOp op = QueryOp::kEqual;
    bool case_sensitive = true;
    std::vector<Value> operands;
    std::vector<std::string> slot_params;
    std::vector<bool> bound;  // per operand slot
    std::string list_param;
    bool list_bound = true;
    std::string alias;

    // Prepared operands (prepare_leaf): numbers as ints (int mode) or doubles (double mode),
    // strings folded to lower case when not case-sensitive, IN lists sorted.
    bool double_mode = false;
    std::vector<int64_t> ints;
    std::vector<double> doubles;
    std::vector<std::string> strings;
    Bytes bytes;
};

// A resolved condition tree; leaves index QueryImpl::leaves.
struct QNode {
    enum class Kind { kAnd, kOr, kNot, kLeaf };
    Kind kind = Kind::kAnd;
    std::vector<QNode> children;
    int leaf = -1;
};

struct OrderKey {
    int pos = 0;
    const Property* prop = nullptr;
    bool is_id = false;
    uint32_t flags = 0;
};

// How a query finds its candidates (query_plan.cpp).
struct Plan {
    enum class Kind { kScan, kIndex, kIdLookup, kUnion };
    Kind kind = Kind::kScan;
    int leaf = -1;               // kIndex, kIdLookup: the leaf that drives
    std::vector<Plan> branches;  // kUnion: one plan per OR branch
};

struct QueryImpl {
    std::optional<DynamicBox> box;
    const EntityInfo* info = nullptr;
    QNode root;  // an empty kAnd matches every object
    std::vector<Leaf> leaves;
    std::vector<OrderKey> orders;
    uint64_t offset = 0;
    uint64_t limit = UINT64_MAX;
    // The plan for the current parameters; cleared when a parameter changes.
    mutable std::optional<Plan> plan;
};

// ---- query_builder.cpp, query_condition.cpp ----
// Checks LEAF's operands against its property and fills the prepared fields.
Status prepare_leaf(Leaf& leaf);
ValKind val_kind_of(const Property& p);
std::string cond_to_string(const CondNode& node);
std::string literal_text(const Value& v);  // a value in the text syntax
std::string leaf_to_string(const Leaf& leaf);

// ---- query_eval.cpp ----
// Stored bytes of object ID of entity E, or nullopt; verified when E.verify_reads.
Result<std::optional<MDB_val>> query_get_raw(MDB_txn* txn, const EntityInfo& e, uint64_t id);
// Whether object ID (stored as READER) matches NODE.
Result<bool> eval_node(const QueryImpl& q, MDB_txn* txn, const QNode& node, uint64_t id,
                       const ObjectReader& reader);
// ---- query_order.cpp ----
// The value index whose key order is Q's order, when a walk of it should produce Q's results: one
// order key on an integer, date or float property with a value index, and PLAN reads no other
// index. Null otherwise (the matches are sorted in memory).
const IndexInfo* order_index(const QueryImpl& q, const Plan& plan);
// Calls FN(id, reader) for each match of Q in the order of its order key, read from IDX
// (order_index): ties in id order, nulls last (first with kOrderNullsFirst), until FN returns
// false.
Status for_each_match_in_index_order(const QueryImpl& q, MDB_txn* txn, const IndexInfo& idx,
                                     const std::function<bool(uint64_t, const ObjectReader&)>& fn);
// The ids of the results: matched, ordered, offset and limit applied.
Result<std::vector<uint64_t>> run_query(const QueryImpl& q, MDB_txn* txn);
// Calls FN(id, reader) for each result, in result order (READER valid while TXN is open).
Status for_each_result(const QueryImpl& q, MDB_txn* txn,
                       const std::function<Status(uint64_t, const ObjectReader&)>& fn);
// The same results as objects (with their to-many lists), each read once.
Result<std::vector<Object>> run_query_objects(const QueryImpl& q, MDB_txn* txn);
Status check_bound(const QueryImpl& q);
// Follows LEAF's path backwards: from IDS of the path's last entity to the ids of the query's
// entity that reach them (sorted, unique).
Result<std::vector<uint64_t>> reverse_hops(const Leaf& leaf, MDB_txn* txn,
                                           std::vector<uint64_t> ids);

// ---- query_plan.cpp ----
Plan make_plan(const QueryImpl& q);
// Q's plan, made once per parameter change.
const Plan& plan_of(const QueryImpl& q);
// Candidate ids of a non-scan plan, sorted and unique (a superset of the matches).
Result<std::vector<uint64_t>> plan_candidates(const QueryImpl& q, const Plan& plan, MDB_txn* txn);
std::string explain_plan(const QueryImpl& q, const Plan& plan);

}  // namespace outpost::detail
