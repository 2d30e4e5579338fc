// Sync rules: loading (every error names entity, rule and column), binding to a session's claims
// and variables, scopes (may_read, may_write, readable_ids), tags and definitions.
#include "sync/rules/sync_rules.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/status_macros.hpp"
#include "common/temp_dir.hpp"

namespace outpost::sync::rules {
namespace {

using test::TempDir;

const std::string kTasksModel =
    std::string(OUTPOST_SOURCE_DIR) + "/examples/tasks/tasks-model.json";
const std::string kTaskRule = "ownerId == $auth.sub OR sharedWith CONTAINS $auth.sub";

Model tasks_model() {
    auto m = Model::load(kTasksModel);
    EXPECT_OK(m);
    return m.value();
}

std::string rules_json(const std::string& entities, const std::string& dflt = "allow") {
    return "{\"default\": \"" + dflt + "\", \"entities\": {" + entities + "}}";
}

// The error message of loading TEXT against the tasks model ("" when it loads).
std::string load_error(const std::string& text) {
    auto r = SyncRules::load(text, tasks_model());
    if (r) return "";
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status().message();
    return r.status().message();
}

std::string task_read_error(const std::string& rule) {
    return load_error(rules_json("\"Task\": {\"read\": \"" + rule + "\"}"));
}

auth::Identity user(const std::string& sub,
                    std::map<std::string, std::vector<std::string>, std::less<>> claims = {}) {
    auth::Identity id;
    id.kind = auth::CredentialKind::kJwt;
    id.user = sub;
    id.claims = std::move(claims);
    if (!sub.empty()) id.claims["sub"] = {sub};
    return id;
}

// A store of the tasks model with tasks of alice and bob, some shared, and projects of teams.
class SyncRulesScope : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_OK_AND_ASSIGN(store_, Store::open(dir_.path(), tasks_model()));
        task_uid_ = store_->model().entity("Task")->id.uid;
        project_uid_ = store_->model().entity("Project")->id.uid;
        user_uid_ = store_->model().entity("User")->id.uid;
        ASSERT_OK_AND_ASSIGN(DynamicBox tasks, store_->box("Task"));
        ASSERT_OK_AND_ASSIGN(DynamicBox projects, store_->box("Project"));
        ASSERT_OK(store_->write([&](WriteTxn& txn) -> Status {
            for (int i = 0; i < 40; ++i) {
                Object t = tasks.new_object();
                OUTPOST_RETURN_IF_ERROR(t.set("text", "task " + std::to_string(i)));
                OUTPOST_RETURN_IF_ERROR(t.set("ownerId", i % 4 == 0 ? "alice" : "bob"));
                OUTPOST_RETURN_IF_ERROR(t.set("dateCreated", int64_t{1000} * i));
                std::vector<std::string> shared;
                if (i % 5 == 0) shared.push_back("alice");
                if (i % 7 == 0) shared.push_back("carol");
                OUTPOST_RETURN_IF_ERROR(t.set("sharedWith", Value(shared)));
                OUTPOST_RETURN_IF_ERROR(tasks.put(txn, t).status());
            }
            for (const char* team : {"red", "blue", "red", "green"}) {
                Object p = projects.new_object();
                OUTPOST_RETURN_IF_ERROR(p.set("name", std::string("p-") + team));
                OUTPOST_RETURN_IF_ERROR(p.set("team", team));
                OUTPOST_RETURN_IF_ERROR(projects.put(txn, p).status());
            }
            return Status::ok();
        }));
    }

    std::shared_ptr<const SyncRules> rules(const std::string& text) {
        auto r = SyncRules::load(text, store_->model());
        EXPECT_OK(r);
        return r ? r.value() : nullptr;
    }

    std::unique_ptr<SessionScope> scope(const SyncRules& rules, const auth::Identity& id,
                                        const Variables& vars = {}) {
        auto s = rules.scope_for(id, vars, store_);
        EXPECT_OK(s);
        return s ? std::move(s).value() : nullptr;
    }

    std::vector<uint64_t> readable(SessionScope& s, uint64_t entity_uid) {
        auto txn = store_->begin_read();
        EXPECT_OK(txn);
        auto ids = s.readable_ids(txn.value(), entity_uid);
        EXPECT_OK(ids);
        return ids ? ids.value() : std::vector<uint64_t>();
    }

    // The ids of ENTITY's objects for which PRED holds, by reading every object.
    std::vector<uint64_t> scan(const std::string& entity,
                               const std::function<bool(const Object&)>& pred) {
        std::vector<uint64_t> out;
        auto box = store_->box(entity);
        EXPECT_OK(box);
        auto txn = store_->begin_read();
        EXPECT_OK(txn);
        auto all = box->get_all(txn.value());
        EXPECT_OK(all);
        for (const auto& o : all.value()) {
            if (pred(o)) out.push_back(o.id);
        }
        return out;
    }

    static bool owned_or_shared(const Object& o, const std::string& who) {
        if (o.get("ownerId") == Value(who)) return true;
        const Value& s = o.get("sharedWith");
        if (!s.is<Value::StringVector>()) return false;
        const auto& v = s.as<Value::StringVector>();
        return std::find(v.begin(), v.end(), who) != v.end();
    }

    TempDir dir_{"sync-rules"};
    std::shared_ptr<Store> store_;
    uint64_t task_uid_ = 0, project_uid_ = 0, user_uid_ = 0;
};

// ---- loading ----

TEST(SyncRulesLoad, LoadsTheExampleRules) {
    auto text = R"({"default": "allow", "entities": {
        "Task": {"read": "ownerId == $auth.sub OR sharedWith CONTAINS $auth.sub",
                 "write": "ownerId == $auth.sub OR sharedWith CONTAINS $auth.sub"},
        "Project": {"read": "team == $auth.team"}}})";
    ASSERT_OK_AND_ASSIGN(auto rules, SyncRules::load(text, tasks_model()));
    const Model m = tasks_model();
    EXPECT_TRUE(rules->default_allow());
    EXPECT_EQ(rules->read_rule(m.entity("Task")->id.uid), kTaskRule);
    EXPECT_EQ(rules->write_rule(m.entity("Project")->id.uid), "");
    EXPECT_EQ(rules->read_rule(m.entity("User")->id.uid), "");
}

TEST(SyncRulesLoad, RejectsTextThatIsNotJson) {
    EXPECT_EQ(load_error("{\"default\": "), "sync rules: not valid JSON");
    EXPECT_EQ(load_error("\xff\xfe"), "sync rules: not valid JSON");
    EXPECT_EQ(load_error("[]"), "sync rules: the top level must be an object");
}

TEST(SyncRulesLoad, RejectsUnknownKeys) {
    EXPECT_EQ(load_error(R"({"entites": {}})"),
              "sync rules: unknown key 'entites' (default, entities)");
    EXPECT_EQ(load_error(rules_json(R"("Task": {"raed": "TRUE"})")),
              "sync rules: Task: unknown key 'raed' (read, write)");
    EXPECT_EQ(load_error(rules_json(R"("Task": {"read": 3})")),
              "sync rules: Task.read: must be a string");
    EXPECT_EQ(load_error(rules_json(R"("Task": "TRUE")")),
              "sync rules: Task: must be an object with \"read\" and/or \"write\"");
    EXPECT_EQ(load_error(R"({"entities": []})"), "sync rules: \"entities\" must be an object");
}

TEST(SyncRulesLoad, RejectsADefaultOtherThanAllowOrDeny) {
    EXPECT_EQ(load_error(R"({"default": "maybe"})"),
              "sync rules: \"default\" must be \"allow\" or \"deny\", not \"maybe\"");
    EXPECT_EQ(load_error(R"({"default": true})"),
              "sync rules: \"default\" must be \"allow\" or \"deny\", not true");
    EXPECT_EQ(load_error(R"({"default": "deny"})"), "");
}

TEST(SyncRulesLoad, RejectsUnknownAndLocalOnlyEntities) {
    EXPECT_EQ(load_error(rules_json(R"("Tsk": {"read": "TRUE"})")),
              "sync rules: entities: unknown entity 'Tsk'");
    ModelBuilder b;
    b.entity("Note").sync().property("id", PropertyType::kInt64, kFlagId);
    b.entity("Draft").property("id", PropertyType::kInt64, kFlagId);
    ASSERT_OK_AND_ASSIGN(Model m, b.build());
    auto r = SyncRules::load(R"({"entities": {"Draft": {"read": "TRUE"}}})", m);
    EXPECT_CODE(r, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(),
              "sync rules: Draft: the entity is local-only (not synced): it has no rules");
}

TEST(SyncRulesLoad, ReportsSyntaxErrorsWithTheirColumn) {
    EXPECT_EQ(task_read_error("ownerId == "),
              "sync rules: Task.read: column 12: expected a value after '==', found the end");
    EXPECT_EQ(task_read_error(""), "sync rules: Task.read: column 1: empty condition");
    EXPECT_EQ(task_read_error("done == true AND (ownerId == $auth.sub"),
              "sync rules: Task.read: column 39: expected ')', found the end");
}

TEST(SyncRulesLoad, RejectsUnknownProperties) {
    EXPECT_EQ(task_read_error("ownr == $auth.sub"),
              "sync rules: Task.read: column 1: unknown property 'ownr' of Task");
    // The column is the comparison's, not an earlier mention in a string.
    EXPECT_EQ(task_read_error("text == 'ownr' AND ownr == $auth.sub"),
              "sync rules: Task.read: column 20: unknown property 'ownr' of Task");
    EXPECT_EQ(load_error(rules_json(R"("Project": {"write": "tasks IS NULL"})")),
              "sync rules: Project.write: column 1: 'tasks' is a to-many relation, not a "
              "property of Project");
}

TEST(SyncRulesLoad, RejectsPathsThroughRelations) {
    const std::string m = task_read_error("done == false OR owner.name == $auth.sub");
    EXPECT_EQ(m.rfind("sync rules: Task.read: column 18: 'owner.name' goes through a relation", 0),
              0u)
        << m;
    const std::string back =
        load_error(rules_json(R"("User": {"read": "@Task.owner.ownerId == $auth.sub"})"));
    EXPECT_EQ(back.rfind("sync rules: User.read: column 1: '@Task.owner.ownerId' goes through", 0),
              0u)
        << back;
}

TEST(SyncRulesLoad, ReportsAVariableOfTheWrongTypeWithItsColumn) {
    EXPECT_EQ(task_read_error("owner == $auth.sub"),
              "sync rules: Task.read: column 1: $auth.sub is a string, Task.owner is a relation");
    EXPECT_EQ(load_error(rules_json(
                  R"("Task": {"write": "ownerId == $auth.sub OR dateCreated > $client.since"})")),
              "sync rules: Task.write: column 25: $client.since is a string, Task.dateCreated is "
              "a date");
    EXPECT_EQ(task_read_error("done == $auth.admin"),
              "sync rules: Task.read: column 1: $auth.admin is a string, Task.done is a bool");
    EXPECT_EQ(task_read_error("text == $now"),
              "sync rules: Task.read: column 1: $now is a time in milliseconds, Task.text is a "
              "string (use a date, dateNano or int64 property)");
    // An operator the property's type does not take.
    EXPECT_EQ(task_read_error("text CONTAINS $auth.sub"),
              "sync rules: Task.read: column 1: text (string): operator CONTAINS does not apply");
}

TEST(SyncRulesLoad, RejectsUnknownVariables) {
    EXPECT_EQ(task_read_error("ownerId == $foo"),
              "sync rules: Task.read: column 12: unknown variable $foo (use $auth.<claim>, "
              "$client.<name> or $now)");
    EXPECT_EQ(task_read_error("ownerId == $auth"),
              "sync rules: Task.read: column 12: unknown variable $auth (use $auth.<claim>, "
              "$client.<name> or $now)");
    EXPECT_EQ(task_read_error("ownerId == $client.a.b"),
              "sync rules: Task.read: column 12: $client.a.b: a $client variable has a plain "
              "name ($client.team)");
}

TEST(SyncRulesLoad, BoundsTheInput) {
    EXPECT_EQ(load_error(std::string(40, '[') + std::string(40, ']')),
              "sync rules: the JSON nests deeper than 8 levels");
    std::string big = rules_json("\"Task\": {\"read\": \"" + std::string(1 << 20, ' ') + "TRUE\"}");
    EXPECT_EQ(load_error(big), "sync rules: the file is larger than 1 MiB");
    std::string rule = "ownerId == $auth.sub";
    while (rule.size() <= 16 * 1024) rule += " OR ownerId == $auth.sub";
    EXPECT_EQ(task_read_error(rule), "sync rules: Task.read: longer than 16384 bytes");
    EXPECT_EQ(task_read_error(std::string(300, '(') + "done == true" + std::string(300, ')')),
              "sync rules: Task.read: column 201: nested too deeply");
}

TEST(SyncRulesLoad, RejectsStringsThatAreNotUtf8) {
    // A lone surrogate escaped in the rule's own syntax decodes to bytes that are not UTF-8.
    EXPECT_EQ(task_read_error("text == '\\\\uD800'"),
              "sync rules: Task.read: a string in the rule is not valid UTF-8");
}

TEST(SyncRulesLoad, RejectsNowOnBothKindsOfTime) {
    ModelBuilder b;
    b.entity("Event")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("at", PropertyType::kDateNano)
        .property("day", PropertyType::kDate);
    ASSERT_OK_AND_ASSIGN(Model m, b.build());
    auto r = SyncRules::load(R"({"entities": {"Event": {"read": "at < $now OR day < $now"}}})", m);
    EXPECT_CODE(r, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(),
              "sync rules: Event.read: $now is compared with a dateNano property and with a "
              "millisecond one; one rule uses one kind");
}

// ---- scopes ----

TEST_F(SyncRulesScope, ReadsOwnedAndSharedTasks) {
    auto r = rules(rules_json("\"Task\": {\"read\": \"" + kTaskRule + "\"}"));
    auto alice = scope(*r, user("alice"));
    auto want = scan("Task", [](const Object& o) { return owned_or_shared(o, "alice"); });
    EXPECT_EQ(readable(*alice, task_uid_), want);
    EXPECT_EQ(want.size(), 16u);  // 10 owned, 6 shared of bob's
    EXPECT_TRUE(alice->restricts_read(task_uid_));
    EXPECT_FALSE(alice->restricts_write(task_uid_));
    EXPECT_FALSE(alice->restricts_read(project_uid_));
    // Entities without a rule follow the default: every object.
    EXPECT_EQ(readable(*alice, project_uid_).size(), 4u);
}

TEST_F(SyncRulesScope, AnIndexServesAnEqualityRuleAndFindsWhatAScanFinds) {
    auto r = rules(rules_json(R"("Task": {"read": "ownerId == $auth.sub"},
                                 "Project": {"read": "team IN $auth.groups"})"));
    auto bob = scope(*r, user("bob", {{"groups", {"red", "green"}}}));
    EXPECT_NE(bob->read_plan(task_uid_).find("index Task.ownerId (==)"), std::string::npos)
        << bob->read_plan(task_uid_);
    EXPECT_NE(bob->read_plan(project_uid_).find("index Project.team (IN)"), std::string::npos)
        << bob->read_plan(project_uid_);
    EXPECT_EQ(readable(*bob, task_uid_),
              scan("Task", [](const Object& o) { return o.get("ownerId") == Value("bob"); }));
    EXPECT_EQ(readable(*bob, project_uid_), scan("Project", [](const Object& o) {
                  return o.get("team") == Value("red") || o.get("team") == Value("green");
              }));
    EXPECT_EQ(bob->read_plan(user_uid_), "every object");
    // CONTAINS scans.
    auto r2 = rules(rules_json("\"Task\": {\"read\": \"" + kTaskRule + "\"}"));
    auto alice = scope(*r2, user("alice"));
    EXPECT_NE(alice->read_plan(task_uid_).find("scan"), std::string::npos);
}

TEST_F(SyncRulesScope, AMissingClaimMatchesNothing) {
    auto r = rules(rules_json(R"("Task": {"read": "ownerId == $auth.sub"},
                                 "Project": {"read": "team == $auth.team"})"));
    auto nobody = scope(*r, user("alice"));  // no team claim
    EXPECT_EQ(readable(*nobody, project_uid_), std::vector<uint64_t>());
    EXPECT_TRUE(nobody->restricts_read(project_uid_));
    EXPECT_EQ(nobody->read_plan(project_uid_), "no object");
    EXPECT_EQ(readable(*nobody, task_uid_).size(), 10u);
}

TEST_F(SyncRulesScope, NotWithAMissingClaimMatchesEverything) {
    auto r = rules(rules_json(R"("Project": {"read": "NOT team == $auth.team"})"));
    auto none = scope(*r, user("alice"));
    EXPECT_FALSE(none->restricts_read(project_uid_));
    EXPECT_EQ(readable(*none, project_uid_).size(), 4u);
    auto red = scope(*r, user("alice", {{"team", {"red"}}}));
    EXPECT_EQ(readable(*red, project_uid_).size(), 2u);
}

TEST_F(SyncRulesScope, AClaimWithSeveralValuesFillsAnInListButNotAOneValueSlot) {
    auto r =
        rules(rules_json(R"("Project": {"read": "team IN $auth.groups OR team == $auth.groups"})"));
    auto s = scope(*r, user("alice", {{"groups", {"blue", "green"}}}));
    EXPECT_EQ(readable(*s, project_uid_).size(), 2u);
    auto one = rules(rules_json(R"("Project": {"read": "team == $auth.groups"})"));
    EXPECT_EQ(readable(*scope(*one, user("alice", {{"groups", {"blue", "green"}}})), project_uid_),
              std::vector<uint64_t>());
    EXPECT_EQ(readable(*scope(*one, user("alice", {{"groups", {"blue"}}})), project_uid_).size(),
              1u);
}

TEST_F(SyncRulesScope, BindsClientVariables) {
    auto r = rules(rules_json(R"("Project": {"read": "team == $client.team"})"));
    auto red = scope(*r, user("alice"), {{"team", "red"}});
    EXPECT_EQ(readable(*red, project_uid_).size(), 2u);
    auto none = scope(*r, user("alice"), {{"region", "eu"}});
    EXPECT_EQ(readable(*none, project_uid_).size(), 0u);
}

TEST_F(SyncRulesScope, AVariableThatIsNotUtf8IsAnError) {
    auto r = rules(rules_json(R"("Project": {"read": "team == $client.team"})"));
    auto s = r->scope_for(user("alice"), {{"team", "\xff"}}, store_);
    EXPECT_CODE(s, ErrorCode::kInvalidArgument);
    EXPECT_EQ(s.status().message(), "sync rules: the value of $client.team is not valid UTF-8");
}

TEST_F(SyncRulesScope, ARuleOfTrueOpensAnEntityUnderDeny) {
    auto r = rules(rules_json(R"("Project": {"read": "TRUE", "write": "TRUE"})", "deny"));
    auto s = scope(*r, user("alice"));
    EXPECT_FALSE(s->restricts_read(project_uid_));
    EXPECT_FALSE(s->restricts_write(project_uid_));
    EXPECT_EQ(readable(*s, project_uid_).size(), 4u);
}

TEST_F(SyncRulesScope, NowIsSetPerUseOnADateProperty) {
    auto r = rules(rules_json(R"("Task": {"read": "dateCreated <= $now"})"));
    auto s = scope(*r, user("alice"));
    s->set_now(4500);
    EXPECT_EQ(readable(*s, task_uid_).size(), 5u);  // 0, 1000, ..., 4000
    s->set_now(9000);
    EXPECT_EQ(readable(*s, task_uid_).size(), 10u);
    // $now stays a parameter: the scope (and its tag) does not change with the time.
    EXPECT_NE(s->definition().find("$now"), std::string::npos);
}

TEST(SyncRulesNow, IsInNanosecondsForADateNanoProperty) {
    TempDir dir("sync-rules-nano");
    ModelBuilder b;
    b.entity("Event")
        .sync()
        .property("id", PropertyType::kInt64, kFlagId)
        .property("at", PropertyType::kDateNano);
    ASSERT_OK_AND_ASSIGN(Model m, b.build());
    ASSERT_OK_AND_ASSIGN(auto store, Store::open(dir.path(), m));
    ASSERT_OK_AND_ASSIGN(DynamicBox events, store->box("Event"));
    Object e = events.new_object();
    ASSERT_OK(e.set("at", int64_t{2'500'000}));  // 2.5 ms
    ASSERT_OK(events.put(e));
    ASSERT_OK_AND_ASSIGN(auto r,
                         SyncRules::load(R"({"entities": {"Event": {"read": "at <= $now"}}})", m));
    ASSERT_OK_AND_ASSIGN(auto s, r->scope_for(user("alice"), {}, store));
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, store->begin_read());
    s->set_now(2);
    EXPECT_EQ(s->readable_ids(txn, m.entity("Event")->id.uid).value().size(), 0u);
    s->set_now(3);
    EXPECT_EQ(s->readable_ids(txn, m.entity("Event")->id.uid).value().size(), 1u);
}

TEST_F(SyncRulesScope, MayReadAndMayWriteStoredAndUnstoredObjects) {
    auto r = rules(rules_json("\"Task\": {\"read\": \"" + kTaskRule +
                              "\", \"write\": \"ownerId == $auth.sub\"}"));
    auto alice = scope(*r, user("alice"));
    auto carol = scope(*r, user("carol"));
    ASSERT_OK_AND_ASSIGN(DynamicBox tasks, store_->box("Task"));
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, store_->begin_read());
    // Task 1 (id 1): alice's, shared with alice and carol (i = 0).
    ASSERT_OK_AND_ASSIGN(auto first, tasks.get(txn, 1));
    ASSERT_TRUE(first.has_value());
    EXPECT_TRUE(alice->may_read(txn, *first).value());
    EXPECT_TRUE(alice->may_write(txn, *first).value());
    EXPECT_TRUE(carol->may_read(txn, *first).value());
    EXPECT_FALSE(carol->may_write(txn, *first).value());
    EXPECT_TRUE(carol->may_read(txn, task_uid_, 1).value());
    EXPECT_FALSE(carol->may_read(txn, task_uid_, 2).value());
    EXPECT_FALSE(alice->may_read(txn, task_uid_, 999).value());  // gone
    // Unrestricted entities: stored objects are readable, gone ones are not.
    ASSERT_OK_AND_ASSIGN(DynamicBox projects, store_->box("Project"));
    EXPECT_TRUE(alice->may_read(txn, project_uid_, 1).value());
    EXPECT_FALSE(alice->may_read(txn, project_uid_, 999).value());
    // An object not stored (a push's state after its change).
    Object moved = tasks.new_object();
    moved.id = 2;
    ASSERT_OK(moved.set("ownerId", "carol"));
    EXPECT_TRUE(carol->may_write(txn, moved).value());
    EXPECT_FALSE(alice->may_write(txn, moved).value());
    EXPECT_FALSE(alice->may_read(txn, moved).value());
    ASSERT_OK(moved.set("sharedWith", Value(Value::StringVector{"alice"})));
    EXPECT_TRUE(alice->may_read(txn, moved).value());
    EXPECT_TRUE(alice->may_write(txn, projects.new_object()).value());
    EXPECT_CODE(alice->may_read(txn, 12345, 1), ErrorCode::kInvalidArgument);
}

TEST_F(SyncRulesScope, ADeniedEntityHasAScopeOfNothing) {
    auto r = rules(rules_json(R"("Project": {"read": "team == $auth.team"})", "deny"));
    auto s = scope(*r, user("alice", {{"team", {"red"}}}));
    EXPECT_EQ(readable(*s, project_uid_).size(), 2u);
    EXPECT_TRUE(s->restricts_read(task_uid_));
    EXPECT_TRUE(s->restricts_write(task_uid_));
    EXPECT_TRUE(s->restricts_write(project_uid_));
    EXPECT_EQ(readable(*s, task_uid_), std::vector<uint64_t>());
    ASSERT_OK_AND_ASSIGN(ReadTxn txn, store_->begin_read());
    ASSERT_OK_AND_ASSIGN(DynamicBox tasks, store_->box("Task"));
    EXPECT_FALSE(s->may_write(txn, tasks.new_object()).value());
}

TEST_F(SyncRulesScope, RulePropertiesAreTheComparedOnes) {
    auto r = rules(rules_json("\"Task\": {\"read\": \"" + kTaskRule + "\"}"));
    auto s = scope(*r, user("alice"));
    const Entity& task = *store_->model().entity("Task");
    EXPECT_EQ(s->read_rule_properties(task_uid_),
              (std::vector<uint64_t>{task.property("ownerId")->id.uid,
                                     task.property("sharedWith")->id.uid}));
    EXPECT_TRUE(s->read_rule_properties(project_uid_).empty());
}

TEST_F(SyncRulesScope, TagsAreEqualForEqualBindingsOnly) {
    auto r = rules(rules_json(R"("Task": {"read": "ownerId == $auth.sub"},
                                 "Project": {"read": "team == $auth.team"})"));
    auto a1 = scope(*r, user("alice", {{"team", {"red"}}}));
    auto a2 = scope(*r, user("alice", {{"team", {"red"}}, {"email", {"a@x.org"}}}));
    auto a3 = scope(*r, user("alice", {{"team", {"blue"}}}));
    auto b1 = scope(*r, user("bob", {{"team", {"red"}}}));
    EXPECT_EQ(a1->tag(), a2->tag());
    EXPECT_EQ(a1->definition(), a2->definition());
    EXPECT_NE(a1->tag(), a3->tag());
    EXPECT_NE(a1->tag(), b1->tag());
    for (const auto* s : {a1.get(), a3.get(), b1.get()}) {
        EXPECT_NE(s->tag(), 0u);
        EXPECT_NE(s->tag(), kUnrestrictedScopeTag);
    }
    // The same rules loaded again give the same tag.
    auto again = rules(rules_json(R"("Task": {"read": "ownerId == $auth.sub"},
                                     "Project": {"read": "team == $auth.team"})"));
    EXPECT_EQ(scope(*again, user("alice", {{"team", {"red"}}}))->tag(), a1->tag());
}

TEST_F(SyncRulesScope, ADefinitionReadsBackAsTheSameScope) {
    auto r = rules(rules_json("\"Task\": {\"read\": \"" + kTaskRule +
                              "\"}, \"Project\": {\"read\": \"team IN $auth.groups\"}"));
    auto alice = scope(*r, user("alice", {{"groups", {"red", "blue"}}}));
    ASSERT_OK_AND_ASSIGN(auto back, r->scope_from_definition(alice->definition(), store_));
    EXPECT_EQ(back->tag(), alice->tag());
    EXPECT_EQ(back->definition(), alice->definition());
    EXPECT_EQ(readable(*back, task_uid_), readable(*alice, task_uid_));
    EXPECT_EQ(readable(*back, project_uid_), readable(*alice, project_uid_));
    EXPECT_EQ(back->read_rule_properties(task_uid_), alice->read_rule_properties(task_uid_));
    // A definition describes reads only.
    EXPECT_TRUE(back->restricts_write(task_uid_));
}

TEST_F(SyncRulesScope, ADefinitionThatNoLongerFitsTheModelIsAnError) {
    auto r = rules(rules_json(R"("Task": {"read": "ownerId == $auth.sub"})"));
    const std::string def = scope(*r, user("alice"))->definition();
    auto replace = [&](const std::string& from, const std::string& to) {
        std::string d = def;
        d.replace(d.find(from), from.size(), to);
        return d;
    };
    const std::string task = std::to_string(task_uid_);
    for (const std::string& bad :
         {replace("ownerId", "ownerGone"), replace("ownerId ==", "owner.name =="),
          replace(task, "12345"), replace("\"" + task + "\":", "\"" + task + "\":1,\"x\":"),
          std::string("{"), std::string("[]"), std::string("{\"1\": {\"2\": \"TRUE\"}}"),
          replace("\\\"alice\\\"", "$auth.sub"), replace("ownerId", "ownerId ==")}) {
        auto s = r->scope_from_definition(bad, store_);
        EXPECT_EQ(s.status().code(), ErrorCode::kInvalidArgument) << bad;
    }
}

}  // namespace
}  // namespace outpost::sync::rules
