// ServerCore, auth: who a login is (shared secret, JWT or nothing), the binding of a client id to
// its JWT user, and the end of sessions whose tokens expire (docs/auth.md).
#include <chrono>

#include "sync/server_core_internal.hpp"

namespace outpost::sync {

using namespace server_internal;

namespace {

// The user a client id is bound to: SHA-256 of issuer and user.
std::string client_user_key(const std::string& client_hex) {
    return "sync.client_user." + client_hex;
}

Status rejected(std::string why) {
    return Status(ErrorCode::kAuthCredentialsRejected, std::move(why));
}

}  // namespace

int64_t ServerCore::wall_now_ms() const {
    if (options_.wall_clock_ms) return options_.wall_clock_ms();
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Result<auth::Identity> ServerCore::authenticate(const Login& login) {
    auth::Identity id;
    if (login.credential_kind == static_cast<uint8_t>(auth::CredentialKind::kJwt)) {
        if (options_.verify_token) {
            auto verified = options_.verify_token(login.credentials, wall_now_ms() / 1000);
            if (!verified) return verified.status();
            verified->kind = auth::CredentialKind::kJwt;
            ++stats_.jwt_logins;
            return verified;
        }
        if (options_.allow_unauthenticated && options_.shared_secret.empty()) return id;
        return rejected("this server does not accept JWT logins");
    }
    // Kind 1, or 0 from a version 4 client: the shared secret.
    if (!options_.shared_secret.empty()) {
        if (!constant_time_equal(login.credentials, options_.shared_secret)) {
            return rejected("credentials rejected");
        }
        id.kind = auth::CredentialKind::kSharedSecret;
        return id;
    }
    if (options_.allow_unauthenticated) return id;
    return rejected("this server does not accept shared-secret logins (log in with a JWT)");
}

Status ServerCore::check_user(const auth::Identity& identity, const std::string& client,
                              MetaWrites& to_bind) {
    const std::string key = client_user_key(client);
    const Digest digest = sha256(identity.issuer + '\0' + identity.user);
    const std::string_view value(reinterpret_cast<const char*>(digest.data()), digest.size());
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, store_->begin_read());
    OUTPOST_ASSIGN_OR_RETURN(auto bound, get_meta(txn, key));
    txn.close();
    if (!bound) {
        // Only this thread writes the bindings (admit_login, with the key's): nothing can bind
        // the id between the read and that write.
        to_bind.emplace_back(key, std::string(value));
        return Status::ok();
    }
    if (!constant_time_equal(*bound, value)) {
        return rejected("client id " + client + " belongs to another user than " + identity.user);
    }
    return Status::ok();
}

void ServerCore::expire_sessions() {
    const int64_t now_s = wall_now_ms() / 1000;
    while (!expiries_.empty() && expiries_.begin()->first < now_s) {
        const auto [at, session] = *expiries_.begin();
        expiries_.erase(expiries_.begin());
        auto it = sessions_.find(session);
        if (it == sessions_.end() || it->second->closed) continue;
        Session& s = *it->second;
        ++stats_.sessions_expired;
        const std::string why = "the token of user " + s.identity.user + " expired";
        log(LogLevel::kInfo, "session " + std::to_string(s.id) + ": client " + s.client + ": " +
                                 why + "; the session ends");
        send(s, encode_message(Error{ErrorCode::kAuthTokenExpired, why}));
        s.closed = true;
        s.connection->close(ErrorCode::kAuthTokenExpired, why);
    }
}

}  // namespace outpost::sync
