// Loading sync rules: the JSON file, each rule's syntax, paths, variables and types
// (docs/sync-rules.md). Every check names the entity, the rule and, where it can, the column.
#include "sync/rules/sync_rules.hpp"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <system_error>

#include "model/json_nesting.hpp"
#include "sync/rules/rules_internal.hpp"

namespace outpost::sync::rules {

using json = nlohmann::json;
using Binding = Condition::Binding;

namespace detail {

Status rules_error(std::string_view where, size_t col, const std::string& what) {
    std::string m = "sync rules: " + std::string(where) + ": ";
    if (col > 0) m += "column " + std::to_string(col) + ": ";
    return Status(ErrorCode::kInvalidArgument, m + what);
}

uint64_t scope_hash(std::string_view text) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (char c : text) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
    h ^= text.size();
    // splitmix64's finalizer: every input bit reaches every output bit.
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h <= kUnrestrictedScopeTag ? h + 2 : h;
}

bool valid_utf8(std::string_view text) {
    size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t n = 0;
        uint32_t cp = 0, min = 0;
        if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return false;
        }
        if (text.size() - i <= n) return false;  // truncated
        for (size_t k = 1; k <= n; ++k) {
            const auto x = static_cast<unsigned char>(text[i + k]);
            if ((x & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (x & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += n + 1;
    }
    return true;
}

namespace {

bool ident_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '@';
}
bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }

// Where TOKEN (a path, or a `$parameter`) first stands in TEXT at or after FROM, outside string
// literals; npos when it does not. Scans as the query lexer does, so "ownerId" inside a string or
// as part of "ownerIds" does not count.
size_t find_token(std::string_view text, std::string_view token, size_t from) {
    const size_t n = text.size();
    size_t i = 0;
    while (i < n) {
        const char c = text[i];
        if (c == '"' || c == '\'') {
            for (++i; i < n && text[i] != c; ++i) {
                if (text[i] == '\\') ++i;
            }
            ++i;
            continue;
        }
        if (c == '$' || ident_start(c) || (c >= '0' && c <= '9')) {
            size_t j = i + 1;
            while (j < n && (ident_char(text[j]) ||
                             (text[j] == '.' && j + 1 < n && ident_start(text[j + 1])))) {
                ++j;
            }
            if (i >= from && text.substr(i, j - i) == token) return i;
            i = j;
            continue;
        }
        ++i;
    }
    return std::string_view::npos;
}

size_t column_of(std::string_view text, std::string_view token, size_t from = 0) {
    size_t at = find_token(text, token, from);
    return at == std::string_view::npos ? 0 : at + 1;
}

bool is_string_variable(std::string_view name) {
    return name.starts_with("auth.") || name.starts_with("client.");
}

// "a relation", "an int64".
std::string type_phrase(PropertyType t) {
    std::string n(property_type_name(t));
    const bool vowel = !n.empty() && std::string_view("aeiou").find(n[0]) != std::string::npos;
    return (vowel ? "an " : "a ") + n;
}

Status check_variable(std::string_view where, std::string_view text, const std::string& name,
                      bool variables_ok) {
    const size_t col = column_of(text, "$" + name);
    if (name == "now") return Status::ok();
    if (!variables_ok) {
        return rules_error(where, col, "$" + name + ": a scope holds bound values and $now only");
    }
    if (name.starts_with("auth.") && name.size() > 5) return Status::ok();
    if (name.starts_with("client.") && name.size() > 7) {
        if (name.find('.', 7) == std::string::npos) return Status::ok();
        return rules_error(where, col,
                           "$" + name + ": a $client variable has a plain name ($client.team)");
    }
    return rules_error(
        where, col, "unknown variable $" + name + " (use $auth.<claim>, $client.<name> or $now)");
}

// Placeholders of each variable's type: the type checks of a rule build it with these.
Binding placeholder(std::string_view name) {
    Binding b;
    b.kind = Binding::Kind::kValues;
    if (name == "now") {
        b.values.emplace_back(int64_t{0});
    } else {
        b.values.emplace_back(std::string());
    }
    return b;
}

bool holds_time(PropertyType t) {
    return t == PropertyType::kDate || t == PropertyType::kDateNano || t == PropertyType::kInt64;
}

// Why comparison C (on property P, at column COL) does not build with its placeholders.
Status type_error(std::string_view where, size_t col, const Entity& entity, const Property& p,
                  const Condition& c, const Status& built) {
    // A string-valued property takes a string: then the operator is what does not fit.
    const PropertyType t = p.type;
    const bool takes_strings =
        t == PropertyType::kString || t == PropertyType::kStringVector || t == PropertyType::kBytes;
    for (const auto& name : c.parameters()) {
        if (built.code() != ErrorCode::kTypeMismatch || takes_strings) break;
        if (is_string_variable(name)) {
            return rules_error(where, col,
                               "$" + name + " is a string, " + entity.name + "." + p.name + " is " +
                                   type_phrase(t));
        }
    }
    std::string m = built.message();
    if (m.starts_with("query: ")) m.erase(0, 7);
    return rules_error(where, col, m);
}

}  // namespace

Result<std::vector<uint64_t>> check_condition(std::string_view where, std::string_view text,
                                              const Condition& condition, const Entity& entity,
                                              const DynamicBox& box, bool variables_ok) {
    std::vector<uint64_t> uids;
    size_t cursor = 0;
    for (const Condition& c : condition.comparisons()) {
        const std::vector<std::string> paths = c.paths();
        const std::string path = paths.empty() ? std::string() : paths[0];
        const size_t at = find_token(text, path, cursor);
        const size_t col = at == std::string_view::npos ? 0 : at + 1;
        if (at != std::string_view::npos) cursor = at + path.size();
        if (path.find_first_of(".@") != std::string::npos) {
            return rules_error(where, col,
                               "'" + path + "' goes through a relation: a rule compares only " +
                                   entity.name +
                                   "'s own properties (a change of a related object could not "
                                   "be followed live)");
        }
        const Property* p = entity.property(path);
        if (!p) {
            if (entity.relation(path)) {
                return rules_error(
                    where, col,
                    "'" + path + "' is a to-many relation, not a property of " + entity.name);
            }
            return rules_error(where, col, "unknown property '" + path + "' of " + entity.name);
        }
        for (const auto& name : c.parameters()) {
            OUTPOST_RETURN_IF_ERROR(check_variable(where, text, name, variables_ok));
            if (name == "now" && !holds_time(p->type)) {
                return rules_error(where, col,
                                   "$now is a time in milliseconds, " + entity.name + "." +
                                       p->name + " is " + type_phrase(p->type) +
                                       " (use a date, dateNano or int64 property)");
            }
        }
        auto q = QueryBuilder(box).where(c.bind(placeholder)).build();
        if (!q) return type_error(where, col, entity, *p, c, q.status());
        if (std::find(uids.begin(), uids.end(), p->id.uid) == uids.end()) uids.push_back(p->id.uid);
    }
    return uids;
}

Result<int64_t> now_factor(std::string_view where, const Condition& condition,
                           const Entity& entity) {
    bool nano = false, milli = false;
    for (const Condition& c : condition.comparisons()) {
        const auto params = c.parameters();
        if (std::find(params.begin(), params.end(), "now") == params.end()) continue;
        const auto paths = c.paths();
        const Property* p = paths.empty() ? nullptr : entity.property(paths[0]);
        if (p && p->type == PropertyType::kDateNano) {
            nano = true;
        } else {
            milli = true;
        }
    }
    if (nano && milli) {
        return rules_error(where, 0,
                           "$now is compared with a dateNano property and with a millisecond "
                           "one; one rule uses one kind");
    }
    return nano ? int64_t{1'000'000} : milli ? int64_t{1} : int64_t{0};
}

}  // namespace detail

namespace {

// A store in a directory of its own, removed with it: queries are checked by building them, and
// building needs a store of the model.
class ScratchStore {
  public:
    ScratchStore() = default;
    ScratchStore(const ScratchStore&) = delete;
    ScratchStore& operator=(const ScratchStore&) = delete;
    ~ScratchStore() {
        store_.reset();
        if (!dir_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
        }
    }

    Status open(const Model& model) {
        std::error_code ec;
        auto base = std::filesystem::temp_directory_path(ec);
        if (ec) base = "/tmp";
        std::string templ = (base / "outpost-rules-XXXXXX").string();
        if (!mkdtemp(templ.data())) {
            return Status(ErrorCode::kIo,
                          "sync rules: cannot make a scratch directory in " + base.string());
        }
        dir_ = templ;
        StoreOptions options;
        options.max_size_bytes = 1 << 24;
        options.no_sync = true;
        OUTPOST_ASSIGN_OR_RETURN(store_, Store::open(dir_, model, options));
        return Status::ok();
    }
    const std::shared_ptr<Store>& store() const { return store_; }

  private:
    std::string dir_;
    std::shared_ptr<Store> store_;
};

// One rule's text checked and compiled against ENTITY in the boxes of STORE.
Status load_rule(const std::string& where, const std::string& text, const Entity& entity,
                 Store& store, detail::Rule* rule) {
    if (text.size() > detail::kMaxRuleBytes) {
        return detail::rules_error(
            where, 0, "longer than " + std::to_string(detail::kMaxRuleBytes) + " bytes");
    }
    auto parsed = parse_condition(text);
    if (!parsed) {
        std::string m = parsed.status().message();
        if (m.starts_with("query syntax: ")) m.erase(0, 14);
        return Status(ErrorCode::kInvalidArgument, "sync rules: " + where + ": " + m);
    }
    if (!detail::valid_utf8(parsed->to_string())) {
        return detail::rules_error(where, 0, "a string in the rule is not valid UTF-8");
    }
    OUTPOST_ASSIGN_OR_RETURN(DynamicBox box, store.box(entity.name));
    OUTPOST_ASSIGN_OR_RETURN(rule->property_uids,
                             detail::check_condition(where, text, parsed.value(), entity, box,
                                                     /*variables_ok=*/true));
    OUTPOST_ASSIGN_OR_RETURN(int64_t factor, detail::now_factor(where, parsed.value(), entity));
    // The whole rule as a session builds it: variables bound, $now a parameter.
    Condition bound = parsed.value().bind([](std::string_view name) {
        return name == "now" ? Binding{} : detail::placeholder(name);
    });
    auto q = QueryBuilder(box).where(bound).build();
    if (!q) return detail::rules_error(where, 0, q.status().message());
    if (factor != 0) {
        Status s = q->set_parameter("now", Value(int64_t{0}));
        if (!s) return detail::rules_error(where, 0, s.message());
    }
    rule->text = text;
    rule->condition = std::move(parsed).value();
    return Status::ok();
}

// The rule texts of the "entities" member: entity name -> (read, write), checked for shape.
using RuleTexts =
    std::map<std::string, std::pair<std::optional<std::string>, std::optional<std::string>>>;

Result<RuleTexts> read_entities(const json& entities, const Model& model) {
    RuleTexts out;
    if (!entities.is_object())
        return Status(ErrorCode::kInvalidArgument, "sync rules: \"entities\" must be an object");
    for (auto it = entities.begin(); it != entities.end(); ++it) {
        const std::string& name = it.key();
        const Entity* e = model.entity(name);
        if (!e) return detail::rules_error("entities", 0, "unknown entity '" + name + "'");
        if (!e->sync) {
            return detail::rules_error(name, 0,
                                       "the entity is local-only (not synced): it has no rules");
        }
        if (!it->is_object())
            return detail::rules_error(name, 0, "must be an object with \"read\" and/or \"write\"");
        auto& texts = out[name];
        for (auto r = it->begin(); r != it->end(); ++r) {
            if (r.key() != "read" && r.key() != "write") {
                return detail::rules_error(name, 0, "unknown key '" + r.key() + "' (read, write)");
            }
            if (!r->is_string())
                return detail::rules_error(name + "." + r.key(), 0, "must be a string");
            (r.key() == "read" ? texts.first : texts.second) = r->get<std::string>();
        }
    }
    return out;
}

}  // namespace

SyncRules::SyncRules(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SyncRules::~SyncRules() = default;

Result<std::shared_ptr<const SyncRules>> SyncRules::load(std::string_view text,
                                                         const Model& model) {
    if (text.size() > detail::kMaxRulesBytes) {
        return Status(ErrorCode::kInvalidArgument, "sync rules: the file is larger than 1 MiB");
    }
    if (!outpost::detail::json_nesting_within(text, detail::kMaxRulesNesting)) {
        return Status(ErrorCode::kInvalidArgument, "sync rules: the JSON nests deeper than " +
                                                       std::to_string(detail::kMaxRulesNesting) +
                                                       " levels");
    }
    json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return Status(ErrorCode::kInvalidArgument, "sync rules: not valid JSON");
    if (!j.is_object())
        return Status(ErrorCode::kInvalidArgument, "sync rules: the top level must be an object");
    auto impl = std::make_unique<Impl>();
    RuleTexts texts;
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.key() == "default") {
            if (!it->is_string() || (*it != "allow" && *it != "deny")) {
                return Status(
                    ErrorCode::kInvalidArgument,
                    "sync rules: \"default\" must be \"allow\" or \"deny\", not " + it->dump());
            }
            impl->default_allow = *it == "allow";
        } else if (it.key() == "entities") {
            OUTPOST_ASSIGN_OR_RETURN(texts, read_entities(*it, model));
        } else {
            return Status(ErrorCode::kInvalidArgument,
                          "sync rules: unknown key '" + it.key() + "' (default, entities)");
        }
    }
    ScratchStore scratch;
    if (!texts.empty()) OUTPOST_RETURN_IF_ERROR(scratch.open(model));
    for (const Entity& e : model.entities) {
        if (!e.sync) continue;
        detail::EntityRules er;
        er.uid = e.id.uid;
        er.name = e.name;
        if (auto t = texts.find(e.name); t != texts.end()) {
            if (t->second.first) {
                OUTPOST_RETURN_IF_ERROR(
                    load_rule(e.name + ".read", *t->second.first, e, *scratch.store(), &er.read));
            }
            if (t->second.second) {
                OUTPOST_RETURN_IF_ERROR(load_rule(e.name + ".write", *t->second.second, e,
                                                  *scratch.store(), &er.write));
            }
        }
        impl->entities.push_back(std::move(er));
    }
    std::sort(impl->entities.begin(), impl->entities.end(),
              [](const auto& a, const auto& b) { return a.uid < b.uid; });
    return std::shared_ptr<const SyncRules>(new SyncRules(std::move(impl)));
}

bool SyncRules::default_allow() const { return impl_->default_allow; }

std::string SyncRules::read_rule(uint64_t entity_uid) const {
    for (const auto& e : impl_->entities) {
        if (e.uid == entity_uid) return e.read.text;
    }
    return "";
}

std::string SyncRules::write_rule(uint64_t entity_uid) const {
    for (const auto& e : impl_->entities) {
        if (e.uid == entity_uid) return e.write.text;
    }
    return "";
}

}  // namespace outpost::sync::rules
