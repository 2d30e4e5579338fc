#pragma once
// Prometheus text exposition format, version 0.0.4 (what GET /metrics returns): each family's
// # HELP and # TYPE lines, then its samples.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace outpost::admin {

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricsWriter {
  public:
    enum class Type { kCounter, kGauge, kHistogram };

    // Starts a family: NAME (e.g. outpost_logins_total; counters end in _total), its help text.
    // REQUIRES: each family begins once per exposition.
    void begin(std::string_view name, Type type, std::string_view help);
    // One sample of the family begun last (NAME may carry a suffix: _bucket, _sum, _count).
    // Label values are escaped here.
    void sample(std::string_view name, double value, const Labels& labels = {});

    // A family with one unlabelled sample.
    void counter(std::string_view name, std::string_view help, double value);
    void gauge(std::string_view name, std::string_view help, double value);
    // A histogram family: BOUNDS (ascending upper bounds, +Inf implied) and COUNTS per bucket (not
    // cumulative; COUNTS.size() == BOUNDS.size() + 1, the last one above every bound), SUM of the
    // observed values.
    void histogram(std::string_view name, std::string_view help, std::span<const double> bounds,
                   std::span<const uint64_t> counts, double sum);

    const std::string& text() const { return out_; }
    std::string take() { return std::move(out_); }

  private:
    std::string out_;
};

// The Content-Type of that format.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace outpost::admin
