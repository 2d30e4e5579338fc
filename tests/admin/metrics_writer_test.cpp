#include "admin/metrics_writer.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "admin/api_part.hpp"

namespace outpost::admin {
namespace {

TEST(MetricsWriter, WritesHelpTypeAndSamples) {
    MetricsWriter w;
    w.counter("outpost_push_txns_total", "Client transactions applied.", 42);
    w.gauge("outpost_history_bytes", "Bytes of history.", 1.5);
    EXPECT_EQ(w.text(),
              "# HELP outpost_push_txns_total Client transactions applied.\n"
              "# TYPE outpost_push_txns_total counter\n"
              "outpost_push_txns_total 42\n"
              "# HELP outpost_history_bytes Bytes of history.\n"
              "# TYPE outpost_history_bytes gauge\n"
              "outpost_history_bytes 1.5\n");
}

TEST(MetricsWriter, EscapesLabelValuesAndHelp) {
    MetricsWriter w;
    w.begin("outpost_logins_total", MetricsWriter::Type::kCounter, "Logins\nby \\ result.");
    w.sample("outpost_logins_total", 3, {{"result", "a\"b\\c\nd"}});
    EXPECT_EQ(w.text(),
              "# HELP outpost_logins_total Logins\\nby \\\\ result.\n"
              "# TYPE outpost_logins_total counter\n"
              "outpost_logins_total{result=\"a\\\"b\\\\c\\nd\"} 3\n");
}

TEST(MetricsWriter, HistogramBucketsAreCumulative) {
    MetricsWriter w;
    const double bounds[] = {0.001, 0.01};
    const uint64_t counts[] = {2, 3, 1};
    w.histogram("outpost_push_apply_seconds", "Apply time.", bounds, counts, 0.25);
    EXPECT_EQ(w.text(),
              "# HELP outpost_push_apply_seconds Apply time.\n"
              "# TYPE outpost_push_apply_seconds histogram\n"
              "outpost_push_apply_seconds_bucket{le=\"0.001\"} 2\n"
              "outpost_push_apply_seconds_bucket{le=\"0.01\"} 5\n"
              "outpost_push_apply_seconds_bucket{le=\"+Inf\"} 6\n"
              "outpost_push_apply_seconds_sum 0.25\n"
              "outpost_push_apply_seconds_count 6\n");
}

TEST(ApiPart, ErrorResponseCarriesStatusMessageAndExtra) {
    const Response r = error_response(400, "bad query", {{"column", 7}});
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.content_type, "application/json");
    const auto j = nlohmann::json::parse(r.body);
    EXPECT_EQ(j["error"]["status"], 400);
    EXPECT_EQ(j["error"]["message"], "bad query");
    EXPECT_EQ(j["error"]["column"], 7);
}

TEST(ApiPart, JsonResponseReplacesInvalidUtf8) {
    const Response r = json_response(200, {{"text", std::string("a\xff")}});
    EXPECT_EQ(nlohmann::json::parse(r.body)["text"], "a\xEF\xBF\xBD");
}

}  // namespace
}  // namespace outpost::admin
