#pragma once
// Admin accounts: a name and an argon2id password hash (libsodium's crypto_pwhash_str, the string
// `$argon2id$v=19$m=...`). Hashing and verifying are slow on purpose (tens of milliseconds with the
// interactive limits). Thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/status.hpp"

namespace outpost::admin {

struct AdminAccount {
    std::string name;
    std::string password_hash;  // crypto_pwhash_str's string
};

// Initializes libsodium once (any thread). Errors: kInternal when it cannot.
[[nodiscard]] Status init_crypto();

// The hash of PASSWORD to store in the config (admin.users[].passwordHash). Errors: kInternal
// (libsodium failed, e.g. out of memory), kInvalidArgument (an empty password).
Result<std::string> hash_password(std::string_view password);

// True when PASSWORD matches HASH; false also for a HASH that is not a crypto_pwhash_str string.
bool verify_password(std::string_view password, const std::string& hash);

// True when HASH looks like a crypto_pwhash_str argon2id string (for checking a config).
bool is_password_hash(std::string_view hash);

// The accounts the admin server accepts.
class AccountList {
  public:
    explicit AccountList(std::vector<AdminAccount> accounts);

    bool empty() const { return accounts_.empty(); }
    // The account name when USER and PASSWORD match an account. An unknown user costs the same
    // time as a wrong password (a dummy verification), so timing does not tell names apart.
    std::optional<std::string> check(std::string_view user, std::string_view password) const;

  private:
    std::vector<AdminAccount> accounts_;
};

}  // namespace outpost::admin
