// ServerCore, logins: the protocol version, the failed-login limit per address, the shared secret,
// the client's model and its identity (the key its id is bound to), then where the client resumes.
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>

#include "sync/server_core_internal.hpp"

namespace outpost::sync {

using namespace server_internal;

namespace {

// The SHA-256 of the key a client id is bound to (Login.client_key).
std::string client_key_key(const std::string& client_hex) {
    return "sync.client_key." + client_hex;
}

std::string_view as_chars(std::span<const unsigned char> bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Remote addresses whose failed logins are counted, at most (beyond it, those whose window and
// block are over are forgotten).
constexpr size_t kMaxTrackedAddresses = 4096;

// `1.2.3.4:5678` -> `1.2.3.4`, `[::1]:5678` -> `[::1]`: one peer reconnecting gets a new port.
std::string remote_host(const std::string& address) {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos || (address.front() == '[' && address[colon - 1] != ']')) {
        return address;
    }
    return address.substr(0, colon);
}

}  // namespace

namespace server_internal {

Digest sha256(std::string_view bytes) {
    Digest out{};
    unsigned int size = 0;
    // Cannot fail for SHA-256 on memory (a failure would leave the digest zero: then every
    // comparison fails rather than passes).
    (void)EVP_Digest(bytes.data(), bytes.size(), out.data(), &size, EVP_sha256(), nullptr);
    return out;
}

// Compares secrets without telling their contents or lengths through the time it takes: both sides
// are hashed to the same size first, then compared in constant time.
bool constant_time_equal(std::string_view a, std::string_view b) {
    const Digest da = sha256(a), db = sha256(b);
    return CRYPTO_memcmp(da.data(), db.data(), da.size()) == 0;
}

}  // namespace server_internal

void ServerCore::on_login_deadline(SessionId session) {
    auto it = sessions_.find(session);
    if (it == sessions_.end() || it->second->logged_in || it->second->closed) return;
    ++stats_.login_timeouts;
    fail(*it->second, ErrorCode::kSyncProtocolViolation,
         "no Login within " + std::to_string(options_.login_timeout.count()) + " ms" +
             (it->second->remote.empty() ? "" : " (from " + it->second->remote + ")"));
}

std::chrono::steady_clock::time_point ServerCore::now() const {
    return options_.clock ? options_.clock() : std::chrono::steady_clock::now();
}

bool ServerCore::login_throttled(const Session& s) {
    if (options_.max_failed_logins == 0 || s.remote.empty()) return false;
    auto it = login_failures_.find(remote_host(s.remote));
    return it != login_failures_.end() && now() < it->second.blocked_until;
}

void ServerCore::note_failed_login(const Session& s) {
    if (options_.max_failed_logins == 0 || s.remote.empty()) return;
    const auto t = now();
    if (login_failures_.size() >= kMaxTrackedAddresses) {
        // Addresses whose window and block are over tell nothing any more.
        std::erase_if(login_failures_, [&](const auto& entry) {
            return t >= entry.second.blocked_until &&
                   t - entry.second.window_start > options_.failed_login_window;
        });
    }
    const std::string host = remote_host(s.remote);
    LoginFailures& f = login_failures_[host];
    if (f.count == 0 || t - f.window_start > options_.failed_login_window) {
        f.window_start = t;
        f.count = 0;
    }
    if (++f.count < options_.max_failed_logins) return;
    f.blocked_until = t + options_.failed_login_block;
    f.count = 0;
    auto seconds = [](std::chrono::milliseconds ms) {
        return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(ms).count()) + " s";
    };
    log(LogLevel::kWarn, "address " + host + ": " + std::to_string(options_.max_failed_logins) +
                             " failed logins within " + seconds(options_.failed_login_window) +
                             ": its logins are refused for " +
                             seconds(options_.failed_login_block));
}

ErrorCode ServerCore::check_model(const Login& login, std::string& why) const {
    const Model& model = store_->model();
    for (const auto& me : login.model) {
        const Entity* e = model.entity_by_uid(me.uid);
        if (!e || !e->sync) {
            why = "entity uid " + std::to_string(me.uid) + " is not synced by this server";
            return ErrorCode::kSyncUnsupportedModel;
        }
        for (const auto& [uid, type] : me.properties) {
            const uint64_t want = uid;  // clang 14 cannot capture structured bindings
            auto p = std::find_if(e->properties.begin(), e->properties.end(),
                                  [&](const Property& x) { return x.id.uid == want; });
            if (p == e->properties.end()) {
                why = e->name + ": property uid " + std::to_string(uid) +
                      " is unknown to this server";
                return ErrorCode::kSyncUnsupportedModel;
            }
            if (p->type != type) {
                why = e->name + "." + p->name + " is " + std::string(property_type_name(p->type)) +
                      " on this server, " + std::string(property_type_name(type)) +
                      " on the client";
                return ErrorCode::kSyncUnsupportedModel;
            }
        }
        for (uint64_t uid : me.relations) {
            auto r = std::find_if(e->relations.begin(), e->relations.end(),
                                  [&](const Relation& x) { return x.id.uid == uid; });
            if (r == e->relations.end()) {
                why = e->name + ": relation uid " + std::to_string(uid) +
                      " is unknown to this server";
                return ErrorCode::kSyncUnsupportedModel;
            }
        }
    }
    return ErrorCode::kOk;
}

Status ServerCore::check_identity(const Login& login, const std::string& client,
                                  MetaWrites& to_bind) {
    // With a shared secret (or none) every holder of the secret looks alike, so a client id is
    // bound to the key the client made with it: the key's SHA-256 is kept at the first login that
    // brings one (a new client, or one this server knew before keys existed: trust on first use),
    // and every later login of the id must bring the same key. An auth method that names a user
    // (a JWT's subject) binds the id to that user here instead.
    const std::string key = client_key_key(client);
    const Digest digest = sha256(as_chars(login.client_key));
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, store_->begin_read());
    OUTPOST_ASSIGN_OR_RETURN(auto bound, get_meta(txn, key));
    txn.close();
    if (!bound) {
        // Only this thread writes the keys: nothing can bind the id between the read and the
        // write that admit_login makes once every check passed.
        to_bind.emplace_back(key, std::string(as_chars(digest)));
        log(LogLevel::kDebug, "client " + client + ": bound to the key of its first login");
        return Status::ok();
    }
    if (bound->size() != digest.size() ||
        CRYPTO_memcmp(bound->data(), digest.data(), digest.size()) != 0) {
        return Status(ErrorCode::kAuthCredentialsRejected,
                      "client id " + client + " is bound to another key");
    }
    return Status::ok();
}

void ServerCore::reject_login(Session& s, ErrorCode code, const std::string& why) {
    ++stats_.protocol_errors;
    switch (code) {
        case ErrorCode::kAuthCredentialsRejected:
            ++stats_.logins_rejected;
            break;
        case ErrorCode::kAuthTokenExpired:
            ++stats_.auth_expired;
            break;
        case ErrorCode::kAuthUnknownKey:
            ++stats_.auth_unknown_key;
            break;
        default:
            ++stats_.logins_failed;
            break;
    }
    log(LogLevel::kWarn, "session " + std::to_string(s.id) + ": login rejected (" +
                             std::to_string(static_cast<int>(code)) + "): " + why);
    LoginResult refusal;
    refusal.code = code;
    refusal.message = why;
    s.connection->send(encode_message(refusal));
    s.closed = true;
    s.connection->close(code, why);
}

bool ServerCore::admit_login(Session& s, const Login& login, const std::string& client,
                             MetaWrites& to_bind) {
    if (Status st = check_protocol_version(login.protocol_version); !st) {
        reject_login(s, st.code(), st.message());
        return false;
    }
    if (login_throttled(s)) {
        // Refused without a check (and without a log line each: the limit logged when it began).
        ++stats_.logins_throttled;
        const std::string why = "too many failed logins from this address; try again later";
        LoginResult refusal;
        refusal.code = ErrorCode::kAuthCredentialsRejected;
        refusal.message = why;
        s.connection->send(encode_message(refusal));
        s.closed = true;
        s.connection->close(ErrorCode::kAuthCredentialsRejected, why);
        return false;
    }
    auto identity = authenticate(login);
    if (!identity) {
        // Only wrong credentials count toward the address's limit: tokens that expired together
        // (users behind one NAT) or an unknown key (a rotation) must not block an address.
        if (identity.status().code() == ErrorCode::kAuthCredentialsRejected) note_failed_login(s);
        reject_login(s, identity.status().code(), identity.status().message());
        return false;
    }
    s.identity = std::move(*identity);
    if (login.client_key.size() != ClientKey().size()) {
        ++stats_.logins_failed;
        fail(s, ErrorCode::kSyncMalformedMessage, "Login: client_key must be 32 bytes");
        return false;
    }
    if (login.next_client_txn == 0) {
        ++stats_.logins_failed;
        fail(s, ErrorCode::kSyncMalformedMessage, "Login: next_client_txn 0");
        return false;
    }
    std::string why;
    if (ErrorCode code = check_model(login, why); code != ErrorCode::kOk) {
        reject_login(s, code, why);
        return false;
    }
    // Before anything is done for the client id (the caller drops its older connection), the login
    // must show that it is that client's. The bindings of a new client id (its key, its JWT user)
    // are written with those of the logins beside it once every check passed (commit_logins): a
    // refused login writes nothing.
    MetaWrites mine;
    Status st = check_identity(login, client, mine);
    if (st && s.identity.kind == auth::CredentialKind::kJwt) {
        st = check_user(s.identity, client, mine);
    }
    if (!st) {
        if (st.code() == ErrorCode::kAuthCredentialsRejected) note_failed_login(s);
        reject_login(s, st.code(), st.message());
        return false;
    }
    to_bind.insert(to_bind.end(), std::make_move_iterator(mine.begin()),
                   std::make_move_iterator(mine.end()));
    return true;
}

detail::KnownModel ServerCore::known_model_of(const Login& login) const {
    detail::KnownModel known;
    size_t server_synced = 0;
    bool complete = true;
    for (const auto& e : store_->model().entities) {
        if (!e.sync) continue;
        ++server_synced;
        auto me = std::find_if(login.model.begin(), login.model.end(),
                               [&](const ModelEntity& x) { return x.uid == e.id.uid; });
        if (me == login.model.end()) {
            complete = false;
            continue;
        }
        detail::KnownEntity ke;
        for (const auto& [uid, type] : me->properties) ke.properties.insert(uid);
        for (uint64_t uid : me->relations) ke.relations.insert(uid);
        for (const auto& p : e.properties) {
            if (!p.has(kFlagId) && !ke.properties.count(p.id.uid)) complete = false;
        }
        if (ke.relations.size() != e.relations.size()) complete = false;
        known.entities.emplace(e.id.uid, std::move(ke));
    }
    known.knows_all = complete && known.entities.size() == server_synced;
    return known;
}

void ServerCore::replace_older_sessions(const Session& s) {
    // One connection per client: an older one (a half-open socket the client gave up on) goes.
    auto [c, added] = session_of_client_.try_emplace(s.client, s.id);
    if (added || c->second == s.id) return;
    auto it = sessions_.find(std::exchange(c->second, s.id));
    if (it == sessions_.end()) return;
    Session& other = *it->second;
    if (other.logged_in && !other.closed) {
        other.closed = true;
        other.connection->close(ErrorCode::kOk, "replaced by a newer connection of this client");
    }
}

Result<ServerCore::LoginResume> ServerCore::resume_point(const Session& s, const Login& login) {
    LoginResume r;
    OUTPOST_ASSIGN_OR_RETURN(ReadTxn txn, store_->begin_read());
    OUTPOST_ASSIGN_OR_RETURN(r.head, ChangeLog::last_position(txn));
    r.full = login.last_server_seq == 0 || login.last_server_seq > r.head;
    if (!r.full && login.last_server_seq < r.head) {
        auto first = ChangeLog::read(txn, login.last_server_seq, 1);
        r.full = !first || first->empty() || first->front().position != login.last_server_seq + 1;
    }
    if (!r.full && login.last_server_tag != 0) {
        // The record at the client's position must be the one it applied: a server restored from an
        // older copy of its data may have written another record there since.
        auto tag = tag_at(txn, login.last_server_seq);
        if (tag && *tag != 0 && *tag != login.last_server_tag) {
            r.full = true;
            log(LogLevel::kWarn, "session " + std::to_string(s.id) + ": client " + s.client +
                                     ": its position " + std::to_string(login.last_server_seq) +
                                     " names another record here (was this server's data restored "
                                     "from an older copy?): full sync");
        }
    }
    OUTPOST_ASSIGN_OR_RETURN(auto applied, get_meta(txn, client_txn_key(s.client)));
    r.last_client_txn = applied ? std::stoull(*applied) : 0;
    OUTPOST_ASSIGN_OR_RETURN(r.stored_corrections, get_meta(txn, corrections_key(s.client)));
    OUTPOST_RETURN_IF_ERROR(change_scope(s, login, txn, r));
    return r;
}

ChangeSet ServerCore::lost_ack_corrections(const Session& s, const Login& login,
                                           uint64_t last_client_txn,
                                           const std::string& stored) const {
    ChangeSet out;
    for (const auto& e : decode_corrections(stored)) {
        if (e.client_txn < login.next_client_txn || e.client_txn > last_client_txn) continue;
        auto cs = decode_change_set(
            {reinterpret_cast<const uint8_t*>(e.encoded.data()), e.encoded.size()});
        if (!cs) {
            log(LogLevel::kWarn, "client " + s.client + ": the stored corrections of push " +
                                     std::to_string(e.client_txn) +
                                     " are damaged: " + cs.status().to_string());
            continue;
        }
        out.objects.insert(out.objects.end(), std::make_move_iterator(cs->objects.begin()),
                           std::make_move_iterator(cs->objects.end()));
    }
    return out;
}

bool ServerCore::prepare_login(Session& s, const Login& login, const std::string& client,
                               MetaWrites& to_bind) {
    const size_t before = to_bind.size();
    if (!admit_login(s, login, client, to_bind)) return false;
    s.known = known_model_of(login);
    s.client = client;
    s.protocol_version = login.protocol_version;
    if (Status st = bind_scope(s, login, to_bind); !st) {
        to_bind.resize(before);  // nothing of a refused login is written
        reject_login(s, ErrorCode::kSyncServerError, st.message());
        return false;
    }
    return true;
}

void ServerCore::commit_logins(std::vector<PendingLogin>& group, MetaWrites& to_bind) {
    Status st;
    if (!to_bind.empty()) {
        st = store_->write([&](WriteTxn& w) {
            for (const auto& [key, value] : to_bind)
                OUTPOST_RETURN_IF_ERROR(put_meta(w, key, value));
            return Status::ok();
        });
        if (st) ++stats_.login_commits;
    }
    for (PendingLogin& p : group) {
        auto it = sessions_.find(p.session);
        if (it == sessions_.end() || it->second->closed) continue;
        if (!st) {
            reject_login(*it->second, ErrorCode::kSyncServerError, st.to_string());
        } else {
            finish_login(*it->second, p.login);
        }
    }
    group.clear();
    to_bind.clear();
}

void ServerCore::handle_login(Session& s, Login login) {
    std::vector<PendingLogin> group;
    MetaWrites to_bind;
    std::string client = client_id_to_hex(login.client_id);
    if (!prepare_login(s, login, client, to_bind)) return;
    group.push_back({s.id, std::move(login), std::move(client)});
    commit_logins(group, to_bind);
}

void ServerCore::finish_login(Session& s, const Login& login) {
    replace_older_sessions(s);

    auto resume = resume_point(s, login);
    if (!resume) {
        reject_login(s, ErrorCode::kSyncServerError, resume.status().to_string());
        return;
    }
    const uint64_t head = resume->head;
    const bool full = resume->full;
    const uint64_t last_client_txn = resume->last_client_txn;
    // The client's transactions are numbered without gaps: the next one applied must follow the
    // last one applied here, or be the oldest the client still holds.
    s.next_txn = std::max(last_client_txn + 1, login.next_client_txn);
    s.login_next_txn = login.next_client_txn;
    if (login.next_client_txn > last_client_txn + 1) {
        log(LogLevel::kWarn,
            "session " + std::to_string(s.id) + ": client " + s.client + ": its transactions " +
                std::to_string(last_client_txn + 1) + " to " +
                std::to_string(login.next_client_txn - 1) +
                " were acknowledged but are not here (was this server's data restored from an "
                "older copy, or did the client sync with another server?)");
    }

    // The corrections of pushes whose Acks were lost go with the LoginResult that reports them.
    LoginResult result;
    result.server_seq = head;
    result.last_client_txn = last_client_txn;
    result.scope_tag = resume->scope_tag;
    result.scope_changes = std::move(resume->scope_changes);
    if (resume->stored_corrections) {
        result.corrections =
            lost_ack_corrections(s, login, last_client_txn, *resume->stored_corrections);
    }
    s.connection->send(encode_message(result));
    s.logged_in = true;
    ++stats_.logged_in;
    ++stats_.logins_ok;
    if (s.identity.kind == auth::CredentialKind::kJwt && s.identity.expires_at_s != 0) {
        expiries_.emplace(s.identity.expires_at_s + options_.token_leeway.count(), s.id);
    }
    log(LogLevel::kInfo, "session " + std::to_string(s.id) + ": client " + s.client +
                             " logged in (" +
                             (full ? "full sync"
                              : login.last_server_seq < head
                                  ? "catch-up from " + std::to_string(login.last_server_seq)
                                  : std::string("up to date")) +
                             ", server sequence " + std::to_string(head) + ")");
    Status st;
    if (full) {
        ++stats_.full_syncs;
        st = start_full_sync(s);
    } else if (login.last_server_seq < head) {
        ++stats_.catch_ups;
        st = send_catch_up(s, login.last_server_seq, head, resume->old_scope.get());
    }
    if (!st) {
        fail(s, ErrorCode::kSyncServerError, st.to_string());
        return;
    }
    if (!full) {
        s.sent_seq = head;
        s.acked_seq = login.last_server_seq;
    }
}

}  // namespace outpost::sync
