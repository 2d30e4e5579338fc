#pragma once
// Waiting on a condition with a deadline: tests wait on what they expect, never on time alone.

#include <chrono>
#include <thread>
#include <utility>

namespace outpost::test {

// Polls COND (every POLL) until it holds or TIMEOUT passes; returns COND's last value.
template <class Cond>
bool wait_until(Cond&& cond, std::chrono::milliseconds timeout = std::chrono::seconds(60),
                std::chrono::milliseconds poll = std::chrono::milliseconds(2)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (cond()) return true;
        if (std::chrono::steady_clock::now() >= until) return cond();
        std::this_thread::sleep_for(poll);
    }
}

}  // namespace outpost::test
