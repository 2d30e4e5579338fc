#pragma once
// What sync_rules.cpp (loading) and session_scope.cpp (binding, scopes) share.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/model.hpp"
#include "outpost/query.hpp"
#include "outpost/status.hpp"
#include "sync/rules/sync_rules.hpp"

namespace outpost::sync::rules::detail {

// Limits on what a rules file (or a scope definition) may hold.
inline constexpr size_t kMaxRulesBytes = 1 << 20;
inline constexpr size_t kMaxRuleBytes = 16 * 1024;
inline constexpr int kMaxRulesNesting = 8;  // the file itself nests 3 levels

// One rule (read or write) of one entity, as loaded.
struct Rule {
    std::string text;                     // "" when it follows the default
    std::optional<Condition> condition;   // nullopt when it follows the default
    std::vector<uint64_t> property_uids;  // the properties it compares
};

struct EntityRules {
    uint64_t uid = 0;
    std::string name;
    Rule read, write;
};

// Checks the comparisons of CONDITION (the text TEXT, named WHERE in errors: "Task.read") against
// ENTITY: each path is one of its own properties; each parameter is one VARIABLES_OK allows
// ($auth.*, $client.<name>, $now when true; only $now when false); each comparison builds on BOX
// with placeholder values (a string for $auth.* and $client.*, milliseconds for $now). Returns the
// uids of the properties it compares, each once.
Result<std::vector<uint64_t>> check_condition(std::string_view where, std::string_view text,
                                              const Condition& condition, const Entity& entity,
                                              const DynamicBox& box, bool variables_ok);

// What $now is multiplied by for CONDITION's comparisons with it: 1'000'000 when each compares a
// dateNano property, 1 for milliseconds; 0 when the condition does not use $now. kInvalidArgument
// when it compares both kinds.
Result<int64_t> now_factor(std::string_view where, const Condition& condition,
                           const Entity& entity);

// "sync rules: WHERE: column COL: WHAT" (no column when COL is 0).
Status rules_error(std::string_view where, size_t col, const std::string& what);

// Whether TEXT is well-formed UTF-8 (no overlong forms, surrogates or code points above
// U+10FFFF). A scope's definition is JSON, which holds UTF-8 only.
bool valid_utf8(std::string_view text);

// A stable 64-bit hash of TEXT (FNV-1a with a final mix), never 0 or kUnrestrictedScopeTag.
uint64_t scope_hash(std::string_view text);

}  // namespace outpost::sync::rules::detail

namespace outpost::sync::rules {

struct SyncRules::Impl {
    bool default_allow = true;
    std::vector<detail::EntityRules> entities;  // every synced entity of the model, in uid order
};

}  // namespace outpost::sync::rules
