// A session's scope: the rules bound to its identity's claims and its filter variables, one query
// per restricted entity and rule, the scope's tag and definition (docs/sync-rules.md).
#include <algorithm>
#include <chrono>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "model/json_nesting.hpp"
#include "sync/rules/rules_internal.hpp"

namespace outpost::sync::rules {

using Binding = Condition::Binding;

namespace {

// One rule of one entity, bound.
struct Side {
    bool restricted = false;  // false: every object
    bool none = false;        // restricted to nothing (FALSE)
    std::optional<Query> query;
    int64_t now_factor = 0;  // what $now is multiplied by; 0 when the rule has no $now
    Status now_status;       // the last set_now's result for this query
};

struct EntityScope {
    uint64_t uid = 0;
    std::optional<DynamicBox> box;
    Side read, write;
    std::vector<uint64_t> read_props;
};

bool is_constant(const std::string& text, bool value) { return text == (value ? "TRUE" : "FALSE"); }

int64_t scaled(int64_t ms, int64_t factor) {
    if (factor <= 1) return ms;
    if (ms > std::numeric_limits<int64_t>::max() / factor)
        return std::numeric_limits<int64_t>::max();
    if (ms < std::numeric_limits<int64_t>::min() / factor)
        return std::numeric_limits<int64_t>::min();
    return ms * factor;
}

// SIDE for CONDITION (bound) on BOX.
Result<Side> make_side(const Condition& condition, const std::string& text, const DynamicBox& box,
                       int64_t now_factor) {
    Side s;
    if (is_constant(text, true)) return s;
    s.restricted = true;
    if (is_constant(text, false)) {
        s.none = true;
        return s;
    }
    OUTPOST_ASSIGN_OR_RETURN(Query q, QueryBuilder(box).where(condition).build());
    s.query.emplace(std::move(q));
    s.now_factor = now_factor;
    return s;
}

}  // namespace

struct SessionScope::Impl {
    std::shared_ptr<Store> store;
    std::vector<EntityScope> entities;  // in uid order
    uint64_t tag = 0;
    std::string definition;

    EntityScope* find(uint64_t uid) {
        for (auto& e : entities) {
            if (e.uid == uid) return &e;
        }
        return nullptr;
    }
    const EntityScope* find(uint64_t uid) const {
        for (const auto& e : entities) {
            if (e.uid == uid) return &e;
        }
        return nullptr;
    }
};

namespace {

// Sets $now on every query of SCOPE that uses it.
void apply_now(std::vector<EntityScope>& entities, int64_t now_ms) {
    for (auto& e : entities) {
        for (Side* s : {&e.read, &e.write}) {
            if (s->now_factor == 0 || !s->query) continue;
            s->now_status = s->query->set_parameter("now", Value(scaled(now_ms, s->now_factor)));
        }
    }
}

// The definition of the bound read conditions READS (entity uid -> text, in uid order).
std::string describe(const std::vector<std::pair<uint64_t, std::string>>& reads) {
    nlohmann::ordered_json def = nlohmann::ordered_json::object();
    for (const auto& [uid, text] : reads) def[std::to_string(uid)] = text;
    return def.dump();
}

int64_t wall_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Result<bool> side_matches(Side& s, Txn& txn, const Object& object) {
    if (!s.restricted) return true;
    if (s.none) return false;
    OUTPOST_RETURN_IF_ERROR(s.now_status);
    return s.query->matches(txn, object);
}

}  // namespace

Result<std::unique_ptr<SessionScope>> SyncRules::scope_for(
    const auth::Identity& identity, const Variables& variables,
    const std::shared_ptr<Store>& store) const {
    std::string not_utf8;  // a variable whose value a definition (JSON) could not hold
    auto bind = [&](std::string_view name) {
        Binding b;
        if (name == "now") return b;  // kKeep: set_now sets it
        b.kind = Binding::Kind::kMissing;
        std::vector<std::string> values;
        if (name.starts_with("auth.")) {
            auto it = identity.claims.find(name.substr(5));
            if (it == identity.claims.end()) return b;
            values = it->second;
        } else if (name.starts_with("client.")) {
            auto it = std::find_if(variables.begin(), variables.end(),
                                   [&](const auto& v) { return v.first == name.substr(7); });
            if (it == variables.end()) return b;
            values.push_back(it->second);
        } else {
            return b;
        }
        b.kind = Binding::Kind::kValues;
        for (auto& v : values) {
            if (!detail::valid_utf8(v)) not_utf8 = name;
            b.values.emplace_back(std::move(v));
        }
        return b;
    };
    auto impl = std::make_unique<SessionScope::Impl>();
    impl->store = store;
    std::vector<std::pair<uint64_t, std::string>> reads;
    for (const auto& er : impl_->entities) {
        EntityScope es;
        es.uid = er.uid;
        OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store->box(er.name));
        es.box.emplace(box);
        const Condition fallback =
            impl_->default_allow ? Condition::all_of({}) : Condition::any_of({});
        for (const auto* rule : {&er.read, &er.write}) {
            Condition bound = rule->condition ? rule->condition->bind(bind) : fallback;
            if (!not_utf8.empty()) {
                return Status(ErrorCode::kInvalidArgument,
                              "sync rules: the value of $" + not_utf8 + " is not valid UTF-8");
            }
            const std::string text = bound.to_string();
            int64_t factor = 0;
            if (rule->condition) {
                OUTPOST_ASSIGN_OR_RETURN(factor, detail::now_factor(er.name, bound, box.entity()));
            }
            OUTPOST_ASSIGN_OR_RETURN(Side side, make_side(bound, text, box, factor));
            if (rule == &er.read) {
                es.read = std::move(side);
                if (es.read.restricted) es.read_props = er.read.property_uids;
                reads.emplace_back(er.uid, text);
            } else {
                es.write = std::move(side);
            }
        }
        impl->entities.push_back(std::move(es));
    }
    impl->definition = describe(reads);
    impl->tag = detail::scope_hash(impl->definition);
    apply_now(impl->entities, wall_now_ms());
    return std::unique_ptr<SessionScope>(new SessionScope(std::move(impl)));
}

Result<std::unique_ptr<SessionScope>> SyncRules::scope_from_definition(
    std::string_view definition, const std::shared_ptr<Store>& store) const {
    auto bad = [](const std::string& why) {
        return Status(ErrorCode::kInvalidArgument, "sync rules: scope definition: " + why);
    };
    if (definition.size() > detail::kMaxRulesBytes) return bad("larger than 1 MiB");
    if (!outpost::detail::json_nesting_within(definition, 2)) return bad("nests too deeply");
    auto j = nlohmann::json::parse(definition.begin(), definition.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
    const Model& model = store->model();
    auto impl = std::make_unique<SessionScope::Impl>();
    impl->store = store;
    std::vector<std::pair<uint64_t, std::string>> reads;
    for (const Entity& e : model.entities) {
        if (!e.sync) continue;
        auto it = j.find(std::to_string(e.id.uid));
        if (it == j.end()) return bad("no condition for " + e.name + " (the model changed)");
        if (!it->is_string()) return bad("the condition of " + e.name + " is not a string");
        const std::string text = it->get<std::string>();
        if (text.size() > detail::kMaxRuleBytes)
            return bad("the condition of " + e.name + " is too long");
        auto parsed = parse_condition(text);
        if (!parsed) return bad(e.name + ": " + parsed.status().message());
        OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store->box(e.name));
        const std::string where = e.name + ".read";
        auto uids = detail::check_condition(where, text, parsed.value(), e, box, false);
        if (!uids) return bad(uids.status().message());
        OUTPOST_ASSIGN_OR_RETURN(int64_t factor, detail::now_factor(where, parsed.value(), e));
        EntityScope es;
        es.uid = e.id.uid;
        es.box.emplace(box);
        OUTPOST_ASSIGN_OR_RETURN(es.read,
                                 make_side(parsed.value(), parsed->to_string(), box, factor));
        if (es.read.restricted) es.read_props = std::move(uids).value();
        // Only the read scope is described: nothing may be written through this one.
        es.write.restricted = true;
        es.write.none = true;
        reads.emplace_back(e.id.uid, parsed->to_string());
        impl->entities.push_back(std::move(es));
    }
    if (impl->entities.size() != j.size()) return bad("names an entity the model does not sync");
    std::sort(impl->entities.begin(), impl->entities.end(),
              [](const auto& a, const auto& b) { return a.uid < b.uid; });
    std::sort(reads.begin(), reads.end());
    impl->definition = describe(reads);
    impl->tag = detail::scope_hash(impl->definition);
    apply_now(impl->entities, wall_now_ms());
    return std::unique_ptr<SessionScope>(new SessionScope(std::move(impl)));
}

// ---- SessionScope ----

SessionScope::SessionScope(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SessionScope::~SessionScope() = default;

uint64_t SessionScope::tag() const { return impl_->tag; }
const std::string& SessionScope::definition() const { return impl_->definition; }
void SessionScope::set_now(int64_t now_ms) { apply_now(impl_->entities, now_ms); }

bool SessionScope::restricts_read(uint64_t entity_uid) const {
    const EntityScope* e = impl_->find(entity_uid);
    return e && e->read.restricted;
}
bool SessionScope::restricts_write(uint64_t entity_uid) const {
    const EntityScope* e = impl_->find(entity_uid);
    return e && e->write.restricted;
}

Result<bool> SessionScope::may_read(Txn& txn, const Object& object) {
    EntityScope* e = impl_->find(object.entity().id.uid);
    if (!e) return true;
    return side_matches(e->read, txn, object);
}

Result<bool> SessionScope::may_write(Txn& txn, const Object& object) {
    EntityScope* e = impl_->find(object.entity().id.uid);
    if (!e) return true;
    return side_matches(e->write, txn, object);
}

Result<bool> SessionScope::may_read(Txn& txn, uint64_t entity_uid, uint64_t id) {
    EntityScope* e = impl_->find(entity_uid);
    if (!e) {
        return Status(ErrorCode::kInvalidArgument,
                      "sync rules: no synced entity with uid " + std::to_string(entity_uid));
    }
    Side& s = e->read;
    if (!s.restricted) return e->box->contains(txn, id);
    if (s.none) return false;
    OUTPOST_RETURN_IF_ERROR(s.now_status);
    return s.query->matches(txn, id);
}

Result<std::vector<uint64_t>> SessionScope::readable_ids(Txn& txn, uint64_t entity_uid) {
    EntityScope* e = impl_->find(entity_uid);
    if (!e) {
        return Status(ErrorCode::kInvalidArgument,
                      "sync rules: no synced entity with uid " + std::to_string(entity_uid));
    }
    Side& s = e->read;
    if (!s.restricted) return e->box->ids(txn);
    if (s.none) return std::vector<uint64_t>();
    OUTPOST_RETURN_IF_ERROR(s.now_status);
    return s.query->find_ids(txn);
}

const std::vector<uint64_t>& SessionScope::read_rule_properties(uint64_t entity_uid) const {
    static const std::vector<uint64_t> kNone;
    const EntityScope* e = impl_->find(entity_uid);
    return e ? e->read_props : kNone;
}

std::string SessionScope::read_plan(uint64_t entity_uid) const {
    const EntityScope* e = impl_->find(entity_uid);
    if (!e || !e->read.restricted) return "every object";
    if (e->read.none) return "no object";
    return e->read.query->explain();
}

}  // namespace outpost::sync::rules
