// The wait between tries of the connector's threads when MongoDB cannot be reached or a stream or
// an import fails: 50 ms (a transaction's retries: 20 ms), doubled after each failed try up to 5 s,
// back to 50 ms after a success. (net::ReconnectPolicy paces a sync client's reconnects to a
// server, 0.5 s to 60 s with a choice of URLs; the connector retries one deployment, sooner.)
#pragma once

#include <algorithm>

namespace outpost::mongo::detail {

class RetryBackoff {
  public:
    static constexpr int kFirstMs = 50;
    static constexpr int kMaxMs = 5000;

    explicit RetryBackoff(int first_ms = kFirstMs) : first_ms_(first_ms), delay_ms_(first_ms) {}

    // The wait before the next try.
    int delay_ms() const { return delay_ms_; }
    // A try failed: the next wait is twice as long (at most kMaxMs).
    void grow() { delay_ms_ = std::min(delay_ms_ * 2, kMaxMs); }
    // A try succeeded: the next wait is the first again.
    void reset() { delay_ms_ = first_ms_; }

  private:
    int first_ms_;
    int delay_ms_;
};

}  // namespace outpost::mongo::detail
