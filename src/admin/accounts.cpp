#include "admin/accounts.hpp"

#include <sodium.h>

namespace outpost::admin {

Status init_crypto() {
    static const int result = sodium_init();  // 0: done now, 1: done before
    if (result < 0) return Status(ErrorCode::kInternal, "libsodium cannot be initialized");
    return Status::ok();
}

Result<std::string> hash_password(std::string_view password) {
    if (password.empty()) return Status(ErrorCode::kInvalidArgument, "the password is empty");
    OUTPOST_RETURN_IF_ERROR(init_crypto());
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        return Status(ErrorCode::kInternal, "password hashing failed (out of memory?)");
    }
    return std::string(out);
}

bool verify_password(std::string_view password, const std::string& hash) {
    if (!init_crypto() || !is_password_hash(hash)) return false;
    return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

bool is_password_hash(std::string_view hash) {
    return hash.starts_with("$argon2id$") && hash.size() < crypto_pwhash_STRBYTES;
}

AccountList::AccountList(std::vector<AdminAccount> accounts) : accounts_(std::move(accounts)) {}

std::optional<std::string> AccountList::check(std::string_view user,
                                              std::string_view password) const {
    for (const auto& a : accounts_) {
        if (a.name == user) {
            if (verify_password(password, a.password_hash)) return a.name;
            return std::nullopt;
        }
    }
    // Made once, when first needed: hashing is as slow as verifying.
    static const std::string dummy = [] {
        auto h = hash_password("outpost-unknown-user");
        return h ? *h : std::string();
    }();
    (void)verify_password(password, dummy);
    return std::nullopt;
}

}  // namespace outpost::admin
