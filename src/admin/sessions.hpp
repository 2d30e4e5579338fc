#pragma once
// The admin server's login state: sessions (a random token in a cookie, with a CSRF token of its
// own) and the throttle of failed logins per address. Both tables are bounded. Thread-safe; the
// time is passed in (steady clock) so that expiry is tested without waiting.

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/mutex.hpp"

namespace outpost::admin {

using SteadyTime = std::chrono::steady_clock::time_point;

// 32 random bytes (libsodium's randombytes_buf), as 64 lower-case hex digits.
std::string random_token();

// True when A equals B, in time that depends only on their lengths (sodium_memcmp).
bool tokens_equal(std::string_view a, std::string_view b);

struct Session {
    std::string token;  // the cookie's value
    std::string user;
    std::string csrf;
};

class SessionTable {
  public:
    // Sessions unused for IDLE end; beyond MAX_SESSIONS the least recently used one ends.
    SessionTable(std::chrono::seconds idle, std::size_t max_sessions);

    // A new session of USER (random token and CSRF token).
    Session create(const std::string& user, SteadyTime now);
    // The session of TOKEN when it exists and has not expired; counts as a use.
    std::optional<Session> find(std::string_view token, SteadyTime now);
    void remove(std::string_view token);
    std::size_t size() const;

  private:
    struct Entry {
        std::string user;
        std::string csrf;
        SteadyTime last_used;
    };
    void evict(SteadyTime now) OUTPOST_REQUIRES(mutex_);

    const std::chrono::seconds idle_;
    const std::size_t max_sessions_;
    mutable Mutex mutex_;
    // Keyed by a hash of the token: a lookup's timing tells nothing about the tokens held.
    std::unordered_map<std::string, Entry> sessions_ OUTPOST_GUARDED_BY(mutex_);
};

// Failed logins per remote address: MAX_FAILURES within WINDOW block that address for BLOCK. At
// most MAX_ADDRESSES are tracked (the stalest is forgotten first).
class LoginThrottle {
  public:
    LoginThrottle(int max_failures, std::chrono::seconds window, std::chrono::seconds block,
                  std::size_t max_addresses = 10'000);

    // True while ADDRESS is blocked (its login attempts get 429 without a check).
    bool blocked(const std::string& address, SteadyTime now);
    // Records a failed login from ADDRESS.
    void failed(const std::string& address, SteadyTime now);
    // A successful login forgets the address's failures.
    void succeeded(const std::string& address);

  private:
    struct Entry {
        std::deque<SteadyTime> failures;  // within the window, oldest first
        SteadyTime blocked_until{};
        SteadyTime last_seen{};
    };
    void make_room(SteadyTime now) OUTPOST_REQUIRES(mutex_);

    const std::size_t max_failures_;
    const std::chrono::seconds window_;
    const std::chrono::seconds block_;
    const std::size_t max_addresses_;
    Mutex mutex_;
    std::unordered_map<std::string, Entry> entries_ OUTPOST_GUARDED_BY(mutex_);
};

}  // namespace outpost::admin
