#include "admin/sessions.hpp"

#include <sodium.h>

#include <algorithm>

#include "admin/accounts.hpp"

namespace outpost::admin {

namespace {

std::string to_hex(const unsigned char* bytes, std::size_t size) {
    std::string out(size * 2 + 1, '\0');
    sodium_bin2hex(out.data(), out.size(), bytes, size);
    out.pop_back();
    return out;
}

std::string token_key(std::string_view token) {
    unsigned char hash[crypto_generichash_BYTES];
    crypto_generichash(hash, sizeof hash, reinterpret_cast<const unsigned char*>(token.data()),
                       token.size(), nullptr, 0);
    return std::string(reinterpret_cast<const char*>(hash), sizeof hash);
}

}  // namespace

std::string random_token() {
    (void)init_crypto();  // sodium_init makes randombytes safe to use; it cannot fail on Linux
    unsigned char bytes[32];
    randombytes_buf(bytes, sizeof bytes);
    return to_hex(bytes, sizeof bytes);
}

bool tokens_equal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

SessionTable::SessionTable(std::chrono::seconds idle, std::size_t max_sessions)
    : idle_(idle), max_sessions_(std::max<std::size_t>(1, max_sessions)) {}

Session SessionTable::create(const std::string& user, SteadyTime now) {
    Session s{random_token(), user, random_token()};
    MutexLock lock(mutex_);
    evict(now);
    sessions_[token_key(s.token)] = Entry{s.user, s.csrf, now};
    return s;
}

std::optional<Session> SessionTable::find(std::string_view token, SteadyTime now) {
    if (token.empty()) return std::nullopt;
    MutexLock lock(mutex_);
    auto it = sessions_.find(token_key(token));
    if (it == sessions_.end()) return std::nullopt;
    if (now - it->second.last_used >= idle_) {
        sessions_.erase(it);
        return std::nullopt;
    }
    it->second.last_used = now;
    return Session{std::string(token), it->second.user, it->second.csrf};
}

void SessionTable::remove(std::string_view token) {
    MutexLock lock(mutex_);
    sessions_.erase(token_key(token));
}

std::size_t SessionTable::size() const {
    MutexLock lock(mutex_);
    return sessions_.size();
}

// Drops the expired sessions; at the bound, also the least recently used one.
void SessionTable::evict(SteadyTime now) {
    if (sessions_.size() < max_sessions_) return;
    std::erase_if(sessions_, [&](const auto& kv) { return now - kv.second.last_used >= idle_; });
    while (sessions_.size() >= max_sessions_) {
        auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](auto& a, auto& b) {
            return a.second.last_used < b.second.last_used;
        });
        sessions_.erase(oldest);
    }
}

LoginThrottle::LoginThrottle(int max_failures, std::chrono::seconds window,
                             std::chrono::seconds block, std::size_t max_addresses)
    : max_failures_(static_cast<std::size_t>(std::max(1, max_failures))),
      window_(window),
      block_(block),
      max_addresses_(std::max<std::size_t>(1, max_addresses)) {}

bool LoginThrottle::blocked(const std::string& address, SteadyTime now) {
    MutexLock lock(mutex_);
    auto it = entries_.find(address);
    return it != entries_.end() && now < it->second.blocked_until;
}

void LoginThrottle::failed(const std::string& address, SteadyTime now) {
    MutexLock lock(mutex_);
    if (!entries_.contains(address)) make_room(now);
    Entry& e = entries_[address];
    e.last_seen = now;
    while (!e.failures.empty() && now - e.failures.front() >= window_) e.failures.pop_front();
    e.failures.push_back(now);
    if (e.failures.size() >= max_failures_) {
        e.blocked_until = now + block_;
        e.failures.clear();
    }
}

void LoginThrottle::succeeded(const std::string& address) {
    MutexLock lock(mutex_);
    entries_.erase(address);
}

// Forgets the addresses that are neither blocked nor have failures in the window; at the bound,
// also the one seen longest ago.
void LoginThrottle::make_room(SteadyTime now) {
    if (entries_.size() < max_addresses_) return;
    std::erase_if(entries_, [&](const auto& kv) {
        return now >= kv.second.blocked_until && now - kv.second.last_seen >= window_;
    });
    while (entries_.size() >= max_addresses_) {
        auto stalest = std::min_element(entries_.begin(), entries_.end(), [](auto& a, auto& b) {
            return a.second.last_seen < b.second.last_seen;
        });
        entries_.erase(stalest);
    }
}

}  // namespace outpost::admin
