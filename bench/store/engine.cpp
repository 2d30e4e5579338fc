// Benchmark data and the helpers every engine shares.
#include "store/engine.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace outpost::bench {

namespace {
// splitmix64: a small, fast, deterministic generator, so every run uses the same data.
uint64_t next_random(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
}  // namespace

std::vector<BenchObject> make_objects(size_t n) {
    static constexpr std::string_view kLetters =
        "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    constexpr int64_t kJan2026Ms = 1767225600000;
    uint64_t state = 20260101;
    // category from a generator of its own, so the other fields are the same as before it existed
    uint64_t category_state = 20261126;
    const uint64_t categories = std::max<uint64_t>(1, n / 10);
    std::vector<BenchObject> out(n);
    for (size_t i = 0; i < n; ++i) {
        BenchObject& o = out[i];
        o.counter = static_cast<int64_t>(next_random(state) % 1000000);
        o.score = static_cast<double>(next_random(state) % 1000000) / 1000.0;
        o.created = kJan2026Ms + static_cast<int64_t>(next_random(state) % (365ull * 86400 * 1000));
        size_t len = 64 + next_random(state) % 13;  // 64..76, 70 on average
        o.text = "object " + std::to_string(i) + ": ";
        while (o.text.size() < len)
            o.text.push_back(kLetters[next_random(state) % kLetters.size()]);
        o.category = static_cast<int64_t>(next_random(category_state) % categories);
    }
    return out;
}

uint64_t payload_bytes(const std::vector<BenchObject>& objects) {
    uint64_t sum = 0;
    for (const auto& o : objects)
        sum += 5 * 8 + o.text.size();  // id, counter, score, created, category, text
    return sum;
}

void fail(std::string_view what, std::string_view detail) {
    std::fprintf(stderr, "bench-store: %.*s: %.*s\n", static_cast<int>(what.size()), what.data(),
                 static_cast<int>(detail.size()), detail.data());
    std::exit(1);
}

}  // namespace outpost::bench
