// outpost-server with the MongoDB connector when MongoDB goes away: SIGTERM still ends the process
// promptly (MongoDB killed, frozen with SIGSTOP, or never there), and libmongoc's debug lines
// (server monitoring) stay out of a log at the default level.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/process.hpp"
#include "integration/sync_it_support.hpp"

namespace outpost::it {
namespace {

// A generous bound for the exit after SIGTERM: the server means to stop within a few seconds
// whatever MongoDB does; before, it waited for libmongoc's 30 s server selection (twice) or for a
// reply up to socketTimeoutMS (300 s).
constexpr auto kExitBound = std::chrono::seconds(10);

class ServerWithMongo : public ::testing::Test {
  protected:
    // Starts a MongoDB stand-in on a free port; its URL with libmongoc's default timeouts.
    std::string start_mongo() {
        if (!mongo_.spawn({MONGO_STANDIN_BINARY, "--port", "0", "--log-level", "quiet"},
                          dir_.sub("standin.log"))) {
            return "";
        }
        const std::string prefix = "listening on 127.0.0.1:";
        auto line = mongo_.read_line(kDeadline);
        if (!line || line->rfind(prefix, 0) != 0) return "";
        return "mongodb://127.0.0.1:" + line->substr(prefix.size()) + "/?replicaSet=rs0";
    }
    // Starts outpost-server on MONGO_URL at the default log level.
    void spawn(const std::string& mongo_url) {
        ASSERT_TRUE(server_.spawn(
            {OUTPOST_SERVER_BIN, "--model", OUTPOST_TASKS_MODEL, "--db-directory", dir_.sub("data"),
             "--bind", "ws://127.0.0.1:0", "--auth-shared-secret", kSecret, "--mongo-url",
             mongo_url, "--mongo-db", "app", "--admin-bind", "off"},
            dir_.sub("server.log")));
    }
    // Waits for the `listening on` line.
    ::testing::AssertionResult listening() {
        while (auto line = server_.read_line(kDeadline)) {
            out_ += *line + "\n";
            if (line->rfind("listening on ", 0) == 0) return ::testing::AssertionSuccess();
        }
        return ::testing::AssertionFailure() << "no listening line; log:\n"
                                             << server_.stderr_text();
    }
    // SIGTERM; the exit code when the process ended within kExitBound (else it is killed).
    std::optional<int> terminate() {
        server_.signal(SIGTERM);
        auto code = server_.wait(kExitBound);
        if (!code) server_.kill_now();
        out_ += server_.read_rest(std::chrono::milliseconds(100));
        return code;
    }
    // No libmongoc debug line on stdout (its own handler's choice) or in the log.
    ::testing::AssertionResult no_driver_debug_lines() {
        std::string log = server_.stderr_text();
        for (const std::string* text : {&out_, &log}) {
            for (const char* needle : {"DEBUG", "[debug]", "monitor"}) {
                if (text->find(needle) != std::string::npos) {
                    return ::testing::AssertionFailure() << "'" << needle << "' in the output:\n"
                                                         << out_ << "log:\n"
                                                         << log;
                }
            }
        }
        return ::testing::AssertionSuccess();
    }
    bool log_has(const std::string& text) {
        return server_.stderr_text().find(text) != std::string::npos;
    }

    TempDir dir_;
    Process mongo_;
    Process server_;
    std::string out_;
};

TEST_F(ServerWithMongo, SigtermAfterMongoDbWasKilledExitsPromptly) {
    std::string url = start_mongo();
    ASSERT_FALSE(url.empty()) << mongo_.stderr_text();
    spawn(url);
    ASSERT_TRUE(listening());
    mongo_.kill_now();
    // The connector has noticed (a connection error) and waits for a server again.
    ASSERT_TRUE(wait_until([&] { return log_has("MongoDB connector: mongo_connection"); }))
        << server_.stderr_text();
    auto code = terminate();
    ASSERT_TRUE(code.has_value()) << "still running " << kExitBound.count()
                                  << " s after SIGTERM; log:\n"
                                  << server_.stderr_text();
    EXPECT_EQ(*code, 0) << server_.stderr_text();
    EXPECT_TRUE(log_has("stopped (")) << server_.stderr_text();
    EXPECT_TRUE(no_driver_debug_lines());
}

TEST_F(ServerWithMongo, SigtermWhileMongoDbDoesNotAnswerExitsPromptly) {
    std::string url = start_mongo();
    ASSERT_FALSE(url.empty()) << mongo_.stderr_text();
    spawn(url);
    ASSERT_TRUE(listening());
    // Frozen: connections stay open, nothing answers (a getMore waits for socketTimeoutMS).
    mongo_.signal(SIGSTOP);
    auto code = terminate();
    mongo_.signal(SIGCONT);
    ASSERT_TRUE(code.has_value()) << "still running " << kExitBound.count()
                                  << " s after SIGTERM; log:\n"
                                  << server_.stderr_text();
    EXPECT_EQ(*code, 0) << server_.stderr_text();
    EXPECT_TRUE(no_driver_debug_lines());
}

TEST_F(ServerWithMongo, SigtermWhileWaitingForAnUnreachableMongoDbAtStartExitsPromptly) {
    // Nothing listens on port 1: the start waits for a server (30 s by default).
    spawn("mongodb://127.0.0.1:1/?replicaSet=rs0");
    // The store is opened before the connector connects: the server is waiting for MongoDB now.
    ASSERT_TRUE(
        wait_until([&] { return std::filesystem::exists(dir_.sub("data") + "/data.mdb"); }));
    auto code = terminate();
    ASSERT_TRUE(code.has_value()) << "still running " << kExitBound.count()
                                  << " s after SIGTERM; log:\n"
                                  << server_.stderr_text();
    EXPECT_EQ(*code, 0) << server_.stderr_text();
    EXPECT_EQ(out_.find("listening"), std::string::npos);
    EXPECT_TRUE(no_driver_debug_lines());
}

TEST_F(ServerWithMongo, DriverDebugLinesAreLoggedAtDebugLevel) {
    ASSERT_TRUE(
        server_.spawn({OUTPOST_SERVER_BIN, "--model", OUTPOST_TASKS_MODEL, "--db-directory",
                       dir_.sub("data"), "--bind", "ws://127.0.0.1:0", "--auth-shared-secret",
                       kSecret, "--mongo-url", "mongodb://127.0.0.1:1/?replicaSet=rs0",
                       "--mongo-db", "app", "--log-level", "debug", "--admin-bind", "off"},
                      dir_.sub("server.log")));
    // While the start waits for a server, libmongoc's monitor reports each failed check.
    EXPECT_TRUE(wait_until([&] { return log_has("[debug] libmongoc monitor:"); }))
        << server_.stderr_text();
    auto code = terminate();
    ASSERT_TRUE(code.has_value()) << server_.stderr_text();
    EXPECT_EQ(out_.find("monitor"), std::string::npos) << "libmongoc lines on stdout:\n" << out_;
}

}  // namespace
}  // namespace outpost::it
