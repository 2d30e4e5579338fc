// libmongoc's own log lines reach the sink of set_driver_log at their level: its debug lines
// (server monitoring, every 0.5 s while no server answers) must stay out of a log at info.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "mongo/connector.hpp"
#include "mongo/handles.hpp"

namespace outpost::mongo {
namespace {

struct Line {
    DriverLogLevel level;
    std::string domain;
    std::string message;
};

class DriverLog : public ::testing::Test {
  protected:
    void SetUp() override {
        detail::ensure_mongoc_init();
        set_driver_log(
            [this](DriverLogLevel level, std::string_view domain, std::string_view message) {
                std::lock_guard<std::mutex> lock(mutex_);
                lines_.push_back({level, std::string(domain), std::string(message)});
            });
    }
    void TearDown() override { set_driver_log({}); }

    // The line libmongoc reported with MESSAGE.
    std::optional<Line> find(const std::string& message) {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& l : lines_) {
            if (l.message == message) return l;
        }
        return std::nullopt;
    }

    std::mutex mutex_;
    std::vector<Line> lines_;
};

TEST_F(DriverLog, EachLevelArrivesAtItsOwn) {
    mongoc_log(MONGOC_LOG_LEVEL_DEBUG, "monitor", "a debug line");
    mongoc_log(MONGOC_LOG_LEVEL_INFO, "client", "an info line");
    mongoc_log(MONGOC_LOG_LEVEL_MESSAGE, "client", "a message line");
    mongoc_log(MONGOC_LOG_LEVEL_WARNING, "stream", "a warning line");
    mongoc_log(MONGOC_LOG_LEVEL_ERROR, "cluster", "an error line");
    mongoc_log(MONGOC_LOG_LEVEL_CRITICAL, "cluster", "a critical line");
    auto debug = find("a debug line");
    ASSERT_TRUE(debug.has_value());
    EXPECT_EQ(debug->level, DriverLogLevel::kDebug);
    EXPECT_EQ(debug->domain, "monitor");
    EXPECT_EQ(find("an info line")->level, DriverLogLevel::kInfo);
    EXPECT_EQ(find("a message line")->level, DriverLogLevel::kInfo);
    EXPECT_EQ(find("a warning line")->level, DriverLogLevel::kWarn);
    EXPECT_EQ(find("an error line")->level, DriverLogLevel::kError);
    EXPECT_EQ(find("a critical line")->level, DriverLogLevel::kError);
    // Trace lines are passed on only by a libmongoc built with tracing; their level is kTrace.
    EXPECT_EQ(detail::driver_log_level(MONGOC_LOG_LEVEL_TRACE), DriverLogLevel::kTrace);
}

TEST_F(DriverLog, MonitorLinesOfAnUnreachableServerAreDebugLines) {
    // A pool whose server selection waits: its monitor checks the server every 0.5 s and reports
    // each failure at debug level.
    bson_error_t err;
    detail::UriPtr uri(
        mongoc_uri_new_with_error("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=1500", &err));
    ASSERT_TRUE(uri) << err.message;
    detail::ClientPoolPtr pool(mongoc_client_pool_new(uri.get()));
    mongoc_client_t* client = mongoc_client_pool_pop(pool.get());
    mongoc_server_description_t* sd = mongoc_client_select_server(client, true, nullptr, &err);
    EXPECT_EQ(sd, nullptr);
    mongoc_client_pool_push(pool.get(), client);
    pool.reset();
    std::lock_guard<std::mutex> lock(mutex_);
    bool monitor_seen = false;
    for (const auto& l : lines_) {
        if (l.domain != "monitor") continue;
        monitor_seen = true;
        EXPECT_TRUE(l.level == DriverLogLevel::kDebug || l.level == DriverLogLevel::kTrace)
            << l.message;
    }
    EXPECT_TRUE(monitor_seen) << "no monitor line from libmongoc";
}

}  // namespace
}  // namespace outpost::mongo
