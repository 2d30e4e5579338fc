#pragma once
// Queries: conditions on the objects of one entity, built in code or parsed from the text syntax
// (docs/queries.md), planned onto an index or a scan, with ordering, offset, limit and aggregates.
//
//   auto q = QueryBuilder(users)
//                .where("age >= $minAge AND (name ^= \"A\" OR email $= \"@x.org\")")
//                .order("name")
//                .limit(10)
//                .build();                       // Result<Query>
//   q->set_parameter("minAge", Value(18));
//   auto found = q->find();                      // Result<std::vector<Object>>
//
// The same condition in code:
//   Condition c = prop("age").greater_or_equal(18).alias("minAge") &&
//                 (prop("name").starts_with("A") || prop("email").ends_with("@x.org"));
//
// Semantics (also in docs/queries.md):
// - A comparison with a null property value is false, for every operator but IS NULL (so `x != 3`
//   does not match objects whose x is null). `== null` is IS NULL, `!= null` is IS NOT NULL.
// - A path through relations (`owner.name`, `tasks.done`, `@Task.owner.done`) matches when at least
// one
//   related object matches; an object without related objects does not match.
// - Results come in id order unless ordered; nulls sort last unless kOrderNullsFirst; ties keep id
// order.
// - count() and the aggregates work on the same objects that find() returns (offset and limit
// apply).
//
// Thread-safety: a Query is not safe to use from several threads at once (parameters are state);
// run it in any transaction of the calling thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/box.hpp"
#include "outpost/status.hpp"
#include "outpost/store.hpp"
#include "outpost/value.hpp"

namespace outpost {

enum class QueryOp : uint8_t {
    kEqual,
    kNotEqual,
    kLess,
    kLessOrEqual,
    kGreater,
    kGreaterOrEqual,
    kBetween,  // two operands, both inclusive
    kIn,       // any number of operands (integers or strings)
    kIsNull,
    kIsNotNull,
    kStartsWith,      // strings
    kEndsWith,        // strings
    kContains,        // strings: substring
    kVectorContains,  // vector properties: an element equal to the operand
};
std::string_view query_op_name(QueryOp op);  // the text syntax's operator: "==", "BETWEEN", ...

namespace detail {
struct CondNode;
struct QueryImpl;
struct Access;  // the library's own way to its internals (src/store/access.hpp)
}  // namespace detail

// A condition tree, independent of any store: property paths are resolved when a query is built.
// Cheap to copy (shared, immutable).
class Condition {
  public:
    // A comparison of the property at PATH (a name, or a path through relations: "owner.name",
    // "@Task.owner.done") with OPERANDS (one for most operators, two for kBetween, any number for
    // kIn, none for kIsNull/kIsNotNull). CASE_SENSITIVE applies to string comparisons.
    static Condition compare(std::string path, QueryOp op, std::vector<Value> operands = {},
                             bool case_sensitive = true);
    static Condition all_of(std::vector<Condition> conditions);  // AND; empty means "every object"
    static Condition any_of(std::vector<Condition> conditions);  // OR; empty means "no object"
    static Condition negate(Condition condition);

    // The same comparison with a parameter name, so that Query::set_parameter(NAME, ...) can
    // replace its operands. REQUIRES: a comparison (not AND/OR/NOT); otherwise the name is ignored.
    Condition alias(std::string name) const;

    // The condition in the text syntax (parses back to an equal condition).
    std::string to_string() const;

    // The property paths the comparisons name, each once, in the order they first appear.
    std::vector<std::string> paths() const;
    // The parameter names (`$name` in the text, alias()), each once, in the order they first
    // appear. Names may hold dots: `$auth.sub` is the parameter "auth.sub".
    std::vector<std::string> parameters() const;
    // The comparisons in the tree, each as a condition of its own, in the order they appear (in
    // the text's order for a parsed condition). Empty for TRUE and FALSE.
    std::vector<Condition> comparisons() const;

    // What bind() puts in place of a parameter.
    struct Binding {
        enum class Kind {
            kKeep,     // it stays a parameter (set later with Query::set_parameter)
            kValues,   // VALUES become the operands: one for a one-operand comparison, any for IN
            kMissing,  // no value: the comparison is false (as a comparison with null is)
        };
        Kind kind = Kind::kKeep;
        std::vector<Value> values;
    };
    // The condition with the parameters FN names replaced: a comparison with kMissing, or with a
    // number of values its operator cannot take (or a null value), becomes one that matches
    // nothing (under NOT it then matches everything). FN is called once per name. Where a
    // comparison became TRUE or FALSE, the groups above it are simplified (`FALSE OR x` is `x`);
    // parts that bind did not change stay as they are.
    Condition bind(const std::function<Binding(std::string_view name)>& fn) const;

    friend Condition operator&&(const Condition& a, const Condition& b);
    friend Condition operator||(const Condition& a, const Condition& b);
    friend Condition operator!(const Condition& a);

  private:
    friend struct detail::Access;
    const std::shared_ptr<const detail::CondNode>& node() const { return node_; }
    explicit Condition(std::shared_ptr<const detail::CondNode> node) : node_(std::move(node)) {}

    std::shared_ptr<const detail::CondNode> node_;
};

// Parses the text syntax (docs/queries.md). Errors are kInvalidArgument with the 1-based column:
// "query syntax: column 9: expected a value after '>='".
Result<Condition> parse_condition(std::string_view text);

// Builds comparisons on one property path: prop("age").greater(17),
// prop("owner.name").equal("Ada").
class PropertyRef {
  public:
    explicit PropertyRef(std::string path) : path_(std::move(path)) {}
    Condition equal(Value v, bool case_sensitive = true) const;
    Condition not_equal(Value v, bool case_sensitive = true) const;
    Condition less(Value v) const;
    Condition less_or_equal(Value v) const;
    Condition greater(Value v) const;
    Condition greater_or_equal(Value v) const;
    Condition between(Value lo, Value hi) const;
    Condition in(std::vector<Value> values, bool case_sensitive = true) const;
    Condition is_null() const;
    Condition is_not_null() const;
    Condition starts_with(std::string s, bool case_sensitive = true) const;
    Condition ends_with(std::string s, bool case_sensitive = true) const;
    Condition contains(std::string s, bool case_sensitive = true) const;
    Condition vector_contains(Value element, bool case_sensitive = true) const;

  private:
    std::string path_;
};
inline PropertyRef prop(std::string path) { return PropertyRef(std::move(path)); }

enum OrderFlag : uint32_t {
    kOrderDescending = 1u << 0,
    kOrderCaseInsensitive = 1u << 1,  // strings: compare ASCII letters case-insensitively
    kOrderNullsFirst = 1u << 2,
};

class Query;

// Collects a condition, an order, offset and limit for one box, then build() checks them against
// the entity (unknown properties, operators that do not fit a property's type) and plans the query.
class QueryBuilder {
  public:
    explicit QueryBuilder(DynamicBox box);

    // ANDs CONDITION with what is there.
    QueryBuilder& where(Condition condition);
    // Parses TEXT and ANDs it; a syntax error is reported by build().
    QueryBuilder& where(std::string_view text);
    // Orders by PROPERTY (a property of this entity, not a path), then by earlier order() calls'
    // ties.
    QueryBuilder& order(std::string property, uint32_t flags = 0);
    QueryBuilder& offset(uint64_t n);
    QueryBuilder& limit(uint64_t n);

    Result<Query> build() const;

  private:
    DynamicBox box_;
    std::vector<Condition> conditions_;
    Status parse_error_;
    struct Order {
        std::string property;
        uint32_t flags;
    };
    std::vector<Order> orders_;
    uint64_t offset_ = 0;
    uint64_t limit_ = UINT64_MAX;
};

class Query {
  public:
    Query(Query&&) noexcept;
    Query& operator=(Query&&) noexcept;
    ~Query();

    // Results. The forms without a transaction run in a read transaction of their own.
    Result<std::vector<Object>> find(Txn& txn);
    Result<std::vector<Object>> find();
    Result<std::vector<uint64_t>> find_ids(Txn& txn);
    Result<std::vector<uint64_t>> find_ids();
    // Calls FN for each result in order (offset and limit applied) with a zero-copy reader, valid
    // during the call; stops at FN's first error and returns it.
    Status for_each(Txn& txn, const std::function<Status(uint64_t, const ObjectReader&)>& fn);
    Result<uint64_t> count(Txn& txn);
    Result<uint64_t> count();
    Result<std::optional<Object>> find_first(Txn& txn);
    Result<std::optional<Object>> find_first();
    // The one matching object, nullopt when none; kIllegalState when more than one match.
    Result<std::optional<Object>> find_unique(Txn& txn);
    Result<std::optional<Object>> find_unique();
    // Whether object ID matches the condition (ignores order, offset and limit).
    Result<bool> matches(Txn& txn, uint64_t id);
    // Whether OBJECT (of this query's entity, stored or not, e.g. an incoming change) matches;
    // paths through relations are followed in TXN (to-many lists of OBJECT itself are read from the
    // store by its id). kInvalidArgument for an object of another entity.
    Result<bool> matches(Txn& txn, const Object& object);

    // Aggregates over the non-null values of PROPERTY (a property of this entity) in the results.
    // min/max: integers, floats, strings, bools, dates; nullopt when there is no value.
    Result<std::optional<Value>> min(Txn& txn, std::string_view property);
    Result<std::optional<Value>> max(Txn& txn, std::string_view property);
    // sum: int64 for integer properties (kValueOutOfRange on overflow), double for float/double.
    Result<Value> sum(Txn& txn, std::string_view property);
    Result<std::optional<double>> average(Txn& txn, std::string_view property);
    Result<uint64_t> count_distinct(Txn& txn, std::string_view property);

    // Parameters: NAME is a comparison's alias or a `$name` in the text. One value replaces the
    // operand of a one-operand comparison (and every `$name` slot); two values the bounds of a
    // BETWEEN; a list the operands of an IN. Values are checked against the property
    // (kTypeMismatch); an unknown name is kNotFound. Running a query with a parameter that has no
    // value yet is kIllegalState.
    Status set_parameter(std::string_view name, Value value);
    Status set_parameter(std::string_view name, Value lo, Value hi);
    Status set_parameter(std::string_view name, std::vector<Value> values);

    void set_offset(uint64_t n);
    void set_limit(uint64_t n);

    // The plan, e.g. "Task: index Task.owner (==) then filter: owner == 3 AND done == false; limit
    // 5", "Task: index User.name (==) via owner then filter: ..." or "Task: scan, filter: ...".
    // Names the index as "index <Entity>.<property>", or says "id lookup", "union of [...]" or
    // "scan".
    std::string explain() const;
    const Entity& entity() const;

  private:
    // Queries are made by QueryBuilder::build.
    friend struct detail::Access;
    explicit Query(std::unique_ptr<detail::QueryImpl> impl);

    std::unique_ptr<detail::QueryImpl> impl_;
};

// Runs a query and maps its results onto the typed API:
//   Box<User> users(store);
//   auto q = TypedQuery<User>::make(users, "age >= 18");
//   auto adults = q->find();   // Result<std::vector<User>>
template <typename T>
class TypedQuery {
  public:
    TypedQuery(Box<T>& box, Query query) : box_(&box), query_(std::move(query)) {}

    // Builds a query with WHERE (text syntax; empty: every object) on BOX's entity.
    static Result<TypedQuery> make(Box<T>& box, std::string_view where) {
        OUTPOST_RETURN_IF_ERROR(box.status());
        QueryBuilder b(box.dynamic());
        if (!where.empty()) b.where(where);
        OUTPOST_ASSIGN_OR_RETURN(Query q, b.build());
        return TypedQuery(box, std::move(q));
    }

    Query& query() { return query_; }

    Result<std::vector<T>> find(Txn& txn) {
        std::vector<T> out;
        // Each match is read once: the reader the query matched is the one the object is made from.
        OUTPOST_RETURN_IF_ERROR(
            query_.for_each(txn, [&](uint64_t id, const ObjectReader& r) -> Status {
                OUTPOST_ASSIGN_OR_RETURN(T o, box_->from_reader(txn, id, r));
                out.push_back(std::move(o));
                return Status::ok();
            }));
        return out;
    }
    Result<std::vector<T>> find() {
        OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, box_->dynamic().store()->begin_read());
        return find(txn);
    }
    Result<std::optional<T>> find_first(Txn& txn) {
        OUTPOST_ASSIGN_OR_RETURN(auto o, query_.find_first(txn));
        if (!o) return std::optional<T>();
        return box_->get(txn, o->id);
    }
    Result<std::optional<T>> find_unique(Txn& txn) {
        OUTPOST_ASSIGN_OR_RETURN(auto o, query_.find_unique(txn));
        if (!o) return std::optional<T>();
        return box_->get(txn, o->id);
    }
    Result<uint64_t> count(Txn& txn) { return query_.count(txn); }

  private:
    Box<T>* box_;
    Query query_;
};

}  // namespace outpost
