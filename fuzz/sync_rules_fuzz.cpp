// libFuzzer target: any bytes as a sync rules file against the tasks example's model. Loading must
// reject bad input cleanly; rules that load must give a scope for a fixed identity, every
// entity's readable ids, and a definition that reads back as a scope with the same tag.
#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "sync/rules/sync_rules.hpp"

namespace {

using outpost::sync::rules::SyncRules;

[[noreturn]] void fail(const char* what, const outpost::Status& s) {
    std::fprintf(stderr, "%s: %s\n", what, s.to_string().c_str());
    std::abort();
}

// The tasks model and a store of it with a few objects, made once.
struct Fixture {
    std::string dir;
    outpost::Model model;
    std::shared_ptr<outpost::Store> store;
    outpost::sync::auth::Identity alice;

    Fixture() {
        auto m = outpost::Model::load(OUTPOST_TASKS_MODEL);
        if (!m) fail("model", m.status());
        model = m.value();
        dir = (std::filesystem::temp_directory_path() / "sync-rules-fuzz-XXXXXX").string();
        if (!mkdtemp(dir.data())) std::abort();
        auto s = outpost::Store::open(dir, model, outpost::StoreOptions{1ull << 26, false, true});
        if (!s) fail("store", s.status());
        store = s.value();
        outpost::Status w = store->write([&](outpost::WriteTxn& txn) -> outpost::Status {
            auto tasks = store->box("Task");
            auto projects = store->box("Project");
            for (int i = 0; i < 8; ++i) {
                outpost::Object t = tasks->new_object();
                (void)t.set("ownerId", i % 2 ? "alice" : "bob");
                (void)t.set("dateCreated", int64_t{1000} * i);
                (void)t.set("sharedWith", outpost::Value(outpost::Value::StringVector{"carol"}));
                OUTPOST_RETURN_IF_ERROR(tasks->put(txn, t).status());
                outpost::Object p = projects->new_object();
                (void)p.set("team", i % 3 ? "red" : "blue");
                OUTPOST_RETURN_IF_ERROR(projects->put(txn, p).status());
            }
            return outpost::Status::ok();
        });
        if (!w) fail("fill", w);
        alice.kind = outpost::sync::auth::CredentialKind::kJwt;
        alice.user = "alice";
        alice.claims = {{"sub", {"alice"}}, {"team", {"red"}}, {"groups", {"red", "blue"}}};
    }
    ~Fixture() {
        store.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Fixture fx;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto rules = SyncRules::load(text, fx.model);
    if (!rules) {
        if (rules.status().code() != outpost::ErrorCode::kInvalidArgument)
            fail("load: not kInvalidArgument", rules.status());
        return 0;
    }
    auto scope = rules.value()->scope_for(fx.alice, {{"team", "red"}}, fx.store);
    if (!scope) fail("scope_for of rules that loaded", scope.status());
    auto txn = fx.store->begin_read();
    if (!txn) fail("begin_read", txn.status());
    for (const auto& e : fx.model.entities) {
        auto ids = scope.value()->readable_ids(txn.value(), e.id.uid);
        if (!ids) fail("readable_ids", ids.status());
    }
    auto back = rules.value()->scope_from_definition(scope.value()->definition(), fx.store);
    if (!back) fail("scope_from_definition of a definition", back.status());
    if (back.value()->tag() != scope.value()->tag()) {
        std::fprintf(stderr, "definition reads back with another tag:\n  %s\n  %s\n",
                     scope.value()->definition().c_str(), back.value()->definition().c_str());
        std::abort();
    }
    return 0;
}
