#pragma once
// Sync rules (docs/sync-rules.md): per synced entity a read rule and a write rule in the query text
// syntax, over the variables $auth.<claim> (the verified token's claims), $client.<name> (the
// Login's filter variables) and $now (milliseconds since the epoch, when the rule is used).
//
//   {"default": "allow",
//    "entities": {"Task": {"read": "ownerId == $auth.sub OR sharedWith CONTAINS $auth.sub",
//                          "write": "ownerId == $auth.sub"}}}
//
// An entity without a rule (or a rule left out) follows "default": "allow" (every object) or
// "deny" (none). Sessions logged in with the shared secret have no scope: they see everything.
//
// Thread-safety: SyncRules is immutable (share it); a SessionScope belongs to one session and is
// used on the server core's thread only (its queries hold parameter state).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "outpost/box.hpp"
#include "outpost/model.hpp"
#include "outpost/object.hpp"
#include "outpost/query.hpp"
#include "outpost/status.hpp"
#include "outpost/store.hpp"
#include "sync/auth/identity.hpp"

namespace outpost::sync::rules {

// The filter variables of a Login ($client.<name>), name -> value.
using Variables = std::vector<std::pair<std::string, std::string>>;

// The tag of the unrestricted scope (no rules, or the shared secret); never 0 (0 = unknown).
inline constexpr uint64_t kUnrestrictedScopeTag = 1;

class SessionScope;

class SyncRules {
  public:
    // Parses and checks TEXT against MODEL. Errors: kInvalidArgument naming the entity, the rule
    // and the column: "sync rules: Task.read: column 10: unknown property 'ownr'", "sync rules:
    // Task.read: column 10: $auth.sub is a string, Task.owner is a relation", an unknown entity or
    // key, a default other than allow/deny, a path through a relation, a variable other than
    // $auth.*, $client.* or $now, a syntax error.
    static Result<std::shared_ptr<const SyncRules>> load(std::string_view text, const Model& model);

    bool default_allow() const;
    // The rule texts of entity UID as loaded ("" when it follows the default).
    std::string read_rule(uint64_t entity_uid) const;
    std::string write_rule(uint64_t entity_uid) const;

    // The scope of a session of IDENTITY with VARIABLES, with queries on the boxes of STORE (whose
    // model is the one load() checked). A variable the identity or VARIABLES lack makes each
    // comparison with it false.
    Result<std::unique_ptr<SessionScope>> scope_for(const auth::Identity& identity,
                                                    const Variables& variables,
                                                    const std::shared_ptr<Store>& store) const;
    // The read scope that SessionScope::definition() described (an earlier login's scope), for the
    // difference between two scopes; its write scope is empty (it is not a session's). Errors:
    // kInvalidArgument when DEFINITION does not parse or does not fit STORE's model any more (an
    // entity or property gone, an entity added).
    Result<std::unique_ptr<SessionScope>> scope_from_definition(
        std::string_view definition, const std::shared_ptr<Store>& store) const;

    ~SyncRules();

  private:
    struct Impl;
    explicit SyncRules(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// One session's rules with its variables bound.
class SessionScope {
  public:
    ~SessionScope();

    // A 64-bit hash of the bound read conditions of every synced entity, never 0 or
    // kUnrestrictedScopeTag: equal tags mean equal read scopes.
    uint64_t tag() const;
    // The bound read conditions as text that scope_from_definition() reads back.
    const std::string& definition() const;

    // $now for the rules that use it (milliseconds since the epoch): set before each use.
    void set_now(int64_t now_ms);

    // Whether entity ENTITY_UID has a read (write) restriction; without one every object is
    // readable (writable). An entity the rules deny has a restriction that matches nothing.
    bool restricts_read(uint64_t entity_uid) const;
    bool restricts_write(uint64_t entity_uid) const;
    // Whether OBJECT (stored or not: e.g. a push's state after its change) is in the read (write)
    // scope. True for an entity without a restriction.
    Result<bool> may_read(Txn& txn, const Object& object);
    Result<bool> may_write(Txn& txn, const Object& object);
    // Whether stored object ID of entity ENTITY_UID is in the read scope (false when it is gone).
    Result<bool> may_read(Txn& txn, uint64_t entity_uid, uint64_t id);
    // The ids of entity ENTITY_UID's objects in the read scope, in id order (an index drives it
    // where the rule's comparisons allow; every id for an entity without a restriction).
    Result<std::vector<uint64_t>> readable_ids(Txn& txn, uint64_t entity_uid);
    // The property uids that entity ENTITY_UID's read rule compares: a change to one of them may
    // move an object into or out of the scope. Empty without a restriction.
    const std::vector<uint64_t>& read_rule_properties(uint64_t entity_uid) const;
    // How readable_ids() finds entity ENTITY_UID's objects, for a debug log: the query's plan
    // (Query::explain: "Task: index Task.ownerId (==) then filter: ..."), "every object" without a
    // restriction, "no object" when the scope holds none of them.
    std::string read_plan(uint64_t entity_uid) const;

  private:
    friend class SyncRules;
    struct Impl;
    explicit SessionScope(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace outpost::sync::rules
