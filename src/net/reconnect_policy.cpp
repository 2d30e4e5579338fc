#include <algorithm>

#include "net/ws_client.hpp"

namespace outpost::net {

namespace {
constexpr std::chrono::milliseconds kBackoff[] = {
    std::chrono::milliseconds(500), std::chrono::seconds(1),  std::chrono::seconds(2),
    std::chrono::seconds(4),        std::chrono::seconds(8),  std::chrono::seconds(15),
    std::chrono::seconds(30),       std::chrono::seconds(60),
};
constexpr std::size_t kSteps = sizeof(kBackoff) / sizeof(kBackoff[0]);
}  // namespace

ReconnectPolicy::ReconnectPolicy(std::vector<std::string> urls, std::uint64_t seed)
    : urls_(std::move(urls)), rng_(seed) {}

std::chrono::milliseconds ReconnectPolicy::next_delay() {
    const auto delay = kBackoff[std::min(attempt_, kSteps - 1)];
    if (attempt_ < kSteps) ++attempt_;
    return delay;
}

void ReconnectPolicy::reset() { attempt_ = 0; }

const std::string& ReconnectPolicy::next_url() {
    std::uniform_int_distribution<std::size_t> pick(0, urls_.size() - 1);
    return urls_[pick(rng_)];
}

}  // namespace outpost::net
