// Sync rules end to end, every part a real process: outpost-server with --jwt-jwks FILE and
// --sync-rules examples/tasks/tasks-sync-rules.json on the tasks model; an RSA key made with
// openssl at test time, the JWKS and the users' RS256 tokens from `outpost token`; the devices of
// alice and bob are store directories that `outpost put` writes, `outpost sync --token-file F
// --until-synced` syncs and `outpost list` reads. After the server stopped, `outpost list --db`
// reads its store.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "integration/jwt_it_support.hpp"
#include "integration/sync_it_support.hpp"

namespace outpost::it {
namespace {

// examples/tasks/tasks-sync-rules.json, beside the tasks model: a task is read and written by its
// owner (ownerId) and the users it is shared with (sharedWith).
std::string tasks_rules_file() {
    return (std::filesystem::path(OUTPOST_TASKS_MODEL).parent_path() / "tasks-sync-rules.json")
        .string();
}

// Tasks by their text: the objects as `outpost list` prints them.
using Tasks = std::map<std::string, nlohmann::json>;

// A task's sharedWith (empty when the JSON leaves it out).
std::vector<std::string> shared_with(const nlohmann::json& task) {
    if (!task.contains("sharedWith") || task["sharedWith"].is_null()) return {};
    return task["sharedWith"].get<std::vector<std::string>>();
}

// A task's done (false when unset: the JSON then has null).
bool is_done(const nlohmann::json& task) {
    return task.contains("done") && task["done"].is_boolean() && task["done"].get<bool>();
}

class RulesIt : public ::testing::Test {
  protected:
    RulesIt() : dir_("outpost-rules-it") {
        key_ = make_rsa_key(dir_.sub("key.pem"));
        jwks_ = write_file(dir_.sub("jwks.json"),
                           outpost_token({"--key", key_, "--kid", "k1", "--print-jwks"}, log()));
        for (const char* user : {"alice", "bob"}) {
            write_file(token_file(user),
                       outpost_token({"--key", key_, "--kid", "k1", "--sub", user}, log()) + "\n");
        }
        ServerConfig c;  // the shared secret stays on; the devices log in with their tokens
        c.extra = {"--jwt-jwks", jwks_, "--sync-rules", tasks_rules_file()};
        server_ = std::make_unique<ServerProcess>(OUTPOST_TASKS_MODEL, dir_.sub("server"),
                                                  dir_.sub("server.log"), c);
        EXPECT_TRUE(server_->start());
    }

    std::string log() { return dir_.sub("run-" + std::to_string(++runs_) + ".log"); }
    std::string token_file(const std::string& user) { return dir_.sub(user + ".token"); }
    std::string device(const std::string& user) { return dir_.sub("device-" + user); }

    // `outpost put` of a Task on USER's device; its local id.
    uint64_t put_task(const std::string& user, const nlohmann::json& task) {
        const std::string id = output_of({OUTPOST_CLI_BIN, "put", "--db", device(user), "--model",
                                          OUTPOST_TASKS_MODEL, "Task", task.dump()},
                                         log());
        return id.empty() ? 0 : std::stoull(id);
    }

    // `outpost sync --token-file F --until-synced` of USER's device with USER's token.
    ::testing::AssertionResult sync(const std::string& user) {
        RunResult r = run_program(
            {OUTPOST_CLI_BIN, "sync", "--db", device(user), "--model", OUTPOST_TASKS_MODEL, "--url",
             server_->url(), "--token-file", token_file(user), "--until-synced", "--timeout", "30"},
            log(), kDeadline);
        if (r.exit_code == 0) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure()
               << user << "'s sync exited " << r.exit_code.value_or(-1) << ": " << r.err
               << "\nserver log:\n"
               << server_->log();
    }

    // `outpost list DB Task`, by text.
    Tasks tasks_in(const std::string& db) {
        Tasks out;
        std::istringstream lines(output_of({OUTPOST_CLI_BIN, "list", "--db", db, "Task"}, log()));
        for (std::string line; std::getline(lines, line);) {
            if (line.empty()) continue;
            auto task = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
            EXPECT_FALSE(task.is_discarded()) << line;
            if (task.is_object()) out[task.value("text", "")] = task;
        }
        return out;
    }
    Tasks tasks_of(const std::string& user) { return tasks_in(device(user)); }

    static std::vector<std::string> texts(const Tasks& tasks) {
        std::vector<std::string> out;
        for (const auto& [text, task] : tasks) out.push_back(text);
        return out;
    }

    TempDir dir_;
    std::string key_, jwks_;
    std::unique_ptr<ServerProcess> server_;
    int runs_ = 0;
};

using Texts = std::vector<std::string>;

// Each user gets only their tasks; a task alice shares reaches bob, and leaves bob's device only
// when she unshares it; bob's writes outside his write scope come back corrected and never reach
// the server's store.
TEST_F(RulesIt, EachUserSyncsOnlyTheirTasksAndSharing) {
    ASSERT_TRUE(server_->running());
    put_task("alice", {{"text", "alice private"}, {"ownerId", "alice"}});
    const uint64_t shared_id = put_task("alice", {{"text", "alice shared"}, {"ownerId", "alice"}});
    put_task("bob", {{"text", "bob private"}, {"ownerId", "bob"}});
    ASSERT_TRUE(sync("alice"));
    ASSERT_TRUE(sync("bob"));
    ASSERT_TRUE(sync("alice"));
    EXPECT_EQ(texts(tasks_of("alice")), (Texts{"alice private", "alice shared"}));
    EXPECT_EQ(texts(tasks_of("bob")), (Texts{"bob private"}));

    // Alice shares a task with bob: it reaches his device (and only that one of hers).
    put_task("alice", {{"id", shared_id}, {"sharedWith", {"bob"}}});
    ASSERT_TRUE(sync("alice"));
    ASSERT_TRUE(sync("bob"));
    Tasks bob = tasks_of("bob");
    ASSERT_EQ(texts(bob), (Texts{"alice shared", "bob private"}));
    EXPECT_EQ(shared_with(bob["alice shared"]), std::vector<std::string>{"bob"});
    const uint64_t bob_copy = bob["alice shared"]["id"].get<uint64_t>();

    // A write the rule allows (bob stays in sharedWith) reaches alice.
    put_task("bob", {{"id", bob_copy}, {"done", true}});
    ASSERT_TRUE(sync("bob"));
    ASSERT_TRUE(sync("alice"));
    EXPECT_TRUE(is_done(tasks_of("alice")["alice shared"]));

    // Writes the rule refuses: bob takes himself out of sharedWith while rewriting the text (the
    // changed task is outside his write scope), and he creates a task owned by alice. The first
    // comes back as the server has it, the second is removed from his device.
    put_task(
        "bob",
        {{"id", bob_copy}, {"text", "rewritten by bob"}, {"sharedWith", nlohmann::json::array()}});
    put_task("bob", {{"text", "forged by bob"}, {"ownerId", "alice"}});
    ASSERT_TRUE(sync("bob"));
    bob = tasks_of("bob");
    EXPECT_EQ(texts(bob), (Texts{"alice shared", "bob private"}));
    EXPECT_EQ(shared_with(bob["alice shared"]), std::vector<std::string>{"bob"});
    EXPECT_TRUE(is_done(bob["alice shared"]));
    const std::string log_text = server_->log();
    EXPECT_NE(log_text.find("(user bob): put of Task"), std::string::npos) << log_text;
    EXPECT_NE(log_text.find("refused: outside its write scope"), std::string::npos) << log_text;

    // Alice unshares it: it leaves bob's device; alice keeps it.
    put_task("alice", {{"id", shared_id}, {"sharedWith", nlohmann::json::array()}});
    ASSERT_TRUE(sync("alice"));
    ASSERT_TRUE(sync("bob"));
    EXPECT_EQ(texts(tasks_of("bob")), (Texts{"bob private"}));
    Tasks alice = tasks_of("alice");
    EXPECT_EQ(texts(alice), (Texts{"alice private", "alice shared"}));
    EXPECT_TRUE(shared_with(alice["alice shared"]).empty());

    // The server keeps every task, none of bob's refused writes, and alice's state of hers.
    ASSERT_EQ(server_->stop(), 0);
    Tasks on_server = tasks_in(server_->data_dir());
    EXPECT_EQ(texts(on_server), (Texts{"alice private", "alice shared", "bob private"}));
    EXPECT_TRUE(shared_with(on_server["alice shared"]).empty());
    EXPECT_TRUE(is_done(on_server["alice shared"]));
    EXPECT_EQ(on_server["alice shared"].value("ownerId", ""), "alice");
}

// A write bob made offline to a task that alice unshared in the meantime: the server refuses it
// (the stored task is outside his write scope) and his device loses the task instead of keeping
// his version; the server and alice keep hers.
TEST_F(RulesIt, WriteToATaskUnsharedMeanwhileIsRefused) {
    const uint64_t id = put_task(
        "alice", {{"text", "shared for a while"}, {"ownerId", "alice"}, {"sharedWith", {"bob"}}});
    ASSERT_TRUE(sync("alice"));
    ASSERT_TRUE(sync("bob"));
    Tasks bob = tasks_of("bob");
    ASSERT_EQ(texts(bob), (Texts{"shared for a while"}));
    const uint64_t bob_copy = bob["shared for a while"]["id"].get<uint64_t>();

    put_task("alice", {{"id", id}, {"sharedWith", nlohmann::json::array()}});
    ASSERT_TRUE(sync("alice"));
    put_task("bob", {{"id", bob_copy}, {"done", true}});  // offline: he still has it
    ASSERT_TRUE(sync("bob"));
    EXPECT_TRUE(tasks_of("bob").empty());
    ASSERT_TRUE(sync("alice"));
    EXPECT_FALSE(is_done(tasks_of("alice")["shared for a while"]));

    ASSERT_EQ(server_->stop(), 0);
    Tasks on_server = tasks_in(server_->data_dir());
    ASSERT_EQ(texts(on_server), (Texts{"shared for a while"}));
    EXPECT_FALSE(is_done(on_server["shared for a while"]));
}

}  // namespace
}  // namespace outpost::it
